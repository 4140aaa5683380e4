"""GraphQL arguments (Hasura's where / order_by / distinct_on / limit / offset) -> SQLite or Postgres SQL.

Every value travels as a bound parameter; identifiers come only from the table model (`sdl.Table`),
never from the request. One `_aggregate` field becomes one SELECT with every requested aggregate
(count, sum, min, max, avg, ...) as a column of it; over Postgres, the unpaged `_aggregate` root fields
of one table that ask the same aggregates share one statement: one scan grouped by the column each
selects by equality, the chain id of a fingerprint (`aggregate_grouped`), else a UNION ALL of the
fields' own SELECTs (`aggregate_union`).

Two dialects (`SqlBuilder(tables, dialect=...)`): "sqlite" (the reference belts' files) and "postgres"
(Envio's own tables, and the bulk belts). Statements always use `?` placeholders; the Postgres backend
turns them into psycopg's `%s` (`to_pyformat`). Postgres does natively what SQLite needs helpers for:
exact numeric sums and min/max, regular expressions, LIKE, booleans, arrays and jsonb.

Exactness: SQLite's `sum` over INTEGER columns is exact (it raises on overflow, and the caller
then retries with the exact Python aggregate `bigsum`); BigDecimal columns (TEXT) are summed,
min'd and max'd with Python `Decimal` aggregates (sums in an exact context, not Decimal's default 28
digits; printed without exponent, as Postgres prints numeric). Nothing is summed through floats.
"""

from __future__ import annotations

import decimal
import json
import math
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from belt_gate.sandbox.hasura.sdl import STAT_FUNCS, Column, Table


class QueryError(Exception):
    """A request the sandbox cannot turn into SQL (Hasura would say validation-failed)."""


def quote(name: str) -> str:
    """An SQL identifier, double-quoted with its quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


_OPS = {"_eq": "=", "_neq": "<>", "_gt": ">", "_gte": ">=", "_lt": "<", "_lte": "<="}
_ORDER = {
    "asc": "ASC NULLS LAST",
    "asc_nulls_last": "ASC NULLS LAST",
    "asc_nulls_first": "ASC NULLS FIRST",
    "desc": "DESC NULLS FIRST",
    "desc_nulls_first": "DESC NULLS FIRST",
    "desc_nulls_last": "DESC NULLS LAST",
}


@dataclass(frozen=True)
class Agg:
    """One aggregate column: ("count", columns, distinct) or (func, column)."""

    func: str
    column: str | None = None
    columns: tuple[str, ...] = ()
    distinct: bool = False


class SqlBuilder:
    """Builds SQL over the tables of one served schema."""

    def __init__(self, tables: Sequence[Table] | Mapping[str, Table], dialect: str = "sqlite") -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown SQL dialect {dialect!r}")
        self.tables = tables if isinstance(tables, Mapping) else {t.name: t for t in tables}
        self.pg = dialect == "postgres"
        self.true, self.false = ("TRUE", "FALSE") if self.pg else ("1", "0")
        self._n = 0

    def _alias(self) -> str:
        self._n += 1
        return f"t{self._n}"

    # -- expressions ---------------------------------------------------------------------

    @staticmethod
    def col(table: Table, alias: str, c: Column) -> str:
        """The SQL expression of a column (its own SQL when computed, else the aliased quoted column)."""
        if c.sql is not None:
            return c.sql
        return f"{alias}.{quote(c.name)}"

    def _cmp_expr(self, table: Table, alias: str, c: Column) -> str:
        expr = self.col(table, alias, c)
        if c.decimal and not self.pg:
            return f"CAST({expr} AS REAL)"
        return expr

    def param(self, c: Column, value: Any) -> Any:
        """A GraphQL input value -> the parameter for comparing with column `c`."""
        if value is None:
            return None
        if self.pg:
            return _pg_param(c, value)
        if c.is_list or c.type == "jsonb":
            return json.dumps(value, separators=(",", ":"))
        if c.type == "Boolean":
            return int(bool(value))
        if c.type in ("Int", "numeric", "float8"):
            if isinstance(value, Decimal):
                if c.decimal or value != value.to_integral_value():
                    return float(value)
                return int(value)
            if isinstance(value, str):
                try:
                    d = Decimal(value)
                except InvalidOperation:
                    raise QueryError(f"invalid numeric value {value!r}") from None
                return float(d) if c.decimal or d != d.to_integral_value() else int(d)
            if c.decimal and isinstance(value, int):
                return float(value)
            return value
        return str(value)

    def where(self, table: Table, alias: str, where: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        """SQL boolean expression (and its parameters) for a Hasura `X_bool_exp` value."""
        if not where:
            return self.true, []
        parts: list[str] = []
        params: list[Any] = []
        for key, value in where.items():
            if value is None:
                continue
            if key == "_and":
                for sub in value:
                    s, p = self.where(table, alias, sub)
                    parts.append(f"({s})")
                    params += p
            elif key == "_or":
                subs = []
                for sub in value:
                    s, p = self.where(table, alias, sub)
                    subs.append(f"({s})")
                    params += p
                parts.append(f"({' OR '.join(subs) or self.false})")
            elif key == "_not":
                s, p = self.where(table, alias, value)
                parts.append(f"NOT ({s})")
                params += p
            elif (c := table.column(key)) is not None:
                s, p = self._compare(table, alias, c, value)
                parts.append(s)
                params += p
            elif (rel := next((r for r in table.object_rels if r.name == key), None)) is not None:
                target = self.tables[rel.target]
                a2 = self._alias()
                s, p = self.where(target, a2, value)
                parts.append(
                    f"EXISTS (SELECT 1 FROM {quote(target.sql_table)} {a2} WHERE "
                    f"{a2}.{quote(rel.remote)} = {alias}.{quote(rel.column)} AND ({s}))"
                )
                params += p
            elif (arr := next((r for r in table.array_rels if r.name == key), None)) is not None:
                target = self.tables[arr.target]
                a2 = self._alias()
                s, p = self.where(target, a2, value)
                parts.append(
                    f"EXISTS (SELECT 1 FROM {quote(target.sql_table)} {a2} WHERE "
                    f"{a2}.{quote(arr.remote)} = {alias}.{quote(arr.column)} AND ({s}))"
                )
                params += p
            elif (
                key.endswith("_aggregate")
                and (arr := next((r for r in table.array_rels if f"{r.name}_aggregate" == key), None)) is not None
            ):
                s, p = self._aggregate_predicate(table, alias, arr.target, arr.remote, arr.column, value)
                parts.append(s)
                params += p
            else:
                raise QueryError(f"field '{key}' not found in type: '{table.name}_bool_exp'")
        return " AND ".join(parts) or self.true, params

    def _aggregate_predicate(
        self, table: Table, alias: str, target_name: str, remote: str, local: str, value: Mapping[str, Any]
    ) -> tuple[str, list[Any]]:
        target = self.tables[target_name]
        parts: list[str] = []
        params: list[Any] = []
        for fn, spec in value.items():
            if spec is None:
                continue
            a2 = self._alias()
            fs, fp = self.where(target, a2, spec.get("filter"))
            if fn == "count":
                cols = spec.get("arguments") or []
                inner = (
                    f"count(DISTINCT {self._tuple(target, a2, cols)})" if spec.get("distinct") and cols else "count(*)"
                )
                sub_col = Column("count", "Int", False)
            else:  # bool_and / bool_or
                c = target.column(str(spec["arguments"]))
                if c is None:
                    raise QueryError(f"unknown column {spec['arguments']!r}")
                agg = fn if self.pg else ("min" if fn == "bool_and" else "max")
                inner = f"{agg}({self.col(target, a2, c)})"
                sub_col = Column(fn, "Boolean", True)
            sub = (
                f"(SELECT {inner} FROM {quote(target.sql_table)} {a2} WHERE "
                f"{a2}.{quote(remote)} = {alias}.{quote(local)} AND ({fs}))"
            )
            ps, pp = self._compare_expr(sub, sub_col, spec["predicate"])
            parts.append(ps)
            params += fp + pp
        return " AND ".join(parts) or self.true, params

    def _tuple(self, table: Table, alias: str, cols: Sequence[str]) -> str:
        exprs = []
        for name in cols:
            c = table.column(name)
            if c is None:
                raise QueryError(f"unknown column {name!r} of {table.name}")
            exprs.append(self.col(table, alias, c))
        if len(exprs) == 1:
            return exprs[0]
        return f"ROW({', '.join(exprs)})" if self.pg else f"json_array({', '.join(exprs)})"

    def _compare(self, table: Table, alias: str, c: Column, ops: Mapping[str, Any]) -> tuple[str, list[Any]]:
        return self._compare_expr(self._cmp_expr(table, alias, c), c, ops)

    def _compare_expr(self, expr: str, c: Column, ops: Mapping[str, Any]) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        json_like = (c.is_list or c.type == "jsonb") and not self.pg
        if json_like:
            expr = f"json({expr})"
        for op, value in ops.items():
            if value is None:
                continue
            if self.pg and op in _PG_TEXT_OPS:
                parts.append(f"{expr} {_PG_TEXT_OPS[op]} ?")
                params.append(str(value))
            elif op in _OPS:
                parts.append(f"{expr} {_OPS[op]} {'json(?)' if json_like else '?'}")
                params.append(self.param(c, value))
            elif op in ("_in", "_nin"):
                values = list(value)
                if not values:
                    parts.append(self.false if op == "_in" else self.true)
                    continue
                marks = ", ".join("?" for _ in values)
                parts.append(f"{expr} {'IN' if op == '_in' else 'NOT IN'} ({marks})")
                params += [self.param(c, v) for v in values]
            elif op == "_is_null":
                parts.append(f"{expr} IS {'' if value else 'NOT '}NULL")
            elif op in ("_like", "_nlike"):
                parts.append(f"{'' if op == '_like' else 'NOT '}({expr} GLOB ?)")
                params.append(_like_to_glob(str(value)))
            elif op in ("_ilike", "_nilike"):
                parts.append(f"{'' if op == '_ilike' else 'NOT '}(lower({expr}) GLOB lower(?))")
                params.append(_like_to_glob(str(value)))
            elif op in ("_regex", "_nregex", "_iregex", "_niregex"):
                flags = "(?i)" if op in ("_iregex", "_niregex") else ""
                parts.append(f"{'NOT ' if op.startswith('_n') else ''}regexp(?, {expr})")
                params.append(flags + str(value))
            else:
                raise QueryError(f"operator {op} is not supported by the sandbox")
        return " AND ".join(parts) or self.true, params

    def order(self, table: Table, alias: str, order_by: Any) -> tuple[list[str], list[Any]]:
        """ORDER BY terms (and parameters) for Hasura's `order_by` (an object or a list of them)."""
        if order_by is None:
            return [], []
        items = order_by if isinstance(order_by, list) else [order_by]
        terms: list[str] = []
        params: list[Any] = []
        for item in items:
            for key, direction in item.items():
                if direction is None:
                    continue
                if (c := table.column(key)) is not None:
                    terms.append(f"{self._cmp_expr(table, alias, c)} {_ORDER[direction]}")
                elif (rel := next((r for r in table.object_rels if r.name == key), None)) is not None:
                    target = self.tables[rel.target]
                    a2 = self._alias()
                    sub_terms, p = self.order(target, a2, direction)
                    for term in sub_terms:
                        expr, _, dirn = term.partition(" ")
                        terms.append(
                            f"(SELECT {expr} FROM {quote(target.sql_table)} {a2} WHERE "
                            f"{a2}.{quote(rel.remote)} = {alias}.{quote(rel.column)}) {dirn}"
                        )
                    params += p
                elif (
                    key.endswith("_aggregate")
                    and (arr := next((r for r in table.array_rels if f"{r.name}_aggregate" == key), None)) is not None
                ):
                    target = self.tables[arr.target]
                    for fn, spec in direction.items():
                        if spec is None:
                            continue
                        a2 = self._alias()
                        src = (
                            f"FROM {quote(target.sql_table)} {a2} WHERE "
                            f"{a2}.{quote(arr.remote)} = {alias}.{quote(arr.column)}"
                        )
                        if fn == "count":
                            terms.append(f"(SELECT count(*) {src}) {_ORDER[spec]}")
                            continue
                        for cname, d in spec.items():
                            c2 = target.column(cname)
                            if c2 is None or d is None:
                                continue
                            agg = self._agg_sql(target, a2, Agg(fn, cname))
                            terms.append(f"(SELECT {agg} {src}) {_ORDER[d]}")
                else:
                    raise QueryError(f"field '{key}' not found in type: '{table.name}_order_by'")
        return terms, params

    # -- statements ----------------------------------------------------------------------

    def select(
        self, table: Table, args: Mapping[str, Any], *, match: tuple[str, Any] | None = None
    ) -> tuple[str, list[Any]]:
        """SELECT every column of `table` filtered/ordered/paged by the list arguments `args`.

        `match` = (column, value) adds `column = value` (an array relationship's join).
        """
        alias = self._alias()
        cols = ", ".join(f"{self.col(table, alias, c)} AS {quote(c.name)}" for c in table.columns)
        where, params = self._where_match(table, alias, args, match)
        terms, oparams = self.order(table, alias, args.get("order_by"))
        distinct = args.get("distinct_on")
        base = f"FROM {quote(table.sql_table)} {alias} WHERE {where}"
        if distinct:
            keys = ", ".join(self.col(table, alias, c) for c in (table.column(n) for n in distinct) if c is not None)
            window = f"ORDER BY {', '.join(terms)}" if terms else ""
            rowid = "" if self.pg else f"{alias}.rowid AS __rowid, "
            inner = f"SELECT {cols}, {rowid}row_number() OVER (PARTITION BY {keys} {window}) AS __rn {base}"
            params = params + oparams
            sql = f"SELECT * FROM ({inner}) __sub WHERE __rn = 1"
            outer, oparams2 = self.order(table, "__sub", args.get("order_by"))
            if outer:
                sql += f" ORDER BY {', '.join(outer)}"
            params += oparams2
        else:
            sql = f"SELECT {cols} {base}"
            if terms:
                sql += f" ORDER BY {', '.join(terms)}"
            params += oparams
        limit, offset = args.get("limit"), args.get("offset")
        if limit is not None or offset is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [(None if self.pg else -1) if limit is None else int(limit), int(offset or 0)]
        return sql, params

    def by_pk(self, table: Table, keys: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and parameters of a `<table>_by_pk` query: every column of the row whose primary key is `keys`."""
        alias = self._alias()
        cols = ", ".join(f"{self.col(table, alias, c)} AS {quote(c.name)}" for c in table.columns)
        conds = []
        params = []
        for c in table.pk:
            conds.append(f"{self.col(table, alias, c)} = ?")
            params.append(self.param(c, keys[c.name]))
        return (f"SELECT {cols} FROM {quote(table.sql_table)} {alias} WHERE {' AND '.join(conds)}", params)

    def _agg_sql(self, table: Table, alias: str, a: Agg, *, exact: bool = False) -> str:
        if a.func == "count":
            if not a.columns:
                return "count(*)"
            expr = self._tuple(table, alias, a.columns)
            if len(a.columns) > 1:
                nonnull = " OR ".join(f"{self._tuple(table, alias, [n])} IS NOT NULL" for n in a.columns)
                expr = f"CASE WHEN {nonnull} THEN {expr} END"
            return f"count({'DISTINCT ' if a.distinct else ''}{expr})"
        c = table.column(a.column or "")
        if c is None:
            raise QueryError(f"unknown column {a.column!r} of {table.name}")
        expr = self.col(table, alias, c)
        if self.pg:
            if a.func in ("sum", "min", "max"):
                return f"{a.func}({expr})"
            if a.func == "avg" or a.func in STAT_FUNCS:
                return f"{a.func}({expr})::float8"
            raise QueryError(f"unknown aggregate {a.func}")
        if a.func in ("sum", "min", "max"):
            if c.decimal:
                return f"dec{a.func}({expr})"
            if a.func == "sum" and exact and c.type != "float8":
                return f"bigsum({expr})"
            return f"{a.func}({expr})"
        if a.func == "avg":
            return f"avg({expr})"
        if a.func in STAT_FUNCS:
            return f"{a.func}(CAST({expr} AS REAL))"
        raise QueryError(f"unknown aggregate {a.func}")

    def _where_match(
        self, table: Table, alias: str, args: Mapping[str, Any], match: tuple[str, Any] | None
    ) -> tuple[str, list[Any]]:
        where, params = self.where(table, alias, args.get("where"))
        if match is not None:
            where = f"{alias}.{quote(match[0])} = ? AND ({where})"
            params = [match[1], *params]
        return where, params

    def aggregate(
        self,
        table: Table,
        args: Mapping[str, Any],
        aggs: Sequence[Agg],
        *,
        exact: bool = False,
        match: tuple[str, Any] | None = None,
    ) -> tuple[str, list[Any]]:
        """One SELECT computing every aggregate in `aggs` over the rows `args` select."""
        if not paged(args):
            return self._aggregate_rows(table, args, aggs, exact=exact, match=match)
        inner, params = self.select(table, args, match=match)
        sub = Table(
            table.name,
            "__rows",
            [Column(c.name, c.type, c.nullable, c.is_list, None, c.decimal) for c in table.columns],
        )
        alias = "__rows_alias"
        cols = ", ".join(self._agg_sql(sub, alias, a, exact=exact) for a in aggs) or "count(*)"
        return f"WITH __rows AS ({inner}) SELECT {cols} FROM __rows {alias}", params

    def _aggregate_rows(
        self,
        table: Table,
        args: Mapping[str, Any],
        aggs: Sequence[Agg],
        *,
        exact: bool = False,
        match: tuple[str, Any] | None = None,
        tag: int | None = None,
    ) -> tuple[str, list[Any]]:
        alias = self._alias()
        where, params = self._where_match(table, alias, args, match)
        cols = ", ".join(self._agg_sql(table, alias, a, exact=exact) for a in aggs) or "count(*)"
        first = "" if tag is None else f"{int(tag)} AS __i, "
        return f"SELECT {first}{cols} FROM {quote(table.sql_table)} {alias} WHERE {where}", params

    def aggregate_union(
        self, table: Table, fields: Sequence[Mapping[str, Any]], aggs: Sequence[Agg]
    ) -> tuple[str, list[Any]]:
        """One statement for several unpaged `_aggregate` fields of `table` asking the same aggregates:
        each field's own SELECT (the one `aggregate` builds), tagged with its position in `fields` as the
        first column `__i`, joined by UNION ALL. Each branch keeps its own WHERE and plan; what is saved
        is a statement and a round trip per field."""
        parts: list[str] = []
        params: list[Any] = []
        for i, args in enumerate(fields):
            if paged(args):
                raise QueryError("a paged aggregate cannot share a statement")
            sql, p = self._aggregate_rows(table, args, aggs, tag=i)
            parts.append(f"({sql})")
            params += p
        return " UNION ALL ".join(parts), params

    def aggregate_grouped(
        self, table: Table, key: Column, fields: Sequence[tuple[Any, Mapping[str, Any]]], aggs: Sequence[Agg]
    ) -> tuple[str, list[Any]]:
        """One statement for several unpaged `_aggregate` fields of `table` asking the same aggregates,
        each selecting `key = value` (a different value each) and its own other conditions: one scan,
        grouped by `key`. `fields` are (value, args without the key's condition). The first column is the
        key; a field whose rows are none gets no row (its counts are 0, the rest null)."""
        alias = self._alias()
        kexpr = self.col(table, alias, key)
        conds: list[tuple[str, list[Any]]] = []
        for _value, args in fields:
            if paged(args):
                raise QueryError("a paged aggregate cannot share a statement")
            conds.append(self.where(table, alias, args.get("where")))
        values = [self.param(key, v) for v, _args in fields]
        if all(c == conds[0] for c in conds):  # the same other conditions: key IN (...)
            where = f"{kexpr} IN ({', '.join('?' for _ in values)}) AND ({conds[0][0]})"
            params = [*values, *conds[0][1]]
        else:
            terms, params = [], []
            for value, (cond, cparams) in zip(values, conds, strict=True):
                terms.append(f"({kexpr} = ? AND ({cond}))")
                params += [value, *cparams]
            where = " OR ".join(terms)
        cols = ", ".join(self._agg_sql(table, alias, a) for a in aggs)
        return f"SELECT {kexpr}, {cols} FROM {quote(table.sql_table)} {alias} WHERE {where} GROUP BY 1", params


def paged(args: Mapping[str, Any]) -> bool:
    """Whether list arguments page or deduplicate the rows (an aggregate over them needs a subquery)."""
    return any(args.get(k) is not None for k in ("limit", "offset", "distinct_on"))


DIALECTS = ("sqlite", "postgres")

#: Postgres has Hasura's text operators natively (SQLite goes through GLOB and a regexp function).
_PG_TEXT_OPS = {
    "_like": "LIKE",
    "_nlike": "NOT LIKE",
    "_ilike": "ILIKE",
    "_nilike": "NOT ILIKE",
    "_similar": "SIMILAR TO",
    "_nsimilar": "NOT SIMILAR TO",
    "_regex": "~",
    "_nregex": "!~",
    "_iregex": "~*",
    "_niregex": "!~*",
}


def _pg_param(c: Column, value: Any) -> Any:
    """A GraphQL input value -> the psycopg parameter for column `c` (psycopg adapts lists to arrays)."""
    if c.type == "jsonb":
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    if c.is_list:
        return [_pg_param(Column(c.name, c.type, True), v) for v in value]
    if c.type == "Boolean":
        return bool(value)
    if c.type in ("Int", "bigint", "smallint", "numeric", "float8", "float4"):
        if isinstance(value, str):
            try:
                value = Decimal(value)
            except InvalidOperation:
                raise QueryError(f"invalid numeric value {value!r}") from None
        if c.type in ("float8", "float4"):
            return float(value)
        if (
            isinstance(value, Decimal)
            and value == value.to_integral_value()
            and c.type in ("Int", "bigint", "smallint")
        ):
            return int(value)
        return value
    return str(value)


def to_pyformat(sql: str) -> str:
    """`?` placeholders -> psycopg's `%s` (a literal `%` doubled). Identifiers and values never hold `?`:
    identifiers come from the table model, values are parameters."""
    return sql.replace("%", "%%").replace("?", "%s")


def _like_to_glob(pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


# -- SQLite functions the statements rely on ---------------------------------------------------


def _plain(d: Decimal) -> str:
    """Postgres prints numeric without an exponent: 0.0000001, not 1E-7."""
    return format(d, "f")


class _DecAgg:
    def __init__(self) -> None:
        self.values: list[Decimal] = []

    def step(self, value: Any) -> None:
        if value is not None:
            self.values.append(Decimal(str(value)))


#: Postgres sums `numeric` exactly; Decimal's default context would round the sum to 28 significant digits
#: (a BigDecimal of 30 digits differing in its last one summed equal). Addition in this context is exact.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


class _DecSum(_DecAgg):
    def finalize(self) -> str | None:
        if not self.values:
            return None
        with decimal.localcontext(_EXACT):
            return _plain(sum(self.values, Decimal(0)))


class _DecMin(_DecAgg):
    def finalize(self) -> str | None:
        return _plain(min(self.values)) if self.values else None


class _DecMax(_DecAgg):
    def finalize(self) -> str | None:
        return _plain(max(self.values)) if self.values else None


class _BigSum:
    """Exact integer sum past 2**63 (returned as TEXT so SQLite does not truncate it)."""

    def __init__(self) -> None:
        self.total = 0
        self.seen = False

    def step(self, value: Any) -> None:
        if value is not None:
            self.seen = True
            self.total += int(value)

    def finalize(self) -> str | None:
        return str(self.total) if self.seen else None


class _Var:
    sample = True
    root = False

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def step(self, value: Any) -> None:
        if value is None:
            return
        x = float(value)
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def finalize(self) -> float | None:
        d = self.n - 1 if self.sample else self.n
        if d <= 0:
            return None
        v = self.m2 / d
        return math.sqrt(v) if self.root else v


def _var_class(sample: bool, root: bool) -> type[_Var]:
    return type("_V", (_Var,), {"sample": sample, "root": root})


def _regexp(pattern: str, value: Any) -> int:
    return int(value is not None and re.search(pattern, str(value)) is not None)


def register_functions(db: sqlite3.Connection) -> None:
    """Install the aggregate and scalar functions the generated SQL uses."""
    aggregates: dict[str, Any] = {"decsum": _DecSum, "decmin": _DecMin, "decmax": _DecMax, "bigsum": _BigSum}
    for name, sample, root in (
        ("stddev", True, True),
        ("stddev_samp", True, True),
        ("stddev_pop", False, True),
        ("variance", True, False),
        ("var_samp", True, False),
        ("var_pop", False, False),
    ):
        aggregates[name] = _var_class(sample, root)
    for name, cls in aggregates.items():
        db.create_aggregate(name, 1, cls)
    db.create_function("regexp", 2, _regexp, deterministic=True)


__all__ = ["DIALECTS", "Agg", "QueryError", "SqlBuilder", "paged", "quote", "register_functions", "to_pyformat"]
