"""The transport fault matrix (PROOF.md): every fault a belt's GraphQL endpoint or a chain's JSON-RPC can
show, each put in front of real endpoints by the loopback fault proxy, each a real `pytest --belt-*` run.

For each fault: no test that needed the bad answer passes (it fails or could not be checked), every such
verdict names the redacted endpoint on its one line and says what went wrong, the run is not certified
and exits 1, the secret in the URL shows nowhere, and the run ends within a generous hang guard (the real
figures are in PROOF.md). Two controls certify through the same proxy: healthy answers, and a 429 whose
Retry-After fits the deadline (honoured, then answered).

Faults that spoil single values (fp-types, progress-types) or whole requests of one chain's RPC put a
different fault on each entity@chain or chain of one run, so the matrix costs a few runs, not fifty.
`PROOF_ROWS=<file>` appends one JSON row per fault to that file (how the PROOF.md table was made).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpcore  # noqa: F401  (kept across in-process runs: see _run)
import pytest

import belt_gate.report
import belt_gate.snapshot
import belt_gate.sources.l1  # noqa: F401
from belt_gate.sandbox import procs
from tests.proof.conftest import CHAINS, SCHEMAS, ProofWorld
from tests.proof.fault_proxy import PROGRESS_SPOILS, SLOT_SPOILS
from tests.support.runs import LEAN, outcomes

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.proof

TIMEOUT = 8  # --belt-timeout of every run: a healthy answer of a loaded 2-core machine fits in it
ENTITIES = ("NftTransfer", "Erc1155Transfer", "Action", "Loan")
LABELS = [f"{e}@{c}" for e in ENTITIES for c in CHAINS]
COUNTS = frozenset(f"counts[{label}]" for label in LABELS)
CONTENT = frozenset(f"content[{label}]" for label in LABELS)
GREEN_SECRET = "gr33n-url-canary-5150"
RPC_SECRET = "rpc-url-canary-6160"
REDIRECT_SECRET = "redirect-canary-77"  # in the Location the proxy's redirects point to

Ids = frozenset[str]


def every_but_enums(ids: Ids) -> Ids:
    """A belt that cannot be read at all: everything but `enums` (which compares the two schema files)."""
    return ids - {"enums"}


def fingerprints(ids: Ids) -> Ids:
    """A broken fingerprint answer: every counts and content case (a sample is planned from fingerprints)."""
    return COUNTS | CONTENT


def content(ids: Ids) -> Ids:
    return CONTENT


def slots(ids: Ids) -> Ids:
    """Spoiled fingerprint fields: the counts of each spoiled entity@chain (content compares sampled rows,
    which green answers right, and passes where blue's fingerprint planned the sample)."""
    return frozenset(f"counts[{label}]" for label in SLOT_SPOILS)


def progress_spoils(ids: Ids) -> Ids:
    """Each chain's processed block spoiled: its progress, and where no cutoff can follow from it (not a
    block number) its counts and content; chain 1's 10**30 is above the chain head (its cutoff is blue's)."""
    out = {f"progress[{c}]" for c in PROGRESS_SPOILS}
    for chain, value in PROGRESS_SPOILS.items():
        if not isinstance(value, int) or value < 0:
            out |= {f"{rule}[{e}@{chain}]" for e in ENTITIES for rule in ("counts", "content")}
    return frozenset(out)


def nothing(ids: Ids) -> Ids:
    return frozenset()


@dataclass(frozen=True)
class FaultCase:
    """One run. `green` is a proxy mode for green ("refused": a closed port, "https": https:// to green's
    real HTTP port); `rpc` maps chains to proxy modes of their RPC (the rest are asked directly, or with
    "mismatch" another chain's RPC). `says` maps test ids to what their verdict says (after the endpoint),
    `rows` names the faults for the PROOF table: fault -> (endpoint label, ids it must fail)."""

    name: str
    green: str = "ok"
    rpc: Mapping[int, str] = field(default_factory=dict)
    must_fail: Callable[[Ids], Ids] = nothing
    says: Mapping[str, str] = field(default_factory=dict)
    certified: bool = False
    rows: Mapping[str, str] = field(default_factory=dict)  # fault -> endpoint (for PROOF.md)
    data_fault: bool = False  # values spoiled, not the transport: verdicts name the belt, not its URL

    @property
    def faulted_endpoints(self) -> int:
        return (self.green != "ok") + sum(1 for m in self.rpc.values() if m != "ok")


def _rpc_chains(*modes: str) -> dict[int, str]:
    return dict(zip(CHAINS, modes, strict=False))


def _rpc_progress(modes: Mapping[int, str]) -> Callable[[Ids], Ids]:
    def must(ids: Ids) -> Ids:
        return frozenset(f"progress[{c}]" for c, m in modes.items() if m != "ok")

    return must


GREEN_WIDE = {
    "reset": "HTTP request failed: ReadError: [Errno 104] Connection reset by peer",
    "http500": ": HTTP 500 (asking introspection)",
    "http502": ": HTTP 502 (asking introspection)",
    "http503": ": HTTP 503 (asking introspection)",
    "ra120": ": HTTP 429 (Retry-After 120s is more than the",
    "ra-date": ": HTTP 503 (Retry-After ",
    "html": ": answered with a body that is not JSON (asking introspection)",
    "hang": f": timed out after {TIMEOUT}s (asking introspection)",
    "drip": f": timed out after {TIMEOUT}s (asking introspection)",
    "redirect": ": HTTP 307 -> http://127.0.0.1:{green_port}/v1/graphql?apikey=*** (redirects are not followed)",
    "non-hasura": ": answers GraphQL but is not a Hasura/Envio endpoint",
    "refused": ": HTTP request failed: ConnectError",
    "https": ": HTTP request failed: ConnectError",
}
GREEN_FP = {
    "reset-fp": "HTTP request failed: ReadError: [Errno 104] Connection reset by peer",
    "gql-errors": ": GraphQL error: database query error",
    "truncated": ": answered with a body that is not JSON",
    "hang-fp": f": timed out after {TIMEOUT}s",
}
RPC_A = _rpc_chains("refused", "reset", "http500", "http502")
RPC_B = _rpc_chains("http503", "ra120", "ra-date", "truncated-any")
RPC_C = _rpc_chains("html", "redirect", "https", "rpc-error")
RPC_TYPES_A = _rpc_chains("head-abc", "head-null", "head-float", "head-huge")
RPC_TYPES_B = _rpc_chains("head-negative", "mismatch", "head-missing", "chain-id-two")
RPC_SAYS = {
    "refused": "connection failed: ConnectError",
    "reset": "connection failed: ReadError: [Errno 104] Connection reset by peer",
    "http500": "HTTP 500",
    "http502": "HTTP 502",
    "http503": "HTTP 503",
    "ra120": "HTTP 429 (after 1 attempts; Retry-After 120s is more than the",
    "ra-date": "HTTP 503 (after 1 attempts; Retry-After ",
    "truncated-any": "malformed JSON in HTTP 200 answer",
    "html": "malformed JSON in HTTP 200 answer",
    "redirect": "HTTP 307 -> http://127.0.0.1:{rpc_port}?apikey=*** (redirects are not followed)",
    "https": "connection failed: ConnectError",
    "rpc-error": "RPC error -32000: header not found",
    "head-abc": "malformed eth_blockNumber result: not a hex quantity: 'abc'",
    "head-null": "malformed eth_blockNumber result: not a hex quantity: None",
    "head-float": "malformed eth_blockNumber result: not a hex quantity: 1.5",
    "head-huge": "malformed eth_blockNumber result: quantity 0xc9f2c9cd04674edea40000... is out of range",
    "head-negative": "malformed eth_blockNumber result: not a hex quantity: '-0x1'",
    "mismatch": "this RPC serves chain 1, not chain 10",
    "head-missing": "eth_blockNumber: answer has neither result nor error",
    "chain-id-two": "this RPC serves chain 2, not chain 42161",
    "hang": f"timeout after {TIMEOUT}s (after 1 attempts; no answer within the deadline)",
    "drip": f"timeout after {TIMEOUT}s (after 1 attempts; no answer within the deadline)",
}

CASES = [
    FaultCase("healthy", certified=True, rows={"none (control: every answer forwarded)": "green + RPCs"}),
    FaultCase(
        "retry-after-honoured",
        green="ra1-once",
        rpc={1: "ra1-once"},
        certified=True,
        rows={"429 Retry-After: 1, once (control: honoured, then answered)": "green + chain 1 RPC"},
    ),
    *[
        FaultCase(f"green-{mode}", green=mode, must_fail=every_but_enums, says={"chain_set": says})
        for mode, says in GREEN_WIDE.items()
    ],
    *[
        FaultCase(f"green-{mode}", green=mode, must_fail=fingerprints, says={"counts[NftTransfer@1]": says})
        for mode, says in GREEN_FP.items()
    ],
    FaultCase(
        "green-fp-types",
        green="fp-types",
        must_fail=slots,
        data_fault=True,
        says={
            "counts[NftTransfer@1]": "count 'abc' is not a row count",
            "counts[NftTransfer@10]": "count None is not a row count",
            "counts[NftTransfer@8453]": "count 1.5 is not a row count",
            "counts[NftTransfer@42161]": "count -1 is not a row count",
            "counts[Erc1155Transfer@1]": "count blue 12 != green 1000000000000000000000000000000",
            "counts[Erc1155Transfer@10]": "fingerprint's aggregate has no 'count'",
            "counts[Erc1155Transfer@8453]": "fingerprint has no 'aggregate'",
            "counts[Erc1155Transfer@42161]": "no answer for Erc1155Transfer@42161",
            "counts[Action@1]": "fingerprint's aggregate has no 'sum'",
            "counts[Action@10]": "sum is None, not an object",
            "counts[Action@8453]": "max.actionType differs: blue 'STAKE' != green None",
        },
    ),
    FaultCase(
        "green-rows-only-ids",
        green="rows-only-ids",
        must_fail=content,
        says={"content[Action@1]": "'s row '1_0x", "content[Loan@10]": "lacks field(s) "},
    ),
    FaultCase("green-progress-types", green="progress-types", must_fail=progress_spoils, data_fault=True),
    *[
        FaultCase(f"rpc-{name}", rpc=modes, must_fail=_rpc_progress(modes))
        for name, modes in (
            ("transport-a", RPC_A),
            ("transport-b", RPC_B),
            ("transport-c", RPC_C),
            ("types-a", RPC_TYPES_A),
            ("types-b", RPC_TYPES_B),
            ("hang", {1: "hang"}),
            ("drip", {1: "drip"}),
        )
    ],
]


def _green_url(world: ProofWorld, mode: str) -> tuple[str, str]:
    """(URL given, URL as the run must name it)."""
    query = f"apikey={GREEN_SECRET}"
    if mode == "refused":
        port = procs.free_port()
        return f"http://127.0.0.1:{port}/v1/graphql?{query}", f"http://127.0.0.1:{port}/v1/graphql?apikey=***"
    if mode == "https":
        port = world.green.port
        return f"https://127.0.0.1:{port}/v1/graphql?{query}", f"https://127.0.0.1:{port}/v1/graphql?apikey=***"
    return world.proxy.url("green", mode, query=query), world.proxy.url("green", mode, query="apikey=***")


def _rpc_url(world: ProofWorld, chain: int, mode: str) -> tuple[str, str]:
    query = f"apikey={RPC_SECRET}"
    if mode == "refused":
        port = procs.free_port()
        return f"http://127.0.0.1:{port}/?{query}", f"http://127.0.0.1:{port}/?apikey=***"
    if mode == "https":
        url = world.rpc[chain].replace("http://", "https://")
        return f"{url}/?{query}", f"{url}/?apikey=***"
    if mode == "mismatch":  # another chain's RPC, asked directly: chain 1's anvil for this chain
        return world.rpc[1], world.rpc[1]
    return world.rpc_url(chain, mode, query=query), world.rpc_url(chain, mode, query="apikey=***")


def _run(pytester: pytest.Pytester, *argv: str) -> pytest.RunResult:
    """A real pytest run of the plugin, in this process: a subprocess' start-up (interpreter, pytest,
    plugins, belt_gate) cost 2-4 s of every case on the loaded 2-core machine, and nothing a case asserts
    needs a process of its own (the secrets canary keeps subprocess runs: signals, every byte a process
    prints). Pytester drops the modules a run imported when it ends, so what belt_gate keeps across runs is
    imported above first (httpx imports httpcore lazily and caches its exception map; a re-imported
    httpcore's ReadTimeout would escape it)."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *LEAN, "-rA", *argv)


def _row(case: FaultCase, fault: str, endpoint: str, outcome: str, ret: int, wall: float, argv: list[str]) -> None:
    path = os.environ.get("PROOF_ROWS")
    if path:
        row = {"case": case.name, "fault": fault, "endpoint": endpoint, "outcome": outcome, "exit": ret}
        row |= {"seconds": round(wall, 2), "argv": argv}
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fault(pytester: pytest.Pytester, proof_world: ProofWorld, case: FaultCase) -> None:
    green, green_shown = _green_url(proof_world, case.green)
    rpcs = {c: _rpc_url(proof_world, c, case.rpc.get(c, "ok")) for c in CHAINS}
    argv = [
        f"--belt-blue={proof_world.blue.url}",
        f"--belt-green={green}",
        *SCHEMAS,
        *(f"--belt-rpc={c}={url}" for c, (url, _) in rpcs.items()),
        f"--belt-timeout={TIMEOUT}",
        "--belt-settle-timeout=2",
        "--belt-report=cert.json",
        "--junitxml=junit.xml",
    ]
    started = time.monotonic()
    result = _run(pytester, *argv)
    wall = time.monotonic() - started
    out = result.stdout.str() + result.stderr.str()
    cert = json.loads((pytester.path / "cert.json").read_text())
    verdicts: dict[str, dict[str, Any]] = {v["id"]: v for v in cert["verdicts"]}
    got = outcomes(result)
    ids = frozenset(verdicts)
    assert ids and set(got) == ids, out[-4000:]

    # no test that needed the bad answer passes; the run is not certified and exits 1
    must = case.must_fail(ids)
    assert must <= ids, sorted(must - ids)
    passed = {k for k, v in verdicts.items() if v["outcome"] == "passed"}
    assert not (must & passed), {k: verdicts[k]["verdict"] for k in sorted(must & passed)}
    assert cert["certified"] is case.certified, (cert["reasons"], _failing(verdicts))
    assert result.ret == (0 if case.certified else 1), (result.ret, _failing(verdicts), out[-2000:])
    if case.certified:
        assert passed == ids, _failing(verdicts)

    # every such verdict names the redacted endpoint it could not use, on its one output line
    shown: dict[str, str] = {}
    if case.green != "ok":
        named = "green" if case.data_fault else green_shown
        shown.update(dict.fromkeys(must - {f"progress[{c}]" for c in case.rpc}, named))
    for chain, mode in case.rpc.items():
        if mode != "ok":
            shown[f"progress[{chain}]"] = rpcs[chain][1]
    unnamed = {k: verdicts[k]["verdict"] for k in must if k in shown and shown[k] not in verdicts[k]["verdict"]}
    assert not unnamed, unnamed
    says = {k: v.format(green_port=proof_world.green.port) for k, v in case.says.items()}
    for chain, mode in case.rpc.items():
        if mode in RPC_SAYS:
            says[f"progress[{chain}]"] = RPC_SAYS[mode].format(rpc_port=proof_world.rpc[chain].rsplit(":", 1)[1])
    for test_id, fragment in says.items():
        assert fragment in verdicts[test_id]["verdict"], (test_id, fragment, verdicts[test_id]["verdict"])
        lines = [line for line in result.outlines if line.startswith(f"{test_id}: ") and fragment in line]
        assert lines, (test_id, fragment, [line for line in result.outlines if line.startswith(f"{test_id}: ")])

    # the secrets in the URLs show nowhere; no traceback; a hang guard (real figures: PROOF.md)
    written = out + json.dumps(cert) + (pytester.path / "junit.xml").read_text()
    assert GREEN_SECRET not in written and RPC_SECRET not in written and REDIRECT_SECRET not in written
    assert "Traceback" not in written and "INTERNALERROR" not in written
    assert wall < 4 * TIMEOUT * max(1, case.faulted_endpoints) + 60, wall

    for fault, endpoint in (case.rows or _rows(case)).items():
        _row(case, fault, endpoint, "certified" if cert["certified"] else "not certified", result.ret, wall, argv)


def _failing(verdicts: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    return {k: str(v["verdict"])[:300] for k, v in verdicts.items() if v["outcome"] != "passed"}


def _rows(case: FaultCase) -> dict[str, str]:
    rows = {}
    if case.green != "ok":
        rows[case.green] = "green GraphQL"
    for chain, mode in case.rpc.items():
        rows[mode] = f"chain {chain} RPC"
    return rows
