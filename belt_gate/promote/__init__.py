"""Swap targets for the alias (Caddy first), and later the guard, cutover probe, verify, rollback, ledger.

Only this package changes the alias.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from belt_gate.promote.caddy import CaddyAlias, UpstreamState, upstream_address


@runtime_checkable
class SwapTarget(Protocol):
    """What promotion needs from an alias: read what it serves, and compare-and-swap it."""

    def current_upstream(self) -> str: ...

    def swap(self, expected: str, new: str) -> None: ...


__all__ = ["CaddyAlias", "SwapTarget", "UpstreamState", "upstream_address"]
