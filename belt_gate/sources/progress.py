"""Sync progress of belts and heads of chains, read for `belt-gate status / dashboard / wait`.

The only I/O of the watch commands. A belt is asked two small GraphQL questions: which progress source it
serves (`_meta` of newer Envio, else `chain_metadata`) and which of its fields exist (asked once per belt
and remembered), then the progress rows. Heads come from the chains' RPCs (`eth_chainId` checked). Nothing
here decides anything: values are returned as parsed integers (None where the belt sent null), and every
failure becomes a `ReadFailure` naming the redacted endpoint and saying whether the endpoint is dead
(no answer) or erroring (an answer that is not a progress answer).

`timestamp_caught_up_to_head_or_endblock` / `readyAt` / `isReady` are never asked: they are written once,
so they say nothing about now.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from belt_gate.errors import EndpointError
from belt_gate.numbers import NotANumber, parse_number
from belt_gate.redact import redact_url
from belt_gate.sources.graphql import GraphQLClient

#: our name -> the field of each source (None: that source has no such field)
FIELDS: dict[str, dict[str, str]] = {
    "_meta": {
        "chain_id": "chainId",
        "start": "startBlock",
        "end": "endBlock",
        "processed": "progressBlock",
        "fetched": "bufferBlock",
        "belt_head": "sourceBlock",
        "events": "eventsProcessed",
    },
    "chain_metadata": {
        "chain_id": "chain_id",
        "start": "start_block",
        "end": "end_block",
        "processed": "latest_processed_block",
        "fetched": "latest_fetched_block_number",
        "belt_head": "block_height",
        "events": "num_events_processed",
    },
}
SHAPE_QUERY = (
    "query BeltWatchShape { __schema { queryType { fields { name } } } "
    'chain_metadata: __type(name: "chain_metadata") { fields { name } } '
    '_meta: __type(name: "_meta") { fields { name } } }'
)

FailureKind = Literal["dead", "error"]


@dataclass(frozen=True)
class ReadFailure:
    """Why a read gave no numbers: `dead` (no answer: refused, reset, timeout) or `error` (a bad answer)."""

    kind: FailureKind
    message: str  # redacted, one line


@dataclass(frozen=True)
class ChainRow:
    """One chain's progress as a belt reports it (None: the belt sent null or lacks the field)."""

    chain_id: int
    processed: int | None
    fetched: int | None
    belt_head: int | None
    start: int | None
    end: int | None
    events: int | None


@dataclass(frozen=True)
class BeltRead:
    """One read of one belt: its rows, or why there are none. `at` is wall-clock time (time.time())."""

    name: str
    endpoint: str  # redacted
    at: float
    source: str | None = None
    rows: tuple[ChainRow, ...] = ()
    failure: ReadFailure | None = None


@dataclass(frozen=True)
class HeadRead:
    """One chain head from its RPC, or why there is none."""

    chain_id: int
    endpoint: str  # redacted
    at: float
    head: int | None = None
    failure: ReadFailure | None = None


def _kind(message: str) -> FailureKind:
    dead = ("timed out", "timeout", "HTTP request failed", "connection failed", "unreachable")
    return "dead" if any(d in message for d in dead) else "error"


def _int(row: Mapping[str, object], key: str | None, what: str) -> int | None:
    if key is None:
        return None
    value = row.get(key)
    if value is None:
        return None
    try:
        number = parse_number(value)
    except NotANumber:
        raise ValueError(f"{what} {key} is {str(value)[:40]!r}, not a number") from None
    if not isinstance(number, int):
        raise ValueError(f"{what} {key} is {value!r}, not a whole number")
    return number


def parse_rows(source: str, present: frozenset[str], rows: object) -> tuple[ChainRow, ...]:
    """Rows of either source as ChainRows; ValueError for anything that is not a progress answer."""
    if not isinstance(rows, list):
        raise ValueError(f"{source} is not a list")
    names = {ours: theirs if theirs in present else None for ours, theirs in FIELDS[source].items()}
    out = []
    seen: set[int] = set()
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError(f"a {source} row is not an object")
        chain = _int(row, names["chain_id"], source)
        if chain is None or chain <= 0:
            raise ValueError(f"a {source} row has no chain id")
        if chain in seen:
            raise ValueError(f"{source} lists chain {chain} twice")
        seen.add(chain)
        values = {k: _int(row, names[k], f"{source} chain {chain}") for k in FIELDS[source] if k != "chain_id"}
        out.append(ChainRow(chain_id=chain, **values))
    return tuple(sorted(out, key=lambda r: r.chain_id))


@dataclass
class BeltReader:
    """Reads one belt again and again; the progress source and its fields are asked once, remembered, and
    asked again after a failure (a belt may come back as another version)."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    _shape: tuple[str, frozenset[str]] | None = None
    _client: GraphQLClient | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """The belt's URL redacted, as every output names it."""
        return redact_url(self.url)

    async def _connected(self) -> GraphQLClient:
        """One kept-alive client per event loop (building one costs ~0.1 s of SSL setup on a busy machine)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = await GraphQLClient(self.name, self.url, self.headers, timeout=self.timeout).__aenter__()
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the kept-alive client (if it belongs to the running loop; a dead loop's went with it)."""
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.__aexit__(None, None, None)

    async def read(self) -> BeltRead:
        """One progress read; a failure is returned as a BeltRead holding it (redacted), never raised, and makes the
        next read ask the progress source again."""
        at = time.time()
        try:
            client = await self._connected()
            if self._shape is None:
                self._shape = await self._ask_shape(client)
            source, present = self._shape
            wanted = [f for f in FIELDS[source].values() if f in present]
            order = "" if source == "_meta" else "(order_by: {chain_id: asc})"
            data = await client.query(
                f"query BeltWatchProgress {{ {source}{order} {{ {' '.join(wanted)} }} }}", f"{source} progress"
            )
            try:
                rows = parse_rows(source, present, data.get(source))
            except ValueError as exc:
                raise client.fail(str(exc), f"{source} progress") from None
        except EndpointError as exc:  # its text is redacted already (sources/graphql.py)
            self._shape = None
            message = str(exc)
            return BeltRead(self.name, self.endpoint, at, failure=ReadFailure(_kind(message), message))
        return BeltRead(self.name, self.endpoint, at, source=source, rows=rows)

    async def _ask_shape(self, client: GraphQLClient) -> tuple[str, frozenset[str]]:
        data = await client.query(SHAPE_QUERY, "progress source (introspection)")
        try:
            roots = {f["name"] for f in data["__schema"]["queryType"]["fields"]}
        except (KeyError, TypeError):
            raise client.fail("introspection answer has no query root fields", "progress source") from None
        for source in ("_meta", "chain_metadata"):
            if source in roots:
                typ = data.get(source)
                fields = typ.get("fields") if isinstance(typ, dict) else None
                names = frozenset(f["name"] for f in fields or () if isinstance(f, dict) and "name" in f)
                needed = (FIELDS[source]["chain_id"], FIELDS[source]["processed"])
                missing = [n for n in needed if n not in names]
                if missing:
                    raise client.fail(f"{source} lacks {', '.join(missing)}", "progress source")
                return source, names
        raise client.fail("serves neither _meta nor chain_metadata: not an Envio belt", "progress source")


class HeadReader:
    """Reads one chain's head again and again through one kept-alive RPC client (eth_chainId checked)."""

    def __init__(self, chain_id: int, url: str, timeout: float = 10.0) -> None:
        from belt_gate.sources.rpc import RpcClient

        self.chain_id = chain_id
        self._client = RpcClient(chain_id, url, timeout=timeout, retries=1, backoff=0.1)

    def read(self) -> HeadRead:
        """The chain's head now; a failure is returned inside the HeadRead (redacted), never raised."""
        at = time.time()
        try:
            return HeadRead(self.chain_id, self._client.endpoint, at, head=self._client.heads().head)
        except EndpointError as exc:  # its text is redacted already (sources/rpc.py)
            message = str(exc)
            return HeadRead(self.chain_id, self._client.endpoint, at, failure=ReadFailure(_kind(message), message))

    def close(self) -> None:
        """Close the RPC client's connection."""
        self._client.close()


async def read_heads(readers: Sequence[HeadReader]) -> dict[int, HeadRead]:
    """Every configured chain's head, concurrently (the RPC client is synchronous: one thread each)."""
    reads = await asyncio.gather(*(asyncio.to_thread(r.read) for r in readers))
    return {r.chain_id: r for r in reads}


async def read_all(
    belts: Sequence[BeltReader], heads: Sequence[HeadReader]
) -> tuple[list[BeltRead], dict[int, HeadRead]]:
    """Every belt and every head at once: one moment, as near as the endpoints allow."""
    heads_task = asyncio.ensure_future(read_heads(heads))
    reads = list(await asyncio.gather(*(r.read() for r in belts)))
    return reads, await heads_task


__all__ = [
    "BeltRead",
    "BeltReader",
    "ChainRow",
    "HeadRead",
    "HeadReader",
    "ReadFailure",
    "parse_rows",
    "read_all",
    "read_heads",
]
