"""Envio entity schema -> the GraphQL SDL a Hasura v2 endpoint serves for that indexer.

The model (`Table`, `Column`, `ObjectRel`, `ArrayRel`) drives both the SDL text and the SQL the
sandbox server runs, so what is served and what is listed can never drift apart. Naming follows
Hasura exactly (see tests/data/hasura-envio/README.md): per table X the root fields `X`,
`X_by_pk`, `X_aggregate`; the types `X_bool_exp`, `X_order_by`, `X_select_column`,
`X_aggregate_fields`, `X_sum_fields`, `X_min_fields`, `X_max_fields`, `X_avg_fields`, ...

Three shapes mirror the three oracle files:

- ``admin``: every table has `_aggregate`; `chain_metadata` is a table (with `_by_pk`); entity
  tables carry Envio's `db_write_timestamp` column (older Envio).
- ``public``: like admin, but `_aggregate` only for the tables named in `aggregate_tables` and
  never on `chain_metadata`.
- ``newer``: newer Envio: a `_meta` root field, `chain_metadata` is a view (all nullable, no
  `_by_pk`), no `db_write_timestamp`, no aggregates at all.

`public` and `newer` are what Hasura's unauthorized (public) role sees; `SdlOptions.admin_role` is the
same deployment seen with the admin secret: every table has `_aggregate`.

Mutations, subscriptions and Envio's internal tables (raw_events, dynamic_contract_registry, ...)
are not served.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from graphql import ObjectTypeDefinitionNode, StringValueNode, parse

from belt_gate.envio import EnvioSchema, Field
from belt_gate.errors import SettingsError

SHAPES = ("admin", "public", "newer")

#: Hasura scalar types whose columns are summed/averaged (numeric in Postgres terms).
NUMERIC_TYPES = frozenset({"Int", "numeric", "float8", "float4", "bigint", "smallint"})
#: Hasura leaves these out of min/max.
NON_ORDERABLE_TYPES = frozenset({"Boolean", "jsonb"})
BUILTIN_SCALARS = frozenset({"Int", "Float", "String", "Boolean", "ID"})
#: Statistical aggregate functions Hasura offers next to sum (all typed Float).
STAT_FUNCS = ("avg", "stddev", "stddev_pop", "stddev_samp", "var_pop", "var_samp", "variance")
ORDER_BY_VALUES = ("asc", "asc_nulls_first", "asc_nulls_last", "desc", "desc_nulls_first", "desc_nulls_last")
COMPARISON_OPS = ("_eq", "_gt", "_gte", "_lt", "_lte", "_neq")
STRING_OPS = (
    "_ilike",
    "_iregex",
    "_like",
    "_nilike",
    "_niregex",
    "_nlike",
    "_nregex",
    "_nsimilar",
    "_regex",
    "_similar",
)
LIST_ARGS = ("distinct_on", "limit", "offset", "order_by", "where")


@dataclass(frozen=True)
class Column:
    """One column as Hasura lists it. `sql` is the SQL expression when it is not a stored column."""

    name: str
    type: str  # Hasura scalar name: String, Int, numeric, float8, Boolean, jsonb, timestamptz, an enum ...
    nullable: bool
    is_list: bool = False
    sql: str | None = None
    decimal: bool = False  # stored as TEXT decimal (BigDecimal) rather than INTEGER

    @property
    def gql(self) -> str:
        """The column's GraphQL type as served (list and non-null marks included)."""
        core = f"[{self.type}!]" if self.is_list else self.type
        return core if self.nullable else f"{core}!"

    @property
    def gql_nullable(self) -> str:
        """The column's GraphQL type without the outer non-null mark."""
        return f"[{self.type}!]" if self.is_list else self.type

    @property
    def summable(self) -> bool:
        """True for a numeric scalar column, which Hasura offers in `sum`."""
        return not self.is_list and self.type in NUMERIC_TYPES

    @property
    def min_max(self) -> bool:
        """True for a column Hasura offers in `min` and `max` (an orderable type)."""
        return self.type not in NON_ORDERABLE_TYPES

    @property
    def comparison(self) -> str:
        """The name of the column's `_comparison_exp` input type (the array one for a list)."""
        return f"{self.type}_array_comparison_exp" if self.is_list else f"{self.type}_comparison_exp"


@dataclass(frozen=True)
class ObjectRel:
    """`token: Token` over the local column `token_id` -> Token.id."""

    name: str
    target: str
    column: str
    remote: str = "id"


@dataclass(frozen=True)
class ArrayRel:
    """`swaps: [Swap!]!` (@derivedFrom): rows of `target` whose `remote` column equals our id."""

    name: str
    target: str
    remote: str
    column: str = "id"


@dataclass
class Table:
    """One served table: its GraphQL and SQL names, columns, primary key and object relationships."""

    name: str
    sql_table: str
    columns: list[Column]
    pk: list[Column] = field(default_factory=list)
    object_rels: list[ObjectRel] = field(default_factory=list)
    array_rels: list[ArrayRel] = field(default_factory=list)
    aggregates: bool = True
    by_pk: bool = True

    def column(self, name: str) -> Column | None:
        """The column named `name`, None when the table has none."""
        return next((c for c in self.columns if c.name == name), None)

    @property
    def summable(self) -> list[Column]:
        """The columns offered in `sum`."""
        return [c for c in self.columns if c.summable]

    @property
    def min_max(self) -> list[Column]:
        """The columns offered in `min` and `max`."""
        return [c for c in self.columns if c.min_max]


@dataclass(frozen=True)
class SdlOptions:
    """How the served schema is shaped: the permission shape, which tables aggregate, and the fields the schema faults
    remove or make nullable."""

    shape: str = "admin"
    #: shape=public: the tables granted `allow_aggregations` (None: all entity tables).
    aggregate_tables: frozenset[str] | None = None
    #: (entity, field-or-column) pairs the served schema lacks (fault schema-remove).
    removed: frozenset[tuple[str, str]] = frozenset()
    #: (entity, field-or-column) pairs served as nullable (fault schema-nullable).
    nullable: frozenset[tuple[str, str]] = frozenset()
    #: (entity, derived field) -> @derivedFrom(field:) argument; see `derived_from_map`.
    derived_from: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: Hasura's admin role (the admin secret was given): permissions do not apply, so every table,
    #: views included, has `_aggregate` whatever the shape; the shape still decides the rest.
    admin_role: bool = False
    #: the tables are a real Envio indexer's: `_meta` is Envio's own view (not computed here).
    envio_views: bool = False
    #: (table, column) -> the Hasura scalar of the real column (from the database's catalogue): served
    #: instead of the type derived from the Envio schema, as Hasura serves what Postgres holds ("" = keep).
    column_types: Mapping[tuple[str, str], str] = field(default_factory=dict)


def _chain_metadata(shape: str, admin_role: bool = False) -> Table:
    view = shape == "newer"
    int_cols = (
        ("block_height", False),
        ("chain_id", False),
        ("end_block", True),
        ("first_event_block_number", True),
        ("latest_fetched_block_number", False),
        ("latest_processed_block", True),
        ("num_batches_fetched", False),
        ("num_events_processed", True),
        ("start_block", False),
    )
    cols = [Column(n, "Int", nullable or view) for n, nullable in int_cols]
    cols.append(Column("is_hyper_sync", "Boolean", view))
    cols.append(Column("timestamp_caught_up_to_head_or_endblock", "timestamptz", True))
    cols.sort(key=lambda c: c.name)
    pk = [c for c in cols if c.name == "chain_id"]
    return Table(
        "chain_metadata",
        "chain_metadata",
        cols,
        pk=pk,
        aggregates=shape == "admin" or admin_role,
        by_pk=not view,
    )


def _meta_table(admin_role: bool = False, envio_views: bool = False) -> Table:
    """Newer Envio's `_meta`: a view over the chains' progress, every field nullable. Over a real Envio
    database it is Envio's own `_meta` view (same column names); otherwise computed from chain_metadata."""
    cols = [
        Column("bufferBlock", "Int", True, sql="latest_fetched_block_number"),
        Column("chainId", "Int", True, sql="chain_id"),
        Column("endBlock", "Int", True, sql="end_block"),
        Column("eventsProcessed", "Int", True, sql="num_events_processed"),
        Column("firstEventBlock", "Int", True, sql="first_event_block_number"),
        Column(
            "isReady",
            "Boolean",
            True,
            sql="(timestamp_caught_up_to_head_or_endblock IS NOT NULL)",
        ),
        Column("progressBlock", "Int", True, sql="latest_processed_block"),
        Column("readyAt", "timestamptz", True, sql="timestamp_caught_up_to_head_or_endblock"),
        Column("sourceBlock", "Int", True, sql="block_height"),
        Column("startBlock", "Int", True, sql="start_block"),
    ]
    if envio_views:
        cols = [replace(c, sql=None) for c in cols]
        return Table("_meta", "_meta", cols, aggregates=admin_role, by_pk=False)
    return Table("_meta", "chain_metadata", cols, aggregates=admin_role, by_pk=False)


def build_tables(schema: EnvioSchema, options: SdlOptions | None = None) -> list[Table]:
    """The tables a Hasura endpoint in `options.shape` lists for this Envio schema."""
    opts = options or SdlOptions()
    if opts.shape not in SHAPES:
        raise SettingsError(f"unknown Hasura shape {opts.shape!r}: expected one of {', '.join(SHAPES)}")
    names = set(schema.entity_names)
    for ent, fname in (*opts.removed, *opts.nullable):
        e = schema.entity(ent)
        if e is None or not any(fname in (f.name, f.column) for f in e.fields):
            raise SettingsError(f"schema fault names {ent}.{fname}, which the Envio schema does not have")
    if opts.aggregate_tables is not None:
        unknown = sorted(set(opts.aggregate_tables) - names)
        if unknown:
            raise SettingsError(f"--aggregate-tables names unknown entities: {', '.join(unknown)}")
    older = opts.shape != "newer"
    tables: list[Table] = []
    for entity in schema.entities:
        cols: list[Column] = []
        obj: list[ObjectRel] = []
        arr: list[ArrayRel] = []
        for f in entity.fields:
            if (entity.name, f.name) in opts.removed or (entity.name, f.column) in opts.removed:
                continue
            nullable = f.nullable or (entity.name, f.name) in opts.nullable or (entity.name, f.column) in opts.nullable
            if f.kind == "derived":
                target = schema.entity(f.type_name)
                remote = _derived_remote(schema, opts, entity.name, f)
                if target is not None and remote is not None:
                    arr.append(ArrayRel(f.name, f.type_name, remote))
                continue
            cols.append(
                Column(
                    f.column,
                    f.hasura_type,
                    nullable,
                    f.is_list,
                    decimal=f.kind == "scalar" and f.type_name == "BigDecimal",
                )
            )
            if f.kind == "relation" and not f.is_list and f.type_name in names:
                obj.append(ObjectRel(f.name, f.type_name, f.column))
        if older:
            cols.append(Column("db_write_timestamp", "timestamp", True, sql="NULL"))
        cols.sort(key=lambda c: c.name)
        if opts.admin_role:
            aggregates = True
        elif opts.shape == "public" and opts.aggregate_tables is not None:
            aggregates = entity.name in opts.aggregate_tables
        else:
            aggregates = opts.shape != "newer"
        pk = [c for c in cols if c.name == "id"]
        tables.append(
            Table(
                entity.name,
                entity.name,
                cols,
                pk=pk,
                object_rels=obj,
                array_rels=arr,
                aggregates=aggregates,
                by_pk=bool(pk),
            )
        )
    tables.append(_chain_metadata(opts.shape, opts.admin_role))
    if opts.shape == "newer":
        tables.append(_meta_table(opts.admin_role, opts.envio_views))
    if opts.column_types:
        for t in tables:
            t.columns = [_real_type(t, c, opts.column_types) for c in t.columns]
            t.pk = [c for c in t.columns if c.name in {p.name for p in t.pk}]
    return tables


def _real_type(t: Table, c: Column, types: Mapping[tuple[str, str], str]) -> Column:
    if c.sql is not None or c.is_list:
        return c
    real = types.get((t.sql_table, c.name))
    return replace(c, type=real) if real and real != c.type else c


def _derived_remote(schema: EnvioSchema, opts: SdlOptions, parent: str, f: Field) -> str | None:
    """The column of the target entity a @derivedFrom(field: "...") array relationship joins on."""
    ent = schema.entity(f.type_name)
    if ent is None:
        return None
    wanted = opts.derived_from.get((parent, f.name))
    if wanted is not None:
        tf = ent.field(wanted)
        if tf is not None:
            return tf.column
        # Envio also accepts the column name itself (`module_id`).
        return wanted if any(c.column == wanted for c in ent.columns) else None
    # No source given: the first relation of the target that points back at the parent.
    back = next((c for c in ent.columns if c.kind == "relation" and c.type_name == parent), None)
    return back.column if back else None


def derived_from_map(sdl: str) -> dict[tuple[str, str], str]:
    """(entity, field) -> the `field:` argument of its @derivedFrom, read from Envio SDL text.

    The Envio parser keeps only that a field is derived; the join column needs the argument.
    """
    found: dict[tuple[str, str], str] = {}
    for d in parse(sdl).definitions:
        if not isinstance(d, ObjectTypeDefinitionNode):
            continue
        for f in d.fields or ():
            for directive in f.directives or ():
                if directive.name.value != "derivedFrom":
                    continue
                for arg in directive.arguments or ():
                    if arg.name.value == "field" and isinstance(arg.value, StringValueNode):
                        found[(d.name.value, f.name.value)] = arg.value.value
    return found


# ---------------------------------------------------------------------------------------------
# SDL text


def _list_args(target: str) -> str:
    return (
        f"distinct_on: [{target}_select_column!], limit: Int, offset: Int, "
        f"order_by: [{target}_order_by!], where: {target}_bool_exp"
    )


def _block(kind: str, name: str, lines: Iterable[str]) -> str:
    body = "\n".join(f"  {line}" for line in lines)
    return f"{kind} {name} {{\n{body}\n}}"


def render_sdl(tables: Sequence[Table]) -> str:
    """Hasura-dialect SDL (query root only) for `tables`."""
    by_name = {t.name: t for t in tables}
    out: list[str] = []
    scalars: set[str] = set()
    comparisons: set[tuple[str, bool]] = set()
    root: list[str] = []
    for t in tables:
        n = t.name
        for c in t.columns:
            scalars.add(c.type)
            comparisons.add((c.type, c.is_list))
        # the object type
        lines = [f"{c.name}: {c.gql}" for c in t.columns]
        for r in t.object_rels:
            if r.target in by_name:
                lines.append(f"{r.name}: {r.target}")
        for a in t.array_rels:
            target = by_name.get(a.target)
            if target is None:
                continue
            lines.append(f"{a.name}({_list_args(a.target)}): [{a.target}!]!")
            if target.aggregates:
                lines.append(f"{a.name}_aggregate({_list_args(a.target)}): {a.target}_aggregate!")
        out.append(_block("type", n, sorted(lines)))
        # bool_exp
        lines = [f"_and: [{n}_bool_exp!]", f"_not: {n}_bool_exp", f"_or: [{n}_bool_exp!]"]
        lines += [f"{c.name}: {c.comparison}" for c in t.columns]
        lines += [f"{r.name}: {r.target}_bool_exp" for r in t.object_rels if r.target in by_name]
        for a in t.array_rels:
            target = by_name.get(a.target)
            if target is None:
                continue
            lines.append(f"{a.name}: {a.target}_bool_exp")
            if target.aggregates:
                lines.append(f"{a.name}_aggregate: {a.target}_aggregate_bool_exp")
        out.append(_block("input", f"{n}_bool_exp", lines))
        # order_by
        lines = [f"{c.name}: order_by" for c in t.columns]
        lines += [f"{r.name}: {r.target}_order_by" for r in t.object_rels if r.target in by_name]
        lines += [f"{a.name}_aggregate: {a.target}_aggregate_order_by" for a in t.array_rels if a.target in by_name]
        out.append(_block("input", f"{n}_order_by", sorted(lines)))
        out.append(_block("enum", f"{n}_select_column", [c.name for c in t.columns]))
        # root fields
        root.append(f"{n}({_list_args(n)}): [{n}!]!")
        if t.by_pk and t.pk:
            args = ", ".join(f"{c.name}: {c.type}!" for c in t.pk)
            root.append(f"{n}_by_pk({args}): {n}")
        if t.aggregates:
            root.append(f"{n}_aggregate({_list_args(n)}): {n}_aggregate!")
        out.extend(_aggregate_types(t))
    for t in tables:
        if any(a.target == t.name for o in tables for a in o.array_rels):
            out.extend(_aggregate_order_types(t))
            if t.aggregates:
                out.extend(_aggregate_bool_types(t))
    out.append(_block("enum", "order_by", ORDER_BY_VALUES))
    for s in sorted(scalars - BUILTIN_SCALARS):
        out.append(f"scalar {s}")
    for typ, is_list in sorted(comparisons):
        out.append(_comparison(typ, is_list))
    out.append(_block("type", "query_root", sorted(root)))
    out.append("schema {\n  query: query_root\n}")
    return "\n\n".join(out) + "\n"


def _comparison(typ: str, is_list: bool) -> str:
    if is_list:
        v = f"[{typ}!]"
        lines = ["_contained_in: " + v, "_contains: " + v]
        lines += [f"{op}: {v}" for op in COMPARISON_OPS]
        lines += [f"_in: [{v}!]", "_is_null: Boolean", f"_nin: [{v}!]"]
        return _block("input", f"{typ}_array_comparison_exp", sorted(lines))
    lines = [f"{op}: {typ}" for op in COMPARISON_OPS]
    lines += [f"_in: [{typ}!]", "_is_null: Boolean", f"_nin: [{typ}!]"]
    if typ == "String":
        lines += [f"{op}: String" for op in STRING_OPS]
    if typ == "jsonb":
        lines += [
            "_contained_in: jsonb",
            "_contains: jsonb",
            "_has_key: String",
            "_has_keys_all: [String!]",
            "_has_keys_any: [String!]",
        ]
    return _block("input", f"{typ}_comparison_exp", sorted(lines))


def _aggregate_types(t: Table) -> list[str]:
    n = t.name
    out: list[str] = []
    if not t.aggregates:
        return out
    out.append(_block("type", f"{n}_aggregate", [f"aggregate: {n}_aggregate_fields", f"nodes: [{n}!]!"]))
    fields = [f"count(columns: [{n}_select_column!], distinct: Boolean): Int!"]
    if t.min_max:
        fields += [f"max: {n}_max_fields", f"min: {n}_min_fields"]
        for kind in ("max", "min"):
            lines = [f"{c.name}: {c.gql_nullable}" for c in t.min_max]
            out.append(_block("type", f"{n}_{kind}_fields", lines))
    if t.summable:
        fields.append(f"sum: {n}_sum_fields")
        out.append(_block("type", f"{n}_sum_fields", [f"{c.name}: {c.type}" for c in t.summable]))
        for func in STAT_FUNCS:
            fields.append(f"{func}: {n}_{func}_fields")
            out.append(_block("type", f"{n}_{func}_fields", [f"{c.name}: Float" for c in t.summable]))
    out.append(_block("type", f"{n}_aggregate_fields", sorted(fields)))
    return out


def _aggregate_order_types(t: Table) -> list[str]:
    n = t.name
    out: list[str] = []
    fields = ["count: order_by"]
    if t.min_max:
        for kind in ("max", "min"):
            fields.append(f"{kind}: {n}_{kind}_order_by")
            out.append(_block("input", f"{n}_{kind}_order_by", [f"{c.name}: order_by" for c in t.min_max]))
    if t.summable:
        for func in ("sum", *STAT_FUNCS):
            fields.append(f"{func}: {n}_{func}_order_by")
            out.append(_block("input", f"{n}_{func}_order_by", [f"{c.name}: order_by" for c in t.summable]))
    out.append(_block("input", f"{n}_aggregate_order_by", sorted(fields)))
    return out


def _aggregate_bool_types(t: Table) -> list[str]:
    n = t.name
    fields = [f"count: {n}_aggregate_bool_exp_count"]
    out = [
        _block(
            "input",
            f"{n}_aggregate_bool_exp_count",
            [
                f"arguments: [{n}_select_column!]",
                "distinct: Boolean",
                f"filter: {n}_bool_exp",
                "predicate: Int_comparison_exp!",
            ],
        )
    ]
    bools = [c for c in t.columns if c.type == "Boolean" and not c.is_list]
    if bools:
        for fn in ("bool_and", "bool_or"):
            col_enum = f"{n}_select_column_{n}_aggregate_bool_exp_{fn}_arguments_columns"
            fields.append(f"{fn}: {n}_aggregate_bool_exp_{fn}")
            out.append(_block("enum", col_enum, [c.name for c in bools]))
            out.append(
                _block(
                    "input",
                    f"{n}_aggregate_bool_exp_{fn}",
                    [
                        f"arguments: {col_enum}!",
                        "distinct: Boolean",
                        f"filter: {n}_bool_exp",
                        "predicate: Boolean_comparison_exp!",
                    ],
                )
            )
    out.append(_block("input", f"{n}_aggregate_bool_exp", sorted(fields)))
    return out


def hasura_sdl(schema: EnvioSchema, options: SdlOptions | None = None) -> str:
    """The SDL a Hasura endpoint (in `options.shape`) serves for the Envio `schema`."""
    return render_sdl(build_tables(schema, options))


__all__ = [
    "SHAPES",
    "ArrayRel",
    "Column",
    "ObjectRel",
    "SdlOptions",
    "Table",
    "build_tables",
    "derived_from_map",
    "hasura_sdl",
    "render_sdl",
]
