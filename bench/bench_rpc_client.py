"""Benchmark: the hand-written JSON-RPC client (belt_gate.sources.rpc.RpcClient) against web3.py's async
provider (AsyncHTTPProvider + `batch_requests()`), doing the same jobs against one real anvil.

    .venv/bin/python bench/bench_rpc_client.py                       # N = 1, 10, 100; 15 repeats; 2 s timeout
    .venv/bin/python bench/bench_rpc_client.py --sizes 1,10,100 --repeat 15 --json bench/results/rpc_client.json

Loopback only: one deterministic anvil (chain 8453) with the sandbox contracts and traffic. Three parts:

1. Latency per batch, straight to anvil: N blocks by number (+ eth_chainId in the same batch) and
   eth_getLogs over N windows (+ eth_chainId, eth_blockNumber), median of `--repeat` runs. Both clients
   hand back belt_gate's own `Block` / `Log` values (web3's AttributeDict/HexBytes answers are converted, so
   the outputs are compared and must be equal). HTTP requests are counted by a loopback counting proxy.
2. A provider's range limit: the counting proxy refuses any eth_getLogs wider than `--range-limit` blocks
   with -32005 "query returned more than 10000 results" (what hosted RPCs say). Requests and calls sent
   until every window's logs are in, and whether they equal the unrefused answer.
3. Faults (tests/proof/fault_proxy.py, real sockets): an answer dripped one byte a second, a request that
   never answers, 429 with Retry-After: 120, HTTP 503 on everything, a JSON-RPC error on every call. Wall
   time to the failure, requests sent, and whether the error text names the endpoint and leaks the secret
   canary in the URL's query. web3 is measured as shipped (its default ExceptionRetryConfiguration) and,
   for the batch jobs, with `ClientTimeout(total=timeout)`, its one overall deadline per request.

The web3 side is the least hand-written code that does the same job: one `batch_requests()` per job and,
because a refused item fails the whole batch, range splitting written by hand around it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import ClientTimeout
from web3 import AsyncWeb3
from web3.exceptions import Web3RPCError
from web3.providers.rpc import AsyncHTTPProvider

from belt_gate.errors import BeltGateError
from belt_gate.sandbox import chains, traffic
from belt_gate.sandbox.chains import CONTRACTS
from belt_gate.sources.rpc import Block, ItemError, Log, LogQuery, RpcClient, is_range_error, split_range

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.proof.fault_proxy import fault_proxy  # noqa: E402  (a library import; the file is not edited)

CHAIN = 8453
CANARY = "apikey=benchcanary7Q4"
NFT = CONTRACTS["SandboxNFT"]
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


# ---------------------------------------------------------------------------------------------------
# A counting proxy with a provider's range limit (asyncio streams on a thread; forwards with httpx)


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests = 0
        self.calls = 0
        self.range_limit: int | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def reset(self) -> None:
        self.requests = self.calls = 0

    def _refuse(self, call: dict[str, Any]) -> bool:
        if self.range_limit is None or call.get("method") != "eth_getLogs":
            return False
        flt = call["params"][0]
        if "fromBlock" not in flt:
            return False
        return int(flt["toBlock"], 16) - int(flt["fromBlock"], 16) + 1 > self.range_limit

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=30) as http:

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                try:
                    while True:
                        head = await reader.readuntil(b"\r\n\r\n")
                        headers = dict(
                            line.split(":", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ":" in line
                        )
                        headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
                        body = await reader.readexactly(int(headers.get("content-length", "0")))
                        doc = json.loads(body)
                        batch = doc if isinstance(doc, list) else [doc]
                        self.requests += 1
                        self.calls += len(batch)
                        refused = [c for c in batch if self._refuse(c)]
                        forward = [c for c in batch if not self._refuse(c)]
                        answers: list[Any] = []
                        if forward:
                            got = (await http.post(self.upstream, json=forward)).json()
                            answers = got if isinstance(got, list) else [got]
                        answers += [
                            {
                                "jsonrpc": "2.0",
                                "id": c["id"],
                                "error": {"code": -32005, "message": "query returned more than 10000 results"},
                            }
                            for c in refused
                        ]
                        out = json.dumps(answers if isinstance(doc, list) else answers[0]).encode()
                        close = headers.get("connection", "").lower() == "close"
                        writer.write(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                            + str(len(out)).encode()
                            + (b"\r\nconnection: close" if close else b"")
                            + b"\r\n\r\n"
                            + out
                        )
                        await writer.drain()
                        if close:
                            break
                except (asyncio.IncompleteReadError, ConnectionError):
                    pass
                finally:
                    with contextlib.suppress(Exception):
                        writer.close()

            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()
            server.close()

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# ---------------------------------------------------------------------------------------------------
# The web3 candidate: the same jobs through AsyncHTTPProvider + batch_requests()


def _hex(b: Any) -> str:
    return b.to_0x_hex().lower() if hasattr(b, "to_0x_hex") else str(b).lower()


def _log(x: Any) -> Log:
    return Log(
        address=str(x["address"]).lower(),
        topics=tuple(_hex(t) for t in x["topics"]),
        data=_hex(x["data"]),
        block_number=int(x["blockNumber"]),
        block_hash=_hex(x["blockHash"]),
        tx_hash=_hex(x["transactionHash"]),
        log_index=int(x["logIndex"]),
        removed=bool(x.get("removed", False)),
    )


def _block(x: Any) -> Block:
    return Block(
        number=int(x["number"]),
        hash=_hex(x["hash"]),
        parent_hash=_hex(x["parentHash"]),
        timestamp=int(x["timestamp"]),
        logs_bloom=_hex(x["logsBloom"]),
    )


def _code(exc: Web3RPCError) -> int | None:
    error = (exc.rpc_response or {}).get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


class Web3Client:
    """What replacing RpcClient's transport with web3 looks like: one AsyncWeb3 per chain on a loop of its own."""

    def __init__(self, chain_id: int, url: str, *, timeout: float | None, default_retries: bool = True) -> None:
        kwargs: dict[str, Any] = (
            {} if timeout is None else {"request_kwargs": {"timeout": ClientTimeout(total=timeout)}}
        )
        if not default_retries:
            kwargs["exception_retry_configuration"] = None
        self.chain_id = chain_id
        self.w3 = AsyncWeb3(AsyncHTTPProvider(url, **kwargs))
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.w3.provider.disconnect())
        self.loop.close()

    def _check_chain(self, got: int) -> None:
        if got != self.chain_id:
            raise BeltGateError(f"this RPC serves chain {got}, not chain {self.chain_id}")

    async def _blocks(self, numbers: list[int]) -> dict[int, Block | None]:
        async with self.w3.batch_requests() as batch:
            batch.add(self.w3.eth.chain_id)
            for n in numbers:
                batch.add(self.w3.eth.get_block(n))
            got = await batch.async_execute()
        self._check_chain(got[0])
        return {n: _block(b) for n, b in zip(numbers, got[1:], strict=True)}

    def blocks(self, numbers: list[int]) -> dict[int, Block | None]:
        return dict(self.run(self._blocks(numbers)))

    async def _raw(self, requests: Callable[[], list[Any]]) -> list[Any]:
        async with self.w3.batch_requests() as batch:
            for r in requests():
                batch.add(r)
            return list(await batch.async_execute())

    def raw_blocks(self, numbers: list[int]) -> list[Any]:
        """The same batch as blocks(), web3's own answer (AttributeDicts): its formatting cost without ours."""
        eth = self.w3.eth
        return list(self.run(self._raw(lambda: [eth.chain_id, *(eth.get_block(n) for n in numbers)])))

    def raw_logs(self, queries: list[LogQuery]) -> list[Any]:
        eth = self.w3.eth
        nft = AsyncWeb3.to_checksum_address(NFT)

        def calls() -> list[Any]:
            flts = [
                {"fromBlock": q.from_block, "toBlock": q.to_block, "address": nft, "topics": [q.topic0]}
                for q in queries
            ]
            return [eth.chain_id, eth.block_number, *(eth.get_logs(f) for f in flts)]

        return list(self.run(self._raw(calls)))

    def head_single(self) -> int:
        """One plain call (not a batch): the path web3's ExceptionRetryConfiguration applies to."""
        return int(self.run(self.w3.eth.block_number))

    async def _get_logs_many(self, queries: list[LogQuery]) -> list[list[Log]]:
        eth = self.w3.eth

        def flt(q: LogQuery, lo: int, hi: int) -> dict[str, Any]:
            return {"fromBlock": lo, "toBlock": hi, "address": AsyncWeb3.to_checksum_address(NFT), "topics": [q.topic0]}

        out: list[list[Log]] = [[] for _ in queries]
        try:
            async with self.w3.batch_requests() as batch:
                batch.add(eth.chain_id)
                batch.add(eth.block_number)
                for q in queries:
                    batch.add(eth.get_logs(flt(q, q.from_block, q.to_block)))
                got = await batch.async_execute()
        except Web3RPCError as exc:
            # One refused item fails the whole batch and the others' answers are lost; the error does not
            # say which item. So: the chain check again, then each window alone, splitting the refused ones.
            if not is_range_error(ItemError(_code(exc), str(exc))):
                raise
            self._check_chain(await eth.chain_id)
            work = [(i, q.from_block, q.to_block) for i, q in enumerate(queries)]
            while work:
                i, lo, hi = work.pop(0)
                try:
                    out[i] += [_log(x) for x in await eth.get_logs(flt(queries[i], lo, hi))]
                except Web3RPCError as item:
                    err = ItemError(_code(item), str(item))
                    if lo == hi or not is_range_error(err):
                        raise
                    work[:0] = [(i, a, b) for a, b in split_range(err, lo, hi)]
        else:
            self._check_chain(got[0])
            for i, logs in enumerate(got[2:]):
                out[i] = [_log(x) for x in logs]
        for logs in out:
            logs.sort(key=lambda log: (log.block_number, log.log_index))
        return out

    def get_logs_many(self, queries: list[LogQuery]) -> list[list[Log]]:
        return list(self.run(self._get_logs_many(queries)))


# ---------------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Outcome:
    seconds: float
    requests: int | None
    result: Any = None
    error: str | None = None


def timed(fn: Callable[[], Any], count: Callable[[], int] | None = None) -> Outcome:
    before = count() if count else 0
    t0 = time.perf_counter()
    try:
        result, error = fn(), None
    except Exception as exc:
        result, error = None, f"{type(exc).__name__}: {exc}"
    return Outcome(time.perf_counter() - t0, (count() - before) if count else None, result, error)


def windows(head: int, n: int, width: int) -> list[LogQuery]:
    """n windows of `width` blocks spread over [1, head]."""
    span = max(1, head - width)
    return [LogQuery(NFT, TRANSFER, lo, min(head, lo + width - 1)) for lo in (1 + (k * 37) % span for k in range(n))]


@contextlib.contextmanager
def clients(url: str, timeout: float, **web3_kw: Any) -> Iterator[tuple[RpcClient, Web3Client]]:
    ours = RpcClient(CHAIN, url, timeout=timeout)
    theirs = Web3Client(CHAIN, url, timeout=timeout, **web3_kw)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


def latency(anvil: str, proxy: CountingProxy, head: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for n in args.sizes:
        numbers = sorted({1 + (k * 7919) % head for k in range(n)})
        logq = windows(head, n, args.width)
        jobs: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], Callable[[Any], Any]]] = {
            f"blocks x{len(numbers)}": (
                lambda c, ns=numbers: c.blocks(ns),
                lambda c, ns=numbers: c.blocks(ns),
                lambda c, ns=numbers: c.raw_blocks(ns),
            ),
            f"eth_getLogs x{n}": (
                lambda c, q=logq: c.get_logs_many(q),
                lambda c, q=logq: c.get_logs_many(q),
                lambda c, q=logq: c.raw_logs(q),
            ),
        }
        for job, (ours_fn, theirs_fn, raw_fn) in jobs.items():
            with clients(anvil, args.timeout) as (ours, theirs):
                ours_fn(ours), theirs_fn(theirs)  # warm: connections, imports
                a = [timed(lambda f=ours_fn, c=ours: f(c)) for _ in range(args.repeat)]
                b = [timed(lambda f=theirs_fn, c=theirs: f(c)) for _ in range(args.repeat)]
                r = [timed(lambda f=raw_fn, c=theirs: f(c)) for _ in range(args.repeat)]
            with clients(proxy.url, args.timeout) as (ours, theirs):
                ra = timed(lambda f=ours_fn, c=ours: f(c), lambda: proxy.requests)
                rb = timed(lambda f=theirs_fn, c=theirs: f(c), lambda: proxy.requests)
            errors = [o.error for o in a + b + r + [ra, rb] if o.error]
            out = a[0].result
            items = len(out) if isinstance(out, dict) else sum(len(x) for x in out or [])
            rows.append(
                {
                    "job": job,
                    "rpc_client_ms": round(statistics.median(o.seconds for o in a) * 1000, 2),
                    "results": items,
                    "web3_ms": round(statistics.median(o.seconds for o in b) * 1000, 2),
                    "web3_unconverted_ms": round(statistics.median(o.seconds for o in r) * 1000, 2),
                    "rpc_client_requests": ra.requests,
                    "web3_requests": rb.requests,
                    "equal": not errors and a[0].result == b[0].result,
                    "errors": errors[:2],
                }
            )
    return rows


def range_limit(proxy: CountingProxy, head: int, args: argparse.Namespace) -> dict[str, Any]:
    n = 10
    width = max(1, head // n)
    logq = [LogQuery(NFT, TRANSFER, 1 + k * width, min(head, (k + 1) * width)) for k in range(n)]
    with clients(proxy.url, args.timeout) as (ours, theirs):
        truth = ours.get_logs_many(logq)
        proxy.range_limit = args.range_limit
        proxy.reset()
        a = timed(lambda: ours.get_logs_many(logq))
        a_req, a_calls = proxy.requests, proxy.calls
        proxy.reset()
        b = timed(lambda: theirs.get_logs_many(logq))
        b_req, b_calls = proxy.requests, proxy.calls
        proxy.range_limit = None
    return {
        "windows": n,
        "window_blocks": width,
        "range_limit": args.range_limit,
        "logs": sum(len(x) for x in truth),
        "rpc_client": {
            "requests": a_req,
            "calls": a_calls,
            "ms": round(a.seconds * 1000, 1),
            "equal": a.result == truth,
            "error": a.error,
        },
        "web3": {
            "requests": b_req,
            "calls": b_calls,
            "ms": round(b.seconds * 1000, 1),
            "equal": b.result == truth,
            "error": b.error,
        },
    }


FAULTS = ("drip", "hang", "ra120", "http503", "rpc-error")


def faults(anvil: str, head: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    numbers = list(range(1, min(head, 10) + 1))
    with fault_proxy({"rpc": anvil}) as fp:
        for mode in FAULTS:
            url = fp.url("rpc", mode, path="", query=CANARY)
            endpoint_named = f"127.0.0.1:{fp.port}"
            runs: list[tuple[str, Callable[[], Outcome]]] = []

            def hits(m: str = mode) -> int:
                return fp.hits.get(m, 0)

            def ours_blocks(url: str = url) -> Outcome:
                with RpcClient(CHAIN, url, timeout=args.timeout) as c:
                    return timed(lambda: c.blocks(numbers), hits)

            def theirs_blocks(url: str = url, timeout: float | None = args.timeout) -> Outcome:
                c = Web3Client(CHAIN, url, timeout=timeout)
                try:
                    return timed(lambda: c.blocks(numbers), hits)
                finally:
                    with contextlib.suppress(Exception):
                        c.close()

            def theirs_single(url: str = url) -> Outcome:
                c = Web3Client(CHAIN, url, timeout=args.timeout)
                try:
                    return timed(c.head_single, hits)
                finally:
                    with contextlib.suppress(Exception):
                        c.close()

            runs = [
                ("RpcClient.blocks (batch)", ours_blocks),
                ("web3 batch, ClientTimeout(total)", theirs_blocks),
                ("web3 single call, default retries", theirs_single),
            ]
            for who, run in runs:
                o = run()
                err = o.error or ""
                rows.append(
                    {
                        "fault": mode,
                        "client": who,
                        "seconds": round(o.seconds, 2),
                        "requests": o.requests,
                        "failed_closed": o.error is not None,
                        "names_endpoint": endpoint_named in err,
                        "leaks_canary": "benchcanary7Q4" in err,
                        "error": err[:240],
                    }
                )
                print(f"  {mode:9} {who:36} {o.seconds:6.2f} s  {o.requests} req  {err[:110]}", flush=True)
    return rows


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "web3": __import__("web3").__version__,
        "httpx": httpx.__version__,
        "aiohttp": __import__("aiohttp").__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=200, help="blocks of traffic on the chain")
    parser.add_argument("--per-block", type=int, default=4, help="about this many events per contract per block")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 100])
    parser.add_argument("--width", type=int, default=20, help="blocks per eth_getLogs window")
    parser.add_argument("--range-limit", type=int, default=8, help="widest eth_getLogs range the proxy answers")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=2.0, help="the overall deadline per request, seconds")
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rpc-") as tmp:
        chain = chains.start_chain(CHAIN, run_dir=Path(tmp))
        proxy = None
        try:
            chains.deploy(chain)
            traffic.more_traffic(chain, n=args.blocks, per_tx=args.per_block)
            head = chains.head(chain)
            proxy = CountingProxy(chain.rpc_url)
            print(f"anvil chain {CHAIN}: head {head}; timeout {args.timeout:g} s; load {os.getloadavg()[0]:.2f}")
            lat = latency(chain.rpc_url, proxy, head, args)
            for r in lat:
                print(
                    f"  {r['job']:18} ({r['results']:6} results) RpcClient {r['rpc_client_ms']:8.2f} ms"
                    f" {r['rpc_client_requests']} req | web3 {r['web3_ms']:8.2f} ms {r['web3_requests']} req"
                    f" (unconverted {r['web3_unconverted_ms']:.2f} ms) | equal {r['equal']} {r['errors']}"
                )
            rl = range_limit(proxy, head, args)
            for who in ("rpc_client", "web3"):
                x = rl[who]
                print(
                    f"  range limit {rl['range_limit']} blocks, {rl['windows']} windows of {rl['window_blocks']}:"
                    f" {who:10} {x['requests']:4} requests {x['calls']:4} calls {x['ms']:8.1f} ms"
                    f" equal {x['equal']} {x['error'] or ''}"
                )
            flt = [] if args.skip_faults else faults(chain.rpc_url, head, args)
        finally:
            if proxy is not None:
                proxy.close()
            chains.stop_chain(chain)
    result = {
        "benchmark": "rpc_client",
        "machine": machine(),
        "head": head,
        "timeout": args.timeout,
        "latency": lat,
        "range_limit": rl,
        "faults": flt,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
