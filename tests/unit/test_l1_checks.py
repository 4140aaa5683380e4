"""l1_checks glue: the parsed-event cache follows the snapshot it was read from; the golden folder counts as
named against the directory the settings were built in; a run without golden fixtures or audits does not
import eth_abi."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from belt_gate import l1_checks
from belt_gate.settings import Settings

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
        "source": f"golden/{token}.yaml",
    }
    return {"golden": {"events": {"8453:e": event}}}


def token_of(token: int) -> Any:
    """A snapshot made, read and dropped: the next one may be given the same id()."""
    return l1_checks._event(snapshot(token), "8453:e").fields["tokenId"]


def test_parsed_events_are_never_those_of_an_earlier_snapshot() -> None:
    assert [token_of(n) for n in range(50)] == [str(n) for n in range(50)]


def test_parsed_events_are_cached_per_snapshot() -> None:
    snap = snapshot(1)
    first = l1_checks._event(snap, "8453:e")
    assert l1_checks._event(snap, "8453:e") is first
    other = snapshot(2)
    assert l1_checks._event(other, "8453:e").fields["tokenId"] == "2"
    assert l1_checks._event(snap, "8453:e").fields["tokenId"] == "1"
    assert first.source == "golden/1.yaml" and first.id == "8453:e"


def settings(golden: Path) -> Settings:
    return Settings(blue="blue.json", green="green.json", golden=golden)


def test_the_default_golden_folder_is_judged_against_the_settings_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoked, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    invoked.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # e.g. a conftest or rootdir change: not the directory pytest was run in
    snap: dict[str, Any] = {}
    l1_checks.extend_snapshot(settings(invoked / "golden"), snap, cwd=invoked)
    assert snap["golden"]["error"] is None  # ./golden absent: no golden tests, not an invalid folder
    named: dict[str, Any] = {}
    l1_checks.extend_snapshot(settings(invoked / "fixtures"), named, cwd=invoked)
    assert "golden folder" in named["golden"]["error"] and "does not exist" in named["golden"]["error"]
    elsewhere_default: dict[str, Any] = {}
    l1_checks.extend_snapshot(settings(elsewhere / "golden"), elsewhere_default, cwd=invoked)
    assert "does not exist" in elsewhere_default["golden"]["error"]  # ./golden of another dir was named


def test_without_a_directory_the_current_one_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    snap: dict[str, Any] = {}
    l1_checks.extend_snapshot(settings(tmp_path / "golden"), snap)
    assert snap["golden"]["error"] is None


def test_a_run_without_golden_fixtures_or_audits_does_not_import_eth_abi(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        import belt_gate.plugin, belt_gate.snapshot, belt_gate.report
        from belt_gate import l1_checks
        from belt_gate.plan import Case
        from belt_gate.rules import evaluate
        from belt_gate.settings import Settings

        cwd = Path({str(tmp_path)!r})
        snap = {{"mode": "expansion", "expected": [1, 2], "cutoffs": {{}},
                 "belts": {{"blue": {{"progress": {{"1": {{}}}}}}, "green": {{"progress": {{}}}}}}}}
        l1_checks.extend_snapshot(Settings(blue="b", green="g", golden=cwd / "golden"), snap, cwd=cwd)
        assert snap["golden"]["error"] is None, snap["golden"]
        args = l1_checks.plan_args(snap)
        assert args["coverage_chains"] == [2], args
        verdict = evaluate(Case("golden_coverage", chain=2), snap)
        assert not verdict.passed, verdict
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("eth_abi", "eth_utils", "web3"))
        assert heavy == [], heavy
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
