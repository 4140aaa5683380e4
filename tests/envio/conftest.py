"""Fixtures for the real-Envio tests: a whole sandbox world whose belts are Envio HyperIndex processes.

`envio_world(green)` starts one (`World.up(WorldOptions(indexer="envio", green_envio=green))`) in the
test's temp dir and always takes it down again (Envio process groups, servers, chains, the Postgres
cluster). Each Envio process holds ~0.9 GB, so a world (two of them) runs only under a lock shared by
every pytest-xdist worker of the run: at most one Envio world, two Envio processes, at a time.

The Envio projects must be built (`python -m belt_gate.sandbox.envio build`, which `.ci/run` runs):
when they are not, the fixture builds them (pnpm install + codegen; the packages come from npm).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from filelock import FileLock

from belt_gate.sandbox.envio.project import V2, V3, build
from belt_gate.sandbox.world import World, WorldOptions, WorldState

EnvioWorld = Callable[[str], AbstractContextManager[WorldState]]


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def envio_built(tmp_path_factory: pytest.TempPathFactory) -> None:
    with FileLock(str(_shared_root(tmp_path_factory) / "belt-envio-build.lock"), timeout=900):
        build(V2)
        build(V3)


@pytest.fixture
def envio_world(envio_built: None, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> EnvioWorld:
    lock = FileLock(str(_shared_root(tmp_path_factory) / "belt-envio-world.lock"), timeout=1200)

    @contextmanager
    def start(green: str) -> Iterator[WorldState]:
        with lock:
            world = World(tmp_path / f"world-{green}")
            try:
                yield world.up(WorldOptions(indexer="envio", green_envio=green, timeout=300))
            finally:
                world.down()

    return start
