"""Window audits as settings: `[[audit]]` tables -> validated `AuditSpec`s, and where their windows lie.

Parsed once, by `settings.build_settings` (a bad table is one SettingsError line); the snapshot carries
the specs' windows and `rules/audit.py` judges them. Pure: no I/O.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from belt_gate.errors import SettingsError
from belt_gate.golden import EventAbi, parse_event

DEFAULT_WINDOWS = 3
DEFAULT_WIDTH = 1000
DEFAULT_BLOCK_FIELD = "blockNumber"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = frozenset({"chain", "address", "event", "entity", "block_field", "windows", "width", "start_block"})


def _json_int(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"an audit spec's {key} is {value!r:.40}, not an integer")
    return value


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
        """The id of window `index` of this audit (`Entity#wI`), its key in the snapshot and in the case id."""
        return f"{self.entity}#w{index}"

    def to_json(self) -> dict[str, Any]:
        """The form the snapshot carries to the workers (read back by `from_json`, not parsed again)."""
        return {
            "chain": self.chain,
            "entity": self.entity,
            "pairs": [{"addresses": list(p.addresses), "event": p.event.to_json()} for p in self.pairs],
            "windows": self.windows,
            "width": self.width,
            "block_field": self.block_field,
            "start_block": self.start_block,
        }

    @classmethod
    def from_json(cls, doc: Any) -> AuditSpec:
        """`to_json`'s form; anything else raises ValueError (the snapshot is then could-not-check)."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("pairs"), list):
            raise ValueError(f"an audit spec is not an object with pairs: {doc!r:.80}")
        chain, entity, block_field = _json_int(doc, "chain"), doc.get("entity"), doc.get("block_field")
        if not isinstance(entity, str) or not isinstance(block_field, str):
            raise ValueError(f"an audit spec has no entity or block_field: {doc!r:.80}")
        pairs = []
        for p in doc["pairs"]:
            addresses = p.get("addresses") if isinstance(p, Mapping) else None
            if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
                raise ValueError(f"an audit pair has no address list: {p!r:.80}")
            pairs.append(AuditPair(chain, tuple(addresses), EventAbi.from_json(p.get("event")), entity))
        windows, width, start = (_json_int(doc, k) for k in ("windows", "width", "start_block"))
        return cls(chain, entity, tuple(pairs), windows, width, block_field, start)

    @property
    def ids(self) -> tuple[tuple[int, str], ...]:
        """(chain, window key) of every window this audit plans, in window order."""
        return tuple((self.chain, self.key(i)) for i in range(self.windows))


@dataclass(frozen=True)
class Window:
    """One audit window placed on the chain: its index and its block range, both ends inclusive."""

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


def plan_windows(
    specs: Sequence[AuditSpec], seed: int | str, cutoffs: Mapping[int, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per window key "chain:Entity#wI": the chosen window ([index, from, to], or None) and the cutoff
    it lies below (None, with the reason, when the chain has no cutoff block)."""
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        cut = cutoffs.get(spec.chain) or {}
        cutoff = cut.get("block")
        windows: tuple[Window, ...] = ()
        if isinstance(cutoff, int):
            windows = choose_windows(seed, spec, cutoff=cutoff)
        for i in range(spec.windows):
            w = windows[i] if i < len(windows) else None
            out[f"{spec.chain}:{spec.key(i)}"] = {
                "chain": spec.chain,
                "entity": spec.entity,
                "cutoff": cutoff,
                "cutoff_reason": None
                if isinstance(cutoff, int)
                else str(cut.get("error") or f"no cutoff for chain {spec.chain}"),
                "window": None if w is None else [w.index, w.from_block, w.to_block],
            }
    return out


__all__ = [
    "DEFAULT_BLOCK_FIELD",
    "DEFAULT_WIDTH",
    "DEFAULT_WINDOWS",
    "AuditPair",
    "AuditSpec",
    "Window",
    "audit_ids",
    "choose_windows",
    "parse_audits",
    "plan_windows",
]
