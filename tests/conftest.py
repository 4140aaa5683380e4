"""Hypothesis on a shared 2-core CI machine: no per-example deadline and no "too slow" health check.
Timing is what a loaded machine cannot promise; the properties themselves are unchanged."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("belt_gate", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("belt_gate")
