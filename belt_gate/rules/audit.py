"""L1 window audits: pure verdicts, no I/O, no pytest (the specs and their windows: belt_gate/audit_spec.py).

Settings map (chain, contract address(es), event) -> entity (`[[audit]]` tables). Per (chain, entity),
K block windows are chosen from a seed below the cutoff (stratified: one window in each of K equal slices
of [start_block, cutoff], so the windows never overlap and cover old and new history alike). For each
window the L1 log count of every configured (address, event) pair of that entity is summed and must equal
the belt's entity count in the same block range.

Empty windows. `0 == 0` proves nothing by itself: an RPC that answers `[]` to every eth_getLogs (KF-012)
and a belt that indexed nothing agree perfectly. So a window where L1 and the belt are both empty passes
only when the same L1 endpoint is *witnessed* honest on that chain in this run, i.e. some eth_getLogs
(another audit window, or a golden event's logs by block hash) returned at least one log. Without a
witness the empty window fails as a GAP. L1 empty while the belt has rows is always a GAP. Anything that
is not a non-negative integer (None, bool, float, text) fails closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from belt_gate.audit_spec import AuditSpec, Window
from belt_gate.plan import Case
from belt_gate.rules.verdict import Verdict
from belt_gate.snapshot_model import Snapshot


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True)
class L1Counts:
    """L1's side of a window: the log count of each (address, event) pair, in pair order (None: not
    counted), the (redacted) RPC endpoint, whether it returned a log anywhere on this chain in this run
    (`witness`, see the module), and the error when it could not be asked."""

    counts: Sequence[object] | None
    endpoint: str
    witness: bool
    error: str | None = None


@dataclass(frozen=True)
class BeltCount:
    """The belt's side of a window: its entity count there, its name and endpoint, or why none."""

    count: object
    belt: str
    endpoint: str
    error: str | None = None


def audit_window(
    spec: AuditSpec,
    window: Window | None,
    l1: L1Counts,
    belt_side: BeltCount,
    *,
    seed: int | str = "",
    cutoff: int | None = None,
) -> Verdict:
    """L1 log count (summed over the spec's pairs) == belt's entity count in `window`.

    `window` None means no window could be chosen (cutoff below start_block)."""
    l1_counts, l1_endpoint, l1_witness, l1_error = l1.counts, l1.endpoint, l1.witness, l1.error
    belt_count, belt, belt_endpoint, belt_error = belt_side.count, belt_side.belt, belt_side.endpoint, belt_side.error
    label = f"audit {spec.entity} on chain {spec.chain}"
    at = f"{window} (window {window.index}, seed {seed!r}, cutoff {cutoff})" if window else "no window"
    head = f"{label}, {at}, L1 {l1_endpoint}, {belt} {belt_endpoint}"
    props: dict[str, Any] = {"chain": spec.chain, "entity": spec.entity, "seed": seed, "cutoff": cutoff}
    if window is not None:
        props.update(from_block=window.from_block, to_block=window.to_block)
    if window is None:
        return Verdict.unknown(
            f"{head}: no block window at or below the cutoff (start block"
            f" {spec.start_block}): nothing audited (fail closed)",
            kind="NO WINDOW",
            **props,
        )
    if l1_error is not None:
        return Verdict.unknown(f"{head}: L1 UNAVAILABLE: {l1_error} (fail closed)", kind="L1 UNAVAILABLE", **props)
    if belt_error is not None:
        return Verdict.unknown(
            f"{head}: BELT UNAVAILABLE: {belt_error} (fail closed)", kind="BELT UNAVAILABLE", **props
        )
    if l1_counts is None or len(l1_counts) != len(spec.pairs):
        return Verdict.unknown(
            f"{head}: L1 counts missing for {len(spec.pairs)} (address, event) pairs (fail closed)",
            kind="ERROR",
            **props,
        )
    parsed = [_count(c) for c in l1_counts]
    if any(c is None for c in parsed):
        return Verdict.unknown(
            f"{head}: L1 count is not a non-negative integer: {list(l1_counts)!r} (fail closed)",
            kind="NOT A NUMBER",
            **props,
        )
    belt_n = _count(belt_count)
    if belt_n is None:
        return Verdict.unknown(
            f"{head}: {belt}'s count is not a non-negative integer: {belt_count!r} (fail closed)",
            kind="NOT A NUMBER",
            **props,
        )
    l1_n = sum(c for c in parsed if c is not None)
    props.update(l1=l1_n, belt_count=belt_n)
    pairs = ", ".join(f"{'/'.join(p.addresses)} {p.event.name}" for p in spec.pairs)
    if l1_n == 0 and belt_n > 0:
        return Verdict.fail(
            f"{head}: GAP: L1 answered [] for {pairs} but {belt} has {belt_n} {spec.entity}"
            " rows: an empty eth_getLogs is a GAP, never a pass (KF-012)",
            kind="GAP",
            **props,
        )
    if l1_n == 0 and belt_n == 0:
        if l1_witness:
            return Verdict.ok(
                f"{head}: 0 == 0 (empty window; this L1 endpoint returned logs elsewhere on"
                f" chain {spec.chain} in this run)",
                kind="ok",
                **props,
            )
        return Verdict.unknown(
            f"{head}: GAP: L1 and {belt} are both empty and this L1 endpoint returned no log"
            f" for chain {spec.chain} anywhere in this run: an RPC answering [] cannot be told"
            " from an empty window (KF-012; add a golden event or widen the windows)",
            kind="GAP",
            **props,
        )
    if l1_n > belt_n:
        return Verdict.fail(
            f"{head}: L1 has {l1_n} {pairs} logs, {belt} has {belt_n} {spec.entity} rows: {l1_n - belt_n} missing",
            kind="MISSING",
            **props,
        )
    if l1_n < belt_n:
        return Verdict.fail(
            f"{head}: {belt} has {belt_n} {spec.entity} rows but L1 only {l1_n} {pairs} logs:"
            f" {belt_n - l1_n} extra (duplicates, or an incomplete L1 answer)",
            kind="EXTRA",
            **props,
        )
    return Verdict.ok(f"{head}: L1 {l1_n} == {belt} {belt_n}", kind="ok", **props)


def witnessed(*log_counts: Iterable[object]) -> bool:
    """Any positive count among the eth_getLogs results of one chain/endpoint (audit windows, logs by
    block hash of golden events): the endpoint is not answering [] to everything."""
    return any(_count(c) not in (None, 0) for counts in log_counts for c in counts)


def evaluate_audit(case: Case, snap: Snapshot) -> Verdict:
    """One audit window of the snapshot: L1's log count against green's rows in it."""
    a = snap.audit
    if a is None:
        return Verdict.unknown(f"{case.id}: the snapshot holds no audit data (fail closed)")
    if a.fatal:
        return Verdict.unknown(f"audits could not run: {a.fatal} (fail closed)", kind="ERROR")
    assert case.key is not None and case.chain is not None
    entity, _, idx = case.key.rpartition("#w")
    spec = next((s for s in a.specs if s.chain == case.chain and s.entity == entity), None)
    key = f"{case.chain}:{case.key}"
    item = a.windows.get(key)
    if spec is None or item is None:
        return Verdict.unknown(f"audit {case.key} on chain {case.chain}: not in the snapshot (fail closed)")
    if item.window is None and item.cutoff is None:
        return Verdict.unknown(
            f"audit {entity} on chain {case.chain}, window {idx}: no cutoff block to place"
            f" the window below: {item.cutoff_reason} (fail closed)",
            kind="NO WINDOW",
            chain=case.chain,
            entity=entity,
        )
    l1 = a.l1.get(str(case.chain))
    chain_counts = [c for cs in l1.counts.values() for c in cs] if l1 else []
    golden_l1 = snap.golden.l1.get(str(case.chain)) if snap.golden else None
    probes = golden_l1.probes.values() if golden_l1 else ()
    golden_counts = [len(p.logs_by_hash or ()) for p in probes if p]
    l1_side = L1Counts(
        l1.counts.get(key) if l1 and not l1.error else None,
        (l1.endpoint if l1 else None) or "(no RPC)",
        witnessed(chain_counts, golden_counts),
        l1.error if l1 else f"no RPC for chain {case.chain}",
    )
    belt = BeltCount(a.green_counts.get(key), "green", a.green_endpoint or "green", a.green_error)
    return audit_window(spec, item.window, l1_side, belt, seed=a.seed, cutoff=item.cutoff)


__all__ = ["BeltCount", "L1Counts", "audit_window", "evaluate_audit", "witnessed"]
