"""An in-memory belt for unit tests of localise.py: answers AggregateAsk / RowsAsk by evaluating their
conditions over Python rows, the way the Hasura dialect does (numerics as strings, ids ordered by code point).
Mocks only the source; the planner, the driver and the diff under test are the real ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from belt_gate.envio import Entity, Reconciliation, parse_schema
from belt_gate.plan import EntityPlan
from belt_gate.sources.graphql import AggregateAsk, Numeric, RowsAsk

SDL = """
type Transfer { id: ID! chainId: Int! blockNumber: BigInt! amount: BigInt! owner: String! }
type Act { id: ID! chainId: Int! timestamp: BigInt! amount: BigInt! }
type Loan { id: ID! chainId: Int! amount: BigInt! status: String! }
"""
SCHEMA = parse_schema(SDL)
NUMERIC = {"blockNumber", "amount", "timestamp"}


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Numeric) else v


def _holds(row: Mapping[str, Any], conditions: Sequence[tuple[str, str, Any]], id_key: Any = None) -> bool:
    """`id_key`: the order the belt compares ids in (a collation), default code points."""
    for col, op, raw in conditions:
        v, x = row.get(col), _value(raw)
        if op == "_in":
            ok = v in [_value(i) for i in x]
        elif v is None:
            ok = False
        else:
            if col == "id" and id_key is not None:
                v, x = id_key(v), id_key(x)
            ok = {
                "_eq": v == x,
                "_gt": v > x,
                "_gte": v >= x,
                "_lt": v < x,
                "_lte": v <= x,
            }[op]
        if not ok:
            return False
    return True


def _out(col: str, v: Any) -> Any:
    return str(v) if col in NUMERIC and v is not None else v


@dataclass
class FakeSource:
    belt: str
    tables: dict[str, list[dict[str, Any]]]
    endpoint: str = "http://fake/v1/graphql"
    requests: int = 0
    seconds: float = 0.0
    asked: list[int] = field(default_factory=list)  # fields per request
    fail_after: int | None = None  # raise on the request after this many
    id_key: Any = None  # the belt's collation for ids (None: code points)

    def _count(self, n: int) -> None:
        self.requests += 1
        self.asked.append(n)
        if self.fail_after is not None and self.requests > self.fail_after:
            from belt_gate.errors import EndpointError

            raise EndpointError("HTTP 503", belt=self.belt, endpoint=self.endpoint, asked="test")

    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]:
        self._count(len(asks))
        out: dict[str, Any] = {}
        for a in asks:
            rows = [r for r in self.tables.get(a.entity, []) if _holds(r, a.conditions, self.id_key)]
            agg: dict[str, Any] = {"count": len(rows)}
            if a.sum_columns:
                agg["sum"] = {
                    c: (str(sum(r[c] for r in rows if r.get(c) is not None)) if rows else None) for c in a.sum_columns
                }
            if a.minmax_columns:
                for part, fn in (("min", min), ("max", max)):
                    agg[part] = {
                        c: _out(c, fn((r[c] for r in rows if r.get(c) is not None), default=None, key=self._key(c)))
                        for c in a.minmax_columns
                    }
            out[a.alias] = {"aggregate": agg}
        return out

    def _key(self, column: str) -> Any:
        return self.id_key if column == "id" and self.id_key is not None else (lambda v: v)

    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
        self._count(len(asks))
        out: dict[str, Any] = {}
        for a in asks:
            key = self.id_key or (lambda v: v)
            mine = (r for r in self.tables.get(a.entity, []) if _holds(r, a.conditions, self.id_key))
            rows = sorted(mine, key=lambda r: key(r["id"]))
            rows = rows[: a.limit] if a.limit is not None else rows
            out[a.alias] = [{c: _out(c, r.get(c)) for c in a.columns} for r in rows]
        return out


@dataclass
class FakeDialect:
    entities: dict[str, Entity]


@dataclass
class FakeBelt:
    name: str
    source: FakeSource
    dialect: FakeDialect | None = None

    @classmethod
    def of(cls, name: str, tables: dict[str, list[dict[str, Any]]]) -> FakeBelt:
        return cls(name, FakeSource(name, tables), FakeDialect({e.name: e for e in SCHEMA.entities}))


@dataclass
class FakePlan:
    label: str
    entity: EntityPlan
    chain: int | None
    conditions: tuple[tuple[str, str, Any], ...]
    error: str | None = None
    new_chain: bool = False


def entity_plan(name: str, reconciliation: Reconciliation | None = None) -> EntityPlan:
    e = SCHEMA.entity(name)
    assert e is not None
    return EntityPlan(
        name, reconciliation or e.inferred_reconciliation, e.chain_column, e.block_column, e.timestamp_column
    )


def fingerprint(source: FakeSource, entity: str, conditions: tuple[tuple[str, str, Any], ...]) -> dict[str, Any]:
    """What the snapshot's fingerprint request would have answered (without counting a request)."""
    import asyncio

    e = SCHEMA.entity(entity)
    assert e is not None
    sums = tuple(sorted(c.column for c in e.columns if c.type_name in ("BigInt", "Int")))
    minmax = tuple(sorted(c.column for c in e.columns))
    ask = AggregateAsk("f", entity, conditions, sums, minmax)
    before = (source.requests, list(source.asked))
    data = asyncio.run(source.aggregates([ask], None))
    source.requests, source.asked = before[0], before[1]
    return dict(data["f"])
