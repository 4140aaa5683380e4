"""The result of one rule on one case: passed, failed or could-not-check; one message; report properties.

could-not-check (an error, a timeout, a missing or malformed answer) blocks certification exactly like a
failure; it is kept apart so a reader knows whether green was shown wrong or could not be shown right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """The three outcomes of a case (and, in the certificate, `not-run` for a planned case that never ran)."""

    PASSED = "passed"
    FAILED = "failed"
    COULD_NOT_CHECK = "could-not-check"


@dataclass(frozen=True)
class Verdict:
    """What a rule decided about one case: its outcome, the message the test report shows, and properties the
    certificate records."""

    outcome: Outcome
    message: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True only for a passed outcome (could-not-check is not a pass)."""
        return self.outcome is Outcome.PASSED

    @classmethod
    def ok(cls, message: str, **properties: Any) -> Verdict:
        """The rule compared what it needed and it held."""
        return cls(Outcome.PASSED, message, properties)

    @classmethod
    def fail(cls, message: str, **properties: Any) -> Verdict:
        """The rule compared and green is wrong."""
        return cls(Outcome.FAILED, message, properties)

    @classmethod
    def unknown(cls, message: str, **properties: Any) -> Verdict:
        """The rule could not compare: `message` says what was missing, from whom. Blocks like a failure."""
        return cls(Outcome.COULD_NOT_CHECK, message, properties)
