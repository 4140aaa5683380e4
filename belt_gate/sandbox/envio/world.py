"""Envio belts in the sandbox world (`belt-gate sandbox up --indexer envio`).

Per world: one throwaway Postgres cluster (database `belts`). Per belt: one `envio start` process writing
into the Postgres schema named after the belt, and one Hasura-dialect server serving that schema
(`--envio-views`: Envio's own `chain_metadata` and `_meta` views; shape `newer`, the Hasura shape of
Envio 2.25+, with the admin role's aggregates, so belt_gate can fingerprint it). Blue runs Envio 2 on
its four chains; green runs Envio 3 on all six (or Envio 2 again for a parity world).

`spawn_envio_belts` starts everything and returns the waiters that block until each belt has
processed every chain up to the head its chain had when the belt started. Everything started is put
into the world's state at once (pids of envio, the server and the cluster), so `down` stops it even if
what follows fails. At most two Envio processes run per world (~0.9 GB each).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from belt_gate.errors import SandboxError
from belt_gate.sandbox import procs
from belt_gate.sandbox.belt_info import BeltInfo
from belt_gate.sandbox.envio.project import FLAVOURS, VERSION_HINT, Flavour, built
from belt_gate.sandbox.envio.runner import start_envio, wait_indexed, wait_migrated
from belt_gate.sandbox.postgres import create_database, start_cluster

DATABASE = "belts"
DSN_VAR = "BELT_SANDBOX_PG_DSN"

Waiter = Callable[[float], None]


def server_argv(schema_file: str, pg_schema: str, port: int) -> list[str]:
    """The command line of the Hasura-dialect server that serves one Envio belt's Postgres schema (the DSN passed in the
    environment, never on the command line)."""
    return [
        sys.executable,
        "-m",
        "belt_gate.sandbox.hasura",
        "--pg-dsn-env",
        DSN_VAR,
        "--pg-schema",
        pg_schema,
        "--envio-views",
        "--shape",
        "newer",
        "--admin-role",
        "--schema",
        schema_file,
        "--port",
        str(port),
    ]


def flavours_for(green: str) -> dict[str, Flavour]:
    """blue: Envio 2; green: `green` ("v3" for the upgrade, "v2" for a parity world)."""
    if green not in FLAVOURS:
        raise SandboxError(f"unknown Envio version {green!r} for green (v2 or v3)")
    chosen = {"blue": FLAVOURS["v2"], "green": FLAVOURS[green]}
    for f in chosen.values():
        if not built(f):
            raise SandboxError(f"Envio {f.package} ({f.key}) is not built: {VERSION_HINT}")
    return chosen


def spawn_envio_belts(state: Any, green: str, save: Callable[[], None]) -> list[Waiter]:
    """Start the cluster and both Envio belts of `state` (a WorldState whose chains run); returns waiters."""
    from belt_gate.sandbox import chains as chainlib

    chosen = flavours_for(green)
    missing = sorted({c for f in chosen.values() for c in f.chains} - set(state.chains))
    if missing:
        raise SandboxError(f"the Envio projects index chains {missing}, which this world lacks")
    cluster = start_cluster()
    state.postgres = cluster.to_dict()
    save()
    dsn = create_database(cluster, DATABASE)
    base_schema = state.schema.read_text(encoding="utf-8")
    waiters: list[Waiter] = []
    migrating: tuple[str, int, Path] | None = None  # the belt started last: the next waits for its migrations
    for name, flavour in chosen.items():
        if migrating is not None:
            before, before_pid, before_log = migrating
            wait_migrated(dsn, before, pid=before_pid, log=before_log, name=before)
        rpc = {c: state.rpc_direct[c] for c in flavour.chains}
        heads = {c: chainlib.head(url) for c, url in rpc.items()}
        log = state.run_dir / "belts" / f"{name}.envio.log"
        began = time.monotonic()
        proc, metrics_port = start_envio(flavour, cluster, DATABASE, name, rpc, log)
        migrating = (name, proc.pid, log)
        state.envio[name] = {
            "pid": proc.pid,
            "port": metrics_port,
            "version": flavour.package,
            "flavour": flavour.key,
            "pg_schema": name,
            "log": str(log),
            "started": began,
        }
        save()
        schema_file = state.run_dir / "belts" / f"{name}.schema.graphql"
        schema_file.write_text(base_schema, encoding="utf-8")
        port = procs.free_port()
        server_log = state.run_dir / "belts" / f"{name}.log"
        server = procs.spawn(server_argv(str(schema_file), name, port), server_log, env={DSN_VAR: dsn})
        state.belts[name] = BeltInfo(
            name,
            f"http://127.0.0.1:{port}/v1/graphql",
            port,
            server.pid,
            state.run_dir / "belts" / f"{name}.pg",
            schema_file,
            server_log,
            rpc,
            shape="newer",
            indexer="envio",
            version=flavour.package,
        )
        save()
        waiters.append(_waiter(dsn, name, heads, proc.pid, log, port, server.pid, state))
    return waiters


def _waiter(
    dsn: str, name: str, heads: dict[int, int], pid: int, log: Any, port: int, server_pid: int, state: Any
) -> Waiter:
    def wait(deadline: float) -> None:
        procs.wait_for_port(port, pid=server_pid, timeout=max(0.1, deadline - time.monotonic()), what=f"belt {name}")
        wait_indexed(dsn, name, heads, deadline=deadline, pid=pid, log=log, name=name)
        info = state.envio[name]
        info["ready_seconds"] = round(time.monotonic() - float(info["started"]), 3)

    return wait


@dataclass(frozen=True)
class CopiedBelt:
    """A frozen copy of an Envio belt's Postgres schema, served by its own Hasura-dialect server."""

    url: str
    schema_file: Path
    pid: int
    port: int
    pg_schema: str
    dropped: str  # the id of the row left out


def copy_without_event(state: Any, source: str, name: str, entity: str, chain: int, n: int = 1) -> CopiedBelt:
    """Copy belt `source`'s Postgres schema (its tables and Envio's views) into schema `name` without the
    `n`-th (0-based, in block and log order) `entity` row of `chain`, and serve the copy: a faulty belt
    made of a real Envio belt's rows, for the demo (`drop:ENTITY@CHAIN#n` on a real Envio green)."""
    from psycopg import sql

    from belt_gate.sandbox.postgres import Cluster, connect

    if not state.postgres or source not in state.envio:
        raise SandboxError(f"belt {source!r} is not a real Envio belt of this world")
    dsn = Cluster.from_dict(state.postgres).dsn(DATABASE)
    src = str(state.envio[source]["pg_schema"])
    with connect(dsn) as db, db.transaction():
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (src,),
        ).fetchall()
        for (table,) in tables:
            new, old = sql.Identifier(name, table), sql.Identifier(src, table)
            db.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(new, old))
            db.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(new, old))
        db.execute("SELECT set_config('search_path', %s, true)", (src,))
        views = db.execute(
            "SELECT c.relname, pg_get_viewdef(c.oid, true) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'v' ORDER BY c.oid",
            (src,),
        ).fetchall()
        db.execute("SELECT set_config('search_path', %s, true)", (name,))
        for view, definition in views:
            db.execute(sql.SQL("CREATE VIEW {} AS ").format(sql.Identifier(name, view)) + sql.SQL(definition))
        table = sql.Identifier(name, entity)
        row = db.execute(
            sql.SQL(
                'SELECT id FROM {} WHERE "chainId" = %s ORDER BY "blockNumber", "logIndex" OFFSET %s LIMIT 1'
            ).format(table),
            (chain, n),
        ).fetchone()
        if row is None:
            raise SandboxError(f"belt {source!r} has no {entity} event #{n} on chain {chain} to leave out")
        db.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(table), (row[0],))
    schema_file = state.run_dir / "belts" / f"{name}.schema.graphql"
    schema_file.write_text(state.belts[source].schema.read_text(encoding="utf-8"), encoding="utf-8")
    port = procs.free_port()
    server = procs.spawn(
        server_argv(str(schema_file), name, port), state.run_dir / "belts" / f"{name}.log", env={DSN_VAR: dsn}
    )
    try:
        procs.wait_for_port(port, pid=server.pid, timeout=60, what=f"belt {name}")
    except BaseException:
        procs.stop(server.pid)
        raise
    return CopiedBelt(f"http://127.0.0.1:{port}/v1/graphql", schema_file, server.pid, port, name, str(row[0]))


def stop_copy(state: Any, copy: CopiedBelt) -> None:
    """Stop a copy's server and drop its schema."""
    from psycopg import sql

    from belt_gate.sandbox.postgres import Cluster, connect

    procs.stop(copy.pid)
    if state.postgres:
        with connect(Cluster.from_dict(state.postgres).dsn(DATABASE)) as db:
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(copy.pg_schema)))


def stop_cluster_of(state: Any) -> bool:
    """Stop the world's Postgres cluster, if it has one; True when one was running."""
    from belt_gate.sandbox.postgres import Cluster, running, stop_cluster

    if not state.postgres:
        return False
    cluster = Cluster.from_dict(state.postgres)
    was = running(cluster)
    stop_cluster(cluster)
    return was


__all__ = [
    "DATABASE",
    "DSN_VAR",
    "CopiedBelt",
    "copy_without_event",
    "flavours_for",
    "server_argv",
    "spawn_envio_belts",
    "stop_cluster_of",
    "stop_copy",
]
