"""The result of one rule on one case: passed or not, one message, and properties for reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str
    properties: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, message: str, **properties: Any) -> Verdict:
        return cls(True, message, properties)

    @classmethod
    def fail(cls, message: str, **properties: Any) -> Verdict:
        return cls(False, message, properties)
