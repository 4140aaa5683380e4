"""Every `--belt-*` option shown to have its effect, and every refusal of the configure path (issue 3).

Option tests run pytest (in-process) against real sandbox belts: SQLite files served by the sandbox's
Hasura-dialect server in their own processes, over HTTP, and, where a chain head is needed, a real anvil.
Each belt and the anvil start once per module, and only when a test asks for them. Refusals never reach
the network: each must exit with status 4 and one line on stderr.

Where each option is shown (tests in test_plugin_options.py: PO, test_l1_plugin.py: L1, this file: OC):

    blue, green          PO healthy/dropped/... (every run)
    alias                OC test_alias_is_blue_when_no_blue_is_given
    mode                 PO test_skipped_chain_and_extra_chain (parity vs expansion)
    expected_chains      PO test_skipped_chain_and_extra_chain; L1 test_new_chain_without_golden_events...
    envio_config         OC test_envio_project_zero_config (default ./config.yaml),
                         OC test_envio_config_option_and_per_entity_mode_override
    schema               OC test_schema_files_and_golden_folder
    blue/green_schema    OC test_schema_files_and_golden_folder (lost enum value), alias test (no source)
    rpc (+BELT_RPC_<N>)  OC test_reorg_margin_lowers_the_cutoff_with_an_rpc_from_option_or_env; L1 tests
    report               PO test_healthy_green_passes_in_parity_with_certificate_and_junit
    record               PO test_record_then_replay_offline
    golden               L1 tests (golden ids); OC test_schema_files_and_golden_folder (named folder missing)
    seed, sample         OC test_seed_picks_the_sampled_ids_and_sample_their_number
    settle_timeout       OC test_settle_timeout_waits_for_both_belts_at_one_block (0.1 s against 20 s)
    timeout              OC test_timeout_decides_when_an_endpoint_is_not_answering
    reorg_margin         OC test_reorg_margin_lowers_the_cutoff_with_an_rpc_from_option_or_env
    head_tolerance       OC test_head_tolerance_decides_a_green_only_chain
    localise_budget      test_localise_plugin.py (0: off; a bad one is one line, exit 4)
    store_failures       test_localise_plugin.py (one JSONL per failing test; relative to the invocation)
    config (belt.toml)   PO test_invalid_belt_toml_and_ini_precedence; OC envio/override test
    refusals             PO test_refusals_are_one_line_and_nonzero; OC test_refusal
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (see run())
import httpx
import pytest

from belt_gate.sampling import seeded_id
from belt_gate.sandbox import chains
from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belt
from tests.support.runs import outcomes

pytest_plugins = ["pytester"]

ROWS = 36  # events per entity and chain in every belt (blocks 1..36); belts stand at block 40
ANVIL_CHAIN = 10
HEAD = 45  # the anvil's head block
GHOST = "\ntype Ghost {\n  id: ID!\n  chainId: Int!\n  blockNumber: BigInt!\n}\n"  # no belt serves it
B = "--belt-blue=http://127.0.0.1:8/v1/graphql"
G = "--belt-green=http://127.0.0.1:9/v1/graphql"

VARIANTS: dict[str, tuple[BeltData, tuple[str, ...]]] = {
    "blue": (BeltData(per_chain=ROWS), ()),
    "extra": (BeltData(per_chain=ROWS, extra_rows=2), ()),  # + events at blocks 37 and 38
    "lag": (BeltData(per_chain=ROWS, lag={10: 30}), ()),
    "settle": (BeltData(per_chain=ROWS, lag={10: 30}), ()),  # catches up during one run (mutated)
    "narrow": (BeltData(per_chain=ROWS, chains=(1,)), ()),
    "corrupt": (BeltData(per_chain=ROWS, corrupt={f"1_{b}_0": 1 for b in range(1, ROWS + 1)}), ()),
    "slow": (BeltData(per_chain=ROWS), ("slow:1",)),
}


class Belts:
    """Belts of VARIANTS, each started on first use and kept for the module."""

    def __init__(self, root: Path, stack: contextlib.ExitStack) -> None:
        self.root = root
        self.stack = stack
        self.served: dict[str, Served] = {}

    def db(self, name: str) -> Path:
        return self.root / f"{name}.db"

    def url(self, name: str) -> str:
        if name not in self.served:
            data, faults = VARIANTS[name]
            self.served[name] = self.stack.enter_context(serve_belt(data.write(self.db(name)), faults=faults))
        return self.served[name].url


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Belts]:
    with contextlib.ExitStack() as stack:
        yield Belts(tmp_path_factory.mktemp("option-belts"), stack)


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An anvil for chain 10, mined to block HEAD (no automining: the head stays put)."""
    chain = chains.start_chain(ANVIL_CHAIN, run_dir=tmp_path_factory.mktemp("option-anvil"))
    try:
        chains.mine(chain, HEAD)
        assert chains.head(chain) == HEAD
        yield chain.rpc_url
    finally:
        chains.stop_chain(chain)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in-process (a fraction of a subprocess' start-up). Pytester drops the modules a run imported
    when it ends, so what belt_gate keeps across runs must be imported here first: httpx imports httpcore
    lazily and caches its exception map, and a re-imported httpcore's ReadTimeout would escape that map.
    Hypothesis' plugin would import hypothesis afresh in every run (seconds); nothing here uses it."""
    return pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-rA", "--belt-report=cert.json", *args
    )


def cert(pytester: pytest.Pytester) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((pytester.path / "cert.json").read_text())
    return doc


def verdict(doc: dict[str, Any], case: str) -> str:
    """The verdict text of one case from the certificate (passed cases print none)."""
    found = [v for v in doc["verdicts"] if v["id"] == case]
    assert len(found) == 1, (case, sorted(v["id"] for v in doc["verdicts"]))
    return str(found[0]["verdict"])


def outcome(doc: dict[str, Any], case: str) -> str:
    """The certificate's outcome of one case (passed, failed, could-not-check, not-run)."""
    found = [v for v in doc["verdicts"] if v["id"] == case]
    assert len(found) == 1, (case, sorted(v["id"] for v in doc["verdicts"]))
    return str(found[0]["outcome"])


def reconciliations(doc: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["reconciliation"] for e in doc["entities"]}


# -- options --------------------------------------------------------------------------------------


def test_alias_is_blue_when_no_blue_is_given(pytester: pytest.Pytester, belts: Belts) -> None:
    result = run(
        pytester, f"--belt-alias={belts.url('blue')}", f"--belt-green={belts.url('lag')}", "--belt-settle-timeout=0.1"
    )
    got = outcomes(result)
    doc = cert(pytester)
    assert doc["settings"]["blue"] == doc["settings"]["alias"] == belts.url("blue")
    # blue's progress was read from the alias: chain 10 stands at 40 there, green at 30
    assert got["progress[1]"] == "PASSED" and got["progress[10]"] == "FAILED", result.stdout.str()
    assert "chain 10: green processed 30 < blue 40" in verdict(doc, "progress[10]")
    # without --belt-blue-schema/--belt-green-schema the enum check has no source (and says which options)
    assert got["enums"] == "FAILED"
    assert "--belt-blue-schema and --belt-green-schema" in verdict(doc, "enums")
    assert not [k for k in got if "Ghost" in k]  # only a schema file naming Ghost plans it (see below)


def test_schema_files_and_golden_folder(pytester: pytest.Pytester, belts: Belts) -> None:
    pytester.makefile(
        ".graphql", ghost=SCHEMA.read_text() + GHOST, lossy=SCHEMA.read_text().replace("  DEFAULTED\n", "")
    )
    result = run(
        pytester,
        f"--belt-blue={belts.url('blue')}",
        f"--belt-green={belts.url('lag')}",
        "--belt-settle-timeout=0.1",
        "--belt-schema=ghost.graphql",
        f"--belt-blue-schema={SCHEMA}",
        "--belt-green-schema=lossy.graphql",
        "--belt-golden=nowhere",
    )
    got = outcomes(result)
    doc = cert(pytester)
    # --belt-schema: its entities are planned even when no belt serves them, and then fail
    assert got["counts[Ghost@1]"] == got["counts[Ghost@10]"] == "FAILED", result.stdout.str()
    assert "neither blue nor green serves Ghost" in verdict(doc, "counts[Ghost@1]")
    # --belt-blue-schema / --belt-green-schema: enum values come from the two files
    assert got["enums"] == "FAILED"
    assert verdict(doc, "enums") == "enums: enum LoanStatus lost value(s) DEFAULTED"
    # --belt-golden: a folder the user names must exist (./golden may be absent)
    assert got["golden[invalid]"] == "FAILED"
    assert re.search(r"invalid golden fixtures: golden fixtures in \S*nowhere", verdict(doc, "golden[invalid]"))


def test_envio_project_zero_config(pytester: pytest.Pytester, belts: Belts) -> None:
    """./config.yaml and ./schema.graphql are read with no option naming them; modes are inferred."""
    pytester.makefile(
        ".yaml",
        config="name: demo\nnetworks:\n  - id: 1\n    start_block: 0\n"
        "  - id: 10\n    start_block: 0\n  - id: 137\n    start_block: 0\n",
    )
    pytester.makefile(".graphql", schema=SCHEMA.read_text() + GHOST)
    result = run(
        pytester, f"--belt-blue={belts.url('blue')}", f"--belt-green={belts.url('lag')}", "--belt-settle-timeout=0.1"
    )
    got = outcomes(result)
    doc = cert(pytester)
    # chains from config.yaml (137: neither belt indexes it), entities from schema.graphql (Ghost)
    assert doc["chains"] == [1, 10, 137]
    assert got["progress[137]"] == "FAILED", result.stdout.str()
    assert "chain 137: green has no progress row" in verdict(doc, "progress[137]")
    assert got["counts[Ghost@1]"] == "FAILED" and outcome(doc, "counts[Ghost@1]") == "could-not-check"
    # block number -> A, timestamp only -> B, neither -> C
    assert reconciliations(doc) == {
        "NftTransfer": "A",
        "Erc1155Transfer": "A",
        "Ghost": "A",
        "Action": "B",
        "Loan": "C",
    }
    # A compares at the lower processed block of chain 10 (green's 30)
    assert got["counts[NftTransfer@10]"] == "PASSED"
    assert verdict(doc, "counts[NftTransfer@10]") == "NftTransfer@10 at block <= 30: 30 rows, fingerprints equal"
    # B needs the cutoff block's timestamp (an RPC); without one it compares the current state, judged with
    # the heights each belt stood at: chain 1 (both at 40) plainly, chain 10 (blue 40, green 30) saying so
    assert got["counts[Action@1]"] == "PASSED"
    assert verdict(doc, "counts[Action@1]") == (
        "Action@1 at the current state (no timestamp for cutoff block 40: no --belt-rpc 1=URL): 36 rows, "
        "fingerprints equal"
    )
    assert got["counts[Action@10]"] == "PASSED"
    assert verdict(doc, "counts[Action@10]") == (
        "Action@10 at the current state (no timestamp for cutoff block 30: no --belt-rpc 10=URL): 36 rows, "
        "fingerprints equal (blue at block 40, green at block 30: equal at different heights, consistent)"
    )
    # C compares the current state (no cutoff note); --belt-settle-timeout=0.1 does not wait for green to
    # catch up, so chain 10 is read unsettled: equal rows at different heights pass, naming both heights
    assert doc["cutoffs"]["10"]["green"] == 30 and doc["cutoffs"]["10"]["settled"] is False
    assert got["counts[Loan@10]"] == "PASSED"
    assert verdict(doc, "counts[Loan@10]") == (
        "Loan@10 at the current state: 3 rows, fingerprints equal (blue at block 40, green at block 30: "
        "equal at different heights, consistent)"
    )
    # passing at the current state hides nothing of the lag: progress still fails it
    assert got["progress[10]"] == "FAILED"
    assert verdict(doc, "progress[10]") == "chain 10: green processed 30 < blue 40 (still backfilling)"


def test_envio_config_option_and_per_entity_mode_override(pytester: pytest.Pytester, belts: Belts) -> None:
    """--belt-envio-config names a config elsewhere (its schema is found next to it); belt.toml overrides
    the inferred mode per entity."""
    proj = pytester.mkdir("proj")
    (proj / "config.yaml").write_text(
        "name: demo\nschema: ./entities.graphql\nnetworks:\n  - id: 1\n    start_block: 0\n  - id: 10\n  - id: 8453\n"
    )
    (proj / "entities.graphql").write_text(SCHEMA.read_text() + GHOST)
    pytester.makefile(
        ".toml", belt='[entities.NftTransfer]\nreconciliation = "C"\n[entities.Erc1155Transfer]\nreconciliation = "B"\n'
    )
    result = run(
        pytester,
        f"--belt-blue={belts.url('blue')}",
        f"--belt-green={belts.url('lag')}",
        "--belt-settle-timeout=0.1",
        "--belt-envio-config=proj/config.yaml",
        "--belt-config=belt.toml",
    )
    got = outcomes(result)
    doc = cert(pytester)
    assert doc["chains"] == [1, 10, 8453] and got["progress[8453]"] == "FAILED", result.stdout.str()
    assert got["counts[Ghost@1]"] == "FAILED"  # proj/entities.graphql, not ./schema.graphql
    assert reconciliations(doc) == {
        "NftTransfer": "C",
        "Erc1155Transfer": "B",
        "Ghost": "A",
        "Action": "B",
        "Loan": "C",
    }
    # NftTransfer@10 compared 30 rows at block <= 30 in reconciliation A (zero-config test); in C it compares the
    # current state: all 36 rows, at the heights each belt stood at
    assert got["counts[NftTransfer@10]"] == "PASSED"
    assert verdict(doc, "counts[NftTransfer@10]") == (
        "NftTransfer@10 at the current state: 36 rows, fingerprints equal "
        "(blue at block 40, green at block 30: equal at different heights, consistent)"
    )
    assert verdict(doc, "counts[NftTransfer@1]") == "NftTransfer@1 at the current state: 36 rows, fingerprints equal"
    # Erc1155Transfer in reconciliation B: no RPC, so no timestamp for the cutoff block; the current state instead
    assert got["counts[Erc1155Transfer@10]"] == "PASSED"
    assert verdict(doc, "counts[Erc1155Transfer@10]") == (
        "Erc1155Transfer@10 at the current state (no timestamp for cutoff block 30: no --belt-rpc 10=URL): "
        "36 rows, fingerprints equal (blue at block 40, green at block 30: equal at different heights, consistent)"
    )


def _first_sampled(seed: int) -> str:
    """The first NftTransfer id on chain 1 the content sample compares (k rows from a seeded id)."""
    ids = sorted(f"1_{b}_0" for b in range(1, ROWS + 1))
    key = seeded_id(ids[0], ids[-1], seed, "NftTransfer@1")
    return next((i for i in ids if i > key), ids[0])


def test_seed_picks_the_sampled_ids_and_sample_their_number(pytester: pytest.Pytester, belts: Belts) -> None:
    """Every NftTransfer on green's chain 1 is corrupt: the content failure names the first sampled row,
    which the seed decides; --belt-sample decides how many rows are compared."""
    one = 3
    other = next(s for s in range(4, 200) if _first_sampled(s) != _first_sampled(one))
    texts = {}
    for seed, sample in ((one, 1), (other, 3)):
        result = run(
            pytester,
            f"--belt-blue={belts.url('blue')}",
            f"--belt-green={belts.url('corrupt')}",
            f"--belt-seed={seed}",
            f"--belt-sample={sample}",
        )
        got = outcomes(result)
        doc = cert(pytester)
        assert got["content[NftTransfer@1]"] == "FAILED", result.stdout.str()
        texts[seed] = verdict(doc, "content[NftTransfer@1]")
        assert re.search(rf"row 1_\d+_0 field tokenId: blue '\d+' != green '\d+' \(seed {seed}\)$", texts[seed])
        assert re.search(rf"content\[NftTransfer@1\]: .*\(seed {seed}\)", result.stdout.str())
        assert (
            verdict(doc, "content[Erc1155Transfer@1]") == f"Erc1155Transfer@1: {sample} sampled rows equal "
            f"(seed {seed})"
        )
    rows = {seed: re.findall(r"row (\S+) field", text)[0] for seed, text in texts.items()}
    assert rows[one] != rows[other], texts


def test_timeout_decides_when_an_endpoint_is_not_answering(pytester: pytest.Pytester, belts: Belts) -> None:
    """Green answers every request after 1 s; with --belt-timeout=0.5 it counts as not answering (the
    default 30 s would wait for it), and every test that needs green fails naming it."""
    slow = belts.url("slow")
    result = run(pytester, f"--belt-blue={belts.url('blue')}", f"--belt-green={slow}", "--belt-timeout=0.5")
    got = outcomes(result)
    assert got["chain_set"] == got["schema[_root]"] == "FAILED", result.stdout.str()
    doc = cert(pytester)
    assert f"green: green {slow}: timed out after 0.5s (asking introspection)" in verdict(doc, "chain_set")
    # none passes: not even enums, as green's enum columns are unknown
    assert set(got.values()) == {"FAILED"} and len(got) == len(doc["verdicts"]) > 2
    assert "an endpoint could not be introspected" in verdict(doc, "enums")


def _stand(db: Path, chain: int, block: int, *, repaid: bool) -> None:
    """The belt's `chain` processed to `block`, its Loan {chain}_1 repaid (as blue holds it, support.BeltData)
    or not yet (still ACTIVE: its repayment lies in the blocks not processed yet)."""
    status, repaid_at = ("REPAID", 1_700_000_100) if repaid else ("ACTIVE", None)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "UPDATE chain_metadata SET latest_processed_block = ?, latest_fetched_block_number = ? WHERE chain_id = ?",
            (block, block, chain),
        )
        conn.execute('UPDATE "Loan" SET status = ?, "repaidAt" = ? WHERE id = ?', (status, repaid_at, f"{chain}_1"))
        conn.commit()


@contextlib.contextmanager
def catching_up(
    upstream: str, db: Path, chain: int, behind: int, caught_up: int, on_read: int = 2
) -> Iterator[tuple[str, dict[str, int]]]:
    """A pass-through HTTP proxy in front of a belt whose `chain` stands at `behind`, its Loan {chain}_1 not
    yet repaid. When progress is read the `on_read`th time (a run waiting for the belts to settle), the belt
    has caught up, as its indexer would meanwhile: `chain` at `caught_up`, the loan repaid. A run that reads
    progress fewer times sees the belt behind in every request. `seen["progress"]`: progress reads."""
    seen = {"progress": 0}
    lock = threading.Lock()
    _stand(db, chain, behind, repaid=False)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if b"BeltProgress" in body:  # a progress read of its own (snapshot.py's first read, settle polls)
                with lock:
                    seen["progress"] += 1
                    if seen["progress"] == on_read:
                        _stand(db, chain, caught_up, repaid=True)
            answer = httpx.post(upstream, content=body, headers={"content-type": "application/json"}, timeout=30)
            self.send_response(answer.status_code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/graphql", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_settle_timeout_waits_for_both_belts_at_one_block(pytester: pytest.Pytester, belts: Belts) -> None:
    """Blue stands at 40 with Loan 10_1 repaid. Green's chain 10 stands at 30 on the first read, the loan not
    yet repaid, and has caught up (40, repaid) once progress is read again. Loan (reconciliation C) is compared at the
    current state: with a wait shorter than the catch-up (0.1 s: progress read once more, green still behind;
    a wait of 0 is refused), green is read at 30 and the difference is one the heights could explain
    (could-not-check); with a settle timeout the run polls progress until both stand at 40, takes the
    cutoffs there and compares at one block (passed)."""
    blue = belts.url("blue")
    with catching_up(belts.url("settle"), belts.db("settle"), chain=10, behind=30, caught_up=40, on_read=3) as (
        url,
        seen,
    ):
        hasty = run(pytester, f"--belt-blue={blue}", f"--belt-green={url}", "--belt-settle-timeout=0.1")
    got = outcomes(hasty)
    doc = cert(pytester)
    assert seen["progress"] == 2, hasty.stdout.str()  # a wait shorter than the catch-up: read once more, behind
    assert doc["cutoffs"]["10"]["green"] == 30 and doc["cutoffs"]["10"]["settled"] is False
    assert verdict(doc, "counts[NftTransfer@10]") == "NftTransfer@10 at block <= 30: 30 rows, fingerprints equal"
    assert got["counts[Loan@10]"] == "FAILED" and outcome(doc, "counts[Loan@10]") == "could-not-check"
    heights = (
        "but the belts stood at different heights (blue at block 40, green at block 30), which could explain it; "
        "run again when both stand at one block"
    )
    assert verdict(doc, "counts[Loan@10]").startswith(
        "Loan@10 at the current state: cannot compare: fingerprint max.repaidAt differs: blue '1700000100' != "
        f"green None (count 3 on both), {heights}"
    )
    assert outcome(doc, "content[Loan@10]") == "could-not-check"
    assert verdict(doc, "content[Loan@10]") == (
        f"Loan@10: cannot compare: row 10_1 field repaidAt: blue '1700000100' != green None (seed 0), {heights}"
    )
    assert doc["certified"] is False

    with catching_up(belts.url("settle"), belts.db("settle"), chain=10, behind=30, caught_up=40) as (url, seen):
        result = run(pytester, f"--belt-blue={blue}", f"--belt-green={url}", "--belt-settle-timeout=20")
    got = outcomes(result)
    doc = cert(pytester)
    assert seen["progress"] == 2, result.stdout.str()  # read again, and no more once both stood at 40
    assert doc["cutoffs"]["10"]["green"] == 40 and doc["cutoffs"]["10"]["settled"] is True
    assert verdict(doc, "counts[NftTransfer@10]") == "NftTransfer@10 at block <= 40: 36 rows, fingerprints equal"
    assert got["counts[Loan@10]"] == "PASSED"
    assert verdict(doc, "counts[Loan@10]") == "Loan@10 at the current state: 3 rows, fingerprints equal"
    assert verdict(doc, "content[Loan@10]") == "Loan@10: 3 sampled rows equal (seed 0)"
    assert result.ret == 1 and got["enums"] == "FAILED"  # (no enum source given; everything else passes)
    assert [k for k, v in got.items() if v == "FAILED"] == ["enums"]


@pytest.mark.sandbox
def test_reorg_margin_lowers_the_cutoff_with_an_rpc_from_option_or_env(
    pytester: pytest.Pytester, belts: Belts, anvil: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both belts stand at 40; green has two more events at blocks 37 and 38. Chain 10 has an RPC (head 45):
    margin 10 puts its cutoff at 35, below green's extra events. Chain 1 has no RPC: cutoff 40."""
    args = (f"--belt-blue={belts.url('blue')}", f"--belt-green={belts.url('extra')}", "--belt-reorg-margin=10")
    by_option = run(pytester, *args, f"--belt-rpc={ANVIL_CHAIN}={anvil}")
    got = outcomes(by_option)
    doc = cert(pytester)
    assert doc["cutoffs"]["10"]["block"] == 35 and doc["cutoffs"]["10"]["why"] == "chain head 45 - 10"
    assert doc["cutoffs"]["1"]["block"] == 40 and doc["cutoffs"]["1"]["why"] == "lower processed block"
    assert got["counts[NftTransfer@10]"] == "PASSED", by_option.stdout.str()
    assert verdict(doc, "counts[NftTransfer@10]") == "NftTransfer@10 at block <= 35: 35 rows, fingerprints equal"
    assert got["counts[Action@10]"] == "PASSED"  # reconciliation B: at block 35's timestamp, read from the RPC
    assert "timestamp <= 1700000420 (block 35)" in verdict(doc, "counts[Action@10]")
    assert got["counts[NftTransfer@1]"] == "FAILED"
    assert "NftTransfer@1 at block <= 40: count blue 36 != green 38" in verdict(doc, "counts[NftTransfer@1]")

    monkeypatch.setenv(f"BELT_RPC_{ANVIL_CHAIN}", anvil)
    by_env = run(pytester, *args)
    env_doc = cert(pytester)
    assert outcomes(by_env) == got
    assert env_doc["cutoffs"] == doc["cutoffs"] and env_doc["settings"]["rpc"] == {"10": anvil}


@pytest.mark.sandbox
def test_head_tolerance_decides_a_green_only_chain(pytester: pytest.Pytester, belts: Belts, anvil: str) -> None:
    """Expansion: blue indexes chain 1, green chains 1 and 10; green's chain 10 is at 40, its head at 45."""
    args = (
        f"--belt-blue={belts.url('narrow')}",
        f"--belt-green={belts.url('extra')}",
        "--belt-mode=expansion",
        "--belt-expected-chains=1,10",
        f"--belt-rpc={ANVIL_CHAIN}={anvil}",
    )
    strict = run(pytester, *args, "--belt-head-tolerance=4")
    assert outcomes(strict)["progress[10]"] == "FAILED", strict.stdout.str()
    assert verdict(cert(pytester), "progress[10]") == (
        "chain 10: green processed 40 is 5 blocks behind the chain head 45 (allowed 4)"
    )
    lenient = run(pytester, *args, "--belt-head-tolerance=5")
    assert outcomes(lenient)["progress[10]"] == "PASSED", lenient.stdout.str()
    assert verdict(cert(pytester), "progress[10]") == "chain 10: green processed 40, chain head 45"


# -- refusals -------------------------------------------------------------------------------------

NUMBERS = ("seed", "sample", "settle_timeout", "timeout", "reorg_margin", "head_tolerance")
TOML = "--belt-config=belt.toml"
ENVIO_BAD = {
    "not YAML": ("a: [", "config.yaml: not valid YAML"),
    "not a mapping": ("- 1", "expected a mapping at the top level"),
    "no networks": ("name: x", "no networks (chains) listed"),
    "network not a mapping": ("networks: [5]", "each network must be a mapping"),
    "network id": ("networks: [{id: abc}]", "network id must be an integer, got 'abc'"),
    "start_block": ("networks: [{id: 1, start_block: x}]", "start_block must be an integer"),
    "contract name": ("networks: [{id: 1, contracts: [{address: '0x1'}]}]", "chain 1: each contract needs a name"),
    "chain twice": ("networks: [{id: 1}, {id: 1}]", "a chain id is listed twice"),
}
SCHEMA_BAD = {
    "not GraphQL": ("type {", "schema.graphql: not a valid GraphQL schema"),
    "unknown type": ("type A { id: ID! x: Nope }", "A.x has unknown type Nope"),
    "no id": ("type A { x: Int }", "entity A has no id field"),
    "no entity": ("enum E { X }", "no entity types found"),
}
LOAN_A = '[entities.Loan]\nreconciliation = "A"\n'
REFUSALS: list[Any] = [
    pytest.param(
        {}, ["--belt-blue=http://user:hunter2@127.0.0.1:99999/", G], "not a valid URL: http://***@", id="url-invalid"
    ),
    pytest.param(
        {}, [B, G, "--belt-expected-chains=[1,"], "expected chains: not a list of chain ids", id="expected-chains-json"
    ),
    pytest.param(
        {"belt.toml": "[belt]\nexpected_chains = 5\n"},
        [B, G, TOML],
        "expected chains: not a list of chain ids: 5",
        id="expected-chains-type",
    ),
    pytest.param(
        {}, [B, G, "--belt-expected-chains=1,0"], "expected chains: 0 is not a chain id", id="expected-chains-zero"
    ),
    pytest.param({}, [B, G, "--belt-rpc=x=http://127.0.0.1:1/"], "--belt-rpc: 'x' is not a chain id", id="rpc-chain"),
    pytest.param(
        {}, [B, G, "--belt-rpc=1=ftp://127.0.0.1/"], "--belt-rpc: RPC for chain 1 is not an http(s) URL", id="rpc-url"
    ),
    pytest.param(
        {"pytest.ini": "[pytest]\nbelt_rpc =\n    1=nope\n"},
        [B, G],
        "RPC for chain 1 is not an http(s) URL",
        id="rpc-ini",
    ),
    pytest.param({"ENV:BELT_RPC_1": "nope"}, [B, G], "BELT_RPC_1: RPC for chain 1 is not an http(s) URL", id="rpc-env"),
    *[
        pytest.param(
            {},
            [B, G, f"--belt-{n.replace('_', '-')}=abc"],
            f"--belt-{n.replace('_', '-')}: 'abc' is not a number",
            id=f"{n}-nan",
        )
        for n in NUMBERS
    ],
    *[
        pytest.param(
            {},
            [B, G, f"--belt-{n.replace('_', '-')}=-1"],
            f"--belt-{n.replace('_', '-')}: must be at least",
            id=f"{n}-negative",
        )
        for n in NUMBERS
    ],
    pytest.param({}, [B, G, "--belt-timeout=0"], "--belt-timeout: must be at least 0.001", id="timeout-zero"),
    pytest.param({"belt.toml": "[belt\n"}, [B, G, TOML], "belt.toml: not valid TOML", id="toml-invalid"),
    pytest.param({"belt.toml": "belt = 5\n"}, [B, G, TOML], "[belt] must be a table", id="toml-belt-table"),
    pytest.param({"belt.toml": "entities = 5\n"}, [B, G, TOML], "[entities] must be a table", id="entities-table"),
    pytest.param(
        {"belt.toml": "[entities]\nLoan = 5\n"}, [B, G, TOML], "entities.Loan must be a table", id="entity-table"
    ),
    pytest.param(
        {"belt.toml": '[entities.Loan]\nmode = "D"\n'},
        [B, G, TOML],
        "entities.Loan.mode must be A, B or C",
        id="entity-mode",
    ),
    pytest.param(
        {"belt.toml": "[entities.Loan]\ntolerance = 5\n"},
        [B, G, TOML],
        "entities.Loan.tolerance must be a table",
        id="entity-tolerance-table",
    ),
    pytest.param(
        {"belt.toml": '[entities.Loan]\ntolerance = {rel = "x"}\n'},
        [B, G, TOML],
        "entities.Loan.tolerance.rel: 'x' is not a number",
        id="entity-tolerance-rel",
    ),
    pytest.param(
        {"belt.toml": "[entities.Loan]\ntolerance = {abs = -1}\n"},
        [B, G, TOML],
        "entities.Loan.tolerance.abs: must be at least 0",
        id="entity-tolerance-abs",
    ),
    pytest.param(
        {"belt.toml": LOAN_A},
        [B, G, TOML, f"--belt-schema={SCHEMA}"],
        "entities.Loan: reconciliation A (at block) needs a block number field (blockNumber or block_number); "
        "Loan has none",
        id="entity-mode-a-without-block",
    ),
    pytest.param(
        {"belt.toml": '[entities.Loan]\nreconciliation = "B"\n', "schema.graphql": SCHEMA.read_text()},
        [B, G, TOML],
        "entities.Loan: reconciliation B (at timestamp) needs a timestamp field",
        id="entity-mode-b-without-timestamp",
    ),
    pytest.param({"belt.toml": "audit = 5\n"}, [B, G, TOML], "[[audit]] must be an array of tables", id="audit-array"),
    pytest.param(
        {"belt.toml": '[[audit]]\nchain = 1\naddress = "0x12"\n'},
        [B, G, TOML],
        "[[audit]] 1: address must be a 0x-hex contract address",
        id="audit-invalid",
    ),
    pytest.param(
        {"belt.toml": "[belt]\nblue = 5\n"},
        [G, TOML],
        "--belt-blue must be a URL or a recorded snapshot",
        id="blue-not-a-string",
    ),
    pytest.param(
        {},
        ["--belt-alias=nowhere.json", G],
        "--belt-alias: 'nowhere.json' is neither an http(s) URL",
        id="alias-not-url-nor-file",
    ),
    pytest.param({}, ["--belt-alias=http://LOCALHOST:9/v1/graphql/", G], "green is blue", id="alias-is-green"),
    pytest.param(
        {"snap.json": "{}"},
        ["--belt-blue=snap.json", "--belt-green=./snap.json"],
        "green is blue (same recorded snapshot)",
        id="same-recording",
    ),
    pytest.param({}, [B, G, "--belt-envio-config=nope.yaml"], "cannot read Envio config", id="envio-unreadable"),
    *[
        pytest.param({"config.yaml": text}, [B, G], message, id=f"envio-{name}")
        for name, (text, message) in ENVIO_BAD.items()
    ],
    *[
        pytest.param({"schema.graphql": text}, [B, G], message, id=f"schema-{name}")
        for name, (text, message) in SCHEMA_BAD.items()
    ],
    pytest.param({}, [B, G, "--belt-blue-schema=nope.graphql"], "cannot read schema", id="blue-schema-unreadable"),
    pytest.param(
        {"g.graphql": "type {"},
        [B, G, "--belt-green-schema=g.graphql"],
        "not a valid GraphQL schema",
        id="green-schema-invalid",
    ),
]


@pytest.mark.parametrize(("files", "args", "message"), REFUSALS)
def test_refusal(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], args: list[str], message: str
) -> None:
    """Refused in pytest_configure: exit status 4, one line on stderr, nothing collected or fetched."""
    for name, text in files.items():
        if name.startswith("ENV:"):
            monkeypatch.setenv(name[4:], text)
        else:
            (pytester.path / name).write_text(text)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, (result.ret, err, result.stdout.str())
    assert err.strip().startswith("ERROR: belt_gate: ") and len(err.strip().splitlines()) == 1, err
    assert message in err, err
    assert "hunter2" not in err + result.stdout.str()
    assert "collected" not in result.stdout.str()
