"""`belt-gate golden capture --newer N` against the sandbox's chains: golden/ grows by N confirmed events per
chain, each newer than the newest one the chain's fixture held, confirmed on L1, the old ones kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from belt_gate.cli import main
from belt_gate.golden import load_golden
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox.world import WorldState
from tests.nightly.support import golden_for

pytestmark = pytest.mark.sandbox

CHAINS = (1, 8453)


def by_chain(folder: Path) -> dict[int, list[tuple[str, int, int]]]:
    golden = load_golden(folder, required=True)  # every fixture still parses and validates
    return {c: [(e.tx_hash, e.log_index, e.block_number) for e in golden.by_chain(c)] for c in sorted(golden.chains)}


def test_newer_adds_n_confirmed_events_per_chain_and_keeps_the_old_ones(
    world: WorldState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for c in CHAINS:
        monkeypatch.setenv(f"BELT_RPC_{c}", world.rpc_direct[c])
    out = golden_for(world, CHAINS, tmp_path / "golden")
    before = by_chain(out)
    blue = world.summary()["blue"]
    argv = ["golden", "capture", "--newer", "2", "--out", str(out), "--belt", blue, "--state-dir", str(tmp_path)]
    schema = ["--schema", str(world.belts["blue"].schema)]

    # anvil's finalized block is head - 64, so on these short chains nothing is final yet: said, nothing written
    assert main([*argv, *schema]) == 0
    printed = capsys.readouterr().out
    for c in CHAINS:
        assert f"chain {c}: no confirmed block after block 10 log " in printed
        assert "yet (confirmed up to 0: finalized, head" in printed
    assert by_chain(out) == before

    assert main([*argv, *schema, "--depth", "2"]) == 0  # no --chain: every chain with a fixture in --out
    printed = capsys.readouterr().out
    after = by_chain(out)
    for c in CHAINS:
        old_top = max((b, i) for _, i, b in before[c])
        added = [e for e in after[c] if e not in before[c]]
        assert set(before[c]) <= set(after[c]) and len(added) == 2, (c, added, printed)
        head = chainlib.head(world.rpc_direct[c])
        assert all(old_top < (b, i) and b <= head - 2 for _, i, b in added)
        assert (
            f"chain {c}: added 2 golden events after block {old_top[0]} log {old_top[1]}, confirmed up to block"
            in printed
        )

    # again: the next two, newer still
    assert main([*argv, *schema, "--chain", "8453", "--depth", "2"]) == 0
    again = by_chain(out)
    added = [e for e in again[8453] if e not in after[8453]]
    assert len(added) == 2 and min((b, i) for _, i, b in added) > max((b, i) for _, i, b in after[8453])
    assert again[1] == after[1]

    # nothing confirmed beyond the newest golden event yet: said, nothing written
    capsys.readouterr()
    text = (out / "1.yaml").read_text()
    assert main([*argv, *schema, "--chain", "1", "--depth", "100000"]) == 0
    assert "chain 1: no confirmed block after block" in capsys.readouterr().out  # head - 100000 < 0
    assert (out / "1.yaml").read_text() == text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--newer", "0"], "--newer must be at least 1"),
        (["--newer", "1", "--depth", "-1"], "--depth must not be negative"),
        (["--chain", "1", "--chain", "10"], "give one --chain (several only with --newer)"),
        (["--newer", "1"], "no golden fixtures in"),
        (["--newer", "1", "--chain", "1", "--chain", "10", "--rpc", "http://127.0.0.1:9"], "--rpc names one chain"),
    ],
)
def test_bad_newer_options_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    rc = main(["golden", "capture", "--out", str(tmp_path / "empty"), "--state-dir", str(tmp_path), *extra])
    err = capsys.readouterr().err
    assert rc != 0 and message in err and err.count("\n") == 1 and "Traceback" not in err
