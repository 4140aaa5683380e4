"""Chain set and progress rules: pure functions over already-fetched progress."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from belt_gate.numbers import NotANumber, parse_number
from belt_gate.rules.inputs import Missing, need
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
        return Verdict.unknown(f"chain set unknown, cannot compare: {which}")
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
    l1_head: object,
    head_error: str | None,
    head_tolerance: int,
    errors: Mapping[str, str],
    has_rpc: bool = False,
) -> Verdict:
    """Shared chain: green processed >= blue processed. Chain blue lacks: green within N of the L1 head.

    Bounds come from the chain, never from a belt: where an RPC is configured (`has_rpc`), a belt whose
    processed block is above the chain head `l1_head` fails, and a head that could not be read leaves the
    bound unchecked (could-not-check). A progress value that is missing or not a finite block number fails."""
    if "green" in errors:
        return Verdict.unknown(f"chain {chain}: green progress unknown: {errors['green']}", chain=chain)
    if green is None:
        return Verdict.fail(f"chain {chain}: green has no progress row (silent skip)", chain=chain)
    try:
        g = _block(need(green, "processed", f"green's progress row of chain {chain}"))
    except (NotANumber, Missing) as exc:
        return Verdict.fail(f"chain {chain}: green processed block is not a number: {exc}", chain=chain)
    b: int | None = None
    if blue_has_chain:
        if "blue" in errors:
            return Verdict.unknown(f"chain {chain}: blue progress unknown: {errors['blue']}", chain=chain)
        if blue is None:
            return Verdict.unknown(f"chain {chain}: blue's progress row is missing", chain=chain)
        try:
            b = _block(need(blue, "processed", f"blue's progress row of chain {chain}"))
        except (NotANumber, Missing) as exc:
            return Verdict.fail(f"chain {chain}: blue processed block is not a number: {exc}", chain=chain)
    head: int | None = None
    if has_rpc or l1_head is not None:
        if l1_head is None:
            why = head_error or "not read"
            return Verdict.unknown(
                f"chain {chain}: the chain head is unknown, so green's processed {g} cannot be bounded: {why}",
                chain=chain,
                green=g,
            )
        try:
            head = _block(l1_head)
        except NotANumber as exc:
            return Verdict.unknown(f"chain {chain}: the chain head is not a block number: {exc}", chain=chain)
        for side, n in (("green", g), ("blue", b)):
            if n is not None and n > head:
                return Verdict.fail(
                    f"chain {chain}: {side} processed {n} is above the chain head {head} (the RPC's "
                    f"eth_blockNumber): a belt cannot have processed blocks the chain does not have",
                    chain=chain,
                    green=g,
                    head=head,
                    **({} if b is None else {"blue": b}),
                )
    if b is not None:
        if g < b:
            return Verdict.fail(
                f"chain {chain}: green processed {g} < blue {b} (still backfilling)", chain=chain, blue=b, green=g
            )
        bound = f", chain head {head}" if head is not None else ""
        return Verdict.ok(f"chain {chain}: green processed {g} >= blue {b}{bound}", chain=chain, blue=b, green=g)
    if head is None:
        why = head_error or f"no RPC configured for chain {chain} (--belt-rpc {chain}=URL)"
        return Verdict.unknown(f"chain {chain}: blue lacks it and its head is unknown: {why}", chain=chain, green=g)
    if g + head_tolerance < head:
        return Verdict.fail(
            f"chain {chain}: green processed {g} is {head - g} blocks behind the chain head {head} "
            f"(allowed {head_tolerance})",
            chain=chain,
            green=g,
            head=head,
        )
    return Verdict.ok(f"chain {chain}: green processed {g}, chain head {head}", chain=chain, green=g, head=head)
