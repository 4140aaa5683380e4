"""Chain set and progress rules: pure functions over already-fetched progress."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from belt_gate.numbers import NotANumber, parse_number
from belt_gate.rules.verdict import Verdict


def chain_set(
    mode: str,
    expected: Collection[int],
    blue: Collection[int] | None,
    green: Collection[int] | None,
    errors: Mapping[str, str],
) -> Verdict:
    """parity: green's chains are exactly blue's (and include the expected ones); expansion: every blue
    and expected chain is in green, and a green-only chain must be expected."""
    if blue is None or green is None:
        which = "; ".join(f"{b}: {e}" for b, e in errors.items()) or "progress unavailable"
        return Verdict.fail(f"chain set unknown, cannot compare: {which}")
    b, g, x = set(blue), set(green), set(expected)
    problems = []
    missing = sorted(b - g)
    if missing:
        problems.append(f"green lacks blue's chain(s) {missing} (silent skip)")
    absent = sorted(x - g - b)
    if absent:
        problems.append(f"expected chain(s) {absent} absent from green")
    extra = sorted(g - b)
    if mode == "parity" and extra:
        problems.append(f"green-only chain(s) {extra}: parity needs the same chains (use expansion)")
    elif mode == "expansion":
        unexpected = sorted(set(extra) - x)
        if unexpected:
            problems.append(f"green-only chain(s) {unexpected} not in the expected chains")
    props = {"blue": sorted(b), "green": sorted(g), "expected": sorted(x)}
    if problems:
        return Verdict.fail(f"chain set ({mode}): " + "; ".join(problems), **props)
    return Verdict.ok(f"chain set ({mode}): blue {sorted(b)}, green {sorted(g)}", **props)


def _block(value: object) -> int:
    n = parse_number(value)
    if not isinstance(n, int) or n < 0:
        raise NotANumber(f"{value!r} is not a block number")
    return n


def progress(
    chain: int,
    blue: Mapping[str, object] | None,
    green: Mapping[str, object] | None,
    *,
    blue_has_chain: bool,
    l1_head: int | None,
    head_error: str | None,
    head_tolerance: int,
    errors: Mapping[str, str],
) -> Verdict:
    """Shared chain: green processed >= blue processed. Chain blue lacks: green within N of the L1 head."""
    if "green" in errors:
        return Verdict.fail(f"chain {chain}: green progress unknown: {errors['green']}", chain=chain)
    if green is None:
        return Verdict.fail(f"chain {chain}: green has no progress row (silent skip)", chain=chain)
    try:
        g = _block(green.get("processed"))
    except NotANumber as exc:
        return Verdict.fail(f"chain {chain}: green processed block is not a number: {exc}", chain=chain)
    if blue_has_chain:
        if "blue" in errors:
            return Verdict.fail(f"chain {chain}: blue progress unknown: {errors['blue']}", chain=chain)
        assert blue is not None
        try:
            b = _block(blue.get("processed"))
        except NotANumber as exc:
            return Verdict.fail(f"chain {chain}: blue processed block is not a number: {exc}", chain=chain)
        if g < b:
            return Verdict.fail(
                f"chain {chain}: green processed {g} < blue {b} (still backfilling)", chain=chain, blue=b, green=g
            )
        return Verdict.ok(f"chain {chain}: green processed {g} >= blue {b}", chain=chain, blue=b, green=g)
    if l1_head is None:
        why = head_error or f"no RPC configured for chain {chain} (--belt-rpc {chain}=URL)"
        return Verdict.fail(f"chain {chain}: blue lacks it and its head is unknown: {why}", chain=chain, green=g)
    if g + head_tolerance < l1_head:
        return Verdict.fail(
            f"chain {chain}: green processed {g} is {l1_head - g} blocks behind the chain head {l1_head} "
            f"(allowed {head_tolerance})",
            chain=chain,
            green=g,
            head=l1_head,
        )
    return Verdict.ok(f"chain {chain}: green processed {g}, chain head {l1_head}", chain=chain, green=g, head=l1_head)
