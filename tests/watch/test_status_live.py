"""`belt-gate status` and the Watcher against real sandbox belts: one synced, one still indexing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from belt_gate.cli import main
from belt_gate.sandbox.chains import Chain
from belt_gate.status import BeltSpec, Report, Watcher
from tests.support.launchers import serve_belt
from tests.watch.conftest import AHEAD, LONG, rpc_of
from tests.watch.crawl import Crawl


def _moving_reads(watcher: Watcher, n: int, deadline: float = 30.0) -> list[Report]:
    """`n` reads, each taken once every chain of the belt has moved since the one before (polled)."""

    def processed(r: Report) -> list[int | None]:
        belt = r.belts[0]
        return [c.processed for c in belt.chains] if belt.state == "ok" else []

    async def go() -> list[Report]:
        end = time.monotonic() + deadline
        reports = [await watcher.poll()]
        try:
            while len(reports) < n:
                await asyncio.sleep(0.3)
                r = await watcher.poll()
                before, now = processed(reports[-1]), processed(r)
                if before and len(now) == len(before) and all(b < a for a, b in zip(now, before, strict=True)):  # type: ignore[operator]
                    reports.append(r)
                assert time.monotonic() < end, f"the crawl did not move within {deadline} s"
            return reports
        finally:
            await watcher.aclose()

    return asyncio.run(go())


def _once(watcher: Watcher) -> Report:
    async def go() -> Report:
        try:
            return await watcher.poll()
        finally:
            await watcher.aclose()

    return asyncio.run(go())


def test_rate_and_eta_of_a_belt_still_indexing_are_sensible_and_move(
    crawling_belt_url: str, long_chains: dict[int, Chain]
) -> None:
    watcher = Watcher([BeltSpec("green", crawling_belt_url)], rpc_of(long_chains), within=5)
    a, b, c = (r.belt("green") for r in _moving_reads(watcher, 3))
    assert a and b and c and a.state == b.state == c.state == "ok"
    assert [ch.chain_id for ch in b.chains] == [1, 10, 8453]
    for x, y, z in zip(a.chains, b.chains, c.chains, strict=True):
        assert x.rate is None and x.eta is None, "one read cannot give a rate"
        assert y.head == z.head == LONG and y.head_source == "rpc"
        assert x.processed is not None and y.processed is not None and z.processed is not None
        assert x.processed < y.processed < z.processed < LONG, "the crawl moves and is not done"
        assert y.remaining is not None and z.remaining is not None and z.remaining < y.remaining
        # rate from the leading edge: what moved over the time that passed, within what the crawl can do
        assert y.rate is not None and z.rate is not None
        seconds = y.read_at - x.read_at
        assert abs(y.rate - (y.processed - x.processed) / seconds) < 0.01
        assert 0 < z.rate < 100
        # ETA = what is left / how fast it closes (the head stands still here)
        assert y.eta is not None and z.eta is not None
        assert abs(z.eta - z.remaining / z.rate) < 0.5
        assert 1 < z.eta < 3600 and z.eta != y.eta
        assert z.fetched_ahead == AHEAD and z.fetched == z.processed + AHEAD
        assert z.fetched_percent is not None and z.percent is not None and z.fetched_percent > z.percent
        assert z.state == "syncing" and not z.within(5)
    assert not c.ready(5)


def test_without_an_rpc_the_head_is_the_belts_own_and_it_says_so(synced_belt: str) -> None:
    report = _once(Watcher([BeltSpec("blue", synced_belt)], {}, within=0))
    blue = report.belt("blue")
    assert blue is not None and blue.state == "ok"
    assert {c.head_source for c in blue.chains} == {"belt"}
    assert all(c.head == c.belt_head == LONG and c.remaining == 0 and c.state == "synced" for c in blue.chains)
    assert blue.ready(0)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """`belt-gate ARGS` in this process (the real entry point; a subprocess costs seconds of imports)."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        rc = main(list(args))
        out = capsys.readouterr()
        return Ran(rc, out.out, out.err)

    return run


def test_status_json_is_one_object_for_every_belt_and_chain(
    cli: Callable[..., Ran], synced_belt: str, crawling_belt_url: str, long_chains: dict[int, Chain]
) -> None:
    rpc = [f"--rpc={c}={u}" for c, u in rpc_of(long_chains).items()]
    proc = cli(
        "status",
        f"--belt=blue={synced_belt}",
        f"--belt=green={crawling_belt_url}",
        *rpc,
        "--json",
        "--sample-seconds=1",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["format"] == "belt-gate-status/1"
    belts = {b["name"]: b for b in doc["belts"]}
    assert [c["chain"] for c in belts["blue"]["chains"]] == [1, 10]
    assert [c["chain"] for c in belts["green"]["chains"]] == [1, 10, 8453]
    assert belts["blue"]["ready"] is True and belts["green"]["ready"] is False
    for c in belts["green"]["chains"]:
        assert c["head_source"] == "rpc" and c["head"] == LONG
        assert c["rate"] > 0 and c["eta_seconds"] > 0 and c["fetched_ahead"] == AHEAD
        assert c["state"] == "syncing"
    assert "timestamp_caught_up" not in proc.stdout


def test_status_text_and_watch_show_both_belts(
    cli: Callable[..., Ran], synced_belt: str, crawling_belt_url: str
) -> None:
    proc = cli("status", f"--belt=blue={synced_belt}", f"--belt=green={crawling_belt_url}", "--sample-seconds=0.5")
    assert proc.returncode == 0, proc.stderr
    assert "blue" in proc.stdout and "green" in proc.stdout and "(belt)" in proc.stdout
    assert "ready to certify" in proc.stdout and "syncing" in proc.stdout
    watch = cli("status", f"--belt=green={crawling_belt_url}", "--watch", "--interval=0.3", "--iterations=2")
    assert watch.returncode == 0, watch.stderr
    assert "green" in watch.stdout and "Optimism" in watch.stdout
    lines = cli("status", f"--belt=green={crawling_belt_url}", "--watch", "--json", "--interval=0.2", "--iterations=2")
    docs = [json.loads(line) for line in lines.stdout.splitlines()]
    assert lines.returncode == 0 and len(docs) == 2 and all(d["belts"][0]["name"] == "green" for d in docs)
    assert docs[1]["belts"][0]["chains"][0]["rate"] is not None, "the second read of a watch has a rate"


def test_status_of_a_dead_belt_says_so_in_one_line_and_fails(cli: Callable[..., Ran]) -> None:
    from belt_gate.sandbox import procs

    port = procs.free_port()
    proc = cli(
        "status", f"--belt=old=http://u:pw-canary-77@127.0.0.1:{port}/v1/graphql", "--json", "--sample-seconds=0"
    )
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    old = doc["belts"][0]
    assert old["state"] == "dead" and old["chains"] == [] and str(port) in old["message"]
    assert "pw-canary-77" not in proc.stdout + proc.stderr


def test_status_bad_usage_is_one_line(cli: Callable[..., Ran]) -> None:
    proc = cli("status", "--belt=blue=ftp://nowhere")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "not an http(s) URL" in proc.stderr
    none = cli("status", "--belt=nosuch")
    assert none.returncode == 2 and "no belt 'nosuch'" in none.stderr


def test_newer_envio_meta_is_read_the_same_way(crawl: tuple[str, Crawl], long_chains: dict[int, Chain]) -> None:
    """The same belt served in newer Envio's shape: progress from `_meta` (bufferBlock is the fetched edge)."""
    _, c = crawl
    with serve_belt(c.db, shape="newer") as served:
        report = _once(Watcher([BeltSpec("green", served.url)], rpc_of(long_chains)))
    green = report.belt("green")
    assert green is not None and green.state == "ok" and green.source == "_meta"
    assert [ch.chain_id for ch in green.chains] == [1, 10, 8453]
    for ch in green.chains:
        assert ch.processed is not None and 0 < ch.processed < LONG and ch.head == LONG
        assert ch.fetched_ahead == AHEAD and ch.events == 0
