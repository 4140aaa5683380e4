"""Laws of the comparison rules (hypothesis): gate(x, x) passes; removing from green fails;
adding to green never fails in expansion; numbers never go through float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from belt_gate.numbers import NotANumber, parse_number
from belt_gate.rules import chains, content, counts
from belt_gate.rules.content import sample_offsets
from belt_gate.settings import Tolerance

EXACT = Tolerance()
chain_ids = st.sets(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=8)
big = st.integers(min_value=0, max_value=2**200)


def agg(count: int, total: int, lo: int, hi: int) -> dict[str, Any]:
    return {"aggregate": {"count": count, "sum": {"amount": str(total)}, "min": {"amount": str(lo)},
                          "max": {"amount": str(hi)}}}


@given(st.lists(big, min_size=0, max_size=30))
def test_identical_fingerprints_pass_in_both_modes(values: list[int]) -> None:
    fp = agg(len(values), sum(values), min(values, default=0), max(values, default=0))
    for mode in ("parity", "expansion"):
        assert counts.fingerprints("E@1", mode, fp, fp, tolerance=EXACT, cutoff="block <= 9").passed


@given(st.lists(big, min_size=1, max_size=30), st.data())
def test_removing_any_row_from_green_fails(values: list[int], data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    green_values = values[:i] + values[i + 1:]
    blue = agg(len(values), sum(values), min(values), max(values))
    green = agg(len(green_values), sum(green_values), min(green_values, default=0), max(green_values, default=0))
    for mode in ("parity", "expansion"):
        verdict = counts.fingerprints("E@1", mode, blue, green, tolerance=EXACT, cutoff="block <= 9")
        assert not verdict.passed
        assert "E@1" in verdict.message and "block <= 9" in verdict.message


@given(st.lists(big, max_size=20), st.lists(big, min_size=1, max_size=20))
def test_adding_rows_to_green_never_fails_in_expansion(values: list[int], extra: list[int]) -> None:
    g = values + extra
    blue = agg(len(values), sum(values), min(values, default=0), max(values, default=0))
    green = agg(len(g), sum(g), min(g), max(g))
    assert counts.fingerprints("E@1", "expansion", blue, green, tolerance=EXACT, cutoff="c").passed
    assert not counts.fingerprints("E@1", "parity", blue, green, tolerance=EXACT, cutoff="c").passed


def test_same_count_different_sum_fails_naming_the_field() -> None:
    v = counts.fingerprints("Mint@8453", "parity", agg(3, 10, 1, 5), agg(3, 11, 1, 5), tolerance=EXACT,
                            cutoff="block <= 100")
    assert not v.passed
    assert "sum.amount" in v.message and "'10'" in v.message and "'11'" in v.message
    assert "Mint@8453" in v.message and "block <= 100" in v.message


def test_tolerance_allows_small_count_drift_only_when_configured() -> None:
    tol = Tolerance(Decimal("0.001"), 50)
    assert counts.fingerprints("E", "parity", agg(40000, 1, 1, 1), agg(40040, 2, 1, 1), tolerance=tol,
                               cutoff="c").passed
    assert not counts.fingerprints("E", "parity", agg(40000, 1, 1, 1), agg(40051, 2, 1, 1), tolerance=tol,
                                   cutoff="c").passed


@given(st.sampled_from(["NaN", "abc", "", "1e", True, None, [], "inf"]))
def test_non_numeric_counts_fail(bad: Any) -> None:
    fp = {"aggregate": {"count": bad}}
    v = counts.fingerprints("E@1", "parity", fp, fp, tolerance=EXACT, cutoff="c")
    assert not v.passed


def test_errors_fail_and_name_the_side() -> None:
    fp = agg(1, 1, 1, 1)
    v = counts.fingerprints("E@1", "parity", fp, None, tolerance=EXACT, cutoff="c", green_error="HTTP 503")
    assert not v.passed and "green" in v.message and "HTTP 503" in v.message


def test_green_only_entity_with_rows_fails_in_parity_passes_in_expansion() -> None:
    fp = agg(4, 4, 1, 1)
    assert not counts.fingerprints("New@1", "parity", None, fp, tolerance=EXACT, cutoff="c",
                                   blue_absent=True).passed
    assert counts.fingerprints("New@1", "expansion", None, fp, tolerance=EXACT, cutoff="c", blue_absent=True).passed
    assert not counts.fingerprints("Old@1", "expansion", fp, None, tolerance=EXACT, cutoff="c",
                                   green_absent=True).passed


@given(chain_ids)
def test_chain_set_of_equal_sets_passes_in_parity(chain_set: set[int]) -> None:
    assert chains.chain_set("parity", [], chain_set, chain_set, {}).passed
    assert chains.chain_set("parity", chain_set, chain_set, chain_set, {}).passed


@given(chain_ids, st.data())
def test_chain_set_removal_fails_in_both_modes(chain_set: set[int], data: st.DataObject) -> None:
    gone = data.draw(st.sampled_from(sorted(chain_set)))
    for mode in ("parity", "expansion"):
        assert not chains.chain_set(mode, chain_set, chain_set, chain_set - {gone}, {}).passed


@given(chain_ids, chain_ids)
def test_chain_set_expected_additions_pass_in_expansion_only(blue: set[int], extra: set[int]) -> None:
    green = blue | extra
    assert chains.chain_set("expansion", green, blue, green, {}).passed
    if extra - blue:
        assert not chains.chain_set("parity", green, blue, green, {}).passed
        assert not chains.chain_set("expansion", blue, blue, green, {}).passed  # not expected


def test_chain_set_unknown_fails() -> None:
    assert not chains.chain_set("parity", [], None, [1], {"blue": "HTTP 500"}).passed


def test_progress_rules() -> None:
    def prog(b: Any, g: Any, **kw: Any) -> bool:
        args: dict[str, Any] = {"blue_has_chain": True, "l1_head": None, "head_error": None, "head_tolerance": 5,
                                "errors": {}}
        args.update(kw)
        return chains.progress(1, {"processed": b}, {"processed": g}, **args).passed

    assert prog("100", "100") and prog(100, "101")
    assert not prog("100", "99")
    assert not prog("100", None) and not prog("100", "x") and not prog("100", "1.5")
    assert not prog(None, "5", blue_has_chain=False)  # no RPC: the head is unknown
    assert prog(None, "96", blue_has_chain=False, l1_head=100)
    assert not prog(None, "90", blue_has_chain=False, l1_head=100)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=20),
       st.integers(), st.text(max_size=10))
def test_sample_offsets_deterministic_distinct_in_range(count: int, k: int, seed: int, label: str) -> None:
    a = sample_offsets(count, k, seed, label)
    assert a == sample_offsets(count, k, seed, label)
    assert len(a) == min(count, k) and len(set(a)) == len(a)
    assert all(0 <= o < count for o in a)


def test_content_rows() -> None:
    rows = [{"id": "a", "v": "1"}, {"id": "b", "v": "2"}]
    assert content.rows("E@1", rows, list(reversed(rows)), seed=3, expected=2).passed
    v = content.rows("E@1", rows, [{"id": "a", "v": "1"}, {"id": "b", "v": "3"}], seed=3, expected=2)
    assert not v.passed and "seed 3" in v.message and "field v" in v.message
    assert not content.rows("E@1", rows, rows[:1], seed=3, expected=2).passed
    assert not content.rows("E@1", rows[:1], rows, seed=3, expected=2).passed  # partial page


@given(big)
def test_numbers_parse_exactly(n: int) -> None:
    assert parse_number(str(n)) == n
    assert parse_number(f"{n}.000") == n


def test_numbers_refuse_non_numbers() -> None:
    for bad in ("NaN", "Infinity", "", "0x10", True, None, {}):
        try:
            parse_number(bad)
        except NotANumber:
            continue
        raise AssertionError(f"{bad!r} parsed")
