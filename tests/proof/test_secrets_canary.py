"""The secrets canary (PROOF.md): distinct canary secrets in every place a user puts one, and runs that pass,
fail, stop early, are interrupted or are refused, with every verbosity and output belt_gate and pytest
offer. Every byte printed and every file the run wrote is searched: zero occurrences of any canary.

Where the canaries are: green's URL userinfo (name and password) and query, blue's query, a provider key
in the path of `--belt-rpc 1=`, a short path key inside `BELT_RPC_10` (secret as a whole: it is no key by
its looks), and both admin-secret variables (sent as the x-hasura-admin-secret header).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.proof.conftest import SCHEMAS, ProofWorld
from tests.support.runs import LEAN, run

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.proof

CANARIES = {
    "green userinfo name": "canaryname7787",
    "green userinfo password": "canary-userinfo-pw-7781",
    "green query": "canary-query-apikey-7782",
    "blue query": "canary-query-token-7788",
    "RPC path key (--belt-rpc)": "CanaryPathKey7783abcdefXYZ",
    "RPC path key (BELT_RPC_10)": "ck7784",
    "BELT_GREEN_ADMIN_SECRET": "canary-admin-green-7785",
    "BELT_BLUE_ADMIN_SECRET": "canary-admin-blue-7786",
}
C = CANARIES
FULL = (
    "-vv",
    "--tb=long",
    "--showlocals",
    "-rA",
    "--log-cli-level=DEBUG",
    "--junitxml=junit.xml",
    "--belt-report=cert.json",
    "--belt-record=recorded",
)
INTERRUPT_CONFTEST = """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.name == "counts[NftTransfer@1]":
        raise KeyboardInterrupt
"""


@dataclass(frozen=True)
class CanaryRun:
    name: str
    green_mode: str = "ok"
    extra: tuple[str, ...] = ()
    exit: int = 0
    conftest: str = ""
    sigint_on: str = ""  # send SIGINT once the proxy holds a request of this mode


RUNS = [
    CanaryRun("passing", exit=0),
    CanaryRun("failing", green_mode="fp-types", exit=1),
    CanaryRun("stopped by -x", green_mode="fp-types", extra=("-x",), exit=1),
    CanaryRun("KeyboardInterrupt from a conftest hook", conftest=INTERRUPT_CONFTEST, extra=("--fulltrace",), exit=2),
    CanaryRun("SIGINT mid-request", green_mode="hang", extra=("--fulltrace",), exit=2, sigint_on="hang"),
    CanaryRun("refused up front (bad --belt-timeout)", extra=("--belt-timeout=nan",), exit=4),
    CanaryRun("failing under xdist -n 2", green_mode="fp-types", extra=("-n", "2"), exit=1),
]


def _args(world: ProofWorld, mode: str) -> list[str]:
    p = world.proxy
    green = p.url("green", mode, query=f"apikey={C['green query']}").replace(
        "http://", f"http://{C['green userinfo name']}:{C['green userinfo password']}@"
    )
    blue = p.url("blue", "ok", query=f"token={C['blue query']}")
    rpc1 = p.url("rpc1", "ok", path=f"v2/{C['RPC path key (--belt-rpc)']}")
    return [
        f"--belt-blue={blue}",
        f"--belt-green={green}",
        *SCHEMAS,
        f"--belt-rpc=1={rpc1}",
        "--belt-timeout=8",
        "--belt-settle-timeout=2",
    ]


def _env(world: ProofWorld) -> dict[str, str]:
    return {
        "BELT_RPC_10": world.proxy.url("rpc10", "ok", path=f"v2/{C['RPC path key (BELT_RPC_10)']}"),
        "BELT_GREEN_ADMIN_SECRET": C["BELT_GREEN_ADMIN_SECRET"],
        "BELT_BLUE_ADMIN_SECRET": C["BELT_BLUE_ADMIN_SECRET"],
    }


def _sigint_run(pytester: pytest.Pytester, world: ProofWorld, args: list[str], mode: str) -> tuple[int, str]:
    """A real `pytest` process interrupted (SIGINT) while the proxy holds its request of `mode`."""
    before = world.proxy.hits.get(mode, 0)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *LEAN, *args]
    proc = subprocess.Popen(argv, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while world.proxy.hits.get(mode, 0) == before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.proxy.hits.get(mode, 0) > before, "the run never reached the held request"
    time.sleep(0.3)  # well inside the request, far from its 8 s deadline
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out.decode(errors="replace")


def _written(root: Path) -> dict[str, str]:
    """Every file under `root` (the run's directory: reports, recordings, JUnit, pytest's basetemp)."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file():
            out[str(path.relative_to(root))] = path.read_bytes().decode(errors="replace")
    return out


@pytest.mark.parametrize("case", RUNS, ids=lambda r: r.name)
def test_no_canary_anywhere(
    pytester: pytest.Pytester, proof_world: ProofWorld, monkeypatch: pytest.MonkeyPatch, case: CanaryRun
) -> None:
    for name, value in _env(proof_world).items():
        monkeypatch.setenv(name, value)
    if case.conftest:
        pytester.makeconftest(case.conftest)
    args = [*_args(proof_world, case.green_mode), *FULL, *case.extra]
    if case.sigint_on:
        ret, printed = _sigint_run(pytester, proof_world, args, case.sigint_on)
    else:
        result = run(pytester, *args)
        ret, printed = result.ret, result.stdout.str() + "\n" + result.stderr.str()
    assert ret == case.exit, printed[-3000:]

    files = _written(pytester.path)
    if case.exit in (0, 1):  # a run that got going wrote its report, JUnit and recordings
        assert {"cert.json", "junit.xml"} <= set(files), sorted(files)
        assert any(name.startswith("recorded/") for name in files), sorted(files)
    leaks = {
        (where, label)
        for label, canary in CANARIES.items()
        for where, text in [("output", printed), *files.items()]
        if canary in text
    }
    assert not leaks, sorted(leaks)
    # the endpoints are still named, redacted (a run that fetched says where it read from)
    if case.exit in (0, 1):
        assert f"127.0.0.1:{proof_world.proxy.port}/green/{case.green_mode}/v1/graphql?apikey=***" in printed
    assert "INTERNALERROR" not in printed, printed[-3000:]
    if case.exit in (0, 1):  # httpx's own DEBUG/INFO log lines were shown (and redacted)
        assert "HTTP Request: POST http://***@127.0.0.1:" in printed, printed[-3000:]
