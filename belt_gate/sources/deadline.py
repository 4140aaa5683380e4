"""What failures may cost: one overall deadline per request, `Retry-After`, and a budget per endpoint.

httpx's timeouts bound each socket operation, not a request: a server that drips one byte a second never
trips a read timeout. So every request to a belt or a chain runs under one overall deadline (the sources
wrap it in `asyncio.timeout`). Failed attempts and the waits between them are charged to the endpoint's
`Budget` (twice the timeout): when it is spent the endpoint is given up on, and every later question to
it fails at once with the first reason. Within `endpoint_run()` (the plugin wraps a run's whole fetch in
it) budgets are kept per endpoint for the whole run, so an unresponsive endpoint costs about twice the
timeout in total however many questions the run has for it; outside a run each client keeps its own.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

#: A budget is this many timeouts of failed attempts and waits.
BUDGET_TIMEOUTS = 2.0


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date); None if absent or
    unreadable. A date in the past means 0."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, wait) if math.isfinite(wait) else None


@dataclass
class Budget:
    """What failures may still cost one endpoint: `limit` seconds of failed attempts and waits."""

    limit: float
    spent: float = 0.0
    dead: str | None = None  # why the endpoint was given up on (already redacted)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def left(self) -> float:
        """Seconds of failures the endpoint may still cost."""
        return max(0.0, self.limit - self.spent)

    def charge(self, seconds: float, reason: str) -> None:
        """Count `seconds` lost to a failure; give the endpoint up once the budget is spent."""
        with self._lock:
            self.spent += max(0.0, seconds)
            if self.dead is None and self.spent >= self.limit:
                self.dead = reason

    def give_up(self, reason: str) -> None:
        """Give the endpoint up for the rest of the run (the first reason is kept)."""
        with self._lock:
            if self.dead is None:
                self.dead = reason

    def deadline(self, timeout: float) -> float:
        """The overall deadline (seconds from now) for the next attempt: the timeout, or less if the budget
        has less left."""
        return min(timeout, self.left())

    def dead_message(self) -> str:
        """What a question not asked says, once the endpoint was given up on."""
        return f"not asked: gave up on this endpoint earlier in this run ({self.dead})"


@dataclass
class EndpointRun:
    """Budgets by endpoint URL (the real URL: only compared, never shown) for one run."""

    budgets: dict[str, Budget] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def budget(self, url: str, timeout: float) -> Budget:
        """The budget of the endpoint at `url`, made on first use (BUDGET_TIMEOUTS × `timeout`)."""
        with self._lock:
            if url not in self.budgets:
                self.budgets[url] = Budget(BUDGET_TIMEOUTS * timeout)
            return self.budgets[url]


# A module global, not a ContextVar: l1_checks reaches the clients through plain worker threads, which do
# not inherit a context.
_current: EndpointRun | None = None


@contextlib.contextmanager
def endpoint_run() -> Iterator[EndpointRun]:
    """Within this block every client shares one budget per endpoint (one run's fetch)."""
    global _current
    previous, _current = _current, EndpointRun()
    try:
        yield _current
    finally:
        _current = previous


def budget_for(url: str, timeout: float) -> Budget | None:
    """The run's budget for `url`, or None outside `endpoint_run()` (the client then keeps its own)."""
    run = _current
    return None if run is None else run.budget(url, timeout)


def new_budget(timeout: float) -> Budget:
    """A budget of its own for a client used outside a run (BUDGET_TIMEOUTS × `timeout`)."""
    return Budget(BUDGET_TIMEOUTS * timeout)


def describe(exc: BaseException) -> str:
    """`Type: message` of a transport exception, the message taken from its causes where httpx's own is
    empty (a reset connection says what happened only further down the chain). Not yet redacted."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 6:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    detail = next((str(e) for e in chain if str(e)), "")
    if not detail:
        kinds = [type(e).__name__ for e in chain[1:] if type(e).__name__ != type(exc).__name__]
        detail = f"connection closed mid-answer ({', '.join(dict.fromkeys(kinds))})" if kinds else "no detail"
    return f"{type(exc).__name__}: {detail[:200]}"


__all__ = [
    "BUDGET_TIMEOUTS",
    "Budget",
    "EndpointRun",
    "budget_for",
    "describe",
    "endpoint_run",
    "new_budget",
    "retry_after",
]
