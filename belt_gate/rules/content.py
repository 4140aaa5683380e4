"""Sampled rows, field for field: blue's rows (chosen from a seed) must be in green, unchanged."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from belt_gate.numbers import same_value
from belt_gate.rules.counts import Heights
from belt_gate.rules.inputs import Missing, need
from belt_gate.rules.verdict import Verdict


def sample_offsets(count: int, k: int, seed: int, label: str) -> list[int]:
    """k distinct offsets in [0, count), a pure function of (count, k, seed, label)."""
    if count <= 0 or k <= 0:
        return []
    if count <= k:
        return list(range(count))
    picked: set[int] = set()
    i = 0
    while len(picked) < k:
        digest = hashlib.sha256(f"{seed}:{label}:{i}".encode()).digest()
        picked.add(int.from_bytes(digest[:8], "big") % count)
        i += 1
    return sorted(picked)


@dataclass(frozen=True)
class Rows:
    """One belt's part of a sample comparison: the rows it answered, or why there are none (`error`: they
    could not be read), and how it is named (its redacted endpoint)."""

    rows: Sequence[Mapping[str, Any]] | None = None
    error: str | None = None
    endpoint: str = ""


@dataclass(frozen=True)
class Sample:
    """How a sample is compared. `expected`: how many rows it should hold (from blue's count at the
    cutoff); `columns`: those asked of both (None: blue's first row's); `heights`: for a sample of the
    current state, where each belt stood when read; `append_only`: the entity's rows are never deleted."""

    seed: int
    expected: int
    columns: Sequence[str] | None = None
    heights: Heights | None = None
    append_only: bool = True


def rows(label: str, blue_side: Rows, green_side: Rows, how: Sample) -> Verdict:
    """Green is asked for the ids of blue's rows; every row must carry each column asked (a row with only
    `id` is a malformed answer, not a match). A short answer names the belt and its endpoint. A difference
    the heights could explain is could-not-check (see counts)."""
    blue_rows, green_rows = blue_side.rows, green_side.rows
    blue_error, green_error = blue_side.error, green_side.error
    seed, expected, columns, heights = how.seed, how.expected, how.columns, how.heights
    props: dict[str, Any] = {"seed": seed}
    blue_name, green_name = f"blue {blue_side.endpoint}".rstrip(), f"green {green_side.endpoint}".rstrip()
    if blue_error:
        return Verdict.unknown(f"{label}: blue sample unreadable (seed {seed}): {blue_error}", **props)
    if green_error:
        return Verdict.unknown(f"{label}: green sample unreadable (seed {seed}): {green_error}", **props)
    if blue_rows is None or green_rows is None:
        return Verdict.unknown(f"{label}: no sample was taken (seed {seed})", **props)
    if len(blue_rows) != expected:
        return Verdict.unknown(
            f"{label}: {blue_name} answered {len(blue_rows)} of {expected} sampled rows (partial page, seed {seed})",
            **props,
        )
    try:
        wanted = _columns(blue_rows, columns, blue_name)
        by_id = {need(r, "id", f"a row of {green_name}"): r for r in green_rows}
        for b in blue_rows:  # the rows green was asked for must carry every column asked
            if b["id"] in by_id:
                _has_all(by_id[b["id"]], wanted, green_name)
    except Missing as exc:
        return Verdict.unknown(f"{label}: cannot compare (seed {seed}): {exc}", **props)
    for b in blue_rows:
        rid = b["id"]
        g = by_id.get(rid)
        if g is None:
            found = sum(1 for r in blue_rows if r["id"] in by_id)
            text = (
                f"row {rid} is in blue but not in green (seed {seed}); {green_name} answered "
                f"{found} of {len(blue_rows)} rows asked by id (rows missing, or a partial page)"
            )
            return _differs(label, text, heights, how.append_only, id=rid, **props)
        for key in wanted:
            if not same_value(b[key], g[key]):
                text = f"row {rid} field {key}: blue {b[key]!r} != green {g[key]!r} (seed {seed})"
                return _differs(label, text, heights, False, id=rid, field=key, **props)
    note = ""
    if heights is not None and not heights.same:
        note = f" ({heights.text()}: equal at different heights, consistent)"
    return Verdict.ok(f"{label}: {len(blue_rows)} sampled rows equal (seed {seed}){note}", **props)


def _columns(blue_rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None, side: str) -> tuple[str, ...]:
    """The columns compared: those asked (else blue's first row's); every blue row must carry them all."""
    if columns is not None:
        wanted = tuple(columns)
    elif blue_rows:
        first = blue_rows[0]
        wanted = tuple(first) if isinstance(first, Mapping) else ()
    else:
        wanted = ()
    if "id" not in wanted:
        wanted = ("id", *wanted)
    for r in blue_rows:
        _has_all(r, wanted, side)
    return wanted


def _has_all(row: object, columns: Sequence[str], side: str) -> None:
    if not isinstance(row, Mapping):
        raise Missing(f"{side} answered a row that is not an object: {row!r}")
    absent = [c for c in columns if c not in row]
    if absent:
        raise Missing(
            f"{side}'s row {row.get('id')!r} lacks field(s) {', '.join(absent)} it was asked for "
            "(a malformed answer, not a match)"
        )


def _differs(label: str, text: str, heights: Heights | None, may_fail_apart: bool, **props: Any) -> Verdict:
    """A difference in a sample: failed at a cutoff or at one height; at different heights, failed only
    when a row of an append-only entity is missing from the belt that stands higher (green)."""
    if heights is None:
        return Verdict.fail(f"{label}: {text}", **props)
    if heights.same:
        return Verdict.fail(f"{label}: {text}; both belts at the same height ({heights.text()})", **props)
    if may_fail_apart and heights.ahead() == "green":
        return Verdict.fail(f"{label}: {text}; green stands higher ({heights.text()})", **props)
    return Verdict.unknown(
        f"{label}: cannot compare: {text}, but the belts stood at different heights ({heights.text()}), "
        "which could explain it; run again when both stand at one block",
        **props,
    )
