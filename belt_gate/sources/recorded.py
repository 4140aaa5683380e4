"""Belt sources: live GraphQL, recording a live run to a file, and replaying a recorded file offline.

A recording stores each answer under the alias-free text of what was asked, so a replay answers the same
questions and fails closed (EndpointError) on any question the recording cannot answer.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from belt_gate.errors import EndpointError, SettingsError
from belt_gate.redact import redact_text, redact_url
from belt_gate.sources import graphql as gql
from belt_gate.sources.graphql import AggregateAsk, GraphQLClient, RowsAsk

FORMAT = "belt-gate-recording/1"
#: key prefix of the progress read in the same request as the fingerprints (reconciliation C's "moved while read")
AGGREGATE_PROGRESS = "progress-with-aggregates:"


class BeltSource(Protocol):
    """What the snapshot reads a belt through: live over GraphQL (LiveSource) or from a recording (RecordedSource), with
    the same answers and the same errors either way."""

    belt: str
    endpoint: str

    @property
    def requests(self) -> int:
        """How many requests the belt was sent (or, replayed, would have been)."""

    @property
    def seconds(self) -> float:
        """Seconds spent waiting on the belt."""

    async def introspect(self) -> dict[str, Any]:
        """The belt's introspection result."""

    async def progress(self, source: str) -> list[dict[str, Any]]:
        """The belt's progress rows from `source` (`_meta` or `chain_metadata`), normalised."""

    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]:
        """Every aggregate ask in one request, alias -> answer; with `with_progress` the progress read in the same
        request, under `_progress`."""

    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
        """Every row ask in one request, alias -> rows."""


class LiveSource:
    """A belt read over GraphQL; with a recording, each answer (and each failure, redacted) is kept for a replay."""

    def __init__(self, client: GraphQLClient, recording: dict[str, Any] | None = None) -> None:
        self.client = client
        self.belt = client.belt
        self.endpoint = client.endpoint
        self._rec = recording

    @property
    def requests(self) -> int:
        """How many requests the client sent."""
        return self.client.requests

    @property
    def seconds(self) -> float:
        """Seconds the client spent waiting on the belt."""
        return self.client.seconds

    def _store(self, key: str, value: Any) -> None:
        if self._rec is not None:
            self._rec["answers"][key] = value
            self._rec.get(ERRORS_SECTION, {}).pop(key, None)

    def _failed(self, keys: Sequence[str], exc: EndpointError) -> None:
        """A question that failed is recorded as failed, so a replay fails it with the same words."""
        if self._rec is not None:
            for key in keys:
                self._rec.setdefault(ERRORS_SECTION, {})[key] = redact_text(str(exc))

    async def introspect(self) -> dict[str, Any]:
        """The belt's introspection, recorded; a failure is recorded too, then raised."""
        try:
            result = await gql.introspect(self.client)
        except EndpointError as exc:
            self._failed(["introspection"], exc)
            raise
        self._store("introspection", result)
        return result

    async def progress(self, source: str) -> list[dict[str, Any]]:
        """The belt's progress from `source`, recorded; a failure is recorded too, then raised."""
        try:
            result = await gql.fetch_progress(self.client, source)
        except EndpointError as exc:
            self._failed([f"progress:{source}"], exc)
            raise
        self._store(f"progress:{source}", result)
        return result

    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]:
        """The aggregates in one request (with the progress when asked), each answer recorded under its ask's signature;
        a failure is recorded for every ask, then raised."""
        keys = [f"aggregate:{a.signature}" for a in asks]
        try:
            data = await gql.fetch_aggregates(self.client, asks, with_progress=with_progress)
        except EndpointError as exc:
            self._failed(keys, exc)
            raise
        for key, a in zip(keys, asks, strict=True):
            self._store(key, data.get(a.alias))
        if with_progress:
            try:
                data["_progress"] = gql.normalise_progress(with_progress, data.get("_progress"))
            except ValueError as exc:
                raise self.client.fail(str(exc), f"{with_progress} progress") from None
            # its own key: the progress read before (the cutoffs') may differ from this one
            self._store(f"{AGGREGATE_PROGRESS}{with_progress}", data["_progress"])
        return data

    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
        """The rows in one request, each answer recorded under its ask's signature; a failure is recorded for every ask,
        then raised."""
        keys = [f"rows:{a.signature}" for a in asks]
        try:
            data = await gql.fetch_rows(self.client, asks, asked)
        except EndpointError as exc:
            self._failed(keys, exc)
            raise
        for key, a in zip(keys, asks, strict=True):
            self._store(key, data.get(a.alias))
        return data


class RecordedSource:
    """Answers from a recording file; anything not recorded is an EndpointError (fail closed)."""

    def __init__(self, belt: str, path: Path, doc: Mapping[str, Any] | None = None) -> None:
        """`doc`: the recording already read from `path` (default: read it now)."""
        self.belt = belt
        doc = read_recording(belt, path) if doc is None else doc
        # named as the recorded run named it, so a replay's verdicts read as the run's did
        self.endpoint = str(doc.get("endpoint") or f"recording {path.name}")
        self.requests = 0
        self.seconds = 0.0
        self._answers: Mapping[str, Any] = doc.get("answers", {})
        self._errors: Mapping[str, Any] = doc.get(ERRORS_SECTION, {})

    def _get(self, key: str, asked: str) -> Any:
        if key in self._errors:
            raise EndpointError(str(self._errors[key]))
        if key not in self._answers:
            raise EndpointError(
                "the recording has no answer for this question", belt=self.belt, endpoint=self.endpoint, asked=asked
            )
        return self._answers[key]

    async def introspect(self) -> dict[str, Any]:
        """The recorded introspection; EndpointError when it is missing or not an object."""
        self.requests += 1
        result = self._get("introspection", "introspection")
        if not isinstance(result, dict):  # a hand-edited or truncated recording fails closed, on one line
            raise EndpointError("the recorded introspection is not an object", belt=self.belt, endpoint=self.endpoint)
        return result

    async def progress(self, source: str) -> list[dict[str, Any]]:
        """The recorded progress from `source`; EndpointError when it is missing or not a list."""
        self.requests += 1
        result = self._get(f"progress:{source}", f"{source} progress")
        if not isinstance(result, list):
            raise EndpointError(f"the recorded {source} progress is not a list", belt=self.belt, endpoint=self.endpoint)
        return result

    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]:
        """The recorded answers to the asks (one request counted, as live), with the recorded progress when asked; an
        ask not recorded is an EndpointError."""
        self.requests += 1  # one request carried them all, as live
        out = {a.alias: self._get(f"aggregate:{a.signature}", a.signature) for a in asks}
        if with_progress:
            key = f"{AGGREGATE_PROGRESS}{with_progress}"
            if key not in self._answers:  # a recording made before the two reads were kept apart
                key = f"progress:{with_progress}"
            out["_progress"] = self._get(key, f"{with_progress} progress")
        return out

    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
        """The recorded rows of each ask (one request counted); an ask not recorded is an EndpointError."""
        self.requests += 1
        return {a.alias: self._get(f"rows:{a.signature}", a.signature) for a in asks}


def new_recording(belt: str, endpoint: str) -> dict[str, Any]:
    """An empty recording of one belt, to be filled by a LiveSource."""
    return {"format": FORMAT, "belt": belt, "endpoint": endpoint, "answers": {}}


def write_recording(directory: Path, belt: str, recording: Mapping[str, Any]) -> Path:
    """Write a belt's recording as `<directory>/<belt>.json` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{belt}.json"
    path.write_text(json.dumps(recording, indent=1, sort_keys=True))
    return path


# ---------------------------------------------------------------------------------------------------
# The tape: what a run asks beyond the snapshot's belt questions, live, recorded, or replayed.
#
# The chains' JSON-RPC is kept per chain as exchanges (canonical request body -> the answers given, in
# order) under green's recording ("rpc"); the L1 checks' GraphQL questions to a belt (golden entities,
# audit window counts) under that belt's answers ("query:<text>"), as are the errors they met. A replay
# answers both from the files through the very same clients (the RPC client gets a transport that reads
# the tape), so retries, chain-id checks and error texts are those of the recorded run, and nothing
# leaves the process: a question the tape cannot answer is a failure naming the recording.

RPC_SECTION = "rpc"
ERRORS_SECTION = "errors"


def _rpc_key(content: bytes) -> str:
    try:
        return json.dumps(json.loads(content), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return content.decode("utf-8", "replace")


class _Exchanges:
    """One chain's recorded JSON-RPC exchanges, shared by every client of that chain in one run."""

    def __init__(self, exchanges: dict[str, list[dict[str, Any]]]) -> None:
        self.exchanges = exchanges
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, key: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self.exchanges.setdefault(key, []).append(answer)

    def take(self, key: str) -> dict[str, Any] | None:
        """The next recorded answer to this request (answers are given in the recorded order)."""
        with self._lock:
            answers = self.exchanges.get(key) or []
            n = self._next.get(key, 0)
            if n >= len(answers):
                return None
            self._next[key] = n + 1
            return answers[n]


def _answer(status: int, content: bytes) -> dict[str, Any]:
    try:
        return {"status": status, "body": content.decode("utf-8")}
    except UnicodeDecodeError:
        return {"status": status, "body_b64": base64.b64encode(content).decode()}


def _transport_error(answer: Mapping[str, Any], request: httpx.Request) -> httpx.TransportError:
    kind = getattr(httpx, str(answer.get("error")), None)
    if not (isinstance(kind, type) and issubclass(kind, httpx.TransportError)):
        kind = httpx.ConnectError
    return kind(str(answer.get("message", "")), request=request)


class RecordingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """The live network, keeping every exchange (and every transport error) on the tape."""

    def __init__(self, exchanges: _Exchanges, inner: Any = None) -> None:
        """`inner`: the transport that really answers (default: httpx's own, made when first needed)."""
        self._exchanges = exchanges
        self._sync: Any = inner
        self._async: Any = inner

    def _failed(self, key: str, exc: httpx.TransportError) -> None:
        self._exchanges.add(key, {"error": type(exc).__name__, "message": redact_text(str(exc))})

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request on the network and keep its answer (or its transport error) on the tape."""
        self._sync = self._sync or httpx.HTTPTransport()
        key = _rpc_key(request.read())
        try:
            response = self._sync.handle_request(request)
            content = response.read()
        except httpx.TransportError as exc:
            self._failed(key, exc)
            raise
        self._exchanges.add(key, _answer(response.status_code, content))
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request on the network and keep its answer (or its transport error) on the tape."""
        self._async = self._async or httpx.AsyncHTTPTransport()
        key = _rpc_key(await request.aread())
        try:
            response = await self._async.handle_async_request(request)
            content = await response.aread()
        except httpx.TransportError as exc:
            self._failed(key, exc)
            raise
        self._exchanges.add(key, _answer(response.status_code, content))
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        """Close the synchronous transport, if one was made."""
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        """Close the asynchronous transport, if one was made."""
        if self._async is not None:
            await self._async.aclose()


class ReplayTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers from the tape only; never opens a connection."""

    def __init__(self, exchanges: _Exchanges, recording: str) -> None:
        self._exchanges = exchanges
        self._recording = recording

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """The tape's next answer to this very request body; a request the tape does not hold (or no longer holds) is a
        connection error, and a recorded transport error is raised again."""
        answer = self._exchanges.take(_rpc_key(request.read()))
        if answer is None:
            raise httpx.ConnectError(f"{self._recording} has no (further) answer to this request", request=request)
        if "error" in answer:
            raise _transport_error(answer, request)
        content = base64.b64decode(answer["body_b64"]) if "body_b64" in answer else str(answer["body"]).encode()
        return httpx.Response(int(answer["status"]), content=content, headers={"content-type": "application/json"})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """As `handle_request`: a replay does no I/O."""
        return self.handle_request(request)


class Tape:
    """One run's I/O beyond the snapshot's belt questions: live, recording (`--belt-record`), or replaying
    (green is a recording that holds the chains' answers: then every RPC answer comes from it, whatever
    RPC URLs the settings name, and none is asked live)."""

    def __init__(
        self,
        *,
        recordings: Mapping[str, dict[str, Any]] | None = None,
        files: Mapping[str, Mapping[str, Any]] | None = None,
        file_names: Mapping[str, str] | None = None,
    ) -> None:
        self._recordings = dict(recordings or {})  # belt -> the recording being made (live belts)
        self._files = dict(files or {})  # belt -> a recording being replayed
        self._file_names = dict(file_names or {})
        self._paths: dict[str, Path] = {}
        self._chains: dict[int, _Exchanges] = {}
        green = self._recordings.get("green")
        rpc = (self._files.get("green") or {}).get(RPC_SECTION)
        self.replaying = isinstance(rpc, Mapping)
        self._rpc_doc: dict[str, Any] | None = None
        if self.replaying:
            assert isinstance(rpc, Mapping)
            self._rpc_doc = {str(k): v for k, v in rpc.items()}
        elif green is not None:
            self._rpc_doc = green.setdefault(RPC_SECTION, {})

    @classmethod
    def open(cls, settings: Any) -> Tape:
        """From `Settings`: recordings for live belts when `record` is set; recorded belts' files read."""
        recordings: dict[str, dict[str, Any]] = {}
        files: dict[str, Mapping[str, Any]] = {}
        names: dict[str, str] = {}
        paths: dict[str, Path] = {}
        for belt in ("blue", "green"):
            target, _ = settings.target(belt)
            if not settings.recorded(belt):
                if settings.record:
                    recordings[belt] = new_recording(belt, recorded_name(target))
                continue
            paths[belt] = Path(target)
            files[belt] = read_recording(belt, paths[belt])
            names[belt] = f"recording {paths[belt].name}"
        tape = cls(recordings=recordings, files=files, file_names=names)
        tape._paths = paths
        return tape

    def source(self, belt: str, target: str, headers: Mapping[str, str], timeout: float) -> BeltSource:
        """The snapshot's source of a belt: its recording when it is replayed (read once, by `open`), else
        its live endpoint, recorded into this tape's recording of it when the run records."""
        doc = self._files.get(belt)
        if doc is not None:
            return RecordedSource(belt, self._paths.get(belt, Path(target)), doc)
        client = GraphQLClient(belt, target, headers=headers, timeout=timeout)
        return LiveSource(client, self._recordings.get(belt))

    # -- belts
    def recording(self, belt: str) -> dict[str, Any] | None:
        """The recording a live belt's answers go into (None: not recording)."""
        return self._recordings.get(belt)

    def endpoint(self, belt: str, target: str) -> str:
        """How verdicts name the belt: its redacted URL (a replay: the one recorded)."""
        doc = self._files.get(belt)
        if doc is not None:
            return str(doc.get("endpoint") or self._file_names.get(belt) or belt)
        return recorded_name(target)

    async def query(
        self, belt: str, target: str, headers: Mapping[str, str], timeout: float, text: str, asked: str
    ) -> dict[str, Any]:
        """One GraphQL question to a belt (the L1 checks' own), answered live or from its recording."""
        key = f"query:{text}"
        doc = self._files.get(belt)
        if doc is not None:
            errors = doc.get(ERRORS_SECTION) or {}
            if key in errors:
                raise EndpointError(str(errors[key]))
            answers = doc.get("answers") or {}
            if key not in answers:
                raise EndpointError(
                    "the recording has no answer for this question",
                    belt=belt,
                    endpoint=self.endpoint(belt, target),
                    asked=asked,
                )
            data = answers[key]
            if not isinstance(data, dict):
                raise EndpointError("the recorded answer is not an object", belt=belt, asked=asked)
            return data
        rec = self._recordings.get(belt)
        try:
            async with GraphQLClient(belt, target, headers=headers, timeout=timeout) as client:
                data = await client.query(text, asked)
        except EndpointError as exc:
            if rec is not None:
                rec.setdefault(ERRORS_SECTION, {})[key] = redact_text(str(exc))
            raise
        if rec is not None:
            rec["answers"][key] = data
        return data

    # -- chains
    def rpc_urls(self, live: Mapping[int, str]) -> dict[int, str]:
        """The chains a run may ask and the URL each is named by: the recorded ones when replaying."""
        if not self.replaying or self._rpc_doc is None:
            return dict(live)
        return {int(c): str(v.get("endpoint") or f"recorded chain {c}") for c, v in self._rpc_doc.items()}

    def settings(self, settings: Any) -> Any:
        """`settings` with the RPCs this run may ask (a replay: exactly the recorded chains)."""
        if not self.replaying:
            return settings
        return dataclasses.replace(settings, rpc=self.rpc_urls(settings.rpc))

    def _exchanges(self, chain: int, url: str) -> _Exchanges | None:
        if self._rpc_doc is None:
            return None
        if chain not in self._chains:
            entry = self._rpc_doc.get(str(chain))
            if entry is None:
                if self.replaying:
                    entry = {"endpoint": recorded_name(url), "exchanges": {}}
                else:
                    entry = self._rpc_doc.setdefault(str(chain), {"endpoint": recorded_name(url), "exchanges": {}})
            self._chains[chain] = _Exchanges(entry.setdefault("exchanges", {}))
        return self._chains[chain]

    def rpc_transport(self, chain: int, url: str, inner: Any = None) -> RecordingTransport | ReplayTransport | None:
        """The transport an RPC client of `chain` must use (None: the plain network; `inner`: what a
        recording transport asks instead of the network, for tests)."""
        exchanges = self._exchanges(chain, url)
        if exchanges is None:
            return None
        if self.replaying:
            return ReplayTransport(exchanges, self._file_names.get("green", "the recording"))
        return RecordingTransport(exchanges, inner)

    def rpc(self, chain: int, url: str, **options: Any) -> Any:
        """An RpcClient for `chain` on this tape (a replay never waits between its retries)."""
        from belt_gate.sources.rpc import RpcClient

        transport = self.rpc_transport(chain, url)
        if transport is not None:
            options["transport"] = transport
        if not self.replaying:
            return RpcClient(chain, url, **options)
        options.setdefault("sleep", lambda _seconds: None)
        # the recorded name may be masked whole ("***"): the client gets a URL that is never dialled
        placeholder = url if url.startswith(("http://", "https://")) else f"http://recorded.invalid/chain/{chain}"
        client = RpcClient(chain, placeholder, **options)
        client.endpoint = url
        return client


def recorded_name(url: str) -> str:
    """How a recording names an endpoint: redacted as every output names it (a URL that is a secret whole,
    e.g. from the environment, shows only scheme://host:port/***), so no recording holds more."""
    return redact_url(url)


def read_recording(belt: str, path: Path) -> dict[str, Any]:
    """A recording file's document, or SettingsError naming it (one line)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingsError(f"--belt-{belt}: cannot read recording {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SettingsError(f"--belt-{belt}: {path} is not a belt_gate recording ({FORMAT})")
    return doc
