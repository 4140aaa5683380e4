"""The sandbox world and its fault belts, shared with tests/sandbox (one world per test session)."""

from tests.sandbox.conftest import belt_factory, world

__all__ = ["belt_factory", "world"]
