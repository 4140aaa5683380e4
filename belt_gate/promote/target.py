"""The one small interface every swap target offers: what it serves, a planned change, and applying it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class SwapPlan:
    """One compare-and-swap, decided but not made: from `expected` to `new`.

    `change` is the exact change, as a dry run prints it (admin method, path, guard and body, or the
    command's argv), already redacted; `state` is what the target needs to apply it.
    """

    kind: str  # "caddy-file", "caddy-dial" or "command"
    expected: str
    new: str
    change: tuple[str, ...]
    state: Any = field(default=None, repr=False, compare=False)


@runtime_checkable
class SwapTarget(Protocol):
    """What promotion needs from an alias."""

    def describe(self) -> str:
        """Which alias this is (redacted), for output and the ledger."""
        ...

    def current_upstream(self) -> str | None:
        """What the alias serves now, or None when the target cannot read it (then it is told by answers)."""
        ...

    def plan(self, expected: str, new: str, *, allow_reload: bool = False) -> SwapPlan:
        """Check (without changing anything) that the swap can be made; SwapError if not."""
        ...

    def apply(self, plan: SwapPlan) -> str:
        """Make the swap, only if the alias still serves `plan.expected`; return a short note on how."""
        ...

    def lock_path(self, default: Path) -> Path:
        """Where the promotion lock of this alias lives (`default` beside the ledger, if nothing better)."""
        ...
