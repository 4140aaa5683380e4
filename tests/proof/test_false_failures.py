"""False failures: healthy greens pass in every one of N repeated runs (PROOF.md: false failures 0/N).

- a private world whose chains keep growing (empty blocks mined all the time, so every belt that
  follows is always indexing): blue stopped at the block the traffic ended at, green following the head,
  so the two stand at different heights in every run, with exactly the same rows. Half the runs give the
  chains' RPCs, half do not (mode B then compares the current state, like mode C). N in-process runs
  (tests/proof/inprocess.py) and one full pytest run of the plugin;
- the shared sandbox world's demo run (expansion 4 -> 6 chains, golden events): N_DEMO in-process runs.

The repeated runs are in-process on purpose: one snapshot + rules costs about a second, a pytest
subprocess several."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from belt_gate.cli import demo_command
from belt_gate.rules.verdict import Outcome
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox.world import World, WorldOptions, WorldState, committed_golden
from tests.proof.inprocess import Run, gate_many
from tests.sandbox.conftest import world  # noqa: F401  (the shared sandbox world)
from tests.support.runs import run as run_pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.sandbox

N = 20  # runs of the indexing world, where heights differ: the case that cried wolf
N_DEMO = 20  # runs of the static demo world (87 cases with golden events), four snapshots at a time
CHAINS = (1, 10)


def _no_false_failure(runs: list[Run]) -> None:
    bad = {i: {c: r.message(c) for c in sorted(r.not_passed)} for i, r in enumerate(runs) if r.not_passed}
    assert not bad, f"false failures in {len(bad)} of {len(runs)} runs: {json.dumps(bad, indent=1)[:6000]}"


class Growing:
    """Mines an empty block on every chain of the world every `every` seconds, until stopped."""

    def __init__(self, state: WorldState, every: float = 0.15) -> None:
        self.state, self.every = state, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            for chain in self.state.chains.values():
                try:
                    chainlib.mine(chain, 1)
                except Exception as exc:  # seen by the test below, never silent
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> Growing:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def indexing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorldState, str, str]]:
    """(world, blue URL, green URL): blue stopped where the traffic ended, green following the head."""
    w = World(tmp_path_factory.mktemp("indexing") / "world")
    state = w.up(WorldOptions(chains=CHAINS, events=6, alias=False, follow_interval=0.2))
    try:
        stopped = [f"lag:{c}={chainlib.head(state.rpc_direct[c])}" for c in CHAINS]
        blue = w.start_belt("blue-stopped", CHAINS, stopped)
        yield state, blue.url, state.belts["green"].url
    finally:
        w.down()


def _options(state: WorldState, blue: str, green: str, *, rpc: bool) -> dict[str, Any]:
    schema = str(state.belts["green"].schema)
    cli: dict[str, Any] = {
        "blue": blue,
        "green": green,
        "schema": schema,
        "blue_schema": schema,
        "green_schema": schema,
        "settle_timeout": "0.1",  # compare about where the belts stand now: they never stand still together
    }
    if rpc:
        cli["rpc"] = [f"{c}={u}" for c, u in state.rpc_direct.items()]
    return cli


def test_green_ahead_while_indexing_passes_every_run(
    indexing: tuple[WorldState, str, str], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    state, blue, green = indexing
    runs: list[Run] = []  # the first half with the chains' RPCs, the second half without
    with Growing(state) as growing:
        for rpc in (True, False):
            runs += gate_many(_options(state, blue, green, rpc=rpc), tmp_path, N // 2)
        cli = _options(state, blue, green, rpc=True)
        args = [f"--belt-{k.replace('_', '-')}={v}" for k, v in cli.items() if k != "rpc"]
        result = run_pytest(pytester, *args, *[f"--belt-rpc={r}" for r in cli["rpc"]], "--belt-report=cert.json")
    assert not growing.errors, growing.errors
    _no_false_failure(runs)
    # the heights differed in every run, and the verdicts said so where they compared the current state
    for r in runs:
        cuts = {c: r.snap["cutoffs"][str(c)] for c in CHAINS}
        assert all(int(cut["green"]) > int(cut["blue"]) for cut in cuts.values()), cuts
        loan = r.verdicts["counts[Loan@1]"]
        assert loan.outcome is Outcome.PASSED and "equal at different heights, consistent" in loan.message
    with_rpc, without = runs[0], runs[-1]
    assert "Action@1 at timestamp <=" in with_rpc.message("counts[Action@1]")
    assert "equal at different heights" in without.message("counts[Action@1]")
    assert result.ret == 0, result.stdout.str()[-3000:]
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert cert["certified"] is True and cert["totals"]["passed"] == len(runs[0].verdicts)


def test_the_demo_green_passes_every_run(world: WorldState, tmp_path: Path) -> None:  # noqa: F811
    argv = [a for a in demo_command(world) if a.startswith("--belt-")]
    golden = committed_golden(world)
    assert golden is not None
    cli: dict[str, Any] = {"rpc": [], "golden": str(golden)}
    for a in argv:
        key, _, value = a[len("--belt-") :].partition("=")
        if key == "rpc":
            cli["rpc"].append(value)
        else:
            cli[key.replace("-", "_")] = value
    runs = gate_many(cli, tmp_path, N_DEMO, parallel=4)  # a snapshot mostly waits: 4 at once, ~1.8 s a run
    _no_false_failure(runs)
    assert len(runs[0].verdicts) == 87 and all(len(r.verdicts) == 87 for r in runs)
