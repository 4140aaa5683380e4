"""The first few differing rows of a failing slice, as text for its verdict (issue 14). Pure.

Reads one entry of `snapshot["localised"]` (shape: belt_gate/localise.py `run`): the rows only in
blue, only in green, the fields that differ with both values, or, when localisation stopped early, the
narrowest windows it reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from belt_gate.rules.verdict import Verdict

SHOWN = 3  # differing rows named in a verdict; the certificate and --belt-store-failures hold the rest


def _window(w: Mapping[str, Any], axis: str) -> str:
    left = "(" if w.get("lo_open") else "["
    return f"{axis} {left}{w.get('lo')}..{w.get('hi')}] (blue {w.get('blue')}, green {w.get('green')} rows)"


def _row(row: Mapping[str, Any], axis: str) -> str:
    at = f" ({axis} {row.get(axis)})" if axis != "id" and axis in row else ""
    return f"{row.get('id')}{at}"


def located_text(entry: Mapping[str, Any], shown: int = SHOWN) -> str:
    """'localised (blockNumber, 9 rounds): only in blue: 8453_12_0 (blockNumber 12); ...' or why not."""
    axis = str(entry.get("axis") or "id")
    status = entry.get("status")
    rounds = entry.get("rounds", 0)
    if status in ("error", "skipped") and not entry.get("windows"):
        return f"not localised: {entry.get('why')}"
    parts: list[str] = []
    found = entry.get("found") or {}
    items: list[str] = []
    for kind, what in (("only_blue", "only in blue"), ("only_green", "only in green")):
        rows: Sequence[Mapping[str, Any]] = entry.get(kind) or ()
        if rows:
            items.append(f"{what}: " + ", ".join(_row(r, axis) for r in rows[:shown]))
    for c in (entry.get("changed") or ())[:shown]:
        items.append(f"{c.get('id')} field {c.get('field')}: blue {c.get('blue')!r} != green {c.get('green')!r}")
    parts.extend(items)
    total = sum(int(n) for n in found.values()) if found else 0
    named = sum(min(len(entry.get(k) or ()), shown) for k in ("only_blue", "only_green", "changed"))
    if total > named:
        parts.append(f"+{total - named} more in the certificate")
    if status == "partial":
        unpaged = [w for w in entry.get("windows") or () if not w.get("paged")]
        head = ", ".join(_window(w, axis) for w in unpaged[:shown])
        more = f" (+{len(unpaged) - shown} more)" if len(unpaged) > shown else ""
        parts.append(f"{entry.get('why')}; narrowest windows not paged: {head}{more}")
    elif status == "unexplained":
        parts.append(str(entry.get("why")))
    elif status == "error":
        parts.append(f"stopped: {entry.get('why')}")
    return f"localised ({axis}, {rounds} rounds): " + "; ".join(parts or ["nothing found"])


def with_findings(verdict: Verdict, entry: Mapping[str, Any] | None) -> Verdict:
    """A failing counts verdict with its localised rows appended; anything else unchanged."""
    if verdict.passed or not entry:
        return verdict
    props = {**verdict.properties, "localised": entry.get("status")}
    return Verdict(verdict.outcome, f"{verdict.message}; {located_text(entry)}", props)
