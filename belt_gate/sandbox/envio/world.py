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
from typing import Any

from belt_gate.errors import SandboxError
from belt_gate.sandbox import procs
from belt_gate.sandbox.envio.project import FLAVOURS, VERSION_HINT, Flavour, built
from belt_gate.sandbox.envio.runner import start_envio, wait_indexed
from belt_gate.sandbox.postgres import create_database, start_cluster

DATABASE = "belts"
DSN_VAR = "BELT_SANDBOX_PG_DSN"

Waiter = Callable[[float], None]


def server_argv(schema_file: str, pg_schema: str, port: int) -> list[str]:
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
    from belt_gate.sandbox.world import BeltInfo

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
    for name, flavour in chosen.items():
        rpc = {c: state.rpc_direct[c] for c in flavour.chains}
        heads = {c: chainlib.head(url) for c, url in rpc.items()}
        log = state.run_dir / "belts" / f"{name}.envio.log"
        began = time.monotonic()
        proc, metrics_port = start_envio(flavour, cluster, DATABASE, name, rpc, log)
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


def stop_cluster_of(state: Any) -> bool:
    """Stop the world's Postgres cluster, if it has one; True when one was running."""
    from belt_gate.sandbox.postgres import Cluster, running, stop_cluster

    if not state.postgres:
        return False
    cluster = Cluster.from_dict(state.postgres)
    was = running(cluster)
    stop_cluster(cluster)
    return was


__all__ = ["DATABASE", "DSN_VAR", "flavours_for", "server_argv", "spawn_envio_belts", "stop_cluster_of"]
