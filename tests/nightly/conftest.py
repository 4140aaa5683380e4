"""The nightly's tests use the shared sandbox world of tests/sandbox (one world per test session)."""

from tests.sandbox.conftest import belt_factory, world

__all__ = ["belt_factory", "world"]
