"""An endpoint that answers wrong fails exactly the tests that need its answer, each on one line naming the
redacted endpoint, and no such test passes (issue 3: "fail closed, everywhere").

Blue and green are real sandbox belt servers (SQLite, same rows) over HTTP. The belt under test is reached
through a small HTTP proxy on 127.0.0.1 that forwards every request to its real server and mangles only
what the case's mode says: `/<belt>/<mode>/v1/graphql`, so one proxy serves every case. The proxy URL
carries a secret in its query (`?apikey=sekrit123`) that must never reach stdout, stderr, the certificate
or the JUnit file, while the redacted endpoint (`...?apikey=***`) is named on every failing test's line.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.proof.fault_proxy import kind_of
from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belts
from tests.support.runs import failed, line_with, outcomes, run

pytest_plugins = ["pytester"]

SECRET = "sekrit123"
SCHEMAS = [f"--belt-schema={SCHEMA}", f"--belt-blue-schema={SCHEMA}", f"--belt-green-schema={SCHEMA}"]
CHAINS = (1, 10)
ENTITIES = ("NftTransfer", "Erc1155Transfer", "Action", "Loan")
LABELS = [f"{e}@{c}" for e in ENTITIES for c in CHAINS]
COUNTS = {f"counts[{label}]" for label in LABELS}
CONTENT = {f"content[{label}]" for label in LABELS}
SLOW = 8.0  # seconds the proxy holds a fingerprint answer in mode fp-slow (the run's timeout is 3 s)

Answer = tuple[int, bytes]

#: Fingerprint answers that replace the real one outright.
FINGERPRINT_ANSWERS: dict[str, Answer] = {
    "fp500": (500, b"internal server error"),
    "fp-notjson": (200, b"<html>502 Bad Gateway</html>"),
    "fp-array": (200, b'[{"data": {}}]'),
    "fp-empty": (200, b""),
    "fp-errors": (200, b'{"errors":[{"message":"boom","extensions":{"code":"unexpected"}}]}'),
    "fp-nodata": (200, b'{"data": null}'),
}

MISSING = object()
#: Mode `fields`: one bad value (or a missing alias) per entity@chain of the fingerprint answer; Loan@10 is
#: left as the belt sent it.
BAD_FIELDS: dict[str, tuple[str, object]] = {
    "NftTransfer@1": ("count", "12abc"),
    "NftTransfer@10": ("sum.tokenId", "NaN"),
    "Erc1155Transfer@1": ("count", "1e5"),  # a row count is an integer, not a float's notation
    "Erc1155Transfer@10": ("count", 12.0),  # ... nor a float that happens to equal blue's 12
    "Action@1": ("count", None),
    "Action@10": ("sum.timestamp", "0x1f"),
    "Loan@1": ("", MISSING),  # a partial answer: the alias is not there
}
# fingerprint fields only (f<N>); t<N> fields count the whole slice (a cutoff that compares nothing)
_ALIAS = re.compile(r'(f\d+): (\w+)_aggregate\(where: \{chainId: \{_eq: "?(\d+)"?\}')


def _bad_fields(request: bytes, answer: bytes) -> bytes:
    query = json.loads(request)["query"]
    aliases = {f"{entity}@{chain}": alias for alias, entity, chain in _ALIAS.findall(query)}
    assert set(BAD_FIELDS) <= set(aliases), aliases
    doc = json.loads(answer)
    for label, (path, value) in BAD_FIELDS.items():
        alias = aliases[label]
        if value is MISSING:
            del doc["data"][alias]
            continue
        agg = doc["data"][alias]["aggregate"]
        if "." in path:
            part, column = path.split(".")
            assert column in agg[part], agg  # the real answer has the field being spoiled
            agg[part][column] = value
        else:
            agg[path] = value
    return json.dumps(doc).encode()


def _short_rows(answer: bytes) -> bytes:
    """The NftTransfer field of a sample answer without its last row (ordered by id: a chain 1 row)."""
    doc = json.loads(answer)
    (alias,) = [a for a in doc["data"] if "NftTransfer" in a]
    rows = doc["data"][alias]
    assert len(rows) == 24 and rows[-1]["id"] == "1_9_0", rows
    doc["data"][alias] = rows[:-1]
    return json.dumps(doc).encode()


def mangle(mode: str, request: bytes, forward: Callable[[], Answer], stop: threading.Event) -> Answer:
    kind = kind_of(request)
    if mode == "http503":
        return 503, b"service unavailable"
    if kind == "fingerprints":
        if mode in FINGERPRINT_ANSWERS:
            return FINGERPRINT_ANSWERS[mode]
        if mode == "fp-slow":
            stop.wait(SLOW)
        if mode == "fields":
            status, body = forward()
            return status, _bad_fields(request, body)
    if kind == "rows":
        if mode == "rows500":
            return 500, b"internal server error"
        if mode == "rows-short":
            status, body = forward()
            return status, _short_rows(body)
    return forward()


@dataclass
class Proxy:
    port: int
    upstream: dict[str, str]

    def url(self, belt: str, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{belt}/{mode}/v1/graphql?apikey={SECRET}"

    def shown(self, belt: str, mode: str) -> str:
        """The endpoint as belt_gate must name it: the secret masked."""
        return f"http://127.0.0.1:{self.port}/{belt}/{mode}/v1/graphql?apikey=***"


@contextlib.contextmanager
def mangling_proxy(upstream: dict[str, str]) -> Iterator[Proxy]:
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = self.rfile.read(int(self.headers.get("content-length", 0)))
            belt, mode = urlsplit(self.path).path.strip("/").split("/")[:2]

            def forward() -> Answer:
                answer = httpx.post(
                    upstream[belt], content=request, headers={"content-type": "application/json"}, timeout=30
                )
                return answer.status_code, answer.content

            status, body = mangle(mode, request, forward, stop)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Proxy(server.server_address[1], upstream)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("belts")
    with serve_belts(
        {name: (BeltData(chains=CHAINS).write(d / f"{name}.db"), {}) for name in ("blue", "green")}
    ) as served:
        yield served


@pytest.fixture(scope="module")
def proxy(belts: dict[str, Served]) -> Iterator[Proxy]:
    with mangling_proxy({name: served.url for name, served in belts.items()}) as p:
        yield p


@dataclass(frozen=True)
class Case:
    mode: str
    failing: Callable[[set[str]], set[str]]  # every test id of the run -> the ids that must fail
    lines: tuple[tuple[str, str], ...]  # (test id, fragment): on its output line, `*` is the redacted endpoint
    belt: str = "green"
    args: tuple[str, ...] = ()


def _all_but_enums(ids: set[str]) -> set[str]:
    return ids - {"enums"}  # enums compares the two Envio schema files given, not an endpoint's answer


def _counts_and_content(ids: set[str]) -> set[str]:
    return COUNTS | CONTENT


def _fingerprint_request(mode: str, fragment: str) -> Case:
    """The fingerprint request broken: every counts test fails, and every content test (a sample is planned
    from both fingerprints); chain set, progress, schema and enums still pass."""
    return Case(
        mode,
        _counts_and_content,
        (
            ("counts[NftTransfer@1]", f"green unreadable: green *: {fragment} (asking 12 fingerprints)"),
            ("content[Loan@10]", f"no sample (seed 0): green *: {fragment} (asking 12 fingerprints)"),
        ),
    )


CASES = [
    pytest.param(
        Case(
            "http503",
            _all_but_enums,
            (
                ("chain_set", "chain set unknown, cannot compare: green: green *: HTTP 503 (asking introspection)"),
                ("progress[10]", "green progress unknown: green *: HTTP 503 (asking introspection)"),
                ("counts[Action@1]", "cannot compare: no processed block on chain 1 from green: green *: HTTP 503"),
                (
                    "content[Loan@10]",
                    "no sample (seed 0): no processed block on chain 10 from green: green *: HTTP 503",
                ),
                ("schema[NftTransfer]", "cannot compare: green: green *: HTTP 503"),
            ),
        ),
        id="http503-every-request",
    ),
    pytest.param(_fingerprint_request("fp500", "HTTP 500"), id="fingerprints-http500"),
    pytest.param(
        _fingerprint_request("fp-notjson", "answered with a body that is not JSON"), id="fingerprints-not-json"
    ),
    pytest.param(
        _fingerprint_request("fp-array", "answered with JSON that is not an object"), id="fingerprints-json-array"
    ),
    pytest.param(
        _fingerprint_request("fp-empty", "answered with a body that is not JSON"), id="fingerprints-empty-body"
    ),
    pytest.param(_fingerprint_request("fp-errors", "GraphQL error: boom"), id="fingerprints-graphql-errors"),
    pytest.param(_fingerprint_request("fp-nodata", "answered without data"), id="fingerprints-data-null"),
    pytest.param(
        Case(
            "fp-slow",
            _counts_and_content,
            (
                ("counts[Loan@1]", "green unreadable: green *: timed out after 3s (asking 12 fingerprints)"),
                ("content[Action@10]", "green *: timed out after 3s (asking 12 fingerprints)"),
            ),
            args=("--belt-timeout=3",),  # 1 s: a loaded 2-core machine's healthy introspection took longer
        ),
        id="fingerprints-timeout",
    ),
    pytest.param(
        Case(
            "fields",
            lambda ids: {f"counts[{label}]" for label in BAD_FIELDS} | {"content[Loan@1]"},
            (
                ("counts[NftTransfer@1]", ": not a number: green *: count '12abc' is not a row count"),
                ("counts[NftTransfer@10]", ": not a number: green *: sum.tokenId 'NaN' is not finite"),
                ("counts[Erc1155Transfer@1]", ": not a number: green *: count '1e5' is not a row count"),
                ("counts[Erc1155Transfer@10]", ": not a number: green *: count 12.0 is not a row count"),
                ("counts[Action@1]", ": not a number: green *: count None is not a row count"),
                ("counts[Action@10]", ": not a number: green *: sum.timestamp '0x1f' is not a number"),
                ("counts[Loan@1]", "green unreadable: *: no answer for Loan@1"),
                ("content[Loan@1]", "no sample (seed 0): *: no answer for Loan@1"),
            ),
        ),
        id="fingerprint-fields",
    ),
    pytest.param(
        Case(
            "rows500",
            lambda ids: CONTENT,
            (
                (
                    "content[NftTransfer@10]",
                    "green sample unreadable (seed 0): green *: HTTP 500 (asking sample rows by id)",
                ),
            ),
        ),
        id="green-sample-http500",
    ),
    pytest.param(
        Case(
            "rows-short",
            lambda ids: {"content[NftTransfer@1]"},
            (
                (
                    "content[NftTransfer@1]",
                    "row 1_9_0 is in blue but not in green (seed 0); green * answered 11 of 12 rows "
                    "asked by id (rows missing, or a partial page)",
                ),
            ),
        ),
        id="green-sample-partial-page",
    ),
    pytest.param(
        Case(
            "rows-short",
            lambda ids: {"content[NftTransfer@1]"},
            (("content[NftTransfer@1]", "blue * answered 11 of 12 sampled rows (partial page, seed 0)"),),
            belt="blue",
        ),
        id="blue-sample-partial-page",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_endpoint_error_fails_exactly_the_tests_that_need_the_answer(
    pytester: pytest.Pytester, belts: dict[str, Served], proxy: Proxy, case: Case
) -> None:
    urls = {name: served.url for name, served in belts.items()}
    urls[case.belt] = proxy.url(case.belt, case.mode)
    result = run(
        pytester,
        f"--belt-blue={urls['blue']}",
        f"--belt-green={urls['green']}",
        *SCHEMAS,
        "--belt-sample=50",
        "--belt-report=cert.json",
        "--junitxml=junit.xml",
        *case.args,
    )
    out = result.stdout.str()
    cert = json.loads((pytester.path / "cert.json").read_text())
    verdicts = {v["id"]: v for v in cert["verdicts"]}
    got = outcomes(result)
    assert set(got) == set(verdicts) and {"chain_set", "enums", "progress[1]"} | COUNTS | CONTENT <= set(got), out
    want = case.failing(set(got))
    assert failed(result) == want, (sorted(failed(result) - want), sorted(want - failed(result)), out[-6000:])
    assert {k for k, v in got.items() if v == "PASSED"} == set(got) - want  # the rest passes: nothing else broke
    assert result.ret == 1 and cert["passed"] is False

    # every failure names the redacted endpoint, and on one line: test id, endpoint, what went wrong
    shown = proxy.shown(case.belt, case.mode)
    unnamed = {k: verdicts[k]["verdict"] for k in want if shown not in verdicts[k]["verdict"]}
    assert not unnamed, unnamed
    for test_id, fragment in case.lines:
        head, _, rest = fragment.partition("*")
        result.stdout.fnmatch_lines(
            line_with(f"{test_id}: *{head}{shown}{rest}" if rest else f"{test_id}: *{fragment}")
        )

    written = out + result.stderr.str() + json.dumps(cert) + (pytester.path / "junit.xml").read_text()
    assert SECRET not in written
    assert "Traceback" not in written
