"""SQLite layout of one reference belt: one table per Envio entity plus Envio's `chain_metadata`.

Column names are the Hasura column names (`Field.column`). Integers (Int, BigInt) are stored as
SQLite INTEGER (the sandbox keeps them below 2**63), booleans as 0/1, BigDecimal as TEXT, lists as
JSON TEXT, enums and strings as TEXT. The indexer and the bulk generator write this; the GraphQL
server reads it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from belt_gate.envio import Entity, EnvioSchema, Field

CHAIN_METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("chain_id", "INTEGER PRIMARY KEY"),
    ("start_block", "INTEGER NOT NULL"),
    ("end_block", "INTEGER"),
    ("block_height", "INTEGER NOT NULL"),
    ("first_event_block_number", "INTEGER"),
    ("latest_fetched_block_number", "INTEGER NOT NULL"),
    ("latest_processed_block", "INTEGER"),
    ("num_batches_fetched", "INTEGER NOT NULL"),
    ("num_events_processed", "INTEGER"),
    ("is_hyper_sync", "INTEGER NOT NULL"),
    ("timestamp_caught_up_to_head_or_endblock", "TEXT"),
)


def sql_type(f: Field) -> str:
    """The SQLite column type a field is stored as: Int, BigInt and Boolean as INTEGER, Float as REAL, lists and the
    rest as TEXT."""
    if f.is_list:
        return "TEXT"
    if f.kind == "scalar" and f.type_name in ("Int", "BigInt", "Boolean"):
        return "INTEGER"
    if f.kind == "scalar" and f.type_name == "Float":
        return "REAL"
    return "TEXT"


def quote(name: str) -> str:
    """An SQL identifier, double-quoted with its quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def create_entity_table(db: sqlite3.Connection, entity: Entity) -> None:
    """Create one entity's table (id the primary key, NOT NULL where the schema says so), if missing."""
    cols = []
    for f in entity.columns:
        null = "" if f.nullable else " NOT NULL"
        pk = " PRIMARY KEY" if f.name == "id" else ""
        cols.append(f"{quote(f.column)} {sql_type(f)}{null}{pk}")
    db.execute(f"CREATE TABLE IF NOT EXISTS {quote(entity.name)} ({', '.join(cols)})")
    chain, block, ts = entity.chain_column, entity.block_column, entity.timestamp_column
    for col in (block, ts):
        if col:
            keys = ", ".join(quote(c) for c in (chain, col) if c)
            db.execute(
                f"CREATE INDEX IF NOT EXISTS {quote(f'ix_{entity.name}_{col}')} ON {quote(entity.name)} ({keys})"
            )


def create_schema(db: sqlite3.Connection, schema: EnvioSchema) -> None:
    """Create every entity's table and Envio's `chain_metadata`, if missing."""
    for entity in schema.entities:
        create_entity_table(db, entity)
    cols = ", ".join(f"{name} {decl}" for name, decl in CHAIN_METADATA_COLUMNS)
    db.execute(f"CREATE TABLE IF NOT EXISTS chain_metadata ({cols})")
    db.commit()


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a belt's SQLite file: read-only, or for writing in WAL mode so the server reads while the indexer writes."""
    if readonly:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        db = sqlite3.connect(path, check_same_thread=False)
        _switch_to_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
    return db


def _switch_to_wal(db: sqlite3.Connection, timeout: float = 10.0) -> None:
    """WAL mode, retried: two connections opening a fresh file at once (an indexer thread and a reader)
    make one journal-mode switch fail at once with "database is locked" - SQLite's busy timeout does not
    cover it. The mode is stored in the file, so the retry finds it switched or switches it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
