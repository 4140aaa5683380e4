"""Counts + fingerprints of one entity (on one chain) at the cutoff: a pure comparison."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from belt_gate.numbers import NotANumber, parse_number, same_value
from belt_gate.rules.verdict import Verdict
from belt_gate.settings import Tolerance

_ROW_COUNT = re.compile(r"[0-9]{1,30}")


def _flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    """{"count": n, "sum.x": .., "min.y": .., "max.y": ..} from Hasura's `aggregate` object."""
    agg = raw.get("aggregate") if "aggregate" in raw else raw
    if not isinstance(agg, Mapping):
        raise NotANumber("aggregate missing")
    out: dict[str, Any] = {"count": agg.get("count")}
    for part in ("sum", "min", "max"):
        values = agg.get(part)
        if isinstance(values, Mapping):
            out.update({f"{part}.{k}": v for k, v in values.items()})
    return out


def _count(flat: Mapping[str, Any]) -> int:
    """A row count is a JSON integer (or its ASCII digits as text): "1e5", 12.0 or null are not counts."""
    value = flat.get("count")
    if isinstance(value, str) and _ROW_COUNT.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise NotANumber(f"count {value!r} is not a row count")


def _checked(raw: Mapping[str, Any] | None, absent: bool) -> tuple[dict[str, Any], int]:
    """The flat fingerprint and its count; NotANumber names the field that is not a number."""
    flat = {"count": 0} if absent else _flatten(raw or {})
    n = _count(flat)
    for k, v in flat.items():
        if k.startswith("sum.") and v is not None:
            try:
                parse_number(v)
            except NotANumber as exc:
                raise NotANumber(f"{k} {exc}") from None
    return flat, n


def fingerprints(
    label: str,
    mode: str,
    blue: Mapping[str, Any] | None,
    green: Mapping[str, Any] | None,
    *,
    tolerance: Tolerance,
    cutoff: str,
    blue_error: str | None = None,
    green_error: str | None = None,
    blue_absent: bool = False,
    green_absent: bool = False,
    may_grow: bool = False,
    blue_endpoint: str = "",
    green_endpoint: str = "",
) -> Verdict:
    """`label` is e.g. "NftTransfer@8453"; `cutoff` says where both were read ("block <= 900").

    parity: equal fingerprints (count within the tolerance; every sum/min/max equal when exact).
    expansion: the same where green reads the same sources as blue; where it reads more (`may_grow`),
    green's count >= blue's - allowed. A value that is not a number fails naming the belt, its (redacted)
    `*_endpoint` and the field."""
    props: dict[str, Any] = {"cutoff": cutoff}
    where = f"{label} at {cutoff}"
    if blue_absent and green_absent:  # nothing was read: 0 == 0 would pass without comparing
        return Verdict.fail(
            f"{where}: neither blue nor green serves {label.split('@')[0]} (the settings' "
            "schema names it: track the table, or grant this role select on it)",
            **props,
        )
    if green_error or blue_error:  # both named when both fail (e.g. neither role may aggregate)
        unreadable = [
            f"{side} unreadable: {err}" for side, err in (("green", green_error), ("blue", blue_error)) if err
        ]
        return Verdict.fail(f"{where}: {'; '.join(unreadable)}", **props)
    side = f"blue {blue_endpoint}".rstrip()
    try:
        b_flat, b = _checked(blue, blue_absent)
        side = f"green {green_endpoint}".rstrip()
        g_flat, g = _checked(green, green_absent)
    except NotANumber as exc:
        return Verdict.fail(f"{where}: not a number: {side}: {exc}", **props)
    props.update(blue=b, green=g)
    if green_absent and not blue_absent:
        return Verdict.fail(f"{where}: green has no {label.split('@')[0]} table (blue has {b} rows)", **props)
    if blue_absent and not green_absent:
        if mode == "parity" and g > 0:
            return Verdict.fail(f"{where}: green-only entity with {g} rows (parity needs the same data)", **props)
        return Verdict.ok(f"{where}: green-only, {g} rows (proven against L1 where configured)", **props)
    allowed = tolerance.allowed(b)
    if mode == "expansion" and may_grow:
        if g < b - allowed:
            return Verdict.fail(f"{where}: green {g} < blue {b} - allowed {allowed} (rows lost)", **props)
        return Verdict.ok(f"{where}: green {g} >= blue {b} (green reads more sources here)", **props)
    if abs(g - b) > allowed:
        why = (
            (
                " - expansion compares exactly where green reads the same sources as blue; if green indexes "
                "new contracts here, give --belt-blue-envio-config"
            )
            if mode == "expansion" and g > b
            else ""
        )
        return Verdict.fail(f"{where}: count blue {b} != green {g} (delta {g - b:+d}, allowed {allowed}){why}", **props)
    if tolerance.exact:
        for key in sorted(set(b_flat) | set(g_flat)):
            if key == "count":
                continue
            if key not in b_flat or key not in g_flat:
                continue  # a field only one side exposes is the schema rule's business
            if not same_value(b_flat[key], g_flat[key]):
                props.update(field=key, blue_value=b_flat[key], green_value=g_flat[key])
                return Verdict.fail(
                    f"{where}: fingerprint {key} differs: blue {b_flat[key]!r} != green {g_flat[key]!r} "
                    f"(count {b} on both)",
                    **props,
                )
    return Verdict.ok(f"{where}: {b} rows, fingerprints equal", **props)
