"""Golden events against L1 and against a belt: pure verdicts, no I/O, no pytest.

Two-way identity: the golden log must be on L1 exactly as the fixture says (receipt holds it, eth_getLogs
by block hash returns it, the block is still canonical, its decoded values are the fixture's), and the
belt must hold the entity the fixture names with the fixture's values. An empty `[]` from L1 where the
golden log must be is a GAP: a failure, never a pass (prior system KF-012).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from belt_gate.chain_facts import Log, ProbeResult
from belt_gate.golden import GoldenEvent, values_equal
from belt_gate.plan import INVALID_KEY, Case, chains_needing_golden
from belt_gate.rules.verdict import Outcome, Verdict
from belt_gate.snapshot_model import GoldenL1, GoldenRows, Snapshot


def _head(event: GoldenEvent, where: str) -> str:
    return (
        f"golden {event.id or event.short_id()} [{event.entity} {event.entity_id!r}] chain {event.chain},"
        f" tx {event.tx_hash}, log index {event.log_index}, {where}"
    )


#: Kinds that say L1 or the belt could not be asked (or did not answer): could-not-check, not failed.
UNCHECKED_KINDS = frozenset({"L1 UNAVAILABLE", "NO ANSWER", "ERROR", "BELT UNAVAILABLE"})


def _fail(event: GoldenEvent, where: str, kind: str, message: str, **props: Any) -> Verdict:
    make = Verdict.unknown if kind in UNCHECKED_KINDS else Verdict.fail
    return make(f"{_head(event, where)}: {kind}: {message}", kind=kind, chain=event.chain, golden=event.id, **props)


def _same_log(a: Log, b: Log) -> bool:
    return (a.address, a.topics, a.data, a.tx_hash, a.log_index, a.block_hash) == (
        b.address,
        b.topics,
        b.data,
        b.tx_hash,
        b.log_index,
        b.block_hash,
    )


def golden_l1(event: GoldenEvent, probe: ProbeResult | None, *, endpoint: str, error: str | None = None) -> Verdict:
    """Is the golden log on L1, in a still-canonical block, as the fixture says?

    `probe` is `GoldenProbe.for_event(event)` (belt_gate.chain_facts); `error` the (redacted) RpcError text
    when the chain's probe failed; `endpoint` the redacted RPC URL."""
    where = f"L1 {endpoint}"
    if error is not None:
        return _fail(event, where, "L1 UNAVAILABLE", f"{error} (fail closed)")
    if probe is None:
        return _fail(event, where, "NO ANSWER", "L1 was not asked about this event (fail closed)")
    n = event.block_number
    canonical = probe.canonical
    if canonical is None:
        return _fail(
            event,
            where,
            "REORG",
            f"L1 has no block {n} (chain head below it?): the golden block {event.block_hash} is not canonical",
        )
    if canonical.hash != event.block_hash:
        return _fail(
            event,
            where,
            "REORG",
            f"block {n} is {canonical.hash} on L1 now, the fixture says"
            f" {event.block_hash}: the golden block is no longer canonical",
        )
    receipt = probe.receipt
    if receipt is None:
        return _fail(event, where, "MISSING", "L1 has no receipt for this transaction")
    if receipt.block_hash != event.block_hash or receipt.block_number != n:
        return _fail(
            event,
            where,
            "REORG",
            f"the receipt puts the tx in block {receipt.block_number}"
            f" {receipt.block_hash}, the fixture in {n} {event.block_hash}",
        )
    log = receipt.log_at(event.log_index)
    if log is None:
        indexes = sorted(lg.log_index for lg in receipt.logs)
        return _fail(
            event,
            where,
            "MISSING",
            f"the receipt has no log with index {event.log_index}"
            f" (it has {indexes or 'no logs'}; status {receipt.status})",
        )
    if log.address != event.address:
        return _fail(
            event,
            where,
            "MISMATCH",
            f"log {event.log_index} was emitted by {log.address}, the fixture says {event.address}",
        )
    if event.topic0 is not None and log.topic0 != event.topic0:
        return _fail(
            event, where, "MISMATCH", f"log topic0 is {log.topic0}, not {event.event.signature}'s {event.topic0}"
        )
    if event.topics is not None and log.topics != event.topics:
        return _fail(
            event, where, "MISMATCH", f"log topics {list(log.topics)} differ from the fixture's {list(event.topics)}"
        )
    if event.data is not None and log.data != event.data:
        return _fail(event, where, "MISMATCH", f"log data {log.data[:74]} differs from the fixture's {event.data[:74]}")
    try:
        decoded = event.event.decode(log.topics, log.data)
    except ValueError as exc:
        return _fail(event, where, "MISMATCH", str(exc))
    wrong = []
    for param, value in decoded.items():
        target = event.field_for(param)
        if target is None or not event.event.comparable(param):
            continue
        if not values_equal(event.fields[target], value):
            wrong.append(f"{param}={value!r} on L1, fixture {target}={event.fields[target]!r}")
    if wrong:
        return _fail(event, where, "MISMATCH", "decoded log differs from the fixture: " + "; ".join(wrong))
    # EIP-234: logs by block hash must contain it. `[]` here is the KF-012 lie.
    if probe.logs_by_hash is None:
        return _fail(event, where, "ERROR", f"eth_getLogs by blockHash failed: {probe.logs_error} (fail closed)")
    if not probe.logs_by_hash:
        return _fail(
            event,
            where,
            "GAP",
            f"eth_getLogs by blockHash {event.block_hash} answered [] although"
            " the receipt holds the golden log: empty is a GAP, never a pass (KF-012)",
        )
    found = next(
        (lg for lg in probe.logs_by_hash if lg.tx_hash == event.tx_hash and lg.log_index == event.log_index), None
    )
    if found is None:
        return _fail(
            event,
            where,
            "GAP",
            f"eth_getLogs by blockHash returned {len(probe.logs_by_hash)} logs"
            " but not the golden one (incomplete logs)",
        )
    if not _same_log(found, log):
        return _fail(event, where, "MISMATCH", "eth_getLogs by blockHash and the receipt disagree about the golden log")
    return Verdict.ok(
        f"{_head(event, where)}: on L1 in canonical block {n} {event.block_hash}; receipt and eth_getLogs"
        f" by blockHash agree ({event.event.name})",
        kind="ok",
        chain=event.chain,
        golden=event.id,
    )


def golden_entity(
    event: GoldenEvent, row: Mapping[str, Any] | None, *, belt: str, endpoint: str, error: str | None = None
) -> Verdict:
    """Does `belt` hold the golden entity with the fixture's values?

    `row` is the belt's entity row with id `event.entity_id` (column names as the belt serves them, e.g.
    Hasura's `<entity>_by_pk`), None when the belt answered that it has none; `error` the (redacted)
    EndpointError text when the belt could not be asked."""
    where = f"{belt} {endpoint}"
    if error is not None:
        return _fail(event, where, "BELT UNAVAILABLE", f"{error} (fail closed)", belt=belt)
    if row is None:
        return _fail(event, where, "MISSING", f"{belt} has no {event.entity} with id {event.entity_id!r}", belt=belt)
    if "id" in row and str(row["id"]) != event.entity_id:
        return _fail(event, where, "MISMATCH", f"{belt} answered id {row['id']!r} for {event.entity_id!r}", belt=belt)
    absent = [name for name in event.fields if name not in row]
    wrong = [
        f"{name}: expected {expected!r}, {belt} has {row[name]!r}"
        for name, expected in event.fields.items()
        if name in row and not values_equal(expected, row[name])
    ]
    if absent or wrong:
        parts = ([f"fields missing from {belt}'s row: {', '.join(absent)}"] if absent else []) + wrong
        return _fail(event, where, "MISMATCH", "; ".join(parts), belt=belt)
    return Verdict.ok(
        f"{_head(event, where)}: {belt} holds {event.entity} {event.entity_id!r} with the golden values"
        f" ({len(event.fields)} fields)",
        kind="ok",
        chain=event.chain,
        golden=event.id,
        belt=belt,
    )


def golden_coverage(
    chain: int, golden_chains: Collection[int] | Iterable[GoldenEvent], *, golden_dir: str = "golden"
) -> Verdict:
    """Expansion: a chain blue does not index needs at least one golden event (else nothing proves it).

    Coverage counts events, not passes: each golden event is its own test and fails on its own."""
    chains: list[int] = [e.chain if isinstance(e, GoldenEvent) else int(e) for e in golden_chains]
    count = chains.count(chain)
    if count == 0:
        return Verdict.fail(
            f"no golden event for new chain {chain}: blue does not index it, so only L1 can prove green's"
            f" data; add one to {golden_dir}/ (`belt-gate golden capture --chain {chain}`) (fail closed)",
            kind="NO GOLDEN",
            chain=chain,
        )
    return Verdict.ok(
        f"new chain {chain} has {count} golden event(s) in {golden_dir}/", kind="ok", chain=chain, golden_events=count
    )


# ---------------------------------------------------------------------------------------------------
# The snapshot's golden part -> one verdict per case


def _combine(verdicts: Sequence[Verdict], chain: int, event_id: str) -> Verdict:
    """Failed when any part failed; else could-not-check when any part could not be checked; else passed."""
    bad = [v for v in verdicts if not v.passed]
    props = {"chain": chain, "golden": event_id}
    if bad:
        kinds = sorted({str(v.properties.get("kind")) for v in bad})
        make = Verdict.fail if any(v.outcome is Outcome.FAILED for v in bad) else Verdict.unknown
        return make(" | ".join(v.message for v in bad), kind="/".join(kinds), **props)
    return Verdict.ok(" | ".join(v.message for v in verdicts), kind="ok", **props)


def evaluate_golden(case: Case, snap: Snapshot) -> Verdict:
    """One golden event: on L1 as the fixture says, and held by green (and blue in parity)."""
    g = snap.golden
    if g is None:
        return Verdict.unknown(f"{case.id}: the snapshot holds no golden data (fail closed)")
    if case.key == INVALID_KEY and g.error:
        return Verdict.fail(f"invalid golden fixtures: {g.error}", kind="INVALID")
    if g.fatal:
        return Verdict.unknown(f"golden checks could not run: {g.fatal} (fail closed)", kind="ERROR")
    assert case.key is not None and case.chain is not None
    event = g.events.get(case.key)
    if event is None:
        return Verdict.unknown(f"golden {case.key}: not in the snapshot (fail closed)", kind="ERROR")
    l1 = g.l1.get(str(case.chain)) or GoldenL1(None, f"no RPC for chain {case.chain}", {})
    verdicts = [golden_l1(event, l1.probes.get(case.key), endpoint=l1.endpoint or "(none)", error=l1.error)]
    for belt in ["green", "blue"] if snap.mode == "parity" else ["green"]:
        got = g.rows.get(belt) or GoldenRows(None, "not read")
        rows = got.rows or {}
        error = got.error
        if error is None and case.key not in rows:  # no field in the answer is no answer, not "no entity"
            error = f"{belt}'s answer has no field for this golden entity (a partial answer)"
        endpoint = g.endpoints.get(belt) or belt
        verdicts.append(golden_entity(event, rows.get(case.key), belt=belt, endpoint=endpoint, error=error))
    return _combine(verdicts, case.chain, case.key)


def evaluate_coverage(case: Case, snap: Snapshot) -> Verdict:
    """Expansion: a chain green adds has at least one golden event (blue's chains must be known)."""
    assert case.chain is not None
    blue = snap.belts.blue
    if blue.chains is None:
        why = blue.why_unreadable or "blue's progress was not read"
        return Verdict.unknown(
            f"chain {case.chain}: blue's chains are unknown, so whether chain {case.chain} is new in green "
            f"(and needs a golden event) cannot be said: {why}",
            chain=case.chain,
        )
    g = snap.golden
    chains = [c for c, _ in g.ids] if g else []
    verdict = golden_coverage(case.chain, chains, golden_dir=g.dir if g else "golden")
    if not verdict.passed and g is not None and g.error:
        return Verdict.fail(f"{verdict.message}; the golden fixtures are invalid: {g.error}", **verdict.properties)
    return verdict


__all__ = [
    "chains_needing_golden",
    "evaluate_coverage",
    "evaluate_golden",
    "golden_coverage",
    "golden_entity",
    "golden_l1",
]
