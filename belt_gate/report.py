"""The certificate (JSON record of one run) and the human summary; both always redacted.

The certificate is the plan: every planned case id with its outcome (passed, failed, could-not-check, or
not-run), and two booleans that anything acting on the run reads: `complete` (every planned case and
every other collected test ran in this session, nothing selected away, skipped, xfailed, crashed or
interrupted) and `certified` (complete, and all of it passed). pytest's exit status is kept for people
debugging a run; it is never the word that moves traffic.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from belt_gate import __version__
from belt_gate.redact import redact_json, redact_text
from belt_gate.settings import Settings

if TYPE_CHECKING:
    from belt_gate.snapshot_model import Snapshot

FORMAT = "belt-gate-certificate/2"
OUTCOMES = ("passed", "failed", "could-not-check", "not-run")
PROVISIONAL_REASON = "the run did not finish (killed or crashed before its end): this certificate is provisional"


@dataclass
class CaseResult:
    """What the run learned of one test (a planned belt case or another collected test)."""

    outcome: str = "not-run"  # one of OUTCOMES
    why: str | None = None  # for not-run / failed outside the rule: skipped, xfailed, setup error, crash
    xfail_marked: bool = False
    seconds: float = 0.0
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class RunRecord:
    """Everything the plugin gathered about one session, handed to `certificate` (which knows no pytest)."""

    planned: list[str]
    belt: dict[str, CaseResult]
    other: dict[str, CaseResult]
    selection: list[str] = field(default_factory=list)  # filters that narrowed the run (-k, -m, node ids, ...)
    collect_errors: int = 0
    interrupted: bool = False
    crashed: list[str] = field(default_factory=list)
    exitstatus: int | None = None
    snapshot_error: str | None = None
    snapshot_seconds: float | None = None
    provisional: bool = False


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def judge(run: RunRecord) -> tuple[bool, bool, list[str], dict[str, dict[str, Any]]]:
    """(complete, certified, reasons, verdicts by id). Fail closed: anything not shown passed is a reason."""
    verdicts: dict[str, dict[str, Any]] = {}
    for case_id in run.planned:
        res = run.belt.get(case_id, CaseResult())
        # The rule's own word (a property) never overrides what the run made of it (xfailed, crashed, ...).
        row: dict[str, Any] = {k: v for k, v in res.properties.items() if k != "outcome"}
        row.update(id=case_id, outcome=res.outcome, seconds=round(res.seconds, 4))
        if res.why:
            row["why"] = res.why
        verdicts[case_id] = row
    unplanned = sorted(set(run.belt) - set(run.planned))
    for case_id in unplanned:  # ran but not in the controller's plan: never counts as evidence
        res = run.belt[case_id]
        verdicts[case_id] = {**res.properties, "id": case_id, "outcome": "not-run", "why": "not in the plan"}

    reasons: list[str] = []
    incomplete: list[str] = []
    if run.provisional:
        incomplete.append(PROVISIONAL_REASON)
    if run.snapshot_error is not None:
        reasons.append(f"no snapshot: {run.snapshot_error}")
    ran = [i for i in run.planned if run.belt.get(i, CaseResult()).outcome != "not-run"]
    if len(ran) < len(run.planned) or not run.planned:
        incomplete.append(f"partial run ({len(ran)} of {len(run.planned)} planned cases ran)")
    if run.selection:
        incomplete.append("selection filter: " + ", ".join(run.selection))
    skipped = [i for i in run.planned if (run.belt.get(i) or CaseResult()).why in ("skipped", "xfailed")]
    if skipped:
        incomplete.append(_plural(len(skipped), "planned case") + " skipped or xfailed")
    if unplanned:
        incomplete.append(_plural(len(unplanned), "case") + " ran that the plan does not hold")
    marked = [i for i, r in run.belt.items() if r.xfail_marked]
    if marked:
        reasons.append(_plural(len(marked), "belt case") + " carry an xfail marker")
    if run.interrupted:
        incomplete.append("the run was interrupted")
    if run.crashed:
        incomplete.append("a worker crashed running " + ", ".join(sorted(run.crashed)[:3]))
    if run.collect_errors:
        incomplete.append(_plural(run.collect_errors, "collection error"))
    other = Counter(r.outcome for r in run.other.values())
    other_not_run = other.get("not-run", 0)
    if other_not_run:
        incomplete.append(_plural(other_not_run, "other collected test") + " did not run (skipped, xfailed or unrun)")
    complete = not incomplete
    reasons[:0] = incomplete

    bad = Counter(v["outcome"] for i, v in verdicts.items() if i in run.planned)
    if bad.get("failed"):
        reasons.append(_plural(bad["failed"], "planned case") + " failed")
    if bad.get("could-not-check"):
        reasons.append(_plural(bad["could-not-check"], "planned case") + " could not be checked")
    if other.get("failed") or other.get("could-not-check"):
        n = other.get("failed", 0) + other.get("could-not-check", 0)
        reasons.append(_plural(n, "other test") + " failed (the team's own checks are part of the gate)")
    if run.exitstatus not in (0, None) and not reasons:
        reasons.append(f"pytest exit status {run.exitstatus}")
    certified = complete and not reasons and run.exitstatus == 0
    return complete, certified, reasons, verdicts


def certificate(settings: Settings, snapshot: Snapshot | None, run: RunRecord) -> dict[str, Any]:
    """The certificate document, redacted as a whole."""
    complete, certified, reasons, verdicts = judge(run)
    planned_rows = [verdicts[i] for i in run.planned]
    totals = Counter(v["outcome"] for v in planned_rows)
    other = Counter(r.outcome for r in run.other.values())
    doc: dict[str, Any] = {
        "format": FORMAT,
        "belt_gate": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": settings.describe(),
        "certified": certified,
        "complete": complete,
        "passed": certified,  # the format-1 name of `certified`
        "reasons": reasons,
        "planned": len(run.planned),
        "ran": len(run.planned) - totals.get("not-run", 0),
        "totals": {k: totals.get(k, 0) for k in OUTCOMES},
        "other_tests": {"collected": len(run.other), **{k: other.get(k, 0) for k in OUTCOMES}},
        "interrupted": run.interrupted,
        "exitstatus": run.exitstatus,
        "snapshot_error": run.snapshot_error,
        "snapshot_seconds": None if run.snapshot_seconds is None else round(run.snapshot_seconds, 3),
        "verdicts": sorted(verdicts.values(), key=lambda r: str(r["id"])),
    }
    if snapshot is not None:
        belts = {"blue": snapshot.belts.blue, "green": snapshot.belts.green}
        doc["cutoffs"] = snapshot.cutoffs
        doc["chains"] = list(snapshot.chains)
        doc["entities"] = [e.to_json() for e in snapshot.entities]
        doc["requests"] = {n: {"requests": b.requests, "seconds": b.seconds} for n, b in belts.items()}
        doc["progress_sources"] = {n: b.progress_source for n, b in belts.items()}
        doc["timings"] = snapshot.timings
        doc["l1"] = {"heads": snapshot.l1.heads, "round_trips": None}
        doc["localised"] = snapshot.localised
    # Redacted before it is serialised: JSON escapes a `"`, `\` or non-ASCII character inside a secret, and
    # the escaped text no longer holds the secret to find. The round trip makes every key and value JSON's own.
    return json.loads(json.dumps(redact_json(doc), default=str))  # type: ignore[no-any-return]


def write_certificate(path: Path, doc: dict[str, Any]) -> None:
    """Atomically (a reader sees the old certificate or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".certificate-")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def verdict_line(doc: dict[str, Any]) -> str:
    """The one line that says what the run is worth: `CERTIFIED (...)` or `NOT CERTIFIED: why; why`."""
    counts = ", ".join(f"{k} {v}" for k, v in doc["totals"].items() if v) or "no cases"
    if doc.get("certified"):
        return f"belt_gate: CERTIFIED ({counts} of {doc['planned']} planned)"
    reasons = doc.get("reasons") or ["not certified"]
    return f"belt_gate: NOT CERTIFIED: {'; '.join(reasons)}"


def render_summary(doc: dict[str, Any], terminalreporter: Any) -> None:
    """A rich table of the run, printed through pytest's terminal writer."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    settings = doc["settings"]
    table = Table()
    table.add_column("rule")
    for outcome in OUTCOMES:
        table.add_column(outcome, justify="right")
    by_rule: dict[str, Counter[str]] = {}
    for r in doc["verdicts"]:
        rule = str(r["id"]).split("[", 1)[0]
        by_rule.setdefault(rule, Counter())[r["outcome"]] += 1
    for rule, c in by_rule.items():
        table.add_row(rule, *(str(c.get(o, 0)) for o in OUTCOMES))
    out = StringIO()
    console = Console(file=out, width=110, force_terminal=False, color_system=None, soft_wrap=True)
    console.print(f"{settings['mode']}: blue {settings['blue']} -> green {settings['green']}")
    console.print(table)
    cutoffs = doc.get("cutoffs") or {}
    if cutoffs:
        shown = ", ".join(f"{c}: {v.get('block')}" for c, v in sorted(cutoffs.items(), key=lambda x: int(x[0])))
        console.print(f"cutoffs (block per chain): {shown}")
    requests = doc.get("requests") or {}
    if requests:
        console.print("GraphQL requests: " + ", ".join(f"{k} {v['requests']}" for k, v in requests.items()))
    if doc.get("snapshot_seconds") is not None:
        # pytest's "in N s" starts after the snapshot: say what reading the belts cost.
        console.print(f"snapshot (reading the belts and chains): {doc['snapshot_seconds']:.2f} s")
    other = doc.get("other_tests") or {}
    if other.get("collected"):
        console.print(
            f"other tests (the team's own checks): {other['collected']} collected, {other.get('passed', 0)} passed"
        )
    console.print(verdict_line(doc))
    terminalreporter.write_sep("=", "belt_gate")
    terminalreporter.write(redact_text(out.getvalue()))
