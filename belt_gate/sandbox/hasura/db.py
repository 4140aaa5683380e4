"""Where the sandbox's Hasura reads a belt from: a SQLite file or a Postgres schema.

Both backends hand out, per GraphQL request, one connection holding one read-only snapshot
(`snapshot()`), so a batched fingerprint sees a single state of the belt while an indexer writes:
SQLite through a read-only connection in one read transaction, Postgres through a pooled connection
in a `REPEATABLE READ READ ONLY` transaction. The connection's `execute(sql, params)` takes the SQL
builder's `?` placeholders in both.

Postgres values come back as Hasura sends them: `numeric` as Postgres' own text (exact; Hasura with
stringified numerics does the same), timestamps as `datetime` (the server prints them ISO-8601),
booleans, arrays and jsonb as Python values. The session time zone is UTC.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from belt_gate.errors import SandboxError
from belt_gate.sandbox.hasura.sql import register_functions, to_pyformat


class Connection(Protocol):
    """What a request's resolvers use: `execute(sql, params)` returning a DB-API cursor."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any:
        """Run one statement with its parameters; a DB-API cursor."""


class Backend(Protocol):
    """A belt's storage as the server sees it."""

    dialect: str
    errors: tuple[type[BaseException], ...]

    def snapshot(self) -> Any:
        """A context manager yielding a `Connection` inside one read-only snapshot."""
        ...

    def close(self) -> None:
        """Release the backend's connections."""


class SqliteBackend:
    """A reference belt's SQLite file, opened read-only per request."""

    dialect = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to the SQLite file inside one transaction, so every field of a request reads the same
        state."""
        db = sqlite3.connect(
            f"file:{self.path}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=1024,
        )
        try:
            register_functions(db)
            db.execute("BEGIN")
            yield db
        finally:
            db.close()

    def close(self) -> None:
        """Nothing to release: each snapshot opens and closes its own connection."""
        pass


@lru_cache(maxsize=4096)
def _pyformat(sql: str) -> str:
    return to_pyformat(sql)


class _PgConnection:
    """A psycopg connection speaking the builder's `?` placeholders."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(_pyformat(sql), list(params))


#: Postgres type (udt name) -> Hasura's GraphQL scalar for it; anything else (an enum type) keeps its name.
PG_TO_HASURA = {
    "int4": "Int",
    "int8": "bigint",
    "int2": "smallint",
    "float4": "float4",
    "float8": "float8",
    "numeric": "numeric",
    "text": "String",
    "varchar": "String",
    "bpchar": "String",
    "bool": "Boolean",
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
    "jsonb": "jsonb",
    "json": "json",
}


class PostgresBackend:
    """One Postgres schema (`schema`, e.g. an Envio belt's ENVIO_PG_PUBLIC_SCHEMA) of database `dsn`."""

    dialect = "postgres"

    def __init__(self, dsn: str, schema: str = "public", *, pool_size: int = 8) -> None:
        import psycopg

        self.dsn = dsn
        self.schema = schema
        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pool_size = pool_size

    def _connect(self) -> Any:
        import psycopg
        from psycopg.types.string import TextLoader

        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        conn.adapters.register_loader("numeric", TextLoader)
        conn.execute("SELECT set_config('search_path', %s, false), set_config('TimeZone', 'UTC', false)", [self.schema])
        return conn

    @contextmanager
    def snapshot(self) -> Iterator[_PgConnection]:
        """A pooled connection inside one read-only repeatable-read transaction, so every field of a request reads the
        same state; back to the pool when it rolled back cleanly, closed otherwise."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            conn = self._connect()
        ok = False
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield _PgConnection(conn)
            ok = True
        finally:
            try:
                conn.execute("ROLLBACK")
            except Exception:
                ok = False
            if ok:
                with self._lock:
                    if len(self._idle) < self._pool_size:
                        self._idle.append(conn)
                        conn = None
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Close the idle pooled connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def column_types(self, *, wait_for: str | None = None, timeout: float = 120.0) -> dict[tuple[str, str], str]:
        """(table, column) -> the Hasura scalar Hasura would give the column, read from the catalogue.

        `wait_for`: a table or view to wait for first (a real Envio creates its tables when it starts)."""
        import psycopg

        deadline = time.monotonic() + timeout
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
            while wait_for is not None:
                found = conn.execute(
                    "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (self.schema, wait_for),
                ).fetchone()
                if found:
                    break
                if time.monotonic() > deadline:
                    raise SandboxError(f"Postgres schema {self.schema!r} has no {wait_for} after {timeout:g}s")
                time.sleep(0.25)
            rows = conn.execute(
                "SELECT table_name, column_name, data_type, udt_name FROM information_schema.columns "
                "WHERE table_schema = %s",
                (self.schema,),
            ).fetchall()
        out = {}
        for table, column, data_type, udt in rows:
            name = str(udt).removeprefix("_") if data_type == "ARRAY" else str(udt)
            out[(str(table), str(column))] = "" if data_type == "ARRAY" else PG_TO_HASURA.get(name, name)
        return out


__all__ = ["Backend", "Connection", "PostgresBackend", "SqliteBackend"]
