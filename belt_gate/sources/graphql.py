"""Hasura/Envio GraphQL dialect: introspection, progress, batched fingerprints, sample rows.

The only module that talks GraphQL to belts. It never decides pass/fail: it returns raw values (as the
belt sent them) or raises EndpointError naming the belt and the redacted endpoint. GraphQL `errors`
inside an HTTP 200 are errors. Every request is counted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
from graphql import get_introspection_query

from belt_gate.dialect import endpoint_shape_problem
from belt_gate.errors import EndpointError
from belt_gate.redact import install_log_filter, redact_text, redact_url
from belt_gate.sources.deadline import Budget, budget_for, describe, new_budget, retry_after
from belt_gate.sources.tls import shared_context

PROGRESS_FIELDS_CHAIN_METADATA = ("chain_id", "block_height", "latest_processed_block")
PROGRESS_FIELDS_META = ("chainId", "progressBlock", "sourceBlock")


@dataclass(repr=False)
class GraphQLClient:
    """One belt's endpoint. `headers` may hold the admin secret; it is never printed (nor is the URL's secret:
    `repr` shows the redacted endpoint only)."""

    belt: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    requests: int = 0
    seconds: float = 0.0
    _client: httpx.AsyncClient | None = None
    _own_budget: Budget | None = None

    def __repr__(self) -> str:
        shown = ", ".join(sorted(self.headers)) if self.headers else "none"
        return f"GraphQLClient({self.belt}, {self.endpoint}, headers: {shown} (values hidden))"

    @property
    def endpoint(self) -> str:
        """The belt's URL redacted, as messages and reprs show it."""
        return redact_url(self.url)

    async def __aenter__(self) -> GraphQLClient:
        install_log_filter()
        # Redirects are never followed: a belt that moved is a failure naming where it points.
        self._client = httpx.AsyncClient(
            timeout=self.timeout, headers=dict(self.headers), follow_redirects=False, verify=shared_context()
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def fail(self, message: str, asked: str) -> EndpointError:
        """An EndpointError naming this belt, its redacted endpoint and what was asked; `message` redacted."""
        return EndpointError(redact_text(message), belt=self.belt, endpoint=self.endpoint, asked=asked)

    def _budget(self) -> Budget:
        run_budget = budget_for(self.url, self.timeout)
        if run_budget is not None:
            return run_budget
        if self._own_budget is None:
            self._own_budget = new_budget(self.timeout)
        return self._own_budget

    async def _post(self, payload: Mapping[str, Any], budget: Budget, asked: str) -> httpx.Response:
        """POST under one overall deadline (the timeout, or what the budget has left); a 429/503 whose
        Retry-After fits in what is left is asked again after that wait. Failures are charged to `budget`."""
        assert self._client is not None, "use `async with GraphQLClient(...)`"
        limit = budget.deadline(self.timeout)
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        while True:
            started = loop.time()
            try:
                async with asyncio.timeout_at(end):
                    response = await self._client.post(self.url, json=dict(payload))
            except (TimeoutError, httpx.TimeoutException):
                reason = f"timed out after {limit:.3g}s"
                budget.charge(loop.time() - started, reason)
                raise self.fail(reason, asked) from None
            except httpx.HTTPError as exc:
                reason = f"HTTP request failed: {describe(exc)}"
                budget.charge(loop.time() - started, reason)
                raise self.fail(reason, asked) from None
            wait = retry_after(response.headers.get("retry-after")) if response.status_code in (429, 503) else None
            if wait is None:
                return response
            reason = f"HTTP {response.status_code}"
            budget.charge(loop.time() - started, reason)
            left = min(end - loop.time(), budget.left())
            if wait > left:
                raise self.fail(
                    f"{reason} (Retry-After {wait:g}s is more than the {max(left, 0):.1f}s left of its deadline)",
                    asked,
                )
            await asyncio.sleep(wait)
            budget.charge(wait, f"{reason} after waiting Retry-After {wait:g}s")

    async def query(self, query: str, asked: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL operation; return `data`, or raise EndpointError (fail closed)."""
        budget = self._budget()
        if budget.dead is not None:
            raise self.fail(budget.dead_message(), asked)
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = dict(variables)
        self.requests += 1
        started = time.perf_counter()
        try:
            response = await self._post(payload, budget, asked)
        finally:
            self.seconds += time.perf_counter() - started
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("location")
            target = redact_url(urljoin(self.url, location)) if location else "no Location header"
            raise self.fail(f"HTTP {status} -> {target} (redirects are not followed)", asked)
        if status != 200:
            raise self.fail(f"HTTP {status}", asked)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self.fail("answered with a body that is not JSON", asked) from None
        if not isinstance(body, dict):
            raise self.fail("answered with JSON that is not an object", asked)
        errors = body.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else errors
            msg = first.get("message", first) if isinstance(first, dict) else first
            more = f" (+{len(errors) - 1} more)" if isinstance(errors, list) and len(errors) > 1 else ""
            # redacted before it is cut: half a secret is no longer recognised
            raise self.fail(f"GraphQL error: {redact_text(str(msg))[:300]}{more}", asked)
        data = body.get("data")
        if not isinstance(data, dict):
            raise self.fail("answered without data", asked)
        return data


async def introspect(client: GraphQLClient) -> dict[str, Any]:
    """The endpoint's introspection result (the `data` of the standard introspection query). An answer
    that is no schema, or the schema of a GraphQL server that is not Hasura/Envio, is an EndpointError
    saying so (not a permission problem further on)."""
    data = await client.query(get_introspection_query(descriptions=False), "introspection")
    problem = endpoint_shape_problem(data)
    if problem is not None:
        raise client.fail(problem, "introspection")
    return data


def progress_query(source: str) -> str:
    """The selection that reads a belt's progress from `source` (`_meta` or `chain_metadata`)."""
    if source == "_meta":
        return "_meta { " + " ".join(PROGRESS_FIELDS_META) + " }"
    return "chain_metadata(order_by: {chain_id: asc}) { " + " ".join(PROGRESS_FIELDS_CHAIN_METADATA) + " }"


def normalise_progress(source: str, rows: object) -> list[dict[str, Any]]:
    """Rows of either progress source as {chain_id, processed, head} with raw values kept."""
    if not isinstance(rows, list):
        raise ValueError(f"{source} is not a list")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError(f"{source} row is not an object")
        if source == "_meta":
            out.append(
                {"chain_id": row.get("chainId"), "processed": row.get("progressBlock"), "head": row.get("sourceBlock")}
            )
        else:
            out.append(
                {
                    "chain_id": row.get("chain_id"),
                    "processed": row.get("latest_processed_block"),
                    "head": row.get("block_height"),
                }
            )
    return out


async def fetch_progress(client: GraphQLClient, source: str) -> list[dict[str, Any]]:
    """A belt's progress rows from `source`, normalised to {chain_id, processed, head}; EndpointError when the answer is
    not rows of that shape."""
    data = await client.query("query BeltProgress { " + progress_query(source) + " }", f"{source} progress")
    key = "_meta" if source == "_meta" else "chain_metadata"
    try:
        return normalise_progress(source, data.get(key))
    except ValueError as exc:
        raise client.fail(str(exc), f"{source} progress") from None


@dataclass(frozen=True)
class Numeric:
    """An integer for a Hasura `numeric` column: sent as a string, as stringified numerics are."""

    value: int


def literal(value: Any) -> str:
    """A GraphQL literal for a Python value (numbers as strings, as Hasura expects for numeric)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Numeric):
        return json.dumps(str(value.value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no GraphQL literal for {value!r}")


Condition = tuple[str, str, Any]  # (column, operator, value), e.g. ("chainId", "_eq", 1)


def _bool_exp(conditions: Sequence[Condition]) -> str:
    """A Hasura bool_exp object with one key per column ({a: {_gt: 1, _lte: 9}}): short to send and to
    parse at 10,000 fields a request; an operator repeated on one column falls back to an `_and` list."""
    by_column: dict[str, dict[str, Any]] = {}
    for col, op, val in conditions:
        if op in by_column.setdefault(col, {}):
            return "{_and: [" + ", ".join(_bool_exp([c]) for c in conditions) + "]}"
        by_column[col][op] = val
    body = ", ".join(
        f"{col}: {{{', '.join(f'{op}: {literal(v)}' for op, v in ops.items())}}}" for col, ops in by_column.items()
    )
    return f"{{{body}}}"


def where_literal(conditions: Sequence[Condition], any_of: Sequence[Sequence[Condition]] = ()) -> str:
    """`where:` argument: the conditions AND-ed, and (when given) an OR of AND-ed groups; '' for none."""
    if not conditions and not any_of:
        return ""
    text = _bool_exp(conditions)
    if any_of:
        groups = f"_or: [{', '.join(_bool_exp(g) for g in any_of)}]"
        text = f"{{{groups}}}" if not conditions else f"{text[:-1]}, {groups}}}"
    return f"where: {text}"


@dataclass(frozen=True)
class AggregateAsk:
    """One aliased `X_aggregate` field of a batched fingerprint request."""

    alias: str
    entity: str
    conditions: tuple[Condition, ...]
    sum_columns: tuple[str, ...]
    minmax_columns: tuple[str, ...]

    @property
    def signature(self) -> str:
        """The field without its alias, selection inlined: the key a recording stores the answer under."""
        return self.render().split(": ", 1)[1]

    def selection(self) -> str:
        """The aggregate's selection set: count, and sum / min / max of the columns asked."""
        parts = ["count"]
        if self.sum_columns:
            parts.append("sum { " + " ".join(self.sum_columns) + " }")
        if self.minmax_columns:
            cols = " ".join(self.minmax_columns)
            parts.append(f"min {{ {cols} }} max {{ {cols} }}")
        return " ".join(parts)

    def render(self, fragment: str | None = None) -> str:
        """The aliased field; with `fragment`, its aggregate selection is that fragment's spread."""
        where = where_literal(self.conditions)
        args = f"({where})" if where else ""
        inner = f"...{fragment}" if fragment else self.selection()
        return f"{self.alias}: {self.entity}_aggregate{args} {{ aggregate {{ {inner} }} }}"


async def fetch_aggregates(
    client: GraphQLClient, asks: Sequence[AggregateAsk], *, with_progress: str | None = None
) -> dict[str, Any]:
    """All asks in ONE request (plus the progress source, read in the same transaction). Each entity's
    selection (count, sums, mins, maxes) is written once, as a fragment, not once per chain."""
    if not asks and not with_progress:
        return {}
    fragments: dict[tuple[str, str], str] = {}
    fields = []
    for a in asks:
        name = fragments.setdefault((a.entity, a.selection()), f"F{len(fragments)}")
        fields.append(a.render(name))
    body = " ".join(fields)
    if with_progress:
        body = f"_progress: {progress_query(with_progress)} {body}"
    defs = " ".join(
        f"fragment {name} on {entity}_aggregate_fields {{ {selection} }}"
        for (entity, selection), name in fragments.items()
    )
    return await client.query(f"query BeltFingerprints {{ {body} }} {defs}".rstrip(), f"{len(asks)} fingerprints")


@dataclass(frozen=True)
class RowsAsk:
    """One aliased list query of a batched sample request."""

    alias: str
    entity: str
    columns: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    order_by_id: bool = True
    limit: int | None = None
    offset: int | None = None
    any_of: tuple[tuple[Condition, ...], ...] = ()  # rows of several slices in one field

    @property
    def signature(self) -> str:
        """The ask without its alias: the key a recording files its answer under."""
        return self.render().split(": ", 1)[1]

    def render(self) -> str:
        """The aliased list field of this ask, with its where, order, limit and offset."""
        args = []
        where = where_literal(self.conditions, self.any_of)
        if where:
            args.append(where)
        if self.order_by_id:
            args.append("order_by: {id: asc}")
        if self.limit is not None:
            args.append(f"limit: {self.limit}")
        if self.offset is not None:
            args.append(f"offset: {self.offset}")
        arg_text = f"({', '.join(args)})" if args else ""
        return f"{self.alias}: {self.entity}{arg_text} {{ {' '.join(self.columns)} }}"


async def fetch_rows(client: GraphQLClient, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
    """All `asks` in one GraphQL request: alias -> rows (nothing sent when there are none)."""
    if not asks:
        return {}
    return await client.query("query BeltRows { " + " ".join(a.render() for a in asks) + " }", asked)


async def gather_belts(*coros: Any) -> list[Any]:
    """Run per-belt fetches concurrently; exceptions are returned, not raised (each belt fails alone)."""
    return list(await asyncio.gather(*coros, return_exceptions=True))
