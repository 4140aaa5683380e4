"""Run one built Envio project as a belt: `envio start` into a Postgres schema, Hasura off, loopback only.

    proc = start_envio(V2, pg_dsn_parts, schema="blue", rpc={1: url, ...}, log=path)
    wait_indexed(dsn, "blue", {1: head, ...}, deadline=..., pid=proc.pid)
    stop (procs.stop(pid): the whole process group - envio, pnpm, node)

Environment (measured, see the issue): ENVIO_PG_* (v2 ENVIO_PG_PUBLIC_SCHEMA, v3 ENVIO_PG_SCHEMA),
ENVIO_PG_SSL_MODE=false, ENVIO_HASURA=false, TUI_OFF / ENVIO_TUI, ENVIO_INDEXER_PORT, dummy
HASURA_GRAPHQL_* (required even with Hasura off; the dummy admin secret is not a secret of anyone's),
and never NODE_ENV=production. Node gets `--require loopback.js`, which makes every server it starts bind
127.0.0.1 (Envio's metrics server otherwise listens on all interfaces). Each chain's RPC URL goes in
`BELT_ENVIO_RPC_<chain>` (the projects are built to read it; see project.py).

Progress is read from Envio's own `chain_metadata` view: `latest_processed_block` per chain.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from belt_gate.errors import SandboxError
from belt_gate.sandbox import procs
from belt_gate.sandbox.envio.project import (
    HERE,
    VERSION_HINT,
    Flavour,
    built,
    envio_binary,
    project_dir,
    rpc_env,
    tool_env,
)
from belt_gate.sandbox.postgres import Cluster, connect


def envio_env(
    flavour: Flavour, cluster: Cluster, database: str, schema: str, rpc: Mapping[int, str], port: int
) -> dict[str, str]:
    """The environment `envio start` runs in: the cluster's Postgres and the belt's schema, Hasura and the TUI off,
    loopback-only networking, and one RPC variable per chain (every chain of the flavour must have one)."""
    env = dict(tool_env(flavour))
    env.pop("NODE_ENV", None)
    preload = f"--require {HERE / 'loopback.js'}"
    env.update(
        {
            "ENVIO_PG_HOST": "127.0.0.1",
            "ENVIO_PG_PORT": str(cluster.port),
            "ENVIO_PG_USER": "postgres",
            "ENVIO_PG_PASSWORD": "trust",  # trust authentication: any password is accepted and none is needed
            "ENVIO_PG_DATABASE": database,
            "ENVIO_PG_PUBLIC_SCHEMA": schema,
            "ENVIO_PG_SCHEMA": schema,
            "ENVIO_PG_SSL_MODE": "false",
            "ENVIO_HASURA": "false",
            "TUI_OFF": "true",
            "ENVIO_TUI": "false",
            "ENVIO_INDEXER_PORT": str(port),
            "METRICS_PORT": str(port),
            "HASURA_GRAPHQL_ENDPOINT": "http://127.0.0.1:9/v1/metadata",
            "HASURA_GRAPHQL_ROLE": "public",
            "HASURA_GRAPHQL_ADMIN_SECRET": "unused",
            "NODE_OPTIONS": f"{env.get('NODE_OPTIONS', '')} {preload}".strip(),
            "LOG_LEVEL": "warn",
        }
    )
    missing = [c for c in flavour.chains if c not in rpc]
    if missing:
        raise SandboxError(f"Envio {flavour.key} indexes chains {list(flavour.chains)}; no RPC for {missing}")
    for chain in flavour.chains:
        env[rpc_env(chain)] = rpc[chain]
    return env


def start_envio(
    flavour: Flavour,
    cluster: Cluster,
    database: str,
    schema: str,
    rpc: Mapping[int, str],
    log: Path,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `envio start` for the built project (its own process group); returns (process, metrics port)."""
    if not built(flavour):
        raise SandboxError(f"Envio {flavour.key} is not built: {VERSION_HINT}")
    port = procs.free_port()
    env = envio_env(flavour, cluster, database, schema, rpc, port)
    proc = procs.spawn([str(envio_binary(flavour)), "start"], log, env=env, cwd=project_dir(flavour))
    return proc, port


def processed(dsn: str, schema: str) -> dict[int, int]:
    """Chain -> latest processed block, from Envio's `chain_metadata` view ({} until it exists)."""
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as db:
            rows = db.execute(f'SELECT chain_id, latest_processed_block FROM "{schema}".chain_metadata').fetchall()
    except psycopg.Error:
        return {}
    return {int(c): int(b) for c, b in rows if b is not None}


def wait_indexed(
    dsn: str, schema: str, targets: Mapping[int, int], *, deadline: float, pid: int, log: Path, name: str
) -> None:
    """Poll until every chain in `targets` is processed up to its target block; SandboxError otherwise."""
    while True:
        done = processed(dsn, schema)
        behind = {c: (done.get(c), t) for c, t in targets.items() if done.get(c, -1) < t}
        if not behind:
            return
        if not procs.alive(pid):
            raise SandboxError(f"Envio belt {name} (pid {pid}) exited; see {log}")
        if time.monotonic() > deadline:
            detail = ", ".join(f"chain {c} at {d} of {t}" for c, (d, t) in sorted(behind.items()))
            raise SandboxError(f"Envio belt {name} not caught up in time: {detail}; see {log}")
        time.sleep(0.25)


def wait_migrated(dsn: str, schema: str, *, pid: int, log: Path, name: str, timeout: float = 120.0) -> None:
    """Poll until Envio's start-up migrations have made `schema`'s `chain_metadata` view. Two Envio processes
    migrating one database at once race on what they create in its public schema (measured: Envio 2 twice,
    `get_cache_row_count` in pg_proc: a unique violation, and the second indexer exits), so the sandbox
    starts the next belt only once this one is migrated."""
    deadline = time.monotonic() + timeout
    while True:
        with connect(dsn) as db:
            found = db.execute("SELECT to_regclass(%s)", (f'"{schema}".chain_metadata',)).fetchone()
        if found and found[0] is not None:
            return
        if not procs.alive(pid):
            raise SandboxError(f"Envio belt {name} (pid {pid}) exited while migrating; see {log}")
        if time.monotonic() > deadline:
            raise SandboxError(f"Envio belt {name} made no chain_metadata in {timeout:.0f} s; see {log}")
        time.sleep(0.25)


def listening_beyond_loopback(pid: int) -> list[str]:
    """Local addresses of TCP sockets held by the process group of `pid` that are not 127.0.0.1."""
    wanted: set[str] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(stat.parent.name) != pid and int(fields[2]) != pid:
                continue
            for fd in (stat.parent / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    wanted.add(link[8:-1])
        except (OSError, IndexError, ValueError):
            continue
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in wanted:
                addr = cols[1].rsplit(":", 1)[0]
                if addr not in ("0100007F", "00000000000000000000000001000000"):
                    out.append(f"{table.rsplit('/', 1)[1]}:{cols[1]}")
    return out


__all__ = ["envio_env", "listening_beyond_loopback", "processed", "start_envio", "wait_indexed", "wait_migrated"]
