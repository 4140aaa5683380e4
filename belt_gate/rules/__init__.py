"""Pure rules over a snapshot: `evaluate(case, snapshot)` -> Verdict. No I/O, no pytest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from belt_gate.plan import Case
from belt_gate.rules import chains, content, counts, schema
from belt_gate.rules.localised import with_findings
from belt_gate.rules.verdict import Verdict
from belt_gate.settings import Tolerance

__all__ = ["Verdict", "evaluate", "register"]

_EXTRA: dict[str, Callable[[Case, Mapping[str, Any]], Verdict]] = {}


def register(rule: str, fn: Callable[[Case, Mapping[str, Any]], Verdict]) -> None:
    """Let another rule family (golden, audit) evaluate its own cases."""
    _EXTRA[rule] = fn


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
    blue, green = snap["belts"]["blue"], snap["belts"]["green"]
    if case.rule == "chain_set":
        return chains.chain_set(snap["mode"], snap["expected"], _chains_of(blue), _chains_of(green), _belt_errors(snap))
    if case.rule == "progress":
        assert case.chain is not None
        key = str(case.chain)
        blue_chains = _chains_of(blue)
        head = snap["l1"]["heads"].get(key)
        head_error = snap["l1"]["errors"].get(key)
        errors = _belt_errors(snap)
        return chains.progress(
            case.chain,
            (blue.get("progress") or {}).get(key),
            (green.get("progress") or {}).get(key),
            blue_has_chain=blue_chains is None or case.chain in blue_chains,
            l1_head=head,
            head_error=head_error,
            head_tolerance=snap["head_tolerance"],
            errors=errors,
        )
    if case.rule in ("counts", "content"):
        label = f"{case.entity}@{case.chain}" if case.chain is not None else str(case.entity)
        fp = snap["fingerprints"].get(label)
        if fp is None:
            return Verdict.fail(f"{case.rule} {label}: not in the snapshot (nothing was read)")
        if fp.get("new_chain"):
            green_chains = _chains_of(green)
            if green_chains is None:
                return Verdict.fail(
                    _with_cause(
                        f"{label}: chain {case.chain} is expected in green, but green's chains are unknown", snap
                    )
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
            if fp.get("error"):
                return Verdict.fail(
                    f"{label}: cannot compare: {_with_cause(fp['error'], snap)}", cutoff=fp.get("cutoff")
                )
            tol = snap["tolerances"].get(case.entity, {"rel": "0", "abs": 0})
            verdict = counts.fingerprints(
                label,
                snap["mode"],
                fp.get("blue"),
                fp.get("green"),
                tolerance=Tolerance(Decimal(tol["rel"]), int(tol["abs"])),
                cutoff=fp["cutoff"],
                blue_error=fp.get("blue_error"),
                green_error=fp.get("green_error"),
                blue_absent=bool(fp.get("blue_absent")),
                green_absent=bool(fp.get("green_absent")),
                may_grow=_may_grow(case.chain, snap),
                blue_endpoint=blue.get("endpoint") or "",
                green_endpoint=green.get("endpoint") or "",
            )
            return with_findings(verdict, (snap.get("localised") or {}).get(label))  # issue 14: the rows
        sample = snap["samples"].get(label, {})
        if sample.get("skip"):
            return Verdict.ok(f"{label}: no sample: {sample['skip']}")
        if sample.get("error"):
            return Verdict.fail(f"{label}: no sample (seed {snap['seed']}): {_with_cause(sample['error'], snap)}")
        return content.rows(
            label,
            sample.get("blue"),
            sample.get("green"),
            seed=snap["seed"],
            expected=int(sample.get("expected", 0)),
            blue_error=sample.get("blue_error"),
            green_error=sample.get("green_error"),
            blue_endpoint=blue.get("endpoint") or "",
            green_endpoint=green.get("endpoint") or "",
        )
    if case.rule == "schema":
        assert case.entity is not None
        doc = snap["schema"]
        return schema.schema(case.entity, doc.get("changes"), doc.get("error"))
    if case.rule == "enums":
        doc = snap["enums"]
        return schema.enums(doc.get("blue"), doc.get("green"), doc.get("live", []))
    if case.rule in _EXTRA:
        return _EXTRA[case.rule](case, snap)
    return Verdict.fail(f"unknown rule {case.rule!r}: nothing unknown passes")
