"""pytester runs of the plugin and what their output says: the run itself (without the plugins a run
does not use), each generated item's outcome, and `line_with`, patterns for pytest's own
`LineMatcher.fnmatch_lines`."""

from __future__ import annotations

import glob
import re

import pytest

#: Installed plugins a belt_gate run does not use; blocking them saves ~1.5 s of start-up per run
#: (hypothesis and anyio are slow to import). belt_gate still loads through its entry point.
LEAN = (
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:anyio",
    "-p",
    "no:xdist",
    "-p",
    "no:xdist.looponfail",
    "-p",
    "no:platformdirs",
)


def run(pytester: pytest.Pytester, *args: str, lean: bool | None = None) -> pytest.RunResult:
    """`lean` (default: unless the run uses xdist's `-n` or names xdist): without the plugins of LEAN."""
    if lean is None:
        lean = not any(a == "-n" or (a.startswith("-n") and a[2:].isdigit()) or "xdist" in a for a in args)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *(LEAN if lean else ()), "-rA", *args)


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """nodeid -> PASSED/FAILED from `-rA` short summary lines."""
    out = {}
    for line in result.outlines:
        m = re.match(r"^(PASSED|FAILED) belt_gate::(\S+)", line)
        if m:
            out[m.group(2)] = m.group(1)
    return out


def failed(result: pytest.RunResult) -> set[str]:
    """The ids of the generated items that failed."""
    return {k for k, v in outcomes(result).items() if v == "FAILED"}


def line_with(text: str) -> list[str]:
    """`fnmatch_lines` patterns for one output line holding the pieces of `text` (a `*` separates pieces
    that must appear in that order), everything else taken literally: verdict ids hold `[`, endpoints `?`."""
    return ["*" + "*".join(glob.escape(piece) for piece in text.split("*")) + "*"]
