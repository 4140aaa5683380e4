"""The sync progress model: where each belt stands on each chain, how fast it moves, when it will be done.

Pure where it can be: `Tracker.observe` turns reads (belt_gate.sources.progress) into `ChainStatus`es,
keeping a short history per belt and chain; `Watcher` does the reading (through sources/) and is what the
`status`, `dashboard` and `wait` commands drive.

Definitions (per belt and chain):
- head: the chain's head from its RPC when one is configured for that chain (`head_source` "rpc"), else the
  belt's own `block_height` / `sourceBlock` ("belt": the belt's view of the chain, which can be stale).
  An RPC that is configured but fails gives no head: never a silent fallback to the belt's view.
- target: the head, or the chain's end block when that is lower. remaining = max(target - processed, 0).
- percent: (processed - start) / max(target - start, 1), clamped to [0, 100].
- fetched ahead: max(min(fetched, target) - processed, 0) (Envio fetches ahead and commits in batches).
- rate (blocks/s): of the leading edge, max(processed, fetched), over the last `window` seconds, so a belt
  that commits in batches still reads as moving while it fetches.
- ETA (s): remaining / closing rate, where the closing rate is the committed rate (processed over the
  window; the leading edge's when nothing committed inside the window) minus the head's own growth. No ETA
  when nothing closes the gap (a stalled belt, or a chain growing faster than it is indexed).
- state: "synced" (remaining <= within), "syncing" (moved inside the window), "stalled" (behind, and no
  movement for `stall_after` seconds), "waiting" (behind, history too short to say), "unknown" (a number
  needed is null, or the head is unknown), "error" (processed above the chain's head from its RPC).
  A belt that cannot be read is "dead" or "error" as a whole; its last good numbers are kept but marked
  stale with their age, never shown as current.

Freshness never relies on `timestamp_caught_up_to_head_or_endblock` (written once): only movement and the
distance to the head count.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from belt_gate.sources.progress import BeltRead, BeltReader, ChainRow, HeadRead

FORMAT = "belt-gate-status/1"
DEFAULT_WITHIN = 10
DEFAULT_WINDOW = 60.0
DEFAULT_STALL_AFTER = 30.0
CHAIN_NAMES = {
    1: "Ethereum",
    10: "Optimism",
    8453: "Base",
    42161: "Arbitrum",
    80094: "Berachain",
    7777777: "Zora",
}


@dataclass(frozen=True)
class Point:
    """One good sample of one chain: wall-clock time, processed block, leading edge, head."""

    at: float
    processed: int
    edge: int
    head: int | None


def _slope(points: Sequence[Point], attr: str) -> float | None:
    if len(points) < 2 or points[-1].at <= points[0].at:
        return None
    first, last = getattr(points[0], attr), getattr(points[-1], attr)
    if first is None or last is None:
        return None
    return float(last - first) / (points[-1].at - points[0].at)


@dataclass(frozen=True)
class Rates:
    """Blocks per second over the window: the leading edge, committed progress, and the head itself."""

    edge: float | None
    committed: float | None
    head: float | None

    @classmethod
    def of(cls, points: Sequence[Point]) -> Rates:
        """The rates over `points` (oldest first); a rate is None with fewer than two points or no time between them."""
        return cls(_slope(points, "edge"), _slope(points, "processed"), _slope(points, "head"))

    def closing(self) -> float | None:
        """How fast the gap to the head closes (None: not enough history)."""
        if self.committed is None:
            return None
        progress = self.committed if self.committed > 0 else (self.edge or 0.0)
        return progress - max(self.head or 0.0, 0.0)


def eta_seconds(remaining: int, rates: Rates) -> float | None:
    """Seconds until `remaining` blocks are processed; 0 when none remain; None when nothing closes the gap."""
    if remaining <= 0:
        return 0.0
    closing = rates.closing()
    if closing is None or closing <= 0:
        return None
    return remaining / closing


@dataclass(frozen=True)
class ChainStatus:
    """One chain of one belt, as of `read_at`. Numbers are None where unknown."""

    chain_id: int
    processed: int | None
    fetched: int | None
    head: int | None
    head_source: str  # "rpc" | "belt"
    belt_head: int | None
    start: int
    end: int | None
    target: int | None
    percent: float | None
    fetched_percent: float | None
    remaining: int | None
    fetched_ahead: int | None
    events: int | None
    rate: float | None
    committed_rate: float | None
    eta: float | None
    state: str
    note: str | None
    read_at: float
    stale: bool = False
    moved_at: float | None = None

    @property
    def name(self) -> str:
        """The chain's common name (Ethereum, Base, ...), else its id as text."""
        return CHAIN_NAMES.get(self.chain_id, str(self.chain_id))

    def within(self, blocks: int) -> bool:
        """Synced: at most `blocks` behind its head (or end block), read just now and without error; unknown is never
        within."""
        return self.remaining is not None and not self.stale and self.state != "error" and self.remaining <= blocks

    def to_json(self, now: float) -> dict[str, Any]:
        """The JSON the dashboard and `status --json` show: rates and percentages rounded, and the read's age
        at `now`."""
        return {
            "chain": self.chain_id,
            "name": self.name,
            "processed": self.processed,
            "fetched": self.fetched,
            "head": self.head,
            "head_source": self.head_source,
            "belt_head": self.belt_head,
            "start": self.start,
            "end": self.end,
            "target": self.target,
            "percent": None if self.percent is None else round(self.percent, 3),
            "fetched_percent": None if self.fetched_percent is None else round(self.fetched_percent, 3),
            "remaining": self.remaining,
            "fetched_ahead": self.fetched_ahead,
            "events": self.events,
            "rate": None if self.rate is None else round(self.rate, 3),
            "committed_rate": None if self.committed_rate is None else round(self.committed_rate, 3),
            "eta_seconds": None if self.eta is None else round(self.eta, 1),
            "state": self.state,
            "note": self.note,
            "stale": self.stale,
            "read_at": self.read_at,
            "age_seconds": round(max(now - self.read_at, 0.0), 1),
        }


def _pct(value: int | None, start: int, target: int | None) -> float | None:
    if value is None or target is None:
        return None
    return min(max((value - start) / max(target - start, 1) * 100.0, 0.0), 100.0)


def chain_status(
    row: ChainRow,
    head_read: HeadRead | None,
    at: float,
    points: Sequence[Point],
    *,
    within: int,
    stall_after: float,
    moved_at: float | None,
    first_seen: float | None = None,
) -> ChainStatus:
    """One chain's status from its row, its RPC head (None: no RPC for it) and its history (oldest first,
    this read last); `moved_at` when its leading edge last moved, `first_seen` when it was first read."""
    note = None
    if head_read is not None:
        head, source = head_read.head, "rpc"
        if head_read.failure is not None:
            note = f"chain head unknown: {head_read.failure.message}"
    else:
        head, source = row.belt_head, "belt"
    start = max(row.start or 0, 0)
    processed = row.processed if row.processed is None or row.processed >= 0 else None  # Envio seeds -1
    target = head if row.end is None or head is None else min(head, row.end)
    remaining = None if processed is None or target is None else max(target - processed, 0)
    fetched = row.fetched if row.fetched is None or row.fetched >= 0 else None
    ahead = None
    if fetched is not None and processed is not None:
        ahead = max((fetched if target is None else min(fetched, target)) - processed, 0)
    rates = Rates.of(points)
    eta = None if remaining is None else eta_seconds(remaining, rates)
    if note is not None or target is None:
        state, note = "unknown", note or "chain head unknown: the belt's block_height/sourceBlock is null"
    elif processed is None:
        state, note = "unknown", "processed block is null (not started?)"
    elif source == "rpc" and processed > (head or 0):
        state, note = "error", f"processed block {processed} is above the chain head {head}"
    elif remaining is not None and remaining <= within:
        state = "synced"
    elif moved_at is not None and at - moved_at < stall_after and len(points) >= 2:
        state = "syncing"
    elif at - (moved_at if moved_at is not None else first_seen if first_seen is not None else at) >= stall_after:
        state = "stalled"
    else:
        state = "waiting"
    if state == "stalled":
        eta = None  # an average over the window would promise progress that stopped
    return ChainStatus(
        chain_id=row.chain_id,
        processed=processed,
        fetched=fetched,
        head=head,
        head_source=source,
        belt_head=row.belt_head,
        start=start,
        end=row.end,
        target=target,
        percent=_pct(processed, start, target),
        fetched_percent=_pct(None if fetched is None else max(fetched, processed or 0), start, target),
        remaining=remaining,
        fetched_ahead=ahead,
        events=row.events,
        rate=rates.edge,
        committed_rate=rates.committed,
        eta=eta,
        state=state,
        note=note,
        read_at=at,
        moved_at=moved_at,
    )


@dataclass(frozen=True)
class BeltStatus:
    """One belt as of its last read: `state` ok / dead / error; chains are stale when the read failed."""

    name: str
    endpoint: str
    state: str
    source: str | None
    read_at: float
    chains: tuple[ChainStatus, ...]
    message: str | None = None
    last_good_at: float | None = None

    def ready(self, within: int) -> bool:
        """Every chain within `within` blocks of its head (or end block), read just now."""
        return self.state == "ok" and bool(self.chains) and all(c.within(within) for c in self.chains)

    def behind(self, within: int) -> list[ChainStatus]:
        """The chains not within `within` blocks of their head (what `wait` names at its timeout)."""
        return [c for c in self.chains if not c.within(within)]

    def to_json(self, now: float, within: int) -> dict[str, Any]:
        """The belt as JSON at `now`: its state, the read's age, whether it is ready and how many chains are synced."""
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "state": self.state,
            "message": self.message,
            "source": self.source,
            "read_at": self.read_at,
            "age_seconds": round(max(now - self.read_at, 0.0), 1),
            "last_good_at": self.last_good_at,
            "ready": self.ready(within),
            "synced_chains": sum(1 for c in self.chains if c.within(within)),
            "chains": [c.to_json(now) for c in self.chains],
        }


@dataclass
class Tracker:
    """History per (belt, chain) and the last good status per belt: reads in, statuses out."""

    within: int = DEFAULT_WITHIN
    window: float = DEFAULT_WINDOW
    stall_after: float = DEFAULT_STALL_AFTER
    _points: dict[tuple[str, int], deque[Point]] = field(default_factory=dict)
    _moved: dict[tuple[str, int], float] = field(default_factory=dict)
    _seen: dict[tuple[str, int], float] = field(default_factory=dict)
    _last_good: dict[str, BeltStatus] = field(default_factory=dict)

    def observe(self, read: BeltRead, heads: Mapping[int, HeadRead]) -> BeltStatus:
        """This read's status: a failed read keeps the last good chains, marked stale with no rate or ETA; a good one
        adds a point to each chain's history and is kept as the last good."""
        if read.failure is not None:
            last = self._last_good.get(read.name)
            stale = tuple(replace(c, stale=True, rate=None, eta=None) for c in last.chains) if last else ()
            return BeltStatus(
                read.name,
                read.endpoint,
                read.failure.kind,
                last.source if last else None,
                read.at,
                stale,
                read.failure.message,
                last.read_at if last else None,
            )
        chains = []
        for row in read.rows:
            key = (read.name, row.chain_id)
            chains.append(self._chain(key, row, heads.get(row.chain_id), read.at))
        status = BeltStatus(read.name, read.endpoint, "ok", read.source, read.at, tuple(chains), None, read.at)
        self._last_good[read.name] = status
        return status

    def _chain(self, key: tuple[str, int], row: ChainRow, head: HeadRead | None, at: float) -> ChainStatus:
        points = self._points.setdefault(key, deque())
        self._seen.setdefault(key, at)
        head_value = row.belt_head if head is None else head.head
        processed = row.processed if row.processed is not None and row.processed >= 0 else None
        if processed is not None:
            edge = max(processed, row.fetched or 0)
            if points and (points[-1].processed, points[-1].edge) != (processed, edge):
                self._moved[key] = at
            points.append(Point(at, processed, edge, head_value))
            while len(points) > 2 and points[0].at < at - self.window:
                points.popleft()
        return chain_status(
            row,
            head,
            at,
            list(points) if processed is not None else [],
            within=self.within,
            stall_after=self.stall_after,
            moved_at=self._moved.get(key),
            first_seen=self._seen[key],
        )


@dataclass(frozen=True)
class BeltSpec:
    """A belt to watch: its name, URL and headers (the admin secret, never shown)."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Report:
    """One round of reads over every belt, at `at`."""

    at: float
    within: int
    belts: tuple[BeltStatus, ...]

    def belt(self, name: str) -> BeltStatus | None:
        """The status of the belt named `name`, None when it was not watched."""
        return next((b for b in self.belts if b.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The whole round as JSON (`format`, time, tolerance, belts), every string redacted: what leaves the
        process."""
        from belt_gate.redact import redact_json

        doc = {
            "format": FORMAT,
            "at": self.at,
            "within": self.within,
            "belts": [b.to_json(self.at, self.within) for b in self.belts],
        }
        redacted: dict[str, Any] = redact_json(doc)
        return redacted


class Watcher:
    """Reads every belt and every configured chain head each `poll()`; keeps the tracker's history."""

    def __init__(
        self,
        belts: Sequence[BeltSpec],
        rpc: Mapping[int, str],
        *,
        within: int = DEFAULT_WITHIN,
        window: float = DEFAULT_WINDOW,
        stall_after: float = DEFAULT_STALL_AFTER,
        timeout: float = 10.0,
    ) -> None:
        from belt_gate.sources.progress import HeadReader

        self.readers = [BeltReader(b.name, b.url, b.headers, timeout=timeout) for b in belts]
        self.heads = [HeadReader(c, url, timeout) for c, url in sorted(rpc.items())]
        self.timeout = timeout
        self.tracker = Tracker(within=within, window=window, stall_after=stall_after)

    @property
    def within(self) -> int:
        """The head tolerance (blocks) the statuses are judged with."""
        return self.tracker.within

    async def poll(self) -> Report:
        """Read every belt and every chain head once, concurrently, and return their statuses with the tracker's history
        applied."""
        from belt_gate.sources.progress import read_all

        reads, heads = await read_all(self.readers, self.heads)
        statuses = tuple(self.tracker.observe(r, heads) for r in reads)
        return Report(time.time(), self.tracker.within, statuses)

    async def aclose(self) -> None:
        """Close every kept-alive connection (call it from the loop that polled)."""
        for reader in self.readers:
            await reader.aclose()
        for head in self.heads:
            head.close()


__all__ = [
    "CHAIN_NAMES",
    "FORMAT",
    "BeltSpec",
    "BeltStatus",
    "ChainStatus",
    "Point",
    "Rates",
    "Report",
    "Tracker",
    "Watcher",
    "chain_status",
    "eta_seconds",
]
