"""Pure rules over a typed snapshot: `evaluate(case, snapshot)` -> Verdict. No I/O, no pytest.

`RULES` maps each rule name to the function that judges one of its cases. A snapshot given as JSON is
read into `snapshot_model.Snapshot` first: a missing or mistyped part is could-not-check, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from belt_gate.plan import Case
from belt_gate.rules import audit, chains, content, counts, golden, schema
from belt_gate.rules.inputs import Missing
from belt_gate.rules.localised import with_findings
from belt_gate.rules.verdict import Verdict
from belt_gate.snapshot_model import Fingerprint, Snapshot, SnapshotError, as_snapshot

__all__ = ["RULES", "Verdict", "evaluate"]


def _with_cause(message: str, snap: Snapshot) -> str:
    """A cutoff or sample that could not be had because a belt was unreadable names that belt's endpoint
    and error (the endpoint redacted), not only the missing number."""
    causes = [err for err in snap.belts.errors().values() if err not in message]
    return f"{message}: {'; '.join(causes)}" if causes else message


def _may_grow(chain: int | None, snap: Snapshot) -> bool:
    """Expansion: a shared chain may grow where green reads more sources; an entity without a chain field
    grows with every chain or source green adds."""
    growing = set(snap.growing_chains)
    if chain is not None:
        return chain in growing
    blue_chains = snap.belts.blue.chains or []
    return bool(growing) or any(c not in blue_chains for c in snap.chains)


def evaluate(case: Case, snap: Snapshot | Mapping[str, Any]) -> Verdict:
    """The verdict of one case. A part of the snapshot the rule needs but cannot find is could-not-check."""
    try:
        typed = as_snapshot(snap)
    except SnapshotError as exc:
        return Verdict.unknown(f"{case.id}: cannot compare: the snapshot is malformed: {exc}")
    try:
        rule = RULES.get(case.rule)
        if rule is None:
            return Verdict.unknown(f"unknown rule {case.rule!r}: nothing unknown passes")
        return rule(case, typed)
    except Missing as exc:
        return Verdict.unknown(f"{case.id}: cannot compare: the snapshot is incomplete: {exc}")


def _heights(heights: Mapping[str, Any] | None) -> counts.Heights | None:
    """Where the belts stood when a current-state slice was read (None: compared at a cutoff)."""
    return None if heights is None else counts.Heights(heights["blue"], heights["green"])


def _fingerprint_verdict(case: Case, label: str, fp: Fingerprint, snap: Snapshot) -> Verdict:
    if fp.error:
        return Verdict.unknown(f"{label}: cannot compare: {_with_cause(fp.error, snap)}", cutoff=fp.cutoff)
    tolerance = snap.tolerances.get(str(case.entity))
    if tolerance is None:
        raise Missing(f"the tolerances have no {case.entity!r} (for {label})")
    blue, green = snap.belts.blue, snap.belts.green
    totals = fp.totals or (None, None)
    how = counts.Comparison(
        mode=snap.mode,
        tolerance=tolerance,
        cutoff=fp.cutoff,
        may_grow=_may_grow(case.chain, snap),
        sum_columns=list(fp.asked_sum),
        minmax_columns=list(fp.asked_minmax),
        at_cutoff=fp.totals is not None,
        cutoff_why=fp.cutoff_why,
        heights=_heights(fp.heights),
        append_only=fp.append_only,
    )
    return counts.fingerprints(
        label,
        counts.Side(fp.blue, fp.blue_error, fp.blue_absent, blue.endpoint, totals[0]),
        counts.Side(fp.green, fp.green_error, fp.green_absent, green.endpoint, totals[1]),
        how,
    )


def _sample_verdict(label: str, fp: Fingerprint, snap: Snapshot) -> Verdict:
    sample = snap.samples.get(label)
    if sample is None:
        raise Missing(f"the samples have no {label!r}")
    seed = snap.seed
    if sample.skip:
        if sample.absent == "green" or (sample.absent == "blue" and snap.mode == "parity"):
            return Verdict.unknown(f"{label}: cannot compare: no sample: {sample.skip}")
        return Verdict.ok(f"{label}: no sample: {sample.skip}")  # expansion: green serves what blue lacks
    if sample.error:
        return Verdict.unknown(f"{label}: no sample (seed {seed}): {_with_cause(sample.error, snap)}")
    nothing = counts.cutoff_compares_nothing(fp.to_json(), label.split("@")[0])
    if nothing:  # an empty sample at such a cutoff would pass having compared nothing
        return Verdict.fail(f"{label}: {nothing} (seed {seed})")
    if sample.blue_error or sample.green_error:
        expected = 0
    elif sample.expected is None:
        raise Missing(f"the sample of {label} has no 'expected'")
    else:
        expected = sample.expected
    return content.rows(
        label,
        content.Rows(sample.blue, sample.blue_error, snap.belts.blue.endpoint),
        content.Rows(sample.green, sample.green_error, snap.belts.green.endpoint),
        content.Sample(
            seed,
            expected,
            columns=None if sample.columns is None else list(sample.columns),
            heights=_heights(sample.heights),
            append_only=fp.append_only,
        ),
    )


def _chain_set(case: Case, snap: Snapshot) -> Verdict:
    belts = snap.belts
    return chains.chain_set(snap.mode, list(snap.expected), belts.blue.chains, belts.green.chains, belts.errors())


def _progress(case: Case, snap: Snapshot) -> Verdict:
    assert case.chain is not None
    key, blue, green = str(case.chain), snap.belts.blue, snap.belts.green
    blue_chains = blue.chains
    return chains.progress(
        case.chain,
        (blue.progress or {}).get(key),
        (green.progress or {}).get(key),
        blue_has_chain=blue_chains is None or case.chain in blue_chains,
        l1_head=snap.l1.heads.get(key),
        head_error=snap.l1.errors.get(key),
        head_tolerance=snap.head_tolerance,
        errors=snap.belts.errors(),
        has_rpc=case.chain in snap.l1.rpc,
    )


def _slice(case: Case, snap: Snapshot) -> Verdict:
    """counts and content of one (entity, chain) slice."""
    label = f"{case.entity}@{case.chain}" if case.chain is not None else str(case.entity)
    fp = snap.fingerprints.get(label)
    if fp is None:
        return Verdict.unknown(f"{case.rule} {label}: not in the snapshot (nothing was read)")
    if fp.new_chain:
        green_chains = snap.belts.green.chains
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
        return with_findings(verdict, snap.localised.get(label))  # issue 14: the rows
    return _sample_verdict(label, fp, snap)


def _schema(case: Case, snap: Snapshot) -> Verdict:
    assert case.entity is not None
    return schema.schema(case.entity, snap.schema.changes, snap.schema.error)


def _enums(case: Case, snap: Snapshot) -> Verdict:
    enums = snap.enums
    return schema.enums(enums.blue, enums.green, None if enums.live is None else list(enums.live))


#: rule name -> the function that judges one of its cases
RULES: dict[str, Callable[[Case, Snapshot], Verdict]] = {
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
