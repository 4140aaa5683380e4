"""Pure rules over a snapshot: `evaluate(case, snapshot)` -> Verdict. No I/O, no pytest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from belt_gate.numbers import Tolerance
from belt_gate.plan import Case
from belt_gate.rules import audit, chains, content, counts, golden, schema
from belt_gate.rules.inputs import Missing, need, need_map
from belt_gate.rules.localised import with_findings
from belt_gate.rules.verdict import Verdict

__all__ = ["RULES", "Verdict", "evaluate"]


def _chains_of(belt: Mapping[str, Any]) -> list[int] | None:
    progress = belt.get("progress")
    return None if progress is None else sorted(int(c) for c in progress)


def _belt_errors(snap: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for name, belt in snap["belts"].items():
        err = belt.get("error") or belt.get("progress_error")
        if err:
            out[name] = err
    return out


def _with_cause(message: str, snap: Mapping[str, Any]) -> str:
    """A cutoff or sample that could not be had because a belt was unreadable names that belt's endpoint
    and error (the endpoint redacted), not only the missing number."""
    causes = [err for err in _belt_errors(snap).values() if err not in message]
    return f"{message}: {'; '.join(causes)}" if causes else message


def _may_grow(chain: int | None, snap: Mapping[str, Any]) -> bool:
    """Expansion: a shared chain may grow where green reads more sources; an entity without a chain field
    grows with every chain or source green adds."""
    growing = set(snap.get("growing_chains", ()))
    if chain is not None:
        return chain in growing
    blue_chains = _chains_of(snap["belts"]["blue"]) or []
    return bool(growing) or any(c not in blue_chains for c in snap["chains"])


def evaluate(case: Case, snap: Mapping[str, Any]) -> Verdict:
    """The verdict of one case. A part of the snapshot the rule needs but cannot find is could-not-check."""
    try:
        return _evaluate(case, snap)
    except Missing as exc:
        return Verdict.unknown(f"{case.id}: cannot compare: the snapshot is incomplete: {exc}")


def _heights(entry: Mapping[str, Any]) -> counts.Heights | None:
    """Where the belts stood when a current-state slice was read (None: compared at a cutoff)."""
    if need(entry, "scope", "the slice") != "current":
        return None
    h = need_map(entry, "heights", "the current-state slice")
    blue, green = need(h, "blue", "the slice's heights"), need(h, "green", "the slice's heights")
    return counts.Heights(blue if isinstance(blue, Mapping) else None, green if isinstance(green, Mapping) else None)


def _fingerprint_verdict(case: Case, label: str, fp: Mapping[str, Any], snap: Mapping[str, Any]) -> Verdict:
    blue, green = need_map(snap, "belts", "the snapshot")["blue"], snap["belts"]["green"]
    cutoff = need(fp, "cutoff", f"the fingerprint of {label}")
    if fp.get("error"):
        return Verdict.unknown(f"{label}: cannot compare: {_with_cause(fp['error'], snap)}", cutoff=cutoff)
    tol = need_map(need_map(snap, "tolerances", "the snapshot"), str(case.entity), "the tolerances")
    asked = need_map(fp, "asked", f"the fingerprint of {label}")
    totals = None
    if need(fp, "scope", f"the fingerprint of {label}") == "cutoff":
        totals = (need(fp, "blue_total", label), need(fp, "green_total", label))
    return counts.fingerprints(
        label,
        need(snap, "mode", "the snapshot"),
        fp.get("blue"),
        fp.get("green"),
        tolerance=Tolerance(Decimal(need(tol, "rel", "tolerance")), int(need(tol, "abs", "tolerance"))),
        cutoff=cutoff,
        blue_error=fp.get("blue_error"),
        green_error=fp.get("green_error"),
        blue_absent=bool(fp.get("blue_absent")),
        green_absent=bool(fp.get("green_absent")),
        may_grow=_may_grow(case.chain, snap),
        blue_endpoint=blue.get("endpoint") or "",
        green_endpoint=green.get("endpoint") or "",
        sum_columns=need(asked, "sum", "the fingerprint's columns"),
        minmax_columns=need(asked, "minmax", "the fingerprint's columns"),
        totals=totals,
        cutoff_why=str(fp.get("cutoff_why") or ""),
        heights=_heights(fp),
        append_only=bool(need(fp, "append_only", f"the fingerprint of {label}")),
    )


def _sample_verdict(label: str, fp: Mapping[str, Any], snap: Mapping[str, Any]) -> Verdict:
    blue, green = snap["belts"]["blue"], snap["belts"]["green"]
    seed = need(snap, "seed", "the snapshot")
    sample = need_map(need_map(snap, "samples", "the snapshot"), label, "the samples")
    if sample.get("skip"):
        absent = sample.get("absent")
        if absent == "green" or (absent == "blue" and need(snap, "mode", "the snapshot") == "parity"):
            return Verdict.unknown(f"{label}: cannot compare: no sample: {sample['skip']}")
        return Verdict.ok(f"{label}: no sample: {sample['skip']}")
    if sample.get("error"):
        return Verdict.unknown(f"{label}: no sample (seed {seed}): {_with_cause(sample['error'], snap)}")
    nothing = counts.cutoff_compares_nothing(fp, label.split("@")[0])
    if nothing:  # an empty sample at such a cutoff would pass having compared nothing
        return Verdict.fail(f"{label}: {nothing} (seed {seed})")
    if sample.get("blue_error") or sample.get("green_error"):
        expected = 0
    else:
        expected = int(need(sample, "expected", f"the sample of {label}"))
    return content.rows(
        label,
        sample.get("blue"),
        sample.get("green"),
        seed=seed,
        expected=expected,
        blue_error=sample.get("blue_error"),
        green_error=sample.get("green_error"),
        blue_endpoint=blue.get("endpoint") or "",
        green_endpoint=green.get("endpoint") or "",
        columns=sample.get("columns"),
        heights=_heights(sample) if "scope" in sample else None,
        append_only=bool(need(fp, "append_only", f"the fingerprint of {label}")),
    )


def _chain_set(case: Case, snap: Mapping[str, Any]) -> Verdict:
    blue, green = snap["belts"]["blue"], snap["belts"]["green"]
    return chains.chain_set(
        need(snap, "mode", "the snapshot"),
        need(snap, "expected", "the snapshot"),
        _chains_of(blue),
        _chains_of(green),
        _belt_errors(snap),
    )


def _progress(case: Case, snap: Mapping[str, Any]) -> Verdict:
    blue, green = snap["belts"]["blue"], snap["belts"]["green"]
    assert case.chain is not None
    key = str(case.chain)
    blue_chains = _chains_of(blue)
    l1 = need_map(snap, "l1", "the snapshot")
    heads = need_map(l1, "heads", "the snapshot's l1")
    return chains.progress(
        case.chain,
        (blue.get("progress") or {}).get(key),
        (green.get("progress") or {}).get(key),
        blue_has_chain=blue_chains is None or case.chain in blue_chains,
        l1_head=heads.get(key),
        head_error=need_map(l1, "errors", "the snapshot's l1").get(key),
        head_tolerance=need(snap, "head_tolerance", "the snapshot"),
        errors=_belt_errors(snap),
        has_rpc=case.chain in need(l1, "rpc", "the snapshot's l1"),
    )


def _slice(case: Case, snap: Mapping[str, Any]) -> Verdict:
    """counts and content of one (entity, chain) slice."""
    green = snap["belts"]["green"]
    label = f"{case.entity}@{case.chain}" if case.chain is not None else str(case.entity)
    fp = need_map(snap, "fingerprints", "the snapshot").get(label)
    if fp is None:
        return Verdict.unknown(f"{case.rule} {label}: not in the snapshot (nothing was read)")
    if fp.get("new_chain"):
        green_chains = _chains_of(green)
        if green_chains is None:
            return Verdict.unknown(
                _with_cause(f"{label}: chain {case.chain} is expected in green, but green's chains are unknown", snap)
            )
        if case.chain not in green_chains:
            return Verdict.fail(
                f"{label}: green does not index expected chain {case.chain} (no progress "
                "row, and blue lacks it too): nothing to compare (silent skip)"
            )
        return Verdict.ok(
            f"{label}: chain {case.chain} is new in green (expected, no blue baseline): "
            "judged by its progress against the chain head and its golden/audit tests"
        )
    if case.rule == "counts":
        verdict = _fingerprint_verdict(case, label, fp, snap)
        return with_findings(verdict, (snap.get("localised") or {}).get(label))  # issue 14: the rows
    return _sample_verdict(label, fp, snap)


def _schema(case: Case, snap: Mapping[str, Any]) -> Verdict:
    assert case.entity is not None
    doc = need_map(snap, "schema", "the snapshot")
    return schema.schema(case.entity, doc.get("changes"), doc.get("error"))


def _enums(case: Case, snap: Mapping[str, Any]) -> Verdict:
    doc = need_map(snap, "enums", "the snapshot")
    return schema.enums(doc.get("blue"), doc.get("green"), need(doc, "live", "the snapshot's enums"))


#: rule name -> the function that judges one of its cases
RULES: dict[str, Callable[[Case, Mapping[str, Any]], Verdict]] = {
    "chain_set": _chain_set,
    "progress": _progress,
    "counts": _slice,
    "content": _slice,
    "schema": _schema,
    "enums": _enums,
    "golden": golden.evaluate_golden,
    "golden_coverage": golden.evaluate_coverage,
    "audit": audit.evaluate_audit,
}


def _evaluate(case: Case, snap: Mapping[str, Any]) -> Verdict:
    belts = need_map(snap, "belts", "the snapshot")  # every rule is judged against both belts' state
    need_map(belts, "blue", "the belts"), need_map(belts, "green", "the belts")
    rule = RULES.get(case.rule)
    if rule is None:
        return Verdict.unknown(f"unknown rule {case.rule!r}: nothing unknown passes")
    return rule(case, snap)
