"""The L1 checks' glue (sources/l1.py, snapshot_model.py): golden events are read once per snapshot and are
never those of an earlier one; the golden folder counts as named against the directory the settings were
built in; a run without golden fixtures or audits does not import eth_abi."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from belt_gate.golden import event_to_json, parse_event_entry
from belt_gate.settings import Settings
from belt_gate.snapshot_model import GoldenFacts
from belt_gate.sources import l1
from belt_gate.sources.recorded import Tape

TRANSFER = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"


def snapshot(token: int) -> dict[str, Any]:
    event = {
        "chain": 8453,
        "tx_hash": "0x" + "ab" * 32,
        "log_index": 7,
        "block_number": 12,
        "block_hash": "0x" + "cd" * 32,
        "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
        "event": TRANSFER,
        "entity": "NftTransfer",
        "entity_id": "8453_12_7",
        "fields": {"tokenId": str(token)},
    }
    parsed = parse_event_entry(event, f"golden/{token}.yaml")
    return {
        "golden": {
            "dir": "golden",
            "ids": [[8453, "8453:e"]],
            "events": {"8453:e": {**event_to_json(parsed), "id": "8453:e"}},
        }
    }


def snapshot_event(snap: dict[str, Any], event_id: str) -> Any:
    """The event as a worker reads it: the snapshot's golden part, typed once (held per snapshot)."""
    if "_typed" not in snap:
        snap["_typed"] = GoldenFacts.from_json(snap["golden"])
    return snap["_typed"].events[event_id]


def token_of(token: int) -> Any:
    """A snapshot made, read and dropped: the next one may be given the same id()."""
    return snapshot_event(snapshot(token), "8453:e").fields["tokenId"]


def test_parsed_events_are_never_those_of_an_earlier_snapshot() -> None:
    assert [token_of(n) for n in range(50)] == [str(n) for n in range(50)]


def test_parsed_events_are_cached_per_snapshot() -> None:
    snap = snapshot(1)
    first = snapshot_event(snap, "8453:e")
    assert snapshot_event(snap, "8453:e") is first
    other = snapshot(2)
    assert snapshot_event(other, "8453:e").fields["tokenId"] == "2"
    assert snapshot_event(snap, "8453:e").fields["tokenId"] == "1"
    assert first.source == "golden/1.yaml" and first.id == "8453:e"


def settings(golden: Path) -> Settings:
    return Settings(blue="blue.json", green="green.json", golden=golden)


def golden_part(settings: Settings, cwd: Path | None = None) -> dict[str, Any]:
    """The snapshot's golden part as `snapshot.take` reads it (cwd: by default the current directory)."""
    cwd = Path.cwd() if cwd is None else cwd
    return asyncio.run(l1.read(settings, Tape(), cwd=cwd, cutoffs={}, chain_columns={}))[0]


def test_the_default_golden_folder_is_judged_against_the_settings_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoked, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    invoked.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # e.g. a conftest or rootdir change: not the directory pytest was run in
    assert golden_part(settings(invoked / "golden"), invoked)["error"] is None  # ./golden absent: no golden tests
    named = golden_part(settings(invoked / "fixtures"), invoked)
    assert "golden folder" in named["error"] and "does not exist" in named["error"]
    elsewhere_default = golden_part(settings(elsewhere / "golden"), invoked)
    assert "does not exist" in elsewhere_default["error"]  # ./golden of another dir was named


def test_without_a_directory_the_current_one_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert golden_part(settings(tmp_path / "golden"))["error"] is None


def test_a_run_without_golden_fixtures_or_audits_does_not_import_eth_abi(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        import asyncio
        import belt_gate.plugin, belt_gate.snapshot, belt_gate.report
        from belt_gate.plan import Case
        from belt_gate.rules import evaluate
        from belt_gate.settings import Settings
        from belt_gate.snapshot_model import Snapshot
        from belt_gate.sources import l1
        from belt_gate.sources.recorded import Tape

        cwd = Path({str(tmp_path)!r})
        snap = {{"version": 1, "mode": "expansion", "seed": 0, "head_tolerance": 10, "expected": [1, 2],
                 "chains": [1, 2], "entities": [], "cutoffs": {{}}, "fingerprints": {{}}, "samples": {{}},
                 "tolerances": {{}}, "schema": {{"changes": []}}, "enums": {{"live": []}},
                 "l1": {{"heads": {{}}, "errors": {{}}, "rpc": []}},
                 "belts": {{"blue": {{"endpoint": "b", "progress": {{"1": {{}}}}}},
                            "green": {{"endpoint": "g", "progress": {{}}}}}}}}
        settings = Settings(blue="b", green="g", golden=cwd / "golden")
        read = l1.read(settings, Tape(), cwd=cwd, cutoffs={{}}, chain_columns={{}})
        snap["golden"], snap["audit"] = asyncio.run(read)
        assert snap["golden"]["error"] is None, snap["golden"]
        snap = Snapshot.from_json(snap)
        args = snap.plan_args()
        assert args["coverage_chains"] == [2], args
        verdict = evaluate(Case("golden_coverage", chain=2), snap)
        assert not verdict.passed, verdict
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("eth_abi", "eth_utils", "web3"))
        assert heavy == [], heavy
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
