"""RpcClient against httpx.MockTransport: batching, retries with jitter, fail closed, range splitting."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from belt_gate.chain_facts import ItemError, LogQuery
from belt_gate.errors import RpcError
from belt_gate.sources.rpc import RpcClient, backoff_delay, is_range_error, split_range

URL = "http://user:hunter22@127.0.0.1:1/v2/AbCdEf0123456789AbCdEf0123?apikey=s3cr3tvalue"
TOPIC = "0x" + "dd" * 32
ADDR = "0x" + "11" * 20


def _log(block: int, index: int) -> dict[str, Any]:
    return {
        "address": ADDR,
        "topics": [TOPIC],
        "data": "0x",
        "blockNumber": hex(block),
        "blockHash": "0x" + f"{block:064x}",
        "transactionHash": "0x" + f"{block * 1000 + index:064x}",
        "logIndex": hex(index),
        "removed": False,
    }


class FakeChain:
    """A JSON-RPC server in a function: chain 8453, head 10_000, one log every 7 blocks."""

    def __init__(
        self,
        *,
        max_range: int | None = None,
        fail_first: int = 0,
        status: int = 503,
        range_code: int = -32005,
        chain_id: int = 8453,
    ) -> None:
        self.max_range = max_range
        self.fail_first = fail_first
        self.status = status
        self.range_code = range_code
        self.chain_id = chain_id
        self.requests = 0
        self.bodies: list[Any] = []

    def answer(self, call: dict[str, Any]) -> dict[str, Any]:
        method, params = call["method"], call["params"]
        out: dict[str, Any] = {"jsonrpc": "2.0", "id": call["id"]}
        if method == "eth_chainId":
            out["result"] = hex(self.chain_id)
        elif method == "eth_blockNumber":
            out["result"] = hex(10_000)
        elif method == "eth_getLogs":
            lo, hi = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
            if self.max_range is not None and hi - lo + 1 > self.max_range:
                out["error"] = {
                    "code": self.range_code,
                    "message": f"query returned more than 10000 results. Try with this block"
                    f" range [{hex(lo)}, {hex(lo + self.max_range - 1)}].",
                }
            else:
                out["result"] = [_log(b, 0) for b in range(lo, hi + 1) if b % 7 == 0]
        else:
            out["error"] = {"code": -32601, "message": "method not found"}
        return out

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests <= self.fail_first:
            return httpx.Response(self.status, text="unavailable")
        body = json.loads(request.content)
        self.bodies.append(body)
        if isinstance(body, list):
            return httpx.Response(200, json=[self.answer(c) for c in body])
        return httpx.Response(200, json=self.answer(body))


def client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> tuple[RpcClient, list[float]]:
    sleeps: list[float] = []
    kw.setdefault("retries", 3)
    c = RpcClient(8453, URL, transport=httpx.MockTransport(handler), sleep=sleeps.append, rand=lambda: 0.5, **kw)
    return c, sleeps


def test_503_then_ok_is_retried_with_backoff() -> None:
    chain = FakeChain(fail_first=2)
    rpc, sleeps = client(chain, backoff=1.0)
    assert rpc.heads().head == 10_000
    assert rpc.round_trips == 3
    assert sleeps == [0.5, 1.0]  # full jitter: rand 0.5 of 1 s, then of 2 s


def test_always_503_fails_closed_with_redacted_url() -> None:
    rpc, sleeps = client(FakeChain(fail_first=99), retries=2)
    with pytest.raises(RpcError) as err:
        rpc.head_block()
    text = str(err.value)
    assert "HTTP 503" in text and "after 3 attempts" in text and "chain 8453" in text
    assert "hunter22" not in text and "s3cr3tvalue" not in text and "AbCdEf0123456789" not in text
    assert err.value.endpoint.startswith("http://***@127.0.0.1:1/")
    assert len(sleeps) == 2


@pytest.mark.parametrize("body", [b"not json", b'{"jsonrpc": "2.0"}', b"[1, 2]"])
def test_malformed_answers_are_retried_then_fail(body: bytes) -> None:
    rpc, _ = client(lambda r: httpx.Response(200, content=body), retries=1)
    with pytest.raises(RpcError, match="after 2 attempts"):
        rpc.heads()
    assert rpc.round_trips == 2


def test_timeout_is_retried_then_fails_closed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    rpc, _ = client(handler, retries=1, timeout=0.5)
    with pytest.raises(RpcError, match=r"timeout after 0.5s \(after 2 attempts\)"):
        rpc.head_block()


def test_jsonrpc_error_item_is_retried_alone() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if len(seen) == 1:
            return httpx.Response(
                200,
                json=[
                    {"jsonrpc": "2.0", "id": 0, "result": "0x2105"},
                    {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "header not found"}},
                ],
            )
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 0, "result": "0x5"})

    rpc, _ = client(handler)
    got = rpc.batch([rpc._chain_id_call(), rpc._chain_id_call()], asked="test")
    assert got == [8453, 5]
    assert isinstance(seen[1], dict)  # only the failed call was sent again


def test_empty_logs_are_returned_as_is() -> None:
    rpc, _ = client(
        lambda r: httpx.Response(
            200,
            json=[
                {"jsonrpc": "2.0", "id": 0, "result": "0x2105"},
                {"jsonrpc": "2.0", "id": 1, "result": "0x2710"},
                {"jsonrpc": "2.0", "id": 2, "result": []},
            ],
        )
    )
    assert rpc.count_logs(ADDR, TOPIC, 0, 100) == 0


def test_wrong_chain_fails_closed() -> None:
    rpc, _ = client(FakeChain(chain_id=1))
    with pytest.raises(RpcError, match="serves chain 1, not chain 8453"):
        rpc.heads()


@pytest.mark.parametrize("code", [-32005, -32602])
def test_range_too_large_is_split(code: int) -> None:
    chain = FakeChain(max_range=500, range_code=code)
    rpc, sleeps = client(chain)
    assert rpc.count_logs(ADDR, TOPIC, 0, 9_999) == len([b for b in range(10_000) if b % 7 == 0])
    assert sleeps == []  # splitting is not a retry


def test_range_split_without_hint_bisects() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        out = []
        for c in calls:
            if c["method"] == "eth_getLogs":
                lo, hi = (int(c["params"][0][k], 16) for k in ("fromBlock", "toBlock"))
                if hi - lo >= 64:
                    out.append(
                        {
                            "jsonrpc": "2.0",
                            "id": c["id"],
                            "error": {"code": -32000, "message": "block range is too large"},
                        }
                    )
                    continue
            out.append(FakeChain().answer(c))
        return httpx.Response(200, json=out if isinstance(body, list) else out[0])

    rpc, _ = client(handler)
    counts = rpc.count_logs_many([LogQuery(ADDR, TOPIC, 0, 999), LogQuery(ADDR, TOPIC, 5000, 5100)])
    assert counts == [len([b for b in range(1000) if b % 7 == 0]), len([b for b in range(5000, 5101) if b % 7 == 0])]


def test_range_beyond_head_fails_closed() -> None:
    rpc, _ = client(FakeChain())
    with pytest.raises(RpcError, match="above the chain head 10000"):
        rpc.count_logs(ADDR, TOPIC, 9_000, 20_000)


def test_provider_ignoring_the_filter_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        out = [FakeChain().answer(c) for c in calls]
        for o, c in zip(out, calls, strict=True):
            if c["method"] == "eth_getLogs":
                o["result"] = [_log(5, 0)]  # outside the asked range
        return httpx.Response(200, json=out if isinstance(body, list) else out[0])

    rpc, _ = client(handler, retries=1)
    with pytest.raises(RpcError, match="outside the asked range"):
        rpc.count_logs(ADDR, TOPIC, 100, 200)


def test_refused_single_block_fails_closed() -> None:
    rpc, _ = client(FakeChain(max_range=0))
    with pytest.raises(RpcError, match="refused a single block"):
        rpc.count_logs(ADDR, TOPIC, 0, 10)


def test_range_error_classification() -> None:
    assert is_range_error(ItemError(-32005, "limit exceeded"))
    assert is_range_error(ItemError(-32000, "query returned more than 10000 results"))
    assert is_range_error(ItemError(None, "Block range too large: maximum 2000"))
    assert not is_range_error(ItemError(-32000, "header not found"))
    err = ItemError(-32005, "Try with this block range [0x10, 0x1f].")
    assert split_range(err, 16, 100) == [(16, 31), (32, 100)]
    assert split_range(ItemError(-32005, "too many"), 0, 9) == [(0, 4), (5, 9)]


@given(st.integers(1, 30), st.floats(0.0, 5.0), st.floats(0.1, 60.0), st.floats(0.0, 1.0))
def test_backoff_is_bounded_full_jitter(attempt: int, base: float, cap: float, r: float) -> None:
    d = backoff_delay(attempt, base, cap, lambda: r)
    assert 0.0 <= d <= min(cap, base * 2 ** (attempt - 1)) + 1e-9


@given(st.integers(0, 10**9), st.integers(1, 10**6))
def test_split_covers_range_exactly(lo: int, extra: int) -> None:
    hi = lo + extra
    (a, b), (c, d) = split_range(ItemError(-32005, "x"), lo, hi)
    assert a == lo and d == hi and c == b + 1 and a <= b < d
