"""Fixtures for tests that need the sandbox world.

`world`: the default world (six chains, blue on 1/10/8453/80094, green on all six, the Caddy alias at
blue), started once per test session and shared by every pytest-xdist worker. Why shared rather than one
per worker: CI runs `-n 2` on 2 cores, and a world is 6 anvils + 2 belt processes + Caddy; two of them
would double the start-up CPU and memory while the tests only read it. Tests never change the shared
world's chains; a test that needs to change chains builds its own small world (`World(tmp_path)`).

How the sharing works: under a FileLock in the run's common temp dir, the first worker starts the world
with the real CLI in a subprocess (`belt-gate sandbox up --json`, so the world's processes are not
children of any worker and any worker can stop them), and every worker adds itself to a user count; at
session end each worker removes itself and the last one runs `sandbox down`. Without xdist the same code
runs with one user.

`belt_factory`: start extra belts with faults on the shared world's chains (`belt_factory(faults=[...])`);
they are stopped when the module's tests are done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from itertools import count
from pathlib import Path

import pytest
from filelock import FileLock

from belt_gate.sandbox.postgres import Cluster, start_cluster, stop_cluster
from belt_gate.sandbox.world import BeltInfo, World, WorldState, load_state, running

BeltFactory = Callable[..., BeltInfo]


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _users(path: Path) -> int:
    try:
        return int(path.read_text() or "0")
    except (OSError, ValueError):
        return 0


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldState]:
    root = _shared_root(tmp_path_factory)
    state_dir = root / "belt-world"
    users = root / "belt-world.users"
    with FileLock(str(root / "belt-world.lock"), timeout=300):
        state = load_state(state_dir)
        if state is None or not running(state):
            if state is not None:
                World(state_dir).down(state)
            proc = subprocess.run(
                [sys.executable, "-m", "belt_gate.cli", "sandbox", "up", "--json", "--state-dir", str(state_dir)],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if proc.returncode != 0:
                pytest.fail(f"sandbox up failed ({proc.returncode}): {proc.stderr.strip()}", pytrace=False)
            json.loads(proc.stdout)
            state = load_state(state_dir)
            assert state is not None
        users.write_text(str(_users(users) + 1))
    try:
        yield state
    finally:
        with FileLock(str(root / "belt-world.lock"), timeout=300):
            left = _users(users) - 1
            users.write_text(str(max(left, 0)))
            if left <= 0:
                World(state_dir).down()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A throwaway Postgres cluster on loopback for this worker (sandbox/postgres.py; ~1 s to start)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


_counter = count()


@pytest.fixture(scope="module")
def belt_factory(world: WorldState) -> Iterator[BeltFactory]:
    """`belt_factory(faults=("drop:NftTransfer@1",), chains=None, name=None) -> BeltInfo` (ready)."""
    w = World(world.state_dir)
    started: list[str] = []
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")

    def start(
        faults: Sequence[str] = (), chains: Sequence[int] | None = None, name: str | None = None, shape: str = "admin"
    ) -> BeltInfo:
        belt_name = name or f"x-{worker}-{os.getpid()}-{next(_counter)}"
        belt = w.start_belt(belt_name, chains, faults, shape=shape)
        started.append(belt_name)
        return belt

    try:
        yield start
    finally:
        for name in started:
            w.stop_belt(name)
