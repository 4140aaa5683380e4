"""Promotion: swap targets (Caddy, a command), the guard, cutover probe, verify, rollback, ledger, lock.

Only this package changes the alias.
"""

from __future__ import annotations

from belt_gate.promote.caddy import CaddyAlias, UpstreamState, upstream_address
from belt_gate.promote.command import CommandTarget
from belt_gate.promote.target import SwapPlan, SwapTarget

__all__ = ["CaddyAlias", "CommandTarget", "SwapPlan", "SwapTarget", "UpstreamState", "upstream_address"]
