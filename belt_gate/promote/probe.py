"""Watching the alias as consumers do: which belt answers, the cutover probe, and the verification.

A belt is told by its answer to the progress question (chain set, and processed block per chain): the
answer through the alias is compared with blue's and green's direct answers read before and after it.
Chain sets that differ decide at once; equal chain sets are told apart by progress lying within one
belt's range and not the other's; otherwise the answer is `either` (indistinguishable) or `unknown`.

- `cutover`: while the swap is made, a few keep-alive connections (one httpx client each, no retries)
  send real GraphQL requests through the alias; bounded in time; counts failures and who answered.
- `verify`: after the swap, fresh connections through the alias for `window` seconds: each answer must
  be green's (chain set equal, progress within green's direct reads around it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from belt_gate.errors import EndpointError, SwapError
from belt_gate.sources.graphql import GraphQLClient, fetch_progress

BLUE, GREEN, EITHER, UNKNOWN = "blue", "green", "either", "unknown"


class NotSwapped(SwapError):
    """The probe's first answers through the alias forbade the swap (the precheck's reason); nothing changed."""


@dataclass(frozen=True)
class Reading:
    """One answer to the progress question: chain id -> processed block."""

    processed: Mapping[int, int]

    @property
    def chains(self) -> frozenset[int]:
        """The chains the answer named."""
        return frozenset(self.processed)

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> Reading:
        """A reading from progress rows (`chain_id`, `processed`); ValueError when a row lacks a whole number for
        either, or there is no row."""
        out: dict[int, int] = {}
        for row in rows:
            try:
                chain, block = int(str(row["chain_id"])), int(str(row["processed"]))
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"progress row without a whole chain id and processed block: {row!r}") from None
            out[chain] = block
        if not out:
            raise ValueError("no chains in the progress answer")
        return cls(out)

    def describe(self) -> str:
        """How many chains and which, for a refusal's text."""
        return f"{len(self.processed)} chains ({', '.join(str(c) for c in sorted(self.processed))})"


@dataclass
class Span:
    """A belt's direct readings (progress only moves forward): the range its answers may lie in."""

    readings: list[Reading] = field(default_factory=list)

    def add(self, reading: Reading) -> None:
        """Keep one more direct reading of the belt."""
        self.readings.append(reading)

    def chains(self) -> frozenset[int] | None:
        """The chains of the latest reading, None before any."""
        return self.readings[-1].chains if self.readings else None

    def holds(self, reading: Reading) -> bool:
        """Whether `reading` could be this belt's: the same chains, each block within the range the belt's own readings
        spanned."""
        if not self.readings or reading.chains != self.chains():
            return False
        lo = {c: min(r.processed.get(c, 0) for r in self.readings) for c in reading.chains}
        hi = {c: max(r.processed.get(c, 0) for r in self.readings) for c in reading.chains}
        return all(lo[c] <= b <= hi[c] for c, b in reading.processed.items())


def classify(reading: Reading, blue: Span, green: Span) -> str:
    """`blue`, `green`, `either` (cannot be told apart) or `unknown` (neither's answer)."""
    bc, gc = blue.chains(), green.chains()
    if bc != gc:
        if reading.chains == gc:
            return GREEN
        if reading.chains == bc:
            return BLUE
        return UNKNOWN
    in_b, in_g = blue.holds(reading), green.holds(reading)
    if in_b and in_g:
        return EITHER
    return GREEN if in_g else BLUE if in_b else (EITHER if reading.chains == gc else UNKNOWN)


@dataclass
class Endpoint:
    """Where and how to ask one belt (or the alias) the progress question."""

    name: str
    url: str
    headers: Mapping[str, str]
    source: str = "chain_metadata"
    timeout: float = 5.0

    def client(self) -> GraphQLClient:
        """A fresh GraphQL client for this endpoint (use it with `async with`)."""
        return GraphQLClient(self.name, self.url, self.headers, self.timeout)


async def read(endpoint: Endpoint, client: GraphQLClient | None = None) -> Reading:
    """One reading (a fresh connection unless `client` is given); EndpointError when it does not answer right."""
    if client is None:
        async with endpoint.client() as fresh:
            return await read(endpoint, fresh)
    rows = await fetch_progress(client, endpoint.source)
    try:
        return Reading.from_rows(rows)
    except ValueError as e:
        raise client.fail(str(e), f"{endpoint.source} progress") from None


# -- the cutover probe ---------------------------------------------------------------------------


@dataclass
class CutoverFigures:
    """What the consumers' side saw while the alias moved (times in ms, from the start of the swap call)."""

    connections: int = 0
    requests: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    switch_ms: float | None = None
    first_green_ms: float | None = None
    all_green_ms: float | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON for the ledger (numbers with a fraction rounded to two decimals)."""
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in self.__dict__.items()}

    def line(self) -> str:
        """The figures as the one line promotion prints: requests, connections, failures by kind, who answered, how soon
        green did."""
        who = ", ".join(f"{k} {v}" for k, v in sorted(self.answers.items())) or "no answers"
        first = f"; first green answer {self.first_green_ms:.1f} ms after the swap began" if self.first_green_ms else ""
        fails = f" ({', '.join(f'{k} {v}' for k, v in sorted(self.failures.items()))})" if self.failures else ""
        return (
            f"cutover probe: {self.requests} requests on {self.connections} keep-alive connections through the "
            f"alias, {self.failed} failed{fails}; answered by {who}{first}"
        )


class Cutover:
    """Keep-alive traffic through the alias around a swap: `start()` early (its connections warm up while
    the guard reads the belts), then `run(swap)`. Answers are kept as readings and told apart when asked,
    against the belts' spans as they are then (spans only grow), so traffic can begin before them."""

    def __init__(self, alias: Endpoint, blue: Span, green: Span, *, connections: int = 2) -> None:
        self.alias, self.blue, self.green = alias, blue, green
        self.figures = CutoverFigures(connections=connections)
        self._seen: list[list[tuple[float, Reading]]] = [[] for _ in range(connections)]
        self._failures: Counter[str] = Counter()
        self._answered = [asyncio.Event() for _ in range(connections)]
        self._done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._began = time.monotonic()

    def start(self) -> None:
        """Start one consumer per connection, each asking the progress question through the alias until the
        probe ends."""
        self._tasks = [asyncio.create_task(self._consumer(i)) for i in range(len(self._seen))]

    async def _consumer(self, i: int) -> None:
        async with self.alias.client() as client:  # one client: its keep-alive connection is reused
            while not self._done.is_set():
                try:
                    reading = await read(self.alias, client)
                except EndpointError as e:
                    self._failures[_kind(str(e))] += 1
                    self.figures.failed += 1
                else:
                    self._seen[i].append((time.monotonic(), reading))
                    self._answered[i].set()
                self.figures.requests += 1
                await asyncio.sleep(0)

    def _who(self, reading: Reading) -> str:
        return classify(reading, self.blue, self.green)

    async def stop(self) -> CutoverFigures:
        """End the traffic (once; later calls return the same figures)."""
        if self._done.is_set():
            return self.figures
        self._done.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        answers: Counter[str] = Counter(self._who(r) for seen in self._seen for _, r in seen)
        self.figures.failures = dict(self._failures)
        self.figures.answers = dict(answers)
        self.figures.seconds = time.monotonic() - self._began
        return self.figures

    async def run(
        self,
        swap: Callable[[], Awaitable[None]],
        *,
        precheck: Callable[[list[str]], str | None] | None = None,
        warmup: float = 0.05,
        settle: float = 2.0,
    ) -> tuple[CutoverFigures, BaseException | None]:
        """Swap while the traffic runs; stop once every connection got green's answer (or `settle` s after
        the swap). Returns the figures and what `swap` raised (if it did). `swap` is not called when the
        alias gives no good answer before it (SwapError) or when `precheck`, given who answered each
        connection's first request, names a reason (NotSwapped)."""
        n = len(self._seen)
        error: BaseException | None = None
        try:
            try:
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self._answered)), timeout=5.0)
            except TimeoutError:
                return await self.stop(), SwapError(
                    f"the alias gave no good answer on {n - sum(e.is_set() for e in self._answered)} of {n} "
                    f"probe connections within 5 s before the swap ({dict(self._failures)}); not switched"
                )
            reason = precheck([self._who(seen[0][1]) for seen in self._seen]) if precheck is not None else None
            if reason:
                return await self.stop(), NotSwapped(reason)
            await asyncio.sleep(warmup)
            swap_at = time.monotonic()
            try:
                await swap()
            except BaseException as e:  # reported after the probe has stopped
                error = e
            self.figures.switch_ms = (time.monotonic() - swap_at) * 1000
            deadline = time.monotonic() + settle
            while error is None and time.monotonic() < deadline:
                lasts = [seen[-1] for seen in self._seen]
                if all(t > swap_at and self._who(r) in (GREEN, EITHER) for t, r in lasts):
                    self.figures.all_green_ms = (time.monotonic() - swap_at) * 1000
                    break
                await asyncio.sleep(0.005)
        finally:
            figures = await self.stop()
        if error is None:
            greens = [t for seen in self._seen for t, r in seen if t > swap_at and self._who(r) == GREEN]
            figures.first_green_ms = (min(greens) - swap_at) * 1000 if greens else None
        return figures, error


def _kind(message: str) -> str:
    for kind in ("timed out", "HTTP 5", "HTTP 4", "HTTP request failed", "GraphQL error", "not JSON", "without data"):
        if kind in message:
            return kind.replace("HTTP request failed", "connection").strip()
    return "bad answer"


# -- verification -------------------------------------------------------------------------------


@dataclass
class VerifyFigures:
    """What the verification after a swap saw: its window, how many checks ran and passed, how long, and the failure
    that ended it."""

    window_s: float = 0.0
    checks: int = 0
    passed: int = 0
    seconds: float = 0.0
    failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON for the ledger (seconds rounded to the millisecond)."""
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


async def verify(
    alias: Endpoint,
    green: Endpoint,
    span: Span,
    *,
    window: float,
    interval: float = 0.25,
    direct: GraphQLClient | None = None,
) -> VerifyFigures:
    """The alias serves green, healthily, for `window` seconds (at least one check), each check through the
    alias on a fresh connection (`Connection: close`: the next request must connect anew, as a new
    consumer would); green read directly before and after each (on `direct`, if given)."""
    figures = VerifyFigures(window_s=window)
    began = time.monotonic()
    deadline = began + window
    fresh = Endpoint(alias.name, alias.url, {**alias.headers, "Connection": "close"}, alias.source, alias.timeout)
    async with contextlib.AsyncExitStack() as stack:
        if direct is None:
            direct = await stack.enter_async_context(green.client())
        through_client = await stack.enter_async_context(fresh.client())
        while True:
            figures.checks += 1
            try:
                before = await read(green, direct)
            except EndpointError as e:
                figures.failure = f"green stopped answering directly: {e}"
                break
            span.add(before)
            try:
                through = await read(fresh, through_client)
            except EndpointError as e:
                figures.failure = f"the alias did not answer: {e}"
                break
            try:
                span.add(await read(green, direct))
            except EndpointError as e:
                figures.failure = f"green stopped answering directly: {e}"
                break
            if through.chains != before.chains:
                figures.failure = (
                    f"the alias serves {through.describe()}, green has {before.describe()}: it does not serve green"
                )
                break
            if not span.holds(through):
                figures.failure = (
                    f"the alias's progress {dict(sorted(through.processed.items()))} is not green's "
                    f"(green read {dict(sorted(before.processed.items()))}): it does not serve green"
                )
                break
            figures.passed += 1
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    figures.seconds = time.monotonic() - began
    return figures
