"""Processes the tests start and watch: belt servers (the real sandbox Hasura-dialect server in its own
process, real HTTP, no mocks) and the sandbox world's own processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from belt_gate.sandbox import procs
from belt_gate.sandbox.world import WorldState
from tests.support.builders import SCHEMA


@dataclass
class Served:
    """A running belt server: its GraphQL URL, its process and its port."""

    url: str
    pid: int
    port: int


def _start(
    db: Path,
    *,
    shape: str = "admin",
    faults: Sequence[str] = (),
    schema: Path = SCHEMA,
    aggregate_tables: str | None = None,
    secret_env: str | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    port = procs.free_port()
    argv = [
        sys.executable,
        "-m",
        "belt_gate.sandbox.hasura",
        "--db",
        str(db),
        "--schema",
        str(schema),
        "--port",
        str(port),
        "--shape",
        shape,
    ]
    for f in faults:
        argv += ["--fault", f]
    if aggregate_tables is not None:
        argv += ["--aggregate-tables", aggregate_tables]
    if secret_env:
        argv += ["--admin-secret-env", secret_env]
    return procs.spawn(argv, log or db.with_suffix(".log"), env={**os.environ, **(env or {})}), port


def _healthy(proc: subprocess.Popen[bytes], port: int) -> Served:
    procs.wait_for_port(port, pid=proc.pid, timeout=30, what="belt server")
    deadline = time.monotonic() + 30
    while True:  # listening is not yet serving: poll /healthz until it answers, within a deadline
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        assert time.monotonic() < deadline and procs.alive(proc.pid), "belt server never became healthy"
        time.sleep(0.02)
    return Served(f"http://127.0.0.1:{port}/v1/graphql", proc.pid, port)


@contextlib.contextmanager
def serve_belts(belts: Mapping[str, tuple[Path, Mapping[str, Any]]]) -> Iterator[dict[str, Served]]:
    """Several belt servers, name -> (db, options of `serve_belt`), all started before any is waited for."""
    started: list[tuple[str, subprocess.Popen[bytes], int]] = []
    try:
        for name, (db, options) in belts.items():
            started.append((name, *_start(db, **options)))
        yield {name: _healthy(proc, port) for name, proc, port in started}
    finally:
        for _, proc, _ in started:
            procs.stop(proc.pid)
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)


@contextlib.contextmanager
def serve_belt(db: Path, **options: Any) -> Iterator[Served]:
    """One belt server: `shape`, `faults`, `schema`, `aggregate_tables`, `secret_env`, `env` (added to
    the server's environment, e.g. the variable `secret_env` names), `log`."""
    with serve_belts({"belt": (db, options)}) as served:
        yield served["belt"]


def core(state: WorldState) -> tuple[list[int], list[int]]:
    """Pids and ports of the world `sandbox up` started (chains, blue, green, their proxies, the alias):
    not the belts `belt_factory` adds, which another xdist worker may stop at any moment."""
    extra = [b for name, b in state.belts.items() if name not in ("blue", "green")]
    extra_proxies = {pid for b in extra for pid in b.proxies}
    extra_pids = {b.pid for b in extra} | extra_proxies
    extra_ports = {b.port for b in extra} | {p.port for p in state.proxies if p.pid in extra_proxies}
    return (
        [pid for pid in state.pids() if pid not in extra_pids],
        [port for port in state.ports() if port not in extra_ports],
    )
