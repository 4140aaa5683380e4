"""A JSON-RPC fault proxy in front of one chain's anvil (starlette under uvicorn, its own process).

    python -m belt_gate.sandbox.rpc_proxy --upstream URL --port P --mode MODE

Modes:
    pass          forward every request (single or batched JSON-RPC) unchanged
    empty         forward, but answer `[]` to every eth_getLogs (alone or inside a batch): the classic
                  "RPC silently returns nothing" failure
    5xx           answer HTTP 503 to everything
    flaky:N       answer HTTP 503 to the first N requests, then pass
    slow:SECONDS  wait SECONDS before forwarding each request

The mode can be changed while running: `POST /__belt_proxy/mode` with the mode as the body.
`GET /__belt_proxy/stats` reports the mode and how many requests were seen, failed and emptied.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from belt_gate.errors import SandboxError
from belt_gate.sandbox import procs
from belt_gate.sandbox.faults import Fault, parse_fault

CONTROL = "/__belt_proxy"


@dataclass(frozen=True)
class Mode:
    """How the proxy misbehaves: pass, empty, 5xx, flaky (the first n requests fail) or slow (seconds before each)."""

    kind: str  # pass | empty | 5xx | flaky | slow
    n: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.kind == "flaky":
            return f"flaky:{self.n}"
        if self.kind == "slow":
            return f"slow:{self.seconds:g}"
        return self.kind


def parse_mode(text: str) -> Mode:
    """A mode from its text (`pass`, `empty`, `5xx`, `flaky:N`, `slow:SECONDS`); SandboxError otherwise."""
    kind, _, arg = text.strip().partition(":")
    try:
        if kind in ("pass", "empty", "5xx") and not arg:
            return Mode(kind)
        if kind == "flaky":
            n = int(arg)
            if n >= 0:
                return Mode(kind, n=n)
        if kind == "slow":
            seconds = float(arg)
            if 0 <= seconds < 600:
                return Mode(kind, seconds=seconds)
    except ValueError:
        pass
    raise SandboxError(f"bad RPC proxy mode {text!r}: expected pass, empty, 5xx, flaky:N or slow:SECONDS")


def mode_for(chain_id: int, faults: Iterable[Fault | str]) -> str:
    """The proxy mode the `rpc-empty:` / `rpc-5xx:` faults ask for on `chain_id` ("pass" if none)."""
    for f in faults:
        fault = parse_fault(f) if isinstance(f, str) else f
        if fault.chain == chain_id and fault.kind == "rpc-empty":
            return "empty"
        if fault.chain == chain_id and fault.kind == "rpc-5xx":
            return "5xx"
    return "pass"


class _Proxy:
    def __init__(self, upstream: str, mode: Mode) -> None:
        self.upstream = upstream
        self.mode = mode
        self.seen = 0
        self.failed = 0
        self.emptied = 0
        self.client: httpx.AsyncClient | None = None

    def _empty(self, request: Any, answer: Any) -> Any:
        if (
            isinstance(request, dict)
            and isinstance(answer, dict)
            and request.get("method") == "eth_getLogs"
            and "error" not in answer
        ):
            self.emptied += 1
            return {"jsonrpc": "2.0", "id": answer.get("id", request.get("id")), "result": []}
        return answer

    async def rpc(self, request: Request) -> Response:
        self.seen += 1
        mode = self.mode
        if mode.kind == "5xx" or (mode.kind == "flaky" and self.seen <= mode.n):
            self.failed += 1
            return PlainTextResponse("503 Service Unavailable (belt_gate rpc proxy)", status_code=503)
        if mode.kind == "slow" and mode.seconds:
            await asyncio.sleep(mode.seconds)
        body = await request.body()
        assert self.client is not None
        try:
            upstream = await self.client.post(self.upstream, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            return PlainTextResponse(f"502 upstream unreachable: {type(exc).__name__}", status_code=502)
        if mode.kind != "empty" or upstream.status_code != 200:
            return Response(
                upstream.content,
                status_code=upstream.status_code,
                media_type=upstream.headers.get("content-type", "application/json"),
            )
        try:
            asked = json.loads(body)
            answer = upstream.json()
        except ValueError:
            return Response(upstream.content, status_code=upstream.status_code, media_type="application/json")
        if isinstance(asked, list) and isinstance(answer, list):
            by_id = {json.dumps(a.get("id")): a for a in asked if isinstance(a, dict)}
            answer = [self._empty(by_id.get(json.dumps(a.get("id")) if isinstance(a, dict) else ""), a) for a in answer]
        else:
            answer = self._empty(asked, answer)
        return JSONResponse(answer)

    async def set_mode(self, request: Request) -> Response:
        try:
            self.mode = parse_mode((await request.body()).decode())
        except (SandboxError, UnicodeDecodeError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        self.seen = 0  # flaky:N counts from the switch
        return PlainTextResponse(str(self.mode))

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                "mode": str(self.mode),
                "upstream": self.upstream,
                "seen": self.seen,
                "failed": self.failed,
                "emptied": self.emptied,
            }
        )


def create_app(upstream: str, mode: str | Mode = "pass") -> Starlette:
    """The proxy's Starlette app: JSON-RPC forwarded to `upstream` as the mode says, and the control routes to change
    the mode and read the stats."""
    proxy = _Proxy(upstream, parse_mode(mode) if isinstance(mode, str) else mode)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=120.0) as client:
            proxy.client = client
            yield

    return Starlette(
        routes=[
            Route(f"{CONTROL}/mode", proxy.set_mode, methods=["POST"]),
            Route(f"{CONTROL}/stats", proxy.stats, methods=["GET"]),
            Route("/", proxy.rpc, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def start_rpc_proxy(
    upstream: str, mode: str, run_dir: Path, *, port: int | None = None, timeout: float = 30.0
) -> tuple[str, int]:
    """Start a proxy process for `upstream` on 127.0.0.1; returns (url, pid). Stop it with procs.stop(pid)."""
    parse_mode(mode)
    port = port or procs.free_port()
    log = Path(run_dir) / f"rpc-proxy-{port}.log"
    proc = procs.spawn(
        [
            sys.executable,
            "-m",
            "belt_gate.sandbox.rpc_proxy",
            "--upstream",
            upstream,
            "--port",
            str(port),
            "--mode",
            mode,
        ],
        log,
    )
    try:
        procs.wait_for_port(port, pid=proc.pid, timeout=timeout, what="rpc proxy")
    except BaseException:
        procs.stop(proc.pid)
        raise
    return f"http://127.0.0.1:{port}", proc.pid


def set_mode(url: str, mode: str) -> None:
    """Switch a running proxy's mode."""
    parse_mode(mode)
    resp = httpx.post(f"{url}{CONTROL}/mode", content=mode, timeout=10.0)
    if resp.status_code != 200:
        raise SandboxError(f"rpc proxy {url} refused mode {mode!r}: {resp.text}")


def stats(url: str) -> dict[str, Any]:
    """A running proxy's stats: its mode and the requests it saw, failed and emptied."""
    result: dict[str, Any] = httpx.get(f"{url}{CONTROL}/stats", timeout=10.0).json()
    return result


def main(argv: list[str] | None = None) -> int:
    """Serve the proxy in front of one upstream until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m belt_gate.sandbox.rpc_proxy", description="JSON-RPC fault proxy for a sandbox chain"
    )
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="pass")
    args = parser.parse_args(argv)
    try:
        app = create_app(args.upstream, args.mode)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


__all__ = ["Mode", "create_app", "main", "mode_for", "parse_mode", "set_mode", "start_rpc_proxy", "stats"]


if __name__ == "__main__":
    raise SystemExit(main())
