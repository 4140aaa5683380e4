"""Sampled rows, field for field: blue's rows (chosen from a seed) must be in green, unchanged."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from belt_gate.numbers import same_value
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


def rows(
    label: str,
    blue_rows: Sequence[Mapping[str, Any]] | None,
    green_rows: Sequence[Mapping[str, Any]] | None,
    *,
    seed: int,
    expected: int,
    blue_error: str | None = None,
    green_error: str | None = None,
    blue_endpoint: str = "",
    green_endpoint: str = "",
) -> Verdict:
    """`expected` is how many rows the sample should hold (from blue's count at the cutoff); green is asked
    for the ids of blue's rows. A short answer names the belt and its (redacted) `*_endpoint`."""
    props: dict[str, Any] = {"seed": seed}
    blue_side, green_side = f"blue {blue_endpoint}".rstrip(), f"green {green_endpoint}".rstrip()
    if blue_error:
        return Verdict.fail(f"{label}: blue sample unreadable (seed {seed}): {blue_error}", **props)
    if green_error:
        return Verdict.fail(f"{label}: green sample unreadable (seed {seed}): {green_error}", **props)
    if blue_rows is None or green_rows is None:
        return Verdict.fail(f"{label}: no sample was taken (seed {seed})", **props)
    if len(blue_rows) != expected:
        return Verdict.fail(
            f"{label}: {blue_side} answered {len(blue_rows)} of {expected} sampled rows (partial page, seed {seed})",
            **props,
        )
    by_id = {r.get("id"): r for r in green_rows}
    for b in blue_rows:
        rid = b.get("id")
        g = by_id.get(rid)
        if g is None:
            found = sum(1 for r in blue_rows if r.get("id") in by_id)
            return Verdict.fail(
                f"{label}: row {rid} is in blue but not in green (seed {seed}); {green_side} answered "
                f"{found} of {len(blue_rows)} rows asked by id (rows missing, or a partial page)",
                id=rid,
                **props,
            )
        for key in sorted(b):
            if key not in g:
                continue  # a column green lacks is the schema rule's business
            if not same_value(b[key], g[key]):
                return Verdict.fail(
                    f"{label}: row {rid} field {key}: blue {b[key]!r} != green {g[key]!r} (seed {seed})",
                    id=rid,
                    field=key,
                    **props,
                )
    return Verdict.ok(f"{label}: {len(blue_rows)} sampled rows equal (seed {seed})", **props)
