"""Fixtures for the watch commands: private long chains and sandbox belts still indexing on them.

`long_chains`: three private anvils (chain ids 1, 10, 8453) with LONG empty blocks each, started once per
session (per xdist worker) and never touched again: the shared world's chains stay as they are.
`synced_belt`: a belt (chains 1 and 10) indexed to the head, and following it.
`crawling_belt_url`: a belt on all three chains that the reference indexer crawls STEP blocks per tick
from block 0, fetching AHEAD blocks ahead: it is still indexing for the whole module (about 60 s at
~7 blocks/s; a module's tests take a few seconds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox.chains import Chain
from tests.watch.crawl import Crawl, crawling_belt, long_chain

LONG = 400
STEP = 2
AHEAD = 12


@pytest.fixture(scope="session")
def long_chains(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Chain]]:
    run_dir = tmp_path_factory.mktemp("long-chains")
    started: dict[int, Chain] = {}
    try:
        with ThreadPoolExecutor(3) as pool:
            for chain in pool.map(lambda c: long_chain(c, run_dir, LONG), (1, 10, 8453)):
                started[chain.chain_id] = chain
        yield started
    finally:
        for chain in started.values():
            with contextlib.suppress(Exception):
                chainlib.stop_chain(chain)


def rpc_of(chains: dict[int, Chain], *ids: int) -> dict[int, str]:
    return {c: chains[c].rpc_url for c in ids or sorted(chains)}


@pytest.fixture(scope="module")
def synced_belt(long_chains: dict[int, Chain], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("synced") / "blue.db"
    with crawling_belt(db, rpc_of(long_chains, 1, 10), step=None) as (url, _):
        yield url


@pytest.fixture(scope="module")
def crawl(long_chains: dict[int, Chain], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Crawl]]:
    db = tmp_path_factory.mktemp("crawl") / "green.db"
    with crawling_belt(db, rpc_of(long_chains), step=STEP, ahead=AHEAD) as served:
        yield served


@pytest.fixture
def crawling_belt_url(crawl: tuple[str, Crawl]) -> str:
    url, c = crawl
    assert not c.errors, f"the crawl failed: {c.errors[:3]}"
    return url
