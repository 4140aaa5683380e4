"""What one endpoint can answer, read from its introspection: a pure function, no I/O.

Real Envio belts come in shapes (DESIGN.md §9): progress from `chain_metadata` or `_meta`; aggregates on
every table, on some, or on none; enums shown as Postgres-enum scalars. This module says which.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_client_schema,
)

from belt_gate.envio import Entity, Field

#: Envio's own tables: never entities of the user's schema.
ENVIO_INTERNAL = frozenset(
    {
        "chain_metadata",
        "raw_events",
        "dynamic_contract_registry",
        "event_sync_state",
        "persisted_state",
        "end_of_block_range_scanned_data",
        "entity_history",
        "entity_history_filter",
        "_meta",
        "envio_chains",
        "envio_checkpoints",
        "_envio_chains",
        "_envio_checkpoints",
    }
)
#: Scalars Hasura itself defines; any other custom scalar with a `_comparison_exp` is a Postgres enum.
HASURA_BUILTIN_SCALARS = frozenset(
    {
        "String",
        "Int",
        "Float",
        "Boolean",
        "ID",
        "numeric",
        "bigint",
        "float8",
        "float4",
        "jsonb",
        "json",
        "timestamptz",
        "timestamp",
        "date",
        "time",
        "timetz",
        "uuid",
        "smallint",
        "bpchar",
        "citext",
        "_text",
        "_numeric",
        "contract_type",
        "interval",
        "bytea",
        "money",
        "cursor_ordering",
        "order_by",
    }
)
_NUMERIC_SCALARS = {
    "Int": "Int",
    "numeric": "BigInt",
    "bigint": "BigInt",
    "float8": "Float",
    "float4": "Float",
    "smallint": "Int",
}


@dataclass(frozen=True)
class Dialect:
    """What one endpoint's introspection says it can answer: where progress is read, the entity tables, which of them
    allow aggregates and on which columns, the entity models and the enum scalars."""

    progress_source: str | None  # "chain_metadata" | "_meta" | None
    tables: tuple[str, ...]  # entity tables (query_root list fields with a matching object type)
    aggregate_tables: frozenset[str]
    sum_columns: dict[str, tuple[str, ...]]
    minmax_columns: dict[str, tuple[str, ...]]
    entities: dict[str, Entity]  # entity models reconstructed from the object types
    enum_scalars: tuple[str, ...]

    def has_aggregate(self, table: str) -> bool:
        """Whether `table` has an `X_aggregate` root field for this role (without one, its counts and content cannot be
        checked)."""
        return table in self.aggregate_tables


def _named(t: Any) -> Any:
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        t = t.of_type
    return t


def _is_list_of(t: Any, name: str) -> bool:
    """`[name!]!`: the shape of a table's list query (not `_aggregate`, `_by_pk`, `_stream`)."""
    if not isinstance(t, GraphQLNonNull) or not isinstance(t.of_type, GraphQLList):
        return False
    core = _named(t)
    return isinstance(core, GraphQLObjectType) and core.name == name


def _field_of(name: str, gql_type: Any) -> Field:
    nullable = not isinstance(gql_type, GraphQLNonNull)
    inner = gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type
    is_list = isinstance(inner, GraphQLList)
    core = _named(gql_type)
    if isinstance(core, GraphQLScalarType):
        envio = _NUMERIC_SCALARS.get(core.name)
        if envio:
            return Field(name, envio, nullable, is_list, "scalar")
        if core.name == "Boolean":
            return Field(name, "Boolean", nullable, is_list, "scalar")
        if core.name in HASURA_BUILTIN_SCALARS:
            return Field(name, "String", nullable, is_list, "scalar")
        return Field(name, core.name, nullable, is_list, "enum")
    if isinstance(core, GraphQLEnumType):
        return Field(name, core.name, nullable, is_list, "enum")
    return Field(name, core.name, nullable, is_list, "derived")  # relationships are not columns


_BUILT: list[tuple[dict[str, Any], GraphQLSchema]] = []  # the last few, matched by identity (held, so ids stay unique)


def schema_of(introspection: dict[str, Any]) -> GraphQLSchema:
    """The schema of an introspection answer, built once per answer: the shape check, the dialect and the
    schema diff all read the same one (building it is the costliest pure step of a snapshot)."""
    for seen, schema in _BUILT:
        if seen is introspection:
            return schema
    schema = build_client_schema(introspection)  # type: ignore[arg-type]
    _BUILT.insert(0, (introspection, schema))
    del _BUILT[4:]
    return schema


def read_dialect(introspection: dict[str, Any]) -> Dialect:
    """The dialect of a Hasura endpoint from its introspection answer: progress from `_meta` when served, else
    `chain_metadata`; Envio's internal tables left out."""
    schema = schema_of(introspection)
    root = schema.query_type
    assert root is not None
    fields = root.fields
    # Newer Envio serves `_meta` (its progress API) and keeps `chain_metadata` as a view beside it: prefer `_meta`.
    progress = "_meta" if "_meta" in fields else "chain_metadata" if "chain_metadata" in fields else None
    tables = []
    aggregates = set()
    sums: dict[str, tuple[str, ...]] = {}
    minmax: dict[str, tuple[str, ...]] = {}
    entities: dict[str, Entity] = {}
    for name, f in fields.items():
        if name in ENVIO_INTERNAL or name.startswith("_") or not _is_list_of(f.type, name):
            continue
        obj = _named(f.type)
        tables.append(name)
        entities[name] = Entity(name, tuple(_field_of(n, fd.type) for n, fd in obj.fields.items()))
        agg_fields = schema.get_type(f"{name}_aggregate_fields")
        if f"{name}_aggregate" in fields and isinstance(agg_fields, GraphQLObjectType):
            aggregates.add(name)
            sum_t = schema.get_type(f"{name}_sum_fields")
            min_t = schema.get_type(f"{name}_min_fields")
            max_t = schema.get_type(f"{name}_max_fields")
            sums[name] = tuple(sorted(sum_t.fields)) if isinstance(sum_t, GraphQLObjectType) else ()
            if isinstance(min_t, GraphQLObjectType) and isinstance(max_t, GraphQLObjectType):
                minmax[name] = tuple(sorted(set(min_t.fields) & set(max_t.fields)))
            else:
                minmax[name] = ()
    enum_scalars = sorted(
        t.name
        for t in schema.type_map.values()
        if isinstance(t, GraphQLScalarType)
        and t.name not in HASURA_BUILTIN_SCALARS
        and not t.name.startswith("__")
        and f"{t.name}_comparison_exp" in schema.type_map
    )
    return Dialect(progress, tuple(sorted(tables)), frozenset(aggregates), sums, minmax, entities, tuple(enum_scalars))


def endpoint_shape_problem(introspection: Any) -> str | None:
    """Why an introspection answer is not that of a Hasura/Envio belt, or None when it is.

    A GraphQL server that is not Hasura (no `chain_metadata`/`_meta`, no `X_bool_exp`/`X_aggregate`/
    `X_by_pk`, a query root not called `query_root`) must be named as such: the later "no aggregate for
    this role" or "no progress visible" would blame permissions that are not the problem.
    """
    if not isinstance(introspection, dict) or not isinstance(introspection.get("__schema"), dict):
        return "answered introspection without a __schema: not a GraphQL schema"
    try:
        schema = schema_of(introspection)
    except Exception as exc:  # graphql-core raises TypeError/ValueError/GraphQLError on a malformed schema
        return f"answered introspection with a schema that cannot be read: {str(exc)[:200]}"
    root = schema.query_type
    if root is None:
        return "its schema has no query type: not a Hasura/Envio endpoint"
    names = set(root.fields)
    hasura_like = (
        root.name == "query_root"
        or bool(names & {"chain_metadata", "_meta"})
        or any(f"{n}_aggregate" in names or f"{n}_by_pk" in names for n in names)
        or any(t.endswith("_bool_exp") for t in schema.type_map)
    )
    if hasura_like:
        return None
    shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
    return (
        f"answers GraphQL but is not a Hasura/Envio endpoint: its query type {root.name} ({shown}) has no "
        "chain_metadata, _meta, X_aggregate, X_by_pk or X_bool_exp"
    )


def shared_columns(dialects: Iterable[Dialect | None], entity: str) -> tuple[str, ...]:
    """The columns of `entity` every belt that serves it has, `id` first (just `id` when none serves it)."""
    cols: set[str] | None = None
    for dialect in dialects:
        if dialect is None or entity not in dialect.entities:
            continue
        mine = {f.column for f in dialect.entities[entity].columns}
        cols = mine if cols is None else cols & mine
    ordered = sorted(cols or {"id"})
    return ("id", *[c for c in ordered if c != "id"])
