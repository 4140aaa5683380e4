"""A belt's GraphQL endpoint for a team's own checks: what the `belt_blue` / `belt_green` fixtures give.

Synchronous (a plain test calls it), with GraphQLClient's fail-closed answers: HTTP errors, GraphQL
`errors`, missing `data` raise EndpointError naming the belt and the redacted endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from belt_gate.redact import redact_url
from belt_gate.sources.graphql import GraphQLClient


class BeltClient:
    """`belt.query("{ Loan { id } }")` -> the answer's `data`; `belt.rows("Loan", where=..., fields=...)`."""

    def __init__(self, belt: str, url: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> None:
        self.belt = belt
        self._url = url
        self._headers = dict(headers or {})
        self.timeout = timeout

    @property
    def endpoint(self) -> str:
        """The URL, redacted (what output may show)."""
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"BeltClient({self.belt}, {self.endpoint})"

    def query(
        self, query: str, variables: Mapping[str, Any] | None = None, *, asked: str = "a team check"
    ) -> dict[str, Any]:
        """POST one GraphQL operation; its `data`, or EndpointError."""

        async def ask() -> dict[str, Any]:
            async with GraphQLClient(self.belt, self._url, self._headers, self.timeout) as client:
                return await client.query(query, asked, variables)

        return asyncio.run(ask())

    def rows(
        self,
        entity: str,
        *,
        fields: Sequence[str] = ("id",),
        where: Mapping[str, Any] | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Rows of `entity` (Hasura `where` as a mapping, passed as a variable), ordered by id."""
        query = (
            f"query Rows($where: {entity}_bool_exp, $limit: Int) {{ {entity}(where: $where, limit: $limit, "
            f"order_by: {{id: asc}}) {{ {' '.join(fields)} }} }}"
        )
        data = self.query(query, {"where": dict(where or {}), "limit": limit}, asked=f"{entity} rows")
        found = data.get(entity)
        if not isinstance(found, list):
            from belt_gate.errors import EndpointError

            raise EndpointError(f"no list of {entity} rows in the answer", belt=self.belt, endpoint=self.endpoint)
        return found
