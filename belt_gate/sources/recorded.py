"""Belt sources: live GraphQL, recording a live run to a file, and replaying a recorded file offline.

A recording stores each answer under the alias-free text of what was asked, so a replay answers the same
questions and fails closed (EndpointError) on any question the recording cannot answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from belt_gate.errors import EndpointError, SettingsError
from belt_gate.sources import graphql as gql
from belt_gate.sources.graphql import AggregateAsk, GraphQLClient, RowsAsk

FORMAT = "belt-gate-recording/1"


class BeltSource(Protocol):
    belt: str
    endpoint: str

    @property
    def requests(self) -> int: ...
    @property
    def seconds(self) -> float: ...

    async def introspect(self) -> dict[str, Any]: ...
    async def progress(self, source: str) -> list[dict[str, Any]]: ...
    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]: ...
    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]: ...


class LiveSource:
    def __init__(self, client: GraphQLClient, recording: dict[str, Any] | None = None) -> None:
        self.client = client
        self.belt = client.belt
        self.endpoint = client.endpoint
        self._rec = recording

    @property
    def requests(self) -> int:
        return self.client.requests

    @property
    def seconds(self) -> float:
        return self.client.seconds

    def _store(self, key: str, value: Any) -> None:
        if self._rec is not None:
            self._rec["answers"][key] = value

    async def introspect(self) -> dict[str, Any]:
        result = await gql.introspect(self.client)
        self._store("introspection", result)
        return result

    async def progress(self, source: str) -> list[dict[str, Any]]:
        result = await gql.fetch_progress(self.client, source)
        self._store(f"progress:{source}", result)
        return result

    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]:
        data = await gql.fetch_aggregates(self.client, asks, with_progress=with_progress)
        for a in asks:
            self._store(f"aggregate:{a.signature}", data.get(a.alias))
        if with_progress:
            try:
                data["_progress"] = gql.normalise_progress(with_progress, data.get("_progress"))
            except ValueError as exc:
                raise self.client.fail(str(exc), f"{with_progress} progress") from None
            self._store(f"progress:{with_progress}", data["_progress"])
        return data

    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
        data = await gql.fetch_rows(self.client, asks, asked)
        for a in asks:
            self._store(f"rows:{a.signature}", data.get(a.alias))
        return data


class RecordedSource:
    """Answers from a recording file; anything not recorded is an EndpointError (fail closed)."""

    def __init__(self, belt: str, path: Path) -> None:
        self.belt = belt
        self.endpoint = f"recording {path.name}"
        self.requests = 0
        self.seconds = 0.0
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SettingsError(f"--belt-{belt}: cannot read recording {path}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise SettingsError(f"--belt-{belt}: {path} is not a belt_gate recording ({FORMAT})")
        self._answers: Mapping[str, Any] = doc.get("answers", {})

    def _get(self, key: str, asked: str) -> Any:
        if key not in self._answers:
            raise EndpointError(
                "the recording has no answer for this question", belt=self.belt, endpoint=self.endpoint, asked=asked
            )
        return self._answers[key]

    async def introspect(self) -> dict[str, Any]:
        self.requests += 1
        result = self._get("introspection", "introspection")
        assert isinstance(result, dict)
        return result

    async def progress(self, source: str) -> list[dict[str, Any]]:
        self.requests += 1
        result = self._get(f"progress:{source}", f"{source} progress")
        assert isinstance(result, list)
        return result

    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]:
        self.requests += 1  # one request carried them all, as live
        out = {a.alias: self._get(f"aggregate:{a.signature}", a.signature) for a in asks}
        if with_progress:
            out["_progress"] = self._get(f"progress:{with_progress}", f"{with_progress} progress")
        return out

    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
        self.requests += 1
        return {a.alias: self._get(f"rows:{a.signature}", a.signature) for a in asks}


def new_recording(belt: str, endpoint: str) -> dict[str, Any]:
    return {"format": FORMAT, "belt": belt, "endpoint": endpoint, "answers": {}}


def write_recording(directory: Path, belt: str, recording: Mapping[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{belt}.json"
    path.write_text(json.dumps(recording, indent=1, sort_keys=True))
    return path
