"""`belt-gate dashboard`: a local page with every watched belt side by side (belt_gate.dashboard.app)."""

from __future__ import annotations

from belt_gate.dashboard.app import DashboardConfig, create_app, serve

__all__ = ["DashboardConfig", "create_app", "serve"]
