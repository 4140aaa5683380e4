"""Postgres layout of one belt, the way Envio HyperIndex creates it: a schema per belt, one table per
entity, Postgres enum types for Envio enums, and Envio's `chain_metadata`.

Types follow Envio's migrations: ID/String/Bytes -> text, Int -> integer, BigInt/BigDecimal -> numeric,
Float -> double precision, Boolean -> boolean, Timestamp -> timestamptz, Json -> jsonb, an enum -> its
Postgres enum type, a relation -> a text `<name>_id` column, a list -> an array of the element type.
Used for belts written by the sandbox itself (tests, the bulk generator); a real Envio belt makes its
own tables (`belt_gate.sandbox.envio`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from belt_gate.envio import Entity, EnvioSchema, Field
from belt_gate.sandbox.store import quote

PG_SCALAR = {
    "ID": "text",
    "String": "text",
    "Bytes": "text",
    "Int": "integer",
    "BigInt": "numeric",
    "BigDecimal": "numeric",
    "Float": "double precision",
    "Boolean": "boolean",
    "Timestamp": "timestamptz",
    "Json": "jsonb",
}

CHAIN_METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("chain_id", "integer PRIMARY KEY"),
    ("start_block", "integer NOT NULL"),
    ("end_block", "integer"),
    ("block_height", "integer NOT NULL"),
    ("first_event_block_number", "integer"),
    ("latest_fetched_block_number", "integer NOT NULL"),
    ("latest_processed_block", "integer"),
    ("num_batches_fetched", "integer NOT NULL"),
    ("num_events_processed", "integer"),
    ("is_hyper_sync", "boolean NOT NULL"),
    ("timestamp_caught_up_to_head_or_endblock", "timestamptz"),
)


def pg_type(f: Field, pg_schema: str) -> str:
    """The Postgres column type of a field, as Envio's migrations create it (enums as the schema's enum types, relations
    as text)."""
    if f.kind == "enum":
        core = f"{quote(pg_schema)}.{quote(f.type_name)}"
    elif f.kind == "relation":
        core = "text"
    else:
        core = PG_SCALAR.get(f.type_name, "text")
    return f"{core}[]" if f.is_list else core


def create_entity_table(db: Any, entity: Entity, pg_schema: str) -> None:
    cols = []
    for f in entity.columns:
        null = "" if f.nullable else " NOT NULL"
        pk = " PRIMARY KEY" if f.name == "id" else ""
        cols.append(f"{quote(f.column)} {pg_type(f, pg_schema)}{null}{pk}")
    table = f"{quote(pg_schema)}.{quote(entity.name)}"
    db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)})")
    chain, block, ts = entity.chain_column, entity.block_column, entity.timestamp_column
    for col in (block, ts):
        if col:
            keys = ", ".join(quote(c) for c in (chain, col) if c)
            db.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'ix_{entity.name}_{col}')} ON {table} ({keys})")


def create_schema(db: Any, schema: EnvioSchema, pg_schema: str = "public") -> None:
    """Create `pg_schema` with the entity tables, enum types and a `chain_metadata` table (idempotent)."""
    db.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(pg_schema)}")
    for name, values in schema.enums.items():
        exists = db.execute(
            "SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = %s AND t.typname = %s",
            (pg_schema, name),
        ).fetchone()
        if not exists:
            labels = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
            db.execute(f"CREATE TYPE {quote(pg_schema)}.{quote(name)} AS ENUM ({labels})")
    for entity in schema.entities:
        create_entity_table(db, entity, pg_schema)
    cols = ", ".join(f"{name} {decl}" for name, decl in CHAIN_METADATA_COLUMNS)
    db.execute(f"CREATE TABLE IF NOT EXISTS {quote(pg_schema)}.chain_metadata ({cols})")


def insert_rows(db: Any, pg_schema: str, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY `rows` (tuples in `columns` order) into `pg_schema.table`; returns the row count."""
    target = f"{quote(pg_schema)}.{quote(table)} ({', '.join(quote(c) for c in columns)})"
    n = 0
    with db.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def drop_schema(db: Any, pg_schema: str) -> None:
    """Drop a belt's Postgres schema and everything in it (idempotent)."""
    db.execute(f"DROP SCHEMA IF EXISTS {quote(pg_schema)} CASCADE")


__all__ = ["PG_SCALAR", "create_schema", "drop_schema", "insert_rows", "pg_type"]
