"""Record a certification of the real sandbox world (belts, golden events on L1, window audits), stop what
was recorded, and replay the recording with the network blocked: the same test ids, the same verdicts.

A faulty world: a green with data and schema faults (a dropped row, a corrupted value, a skipped chain, a
lagging chain, a removed field) read through an RPC that answers `[]` to every eth_getLogs on one chain
(its golden events are gaps on L1, its audit windows count nothing). The healthy world's record and
replay is `nox -s parity`'s test (test_parity_session.py), which replays its REPLAY.txt the same way.
The replay runs in a fresh pytest process whose conftest makes every socket connect fail (and logs the
attempt); the belt and the fault proxy it would need are stopped first. Then diff-report
reads the real certificates: live -> replay is no change (exit 0); the faulty run against the same run with
every case passed (last night, injected) lists exactly tonight's failures as regressions (exit 1).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox import procs
from belt_gate.sandbox.rpc_proxy import start_rpc_proxy
from belt_gate.sandbox.world import BeltInfo, World, WorldState
from tests.nightly.support import GUARD, audit_toml, golden_for, rows
from tests.support.runs import outcomes, run

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.sandbox

EMPTY_RPC_CHAIN = 8453


def _setup(pytester: pytest.Pytester, world: WorldState, green: BeltInfo, chains: Sequence[int]) -> list[str]:
    """Golden fixtures, belt.toml with audits and both Envio schemas in the pytester dir; the options
    that are not endpoints (the same for the recording and the replay)."""
    golden_for(world, chains, pytester.path / "golden")
    s = world.summary()
    shutil.copy(s["blue_schema"], pytester.path / "blue.schema.graphql")
    shutil.copy(green.schema, pytester.path / "green.schema.graphql")
    (pytester.path / "belt.toml").write_text(audit_toml(EMPTY_RPC_CHAIN))
    return [
        "--belt-config=belt.toml",
        "--belt-golden=golden",
        "--belt-blue-schema=blue.schema.graphql",
        "--belt-green-schema=green.schema.graphql",
        "--belt-schema=blue.schema.graphql",
        "--belt-settle-timeout=0.5",
    ]


def record_then_replay(
    pytester: pytest.Pytester, live: Sequence[str], common: Sequence[str], stop: Callable[[], None]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    recorded = run(pytester, *live, *common, "--belt-record=rec", "--belt-report=live.json")
    assert "Traceback" not in recorded.stdout.str()
    assert (pytester.path / "rec" / "blue.json").is_file() and (pytester.path / "rec" / "green.json").is_file()
    stop()
    pytester.makeconftest(GUARD)
    replayed = run(
        pytester, "--belt-blue=rec/blue.json", "--belt-green=rec/green.json", *common, "--belt-report=replay.json"
    )
    assert (pytester.path / "guard-loaded").is_file(), "the socket guard did not load in the replay"
    attempts = pytester.path / "connect-attempts.log"
    assert not attempts.exists(), f"the replay tried the network: {attempts.read_text()}"
    got_live, got_replay = outcomes(recorded), outcomes(replayed)
    assert got_live == got_replay and len(got_live) > 40
    assert recorded.ret == replayed.ret
    live_cert = json.loads((pytester.path / "live.json").read_text())
    replay_cert = json.loads((pytester.path / "replay.json").read_text())
    assert rows(live_cert) == rows(replay_cert)
    assert live_cert["cutoffs"] == replay_cert["cutoffs"]
    return live_cert, replay_cert, got_live


def _diff(tmp: Path, old: dict[str, Any], new: dict[str, Any]) -> tuple[int, str]:
    from belt_gate import diff_report as dr

    d = dr.diff(dr.read_certificate(old, "old"), dr.read_certificate(new, "new"))
    return d.exit_code, dr.render_diff(d)


@pytest.fixture(scope="module")
def blue_chains(world: WorldState) -> list[int]:
    return sorted(world.belts["blue"].chains)


def test_a_faulty_world_replays_offline_to_the_same_failures(
    pytester: pytest.Pytester,
    world: WorldState,
    belt_factory: Callable[..., BeltInfo],
    blue_chains: list[int],
) -> None:
    lag_chain = 10
    lag = chainlib.head(world.rpc_direct[lag_chain]) - 2
    faults = (
        "drop:NftTransfer@1",
        "corrupt:Erc1155Transfer@8453:value",
        f"lag:{lag_chain}={lag}",
        "skip:80094",
        "schema-remove:Action.context",
    )
    green = belt_factory(faults=faults, chains=blue_chains)
    common = _setup(pytester, world, green, blue_chains)
    empty_url, proxy = start_rpc_proxy(world.rpc_direct[EMPTY_RPC_CHAIN], "empty", pytester.path)
    s = world.summary()
    rpc = {int(c): u for c, u in s["rpc_direct"].items()} | {EMPTY_RPC_CHAIN: empty_url}
    live = [f"--belt-blue={s['blue']}", f"--belt-green={green.url}", *[f"--belt-rpc={c}={u}" for c, u in rpc.items()]]

    def stop() -> None:
        World(world.state_dir).stop_belt(green.name)
        procs.stop(proxy)

    try:
        cert, replay, got = record_then_replay(pytester, live, common, stop)
    finally:
        procs.stop(proxy)
    failed = {k for k, v in got.items() if v == "FAILED"}
    assert {
        "chain_set",
        "counts[NftTransfer@1]",
        "counts[Erc1155Transfer@8453]",
        f"progress[{lag_chain}]",
        "schema[Action]",
    } <= failed
    by_id = {v["id"]: v for v in cert["verdicts"]}
    gaps = [k for k in failed if k.startswith(f"golden[{EMPTY_RPC_CHAIN}:")]
    assert gaps and all("GAP" in by_id[k]["verdict"] for k in gaps)  # L1 answered [] there: recorded, replayed
    assert {"audit[NftTransfer@8453#w0]", "audit[NftTransfer@8453#w1]"} <= failed  # L1 counted nothing
    assert got["audit[Erc1155Transfer@1#w0]"] == got["audit[Erc1155Transfer@1#w1]"] == "PASSED"
    code, text = _diff(pytester.path, cert, replay)
    assert code == 0 and "no change" in text
    # last night the same cases passed (injected): every failure tonight is a regression, and only those
    yesterday = json.loads(json.dumps(cert))
    for row in yesterday["verdicts"]:
        row["outcome"] = "passed"
    yesterday["certified"] = True
    code, text = _diff(pytester.path, yesterday, cert)
    assert code == 1 and f"REGRESSIONS: passed before, not now ({len(failed)}):" in text
    assert "  counts[NftTransfer@1]: passed -> failed" in text
