"""The certificate (JSON record of one run) and the human summary; both always redacted."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from belt_gate import __version__
from belt_gate.redact import redact_text
from belt_gate.settings import Settings


def certificate(
    settings: Settings,
    snapshot: dict[str, Any] | None,
    results: list[dict[str, Any]],
    exitstatus: int,
    snapshot_error: str | None,
) -> dict[str, Any]:
    outcomes = Counter(r["outcome"] for r in results)
    doc: dict[str, Any] = {
        "format": "belt-gate-certificate/1",
        "belt_gate": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": settings.describe(),
        "passed": exitstatus == 0 and outcomes.get("failed", 0) == 0 and bool(results),
        "exitstatus": exitstatus,
        "totals": dict(sorted(outcomes.items())),
        "snapshot_error": snapshot_error,
        "verdicts": sorted(results, key=lambda r: r["id"]),
    }
    if snapshot is not None:
        doc["cutoffs"] = snapshot.get("cutoffs")
        doc["chains"] = snapshot.get("chains")
        doc["entities"] = snapshot.get("entities")
        doc["requests"] = {
            name: {"requests": b.get("requests"), "seconds": b.get("seconds")}
            for name, b in snapshot.get("belts", {}).items()
        }
        doc["progress_sources"] = {name: b.get("progress_source") for name, b in snapshot.get("belts", {}).items()}
        doc["timings"] = snapshot.get("timings")
        doc["l1"] = {
            "heads": snapshot.get("l1", {}).get("heads"),
            "round_trips": snapshot.get("l1", {}).get("round_trips"),
        }
    return json.loads(redact_text(json.dumps(doc, default=str)))  # type: ignore[no-any-return]


def write_certificate(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".certificate-")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def render_summary(doc: dict[str, Any], terminalreporter: Any) -> None:
    """A rich table of the run, printed through pytest's terminal writer."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    settings = doc["settings"]
    table = Table()
    table.add_column("rule")
    table.add_column("passed", justify="right")
    table.add_column("failed", justify="right")
    by_rule: dict[str, Counter[str]] = {}
    for r in doc["verdicts"]:
        rule = r["id"].split("[", 1)[0]
        by_rule.setdefault(rule, Counter())[r["outcome"]] += 1
    for rule, c in by_rule.items():
        table.add_row(rule, str(c.get("passed", 0)), str(c.get("failed", 0)))
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
    verdict = "CERTIFIED" if doc["passed"] else "NOT CERTIFIED"
    console.print(f"belt_gate: {verdict} ({', '.join(f'{k} {v}' for k, v in doc['totals'].items()) or 'no tests'})")
    terminalreporter.write_sep("=", "belt_gate")
    terminalreporter.write(redact_text(out.getvalue()))
