"""One error tree for belt_gate. Expected failures are these, never raw library exceptions."""

from __future__ import annotations


class BeltGateError(Exception):
    """Root of every error belt_gate raises on purpose."""


class SettingsError(BeltGateError):
    """Bad or missing settings from the user: reported as one line, non-zero exit. A message quoting a
    multi-line text (a parser's error, a value) is folded onto that one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" | ".join(line.strip() for line in str(message).splitlines() if line.strip()))


class EndpointError(BeltGateError):
    """A belt or chain endpoint failed to answer right (HTTP, GraphQL errors, timeout, bad JSON).

    `endpoint` is always already redacted.
    """

    def __init__(self, message: str, *, belt: str = "", endpoint: str = "", asked: str = "") -> None:
        self.belt = belt
        self.endpoint = endpoint
        self.asked = asked
        parts = [p for p in (belt, endpoint) if p]
        prefix = f"{' '.join(parts)}: " if parts else ""
        suffix = f" (asking {asked})" if asked else ""
        super().__init__(f"{prefix}{message}{suffix}")


class RpcError(EndpointError):
    """A JSON-RPC endpoint of a chain failed (after retries)."""


class SandboxError(BeltGateError):
    """The sandbox world could not be started, queried or stopped."""


class SwapError(BeltGateError):
    """The alias could not be switched; the message says which upstream it serves now."""
