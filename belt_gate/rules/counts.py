"""Counts + fingerprints of one entity (on one chain): a pure comparison with three outcomes.

Every field asked of both belts must be in both answers: a missing `sum`, a `min` that is not an object,
a column one side left out, a count that is not a count: could-not-check, naming the belt, its (redacted)
endpoint and the field. Nothing is compared "where present".

Two kinds of comparison:
- at a cutoff (block or timestamp): both belts are filtered to the same history, so any difference is a
  failure; and a cutoff below which a belt holds no rows while it holds rows above it compares nothing
  (a failure too: "0 == 0" proves nothing);
- of the current state (entities without a block field, or reconciliation B without the cutoff block's timestamp):
  `heights` says where each belt stood when read. Equal fingerprints are consistent whatever the heights
  (the verdict says when they differed); a difference when both stood at the same block is a failure;
  a difference the heights could explain is could-not-check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from belt_gate.numbers import NotANumber, Tolerance, parse_number, same_value
from belt_gate.rules.inputs import Missing, need, need_map
from belt_gate.rules.verdict import Verdict

_ROW_COUNT = re.compile(r"[0-9]{1,30}")
_PARTS = ("sum", "min", "max")


@dataclass(frozen=True)
class Heights:
    """Where each belt stood (chain -> processed block) when its current-state fingerprint was read;
    None for a belt whose progress was not read in that request."""

    blue: Mapping[str, Any] | None
    green: Mapping[str, Any] | None

    @property
    def same(self) -> bool:
        """True when both belts were read at the same processed blocks, so their current states can be compared as they
        are."""
        return self.blue is not None and self.green is not None and dict(self.blue) == dict(self.green)

    def text(self) -> str:
        """Where each belt stood, for a verdict's message (`blue at ..., green at ...`)."""
        return f"blue at {_at(self.blue)}, green at {_at(self.green)}"

    def ahead(self) -> str | None:
        """ "green" or "blue" when that belt stands at or above the other on every chain (and above on one)."""
        if self.blue is None or self.green is None or set(self.blue) != set(self.green):
            return None
        try:
            pairs = [(int(str(self.blue[c])), int(str(self.green[c]))) for c in self.blue]
        except ValueError:
            return None
        if all(g >= b for b, g in pairs) and any(g > b for b, g in pairs):
            return "green"
        if all(b >= g for b, g in pairs) and any(b > g for b, g in pairs):
            return "blue"
        return None


def _at(h: Mapping[str, Any] | None) -> str:
    if h is None:
        return "an unknown block"
    if len(h) == 1:
        return f"block {next(iter(h.values()))}"
    return ", ".join(f"{c}:{b}" for c, b in sorted(h.items()))


def _count_of(value: object) -> int:
    """A row count is a JSON integer (or its ASCII digits as text): "1e5", 12.0 or null are not counts."""
    if isinstance(value, str) and _ROW_COUNT.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise NotANumber(f"count {value!r} is not a row count")


def _flatten(raw: object, asked: Mapping[str, Sequence[str]] | None, what: str) -> dict[str, Any]:
    """{"count": n, "sum.x": .., "min.y": .., "max.y": ..} from Hasura's `aggregate` object.

    `asked`: part -> the columns asked; each must be answered. None (not recorded): every part given must
    be an object (the two sides are then held to the same field set by the caller)."""
    agg = need_map(raw, "aggregate", what)
    out: dict[str, Any] = {"count": _count_of(need(agg, "count", f"{what}'s aggregate"))}
    for part in _PARTS:
        columns = None if asked is None else tuple(asked.get(part, ()))
        if columns == () or (columns is None and part not in agg):
            continue
        values = need(agg, part, f"{what}'s aggregate")
        if not isinstance(values, Mapping):
            raise Missing(f"{what}: {part} is {values!r}, not an object of {', '.join(columns or ('columns',))}")
        for col in columns if columns is not None else values:
            out[f"{part}.{col}"] = need(values, col, f"{what}'s {part}")
    for k, v in out.items():
        if k.startswith("sum.") and v is not None:
            try:
                parse_number(v)
            except NotANumber as exc:
                raise NotANumber(f"{k} {exc}") from None
    return out


def _asked(
    sum_columns: Sequence[str] | None, minmax_columns: Sequence[str] | None
) -> dict[str, tuple[str, ...]] | None:
    if sum_columns is None and minmax_columns is None:
        return None
    mm = tuple(minmax_columns or ())
    return {"sum": tuple(sum_columns or ()), "min": mm, "max": mm}


def _difference(
    b_flat: Mapping[str, Any], g_flat: Mapping[str, Any], tolerance: Tolerance, allowed: int, mode: str
) -> tuple[str, dict[str, Any]] | None:
    """The first difference that matters, as (text, properties), or None."""
    b, g = b_flat["count"], g_flat["count"]
    if abs(g - b) > allowed:
        why = (
            " - expansion compares exactly where green reads the same sources as blue; if green indexes "
            "new contracts here, give --belt-blue-envio-config"
            if mode == "expansion" and g > b
            else ""
        )
        return f"count blue {b} != green {g} (delta {g - b:+d}, allowed {allowed}){why}", {}
    if tolerance.exact:
        for key in sorted(set(b_flat) - {"count"}):
            if not same_value(b_flat[key], g_flat[key]):
                props = {"field": key, "blue_value": b_flat[key], "green_value": g_flat[key]}
                return (
                    f"fingerprint {key} differs: blue {b_flat[key]!r} != green {g_flat[key]!r} (count {b} on both)",
                    props,
                )
    return None


def _compares_nothing(side: str, at_cutoff: int, total: int, entity: str, why: str) -> str | None:
    if at_cutoff == 0 and total > 0:
        return (
            f"cutoff compares nothing: {side} holds no {entity} rows at the cutoff but {total} above it "
            f"({why}); lower --belt-reorg-margin or wait for the belts to pass the first rows"
        )
    return None


def cutoff_compares_nothing(entry: Mapping[str, Any], entity: str) -> str | None:
    """For a slice compared at a cutoff: why the cutoff compares nothing (a belt holds no rows at it but
    rows above it), else None. Lenient: an unreadable answer is the counts rule's to report."""
    if entry.get("scope") != "cutoff":
        return None
    for side in ("blue", "green"):
        try:
            at = _count_of(entry[side]["aggregate"]["count"])
            total = _count_of(entry[f"{side}_total"]["aggregate"]["count"])
        except (KeyError, TypeError, NotANumber):
            continue
        why = _compares_nothing(side, at, total, entity, str(entry.get("cutoff_why") or entry.get("cutoff")))
        if why:
            return why
    return None


@dataclass(frozen=True)
class Side:
    """One belt's part of a slice comparison: its aggregate answer, or why there is none (`error`: it
    could not be read; `absent`: it serves no such table), how it is named, and (compared at a cutoff)
    its count-only answer over the whole slice."""

    answer: Mapping[str, Any] | None = None
    error: str | None = None
    absent: bool = False
    endpoint: str = ""
    total: object = None


@dataclass(frozen=True)
class Comparison:
    """How a slice is compared. `mode`: parity or expansion; `cutoff`: where both were read ("block <=
    900"), `cutoff_why` how it was chosen; `may_grow`: expansion where green reads more sources;
    `sum_columns`/`minmax_columns`: what was asked of both (each must be answered; None: not known);
    `at_cutoff`: the sides carry their whole-slice totals; `heights`: given for a current-state
    comparison (see the module)."""

    mode: str
    tolerance: Tolerance
    cutoff: str
    may_grow: bool = False
    sum_columns: Sequence[str] | None = None
    minmax_columns: Sequence[str] | None = None
    at_cutoff: bool = False
    cutoff_why: str = ""
    heights: Heights | None = None
    append_only: bool = True


def fingerprints(label: str, blue_side: Side, green_side: Side, how: Comparison) -> Verdict:
    """`label` is e.g. "NftTransfer@8453".

    parity: equal fingerprints (count within the tolerance; every sum/min/max equal when exact).
    expansion: the same where green reads the same sources as blue; where it reads more (`may_grow`),
    green's count >= blue's - allowed."""
    mode, tolerance, cutoff, cutoff_why, heights = how.mode, how.tolerance, how.cutoff, how.cutoff_why, how.heights
    blue, green = blue_side.answer, green_side.answer
    blue_error, green_error = blue_side.error, green_side.error
    blue_absent, green_absent = blue_side.absent, green_side.absent
    totals = (blue_side.total, green_side.total) if how.at_cutoff else None
    props: dict[str, Any] = {"cutoff": cutoff}
    entity = label.split("@")[0]
    where = f"{label} at {cutoff}"
    if blue_absent and green_absent:  # nothing was read: 0 == 0 would pass without comparing
        return Verdict.unknown(
            f"{where}: cannot compare: neither blue nor green serves {entity} (the settings' "
            "schema names it: track the table, or grant this role select on it)",
            **props,
        )
    if green_error or blue_error:  # both named when both fail (e.g. neither role may aggregate)
        unreadable = [
            f"{side} unreadable: {err}" for side, err in (("green", green_error), ("blue", blue_error)) if err
        ]
        return Verdict.unknown(f"{where}: cannot compare: {'; '.join(unreadable)}", **props)
    asked = _asked(how.sum_columns, how.minmax_columns)
    sides = {"blue": f"blue {blue_side.endpoint}".rstrip(), "green": f"green {green_side.endpoint}".rstrip()}
    flats: dict[str, dict[str, Any]] = {}
    for name, raw, absent in (("blue", blue, blue_absent), ("green", green, green_absent)):
        if absent:
            continue
        try:
            flats[name] = _flatten(raw, asked, f"{sides[name]}'s fingerprint")
        except NotANumber as exc:
            return Verdict.unknown(f"{where}: not a number: {sides[name]}: {exc}", **props)
        except Missing as exc:
            return Verdict.unknown(f"{where}: cannot compare: {exc}", **props)
    if green_absent:
        b = flats["blue"]["count"]
        return Verdict.fail(f"{where}: green has no {entity} table (blue has {b} rows)", blue=b, **props)
    if blue_absent:
        g = flats["green"]["count"]
        if mode == "parity" and g > 0:
            return Verdict.fail(
                f"{where}: green-only entity with {g} rows (parity needs the same data)", green=g, **props
            )
        return Verdict.ok(f"{where}: green-only, {g} rows (proven against L1 where configured)", green=g, **props)
    b_flat, g_flat = flats["blue"], flats["green"]
    b, g = b_flat["count"], g_flat["count"]
    props.update(blue=b, green=g)
    if asked is None:
        one_sided = sorted(set(b_flat) ^ set(g_flat))
        if one_sided:
            key = one_sided[0]
            only = "blue" if key in b_flat else "green"
            return Verdict.unknown(
                f"{where}: cannot compare: fingerprint field {key} is in {sides[only]}'s answer only",
                field=key,
                **props,
            )
    if totals is not None:
        for name, at_cutoff, raw_total in (("blue", b, totals[0]), ("green", g, totals[1])):
            try:
                total = _count_of(need(need_map(raw_total, "aggregate", f"{sides[name]}'s total"), "count", name))
            except (Missing, NotANumber) as exc:
                return Verdict.unknown(f"{where}: cannot compare: {sides[name]}'s row total: {exc}", **props)
            nothing = _compares_nothing(name, at_cutoff, total, entity, cutoff_why or cutoff)
            if nothing:
                return Verdict.fail(f"{where}: {nothing}", **props)
    allowed = tolerance.allowed(b)
    if mode == "expansion" and how.may_grow:
        diff: tuple[str, dict[str, Any]] | None = None
        if g < b - allowed:
            diff = (f"green {g} < blue {b} - allowed {allowed} (rows lost)", {})
        ok = f"{where}: green {g} >= blue {b} (green reads more sources here)"
    else:
        diff = _difference(b_flat, g_flat, tolerance, allowed, mode)
        ok = f"{where}: {b} rows, fingerprints equal"
    if heights is not None:
        props["heights"] = heights.text()
        if diff is None:
            if not heights.same:
                ok += f" ({heights.text()}: equal at different heights, consistent)"
            return Verdict.ok(ok, **props)
        text, more = diff
        if heights.same:
            return Verdict.fail(f"{where}: {text}; both belts at the same height ({heights.text()})", **props, **more)
        ahead = heights.ahead()
        behind_has_more = (ahead == "green" and g < b) or (ahead == "blue" and b < g)
        if how.append_only and behind_has_more:
            return Verdict.fail(
                f"{where}: {text}; {ahead} stands higher ({heights.text()}) yet holds fewer rows of an "
                "append-only entity",
                **props,
                **more,
            )
        return Verdict.unknown(
            f"{where}: cannot compare: {text}, but the belts stood at different heights ({heights.text()}), "
            "which could explain it; run again when both stand at one block",
            **props,
            **more,
        )
    if diff is not None:
        text, more = diff
        return Verdict.fail(f"{where}: {text}", **props, **more)
    return Verdict.ok(ok, **props)
