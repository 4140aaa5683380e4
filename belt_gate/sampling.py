"""Content samples: which rows to read from blue, which from green, and whose rows they are. No I/O.

Per (entity, chain) slice, from blue's fingerprint (its count and its min/max id at the cutoff):
- a slice of at most 2k rows is read whole and compared row for row; the whole slices of one entity
  share one aliased field (an `_or` of their conditions, up to MAX_ROWS_PER_FIELD rows), so a belt of
  100 chains × 100 entities is asked 100 fields, not 10,000;
- a larger slice gives k rows seeked from a seeded id in the closed range [min id, max id] (two
  fields: after the seed, then from the start - a wrap), an index seek and never an OFFSET scan;
- without orderable ids, k rows at seeded offsets.
Green is then asked for exactly those ids, one field per entity (chunks of MAX_ROWS_PER_FIELD ids).
MAX_ROWS_PER_FIELD stays under the row limits Hasura roles commonly carry; a short answer is a
partial page, which the content rule fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from belt_gate.rules.content import sample_offsets
from belt_gate.sources.graphql import Condition, RowsAsk

MAX_ROWS_PER_FIELD = 1000


class Slice(Protocol):
    """What a sample needs of one fingerprint plan (snapshot.FingerprintPlan)."""

    label: str
    chain: int | None
    conditions: tuple[Condition, ...]
    error: str | None
    new_chain: bool

    @property
    def entity_name(self) -> str:
        """The entity the slice is of."""

    @property
    def chain_column(self) -> str | None:
        """The column naming a row's chain; None: the entity is compared whole, not per chain."""


@dataclass
class _Route:
    """Whose rows an aliased field returns: one slice, or several told apart by their chain value."""

    labels: dict[str, str]  # str(chain value) -> label; key "" when the field serves one slice
    chain_column: str | None = None

    def label_of(self, row: Mapping[str, Any]) -> str | None:
        if self.chain_column is None:
            return self.labels.get("")
        return self.labels.get(str(row.get(self.chain_column)))


@dataclass
class SamplePlan:
    """The content sample being built: each slice's snapshot entry (expected rows, seed, skip or error), blue's row
    asks, and which slice each answer belongs to."""

    entries: dict[str, dict[str, Any]]  # label -> the snapshot's sample entry
    blue_asks: list[RowsAsk] = field(default_factory=list)
    routes: dict[str, _Route] = field(default_factory=dict)  # blue alias -> whose rows, in ask order
    entity_of: dict[str, str] = field(default_factory=dict)  # label -> entity, for the slices sampled
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # entity -> columns compared


@dataclass
class GreenAsks:
    """Green's asks for the ids sampled from blue, and which slice asked for each id."""

    asks: list[RowsAsk]
    owner: dict[tuple[str, str], str]  # (entity, id) -> label
    labels: dict[str, set[str]]  # alias -> the labels whose ids it asks


def seeded_id(lo: str, hi: str, seed: int, label: str) -> str:
    """A string between lo and hi chosen from (seed, label): where the sample's id seek starts."""
    p = 0
    while p < min(len(lo), len(hi)) and lo[p] == hi[p]:
        p += 1
    a = ord(lo[p]) if p < len(lo) else 0
    b = ord(hi[p]) if p < len(hi) else 0x7F
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    if b - a <= 1:
        key = lo[: p + 1] + chr(0x30 + digest[0] % 75) if p < len(lo) else lo + "0"
    else:
        key = lo[:p] + chr(a + 1 + digest[0] % (b - a - 1))
    return min(max(key, lo), hi)  # adjacent first differing characters can step outside the range


def _id_bounds(raw: Any) -> tuple[str, str] | None:
    """Blue's min and max id at the cutoff, from its fingerprint (when ids are orderable strings)."""
    try:
        lo, hi = raw["aggregate"]["min"]["id"], raw["aggregate"]["max"]["id"]
    except (KeyError, TypeError):
        return None
    return (lo, hi) if isinstance(lo, str) and isinstance(hi, str) and lo < hi else None


def _blue_count(fpe: Mapping[str, Any]) -> int | str:
    """Blue's count at the cutoff, or why there is none to sample from."""
    errors = [str(fpe[k]) for k in ("blue_error", "green_error") if fpe.get(k)]
    if errors or fpe.get("blue") is None:
        return "; ".join(errors) or "no blue count"
    try:
        return int(str(fpe["blue"]["aggregate"]["count"]))
    except (KeyError, TypeError, ValueError):
        return "blue count is not a number"


def plan_blue(
    slices: Sequence[Slice],
    fingerprints: Mapping[str, Mapping[str, Any]],
    columns_of: Callable[[str], tuple[str, ...]],
    k: int,
    seed: int,
) -> SamplePlan:
    """Plan blue's sample: per slice, k rows chosen reproducibly from `seed` (the whole slice when it holds at most 2k
    rows). A slice with an error, new in green, absent from one belt, or empty gets an entry saying so and no ask."""
    plan = SamplePlan({})
    whole: dict[str, list[tuple[Slice, int]]] = {}  # entity -> its whole slices, in plan order
    for i, sl in enumerate(slices):
        entry: dict[str, Any] = {"seed": seed}
        plan.entries[sl.label] = entry
        fpe = fingerprints.get(sl.label, {})
        if sl.error or fpe.get("error"):
            entry["error"] = sl.error or fpe.get("error")
            continue
        if sl.new_chain:
            entry["skip"] = f"chain {sl.chain} is new in green: no blue rows to sample (L1 checks judge it)"
            continue
        absent = [side for side in ("green", "blue") if fpe.get(f"{side}_absent")]
        if absent:
            entry["absent"] = absent[0]  # the rule decides what an absent side means in its mode
            entry["skip"] = f"{sl.entity_name} is absent from {absent[0]} (see counts)"
            continue
        count = _blue_count(fpe)
        if isinstance(count, str):
            entry["error"] = count
            continue
        name = sl.entity_name
        if name not in plan.columns:
            plan.columns[name] = columns_of(name)
        columns = plan.columns[name]
        entry["columns"] = list(columns)
        plan.entity_of[sl.label] = name
        if k <= 0 or count == 0:
            entry["expected"] = 0
            continue
        if count <= 2 * k:
            entry["expected"] = count
            whole.setdefault(name, []).append((sl, count))
            continue
        entry["expected"] = k
        route = _Route({"": sl.label})
        bounds = _id_bounds(fpe["blue"])
        if bounds is not None:
            # Both id bounds are given so that the range is closed: a planner walks the primary key
            # through this slice only, never through the rest of the table (measured in BENCHMARKS.md).
            lo, hi = bounds
            key = seeded_id(lo, hi, seed, sl.label)
            entry["from_id"] = key
            after = (*sl.conditions, ("id", "_gt", key), ("id", "_lte", hi))
            wrapped = (*sl.conditions, ("id", "_gte", lo), ("id", "_lte", key))
            for j, conds in enumerate((after, wrapped)):
                _ask(plan, RowsAsk(f"s{i}_{j}", name, columns, conds, True, k, None), route)
            continue
        for j, off in enumerate(sample_offsets(count, k, seed, sl.label)):
            _ask(plan, RowsAsk(f"s{i}_{j}", name, columns, sl.conditions, True, 1, off), route)
    for name, members in whole.items():
        _plan_whole(plan, name, members)
    return plan


def _ask(plan: SamplePlan, ask: RowsAsk, route: _Route) -> None:
    plan.blue_asks.append(ask)
    plan.routes[ask.alias] = route


def _plan_whole(plan: SamplePlan, name: str, members: Sequence[tuple[Slice, int]]) -> None:
    """Whole slices of one entity, several per field when their chain value tells them apart."""
    groups: list[list[Slice]] = []
    rows = 0
    for sl, count in members:
        if sl.chain_column is None or sl.chain is None or not groups or rows + count > MAX_ROWS_PER_FIELD:
            groups.append([])
            rows = 0
        groups[-1].append(sl)
        rows += count
    columns = plan.columns[name]
    for g, group in enumerate(groups):
        alias = f"w_{name}_{g}"
        if len(group) == 1:
            _ask(
                plan, RowsAsk(alias, name, columns, group[0].conditions, True, None, None), _Route({"": group[0].label})
            )
        else:
            _ask(
                plan,
                RowsAsk(alias, name, columns, (), True, None, None, tuple(sl.conditions for sl in group)),
                _Route({str(sl.chain): sl.label for sl in group}, group[0].chain_column),
            )


def assign_blue(plan: SamplePlan, data: Mapping[str, Any], endpoint: str) -> None:
    """Blue's answers into the entries: each slice's rows in ask order, deduplicated, at most `expected`."""
    rows: dict[str, list[Any]] = {label: [] for label in plan.entity_of}
    seen: dict[str, set[str]] = {label: set() for label in plan.entity_of}
    for alias, route in plan.routes.items():
        got = data.get(alias)
        if not isinstance(got, list):
            fail_all(plan, route.labels.values(), "blue_error", f"{endpoint}: no answer for sample field {alias}")
            continue
        for r in got:
            mine = route.label_of(r) if isinstance(r, dict) else None
            if mine is None:
                fail_all(
                    plan,
                    route.labels.values(),
                    "blue_error",
                    f"{endpoint}: sample field {alias} answered a row of no slice",
                )
                break
            rid = str(r.get("id"))
            if rid not in seen[mine]:
                seen[mine].add(rid)
                rows[mine].append(r)
    for label, got in rows.items():
        plan.entries[label]["blue"] = got[: plan.entries[label]["expected"]]


def green_asks(plan: SamplePlan) -> GreenAsks:
    """One field per entity (chunks of MAX_ROWS_PER_FIELD ids) for the ids blue answered."""
    ids: dict[str, list[Any]] = {}
    out = GreenAsks([], {}, {})
    for label, name in plan.entity_of.items():
        entry = plan.entries[label]
        if "blue_error" in entry:
            continue
        mine = [r.get("id") for r in entry["blue"] if isinstance(r, dict)]
        if not mine:
            entry["green"] = []
        for rid in mine:
            out.owner[(name, str(rid))] = label
        ids.setdefault(name, []).extend(mine)
    for name, all_ids in ids.items():
        for c in range(0, len(all_ids), MAX_ROWS_PER_FIELD):
            chunk = all_ids[c : c + MAX_ROWS_PER_FIELD]
            alias = f"g_{name}_{c // MAX_ROWS_PER_FIELD}"
            out.asks.append(RowsAsk(alias, name, plan.columns[name], (("id", "_in", chunk),), True, None, None))
            out.labels[alias] = {out.owner[(name, str(rid))] for rid in chunk}
    return out


def assign_green(plan: SamplePlan, green: GreenAsks, data: Mapping[str, Any], endpoint: str) -> None:
    """File green's answer to `asks` under the slices that asked; a missing answer is a `green_error` on every slice
    that waited for it."""
    for ask in green.asks:
        got = data.get(ask.alias)
        labels = green.labels[ask.alias]
        if not isinstance(got, list):
            for label in labels:
                plan.entries[label]["green_error"] = f"{endpoint}: no answer for sample of {label}"
            continue
        for label in labels:
            plan.entries[label].setdefault("green", [])
        for r in got:
            owner = green.owner.get((ask.entity, str(r.get("id")))) if isinstance(r, dict) else None
            if owner is not None:
                plan.entries[owner]["green"].append(r)


def fail_all(plan: SamplePlan, labels: Iterable[str], key: str, message: str) -> None:
    """Record the same failure `message` under `key` in every slice of `labels` (one failed request spoils them all)."""
    for label in labels:
        plan.entries[label][key] = message
