"""The sandbox's Hasura: a starlette app answering POST /v1/graphql over one belt's SQLite file or
Postgres schema (`ServerConfig.pg_dsn`; see `db.py`), Envio's own tables included.

The schema is the Hasura-dialect SDL from `sdl.py`, executed by graphql-core with resolvers that
run the SQL from `sql.py`. Each request reads one consistent snapshot (a read-only connection in
one read transaction), so a batched fingerprint sees a single state even while an indexer writes.

Hasura habits kept: numerics (`numeric`) are JSON strings, errors come back as HTTP 200 with
`{"errors": [{"message", "extensions": {"path", "code"}}]}`, a missing root field reads
"field 'X' not found in type: 'query_root'", and an optional admin secret is checked against
the `x-hasura-admin-secret` header (the secret is never logged or echoed).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import os
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.execution import Executor
from graphql.execution.values import VariableValues, get_argument_values
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from belt_gate.envio import EnvioSchema
from belt_gate.errors import SettingsError
from belt_gate.sandbox.faults import Fault
from belt_gate.sandbox.hasura.db import Backend, Connection, PostgresBackend, SqliteBackend
from belt_gate.sandbox.hasura.sdl import (
    STAT_FUNCS,
    Column,
    SdlOptions,
    Table,
    build_tables,
    derived_from_map,
    render_sdl,
)
from belt_gate.sandbox.hasura.sql import Agg, QueryError, SqlBuilder, paged

AGG_FUNCS = ("sum", "min", "max", *STAT_FUNCS)
Info = GraphQLResolveInfo[Any]


@dataclass(frozen=True)
class ServerConfig:
    """What one served belt is: its storage, schema, permission shape, admin secret and the server-side faults."""

    db: Path
    schema: EnvioSchema
    shape: str = "admin"
    aggregate_tables: frozenset[str] | None = None
    admin_secret: str | None = None
    faults: tuple[Fault, ...] = ()
    derived_from: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: serve Hasura's admin role (every table has `_aggregate`); see `create_app` for who gets it.
    admin_role: bool = False
    #: read the belt from this Postgres database (and schema) instead of the SQLite file `db`.
    pg_dsn: str | None = None
    pg_schema: str = "public"
    #: the tables are a real Envio indexer's: `_meta` and `chain_metadata` are Envio's own views.
    envio_views: bool = False

    def backend(self) -> Backend:
        """Where the belt is read from."""
        if self.pg_dsn is not None:
            return PostgresBackend(self.pg_dsn, self.pg_schema)
        return SqliteBackend(self.db)

    def sdl_options(self) -> SdlOptions:
        """The schema options the served SDL is built with, the schema faults (removed or nullable fields) included."""
        removed = frozenset((f.entity or "", f.field or "") for f in self.faults if f.kind == "schema-remove")
        nullable = frozenset((f.entity or "", f.field or "") for f in self.faults if f.kind == "schema-nullable")
        return SdlOptions(
            self.shape,
            self.aggregate_tables,
            removed,
            nullable,
            self.derived_from,
            admin_role=self.admin_role,
            envio_views=self.envio_views,
        )

    @classmethod
    def from_options(
        cls,
        *,
        db: Path,
        schema_path: Path,
        schema: EnvioSchema,
        shape: str,
        aggregate_tables: str | None,
        admin_secret_env: str | None,
        faults: tuple[Fault, ...],
        pg_dsn_env: str | None = None,
        pg_schema: str = "public",
        envio_views: bool = False,
    ) -> ServerConfig:
        """From command-line options (both server entry points): the secret is read from the environment
        variable named, never from the command line; `aggregate_tables` is "A,B"."""
        secret = None
        if admin_secret_env:
            secret = os.environ.get(admin_secret_env)
            if not secret:
                raise SettingsError(f"admin secret variable {admin_secret_env} is not set")
        dsn = None
        if pg_dsn_env:
            dsn = os.environ.get(pg_dsn_env)
            if not dsn:
                raise SettingsError(f"Postgres DSN variable {pg_dsn_env} is not set")
        agg = None
        if aggregate_tables is not None:
            agg = frozenset(a.strip() for a in aggregate_tables.split(",") if a.strip())
        return cls(
            db=db,
            schema=schema,
            shape=shape,
            aggregate_tables=agg,
            admin_secret=secret,
            faults=faults,
            derived_from=derived_from_map(schema_path.read_text(encoding="utf-8")),
            pg_dsn=dsn,
            pg_schema=pg_schema,
            envio_views=envio_views,
        )


# -- scalars -----------------------------------------------------------------------------------


def _numeric_out(value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError(f"numeric cannot represent {value!r}")
    if isinstance(value, (int, Decimal, str)):
        return str(value)
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    raise TypeError(f"numeric cannot represent {value!r}")


def _numeric_in(value: Any) -> int | Decimal:
    if isinstance(value, bool):
        raise TypeError(f"numeric cannot represent {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, (str, float)):
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise TypeError(f"invalid numeric value {value!r}") from None
        if not d.is_finite():
            raise TypeError(f"invalid numeric value {value!r}")
        return int(d) if d == d.to_integral_value() and "e" not in str(value).lower() else d
    raise TypeError(f"numeric cannot represent {value!r}")


def _numeric_literal(node: Any) -> int | Decimal:
    if isinstance(node, (StringValueNode, IntValueNode, FloatValueNode)):
        return _numeric_in(node.value)
    raise TypeError("numeric expects a number or a string")


def _float_literal(node: Any) -> float:
    if isinstance(node, (IntValueNode, FloatValueNode, StringValueNode)):
        return float(node.value)
    raise TypeError("float8 expects a number")


def _int_literal(node: Any) -> int:
    if isinstance(node, (IntValueNode, StringValueNode)):
        return int(node.value)
    raise TypeError("expected an integer")


def _text_literal(node: Any) -> str:
    if isinstance(node, StringValueNode):
        return node.value
    raise TypeError("expected a string")


def _json_out(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _text_out(value: Any) -> str:
    """timestamptz from Postgres comes as a datetime: ISO-8601, as Hasura prints it."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _setup_scalars(schema: GraphQLSchema) -> None:
    for name, t in schema.type_map.items():
        if not isinstance(t, GraphQLScalarType) or name in ("Int", "Float", "String", "Boolean", "ID"):
            continue
        if name == "numeric":
            t.coerce_output_value = _numeric_out
            t.coerce_input_value = _numeric_in
            t.coerce_input_literal = _numeric_literal
        elif name in ("float8", "float4"):
            t.coerce_output_value = float
            t.coerce_input_value = float
            t.coerce_input_literal = _float_literal
        elif name in ("bigint", "smallint"):
            t.coerce_output_value = int
            t.coerce_input_value = int
            t.coerce_input_literal = _int_literal
        elif name == "jsonb":
            t.coerce_output_value = _json_out
        else:  # timestamptz, timestamp and Postgres enum scalars: text
            t.coerce_output_value = _text_out
            t.coerce_input_value = str
            t.coerce_input_literal = _text_literal


class _HasuraExecutor(Executor[Any]):
    """Int results wider than 32 bits (a sum of Int columns) pass as JSON numbers, as in Hasura."""

    @staticmethod
    def complete_leaf_value(return_type: GraphQLLeafType, result: Any) -> Any:
        if return_type is GraphQLInt and not isinstance(result, bool):
            if isinstance(result, int):
                return result
            if isinstance(result, str) and re.fullmatch(r"-?\d+", result):
                return int(result)
        return Executor.complete_leaf_value(return_type, result)


# -- request context ---------------------------------------------------------------------------


class Context:
    """One request: a read-only connection holding one read transaction, and a SQL builder."""

    def __init__(
        self,
        db: Connection,
        tables: Sequence[Table],
        dialect: str = "sqlite",
        errors: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.db = db
        self._tables = {t.name: t for t in tables}
        self.dialect = dialect
        self.errors = errors
        #: id(root FieldNode) -> its aggregates, answered ahead by `prefetch` (one statement for many fields)
        self.prefetched: dict[int, dict[Agg, Any]] = {}

    @property
    def sql(self) -> SqlBuilder:
        """A fresh builder per statement: aliases restart at t1, so equal shapes share a prepared statement."""
        return SqlBuilder(self._tables, self.dialect)

    def rows(self, table: Table, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        cur = self.db.execute(sql, params)
        names = [d[0] for d in cur.description]
        decode = _decoders(table) if self.dialect == "sqlite" else ()
        out = []
        for raw in cur.fetchall():
            row = dict(zip(names, raw, strict=True))
            for name, fn in decode:
                v = row.get(name)
                if v is not None:
                    row[name] = fn(v)
            out.append(row)
        return out

    def aggregate(
        self, table: Table, args: Mapping[str, Any], aggs: Sequence[Agg], match: tuple[str, Any] | None = None
    ) -> dict[Agg, Any]:
        sql, params = self.sql.aggregate(table, args, aggs, match=match)
        try:
            row = self.db.execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:  # Postgres sums exactly and never overflows
            if "overflow" not in str(exc):
                raise
            sql, params = self.sql.aggregate(table, args, aggs, exact=True, match=match)
            row = self.db.execute(sql, params).fetchone()
        return dict(zip(aggs, row, strict=True))

    def prefetch(
        self, table: Table, aggs: Sequence[Agg], fields: Sequence[tuple[FieldNode, Mapping[str, Any]]]
    ) -> None:
        """Answer several root `_aggregate` fields of `table` (same aggregates) with few statements.

        Fields that select one value of a column by equality (`chainId: {_eq: 10}`: one field per chain)
        share a scan grouped by that column; the rest share UNION ALL statements. Each statement runs
        under a savepoint: if one fails (a bad value in one field's where), its fields are left to their
        own resolvers, which then report the error on the field as before."""
        key = _group_key(table, fields)
        grouped: dict[str, tuple[Any, FieldNode, Mapping[str, Any]]] = {}
        rest: list[tuple[FieldNode, Mapping[str, Any]]] = []
        for node, args in fields:
            where = args.get("where")
            cond = where.get(key.name) if key is not None and isinstance(where, Mapping) else None
            value = cond.get("_eq") if isinstance(cond, Mapping) and set(cond) == {"_eq"} else None
            if value is None or _key_text(value) in grouped:
                rest.append((node, args))
            else:
                grouped[_key_text(value)] = (value, node, args)
        if key is None or len(grouped) < 2:
            grouped, rest = {}, list(fields)
        members = list(grouped.values())
        for start in range(0, len(members), _BATCH):
            assert key is not None
            part = members[start : start + _BATCH]
            asks = [(v, {**a, "where": {k: c for k, c in a["where"].items() if k != key.name}}) for v, _n, a in part]
            rows = self.run_batch(*self._build(self.sql.aggregate_grouped, table, key, asks, aggs))
            if rows is None:
                rest += [(n, a) for _v, n, a in part]
                continue
            found = {_key_text(row[0]): row[1:] for row in rows}
            for value, node, _args in part:
                got = found.get(_key_text(value))
                self.prefetched[id(node)] = dict(zip(aggs, got, strict=True)) if got is not None else _no_rows(aggs)
        for start in range(0, len(rest), _BATCH):
            chunk = rest[start : start + _BATCH]
            rows = self.run_batch(*self._build(self.sql.aggregate_union, table, [args for _n, args in chunk], aggs))
            for row in rows or ():
                self.prefetched[id(chunk[int(row[0])][0])] = dict(zip(aggs, row[1:], strict=True))

    @staticmethod
    def _build(builder: Callable[..., tuple[str, list[Any]]], *args: Any) -> tuple[str | None, list[Any]]:
        try:
            return builder(*args)
        except QueryError:
            return None, []

    def run_batch(self, sql: str | None, params: list[Any]) -> list[Any] | None:
        """The rows of one batched statement, or None when it could not be built or fails (under a
        savepoint, so the request's transaction goes on)."""
        if sql is None:
            return None
        self.db.execute("SAVEPOINT belt_batch")
        try:
            rows = list(self.db.execute(sql, params).fetchall())
        except self.errors:
            self.db.execute("ROLLBACK TO SAVEPOINT belt_batch")
            return None
        self.db.execute("RELEASE SAVEPOINT belt_batch")
        return rows


def _group_key(table: Table, fields: Sequence[tuple[FieldNode, Mapping[str, Any]]]) -> Column | None:
    """The column the first field selects by equality alone (an integer or text column), if any."""
    where = fields[0][1].get("where") if fields else None
    if not isinstance(where, Mapping):
        return None
    for name, cond in where.items():
        c = table.column(name)
        if (
            c is not None
            and c.sql is None
            and not c.is_list
            and c.type in ("Int", "bigint", "smallint", "String")
            and isinstance(cond, Mapping)
            and set(cond) == {"_eq"}
            and cond["_eq"] is not None
        ):
            return c
    return None


def _key_text(value: Any) -> str:
    """A group key as the field gave it and as Postgres returns it, alike (10, Decimal("10"), "10")."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return str(value)


def _no_rows(aggs: Sequence[Agg]) -> dict[Agg, Any]:
    """The aggregates of no rows, as Postgres gives them: counts 0, every other aggregate null."""
    return {a: 0 if a.func == "count" else None for a in aggs}


#: at most this many `_aggregate` fields in one statement
_BATCH = 250

_DECODERS: dict[int, list[tuple[str, Callable[[Any], Any]]]] = {}


def _decoders(table: Table) -> list[tuple[str, Callable[[Any], Any]]]:
    found = _DECODERS.get(id(table))
    if found is None:
        found = []
        for c in table.columns:
            if c.is_list or c.type == "jsonb":
                found.append((c.name, json.loads))
            elif c.type == "Boolean":
                found.append((c.name, bool))
        _DECODERS[id(table)] = found
    return found


# -- resolvers ---------------------------------------------------------------------------------


def _ctx(info: Info) -> Context:
    ctx = info.context
    assert isinstance(ctx, Context)
    return ctx


def _fields(selection: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode]) -> Iterator[FieldNode]:
    if selection is None:
        return
    for node in selection.selections:
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _fields(node.selection_set, fragments)
        elif isinstance(node, FragmentSpreadNode):
            frag = fragments.get(node.name.value)
            if frag is not None:
                yield from _fields(frag.selection_set, fragments)


def _count_key(columns: Sequence[str] | None, distinct: bool | None) -> Agg:
    cols = tuple(columns or ())
    return Agg("count", None, cols, bool(distinct) and bool(cols))


def _wanted_aggs(
    table: Table,
    schema: GraphQLSchema,
    field_nodes: Sequence[FieldNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: VariableValues | None,
) -> tuple[list[Agg], bool]:
    """The aggregates an `X_aggregate` field selects (one SQL column each) and whether `nodes` is."""
    aggs: dict[Agg, None] = {}
    nodes = False
    fields_type = schema.get_type(f"{table.name}_aggregate_fields")
    assert isinstance(fields_type, GraphQLObjectType)
    count_def = fields_type.fields["count"]
    for top in field_nodes:
        for node in _fields(top.selection_set, fragments):
            if node.name.value == "nodes":
                nodes = True
            if node.name.value != "aggregate":
                continue
            for sub in _fields(node.selection_set, fragments):
                name = sub.name.value
                if name == "count":
                    args = get_argument_values(count_def, sub, variables)
                    aggs[_count_key(args.get("columns"), args.get("distinct"))] = None
                elif name in AGG_FUNCS:
                    for col in _fields(sub.selection_set, fragments):
                        if col.name.value != "__typename":
                            aggs[Agg(name, col.name.value)] = None
    return list(aggs), nodes


def _agg_value(table: Table, a: Agg, value: Any) -> Any:
    if value is None or a.column is None:
        return value
    c = table.column(a.column)
    if c is not None and c.is_list and a.func in ("min", "max") and isinstance(value, str):
        return json.loads(value)
    return value


def _aggregate_payload(
    table: Table, info: Info, ctx: Context, args: Mapping[str, Any], match: tuple[str, Any] | None
) -> dict[str, Any]:
    aggs, want_nodes = _wanted_aggs(table, info.schema, info.field_nodes, info.fragments, info.variable_values)
    result: dict[str, Any] = {}
    ahead = ctx.prefetched.get(id(info.field_nodes[0])) if match is None and len(info.field_nodes) == 1 else None
    if ahead is not None and list(ahead) == aggs:
        values = ahead
    else:
        values = ctx.aggregate(table, args, aggs, match) if aggs else {}
    agg: dict[str, Any] = {"__values": values}
    for a, v in values.items():
        if a.func != "count":
            agg.setdefault(a.func, {})[a.column or ""] = _agg_value(table, a, v)
    for func in AGG_FUNCS:
        agg.setdefault(func, {})
    result["aggregate"] = agg
    if want_nodes:
        sql, params = ctx.sql.select(table, args, match=match)
        result["nodes"] = ctx.rows(table, sql, params)
    return result


def _resolve_count(
    agg: Mapping[str, Any], info: Info, columns: Sequence[str] | None = None, distinct: bool | None = None
) -> Any:
    return agg["__values"].get(_count_key(columns, distinct))


def _wire(schema: GraphQLSchema, tables: Sequence[Table]) -> None:
    by_name = {t.name: t for t in tables}
    root = schema.query_type
    assert root is not None
    for t in tables:
        _wire_table(schema, root, t, by_name)


def _wire_table(schema: GraphQLSchema, root: GraphQLObjectType, t: Table, by_name: Mapping[str, Table]) -> None:
    def resolve_list(_src: Any, info: Info, **args: Any) -> Any:
        ctx = _ctx(info)
        sql, params = ctx.sql.select(t, args)
        return ctx.rows(t, sql, params)

    def resolve_by_pk(_src: Any, info: Info, **args: Any) -> Any:
        ctx = _ctx(info)
        sql, params = ctx.sql.by_pk(t, args)
        rows = ctx.rows(t, sql, params)
        return rows[0] if rows else None

    def resolve_aggregate(_src: Any, info: Info, **args: Any) -> Any:
        return _aggregate_payload(t, info, _ctx(info), args, None)

    root.fields[t.name].resolve = resolve_list
    if f"{t.name}_by_pk" in root.fields:
        root.fields[f"{t.name}_by_pk"].resolve = resolve_by_pk
    if f"{t.name}_aggregate" in root.fields:
        root.fields[f"{t.name}_aggregate"].resolve = resolve_aggregate
    fields_type = schema.get_type(f"{t.name}_aggregate_fields")
    if isinstance(fields_type, GraphQLObjectType):
        fields_type.fields["count"].resolve = _resolve_count
    obj = schema.get_type(t.name)
    assert isinstance(obj, GraphQLObjectType)
    for rel in t.object_rels:
        if rel.name in obj.fields:
            obj.fields[rel.name].resolve = _object_rel(by_name[rel.target], rel.column)
    for arr in t.array_rels:
        if arr.name in obj.fields:
            target = by_name[arr.target]
            obj.fields[arr.name].resolve = _array_rel(target, arr.remote, arr.column)
            if f"{arr.name}_aggregate" in obj.fields:
                obj.fields[f"{arr.name}_aggregate"].resolve = _array_rel_agg(target, arr.remote, arr.column)


def _object_rel(target: Table, column: str) -> Callable[..., Any]:
    def resolve(src: Mapping[str, Any], info: Info) -> Any:
        key = src.get(column)
        if key is None:
            return None
        ctx = _ctx(info)
        sql, params = ctx.sql.by_pk(target, {"id": key})
        rows = ctx.rows(target, sql, params)
        return rows[0] if rows else None

    return resolve


def _array_rel(target: Table, remote: str, column: str) -> Callable[..., Any]:
    def resolve(src: Mapping[str, Any], info: Info, **args: Any) -> Any:
        ctx = _ctx(info)
        sql, params = ctx.sql.select(target, args, match=(remote, src.get(column)))
        return ctx.rows(target, sql, params)

    return resolve


def _array_rel_agg(target: Table, remote: str, column: str) -> Callable[..., Any]:
    def resolve(src: Mapping[str, Any], info: Info, **args: Any) -> Any:
        return _aggregate_payload(target, info, _ctx(info), args, (remote, src.get(column)))

    return resolve


# -- the service -------------------------------------------------------------------------------


_NOT_FOUND = re.compile(r"Cannot query field '([^']+)' on type '([^']+)'\.")


def _hasura_error(err: GraphQLError, *, validation: bool) -> dict[str, Any]:
    message = err.message
    path = "$"
    m = _NOT_FOUND.match(message)
    if m:
        message = f"field '{m.group(1)}' not found in type: '{m.group(2)}'"
        path = f"$.selectionSet.{m.group(1)}"
    code = "validation-failed" if validation else "unexpected"
    original = err.original_error
    if isinstance(original, QueryError):
        code = "validation-failed"
        message = str(original)
    elif isinstance(original, sqlite3.Error) or type(original).__module__.startswith("psycopg"):
        code = "postgres-error"
        message = f"database query error: {original}"
    if err.path:
        path = "$." + ".".join(str(p) for p in err.path)
    return {"message": message, "extensions": {"path": path, "code": code}}


class GraphQLService:
    """The schema and the database of one belt; `execute` answers one GraphQL request body."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.backend = config.backend()
        options = config.sdl_options()
        if config.envio_views and isinstance(self.backend, PostgresBackend):
            # serve the columns as Postgres holds them (Envio 2 and 3 differ), once Envio made its tables
            options = replace(options, column_types=self.backend.column_types(wait_for="chain_metadata"))
        self.tables = build_tables(config.schema, options)
        self.sdl = render_sdl(self.tables)
        self.schema = build_schema(self.sdl)
        _setup_scalars(self.schema)
        _wire(self.schema, self.tables)
        root = self.schema.query_type
        assert root is not None
        self._aggregate_roots = {f"{t.name}_aggregate": t for t in self.tables if f"{t.name}_aggregate" in root.fields}
        self._list_roots = {t.name: t for t in self.tables if t.name in root.fields}

    def execute(self, body: Any, stats: dict[str, float] | None = None) -> dict[str, Any]:
        """One request's answer; `stats`, when given, gets its seconds: parse, validate, sql (statements
        executed, `statements` of them) and the rest of execution (resolvers, building the JSON)."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _error("the request body must be a JSON object with a string 'query'", "$", "bad-request")
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return _error("'variables' must be an object", "$.variables", "bad-request")
        operation = body.get("operationName")
        clock = _Clock(stats)
        with _no_gc():
            try:
                document = parse(body["query"])
            except GraphQLError as exc:
                return _error(f"not a valid graphql query: {exc.message}", "$.query", "validation-failed")
            clock.lap("parse_s")
            errors = validate(self.schema, _dedup_root_fields(document), max_errors=20, hide_suggestions=True)
            errors += _root_alias_conflicts(document)
            clock.lap("validate_s")
            if errors:
                return {"errors": [_hasura_error(e, validation=True) for e in errors]}
            try:
                with self.backend.snapshot() as db:
                    conn = _TimedConnection(db, stats) if stats is not None else db
                    context = Context(conn, self.tables, self.backend.dialect, self.backend.errors)
                    ahead: dict[str, Any] = {}
                    if self.backend.dialect == "postgres":
                        ahead = self._prefetch(document, operation if isinstance(operation, str) else None, context)
                    remaining = _without_root_fields(document, ahead) if ahead else document
                    result = None
                    if remaining is not None:
                        result = execute_sync(
                            self.schema,
                            remaining,
                            context_value=context,
                            variable_values=variables,
                            operation_name=operation if isinstance(operation, str) else None,
                            executor_class=_HasuraExecutor,
                            hide_suggestions=True,
                        )
            except self.backend.errors as exc:
                return _error(f"database unavailable: {str(exc).strip()}", "$", "postgres-error")
            clock.lap("execute_s")
        if result is not None and result.errors:
            validation = result.data is None
            return {"errors": [_hasura_error(e, validation=validation) for e in result.errors]}
        if not ahead:
            return {"data": result.data if result is not None else None}
        return {"data": _merge_root(document, ahead, (result.data if result is not None else None) or {})}

    def _prefetch(self, document: DocumentNode, operation: str | None, context: Context) -> dict[str, Any]:
        """Answer the operation's plain root `_aggregate` fields ahead, a statement per table and selection;
        returns the finished answers of those fields by response key (graphql-core executes the rest).

        A fingerprint request holds one `X_aggregate` field per (entity, chain); over Postgres a statement
        per field was a round trip and a plan each (20,000 at 100 chains x 100 entities), and executing
        20,000 fields through graphql-core cost more than the SQL. Only fields whose answer cannot depend
        on execution are taken: no variables in the operation, no directives, unpaged, no `nodes`, a
        response key of their own; anything else is resolved field by field as before."""
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [d for d in ops if operation is None or (d.name is not None and d.name.value == operation)]
        if len(chosen) != 1 or chosen[0].operation.value != "query" or chosen[0].variable_definitions:
            return {}
        if not all(isinstance(sel, FieldNode) for sel in chosen[0].selection_set.selections):
            return {}  # a root fragment could share a response key with a field answered ahead
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        root = self.schema.query_type
        assert root is not None
        groups: dict[tuple[str, tuple[Agg, ...]], list[tuple[FieldNode, Mapping[str, Any]]]] = {}
        keys = [_response_key(sel) for sel in chosen[0].selection_set.selections if isinstance(sel, FieldNode)]
        once = {k for k, n in Counter(keys).items() if n == 1}
        wanted_of: dict[tuple[str, str], tuple[list[Agg], bool]] = {}
        shapes: dict[int, tuple[str, str]] = {}
        plans: dict[tuple[str, str], _Plan] = {}
        lists: list[FieldNode] = []
        for sel in chosen[0].selection_set.selections:
            if not isinstance(sel, FieldNode) or sel.directives or _response_key(sel) not in once:
                continue
            if sel.name.value in self._list_roots:
                lists.append(sel)
                continue
            table = self._aggregate_roots.get(sel.name.value)
            if table is None:
                continue
            try:
                args = get_argument_values(root.fields[sel.name.value], sel, None)
            except GraphQLError:
                continue
            if paged(args):
                continue
            shape = (table.name, _selection_text(sel))
            if shape not in wanted_of or not shape[1]:
                wanted_of[shape] = _wanted_aggs(table, self.schema, [sel], fragments, None)
            wanted, nodes = wanted_of[shape]
            if wanted and not nodes:
                groups.setdefault((table.name, tuple(wanted)), []).append((sel, args))
                shapes[id(sel)] = shape
        by_name = {t.name: t for t in self.tables}
        answers: dict[str, Any] = {}
        for (name, aggs), fields in groups.items():
            if len(fields) < 2:
                continue
            table = by_name[name]
            context.prefetch(table, aggs, fields)
            for sel, _args in fields:
                values = context.prefetched.get(id(sel))
                if values is None:
                    continue
                with suppress(_NotAhead):
                    shape = shapes[id(sel)]
                    plan = plans.get(shape) if shape[1] else None
                    if plan is None:
                        plan = plans[shape] = _aggregate_plan(self.schema, table, sel, fragments)
                    answers[_response_key(sel)] = _fill(plan, table, values)
        for sel in lists:
            table = self._list_roots[sel.name.value]
            with suppress(_NotAhead, GraphQLError, QueryError):
                row_plan = _row_plan(self.schema, table, sel, fragments)
                sql, params = context.sql.select(table, get_argument_values(root.fields[sel.name.value], sel, None))
                rows = context.run_batch(sql, params)
                if rows is not None:
                    answers[_response_key(sel)] = [
                        {key: t if i is None else _leaf(t, row[i]) for key, i, t in row_plan} for row in rows
                    ]
        return answers


class _Clock:
    """Seconds since the last lap, added to `stats[name]` (nothing when there are no stats)."""

    def __init__(self, stats: dict[str, float] | None) -> None:
        self.stats = stats
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.stats is not None:
            now = time.perf_counter()
            self.stats[name] = self.stats.get(name, 0.0) + now - self.last
            self.last = now


class _TimedConnection:
    """A request's connection that adds each statement's seconds to `stats["sql_s"]`."""

    def __init__(self, db: Connection, stats: dict[str, float]) -> None:
        self.db = db
        self.stats = stats

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        began = time.perf_counter()
        try:
            return self.db.execute(sql, params)
        finally:
            self.stats["sql_s"] = self.stats.get("sql_s", 0.0) + time.perf_counter() - began
            self.stats["statements"] = self.stats.get("statements", 0) + 1


class _NotAhead(Exception):
    """A prefetched field that graphql-core must complete after all (a shape the fast path does not take)."""


def _response_key(node: FieldNode) -> str:
    return (node.alias or node.name).value


def _selection_text(node: FieldNode) -> str:
    """A field's selection set as written ('' when the parser kept no locations): fields with the same
    text select the same aggregates (the fingerprint's fragment spread)."""
    sel = node.selection_set
    if sel is None or sel.loc is None:
        return ""
    return sel.loc.source.body[sel.loc.start : sel.loc.end]


def _collect(
    selection: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode], type_name: str
) -> dict[str, list[FieldNode]]:
    """Fields by response key, fragments spread (graphql-core's field collection, for one object type)."""
    out: dict[str, list[FieldNode]] = {}
    for node in selection.selections if selection is not None else ():
        if node.directives:
            raise _NotAhead
        if isinstance(node, FieldNode):
            out.setdefault(_response_key(node), []).append(node)
            continue
        if isinstance(node, InlineFragmentNode):
            inner = node.selection_set
            condition = node.type_condition
        elif isinstance(node, FragmentSpreadNode):
            frag = fragments.get(node.name.value)
            if frag is None:
                raise _NotAhead
            inner, condition = frag.selection_set, frag.type_condition
        else:
            raise _NotAhead
        if condition is not None and condition.name.value != type_name:
            raise _NotAhead
        for key, nodes in _collect(inner, fragments, type_name).items():
            out.setdefault(key, []).extend(nodes)
    return out


#: where a prefetched field's answer takes a value from: a sub-plan, or (aggregate, its GraphQL type) for a
#: leaf, or (None, a type name) for `__typename`
_Plan = dict[str, Any]


def _aggregate_plan(
    schema: GraphQLSchema, table: Table, field: FieldNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> _Plan:
    """The shape of one root `X_aggregate` field's answer, as graphql-core with this server's resolvers
    gives it; the same for every field whose selection reads alike (`_fill` puts the values in)."""
    outer = schema.get_type(f"{table.name}_aggregate")
    fields_type = schema.get_type(f"{table.name}_aggregate_fields")
    if not isinstance(outer, GraphQLObjectType) or not isinstance(fields_type, GraphQLObjectType):
        raise _NotAhead
    plan: _Plan = {}
    for key, nodes in _collect(field.selection_set, fragments, outer.name).items():
        name = nodes[0].name.value
        if name == "__typename":
            plan[key] = (None, outer.name)
            continue
        if name != "aggregate":
            raise _NotAhead
        inner: _Plan = {}
        for sub_key, sub_nodes in _collect(_merged(nodes), fragments, fields_type.name).items():
            sub = sub_nodes[0].name.value
            if sub == "__typename":
                inner[sub_key] = (None, fields_type.name)
            elif sub == "count":
                args = (
                    get_argument_values(fields_type.fields["count"], sub_nodes[0], None)
                    if any(n.arguments for n in sub_nodes)
                    else {}
                )
                inner[sub_key] = (
                    _count_key(args.get("columns"), args.get("distinct")),
                    fields_type.fields["count"].type,
                )
            elif sub in AGG_FUNCS and sub in fields_type.fields:
                col_type = _named(fields_type.fields[sub].type)
                if not isinstance(col_type, GraphQLObjectType):
                    raise _NotAhead
                cols: _Plan = {}
                for col_key, col_nodes in _collect(_merged(sub_nodes), fragments, col_type.name).items():
                    col = col_nodes[0].name.value
                    if col == "__typename":
                        cols[col_key] = (None, col_type.name)
                    elif col in col_type.fields:
                        cols[col_key] = (Agg(sub, col), col_type.fields[col].type)
                    else:
                        raise _NotAhead
                inner[sub_key] = cols
            else:
                raise _NotAhead
        plan[key] = inner
    return plan


def _row_plan(
    schema: GraphQLSchema, table: Table, field: FieldNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[tuple[str, int | None, Any]]:
    """What each row of a root list field answers, (response key, column position in `SqlBuilder.select`'s
    SELECT, its GraphQL type), or (key, None, type name) for `__typename`; columns only (no relations)."""
    obj = _named(schema.query_type.fields[field.name.value].type) if schema.query_type else None
    if not isinstance(obj, GraphQLObjectType):
        raise _NotAhead
    position = {c.name: i for i, c in enumerate(table.columns)}
    plan: list[tuple[str, int | None, Any]] = []
    for key, nodes in _collect(field.selection_set, fragments, obj.name).items():
        name = nodes[0].name.value
        if any(n.selection_set is not None or n.arguments for n in nodes):
            raise _NotAhead
        if name == "__typename":
            plan.append((key, None, obj.name))
        elif name in position and name in obj.fields:
            plan.append((key, position[name], obj.fields[name].type))
        else:
            raise _NotAhead
    return plan


def _fill(plan: _Plan, table: Table, values: Mapping[Agg, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, slot in plan.items():
        if isinstance(slot, dict):
            out[key] = _fill(slot, table, values)
            continue
        agg, t = slot
        if agg is None:
            out[key] = t
        elif agg in values:
            out[key] = _leaf(t, _agg_value(table, agg, values[agg]))
        else:
            raise _NotAhead
    return out


def _merged(nodes: Sequence[FieldNode]) -> SelectionSetNode:
    """The sub-selections of fields sharing one response key, as one selection set."""
    return SelectionSetNode(selections=tuple(n for x in nodes if x.selection_set for n in x.selection_set.selections))


def _named(t: Any) -> Any:
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        t = t.of_type
    return t


def _leaf(t: Any, value: Any) -> Any:
    """A leaf as graphql-core completes it: null stays null where the type allows it."""
    if isinstance(t, GraphQLList) or (isinstance(t, GraphQLNonNull) and isinstance(t.of_type, GraphQLList)):
        raise _NotAhead
    if value is None:
        if isinstance(t, GraphQLNonNull):
            raise _NotAhead
        return None
    named = _named(t)
    if not isinstance(named, GraphQLScalarType):
        raise _NotAhead
    try:
        return _HasuraExecutor.complete_leaf_value(named, value)
    except Exception:
        raise _NotAhead from None


def _without_root_fields(document: DocumentNode, done: Mapping[str, Any]) -> DocumentNode | None:
    """The document without the root fields answered ahead (None when nothing is left to execute)."""
    definitions = []
    left = 0
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode):
            kept = tuple(
                s for s in d.selection_set.selections if not (isinstance(s, FieldNode) and _response_key(s) in done)
            )
            left += len(kept)
            d = OperationDefinitionNode(
                operation=d.operation,
                name=d.name,
                variable_definitions=d.variable_definitions,
                directives=d.directives,
                selection_set=SelectionSetNode(selections=kept),
            )
        definitions.append(d)
    return DocumentNode(definitions=tuple(definitions)) if left else None


def _merge_root(document: DocumentNode, done: Mapping[str, Any], executed: Mapping[str, Any]) -> dict[str, Any]:
    """The root answer in the document's field order: fields answered ahead and the ones executed."""
    out: dict[str, Any] = {}
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode):
            for s in d.selection_set.selections:
                key = _response_key(s) if isinstance(s, FieldNode) else None
                if key is None or key in out:
                    continue
                if key in done:
                    out[key] = done[key]
                elif key in executed:
                    out[key] = executed[key]
    return out


# -- large batched documents -------------------------------------------------------------------
#
# A fingerprint request carries thousands of aliased root fields of a few shapes. graphql-core's
# validation visits every node with every rule, and its garbage collector rescans the big AST
# again and again; both made a 10,000-field request take ~40 s. So: validate one representative
# root field per shape (alias dropped, integer literals reduced to their 32-bit class - nothing
# a validation rule can tell apart), check root alias clashes directly, and pause the cyclic GC
# while one request runs (reference counting still frees everything acyclic).

_gc_lock = threading.Lock()
_gc_users = 0


@contextmanager
def _no_gc() -> Iterator[None]:
    global _gc_users
    with _gc_lock:
        _gc_users += 1
        if _gc_users == 1:
            gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.enable()


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_SMALL_INT = re.compile(r"(?<![\w.])\d{1,9}(?![\w.])")


def _string_class(m: re.Match[str]) -> str:
    """A string literal's validation class. This server's scalars accept a string literal by whether
    `numeric` can read it and whether `float8` can (String, ID and text scalars take any string), so
    strings alike on both are one class; escapes keep a string itself."""
    text = m.group(1)
    if "\\" in text:
        return m.group(0)
    readable = []
    for reader in (_numeric_in, float):
        try:
            reader(text)
            readable.append(True)
        except (TypeError, ValueError):
            readable.append(False)
    if all(readable):
        return '"0"'
    return '"s"' if not any(readable) else m.group(0)


def _field_text(document: DocumentNode, sel: Any) -> str | None:
    """The source text of a root field without its alias (None when the parser kept no locations)."""
    if not isinstance(sel, FieldNode) or sel.loc is None or sel.name.loc is None:
        return None
    return " ".join(sel.loc.source.body[sel.name.loc.start : sel.loc.end].split())


def _shape(document: DocumentNode, sel: Any) -> str:
    """Root fields with equal shapes validate alike: 32-bit integer literals are one class, and string
    literals fall in the classes of `_string_class` (an id bound of a sample is any non-numeric string)."""
    text = _field_text(document, sel)
    if text is None or '"""' in text:
        return str(id(sel))
    return _SMALL_INT.sub("0", _STRING.sub(_string_class, text))


_DEDUP_ABOVE = 64


def _dedup_root_fields(document: DocumentNode) -> DocumentNode:
    definitions = []
    changed = False
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode):
            large = len(d.selection_set.selections) > _DEDUP_ABOVE
            seen: set[str] = set()
            kept = []
            for sel in d.selection_set.selections:
                key = _shape(document, sel) if large else str(id(sel))
                if key not in seen:
                    seen.add(key)
                    kept.append(_with_short_lists(sel))
            if len(kept) < len(d.selection_set.selections) or any(
                a is not b for a, b in zip(kept, d.selection_set.selections, strict=False)
            ):
                changed = True
                d = OperationDefinitionNode(
                    operation=d.operation,
                    name=d.name,
                    variable_definitions=d.variable_definitions,
                    directives=d.directives,
                    selection_set=SelectionSetNode(selections=tuple(kept)),
                )
        definitions.append(d)
    return DocumentNode(definitions=tuple(definitions)) if changed else document


_LIST_DEDUP_ABOVE = 8


def _with_short_lists(sel: Any) -> Any:
    """A root field whose argument lists (a sample's `_or` of 100 slices) keep one element per shape
    (`_shape`'s classes): each element validates alone, so elements alike validate alike."""
    if not isinstance(sel, FieldNode) or not sel.arguments:
        return sel
    args = tuple(replace(a, value=_short_value(a.value)) for a in sel.arguments)
    if all(a.value is b.value for a, b in zip(args, sel.arguments, strict=True)):
        return sel
    return replace(sel, arguments=args)


def _short_value(node: Any) -> Any:
    if isinstance(node, ObjectValueNode):
        fields = tuple(replace(f, value=_short_value(f.value)) for f in node.fields)
        if all(a.value is b.value for a, b in zip(fields, node.fields, strict=True)):
            return node
        return replace(node, fields=fields)
    if isinstance(node, ListValueNode):
        values = [_short_value(v) for v in node.values]
        if len(values) > _LIST_DEDUP_ABOVE:
            seen: set[str] = set()
            kept = []
            for original, v in zip(node.values, values, strict=True):
                text = original.loc.source.body[original.loc.start : original.loc.end] if original.loc else None
                key = (
                    _SMALL_INT.sub("0", _STRING.sub(_string_class, text)) if text and '"""' not in text else str(id(v))
                )
                if key not in seen:
                    seen.add(key)
                    kept.append(v)
            values = kept
        if len(values) == len(node.values) and all(a is b for a, b in zip(values, node.values, strict=True)):
            return node
        return replace(node, values=tuple(values))
    return node


def _root_alias_conflicts(document: DocumentNode) -> list[GraphQLError]:
    """Two root fields with one response name but different fields/arguments (full documents only)."""
    errors: list[GraphQLError] = []
    for d in document.definitions:
        if not isinstance(d, OperationDefinitionNode) or len(d.selection_set.selections) <= _DEDUP_ABOVE:
            continue
        seen: dict[str, str] = {}
        for sel in d.selection_set.selections:
            if not isinstance(sel, FieldNode):
                continue
            name = (sel.alias or sel.name).value
            key = _field_text(document, sel)
            if key is not None and seen.setdefault(name, key) != key:
                errors.append(
                    GraphQLError(f"Fields '{name}' conflict because they have differing fields or arguments.")
                )
    return errors


def _error(message: str, path: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"path": path, "code": code}}]}


#: When set, the server appends one JSON line per GraphQL request to this file: the seconds it spent
#: (parse, validate, SQL, JSON) and the request/response sizes - the server's side of "where the time goes".
TIMING_LOG_VAR = "BELT_SANDBOX_TIMING_LOG"
_timing_lock = threading.Lock()


def _log_timing(path: str, seconds: float, request_bytes: int, response_bytes: int, stats: dict[str, float]) -> None:
    parts = {k: round(v, 6) for k, v in stats.items()}
    line = json.dumps(
        {"seconds": round(seconds, 6), "request_bytes": request_bytes, "response_bytes": response_bytes, **parts}
    )
    with _timing_lock, open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def create_app(config: ServerConfig) -> Starlette:
    """The starlette application: POST /v1/graphql, GET /healthz.

    Roles, as Hasura with HASURA_GRAPHQL_ADMIN_SECRET (and, for the public shapes,
    HASURA_GRAPHQL_UNAUTHORIZED_ROLE): no secret configured -> everyone gets `config.shape`. With a
    secret: the right `x-hasura-admin-secret` gets the admin role (every table has `_aggregate`); a
    wrong one is denied; none is denied for shape admin and served as the public role (the shape as
    configured) for shapes public and newer.
    """
    service = GraphQLService(config)
    secret = config.admin_secret
    admin = service
    if secret is not None and config.shape != "admin":
        admin = GraphQLService(replace(config, admin_role=True))
    slow = sum(f.seconds or 0.0 for f in config.faults if f.kind == "slow")
    timing_log = os.environ.get(TIMING_LOG_VAR) or None
    broken = any(f.kind == "http5xx" for f in config.faults)

    def role(request: Request) -> GraphQLService | str:
        """The service answering this request, or why access is denied. The secret is never echoed."""
        if secret is None:
            return service
        given = request.headers.get("x-hasura-admin-secret")
        if given is None:
            return (
                "x-hasura-admin-secret/x-hasura-access-key required, but not found"
                if (config.shape == "admin")
                else service
            )
        if hmac.compare_digest(given.encode(), secret.encode()):
            return admin
        return "invalid x-hasura-admin-secret/x-hasura-access-key"

    async def graphql_endpoint(request: Request) -> Response:
        if broken:
            return PlainTextResponse("service unavailable (sandbox fault http5xx)", status_code=503)
        if slow:
            await asyncio.sleep(slow)
        chosen = role(request)
        if isinstance(chosen, str):
            return JSONResponse(_error(chosen, "$", "access-denied"))
        raw = await request.body()
        began = time.perf_counter()
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse(_error("invalid json", "$", "invalid-json"))
        stats: dict[str, float] | None = {} if timing_log is not None else None
        if isinstance(body, list):
            answer: Any = [await run_in_threadpool(chosen.execute, item, stats) for item in body]
        else:
            answer = await run_in_threadpool(chosen.execute, body, stats)
        encoding = time.perf_counter()
        response = JSONResponse(answer)
        if timing_log is not None and stats is not None:
            stats["json_s"] = time.perf_counter() - encoding
            _log_timing(timing_log, time.perf_counter() - began, len(raw), len(response.body), stats)
        return response

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def version(_request: Request) -> Response:
        return JSONResponse({"version": "v2-belt-gate-sandbox"})

    app = Starlette(
        routes=[
            Route("/v1/graphql", graphql_endpoint, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/v1/version", version, methods=["GET"]),
        ]
    )
    app.state.service = service
    return app


__all__ = ["GraphQLService", "ServerConfig", "create_app"]
