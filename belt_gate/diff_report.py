"""Certificates for people: what one certificate says, and what changed between two.

Pure: certificate documents (dicts, as `--belt-report` writes them) in, a model and its text or JSON out.
`belt-gate diff-report OLD NEW` and `belt-gate summary CERT` (cli.py) are the only callers that read files.

Both certificate formats are read: `belt-gate-certificate/2` (`certified`, outcomes passed / failed /
could-not-check / not-run) and the older `belt-gate-certificate/1` (top-level `passed`, pytest outcomes
passed / failed; anything else there counts as not-run). A regression is a case that passed in OLD and
in NEW failed, could not be checked, did not run, or is no longer planned at all (a case that silently
leaves the plan is not evidence that it still holds).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT_V1 = "belt-gate-certificate/1"
FORMAT_V2 = "belt-gate-certificate/2"
FORMATS = (FORMAT_V1, FORMAT_V2)
OUTCOMES = ("passed", "failed", "could-not-check", "not-run")
#: what a case is called in NEW when it is not in NEW's plan at all
GONE = "not-planned"
_COUNTS_ID = re.compile(r"^counts\[(?P<entity>[^@\]]+)(?:@(?P<chain>\d+))?\]$")


class CertificateError(ValueError):
    """The input is not a readable belt_gate certificate (one line, names the file)."""


@dataclass(frozen=True)
class Case:
    """One verdict row of a certificate, normalised across formats."""

    id: str
    outcome: str
    verdict: str
    blue: str | None = None
    green: str | None = None


@dataclass(frozen=True)
class Certificate:
    """What a certificate says, normalised across formats."""

    name: str
    format: str
    certified: bool
    complete: bool | None  # None: the old format did not say
    reasons: tuple[str, ...]
    created: str | None
    mode: str | None
    blue: str | None
    green: str | None
    chains: tuple[str, ...]
    cutoffs: Mapping[str, int | None]
    cases: Mapping[str, Case]

    @property
    def totals(self) -> dict[str, int]:
        """How many cases had each outcome (outcomes with no case left out)."""
        out = dict.fromkeys(OUTCOMES, 0)
        for c in self.cases.values():
            out[c.outcome] = out.get(c.outcome, 0) + 1
        return {k: v for k, v in out.items() if v}


def _outcome_v1(raw: Any) -> str:
    return raw if raw in ("passed", "failed") else "not-run"


def _outcome_v2(raw: Any) -> str:
    return raw if raw in OUTCOMES else "not-run"  # an outcome we do not know is not a pass


def _block(value: Any) -> int | None:
    if isinstance(value, Mapping):
        value = value.get("block")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def read_certificate(doc: Any, name: str) -> Certificate:
    """Normalise one certificate document; CertificateError (one line) if it is not one."""
    if not isinstance(doc, Mapping):
        raise CertificateError(f"{name}: not a belt_gate certificate (a JSON object was expected)")
    fmt = doc.get("format")
    if fmt not in FORMATS:
        shown = "no format field" if fmt is None else f"format {str(fmt)[:60]!r}"
        raise CertificateError(f"{name}: not a belt_gate certificate ({shown}; expected {' or '.join(FORMATS)})")
    rows = doc.get("verdicts")
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) and isinstance(r.get("id"), str) for r in rows):
        raise CertificateError(f"{name}: not a belt_gate certificate (verdicts must be a list of rows with an id)")
    if fmt == FORMAT_V2:
        certified = doc.get("certified")
        if not isinstance(certified, bool):
            raise CertificateError(f"{name}: not a belt_gate certificate ({FORMAT_V2} without a boolean certified)")
        complete: bool | None = doc.get("complete") if isinstance(doc.get("complete"), bool) else False
        outcome = _outcome_v2
    else:
        certified = doc.get("passed") is True
        complete = None
        outcome = _outcome_v1
    cases: dict[str, Case] = {}
    for r in rows:
        verdict = str(r.get("verdict") or r.get("why") or "")
        cases[r["id"]] = Case(r["id"], outcome(r.get("outcome")), verdict, _text(r.get("blue")), _text(r.get("green")))
    settings = doc.get("settings") if isinstance(doc.get("settings"), Mapping) else {}
    assert isinstance(settings, Mapping)
    raw_cutoffs = doc.get("cutoffs") if isinstance(doc.get("cutoffs"), Mapping) else {}
    assert isinstance(raw_cutoffs, Mapping)
    raw_chains = doc.get("chains") if isinstance(doc.get("chains"), list) else list(raw_cutoffs)
    assert isinstance(raw_chains, list)
    reasons = doc.get("reasons") if isinstance(doc.get("reasons"), list) else []
    assert isinstance(reasons, list)
    if fmt == FORMAT_V1 and not certified:
        reasons = ["the run did not pass (format 1 certificate)"]
    return Certificate(
        name=name,
        format=str(fmt),
        certified=certified,
        complete=complete,
        reasons=tuple(str(r) for r in reasons),
        created=_text(doc.get("created")),
        mode=_text(settings.get("mode")),
        blue=_text(settings.get("blue")),
        green=_text(settings.get("green")),
        chains=tuple(sorted({str(c) for c in raw_chains}, key=_chain_key)),
        cutoffs={str(k): _block(v) for k, v in sorted(raw_cutoffs.items(), key=lambda kv: _chain_key(str(kv[0])))},
        cases=cases,
    )


def load_certificate(path: Path) -> Certificate:
    """Read and normalise a certificate file; CertificateError with one line for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CertificateError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CertificateError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CertificateError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return read_certificate(doc, str(path))


def _chain_key(chain: str) -> tuple[int, str]:
    return (int(chain), "") if chain.isdigit() else (1 << 62, chain)


# ---------------------------------------------------------------------------------------------------
# The diff


@dataclass(frozen=True)
class VerdictChange:
    id: str
    old: str  # outcome
    new: str  # outcome, or GONE
    old_verdict: str
    new_verdict: str


@dataclass(frozen=True)
class CutoffChange:
    chain: str
    old: int | None
    new: int | None


@dataclass(frozen=True)
class CountChange:
    """Rows of one entity on one chain (from its counts case) in blue and green, before and after."""

    id: str
    entity: str
    chain: str | None
    old_blue: str | None
    new_blue: str | None
    old_green: str | None
    new_green: str | None


@dataclass(frozen=True)
class Diff:
    """What changed between an OLD and a NEW certificate: chains, cutoffs, counts, and each case's verdict sorted into
    regressions, fixes, other changes, still failing and added."""

    old: Certificate
    new: Certificate
    chains_added: tuple[str, ...]
    chains_removed: tuple[str, ...]
    cutoffs: tuple[CutoffChange, ...]
    counts: tuple[CountChange, ...]
    regressions: tuple[VerdictChange, ...]
    fixed: tuple[VerdictChange, ...]
    other_changes: tuple[VerdictChange, ...]  # neither passed before nor passed now, outcome changed
    still_failing: tuple[VerdictChange, ...]  # not passed in both, same outcome
    added: tuple[str, ...]  # cases only NEW plans
    unchanged_counts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Nothing changed: same chains, cutoffs, counts, verdicts and certified status."""
        return not (
            self.chains_added
            or self.chains_removed
            or self.cutoffs
            or self.counts
            or self.regressions
            or self.fixed
            or self.other_changes
            or self.added
            or self.old.certified != self.new.certified
        )

    @property
    def exit_code(self) -> int:
        """1 when any case regressed (so a nightly fails on it), else 0."""
        return 1 if self.regressions else 0

    def to_json(self) -> dict[str, Any]:
        """The diff as `belt-gate-diff/1` JSON: both certificates' summaries and every change."""

        def cert(c: Certificate) -> dict[str, Any]:
            return {
                "name": c.name,
                "format": c.format,
                "certified": c.certified,
                "complete": c.complete,
                "reasons": list(c.reasons),
                "created": c.created,
                "mode": c.mode,
                "blue": c.blue,
                "green": c.green,
                "chains": list(c.chains),
                "cutoffs": dict(c.cutoffs),
                "totals": c.totals,
            }

        return {
            "format": "belt-gate-diff/1",
            "identical": self.identical,
            "regression": bool(self.regressions),
            "exit": self.exit_code,
            "old": cert(self.old),
            "new": cert(self.new),
            "chains": {"added": list(self.chains_added), "removed": list(self.chains_removed)},
            "cutoffs": [asdict(c) for c in self.cutoffs],
            "counts": [asdict(c) for c in self.counts],
            "regressions": [asdict(c) for c in self.regressions],
            "fixed": [asdict(c) for c in self.fixed],
            "other_changes": [asdict(c) for c in self.other_changes],
            "still_failing": [asdict(c) for c in self.still_failing],
            "added": list(self.added),
        }


def _counts_key(case_id: str) -> tuple[str, str | None] | None:
    m = _COUNTS_ID.match(case_id)
    return None if m is None else (m.group("entity"), m.group("chain"))


def diff(old: Certificate, new: Certificate) -> Diff:
    """What changed from OLD to NEW (chains, cutoffs, counts, verdicts)."""
    regressions, fixed, other, still = [], [], [], []
    for case_id in sorted(set(old.cases) | set(new.cases)):
        o, n = old.cases.get(case_id), new.cases.get(case_id)
        if o is None:
            continue
        n_outcome = n.outcome if n is not None else GONE
        change = VerdictChange(case_id, o.outcome, n_outcome, o.verdict, n.verdict if n else "no longer planned")
        if o.outcome == "passed" and n_outcome != "passed":
            regressions.append(change)
        elif o.outcome != "passed" and n_outcome == "passed":
            fixed.append(change)
        elif o.outcome != "passed" and n_outcome != o.outcome:
            other.append(change)
        elif o.outcome != "passed":
            still.append(change)
    counts: list[CountChange] = []
    unchanged = 0
    for case_id in sorted(set(old.cases) | set(new.cases)):
        key = _counts_key(case_id)
        if key is None:
            continue
        o, n = old.cases.get(case_id), new.cases.get(case_id)
        before = (o.blue, o.green) if o else (None, None)
        after = (n.blue, n.green) if n else (None, None)
        if before == after:
            unchanged += 1
            continue
        counts.append(CountChange(case_id, key[0], key[1], before[0], after[0], before[1], after[1]))
    cutoffs = [
        CutoffChange(c, old.cutoffs.get(c), new.cutoffs.get(c))
        for c in sorted(set(old.cutoffs) | set(new.cutoffs), key=_chain_key)
        if old.cutoffs.get(c) != new.cutoffs.get(c)
    ]
    notes = []
    if old.format != new.format:
        notes.append(f"formats differ: {old.format} -> {new.format}")
    return Diff(
        old=old,
        new=new,
        chains_added=tuple(c for c in new.chains if c not in old.chains),
        chains_removed=tuple(c for c in old.chains if c not in new.chains),
        cutoffs=tuple(cutoffs),
        counts=tuple(counts),
        regressions=tuple(regressions),
        fixed=tuple(fixed),
        other_changes=tuple(other),
        still_failing=tuple(still),
        added=tuple(sorted(set(new.cases) - set(old.cases))),
        unchanged_counts=unchanged,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------------
# Text for a person


def _totals(c: Certificate) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.totals.items()) or "no cases"


def _word(c: Certificate) -> str:
    return "CERTIFIED" if c.certified else "NOT CERTIFIED"


def _delta(old: int | str | None, new: int | str | None) -> str:
    try:
        d = int(str(new)) - int(str(old))
    except ValueError:
        return ""
    return f" ({d:+d})" if d else ""


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)


def _cases(title: str, changes: Sequence[VerdictChange], limit: int, *, with_old: bool = False) -> list[str]:
    if not changes:
        return []
    lines = [f"{title} ({len(changes)}):"]
    for ch in changes[:limit]:
        lines.append(f"  {ch.id}: {ch.old} -> {ch.new}")
        if ch.new_verdict:
            lines.append(f"      now:    {ch.new_verdict}")
        if with_old and ch.old_verdict:
            lines.append(f"      before: {ch.old_verdict}")
    if len(changes) > limit:
        lines.append(f"  ... and {len(changes) - limit} more (--json lists all)")
    return lines


def render_diff(d: Diff, *, limit: int = 20) -> str:
    """The diff as text for a person reading it in the morning: the worst first."""
    lines = [
        f"old: {_word(d.old)} ({_totals(d.old)})  {d.old.created or ''}  {d.old.name}",
        f"new: {_word(d.new)} ({_totals(d.new)})  {d.new.created or ''}  {d.new.name}",
    ]
    if not d.new.certified and d.new.reasons:
        lines.append("why new is not certified: " + "; ".join(d.new.reasons))
    lines += d.notes
    if d.identical:
        lines.append("no change: same chains, cutoffs, counts and verdicts")
        return "\n".join(lines) + "\n"
    lines.append("")
    lines += _cases("REGRESSIONS: passed before, not now", d.regressions, limit, with_old=True)
    lines += _cases("fixed: passes now", d.fixed, limit)
    lines += _cases("changed outcome (still not passing)", d.other_changes, limit)
    if d.still_failing:
        shown = ", ".join(c.id for c in d.still_failing[:limit])
        more = f", ... (+{len(d.still_failing) - limit})" if len(d.still_failing) > limit else ""
        lines.append(f"still not passing ({len(d.still_failing)}): {shown}{more}")
    if d.added:
        shown = ", ".join(d.added[:limit])
        more = f", ... (+{len(d.added) - limit})" if len(d.added) > limit else ""
        lines.append(f"new cases ({len(d.added)}): {shown}{more}")
    if d.chains_added or d.chains_removed:
        parts = []
        if d.chains_added:
            parts.append("added " + ", ".join(d.chains_added))
        if d.chains_removed:
            parts.append("removed " + ", ".join(d.chains_removed))
        lines.append("chains: " + "; ".join(parts))
    else:
        lines.append("chains: unchanged (" + (", ".join(d.new.chains) or "none") + ")")
    if d.cutoffs:
        lines.append(
            "cutoffs (block per chain): "
            + ", ".join(f"{c.chain}: {_shown(c.old)} -> {_shown(c.new)}{_delta(c.old, c.new)}" for c in d.cutoffs)
        )
    else:
        lines.append("cutoffs: unchanged")
    if d.counts:
        lines.append(f"counts (rows per entity and chain; {d.unchanged_counts} unchanged):")
        width = max(len(c.id) for c in d.counts[:limit])
        for c in d.counts[:limit]:
            lines.append(
                f"  {c.id:<{width}}  blue {_shown(c.old_blue)} -> {_shown(c.new_blue)}{_delta(c.old_blue, c.new_blue)}"
                f"   green {_shown(c.old_green)} -> {_shown(c.new_green)}{_delta(c.old_green, c.new_green)}"
            )
        if len(d.counts) > limit:
            lines.append(f"  ... and {len(d.counts) - limit} more (--json lists all)")
    else:
        lines.append(f"counts: unchanged ({d.unchanged_counts} entity x chain)")
    lines.append("")
    if d.regressions:
        lines.append(f"{len(d.regressions)} regression(s): exit 1")
    else:
        lines.append("no regression")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# One certificate (the nightly's job summary)


def render_summary(c: Certificate, *, markdown: bool = False, limit: int = 15) -> str:
    """What one certificate says, short: certified or not and why, what failed, the cutoffs."""
    not_passed = [k for k in c.cases.values() if k.outcome != "passed"]
    head = f"belt_gate: {_word(c)} ({_totals(c)})"
    where = f"{c.mode or '?'}: blue {c.blue or '?'} -> green {c.green or '?'}"
    cut = ", ".join(f"{k}: {_shown(v)}" for k, v in c.cutoffs.items()) or "none"
    if not markdown:
        lines = [head, where]
        if not c.certified:
            lines.append("why: " + ("; ".join(c.reasons) or "not certified"))
        for k in not_passed[:limit]:
            lines.append(f"  {k.outcome}: {k.id}: {k.verdict}")
        if len(not_passed) > limit:
            lines.append(f"  ... and {len(not_passed) - limit} more")
        lines.append(f"cutoffs (block per chain): {cut}")
        return "\n".join(lines) + "\n"
    icon = "✅" if c.certified else "❌"
    lines = [f"### {icon} {head}", "", f"`{where}`", ""]
    if not c.certified:
        lines += ["**Why:** " + _md("; ".join(c.reasons) or "not certified"), ""]
    if not_passed:
        lines += ["| outcome | case | verdict |", "|---|---|---|"]
        lines += [f"| {k.outcome} | `{k.id}` | {_md(k.verdict)} |" for k in not_passed[:limit]]
        if len(not_passed) > limit:
            lines.append(f"| ... | {len(not_passed) - limit} more | see the certificate artifact |")
        lines.append("")
    lines.append(f"Cutoffs (block per chain): {cut}")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:400]


__all__ = [
    "Certificate",
    "CertificateError",
    "Diff",
    "diff",
    "load_certificate",
    "read_certificate",
    "render_diff",
    "render_summary",
]
