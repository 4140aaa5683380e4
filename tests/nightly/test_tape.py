"""The tape (sources/recorded.py): what a recording keeps of the chains' JSON-RPC and of the L1 checks'
GraphQL questions, and how a replay answers from it — in order, with the recorded errors, and failing
closed on anything it does not hold. Unit tests: the upstream is an httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from belt_gate.errors import EndpointError, RpcError
from belt_gate.settings import Settings
from belt_gate.sources.recorded import FORMAT, RecordedSource, Tape, new_recording, write_recording

URL = "http://127.0.0.1:8545"


def upstream(heads: list[int | Exception]) -> httpx.MockTransport:
    """An RPC of chain 1 whose eth_blockNumber answers `heads` in turn (an exception: a transport error)."""
    answers = iter(heads)

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        out: list[dict[str, Any]] = []
        for c in calls:
            if c["method"] == "eth_chainId":
                out.append({"jsonrpc": "2.0", "id": c["id"], "result": "0x1"})
            else:
                got = next(answers)
                if isinstance(got, Exception):
                    raise got
                out.append({"jsonrpc": "2.0", "id": c["id"], "result": hex(got)})
        return httpx.Response(200, json=out if isinstance(body, list) else out[0])

    return httpx.MockTransport(handle)


def recorded_then_replay(tmp_path: Path, heads: list[int | Exception], reads: int) -> tuple[list[str], Tape]:
    """Read the head `reads` times through a recording tape, write the recording, and open it for replay."""
    green = new_recording("green", "http://127.0.0.1:9/v1/graphql")
    tape = Tape(recordings={"green": green})
    inner = upstream(heads)
    live: list[str] = []
    for _ in range(reads):
        from belt_gate.sources.rpc import RpcClient

        client = RpcClient(1, URL, transport=tape.rpc_transport(1, URL, inner), retries=1, sleep=lambda _: None)
        with client:
            try:
                live.append(str(client.head_block()))
            except RpcError as exc:
                live.append(str(exc))
    path = write_recording(tmp_path, "green", green)
    replay = Tape.open(Settings(blue=str(path), green=str(path)))
    return live, replay


def test_replay_answers_in_the_recorded_order_then_fails_closed(tmp_path: Path) -> None:
    live, tape = recorded_then_replay(tmp_path, [10, 12], reads=2)
    assert live == ["10", "12"]
    assert tape.replaying and tape.rpc_urls({5: "http://elsewhere.example"}) == {1: URL}
    again = []
    for _ in range(2):
        with tape.rpc(1, URL) as client:
            again.append(str(client.head_block()))
    assert again == live
    with tape.rpc(1, URL) as client, pytest.raises(RpcError) as err:
        client.head_block()  # asked once more than the run did: no answer is invented
    assert "recording green.json has no (further) answer to this request" in str(err.value)
    assert "chain 1 RPC http://127.0.0.1:8545" in str(err.value)


def test_transport_errors_replay_with_the_same_words(tmp_path: Path) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    live, tape = recorded_then_replay(tmp_path, [refused, refused, 7], reads=2)
    assert "Connection refused (after 2 attempts)" in live[0] and live[1] == "7"
    again = []
    for _ in range(2):
        with tape.rpc(1, URL, retries=1) as client:  # the client the run had (the plugin's are all alike)
            try:
                again.append(str(client.head_block()))
            except RpcError as exc:
                again.append(str(exc))
    assert again == live


def test_a_replay_asks_only_the_recorded_chains(tmp_path: Path) -> None:
    _, tape = recorded_then_replay(tmp_path, [3], reads=1)
    live = Settings(blue="b.json", green="g.json", rpc={1: "http://127.0.0.1:1", 10: "http://127.0.0.1:2"})
    assert dict(tape.settings(live).rpc) == {1: URL}


def test_a_run_without_a_recording_is_live() -> None:
    tape = Tape()
    settings = Settings(blue="http://127.0.0.1:1/", green="http://127.0.0.1:2/", rpc={1: URL})
    assert not tape.replaying and tape.settings(settings) is settings
    assert tape.rpc_transport(1, URL) is None and tape.recording("green") is None


def test_graphql_questions_and_errors_replay_from_the_belts_recording(tmp_path: Path) -> None:
    doc = new_recording("green", "http://127.0.0.1:9/***")
    doc["answers"]["query:query A { x }"] = {"x": 1}
    doc["errors"] = {"query:query B { y }": "green http://127.0.0.1:9/***: HTTP 503 (asking b)"}
    path = write_recording(tmp_path, "green", doc)
    tape = Tape.open(Settings(blue=str(path), green=str(path)))
    ask = tape.query
    assert asyncio.run(ask("green", str(path), {}, 1.0, "query A { x }", "a")) == {"x": 1}
    with pytest.raises(EndpointError) as err:
        asyncio.run(ask("green", str(path), {}, 1.0, "query B { y }", "b"))
    assert str(err.value) == "green http://127.0.0.1:9/***: HTTP 503 (asking b)"
    with pytest.raises(EndpointError) as err:
        asyncio.run(ask("green", str(path), {}, 1.0, "query C { z }", "c"))
    assert str(err.value) == "green http://127.0.0.1:9/***: the recording has no answer for this question (asking c)"
    assert tape.endpoint("green", str(path)) == "http://127.0.0.1:9/***"  # as the recorded run named it


def test_a_recorded_belt_error_is_replayed_not_forgotten(tmp_path: Path) -> None:
    doc = new_recording("blue", "http://127.0.0.1:9/v1/graphql")
    doc["errors"] = {"introspection": "blue http://127.0.0.1:9/v1/graphql: HTTP 500 (asking introspection)"}
    source = RecordedSource("blue", write_recording(tmp_path, "blue", doc))
    assert source.endpoint == "http://127.0.0.1:9/v1/graphql"
    with pytest.raises(EndpointError) as err:
        asyncio.run(source.introspect())
    assert str(err.value) == "blue http://127.0.0.1:9/v1/graphql: HTTP 500 (asking introspection)"


def test_not_a_recording_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "green.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(Exception) as err:
        Tape.open(Settings(blue=str(bad), green=str(bad)))
    assert str(err.value) == f"--belt-blue: {bad} is not a belt_gate recording ({FORMAT})"
