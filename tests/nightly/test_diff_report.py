"""`belt-gate diff-report` and `belt-gate summary` on certificate documents (both formats), through the CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from belt_gate import diff_report as dr
from belt_gate.cli import main


def cert_v2(**changes: Any) -> dict[str, Any]:
    """A format-2 certificate of a healthy parity run on two chains."""
    rows = [
        {"id": "chain_set", "outcome": "passed", "verdict": "chain set (parity): 1, 10 on both"},
        {"id": "progress[1]", "outcome": "passed", "verdict": "chain 1: green 120 >= blue 120"},
        {"id": "progress[10]", "outcome": "passed", "verdict": "chain 10: green 90 >= blue 90"},
        {
            "id": "counts[NftTransfer@1]",
            "outcome": "passed",
            "verdict": "NftTransfer@1 at block <= 120: 40 rows, fingerprints equal",
            "chain": "1",
            "entity": "NftTransfer",
            "blue": "40",
            "green": "40",
        },
        {
            "id": "counts[NftTransfer@10]",
            "outcome": "passed",
            "verdict": "NftTransfer@10 at block <= 90: 30 rows, fingerprints equal",
            "chain": "10",
            "entity": "NftTransfer",
            "blue": "30",
            "green": "30",
        },
        {"id": "golden[1:0xabc:0]", "outcome": "passed", "verdict": "golden ok"},
    ]
    doc: dict[str, Any] = {
        "format": "belt-gate-certificate/2",
        "certified": True,
        "complete": True,
        "reasons": [],
        "planned": len(rows),
        "ran": len(rows),
        "totals": {"passed": len(rows), "failed": 0, "could-not-check": 0, "not-run": 0},
        "verdicts": rows,
        "settings": {"mode": "parity", "blue": "https://standby.example/v1/graphql", "green": "https://alias.example"},
        "cutoffs": {"1": {"block": 120}, "10": {"block": 90}},
        "chains": [1, 10],
        "created": "2026-11-30T03:17:00Z",
    }
    doc.update(changes)
    return doc


def with_case(doc: dict[str, Any], case_id: str, **fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for row in out["verdicts"]:
        if row["id"] == case_id:
            row.update(fields)
    return out


def write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_identical_certificates_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = write(tmp_path, "old.json", cert_v2()), write(tmp_path, "new.json", cert_v2())
    rc, out, err = cli(capsys, "diff-report", str(old), str(new))
    assert (rc, err) == (0, "")
    assert "no change: same chains, cutoffs, counts and verdicts" in out
    assert out.count("CERTIFIED (passed 6)") == 2


def test_a_certificate_whose_entities_say_mode_still_compares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Certificates written before the A/B/C rename carry `entities[].mode`; newer ones `reconciliation`."""
    entity = {"name": "NftTransfer", "chain_column": "chainId", "block_column": "blockNumber", "timestamp_column": None}
    old = write(tmp_path, "old.json", cert_v2(entities=[{**entity, "mode": "A"}]))
    new = write(tmp_path, "new.json", cert_v2(entities=[{**entity, "reconciliation": "A"}]))
    rc, out, err = cli(capsys, "diff-report", str(old), str(new))
    assert (rc, err) == (0, "")
    assert "no change: same chains, cutoffs, counts and verdicts" in out


def test_an_injected_regression_is_shown_first_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = cert_v2()
    text = "NftTransfer@10 at block <= 95: count blue 33 != green 32 (delta -1, allowed 0)"
    new = with_case(old, "counts[NftTransfer@10]", outcome="failed", verdict=text, blue="33", green="32")
    new.update(
        certified=False,
        reasons=["1 planned case failed"],
        cutoffs={"1": {"block": 130}, "10": {"block": 95}},
        chains=[1, 10, 8453],
        created="2026-12-01T03:17:00Z",
    )
    rc, out, _ = cli(capsys, "diff-report", str(write(tmp_path, "o.json", old)), str(write(tmp_path, "n.json", new)))
    assert rc == 1
    lines = out.splitlines()
    assert lines[1].startswith("new: NOT CERTIFIED (passed 5, failed 1)")
    assert "why new is not certified: 1 planned case failed" in out
    reg = lines.index("REGRESSIONS: passed before, not now (1):")
    assert reg < min(i for i, line in enumerate(lines) if line.startswith(("chains:", "cutoffs", "counts")))
    assert lines[reg + 1] == "  counts[NftTransfer@10]: passed -> failed"
    assert lines[reg + 2] == f"      now:    {text}"
    assert "NftTransfer@10 at block <= 90: 30 rows, fingerprints equal" in lines[reg + 3]
    assert "chains: added 8453" in out
    assert "cutoffs (block per chain): 1: 120 -> 130 (+10), 10: 90 -> 95 (+5)" in out
    counts = [line for line in lines if line.strip().startswith("counts[NftTransfer@10]") and "blue" in line]
    assert counts and "blue 30 -> 33 (+3)" in counts[0] and "green 30 -> 32 (+2)" in counts[0]
    assert lines[-1] == "1 regression(s): exit 1"

    rc, out, _ = cli(capsys, "diff-report", str(tmp_path / "o.json"), str(tmp_path / "n.json"), "--json")
    doc = json.loads(out)
    assert rc == 1 and doc["regression"] is True and doc["identical"] is False
    assert [r["id"] for r in doc["regressions"]] == ["counts[NftTransfer@10]"]
    assert doc["counts"] == [
        {
            "id": "counts[NftTransfer@10]",
            "entity": "NftTransfer",
            "chain": "10",
            "old_blue": "30",
            "new_blue": "33",
            "old_green": "30",
            "new_green": "32",
        }
    ]
    assert doc["chains"] == {"added": ["8453"], "removed": []}


@pytest.mark.parametrize("outcome", ["could-not-check", "not-run", "gone"])
def test_passed_to_not_checked_not_run_or_gone_is_a_regression(tmp_path: Path, outcome: str) -> None:
    old = cert_v2()
    if outcome == "gone":
        new = copy.deepcopy(old)
        new["verdicts"] = [r for r in new["verdicts"] if r["id"] != "golden[1:0xabc:0]"]
    else:
        new = with_case(old, "golden[1:0xabc:0]", outcome=outcome, verdict="chain 1 RPC: timeout")
    d = dr.diff(dr.read_certificate(old, "old"), dr.read_certificate(new, "new"))
    assert d.exit_code == 1
    (reg,) = d.regressions
    assert (reg.id, reg.old, reg.new) == ("golden[1:0xabc:0]", "passed", dr.GONE if outcome == "gone" else outcome)


def test_fixed_and_other_changes_are_not_regressions(tmp_path: Path) -> None:
    broken = with_case(cert_v2(), "progress[1]", outcome="failed", verdict="green behind")
    broken = with_case(broken, "progress[10]", outcome="failed", verdict="green behind")
    broken["certified"] = False
    later = with_case(cert_v2(), "progress[10]", outcome="could-not-check", verdict="RPC timeout")
    d = dr.diff(dr.read_certificate(broken, "a"), dr.read_certificate(later, "b"))
    assert d.exit_code == 0 and not d.identical
    assert [c.id for c in d.fixed] == ["progress[1]"]
    assert [(c.id, c.old, c.new) for c in d.other_changes] == [("progress[10]", "failed", "could-not-check")]
    text = dr.render_diff(d)
    assert "fixed: passes now (1):" in text and text.rstrip().endswith("no regression")


def test_format_1_is_read_by_its_passed_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v1 = {
        "format": "belt-gate-certificate/1",
        "passed": True,
        "totals": {"passed": 2},
        "verdicts": [
            {"id": "chain_set", "outcome": "passed", "verdict": "ok"},
            {"id": "counts[NftTransfer@1]", "outcome": "passed", "verdict": "ok", "blue": "40", "green": "40"},
        ],
        "cutoffs": {"1": {"block": 120}},
        "chains": [1],
        "settings": {"mode": "parity"},
    }
    skipped = with_case(v1, "chain_set", outcome="skipped")
    skipped["passed"] = False
    old, new = write(tmp_path, "v1.json", v1), write(tmp_path, "v1b.json", skipped)
    rc, out, _ = cli(capsys, "diff-report", str(old), str(new))
    assert rc == 1 and "  chain_set: passed -> not-run" in out
    rc, out, _ = cli(capsys, "summary", str(old))
    assert rc == 0 and out.startswith("belt_gate: CERTIFIED (passed 2)")
    rc, out, _ = cli(capsys, "summary", str(new))
    assert rc == 1 and "NOT CERTIFIED" in out
    # a v1 certificate against a v2 one: compared by outcome, and the reader is told the formats differ
    rc, out, _ = cli(capsys, "diff-report", str(old), str(write(tmp_path, "v2.json", cert_v2())))
    assert rc == 0 and "formats differ: belt-gate-certificate/1 -> belt-gate-certificate/2" in out


def test_summary_reads_certified_not_the_totals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(capsys, "summary", str(write(tmp_path, "ok.json", cert_v2())))
    assert rc == 0 and out.startswith("belt_gate: CERTIFIED (passed 6)")
    assert "cutoffs (block per chain): 1: 120, 10: 90" in out
    # every case passed, but the run was partial: certified is false, and that is the word
    partial = cert_v2(certified=False, complete=False, reasons=["selection filter: -k 10"])
    rc, out, _ = cli(capsys, "summary", str(write(tmp_path, "partial.json", partial)), "--markdown")
    assert rc == 1
    assert out.startswith("### ❌ belt_gate: NOT CERTIFIED (passed 6)")
    assert "**Why:** selection filter: -k 10" in out
    failing = with_case(cert_v2(certified=False), "progress[1]", outcome="failed", verdict="a | b")
    rc, out, _ = cli(capsys, "summary", str(write(tmp_path, "f.json", failing)), "--markdown")
    assert rc == 1 and "| failed | `progress[1]` | a \\| b |" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON (Expecting property name enclosed in double quotes at line 1)"),
        ("[1, 2]", "not a belt_gate certificate (a JSON object was expected)"),
        ('{"verdicts": []}', "not a belt_gate certificate (no format field;"),
        ('{"format": "belt-gate-recording/1"}', "format 'belt-gate-recording/1'"),
        ('{"format": "belt-gate-certificate/2", "verdicts": {}}', "verdicts must be a list"),
        ('{"format": "belt-gate-certificate/2", "verdicts": []}', "without a boolean certified"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    good = write(tmp_path, "good.json", cert_v2())
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    for argv in (["diff-report", str(good), str(bad)], ["diff-report", str(bad), str(good)], ["summary", str(bad)]):
        rc, out, err = cli(capsys, *argv)
        assert rc == 2 and out == ""
        assert err.count("\n") == 1 and message in err and str(bad) in err, err


def test_the_installed_command_gives_one_line_and_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "belt_gate.cli", "diff-report", str(tmp_path / "a.json"), str(tmp_path / "b.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"belt-gate diff-report: {tmp_path / 'a.json'}: no such file\n"
