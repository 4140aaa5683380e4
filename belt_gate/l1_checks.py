"""Glue between the snapshot/plan and the L1 ground-truth checks (golden events, window audits)."""

from __future__ import annotations

from typing import Any

from belt_gate.settings import Settings


def extend_snapshot(settings: Settings, snap: dict[str, Any]) -> None:
    """Add what the golden and audit rules need to the snapshot (controller only)."""


def plan_args(snap: dict[str, Any]) -> dict[str, Any]:
    """The golden/audit case ids the plan must generate, from the shipped snapshot."""
    return {}
