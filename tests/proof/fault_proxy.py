"""A loopback fault proxy: real HTTP on 127.0.0.1, in front of real sandbox belts (GraphQL) and a real anvil
(JSON-RPC), that forwards every request and breaks only what the URL's mode says.

URL layout: `http://127.0.0.1:<port>/<upstream>/<mode>/<anything>?<query>`; `<upstream>` names a real
endpoint given at start (`blue`, `green`, `rpc`), `<mode>` a fault of `FAULTS` (or `ok`). The query is
ignored, so a test can put a secret canary there. A mode may hit only some requests: GraphQL requests are
told apart by their operation (introspection, progress, fingerprints, rows), JSON-RPC ones by method.

Faults are written at the socket (asyncio streams), so a proxy can also reset a connection mid-body, hang,
or drip an answer one byte a second, which an HTTP framework would not let it do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from graphql import build_schema, introspection_from_schema

Answer = tuple[int, dict[str, str], bytes]
Forward = Callable[[], Awaitable[Answer]]

GRAPHQL_KINDS = ("introspection", "progress", "fingerprints", "rows")


def kind_of(request: bytes) -> str:
    """Which question a request asks: a GraphQL operation of belt_gate's, or `rpc` for JSON-RPC."""
    for name, kind in ((b"BeltFingerprints", "fingerprints"), (b"BeltRows", "rows"), (b"BeltProgress", "progress")):
        if name in request:
            return kind
    if b'"jsonrpc"' in request:
        return "rpc"
    return "introspection"


# ---------------------------------------------------------------------------------------------------
# Answers that replace or spoil the real one


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


#: One aliased aggregate field of a fingerprint request: alias, entity, chain.
_AGGREGATE = re.compile(r'(\w+): (\w+)_aggregate\(where: \{chainId: \{_eq: "?(\d+)"?\}')


def aggregate_labels(request: bytes) -> dict[str, str]:
    """alias -> `Entity@chain` of every aggregate field a fingerprint request asks."""
    query = json.loads(request)["query"]
    return {alias: f"{entity}@{chain}" for alias, entity, chain in _AGGREGATE.findall(query)}


def spoil_aggregate(data: dict[str, Any], alias: str, how: str) -> None:
    """One aggregate field of a fingerprint answer spoiled in place, as `how` says."""
    if how == "alias-missing":
        data.pop(alias, None)
        return
    if how == "aggregate-missing":
        data[alias] = {}
        return
    agg = data[alias]["aggregate"]
    if how == "count-abc":
        agg["count"] = "abc"
    elif how == "count-null":
        agg["count"] = None
    elif how == "count-float":
        agg["count"] = 1.5
    elif how == "count-negative":
        agg["count"] = -1
    elif how == "count-huge":
        agg["count"] = 10**30
    elif how == "count-missing":
        agg.pop("count", None)
    elif how == "aggregates-stripped":  # count kept; sum, min and max gone
        for part in ("sum", "min", "max"):
            agg.pop(part, None)
    elif how == "sum-null":
        agg["sum"] = None
    elif how == "minmax-null-fields":
        for part in ("min", "max"):
            if isinstance(agg.get(part), dict):
                agg[part] = {k: None for k in agg[part]}
    else:
        raise ValueError(how)


#: Mode `fp-types`: each entity@chain of the fingerprint answer spoiled its own way (the others untouched).
SLOT_SPOILS: dict[str, str] = {
    "NftTransfer@1": "count-abc",
    "NftTransfer@10": "count-null",
    "NftTransfer@8453": "count-float",
    "NftTransfer@42161": "count-negative",
    "Erc1155Transfer@1": "count-huge",
    "Erc1155Transfer@10": "count-missing",
    "Erc1155Transfer@8453": "aggregate-missing",
    "Erc1155Transfer@42161": "alias-missing",
    "Action@1": "aggregates-stripped",
    "Action@10": "sum-null",
    "Action@8453": "minmax-null-fields",
}


def spoil_slots(request: bytes, body: bytes) -> bytes:
    doc = json.loads(body)
    for alias, label in aggregate_labels(request).items():
        if label in SLOT_SPOILS and alias in doc["data"]:
            spoil_aggregate(doc["data"], alias, SLOT_SPOILS[label])
    return _json(doc)


def rows_only_ids(request: bytes, body: bytes) -> bytes:
    """Every sampled row of an answer with its id alone."""
    doc = json.loads(body)
    for alias, rows in (doc.get("data") or {}).items():
        if isinstance(rows, list):
            doc["data"][alias] = [{"id": r["id"]} for r in rows if isinstance(r, dict) and "id" in r]
    return _json(doc)


#: Mode `progress-types`: the processed block of each chain in every progress answer.
PROGRESS_SPOILS: dict[int, Any] = {1: 10**30, 10: "abc", 8453: None, 42161: -1}


def spoil_progress(request: bytes, body: bytes) -> bytes:
    doc = json.loads(body)
    for rows in (doc.get("data") or {}).values():
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict):
                continue
            chain = row.get("chain_id", row.get("chainId"))
            for key in ("latest_processed_block", "progressBlock"):
                if key in row and chain is not None and int(chain) in PROGRESS_SPOILS:
                    row[key] = PROGRESS_SPOILS[int(chain)]
    return _json(doc)


def spoil_rpc(method: str, result: Any) -> Callable[[bytes, bytes], bytes]:
    """The result of every call of `method` in a JSON-RPC (batch) answer replaced (`...` removes the key)."""

    def spoil(request: bytes, body: bytes) -> bytes:
        asked = json.loads(request)
        asked = asked if isinstance(asked, list) else [asked]
        ids = {c["id"] for c in asked if c.get("method") == method}
        doc = json.loads(body)
        for item in doc if isinstance(doc, list) else [doc]:
            if item.get("id") in ids:
                if result is ...:
                    item.pop("result", None)
                else:
                    item["result"] = result
        return _json(doc)

    return spoil


def rpc_errors(request: bytes, body: bytes) -> bytes:
    """Every call of a JSON-RPC (batch) request answered with a JSON-RPC error object."""
    asked = json.loads(request)
    error = {"code": -32000, "message": "header not found"}
    if isinstance(asked, list):
        return _json([{"jsonrpc": "2.0", "id": c["id"], "error": error} for c in asked])
    return _json({"jsonrpc": "2.0", "id": asked["id"], "error": error})


NON_HASURA_SCHEMA = build_schema(
    "type Query { hello: String, users(first: Int): [User!]! } type User { id: ID!, name: String }"
)


def non_hasura_answer(kind: str) -> Answer:
    """A plain GraphQL server (not Hasura, not Envio): introspection works, belt_gate's queries do not."""
    if kind == "introspection":
        return 200, {"content-type": "application/json"}, _json({"data": introspection_from_schema(NON_HASURA_SCHEMA)})
    return 200, {"content-type": "application/json"}, _json({"errors": [{"message": "Cannot query field"}]})


# ---------------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True)
class Fault:
    """What the proxy does to the requests of `kinds` (every kind when empty); the others are forwarded.

    action: `status` (answer `status` with `body` and `headers`), `reset` (half the real body, then a TCP
    RST), `hang` (never answer), `drip` (the real answer, one byte a second), `truncate` (the real body cut
    in half, with a matching Content-Length), `spoil` (the real answer through `spoil(request, body)`),
    `redirect` (`status` with a Location), `non_hasura`, `once` (answer `status` to the first such request
    only, then forward)."""

    action: str
    kinds: tuple[str, ...] = ()
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    spoil: Callable[[bytes, bytes], bytes] | None = None

    def hits(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


JSON = {"content-type": "application/json"}
HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
GRAPHQL_ERRORS = _json({"errors": [{"message": "database query error", "extensions": {"code": "unexpected"}}]})
FP = ("fingerprints",)

#: Mode names stay under 20 characters without digits runs: a longer letters-and-digits path segment
#: looks like an API key to redact.py and is masked, which would hide the mode in the failure line.
FAULTS: dict[str, Fault] = {
    "ok": Fault("forward"),
    "reset": Fault("reset"),
    "reset-fp": Fault("reset", FP),
    "http500": Fault("status", status=500, body=b"internal server error"),
    "http502": Fault("status", status=502, body=HTML, headers={"content-type": "text/html"}),
    "http503": Fault("status", status=503, body=b"service unavailable"),
    "ra1-once": Fault("once", status=429, body=b"slow down", headers={"retry-after": "1"}),
    "ra120": Fault("status", status=429, body=b"slow down", headers={"retry-after": "120"}),
    "ra-date": Fault(
        "status", status=503, body=b"maintenance", headers={"retry-after": "Fri, 31 Dec 2100 23:59:59 GMT"}
    ),
    "gql-errors": Fault("status", FP, body=GRAPHQL_ERRORS, headers=JSON),
    "truncated": Fault("truncate", FP),
    "truncated-any": Fault("truncate"),
    "html": Fault("status", body=HTML, headers={"content-type": "text/html"}),
    "hang": Fault("hang"),
    "hang-fp": Fault("hang", FP),
    "drip": Fault("drip"),
    "redirect": Fault("redirect", status=307),
    "non-hasura": Fault("non_hasura"),
    "fp-types": Fault("spoil", FP, spoil=spoil_slots),
    "rows-only-ids": Fault("spoil", ("rows",), spoil=rows_only_ids),
    "progress-types": Fault("spoil", ("progress", "fingerprints"), spoil=spoil_progress),
    "head-abc": Fault("spoil", spoil=spoil_rpc("eth_blockNumber", "abc")),
    "head-null": Fault("spoil", spoil=spoil_rpc("eth_blockNumber", None)),
    "head-float": Fault("spoil", spoil=spoil_rpc("eth_blockNumber", 1.5)),
    "head-negative": Fault("spoil", spoil=spoil_rpc("eth_blockNumber", "-0x1")),
    "head-huge": Fault("spoil", spoil=spoil_rpc("eth_blockNumber", hex(10**30))),
    "head-missing": Fault("spoil", spoil=spoil_rpc("eth_blockNumber", ...)),
    "chain-id-two": Fault("spoil", spoil=spoil_rpc("eth_chainId", "0x2")),
    "rpc-error": Fault("spoil", spoil=rpc_errors),
}


# ---------------------------------------------------------------------------------------------------
# The server


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    return Request(parts[0], parts[1], headers, body)


def _response(status: int, headers: dict[str, str], body: bytes, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Fault'}"]
    hdrs = {"content-type": "application/json", **headers}
    hdrs["content-length"] = str(len(body) if length is None else length)
    hdrs["connection"] = "close"
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class FaultProxy:
    """A running proxy: `url(upstream, mode, path, query)` gives the URL of one fault."""

    port: int
    upstreams: dict[str, str]
    hits: dict[str, int] = field(default_factory=dict)  # mode -> requests seen

    def url(self, upstream: str, mode: str, path: str = "v1/graphql", query: str = "") -> str:
        q = f"?{query}" if query else ""
        return f"http://127.0.0.1:{self.port}/{upstream}/{mode}/{path}{q}"


class _Server:
    def __init__(self, upstreams: dict[str, str]) -> None:
        self.upstreams = upstreams
        self.once_seen: set[str] = set()
        self.stop = asyncio.Event()
        self.hits: dict[str, int] = {}
        self.http = httpx.AsyncClient(timeout=60)

    async def forward(self, upstream: str, request: Request) -> Answer:
        answer = await self.http.post(
            self.upstreams[upstream], content=request.body, headers={"content-type": "application/json"}
        )
        content_type = answer.headers.get("content-type", "application/json")
        return answer.status_code, {"content-type": content_type}, answer.content

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:  # not HTTP (e.g. a TLS ClientHello): what a plain HTTP server says
                writer.write(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
                return
            await self.answer(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        upstream, mode = [*request.path.split("?")[0].strip("/").split("/"), "", ""][:2]
        fault = FAULTS[mode]
        self.hits[mode] = self.hits.get(mode, 0) + 1
        kind = kind_of(request.body)
        if not fault.hits(kind) or (fault.action == "once" and mode in self.once_seen):
            writer.write(_response(*await self.forward(upstream, request)))
            await writer.drain()
            return
        act = fault.action
        if act in ("status", "once"):
            self.once_seen.add(mode)
            writer.write(_response(fault.status, fault.headers, fault.body))
        elif act == "forward":
            writer.write(_response(*await self.forward(upstream, request)))
        elif act == "redirect":
            target = f"{self.upstreams[upstream]}?apikey=redirect-canary-77"
            writer.write(_response(fault.status, {"location": target}, b""))
        elif act == "non_hasura":
            writer.write(_response(*non_hasura_answer(kind)))
        elif act == "hang":
            await self.stop.wait()
            return
        else:
            status, headers, body = await self.forward(upstream, request)
            if act == "reset":
                writer.write(_response(status, headers, body[: len(body) // 2], length=len(body)))
                await writer.drain()
                _rst(writer)
                return
            if act == "truncate":
                body = body[: len(body) // 2]
            elif act == "spoil" and fault.spoil is not None and status == 200:
                body = fault.spoil(request.body, body)
            data = _response(status, headers, body)
            if act == "drip":
                for i in range(len(data)):
                    writer.write(data[i : i + 1])
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), 1.0)
                    if self.stop.is_set():
                        return
                return
            writer.write(data)
        await writer.drain()


@contextlib.contextmanager
def fault_proxy(upstreams: dict[str, str]) -> Iterator[FaultProxy]:
    """Start the proxy on a thread of its own (its own event loop); stop it, and every hang, at exit."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        server = _Server(upstreams)
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        box["server"], box["srv"] = server, srv
        box["port"] = srv.sockets[0].getsockname()[1]
        ready.set()
        await server.stop.wait()
        srv.close()
        await server.http.aclose()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), name="fault-proxy", daemon=True)
    thread.start()
    assert ready.wait(10), "fault proxy did not start"
    proxy = FaultProxy(box["port"], upstreams)
    proxy.hits = box["server"].hits
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(box["server"].stop.set)
        thread.join(timeout=10)
        loop.close()
