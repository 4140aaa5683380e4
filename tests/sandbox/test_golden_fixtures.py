"""The committed golden/ fixtures belong to the default sandbox world: `belt-gate golden capture`
against the running world recaptures them byte for byte, and refuses what L1 does not confirm."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from belt_gate.sandbox.world import WorldState

ROOT = Path(__file__).resolve().parents[2]


def capture(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "belt_gate.cli", "golden", "capture", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_capture_reproduces_the_committed_fixtures(world: WorldState, tmp_path: Path) -> None:
    for chain, belt in ((8453, "blue"), (42161, "green")):
        result = capture(
            "--chain",
            str(chain),
            "--count",
            "2",
            "--out",
            str(tmp_path),
            "--state-dir",
            str(world.state_dir),
            "--belt",
            world.belt(belt).url,
        )
        assert result.returncode == 0, result.stderr
        assert "2 JSON-RPC round trips" in result.stdout
        assert (tmp_path / f"{chain}.yaml").read_text() == (ROOT / "golden" / f"{chain}.yaml").read_text()


def test_capture_refuses_rows_l1_does_not_confirm(world: WorldState, tmp_path: Path) -> None:
    # chain 10's rows checked against chain 1's anvil: the chain-id check fails closed, nothing written
    result = capture(
        "--chain", "10", "--out", str(tmp_path), "--state-dir", str(world.state_dir), "--rpc", world.rpc_direct[1]
    )
    assert result.returncode == 1
    assert "refused, nothing written" in result.stderr.splitlines()[0] and "Traceback" not in result.stderr
    assert "L1 has no receipt for the transaction" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_capture_bad_input_is_one_line(tmp_path: Path) -> None:
    result = capture(
        "--chain",
        "8453",
        "--count",
        "0",
        "--out",
        str(tmp_path),
        "--belt",
        "http://127.0.0.1:9/v1/graphql",
        "--rpc",
        "http://127.0.0.1:9",
    )
    assert result.returncode == 1 and "--count must be at least 1" in result.stderr
