"""Shared by the Postgres benches: the throwaway cluster with the seed-scale belt, a copy of a belt's
schema, and the sandbox's Hasura-dialect server over one Postgres schema (Envio's layout, pgstore).

    with seed_belt(rows) as (dsn, built):       # cluster up, database "seed", schema "green" built
        copy_schema(dsn, "green", "blue")        # a second belt of the same rows
        with served(dsn, "blue", FOOTPRINT, work / "blue.log") as url: ...

Loopback only; the server is stopped when its block ends, the cluster when seed_belt's does.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from belt_gate.sandbox import procs
from belt_gate.sandbox.hasura.app import TIMING_LOG_VAR
from belt_gate.sandbox.pgbulk import PgBulkResult, build_pg_belt
from belt_gate.sandbox.postgres import connect, create_database, start_cluster, stop_cluster

DSN_VAR = "BELT_BENCH_PG_DSN"


@contextlib.contextmanager
def serve(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """The sandbox's Hasura-dialect server with `args` (where it reads the belt, the schema) on a free loopback
    port, until the block ends; yields its GraphQL URL. Every bench starts its belts through this."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "belt_gate.sandbox.hasura", *args, "--port", str(port)]
    p = procs.spawn(argv, log, env=env)
    try:
        procs.wait_for_port(port, pid=p.pid, timeout=120, what="belt server")
        yield f"http://127.0.0.1:{port}/v1/graphql"
    finally:
        procs.stop(p.pid)
        p.wait(timeout=10)


def served_file(db: Path, schema: Path, log: Path) -> contextlib.AbstractContextManager[str]:
    """The server over a SQLite belt file."""
    return serve(["--db", str(db), "--schema", str(schema)], log)


def served(dsn: str, pg_schema: str, schema: Path, log: Path) -> contextlib.AbstractContextManager[str]:
    """The server over `pg_schema`; its per-request timings go to LOG.timings.jsonl."""
    args = ["--pg-dsn-env", DSN_VAR, "--pg-schema", pg_schema, "--schema", str(schema)]
    return serve(args, log, env={DSN_VAR: dsn, TIMING_LOG_VAR: str(log.with_suffix(".timings.jsonl"))})


@contextlib.contextmanager
def seed_belt(rows: int, pg_schema: str = "green", variant: str = "green") -> Iterator[tuple[str, PgBulkResult]]:
    """A throwaway cluster holding the seed-scale footprint belt (pgbulk) in database "seed"."""
    cluster = start_cluster()
    try:
        dsn = create_database(cluster, "seed")
        yield dsn, build_pg_belt(dsn, pg_schema, rows=rows, variant=variant)
    finally:
        stop_cluster(cluster)


def copy_schema(dsn: str, source: str, target: str) -> None:
    """Recreate schema `target` as a copy of `source`'s tables (rows, indexes, constraints), then ANALYZE."""
    from psycopg import sql

    with connect(dsn) as db:
        with db.transaction():
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(target)))
            db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(target)))
            tables = db.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                (source,),
            ).fetchall()
            for (table,) in tables:
                new, old = sql.Identifier(target, table), sql.Identifier(source, table)
                db.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(new, old))
                db.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(new, old))
        db.execute(sql.SQL("ANALYZE"))


def count_rows(dsn: str, pg_schema: str, tables: list[str]) -> int:
    from psycopg import sql

    with connect(dsn) as db:
        total: Any = 0
        for t in tables:
            (n,) = db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(pg_schema, t))).fetchone()
            total += n
        return int(total)
