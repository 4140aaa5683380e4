"""Deadlines, Retry-After and per-endpoint budgets (sources/deadline.py), as the GraphQL and RPC clients use
them; chain identity in the same batch; redirects named, never followed; client reprs hide secrets.
httpx.MockTransport stands in for the endpoints (the real-HTTP faults are in tests/proof)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from belt_gate import redact
from belt_gate.errors import EndpointError, RpcError
from belt_gate.sources import deadline
from belt_gate.sources.deadline import Budget, describe, endpoint_run, retry_after
from belt_gate.sources.graphql import GraphQLClient, introspect
from belt_gate.sources.rpc import MAX_QUANTITY, RpcClient, qty

URL = "http://user:hunter22@127.0.0.1:1/v2/AbCdEf0123456789AbCdEf0123?apikey=s3cr3tvalue"
SECRETS = ("hunter22", "s3cr3tvalue", "AbCdEf0123456789")


def _chain(chain_id: int = 8453, head: int = 10_000) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        out = []
        for c in calls:
            result: Any = {"eth_chainId": hex(chain_id), "eth_blockNumber": hex(head)}.get(c["method"])
            if c["method"] == "eth_getBlockByNumber":
                n = int(c["params"][0], 16)
                result = {"number": hex(n), "hash": "0x" + "ab" * 32, "parentHash": "0x" + "cd" * 32}
                result["timestamp"] = hex(1_700_000_000 + n)
            out.append({"jsonrpc": "2.0", "id": c["id"], "result": result})
        return httpx.Response(200, json=out if isinstance(body, list) else out[0])

    return handler


def _rpc(handler: Any, *, timeout: float = 1.0, **kw: Any) -> tuple[RpcClient, list[float]]:
    sleeps: list[float] = []
    kw.setdefault("retries", 3)
    client = RpcClient(
        8453, URL, timeout=timeout, transport=httpx.MockTransport(handler), sleep=sleeps.append, rand=lambda: 0.5, **kw
    )
    return client, sleeps


def _hang(seconds: float = 30.0) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(seconds)
        return httpx.Response(200, json={})

    return handler


# -- Retry-After and budgets -----------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = time.time()
    assert retry_after("7") == 7.0
    assert retry_after(" 0 ") == 0.0
    future = email.utils.formatdate(now + 30, usegmt=True)
    wait = retry_after(future, now=now)
    assert wait is not None and 28 <= wait <= 31
    assert retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None and retry_after("-3") is None


def test_a_budget_gives_up_once_spent() -> None:
    budget = Budget(2.0)
    budget.charge(1.5, "HTTP 503")
    assert budget.dead is None and budget.left() == 0.5 and budget.deadline(10) == 0.5
    budget.charge(0.6, "HTTP 503 again")
    assert budget.dead == "HTTP 503 again" and budget.left() == 0.0


def test_a_run_shares_one_budget_per_endpoint() -> None:
    assert deadline.budget_for("http://a", 1.0) is None  # outside a run: every client keeps its own
    with endpoint_run():
        a = deadline.budget_for("http://a", 1.0)
        assert a is deadline.budget_for("http://a", 5.0) and a is not deadline.budget_for("http://b", 1.0)
        assert a is not None and a.limit == 2.0
    assert deadline.budget_for("http://a", 1.0) is None


def test_describe_finds_the_message_of_a_reset() -> None:
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as inner:
            raise httpx.ReadError("") from inner
    except httpx.ReadError as exc:
        assert describe(exc) == "ReadError: [Errno 104] Connection reset by peer"


# -- RPC ------------------------------------------------------------------------------------------


def test_a_hung_rpc_costs_one_timeout_then_is_remembered_dead() -> None:
    with endpoint_run():
        rpc, _ = _rpc(_hang(), timeout=0.3)
        started = time.monotonic()
        with pytest.raises(
            RpcError, match=r"timeout after 0.3s \(after 1 attempts; no answer within the deadline"
        ) as err:
            rpc.head_block()
        spent = time.monotonic() - started
        assert 0.3 <= spent < 1.0, spent  # a deadline hit is not retried: the next would cost another 0.3 s
        rpc.close()
        again, _ = _rpc(_hang(), timeout=0.3)  # a new client for the same endpoint, later in the run
        started = time.monotonic()
        with pytest.raises(RpcError, match="gave up on this endpoint earlier in this run"):
            again.block(5)
        assert time.monotonic() - started < 0.2
        again.close()
    assert not any(s in str(err.value) for s in SECRETS)


def test_a_drip_is_cut_at_the_overall_deadline() -> None:
    """An answer that keeps arriving, a byte at a time, never trips a read timeout; the deadline cuts it."""

    async def drip() -> Any:
        for _ in range(100):
            await asyncio.sleep(0.05)
            yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=drip())

    rpc, _ = _rpc(handler, timeout=0.3, retries=0)
    started = time.monotonic()
    with pytest.raises(RpcError, match=r"timeout after 0.3s"):
        rpc.head_block()
    assert time.monotonic() - started < 1.0
    rpc.close()


def test_head_and_block_reads_check_the_chain_id_in_the_same_batch() -> None:
    asked: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content))
        return _chain(chain_id=1)(request)

    rpc, _ = _rpc(handler)
    with pytest.raises(RpcError, match=r"this RPC serves chain 1, not chain 8453") as err:
        rpc.head_block()
    assert "chain 8453 RPC" in str(err.value)
    with pytest.raises(RpcError, match=r"serves chain 1, not chain 8453"):
        rpc.block(7)
    assert [[c["method"] for c in batch] for batch in asked] == [
        ["eth_chainId", "eth_blockNumber"],
        ["eth_chainId", "eth_getBlockByNumber"],
    ]
    ok, _ = _rpc(_chain())
    assert ok.head_block() == 10_000 and ok.block(7) is not None


def test_retry_after_is_honoured_within_the_budget() -> None:
    answers = iter([httpx.Response(429, headers={"retry-after": "1"}, text="slow down")])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or _chain()(request)

    rpc, sleeps = _rpc(handler, timeout=1.0)
    assert rpc.head_block() == 10_000
    assert sleeps == [1.0]  # the server's 1 s, not the jittered 0.25 s


def test_retry_after_beyond_the_budget_fails_at_once() -> None:
    rpc, sleeps = _rpc(lambda r: httpx.Response(429, headers={"retry-after": "120"}), timeout=1.0)
    left = r"[12]\.\ds left"  # the budget's 2 s less what the 429 itself took
    with pytest.raises(RpcError, match=r"HTTP 429 \(after 1 attempts; Retry-After 120s is more than the " + left):
        rpc.head_block()
    assert sleeps == [] and rpc.round_trips == 1


def test_a_redirect_is_named_and_not_followed() -> None:
    target = "http://127.0.0.1:9/elsewhere?apikey=t0psecret99"
    rpc, sleeps = _rpc(lambda r: httpx.Response(307, headers={"location": target}))
    with pytest.raises(RpcError, match=r"HTTP 307 -> http://127.0.0.1:9/elsewhere\?apikey=\*\*\*") as err:
        rpc.head_block()
    assert rpc.round_trips == 1 and sleeps == [] and "t0psecret99" not in str(err.value)


def test_a_quantity_beyond_63_bits_is_malformed() -> None:
    assert qty(hex(MAX_QUANTITY)) == MAX_QUANTITY
    with pytest.raises(ValueError, match="out of range"):
        qty(hex(10**30))
    rpc, _ = _rpc(_chain(head=10**30), retries=0)
    with pytest.raises(RpcError, match="out of range"):
        rpc.head_block()


def test_rpc_repr_hides_the_url_secrets() -> None:
    rpc, _ = _rpc(_chain())
    assert not any(s in repr(rpc) for s in SECRETS) and "127.0.0.1:1" in repr(rpc)


# -- GraphQL --------------------------------------------------------------------------------------


def _gql(handler: Any, timeout: float = 1.0) -> GraphQLClient:
    client = GraphQLClient("green", URL, headers={"x-hasura-admin-secret": "adm1n-s3cret"}, timeout=timeout)
    client._client = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=timeout)
    return client


def test_graphql_repr_hides_url_and_admin_secret() -> None:
    client = GraphQLClient("green", URL, headers={"x-hasura-admin-secret": "adm1n-s3cret"})
    shown = repr(client)
    assert "adm1n-s3cret" not in shown and not any(s in shown for s in SECRETS)
    assert "x-hasura-admin-secret" in shown and "127.0.0.1:1" in shown


def test_graphql_hang_is_cut_at_the_deadline_and_a_hung_endpoint_is_given_up_within_a_run() -> None:
    async def go() -> None:
        with endpoint_run():
            client = _gql(_hang(), timeout=0.3)
            started = time.monotonic()
            with pytest.raises(EndpointError, match=r"timed out after 0.3s \(asking introspection\)"):
                await client.query("{ a }", "introspection")
            with pytest.raises(EndpointError, match=r"timed out after 0\.[23]\d*s"):  # what the budget had left
                await client.query("{ a }", "fingerprints")
            assert time.monotonic() - started < 1.2  # two deadlines spend the 0.6 s budget
            with pytest.raises(EndpointError, match="gave up on this endpoint earlier in this run"):
                await client.query("{ a }", "rows")

    asyncio.run(go())


def test_graphql_retry_after_is_honoured_then_answered() -> None:
    answers = iter([httpx.Response(429, headers={"retry-after": "0"})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or httpx.Response(200, json={"data": {"ok": 1}})

    async def go() -> dict[str, Any]:
        return await _gql(handler).query("{ ok }", "ok")

    assert asyncio.run(go()) == {"ok": 1}


def test_graphql_retry_after_beyond_the_deadline_fails() -> None:
    async def go() -> None:
        client = _gql(lambda r: httpx.Response(503, headers={"retry-after": "60"}))
        with pytest.raises(EndpointError, match=r"HTTP 503 \(Retry-After 60s is more than the"):
            await client.query("{ ok }", "ok")

    asyncio.run(go())


def test_graphql_redirect_names_the_redacted_target() -> None:
    async def go() -> None:
        client = _gql(lambda r: httpx.Response(307, headers={"location": "/moved?token=t0psecret99"}))
        with pytest.raises(EndpointError) as err:
            await client.query("{ ok }", "ok")
        text = str(err.value)
        assert "HTTP 307 -> http://***@127.0.0.1:1/moved?token=*** (redirects are not followed)" in text, text
        assert "t0psecret99" not in text and not any(s in text for s in SECRETS)

    asyncio.run(go())


def test_a_graphql_error_is_redacted_before_it_is_cut_to_300_characters() -> None:
    secret = "Zq9" + "x7" * 20  # straddles character 300: cut first, its first half would be shown
    message = "e" * 290 + secret

    async def go() -> None:
        client = _gql(lambda r: httpx.Response(200, json={"errors": [{"message": message}]}))
        previous = redact.use(redact.Secrets.of(secret))
        try:
            with pytest.raises(EndpointError) as err:
                await client.query("{ ok }", "ok")
        finally:
            redact.use(previous)
        text = str(err.value)
        assert "GraphQL error: " + "e" * 290 + redact.MASK in text, text
        assert secret[:10] not in text

    asyncio.run(go())


def test_a_non_hasura_graphql_server_is_named_as_such() -> None:
    from graphql import build_schema, introspection_from_schema

    schema = build_schema("type Query { hello: String, users: [User!]! } type User { id: ID! }")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": introspection_from_schema(schema)})

    async def go() -> None:
        with pytest.raises(EndpointError, match="answers GraphQL but is not a Hasura/Envio endpoint"):
            await introspect(_gql(handler))

    asyncio.run(go())


# -- recordings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "ask"), [("introspection", [1], "introspect"), ("progress:_meta", {}, "progress")]
)
def test_a_malformed_recording_fails_closed_on_one_line(tmp_path: Any, key: str, value: Any, ask: str) -> None:
    """A recording whose answer has the wrong shape is an EndpointError naming it (was a bare assert)."""
    from belt_gate.sources.recorded import FORMAT, RecordedSource

    path = tmp_path / "green.json"
    path.write_text(json.dumps({"format": FORMAT, "endpoint": "http://h.io/v1/graphql", "answers": {key: value}}))
    source = RecordedSource("green", path)
    call = source.introspect() if ask == "introspect" else source.progress("_meta")
    with pytest.raises(EndpointError, match=r"^green http://h.io/v1/graphql: the recorded .* is not an? "):
        asyncio.run(call)
