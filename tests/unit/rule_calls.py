"""The rules' typed calls in the keyword form the unit tests were written in: each belt's values as
`blue_*` / `green_*` keywords (error, absent, endpoint, totals), the rest the comparison's or the sample's."""

from __future__ import annotations

from typing import Any

from belt_gate.rules import content, counts
from belt_gate.rules.verdict import Verdict


def fingerprints(label: str, mode: str, blue: Any, green: Any, **kw: Any) -> Verdict:
    """counts.fingerprints with each belt's values (blue_error, green_absent, totals, ...) as keywords."""
    totals = kw.pop("totals", None)
    sides = {
        side: counts.Side(
            answer,
            kw.pop(f"{side}_error", None),
            kw.pop(f"{side}_absent", False),
            kw.pop(f"{side}_endpoint", ""),
            None if totals is None else totals[i],
        )
        for i, (side, answer) in enumerate((("blue", blue), ("green", green)))
    }
    how = counts.Comparison(mode, at_cutoff=totals is not None, **kw)
    return counts.fingerprints(label, sides["blue"], sides["green"], how)


def content_rows(label: str, blue: Any, green: Any, **kw: Any) -> Verdict:
    """content.rows with each belt's values (blue_error, green_endpoint, ...) and the sample's as keywords."""
    sides = {
        side: content.Rows(answer, kw.pop(f"{side}_error", None), kw.pop(f"{side}_endpoint", ""))
        for side, answer in (("blue", blue), ("green", green))
    }
    return content.rows(label, sides["blue"], sides["green"], content.Sample(**kw))
