"""L1 window audits: pure planning and verdicts, no I/O, no pytest.

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

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from belt_gate.errors import SettingsError
from belt_gate.golden import EventAbi, parse_event
from belt_gate.rules.verdict import Verdict

DEFAULT_WINDOWS = 3
DEFAULT_WIDTH = 1000
DEFAULT_BLOCK_FIELD = "blockNumber"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = frozenset({"chain", "address", "event", "entity", "block_field", "windows", "width", "start_block"})


@dataclass(frozen=True)
class AuditPair:
    """One (contract address(es), event) whose logs become rows of `entity` on `chain`."""

    chain: int
    addresses: tuple[str, ...]  # lowercase
    event: EventAbi
    entity: str


@dataclass(frozen=True)
class AuditSpec:
    """Everything audited for one entity on one chain (all its pairs are counted together)."""

    chain: int
    entity: str
    pairs: tuple[AuditPair, ...]
    windows: int = DEFAULT_WINDOWS
    width: int = DEFAULT_WIDTH
    block_field: str = DEFAULT_BLOCK_FIELD
    start_block: int = 0

    def key(self, index: int) -> str:
        return f"{self.entity}#w{index}"

    @property
    def ids(self) -> tuple[tuple[int, str], ...]:
        return tuple((self.chain, self.key(i)) for i in range(self.windows))


@dataclass(frozen=True)
class Window:
    index: int
    from_block: int
    to_block: int  # inclusive

    def __str__(self) -> str:
        return f"blocks {self.from_block}..{self.to_block}"


def _int(raw: Mapping[str, Any], key: str, where: str, default: int | None = None, minimum: int = 0) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SettingsError(f"{where}: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def parse_audits(raw: Sequence[Mapping[str, Any]], *, source: str = "[[audit]]") -> tuple[AuditSpec, ...]:
    """Validate `[[audit]]` tables: chain, address (one or a list), event (signature or ABI fragment),
    entity; optional block_field (default blockNumber), windows (K, default 3), width (blocks, default
    1000), start_block (default 0). Pairs of the same (chain, entity) are grouped; their windows and
    width must agree."""
    grouped: dict[tuple[int, str], list[tuple[AuditPair, int, int, str, int]]] = {}
    for n, table in enumerate(raw, 1):
        where = f"{source} {n}"
        if not isinstance(table, Mapping):
            raise SettingsError(f"{where}: must be a table")
        unknown = sorted(str(k) for k in table if k not in _KEYS)
        if unknown:
            raise SettingsError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
        chain = _int(table, "chain", where)
        address = table.get("address")
        addresses = (address,) if isinstance(address, str) else address
        if (
            not isinstance(addresses, list | tuple)
            or not addresses
            or not all(isinstance(a, str) and _ADDRESS.match(a) for a in addresses)
        ):
            raise SettingsError(f"{where}: address must be a 0x-hex contract address or a list of them")
        try:
            event = parse_event(table.get("event"))  # type: ignore[arg-type]
        except ValueError as exc:
            raise SettingsError(f"{where}: event: {exc}") from None
        if event.topic0 is None:
            raise SettingsError(f"{where}: event: an anonymous event cannot be counted by topic0")
        entity = table.get("entity")
        if not isinstance(entity, str) or not _IDENT.match(entity):
            raise SettingsError(f"{where}: entity must be an entity name, got {entity!r}")
        block_field = table.get("block_field", DEFAULT_BLOCK_FIELD)
        if not isinstance(block_field, str) or not _IDENT.match(block_field):
            raise SettingsError(f"{where}: block_field must be a field name, got {block_field!r}")
        windows = _int(table, "windows", where, DEFAULT_WINDOWS, 1)
        width = _int(table, "width", where, DEFAULT_WIDTH, 1)
        start = _int(table, "start_block", where, 0)
        pair = AuditPair(chain, tuple(sorted(a.lower() for a in addresses)), event, entity)
        grouped.setdefault((chain, entity), []).append((pair, windows, width, block_field, start))
    specs = []
    for (chain, entity), items in sorted(grouped.items()):
        shapes = {(w, wd, bf) for _, w, wd, bf, _ in items}
        if len(shapes) > 1:
            raise SettingsError(
                f"{source}: {entity} on chain {chain}: windows, width and block_field must"
                " agree between its audit tables"
            )
        windows, width, block_field = shapes.pop()
        specs.append(
            AuditSpec(
                chain, entity, tuple(p for p, *_ in items), windows, width, block_field, min(s for *_, s in items)
            )
        )
    return tuple(specs)


def audit_ids(specs: Iterable[AuditSpec]) -> list[tuple[int, str]]:
    """(chain, "Entity#wI") per window: known offline, so collection never needs the network."""
    return [i for spec in specs for i in spec.ids]


def choose_windows(
    seed: int | str,
    spec_or_chain: AuditSpec | int,
    entity: str = "",
    *,
    cutoff: int,
    start_block: int = 0,
    k: int = DEFAULT_WINDOWS,
    width: int = DEFAULT_WIDTH,
) -> tuple[Window, ...]:
    """K windows in [start_block, cutoff], deterministic for (seed, chain, entity, start, cutoff, k, width).

    Stratified: slice i of K equal slices holds window i (never overlapping when the span has >= K
    blocks); each window is `width` blocks or the slice, whichever is smaller. Every window ends at or
    below `cutoff`. Empty when cutoff < start_block (nothing to audit: the verdict fails)."""
    if isinstance(spec_or_chain, AuditSpec):
        spec = spec_or_chain
        chain, entity, start_block, k, width = spec.chain, spec.entity, spec.start_block, spec.windows, spec.width
    else:
        chain = spec_or_chain
    if k < 1 or width < 1:
        raise ValueError("k and width must be >= 1")
    lo = max(0, start_block)
    if cutoff < lo:
        return ()
    span = cutoff - lo + 1
    rng = random.Random(f"belt-gate-audit:{seed}:{chain}:{entity}:{lo}:{cutoff}:{k}:{width}")
    out = []
    for i in range(k):
        s_lo = lo + (i * span) // k
        s_hi = lo + ((i + 1) * span) // k - 1
        if s_hi < s_lo:  # fewer blocks than windows: single blocks, repeating
            s_lo = s_hi = lo + (i % span)
        w = min(width, s_hi - s_lo + 1)
        start = rng.randint(s_lo, s_hi - w + 1)
        out.append(Window(i, start, start + w - 1))
    return tuple(out)


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def audit_window(
    spec: AuditSpec,
    window: Window | None,
    l1_counts: Sequence[object] | None,
    belt_count: object,
    *,
    l1_endpoint: str,
    belt: str,
    belt_endpoint: str,
    l1_witness: bool,
    seed: int | str = "",
    cutoff: int | None = None,
    l1_error: str | None = None,
    belt_error: str | None = None,
) -> Verdict:
    """L1 log count (summed over the spec's pairs, in pair order) == belt's entity count in `window`.

    `l1_witness`: did this L1 endpoint return at least one log for this chain in this run (see module
    doc)? `window` None means no window could be chosen (cutoff below start_block)."""
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


__all__ = [
    "AuditPair",
    "AuditSpec",
    "Window",
    "audit_ids",
    "audit_window",
    "choose_windows",
    "parse_audits",
    "witnessed",
]
