"""JSON-RPC to the chains themselves (L1 ground truth): the only module that does chain I/O.

Every request is a JSON-RPC *batch* sent with httpx (one HTTP round trip carrying several calls), so the
golden checks of one chain cost one round trip when the RPC answers well, and two at most after one retry
of the calls that failed. ABI, topics and decoding stay with eth-abi/eth-utils (see belt_gate.golden).

This module never decides pass/fail. An empty `[]` from eth_getLogs is returned as `[]` (the rules call it
a GAP); a null receipt or block is returned as None. What it does decide is whether an *answer* arrived:
HTTP non-2xx, timeouts, connection errors, malformed JSON, malformed results and JSON-RPC error objects
are retried with bounded exponential backoff and full jitter, then raised as RpcError naming the chain
and the redacted URL. A range that a provider refuses as too large is split and retried in halves.

The client is synchronous and not shared between threads; run one client per chain (the plugin may call
it through `asyncio.to_thread` to fetch several chains concurrently).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

from belt_gate.chain_facts import Block, GoldenProbe, Heads, ItemError, Log, LogQuery, ProbeResult, ProbeTarget, Receipt
from belt_gate.errors import RpcError
from belt_gate.redact import install_log_filter, redact_text, redact_url
from belt_gate.sources.deadline import Budget, budget_for, describe, new_budget, retry_after

_T = TypeVar("_T")

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF = 0.5
DEFAULT_BACKOFF_CAP = 8.0
#: Calls per HTTP request: providers cap batch sizes (commonly 100..1000).
MAX_BATCH = 100
#: Ranges sent at once while splitting eth_getLogs ranges.
SPLIT_BATCH = 16
#: Upper bound on eth_getLogs calls for one get_logs_many(): a provider that refuses every range must
#: not make us bisect a million-block range down to single blocks.
MAX_LOG_CALLS = 4096

_HEX_QTY = re.compile(r"^0x[0-9a-fA-F]{1,64}$")
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_DATA = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")

# Provider messages meaning "this range/result set is too large, ask for less" (anchors.md §6.2).
_RANGE_MESSAGE = re.compile(
    r"more than \d+ (results|logs)|block range|range (is )?too (large|wide|big|long)|too (many|large)"
    r" (results|logs|blocks)|limit (exceeded|reached)|exceeds? (the )?(max|limit|range)|max(imum)? results"
    r"|response (is )?too (large|big)|response size|try with this block range|retry with the range"
    r"|query timeout|log response size|range limit",
    re.I,
)
_RANGE_CODES = (-32005, -32602)
_SUGGESTED = re.compile(r"\[\s*(0x[0-9a-fA-F]+|\d+)\s*,\s*(0x[0-9a-fA-F]+|\d+)\s*\]")


# ---------------------------------------------------------------------------------------------------
# Values (the chain facts themselves live in belt_gate/chain_facts.py)


@dataclass(frozen=True)
class Call:
    """One JSON-RPC call of a batch: method, params, and how its result is parsed (a ValueError there is a malformed
    answer)."""

    method: str
    params: list[Any]
    parse: Callable[[Any], Any] = field(default=lambda v: v)


_PENDING = object()
#: (call index, its error, results so far) -> is this error an answer (kept) rather than a failure (retried)?
FinalPredicate = Callable[[int, ItemError, list[Any]], bool]


class _Transient(Exception):
    """The whole request failed (HTTP, timeout, connection, malformed JSON): retry everything pending."""

    def __init__(self, message: str, *, retry_after: float | None = None, deadline: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.deadline = deadline  # the overall deadline was hit: the endpoint is unresponsive, not retried


class _Fatal(Exception):
    """The request was answered in a way no retry changes (a redirect): fail at once."""


# ---------------------------------------------------------------------------------------------------
# Parsing (ValueError on anything malformed: the batch treats it as a failed call and retries)


#: Every quantity belt_gate reads (block number, timestamp, log index, status, chain id) fits in 63 bits; a
#: larger one is a broken answer, not a block 10**30 (EIP-2294 bounds chain ids the same way).
MAX_QUANTITY = 2**63 - 1


def qty(value: Any) -> int:
    if not isinstance(value, str) or not _HEX_QTY.match(value):
        raise ValueError(f"not a hex quantity: {value!r:.80}")
    n = int(value, 16)
    if n > MAX_QUANTITY:
        raise ValueError(f"quantity {value[:24]}{'...' if len(value) > 24 else ''} is out of range (above 2**63 - 1)")
    return n


def to_hex(n: int) -> str:
    if n < 0:
        raise ValueError(f"negative block number {n}")
    return hex(n)


def _hash(value: Any) -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise ValueError(f"not a 32-byte hash: {value!r}")
    return value.lower()


def _address(value: Any) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise ValueError(f"not an address: {value!r}")
    return value.lower()


def _data(value: Any) -> str:
    if not isinstance(value, str) or not _DATA.match(value):
        raise ValueError(f"not hex data: {value!r}")
    return value.lower()


def parse_log(raw: Any) -> Log:
    """One log object of an RPC answer as a Log; ValueError when a field is missing or malformed."""
    if not isinstance(raw, dict):
        raise ValueError(f"log is not an object: {raw!r:.80}")
    topics = raw.get("topics")
    if not isinstance(topics, list):
        raise ValueError("log has no topics list")
    return Log(
        address=_address(raw.get("address")),
        topics=tuple(_hash(t) for t in topics),
        data=_data(raw.get("data")),
        block_number=qty(raw.get("blockNumber")),
        block_hash=_hash(raw.get("blockHash")),
        tx_hash=_hash(raw.get("transactionHash")),
        log_index=qty(raw.get("logIndex")),
        removed=bool(raw.get("removed", False)),
    )


def parse_logs(raw: Any) -> tuple[Log, ...]:
    """An eth_getLogs result as Logs; ValueError when it is not a list of log objects."""
    if not isinstance(raw, list):
        raise ValueError(f"eth_getLogs result is not a list: {raw!r:.80}")
    return tuple(parse_log(x) for x in raw)


def parse_block(raw: Any) -> Block | None:
    """A block object as a Block (None when the RPC answered null); ValueError when malformed."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"block is not an object: {raw!r:.80}")
    bloom = raw.get("logsBloom")
    return Block(
        number=qty(raw.get("number")),
        hash=_hash(raw.get("hash")),
        parent_hash=_hash(raw.get("parentHash")),
        timestamp=qty(raw.get("timestamp")),
        logs_bloom=_data(bloom) if bloom is not None else None,
    )


def parse_receipt(raw: Any) -> Receipt | None:
    """A receipt object as a Receipt (None when the RPC answered null); ValueError when malformed."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"receipt is not an object: {raw!r:.80}")
    status = raw.get("status")
    logs = raw.get("logs")
    if not isinstance(logs, list):
        raise ValueError("receipt has no logs list")
    return Receipt(
        tx_hash=_hash(raw.get("transactionHash")),
        block_number=qty(raw.get("blockNumber")),
        block_hash=_hash(raw.get("blockHash")),
        status=qty(status) if status is not None else None,
        logs=tuple(parse_log(x) for x in logs),
    )


def is_range_error(error: ItemError) -> bool:
    """Does this eth_getLogs error mean "ask for a smaller range"?"""
    return error.code in _RANGE_CODES or bool(_RANGE_MESSAGE.search(error.message))


def suggested_split(error: ItemError, lo: int, hi: int) -> int | None:
    """The last block of the first part, from a provider's "try with this block range [a, b]" hint."""
    m = _SUGGESTED.search(error.message)
    if not m:
        return None
    try:
        a, b = (int(x, 16) if x.startswith("0x") else int(x) for x in m.groups())
    except ValueError:
        return None
    if a == lo and lo <= b < hi:
        return b
    return None


def split_range(error: ItemError, lo: int, hi: int) -> list[tuple[int, int]]:
    """Two non-empty sub-ranges covering [lo, hi] exactly (hi > lo)."""
    mid = suggested_split(error, lo, hi)
    if mid is None:
        mid = lo + (hi - lo) // 2
    return [(lo, mid), (mid + 1, hi)]


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))] for attempt >= 1."""
    ceiling = float(min(cap, base * float(2 ** max(0, attempt - 1))))
    return max(0.0, min(ceiling, float(rand()) * ceiling))


# ---------------------------------------------------------------------------------------------------
# The client


class RpcClient:
    """JSON-RPC client for one chain's RPC endpoint.

    `retries` is the number of retries after the first attempt; the delay before retry n is drawn
    uniformly from [0, min(backoff_cap, backoff * 2**(n-1))] (full jitter), or the server's `Retry-After`
    if that is longer. Each HTTP request has one overall deadline of `timeout` (not per byte: a server
    that drips its answer trips it too); failed attempts and waits are charged to the endpoint's budget
    (twice `timeout`, kept for the whole run within `deadline.endpoint_run()`). A request that hits its
    deadline is not retried, a retry needs half a timeout of budget left, and a call that failed every
    attempt gives the endpoint up: every later call to it in the run fails at once, naming why. `sleep`
    and `rand` are injectable for tests; `transport` is an httpx transport (tests use MockTransport).

    Requests run on a private event loop in a thread of the client's own, so that the deadline can cut a
    request off wherever it hangs; the client itself stays synchronous.
    """

    def __init__(
        self,
        chain_id: int,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        max_batch: int = MAX_BATCH,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
        check_chain_id: bool = True,
    ) -> None:
        if retries < 0 or timeout <= 0 or backoff < 0 or max_batch < 1:
            raise ValueError("retries >= 0, timeout > 0, backoff >= 0 and max_batch >= 1 are required")
        self.chain_id = chain_id
        self._url = url
        self.endpoint = redact_url(url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.max_batch = max_batch
        self.check_chain_id = check_chain_id
        self._sleep = sleep
        self._rand = rand
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._own_budget: Budget | None = None
        install_log_filter()
        #: HTTP requests sent (JSON-RPC round trips) and JSON-RPC calls carried, for benchmarks/certificates.
        self.round_trips = 0
        self.calls = 0
        self.seconds = 0.0
        self._chain_verified = False

    # -- lifecycle
    def close(self) -> None:
        """Close the HTTP client and stop the client's event-loop thread (idempotent)."""
        loop, thread, http = self._loop, self._thread, self._http
        self._loop = self._thread = self._http = None
        if loop is None or thread is None:
            return
        if http is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(http.aclose(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run `coro` on the client's own loop (started on first use) and wait for it."""
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=f"rpc-{self.chain_id}", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            # httpx's per-phase timeouts sit above the overall deadline, which is the one that decides
            phases = httpx.Timeout(self.timeout + 1.0)
            self._http = httpx.AsyncClient(timeout=phases, transport=self._transport, follow_redirects=False)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _budget(self) -> Budget:
        run_budget = budget_for(self._url, self.timeout)
        if run_budget is not None:
            return run_budget
        if self._own_budget is None:
            self._own_budget = new_budget(self.timeout)
        return self._own_budget

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RpcClient(chain {self.chain_id}, {self.endpoint})"

    @property
    def label(self) -> str:
        """How errors name this endpoint (`chain N RPC`)."""
        return f"chain {self.chain_id} RPC"

    def _error(self, message: str, asked: str) -> RpcError:
        return RpcError(redact_text(message), belt=self.label, endpoint=self.endpoint, asked=asked)

    # -- transport
    async def _send(self, body: Any, limit: float) -> httpx.Response:
        assert self._http is not None
        async with asyncio.timeout(limit):
            return await self._http.post(self._url, json=body, headers={"content-type": "application/json"})

    def _post(self, calls: Sequence[Call], budget: Budget) -> list[Any]:
        """One HTTP request carrying `calls` under one overall deadline; returns per call a raw result or
        an ItemError. A failure of the whole request is charged to `budget` and raised as _Transient."""
        single = len(calls) == 1
        body: Any = [{"jsonrpc": "2.0", "id": i, "method": c.method, "params": c.params} for i, c in enumerate(calls)]
        if single:
            body = body[0]
        self.round_trips += 1
        self.calls += len(calls)
        limit = budget.deadline(self.timeout)
        started = time.monotonic()
        try:
            try:
                response = self._run(self._send(body, limit))
            except TimeoutError:
                raise _Transient(f"timeout after {limit:.3g}s", deadline=True) from None
            except httpx.TimeoutException:  # one phase (connect, pool) timed out: worth another attempt
                raise _Transient(f"timeout after {limit:.3g}s") from None
            except httpx.HTTPError as exc:
                raise _Transient(f"connection failed: {describe(exc)}") from None
            if 300 <= response.status_code < 400:
                location = response.headers.get("location")
                target = redact_url(urljoin(self._url, location)) if location else "no Location header"
                raise _Fatal(f"HTTP {response.status_code} -> {target} (redirects are not followed)")
            if not 200 <= response.status_code < 300:
                wait = retry_after(response.headers.get("retry-after"))
                raise _Transient(f"HTTP {response.status_code}", retry_after=wait)
        except _Transient as exc:
            budget.charge(time.monotonic() - started, str(exc))
            raise
        finally:
            self.seconds += time.monotonic() - started
        try:
            payload = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise _Transient(f"malformed JSON in HTTP {response.status_code} answer") from None
        if single and isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list):
            if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
                raise _Transient(f"batch refused: {_item_error(payload['error'])}")
            raise _Transient("malformed JSON-RPC answer: not a batch response")
        by_id: dict[int, Any] = {}
        for item in payload:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                raise _Transient("malformed JSON-RPC answer: item without an integer id")
            if "error" in item and item["error"] is not None:
                by_id[item["id"]] = _item_error(item["error"])
            elif "result" in item:
                by_id[item["id"]] = item["result"]
            else:
                by_id[item["id"]] = ItemError(None, "answer has neither result nor error")
        missing = [i for i in range(len(calls)) if i not in by_id]
        if missing:
            raise _Transient(f"malformed JSON-RPC answer: {len(missing)} of {len(calls)} calls unanswered")
        return [by_id[i] for i in range(len(calls))]

    def batch(
        self,
        calls: Sequence[Call],
        *,
        asked: str,
        final: FinalPredicate | None = None,
    ) -> list[Any]:
        """Run `calls` in as few HTTP requests as possible; return parsed results in order.

        A failed call (JSON-RPC error or malformed result) is retried with the others pending, unless
        `final(index, error, results_so_far)` says the error is an answer (then the ItemError is
        returned in its slot). After the retries, raise RpcError (fail closed).
        """
        results: list[Any] = [_PENDING] * len(calls)
        pending = list(range(len(calls)))
        last = "no attempt made"
        attempts = self.retries + 1
        budget = self._budget()
        wait_hint: float | None = None
        for attempt in range(attempts):
            if budget.dead is not None:
                raise self._error(budget.dead_message(), asked)
            if attempt:
                wait = backoff_delay(attempt, self.backoff, self.backoff_cap, self._rand)
                if wait_hint is not None:
                    wait = max(wait, wait_hint)
                left = budget.left()
                if wait > left or left - wait < self.timeout / 2:  # no attempt on a sliver of a deadline
                    if wait_hint is not None and wait == wait_hint:
                        why = f"Retry-After {wait_hint:g}s is more than the {left:.1f}s left"
                    else:
                        why = f"too little of its {budget.limit:g}s budget is left for another attempt"
                    reason = f"{last} (after {attempt} attempts; {why})"
                    budget.give_up(reason)
                    raise self._error(reason, asked)
                self._sleep(wait)
                budget.charge(wait, f"{last} (after {attempt} attempts)")
            failed: list[int] = []
            transient: str | None = None
            wait_hint = None
            for start in range(0, len(pending), self.max_batch):
                chunk = pending[start : start + self.max_batch]
                try:
                    raw = self._post([calls[i] for i in chunk], budget)
                except _Fatal as exc:
                    raise self._error(str(exc), asked) from None
                except _Transient as exc:
                    transient = str(exc)
                    if exc.deadline:  # unresponsive: another attempt would cost another timeout
                        reason = f"{exc} (after {attempt + 1} attempts; no answer within the deadline)"
                        budget.give_up(reason)
                        raise self._error(reason, asked) from None
                    if exc.retry_after is not None:
                        wait_hint = max(wait_hint or 0.0, exc.retry_after)
                    failed.extend(chunk)
                    if budget.dead is not None:
                        break
                    continue
                for i, value in zip(chunk, raw, strict=True):
                    if isinstance(value, ItemError):
                        results[i] = value
                        failed.append(i)
                        continue
                    try:
                        results[i] = calls[i].parse(value)
                    except (ValueError, TypeError, KeyError) as exc:
                        results[i] = ItemError(None, f"malformed {calls[i].method} result: {exc}")
                        failed.append(i)
            retry = [i for i in failed if not self._is_final(final, i, results)]
            if not retry:
                return results
            pending = retry
            if transient is not None:
                last = transient
            else:
                shown = "; ".join(f"{calls[i].method}: {results[i]}" for i in retry[:3])
                more = f" (+{len(retry) - 3} more)" if len(retry) > 3 else ""
                last = shown + more
            if budget.dead is not None:
                raise self._error(
                    f"{last} (after {attempt + 1} attempts; its {budget.limit:g}s budget is spent)", asked
                )
        reason = f"{last} (after {attempts} attempts)"
        # Remembered for the run: whatever else is asked of this endpoint (a timestamp after a failed head,
        # audits after a failed probe) cannot make a run that has already lost a check certify.
        budget.give_up(reason)
        raise self._error(reason, asked)

    @staticmethod
    def _is_final(final: FinalPredicate | None, i: int, results: list[Any]) -> bool:
        value = results[i]
        return isinstance(value, ItemError) and final is not None and final(i, value, results)

    def call(
        self, method: str, params: list[Any], *, asked: str = "", parse: Callable[[Any], Any] | None = None
    ) -> Any:
        """One call, as a batch of one; its parsed result."""
        result = self.batch([Call(method, params, parse or (lambda v: v))], asked=asked or method)
        return result[0]

    def _chain_id_call(self) -> Call:
        return Call("eth_chainId", [], qty)

    def _verify_chain(self, got: Any, asked: str) -> None:
        if not self.check_chain_id:
            return
        if got != self.chain_id:
            raise self._error(f"this RPC serves chain {got}, not chain {self.chain_id}", asked)
        self._chain_verified = True

    # -- heads and blocks
    def heads(self) -> Heads:
        """Head, safe and finalized block numbers in one round trip (safe/finalized None if unsupported)."""
        asked = "eth_blockNumber, safe and finalized blocks"

        def tag_unsupported(i: int, err: ItemError, _: list[Any]) -> bool:
            return i in (2, 3)

        calls = [
            self._chain_id_call(),
            Call("eth_blockNumber", [], qty),
            Call("eth_getBlockByNumber", ["safe", False], parse_block),
            Call("eth_getBlockByNumber", ["finalized", False], parse_block),
        ]
        chain, head, safe, final = self.batch(calls, asked=asked, final=tag_unsupported)
        self._verify_chain(chain, asked)
        return Heads(
            head=head,
            safe=safe.number if isinstance(safe, Block) else None,
            finalized=final.number if isinstance(final, Block) else None,
        )

    def head_block(self) -> int:
        """The chain head, with `eth_chainId` checked in the same batch (an RPC of another chain fails)."""
        asked = "eth_chainId, eth_blockNumber"
        chain, head = self.batch([self._chain_id_call(), Call("eth_blockNumber", [], qty)], asked=asked)
        self._verify_chain(chain, asked)
        return int(head)

    def safe_block(self) -> int | None:
        """The chain's `safe` block, None when the RPC does not know the tag."""
        return self.heads().safe

    def finalized_block(self) -> int | None:
        """The chain's `finalized` block, None when the RPC does not know the tag."""
        return self.heads().finalized

    def blocks(self, numbers: Iterable[int]) -> dict[int, Block | None]:
        """Blocks by number (None where the chain has none), with `eth_chainId` checked in the same batch:
        a timestamp read from another chain's RPC would be a wrong answer, not an error."""
        wanted = sorted(set(numbers))
        if not wanted:
            return {}
        asked = f"eth_chainId, eth_getBlockByNumber x{len(wanted)}"
        calls = [self._chain_id_call()]
        calls += [Call("eth_getBlockByNumber", [to_hex(n), False], parse_block) for n in wanted]
        got = self.batch(calls, asked=asked)
        self._verify_chain(got[0], asked)
        return dict(zip(wanted, got[1:], strict=True))

    def block(self, number: int) -> Block | None:
        """One block by number (None when the chain has none), its chain id checked as in `blocks`."""
        return self.blocks([number])[number]

    def receipts(self, tx_hashes: Iterable[str]) -> dict[str, Receipt | None]:
        """Receipts by lowercase transaction hash (None where the RPC has none), in one batch."""
        wanted = sorted({h.lower() for h in tx_hashes})
        calls = [Call("eth_getTransactionReceipt", [h], parse_receipt) for h in wanted]
        got = self.batch(calls, asked=f"eth_getTransactionReceipt x{len(wanted)}") if calls else []
        return dict(zip(wanted, got, strict=True))

    def logs_by_block_hash(self, block_hash: str, address: str | None = None) -> tuple[Log, ...]:
        """Every log of one block by its hash (of one contract when `address` is given): what the block the RPC holds
        under that hash says, whatever its number."""
        flt: dict[str, Any] = {"blockHash": block_hash}
        if address:
            flt["address"] = address
        result: tuple[Log, ...] = self.call(
            "eth_getLogs", [flt], asked=f"eth_getLogs by blockHash {block_hash}", parse=parse_logs
        )
        return result

    # -- golden events
    def golden_probe(self, targets: Sequence[ProbeTarget]) -> GoldenProbe:
        """Receipts, canonical blocks and logs-by-blockHash for all `targets` of this chain, batched.

        One HTTP round trip when the RPC answers; eth_getLogs by a block hash that is no longer canonical
        may legitimately error (EIP-234: unknown hash), so such an error is kept as an answer when the
        canonical block at that number has another hash; other errors are retried, then fail closed.
        """
        trips0 = self.round_trips
        tx_hashes = sorted({t.tx_hash.lower() for t in targets})
        numbers = sorted({t.block_number for t in targets})
        by_hash = sorted({(t.block_hash.lower(), t.address.lower()) for t in targets})
        calls: list[Call] = [self._chain_id_call()]
        calls += [Call("eth_getTransactionReceipt", [h], parse_receipt) for h in tx_hashes]
        calls += [Call("eth_getBlockByNumber", [to_hex(n), False], parse_block) for n in numbers]
        calls += [Call("eth_getLogs", [{"blockHash": h, "address": a}], parse_logs) for h, a in by_hash]
        first_block = 1 + len(tx_hashes)
        first_logs = first_block + len(numbers)
        number_of = {h: n for n, h in ((t.block_number, t.block_hash.lower()) for t in targets)}

        def explained(i: int, err: ItemError, results: list[Any]) -> bool:
            if i < first_logs:
                return False
            block_hash = by_hash[i - first_logs][0]
            canonical = results[first_block + numbers.index(number_of[block_hash])]
            # The golden hash is not (or no longer) canonical: an "unknown block" error is an answer.
            return canonical is None or (isinstance(canonical, Block) and canonical.hash != block_hash)

        asked = f"golden probe of {len(targets)} events (receipts, blocks, logs by blockHash)"
        got = self.batch(calls, asked=asked, final=explained) if targets else [self.chain_id]
        self._verify_chain(got[0], asked)
        receipts = dict(zip(tx_hashes, got[1:first_block], strict=True))
        blocks = dict(zip(numbers, got[first_block:first_logs], strict=True))
        logs = dict(zip(by_hash, got[first_logs:], strict=True))
        results: dict[tuple[str, int], ProbeResult] = {}
        for t in targets:
            lg = logs[(t.block_hash.lower(), t.address.lower())]
            results[(t.tx_hash.lower(), t.block_number)] = ProbeResult(
                tx_hash=t.tx_hash.lower(),
                block_number=t.block_number,
                block_hash=t.block_hash.lower(),
                receipt=receipts[t.tx_hash.lower()],
                canonical=blocks[t.block_number],
                logs_by_hash=None if isinstance(lg, ItemError) else lg,
                logs_error=str(lg) if isinstance(lg, ItemError) else None,
            )
        return GoldenProbe(self.chain_id, self.endpoint, results, self.round_trips - trips0)

    # -- log ranges
    def get_logs_many(self, queries: Sequence[LogQuery]) -> list[list[Log]]:
        """eth_getLogs for each query (address + topic0 over an inclusive block range), batched.

        Ranges a provider refuses as too large (-32005, -32602, "more than 10000 results", "block range
        too large", ...) are split in halves (or at the provider's suggested bound) and retried; other
        errors are retried with backoff, then raise. A range ending above the chain head raises (the
        caller must clamp windows to a head or cutoff it fetched itself). `[]` is returned as `[]`.
        """
        asked_all = f"eth_getLogs for {len(queries)} ranges"
        for q in queries:
            if q.from_block < 0 or q.to_block < q.from_block:
                raise self._error(f"invalid block range {q.from_block}..{q.to_block}", asked_all)
        out: list[list[Log]] = [[] for _ in queries]
        work: list[tuple[int, int, int]] = [(i, q.from_block, q.to_block) for i, q in enumerate(queries)]
        sent = 0
        first = True
        while work:
            chunk, work = (work, []) if first else (work[:SPLIT_BATCH], work[SPLIT_BATCH:])
            calls = [
                Call("eth_getLogs", [_filter(queries[i], lo, hi)], _checked_parser(queries[i], lo, hi))
                for i, lo, hi in chunk
            ]
            extra = [self._chain_id_call(), Call("eth_blockNumber", [], qty)] if first else []
            sent += len(calls)
            if sent > MAX_LOG_CALLS:
                raise self._error(f"eth_getLogs range splitting exceeded {MAX_LOG_CALLS} calls", asked_all)
            n_extra = len(extra)

            def splittable(i: int, err: ItemError, _: list[Any], n_extra: int = n_extra) -> bool:
                return i >= n_extra and is_range_error(err)

            got = self.batch(extra + calls, asked=asked_all, final=splittable)
            if first:
                self._verify_chain(got[0], asked_all)
                head = got[1]
                beyond = [q for q in queries if q.to_block > head]
                if beyond:
                    raise self._error(
                        f"block range {beyond[0].from_block}..{beyond[0].to_block} ends above the chain head"
                        f" {head}: an RPC may answer [] for blocks it does not have",
                        asked_all,
                    )
                got = got[n_extra:]
                first = False
            splits: list[tuple[int, int, int]] = []
            for (i, lo, hi), value in zip(chunk, got, strict=True):
                if isinstance(value, ItemError):
                    if lo == hi:
                        raise self._error(f"eth_getLogs refused a single block {lo}: {value}", asked_all)
                    splits += [(i, a, b) for a, b in split_range(value, lo, hi)]
                    continue
                out[i].extend(value)
            work = splits + work  # depth first: finish a refused range before moving on
        for logs in out:
            logs.sort(key=lambda log: (log.block_number, log.log_index))
            seen = {(log.block_hash, log.log_index) for log in logs}
            if len(seen) != len(logs):
                raise self._error("eth_getLogs returned the same log twice", asked_all)
        return out

    def get_logs(
        self, address: str | Sequence[str] | None, topic0: str | None, from_block: int, to_block: int
    ) -> list[Log]:
        """The logs of one query, as `get_logs_many` fetches them (split ranges included)."""
        return self.get_logs_many([LogQuery(address, topic0, from_block, to_block)])[0]

    def count_logs(
        self, address: str | Sequence[str] | None, topic0: str | None, from_block: int, to_block: int
    ) -> int:
        """Number of logs of `topic0` from `address` in [from_block, to_block]; 0 when L1 says `[]`."""
        return len(self.get_logs(address, topic0, from_block, to_block))

    def count_logs_many(self, queries: Sequence[LogQuery]) -> list[int]:
        """How many logs each query matches, in query order."""
        return [len(logs) for logs in self.get_logs_many(queries)]


def _item_error(raw: Any) -> ItemError:
    if isinstance(raw, dict):
        code = raw.get("code")
        message = raw.get("message")
        data = raw.get("data")
        text = str(message) if message is not None else json.dumps(raw)[:200]
        if isinstance(data, str) and data and data not in text:
            text = f"{text} ({data[:200]})"
        return ItemError(code if isinstance(code, int) and not isinstance(code, bool) else None, text)
    return ItemError(None, f"malformed error object: {str(raw)[:200]}")


def _filter(q: LogQuery, lo: int, hi: int) -> dict[str, Any]:
    flt: dict[str, Any] = {"fromBlock": to_hex(lo), "toBlock": to_hex(hi)}
    if q.address is not None:
        flt["address"] = q.address if isinstance(q.address, str) else list(q.address)
    if q.topic0 is not None:
        flt["topics"] = [q.topic0]
    return flt


def _checked_parser(q: LogQuery, lo: int, hi: int) -> Callable[[Any], tuple[Log, ...]]:
    """Parse eth_getLogs and refuse an answer that ignores the filter (a lying or broken provider)."""
    addresses = (
        None
        if q.address is None
        else {q.address.lower()}
        if isinstance(q.address, str)
        else {a.lower() for a in q.address}
    )
    topic0 = q.topic0.lower() if q.topic0 is not None else None

    def parse(raw: Any) -> tuple[Log, ...]:
        logs = parse_logs(raw)
        for log in logs:
            if not lo <= log.block_number <= hi:
                raise ValueError(f"log at block {log.block_number} outside the asked range {lo}..{hi}")
            if addresses is not None and log.address not in addresses:
                raise ValueError(f"log of {log.address}, not of the filtered address")
            if topic0 is not None and log.topic0 != topic0:
                raise ValueError(f"log with topic0 {log.topic0}, not the filtered one")
        return logs

    return parse


__all__ = [
    "Block",
    "Call",
    "GoldenProbe",
    "Heads",
    "ItemError",
    "Log",
    "LogQuery",
    "ProbeResult",
    "ProbeTarget",
    "Receipt",
    "RpcClient",
    "backoff_delay",
    "is_range_error",
    "parse_block",
    "parse_log",
    "parse_logs",
    "parse_receipt",
    "split_range",
]
