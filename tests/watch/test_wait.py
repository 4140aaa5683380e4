"""`belt-gate wait --synced` against sandbox belts: a synced one (exit 0) and one still indexing (timeout)."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from belt_gate.cli import main
from belt_gate.sandbox.chains import Chain
from tests.watch.conftest import LONG, rpc_of


def _wait(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "belt_gate.cli", "wait", *args], capture_output=True, text=True, timeout=timeout
    )


def test_wait_exits_0_on_a_synced_belt_after_two_reads(synced_belt: str, long_chains: dict[int, Chain]) -> None:
    rpc = [f"--rpc={c}={u}" for c, u in rpc_of(long_chains, 1, 10).items()]
    proc = _wait("--synced", f"--belt=green={synced_belt}", *rpc, "--within=0", "--timeout=30", "--interval=0.2")
    assert proc.returncode == 0, proc.stderr
    assert "green: synced: every chain (2) within 0 blocks of its head, two reads in a row" in proc.stdout
    assert proc.stderr == ""


def test_wait_times_out_with_one_line_on_a_belt_still_indexing(
    crawling_belt_url: str, long_chains: dict[int, Chain]
) -> None:
    rpc = [f"--rpc={c}={u}" for c, u in rpc_of(long_chains).items()]
    began = time.monotonic()
    proc = _wait(
        "--synced",
        f"--belt=green={crawling_belt_url}?api_key=wait-canary-5150",
        *rpc,
        "--within=5",
        "--timeout=3",
        "--interval=0.3",
    )
    took = time.monotonic() - began
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert re.match(r"belt-gate wait: green not synced after \d+ s \(\d+ reads\): ", line), line
    for chain in (1, 10, 8453):
        assert f"chain {chain} at " in line and f"of {LONG} (" in line
    assert "wait-canary-5150" not in proc.stdout + proc.stderr
    assert took < 60, "--timeout=3 was not honoured"


def test_wait_on_a_dead_belt_times_out_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    from belt_gate.sandbox import procs

    port = procs.free_port()
    rc = main(
        ["wait", "--synced", f"--belt=green=http://127.0.0.1:{port}/v1/graphql", "--timeout=0.5", "--interval=0.2"]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert len(err.strip().splitlines()) == 1
    assert "not synced" in err and f"127.0.0.1:{port}" in err and "dead" in err


def test_wait_needs_synced_and_one_belt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wait", "--belt=green=http://127.0.0.1:9/v1/graphql"]) == 2
    err = capsys.readouterr().err
    assert "--synced" in err and len(err.strip().splitlines()) == 1
    assert main(["wait", "--synced", "--belt=a=http://127.0.0.1:9/x", "--belt=b=http://127.0.0.1:9/y"]) == 2
    assert "one --belt" in capsys.readouterr().err
