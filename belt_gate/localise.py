"""Where counts differ, say where: bisect a failing slice to small windows, then diff the rows there.

The snapshot's second phase (issue 14), on the controller only, after fingerprints and samples. For every
(entity, chain) slice whose counts rule fails, the slice's axis range is split in halves; each half's count
and fingerprint (the same `AggregateAsk` the snapshot's fingerprint request uses, so the same sums, mins
and maxes) is asked of both belts. Halves that agree are dropped, halves that differ are split again, until
a window holds at most FINAL_ROWS rows on either belt (or is a single axis value); those windows are then
paged on both belts and their rows diffed by id. Every open window of every failing slice is asked in ONE
request per belt per round, so a run costs about log2(rows / FINAL_ROWS) rounds plus one page round.

Axes (data-diff bisects keys; indexers are bisected on blocks, anchors.md §3.3): reconciliation A on the block
number, B on the timestamp, C on the id (string ranges, split at a string midpoint).

Why windows end by rows, not by a fixed number of blocks: a fixed width W over-splits a sparse chain (rounds
spent narrowing empty blocks) and under-splits a dense one (a W-block window can hold 10^5 rows to page).
A window is final when one page reads it whole; each differing row then carries its own block number.

The planner (`Bisection`) and the diff (`diff_rows`) are pure; `run` only drives them through the belt
sources (sources/ does the I/O). `--belt-localise-budget` bounds requests per belt and seconds; when it is
spent the narrowest windows found are reported. Results go into `snapshot["localised"][label]` (shape in
`run`), the counts failure text (rules/localised.py) and `--belt-store-failures` (`store_failures`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from belt_gate.dialect import shared_columns
from belt_gate.envio import Reconciliation
from belt_gate.errors import BeltGateError, SettingsError
from belt_gate.numbers import Tolerance, same_value
from belt_gate.redact import redact_json, redact_text
from belt_gate.sources.graphql import AggregateAsk, Condition, Numeric, RowsAsk

if TYPE_CHECKING:
    from belt_gate.dialect import Dialect
    from belt_gate.plan import EntityPlan
    from belt_gate.sources.recorded import BeltSource

FINAL_ROWS = 250  # a window with at most this many rows on both belts is paged, not split
PAGE_ROWS = 1000  # rows per page (under the row limits Hasura roles commonly carry)
MAX_OPEN = 16  # differing windows followed per slice; more are reported as narrowest windows
MAX_SLICES = 50  # failing slices localised per run
MAX_FOUND = 100  # rows of each kind kept per slice (snapshot, certificate); the totals are kept too

AxisValue = int | str


# ---------------------------------------------------------------------------------------------------
# the budget


@dataclass(frozen=True)
class Budget:
    """Requests per belt and seconds the whole localisation may spend (None: no limit of that kind)."""

    requests: int | None = 64
    seconds: float | None = 60.0

    @property
    def off(self) -> bool:
        """True when localisation is switched off (a budget of 0 requests or 0 seconds): the failure text then says
        nothing was localised."""
        return self.requests == 0 or self.seconds == 0

    def describe(self) -> str:
        """The budget as a reader sees it in a partial localisation's reason, e.g. "64 requests per belt and 60 s"."""
        parts = []
        if self.requests is not None:
            parts.append(f"{self.requests} requests per belt")
        if self.seconds is not None:
            parts.append(f"{self.seconds:g} s")
        return " and ".join(parts) or "no limit"


_BUDGET_ITEM = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>s|r|requests)?")


def parse_budget(value: Any) -> Budget:
    """`--belt-localise-budget`: `REQUESTS`, `SECONDSs` or both (`64,30s`); `0` turns localisation off."""
    if value is None or value == "":
        return Budget()
    if isinstance(value, bool):
        raise SettingsError(f"--belt-localise-budget: {value!r} is not a budget")
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise SettingsError(f"--belt-localise-budget: {value!r} is not a budget")
    requests: int | None = None
    seconds: float | None = None
    for part in (p.strip() for p in value.split(",")):
        m = _BUDGET_ITEM.fullmatch(part)
        if not m or (m.group("unit") != "s" and "." in m.group("n")):
            raise SettingsError(
                f"--belt-localise-budget: {part!r} is not REQUESTS or SECONDSs (e.g. 64,30s; 0 turns it off)"
            )
        if m.group("unit") == "s":
            seconds = float(m.group("n"))
        else:
            requests = int(m.group("n"))
    default = Budget()
    return Budget(
        requests if requests is not None else default.requests, seconds if seconds is not None else default.seconds
    )


# ---------------------------------------------------------------------------------------------------
# ranges on an axis (pure)


@dataclass(frozen=True)
class Span:
    """A closed range [lo, hi] on the axis; for string axes `lo_open` makes it (lo, hi]."""

    lo: AxisValue
    hi: AxisValue
    lo_open: bool = False

    def to_json(self) -> dict[str, Any]:
        """The span for the certificate: `lo`, `hi`, and `lo_open` only when the lower bound is excluded."""
        out: dict[str, Any] = {"lo": self.lo, "hi": self.hi}
        if self.lo_open:
            out["lo_open"] = True
        return out

    def text(self, axis: str) -> str:
        """'blockNumber [10..20]', or '(lo..hi]' for an open string span (as rules/localised.py writes it)."""
        return f"{axis} {'(' if self.lo_open else '['}{self.lo}..{self.hi}]"


def string_between(lo: str, hi: str, lo_open: bool) -> str | None:
    """A string m with lo <= m < hi (lo < m when `lo_open`), near the middle of the range in code-point
    order; None when there is none. A belt that orders ids by a collation other than code points still
    gets a correct partition (the halves are `id <= m` and `id > m` in its own order); at worst one half
    is empty, which `Bisection` treats as no progress."""
    if lo >= hi:
        return None
    p = 0
    while p < min(len(lo), len(hi)) and lo[p] == hi[p]:
        p += 1
    base = 0x80 if (lo + hi).isascii() else 0x110000
    for extra in (1, 2, 3):
        n = max(len(lo), len(hi)) - p + extra
        digits_lo = [ord(c) for c in lo[p:]] + [0] * (n - len(lo) + p)
        digits_hi = [ord(c) for c in hi[p:]] + [0] * (n - len(hi) + p)
        a = b = 0
        for x, y in zip(digits_lo, digits_hi, strict=True):
            a, b = a * base + x, b * base + y
        m = (a + b) // 2
        out: list[str] = []
        for _ in range(n):
            m, d = divmod(m, base)
            out.append(chr(d))
        text = "".join(reversed(out)).rstrip("\x00")
        if "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            continue
        s = lo[:p] + text
        if (lo < s if lo_open else lo <= s) and s < hi:
            return s
    return None if lo_open else lo  # [lo, lo] and (lo, hi]: still one key fewer in each half


def split(span: Span) -> tuple[Span, Span] | None:
    """The two halves of a span, or None when it is one axis value (or no string lies inside it)."""
    if isinstance(span.lo, int) and isinstance(span.hi, int):
        if span.lo >= span.hi:
            return None
        m = (span.lo + span.hi) // 2
        return Span(span.lo, m), Span(m + 1, span.hi)
    m_s = string_between(str(span.lo), str(span.hi), span.lo_open)
    if m_s is None:
        return None
    return Span(span.lo, m_s, span.lo_open), Span(m_s, span.hi, True)


def _flat(raw: Any) -> dict[str, Any] | None:
    agg = raw.get("aggregate") if isinstance(raw, Mapping) else None
    if not isinstance(agg, Mapping):
        return None
    out: dict[str, Any] = {"count": agg.get("count")}
    for part in ("sum", "min", "max"):
        values = agg.get(part)
        if isinstance(values, Mapping):
            out.update({f"{part}.{k}": v for k, v in values.items()})
    return out


def count_of(raw: Any) -> int | None:
    """The row count in one aggregate fingerprint (None when the answer has none, or it is not an integer), so that a
    malformed answer is never read as 0 rows."""
    flat = _flat(raw)
    value = flat.get("count") if flat else None
    if isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def same_fingerprint(blue: Any, green: Any) -> bool:
    """Count and every sum/min/max both belts answered are equal (a malformed answer is never equal)."""
    b, g = _flat(blue), _flat(green)
    if b is None or g is None or count_of(blue) is None or count_of(green) is None:
        return False
    return all(same_value(b.get(k), g.get(k)) for k in set(b) | set(g))


@dataclass
class Window:
    """A span with both belts' fingerprints of it."""

    span: Span
    blue: Any
    green: Any

    @property
    def rows(self) -> int:
        """The larger of the belts' row counts in this window: what paging it would cost."""
        return max(count_of(self.blue) or 0, count_of(self.green) or 0)

    def to_json(self) -> dict[str, Any]:
        """The window for the certificate: its span and both belts' row counts."""
        return {**self.span.to_json(), "blue": count_of(self.blue), "green": count_of(self.green)}


@dataclass
class Bisection:
    """The pure planner of one slice: given the fingerprints of the last round's halves, the next ones.

    `open`: differing windows still too large to page; `final`: differing windows to page; `narrowest`:
    differing windows left unexplored (over MAX_OPEN, or the budget ended); `unexplained`: windows that
    differed while neither half did (rows outside the axis, e.g. a null timestamp, or a belt that moved).
    """

    open: list[Window]
    final: list[Window] = field(default_factory=list)
    narrowest: list[Window] = field(default_factory=list)
    unexplained: list[Window] = field(default_factory=list)
    pending: list[tuple[Window, Span, Span]] = field(default_factory=list)
    rounds: int = 0

    @classmethod
    def start(cls, root: Span, blue: Any, green: Any) -> Bisection:
        """A bisection whose first window is the whole slice, placed as any later window is (open, final or
        agreeing)."""
        b = cls([])
        b._place(Window(root, blue, green))
        return b

    def _place(self, w: Window) -> None:
        if w.rows <= FINAL_ROWS or split(w.span) is None:
            self.final.append(w)
        else:
            self.open.append(w)

    def next_spans(self) -> list[Span]:
        """Both halves of every open window (the asks of the next round); the window moves to pending."""
        self.pending = []
        out: list[Span] = []
        for w in self.open:
            halves = split(w.span)
            assert halves is not None  # _place keeps unsplittable windows out of `open`
            self.pending.append((w, *halves))
            out.extend(halves)
        self.open = []
        return out

    def record(self, answers: Mapping[Span, tuple[Any, Any]]) -> None:
        """Both belts' fingerprints of every pending half: differing halves stay, agreeing ones go."""
        self.rounds += 1
        for parent, *halves in self.pending:
            differing = [Window(s, *answers[s]) for s in halves if not same_fingerprint(*answers[s])]
            if not differing:
                self.unexplained.append(parent)
            for w in differing:
                self._place(w)
        self.pending = []
        if len(self.open) > MAX_OPEN:
            self.open.sort(key=lambda w: _order_key(w.span.lo))
            self.narrowest.extend(self.open[MAX_OPEN:])
            self.open = self.open[:MAX_OPEN]

    def stop(self) -> None:
        """The budget ended: every open window is as narrow as it will get."""
        self.narrowest.extend(self.open)
        self.open = []


def _order_key(v: AxisValue) -> tuple[int, int, str]:
    return (0, v, "") if isinstance(v, int) else (1, 0, v)


# ---------------------------------------------------------------------------------------------------
# the row diff (pure)


@dataclass
class Diff:
    """The rows that tell two belts apart in the paged windows: ids only one belt holds, and fields that differ."""

    only_blue: list[dict[str, Any]] = field(default_factory=list)
    only_green: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)  # {id, field, blue, green}


def diff_rows(
    blue_rows: Iterable[Mapping[str, Any]], green_rows: Iterable[Mapping[str, Any]], columns: Sequence[str]
) -> Diff:
    """Rows by id: ids only in blue, only in green, and for ids in both every column that differs."""
    blue = {str(r.get("id")): r for r in blue_rows}
    green = {str(r.get("id")): r for r in green_rows}
    out = Diff()
    for rid in sorted(blue.keys() | green.keys()):
        b, g = blue.get(rid), green.get(rid)
        if g is None and b is not None:
            out.only_blue.append(dict(b))
        elif b is None and g is not None:
            out.only_green.append(dict(g))
        elif b is not None and g is not None:
            for col in columns:
                if col in b and col in g and not same_value(b[col], g[col]):
                    out.changed.append({"id": rid, "field": col, "blue": b[col], "green": g[col]})
    return out


# ---------------------------------------------------------------------------------------------------
# which slices, on which axis


class _Settings(Protocol):
    """What localisation reads of `settings.Settings` (a Protocol, so this module needs no settings import)."""

    @property
    def mode(self) -> str: ...
    @property
    def growing_chains(self) -> tuple[int, ...]: ...
    @property
    def localise_budget(self) -> Budget | None: ...

    def tolerance(self, name: str) -> Tolerance: ...


class _Belt(Protocol):
    name: str
    source: BeltSource
    dialect: Dialect | None


class _Plan(Protocol):
    label: str
    chain: int | None
    conditions: tuple[Condition, ...]
    error: str | None
    new_chain: bool

    @property
    def entity(self) -> EntityPlan: ...


def _axis(entity: EntityPlan) -> str | None:
    if entity.reconciliation == Reconciliation.AT_BLOCK:
        return entity.block_column
    if entity.reconciliation == Reconciliation.AT_TIMESTAMP:
        return entity.timestamp_column
    return "id"


def differs(settings: _Settings, plan: _Plan, entry: Mapping[str, Any]) -> bool:
    """Both belts answered this slice's fingerprint and the counts rule will find a difference in it:
    counts apart by more than the tolerance (in expansion where green may grow: rows lost), or, when exact,
    any sum/min/max apart. Errors, absent tables and malformed answers are the rule's, not localised."""
    if plan.error or plan.new_chain or entry.get("error") or entry.get("new_chain"):
        return False
    if any(entry.get(k) for k in ("blue_error", "green_error", "blue_absent", "green_absent")):
        return False
    b, g = entry.get("blue"), entry.get("green")
    cb, cg = count_of(b), count_of(g)
    if cb is None or cg is None:
        return False
    tolerance = settings.tolerance(plan.entity.name)
    allowed = tolerance.allowed(cb)
    growing = set(settings.growing_chains)
    if settings.mode == "expansion" and (plan.chain in growing or (plan.chain is None and bool(growing))):
        return cg < cb - allowed
    if abs(cg - cb) > allowed:
        return True
    return tolerance.exact and not same_fingerprint(b, g)


def _bound(raw: Any, part: str, axis: str) -> Any:
    agg = raw.get("aggregate") if isinstance(raw, Mapping) else None
    values = agg.get(part) if isinstance(agg, Mapping) else None
    return values.get(axis) if isinstance(values, Mapping) else None


def root_span(axis: str, blue: Any, green: Any) -> tuple[Span, bool] | str:
    """The slice's range on the axis from both fingerprints' min/max; (span, numeric-as-string) or why not."""
    los = [v for v in (_bound(blue, "min", axis), _bound(green, "min", axis)) if v is not None]
    his = [v for v in (_bound(blue, "max", axis), _bound(green, "max", axis)) if v is not None]
    if not los or not his:
        return f"the fingerprints carry no min/max of {axis} to bisect on"
    if axis == "id":
        return Span(min(str(v) for v in los), max(str(v) for v in his)), False
    try:
        lo, hi = min(int(str(v)) for v in los), max(int(str(v)) for v in his)
    except ValueError:
        return f"{axis} min/max are not integers"
    return Span(lo, hi), any(isinstance(v, str) for v in (*los, *his))


def span_conditions(base: Sequence[Condition], axis: str, span: Span, as_text: bool) -> tuple[Condition, ...]:
    """The slice's conditions with the axis bounded to the span (its own cutoff bound replaced: the span
    lies inside it, and one bound per operator keeps the where flat)."""

    def lit(v: AxisValue) -> Any:
        if axis == "id":
            return str(v)
        return Numeric(int(v)) if as_text else int(v)

    kept = [c for c in base if c[0] != axis]
    lower = (axis, "_gt" if span.lo_open else "_gte", lit(span.lo))
    return (*kept, lower, (axis, "_lte", lit(span.hi)))


@dataclass
class _Slice:
    label: str
    entity: str
    chain: int | None
    reconciliation: str
    axis: str
    base: tuple[Condition, ...]
    as_text: bool
    sums: tuple[str, ...]
    minmax: tuple[str, ...]
    columns: tuple[str, ...]
    bisection: Bisection
    error: str | None = None
    pages: int = 0
    rows: dict[tuple[int, str], list[dict[str, Any]]] = field(default_factory=dict)  # (window, belt) -> rows
    done: set[tuple[int, str]] = field(default_factory=set)

    def ask(self, alias: str, span: Span) -> AggregateAsk:
        conds = span_conditions(self.base, self.axis, span, self.as_text)
        return AggregateAsk(alias, self.entity, conds, self.sums, self.minmax)


def _keys(raw: Any, part: str) -> set[str]:
    agg = raw.get("aggregate") if isinstance(raw, Mapping) else None
    values = agg.get(part) if isinstance(agg, Mapping) else None
    return set(values) if isinstance(values, Mapping) else set()


def _slice(plan: _Plan, entry: Mapping[str, Any], blue: _Belt, green: _Belt) -> _Slice | str:
    e = plan.entity
    axis = _axis(e)
    if axis is None:
        return f"reconciliation {e.reconciliation.value} has no field to bisect on"
    b, g = entry["blue"], entry["green"]
    root = root_span(axis, b, g)
    if isinstance(root, str):
        return root
    span, as_text = root
    sums = tuple(sorted(_keys(b, "sum") & _keys(g, "sum")))
    minmax = tuple(sorted(_keys(b, "min") & _keys(g, "min") & _keys(b, "max") & _keys(g, "max")))
    return _Slice(
        plan.label,
        e.name,
        plan.chain,
        e.reconciliation.value,
        axis,
        tuple(plan.conditions),
        as_text,
        sums,
        minmax,
        shared_columns((blue.dialect, green.dialect), e.name),
        Bisection.start(span, b, g),
    )


# ---------------------------------------------------------------------------------------------------
# the driver (I/O through the belt sources only)


def _msg(exc: BaseException) -> str:
    if isinstance(exc, BeltGateError):
        return redact_text(str(exc))
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "the localise budget's time ran out during a request"
    return redact_text(f"{type(exc).__name__}: {exc}")


@dataclass
class _Run:
    budget: Budget
    started: float = field(default_factory=time.monotonic)
    requests: dict[str, int] = field(default_factory=lambda: {"blue": 0, "green": 0})
    spent: str | None = None  # why the budget stopped the run

    def remaining(self) -> float | None:
        if self.budget.seconds is None:
            return None
        return self.budget.seconds - (time.monotonic() - self.started)

    def may_ask(self) -> bool:
        left = self.remaining()
        if left is not None and left <= 0:
            self.spent = f"budget spent ({self.budget.seconds:g} s)"
        elif self.budget.requests is not None and max(self.requests.values()) >= self.budget.requests:
            self.spent = f"budget spent ({self.budget.requests} requests per belt)"
        return self.spent is None

    async def both(self, blue: Any, green: Any) -> list[Any]:
        """One request per belt, concurrently, inside the time left; exceptions are returned."""
        self.requests["blue"] += 1
        self.requests["green"] += 1
        left = self.remaining()

        async def bounded(coro: Any) -> Any:
            return await (asyncio.wait_for(coro, max(left, 0.001)) if left is not None else coro)

        return list(await asyncio.gather(bounded(blue), bounded(green), return_exceptions=True))


async def _bisect(run: _Run, slices: Sequence[_Slice], blue: _Belt, green: _Belt) -> None:
    while True:
        live = [s for s in slices if s.bisection.open and s.error is None]
        if not live:
            return
        if not run.may_ask():
            for s in live:
                s.bisection.stop()
            return
        asks: list[AggregateAsk] = []
        owner: dict[str, tuple[_Slice, Span]] = {}
        for i, s in enumerate(live):
            for j, span in enumerate(s.bisection.next_spans()):
                ask = s.ask(f"b{i}_{j}", span)
                asks.append(ask)
                owner[ask.alias] = (s, span)
        got = await run.both(blue.source.aggregates(asks, None), green.source.aggregates(asks, None))
        failed = [_msg(r) for r in got if isinstance(r, BaseException)]
        answers: dict[int, dict[Span, tuple[Any, Any]]] = {id(s): {} for s in live}
        for alias, (s, span) in owner.items():
            pair = tuple(data.get(alias) if isinstance(data, Mapping) else None for data in got)
            answers[id(s)][span] = (pair[0], pair[1])
        for s in live:
            if failed:
                s.error = "; ".join(failed)
                s.bisection.open = [w for w, _, _ in s.bisection.pending]
                s.bisection.stop()
                continue
            missing = [sp for sp, (b, g) in answers[id(s)].items() if _flat(b) is None or _flat(g) is None]
            if missing:
                s.error = f"no fingerprint answered for {missing[0].text(s.axis)}"
                s.bisection.open = [w for w, _, _ in s.bisection.pending]
                s.bisection.stop()
                continue
            s.bisection.record(answers[id(s)])


async def _page(run: _Run, slices: Sequence[_Slice], blue: _Belt, green: _Belt) -> None:
    """Every final window of every slice, both belts, keyset pages by id, one request per belt a round."""
    belts = {"blue": blue, "green": green}
    while True:
        asks: dict[str, list[RowsAsk]] = {"blue": [], "green": []}
        owner: dict[str, tuple[_Slice, int]] = {}
        for i, s in enumerate(slices):
            if s.error is not None:
                continue
            for k, w in enumerate(s.bisection.final):
                for belt in belts:
                    if (k, belt) in s.done:
                        continue
                    rows = s.rows.setdefault((k, belt), [])
                    conds = span_conditions(s.base, s.axis, w.span, s.as_text)
                    if rows:
                        conds = (*conds, ("id", "_gt", str(rows[-1].get("id"))))
                    alias = f"p{i}_{k}"
                    asks[belt].append(RowsAsk(alias, s.entity, s.columns, conds, True, PAGE_ROWS))
                    owner[alias] = (s, k)
        if not asks["blue"] and not asks["green"]:
            return
        if not run.may_ask():
            return
        got = await run.both(
            blue.source.rows(asks["blue"], "localise pages"), green.source.rows(asks["green"], "localise pages")
        )
        for belt, data in zip(belts, got, strict=True):
            for ask in asks[belt]:
                s, k = owner[ask.alias]
                page = data.get(ask.alias) if isinstance(data, Mapping) else None
                if isinstance(data, BaseException) or not isinstance(page, list):
                    s.error = _msg(data) if isinstance(data, BaseException) else f"{belt}: no page answered"
                    continue
                s.rows[(k, belt)].extend(r for r in page if isinstance(r, dict))
                if len(page) < PAGE_ROWS:
                    s.done.add((k, belt))
        for s in {id(s): s for s, _ in owner.values()}.values():
            s.pages += 1


def _entry(s: _Slice, run: _Run, seconds: float) -> dict[str, Any]:
    b = s.bisection
    diff = Diff()
    seen: set[str] = set()
    seen_fields: set[tuple[str, str]] = set()
    paged: list[dict[str, Any]] = []
    for k, w in enumerate(b.final):
        complete = (k, "blue") in s.done and (k, "green") in s.done
        if complete:
            d = diff_rows(s.rows[(k, "blue")], s.rows[(k, "green")], s.columns)
            # windows partition the slice, except on a belt whose collation orders ids unlike code points
            # (see string_between): there a row can fall in two windows, and is reported once
            diff.only_blue += [r for r in d.only_blue if str(r.get("id")) not in seen]
            diff.only_green += [r for r in d.only_green if str(r.get("id")) not in seen]
            diff.changed += [c for c in d.changed if (c["id"], c["field"]) not in seen_fields]
            seen.update(str(r.get("id")) for r in (*d.only_blue, *d.only_green))
            seen_fields.update((c["id"], c["field"]) for c in d.changed)
        paged.append({**w.to_json(), "paged": complete})
    unpaged = [w for w in paged if not w["paged"]]
    narrowest = [{**w.to_json(), "paged": False} for w in b.narrowest]
    found = {"only_blue": len(diff.only_blue), "only_green": len(diff.only_green), "changed": len(diff.changed)}
    if s.error is not None:
        status, why = "error", s.error
    elif unpaged or narrowest:
        status, why = "partial", run.spent or f"more than {MAX_OPEN} differing windows"
    elif not any(found.values()):
        status, why = (
            "unexplained",
            (
                "the windows that differ hold no differing row of the compared columns "
                "(rows outside the axis range, or a belt changed while it was read)"
            ),
        )
    else:
        status, why = "located", None
    if b.unexplained and status == "located":
        why = f"{len(b.unexplained)} window(s) differed while neither half did (a belt changed while read?)"
    windows = sorted([*paged, *narrowest], key=lambda w: _order_key(w["lo"]))
    return {
        "entity": s.entity,
        "chain": s.chain,
        "reconciliation": s.reconciliation,
        "axis": s.axis,
        "status": status,
        "why": why,
        "rounds": b.rounds,
        "pages": s.pages,
        "requests": dict(run.requests),
        "seconds": round(seconds, 4),
        "windows": windows[:MAX_FOUND],
        "unexplained": [w.to_json() for w in b.unexplained][:MAX_FOUND],
        "only_blue": diff.only_blue[:MAX_FOUND],
        "only_green": diff.only_green[:MAX_FOUND],
        "changed": diff.changed[:MAX_FOUND],
        "found": found,
        "truncated": any(n > MAX_FOUND for n in found.values()) or len(windows) > MAX_FOUND,
    }


async def run(
    settings: _Settings,
    blue: _Belt,
    green: _Belt,
    plans: Sequence[_Plan],
    fingerprints: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Localise every slice whose fingerprints differ (see `differs`): `{label: entry}`, the snapshot's
    `localised` key.

    entry: {entity, chain, reconciliation ("A"|"B"|"C"), axis (the column bisected), status ("located" | "partial":
    budget or caps left windows unpaged | "unexplained" | "error" | "skipped"), why (str|None), rounds,
    pages, requests {blue, green} (of the whole phase), seconds (of the whole phase), windows [{lo, hi,
    [lo_open], blue, green (row counts), paged}] (the narrowest windows found, axis order), unexplained
    [windows], only_blue [row], only_green [row] (rows as the belt sent them, every compared column),
    changed [{id, field, blue, green}], found {only_blue, only_green, changed} (totals before the
    MAX_FOUND cap), truncated}. Empty when nothing fails or the budget is 0."""
    budget = settings.localise_budget or Budget()
    if budget.off:
        return {}
    out: dict[str, dict[str, Any]] = {}
    slices: list[_Slice] = []
    for plan in plans:
        entry = fingerprints.get(plan.label)
        if entry is None or not differs(settings, plan, entry):
            continue
        if len(slices) >= MAX_SLICES:
            out[plan.label] = {"status": "skipped", "why": f"more than {MAX_SLICES} failing slices"}
            continue
        s = _slice(plan, entry, blue, green)
        if isinstance(s, str):
            out[plan.label] = {"entity": plan.entity.name, "chain": plan.chain, "status": "error", "why": s}
            continue
        slices.append(s)
    if not slices:
        return out
    state = _Run(budget)
    await _bisect(state, slices, blue, green)
    await _page(state, slices, blue, green)
    seconds = time.monotonic() - state.started
    for s in slices:
        out[s.label] = _entry(s, state, seconds)
    return out


# ---------------------------------------------------------------------------------------------------
# --belt-store-failures


FAILING = ("failed", "could-not-check")  # could-not-check blocks certification like a failure
_UNSAFE = re.compile(r"[^A-Za-z0-9@._\-\[\]=]")


def failure_lines(test_id: str, verdict: str, found: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The JSONL records of one failing test: its differing rows when localised, else its verdict."""
    lines: list[dict[str, Any]] = []
    if found and found.get("status") not in (None, "skipped"):
        axis = found.get("axis")
        for kind in ("only_blue", "only_green"):
            for row in found.get(kind, ()):
                at = {str(axis): row.get(str(axis))} if axis else {}
                lines.append({"test": test_id, "kind": kind, "id": row.get("id"), **at, "row": row})
        for change in found.get("changed", ()):
            lines.append({"test": test_id, "kind": "changed", **change})
        for w in found.get("windows", ()):
            if not w.get("paged"):
                lines.append({"test": test_id, "kind": "window", "axis": axis, **w})
    if not lines:
        lines.append({"test": test_id, "kind": "verdict", "verdict": verdict})
    return lines


def store_failures(
    directory: Path, results: Iterable[Mapping[str, Any]], snapshot: Mapping[str, Any] | None
) -> list[Path]:
    """One JSONL file per failing (or could-not-check) test of the certificate's `verdicts` (dbt's
    --store-failures): `DIR/<test id>.jsonl`, each line
    one differing row (or unpaged window, or the verdict when nothing was localised). Written whole and
    renamed into place; redacted. Returns the files written."""
    localised = (snapshot or {}).get("localised") or {}
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for r in results:
        if r.get("outcome") not in FAILING:
            continue
        test_id = str(r.get("id"))
        label = test_id.split("[", 1)[1].rstrip("]") if "[" in test_id else ""
        lines = failure_lines(test_id, str(r.get("verdict", "")), localised.get(label))
        path = directory / f"{_UNSAFE.sub('_', test_id)}.jsonl"
        text = "".join(json.dumps(_redacted(line), sort_keys=True) + "\n" for line in lines)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".failures-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        written.append(path)
    return written


def _json_default(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else repr(value)


def _redacted(line: Mapping[str, Any]) -> Any:
    """One line as JSON values (`_json_default` for the others) with every string redacted, before it is
    serialised: an escaped secret (a `"`, `\\` or non-ASCII character in it) is not found in JSON text."""
    return redact_json(json.loads(json.dumps(line, default=_json_default)))
