"""Three outcomes, by construction: a rule that could not compare says could-not-check (naming the belt, its
endpoint, the entity, the chain and the field); a rule that compared and found green wrong says failed;
nothing is compared "where present". Progress is bounded by the chain head; a cutoff below every row
compares nothing; current-state slices are judged with the heights the belts stood at."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

import pytest

from belt_gate.dialect import Dialect
from belt_gate.envio import Reconciliation
from belt_gate.plan import Case, EntityPlan
from belt_gate.rules import chains, evaluate
from belt_gate.rules.counts import Heights
from belt_gate.rules.golden import evaluate_coverage
from belt_gate.rules.verdict import Outcome, Verdict
from belt_gate.settings import Tolerance
from belt_gate.snapshot import BeltState, fingerprint_plans, read_fingerprints
from belt_gate.snapshot_model import Snapshot
from belt_gate.sources.graphql import AggregateAsk, RowsAsk
from tests.unit.rule_calls import content_rows, fingerprints

EXACT = Tolerance()
EP = "http://green.example/v1/graphql"


def agg(count: Any = 3, total: Any = "10", lo: Any = "1", hi: Any = "5") -> dict[str, Any]:
    return {"aggregate": {"count": count, "sum": {"amount": total}, "min": {"amount": lo}, "max": {"amount": hi}}}


def fp(blue: Any, green: Any, **kw: Any) -> Verdict:
    args: dict[str, Any] = {
        "tolerance": EXACT,
        "cutoff": "block <= 90",
        "green_endpoint": EP,
        "sum_columns": ["amount"],
        "minmax_columns": ["amount"],
    }
    args.update(kw)
    return fingerprints("Mint@8453", "parity", blue, green, **args)


def unknown(v: Verdict, *fragments: str) -> None:
    assert v.outcome is Outcome.COULD_NOT_CHECK, v
    for f in fragments:
        assert f in v.message, (f, v.message)


def failed(v: Verdict, *fragments: str) -> None:
    assert v.outcome is Outcome.FAILED, v
    for f in fragments:
        assert f in v.message, (f, v.message)


# -- counts: every asked field must be answered ------------------------------------------------


def stripped(part: str) -> dict[str, Any]:
    g = agg()
    del g["aggregate"][part]
    return g


@pytest.mark.parametrize("part", ["sum", "min", "max"])
def test_a_stripped_aggregate_part_is_could_not_check_naming_belt_endpoint_and_part(part: str) -> None:
    unknown(fp(agg(), stripped(part)), "Mint@8453 at block <= 90", f"green {EP}", f"no {part!r}")


@pytest.mark.parametrize("bad", [None, [], "10", 5])
def test_a_part_that_is_not_an_object_is_could_not_check(bad: Any) -> None:
    g = agg()
    g["aggregate"]["sum"] = bad
    unknown(fp(agg(), g), f"green {EP}", "sum is", "not an object of amount")


def test_a_column_left_out_of_a_part_is_could_not_check_naming_the_column() -> None:
    g = agg()
    g["aggregate"]["max"] = {}
    unknown(fp(agg(), g), f"green {EP}'s fingerprint's max has no 'amount'")


def test_a_missing_count_or_aggregate_is_could_not_check() -> None:
    g = agg()
    del g["aggregate"]["count"]
    unknown(fp(agg(), g), "no 'count'")
    unknown(fp(agg(), {"data": 1}), "no 'aggregate'")


def test_sum_null_where_blue_has_a_number_fails_naming_the_field() -> None:
    failed(fp(agg(), agg(total=None)), "fingerprint sum.amount differs: blue '10' != green None")


def test_a_field_on_one_side_only_is_could_not_check_when_what_was_asked_is_not_known() -> None:
    g = agg()
    g["aggregate"]["sum"]["extra"] = "1"
    v = fp(agg(), g, sum_columns=None, minmax_columns=None)
    unknown(v, "fingerprint field sum.extra is in green", EP)


def test_not_a_number_is_could_not_check() -> None:
    unknown(fp(agg(), agg(total="abc")), "not a number", f"green {EP}", "sum.amount")
    unknown(fp(agg(), agg(count=1.5)), "count 1.5 is not a row count")


def test_errors_and_both_sides_absent_are_could_not_check() -> None:
    unknown(fp(agg(), None, green_error="HTTP 503"), "green unreadable: HTTP 503")
    unknown(fp(None, None, blue_absent=True, green_absent=True), "neither blue nor green serves Mint")


# -- a cutoff that compares nothing --------------------------------------------------------------


def total(n: Any) -> dict[str, Any]:
    return {"aggregate": {"count": n}}


def test_a_cutoff_below_every_row_compares_nothing_and_fails() -> None:
    zero = agg(0, None, None, None)
    v = fp(zero, zero, totals=(total(40), total(40)), cutoff="block <= 0", cutoff_why="chain head 99 - 1000000")
    failed(v, "cutoff compares nothing: blue holds no Mint rows at the cutoff but 40 above it", "1000000")
    v = fp(agg(), agg(), totals=(total(3), total(5)))
    assert v.passed  # rows at the cutoff on both sides: something was compared
    assert fp(zero, zero, totals=(total(0), total(0))).passed  # nothing exists at all: nothing to compare


def test_a_missing_or_malformed_total_is_could_not_check() -> None:
    unknown(fp(agg(), agg(), totals=(total(3), None)), f"green {EP}'s row total")
    unknown(fp(agg(), agg(), totals=(total("x"), total(3))), "blue's row total")


# -- current state at different heights ---------------------------------------------------------

SAME = Heights({"1": 40}, {"1": 40})
APART = Heights({"1": 40}, {"1": 44})


def test_equal_fingerprints_at_different_heights_pass_and_say_so() -> None:
    v = fp(agg(), agg(), heights=APART, append_only=False)
    assert v.passed and "blue at block 40, green at block 44: equal at different heights" in v.message


def test_a_difference_at_one_height_fails_and_at_different_heights_is_could_not_check() -> None:
    failed(fp(agg(3), agg(4), heights=SAME, append_only=False), "count blue 3 != green 4", "same height")
    unknown(fp(agg(3), agg(4), heights=APART, append_only=False), "could explain it", "green at block 44")
    unknown(fp(agg(3), agg(4), heights=Heights(None, {"1": 4}), append_only=True), "blue at an unknown block")
    assert fp(agg(3), agg(3), heights=Heights(None, {"1": 4})).passed  # equal is consistent at any height


def test_append_only_rows_lost_by_the_belt_standing_higher_fail() -> None:
    failed(fp(agg(5), agg(4), heights=APART, append_only=True), "green stands higher", "fewer rows")
    unknown(fp(agg(4), agg(5), heights=APART, append_only=True), "could explain it")


# -- content -------------------------------------------------------------------------------------

ROWS = [{"id": "a", "v": "1"}, {"id": "b", "v": "2"}]


def rows(blue: Sequence[Any], green: Sequence[Any], **kw: Any) -> Verdict:
    return content_rows("Mint@8453", blue, green, seed=7, expected=len(blue), green_endpoint=EP, **kw)


def test_rows_with_only_ids_are_could_not_check_not_a_match() -> None:
    only_ids = [{"id": "a"}, {"id": "b"}]
    unknown(rows(ROWS, only_ids, columns=["id", "v"]), f"green {EP}'s row 'a' lacks field(s) v")
    unknown(rows(only_ids, only_ids, columns=["id", "v"]), "blue's row 'a' lacks field(s) v")
    unknown(rows(ROWS, [{"id": "a", "v": "1"}, {"id": "b"}]), "row 'b' lacks field(s) v")
    unknown(rows(ROWS, [{"v": "1"}]), "has no 'id'")


def test_content_errors_are_could_not_check_and_differences_fail() -> None:
    unknown(rows(ROWS, ROWS, green_error="HTTP 500"), "green sample unreadable")
    failed(rows(ROWS, [ROWS[0], {"id": "b", "v": "3"}], columns=["id", "v"]), "row b field v")
    failed(rows(ROWS, ROWS[:1]), "row b is in blue but not in green")


def test_content_at_different_heights() -> None:
    changed = [ROWS[0], {"id": "b", "v": "3"}]
    assert rows(ROWS, ROWS, heights=APART).passed
    unknown(rows(ROWS, changed, heights=APART, append_only=False), "could explain it")
    failed(rows(ROWS, changed, heights=SAME), "same height")
    failed(rows(ROWS, ROWS[:1], heights=APART, append_only=True), "green stands higher")


# -- progress: bounds from the chain -------------------------------------------------------------


def prog(blue: Any, green: Any, **kw: Any) -> Verdict:
    args: dict[str, Any] = {
        "blue_has_chain": True,
        "l1_head": None,
        "head_error": None,
        "head_tolerance": 5,
        "errors": {},
    }
    args.update(kw)
    return chains.progress(8453, None if blue is None else {"processed": blue}, {"processed": green}, **args)


def test_a_belt_above_the_chain_head_fails() -> None:
    failed(prog(90, 120, l1_head=100, has_rpc=True), "green processed 120 is above the chain head 100")
    failed(prog(120, 95, l1_head=100, has_rpc=True), "blue processed 120 is above the chain head 100")
    assert prog(90, 100, l1_head=100, has_rpc=True).passed


def test_green_at_ten_to_the_thirty_on_a_chain_blue_lacks_fails() -> None:
    failed(prog(None, str(10**30), blue_has_chain=False, l1_head=100, has_rpc=True), "above the chain head 100")
    unknown(prog(None, str(10**30), blue_has_chain=False), "head is unknown")


def test_an_unreadable_head_where_an_rpc_is_configured_is_could_not_check() -> None:
    unknown(prog(90, 95, has_rpc=True, head_error="wrong chain id 1"), "cannot be bounded: wrong chain id 1")


@pytest.mark.parametrize("bad", ["inf", "NaN", None, 1.5, -1, "", True])
def test_non_finite_or_missing_progress_fails(bad: Any) -> None:
    failed(prog(90, bad), "green processed block is not a number")
    blue = chains.progress(1, {"processed": bad}, {"processed": 90}, blue_has_chain=True, l1_head=None,
                           head_error=None, head_tolerance=0, errors={})  # fmt: skip
    failed(blue, "blue processed block is not a number")
    failed(chains.progress(1, {"processed": 1}, {}, blue_has_chain=True, l1_head=None, head_error=None,
                           head_tolerance=0, errors={}), "no 'processed'")  # fmt: skip


# -- evaluate: a snapshot part that is missing is could-not-check --------------------------------


def snapshot() -> dict[str, Any]:
    fingerprint = {
        "cutoff": "block <= 90",
        "cutoff_why": "lower processed block",
        "scope": "cutoff",
        "append_only": True,
        "asked": {"sum": ["amount"], "minmax": ["amount"]},
        "blue": agg(),
        "green": agg(),
        "blue_total": total(3),
        "green_total": total(3),
    }
    progress = {"8453": {"processed": 90, "head": 90}}
    return {
        "version": 1,
        "entities": [
            {
                "name": "Mint",
                "reconciliation": "A",
                "chain_column": "chainId",
                "block_column": "blockNumber",
                "timestamp_column": None,
            }
        ],
        "mode": "parity",
        "seed": 0,
        "head_tolerance": 10,
        "expected": [],
        "chains": [8453],
        "belts": {
            "blue": {"endpoint": "http://blue", "progress": progress, "error": None, "progress_error": None},
            "green": {"endpoint": EP, "progress": progress, "error": None, "progress_error": None},
        },
        "l1": {"heads": {"8453": 95}, "errors": {}, "rpc": [8453]},
        "fingerprints": {"Mint@8453": fingerprint},
        "samples": {"Mint@8453": {"seed": 0, "expected": 2, "columns": ["id", "v"], "blue": ROWS, "green": ROWS}},
        "tolerances": {"Mint": {"rel": "0", "abs": 0}},
        "schema": {"changes": [], "error": None},
        "enums": {"blue": None, "green": None, "live": []},
    }


COUNTS, CONTENT, PROGRESS = Case("counts", 8453, "Mint"), Case("content", 8453, "Mint"), Case("progress", 8453)


def plan_args(snap: dict[str, Any]) -> dict[str, Any]:
    return Snapshot.from_json(snap).plan_args()


def test_a_complete_snapshot_passes() -> None:
    snap = snapshot()
    for case in (COUNTS, CONTENT, PROGRESS):
        assert evaluate(case, snap).passed, evaluate(case, snap)


@pytest.mark.parametrize(
    ("path", "case"),
    [
        (("fingerprints", "Mint@8453", "asked"), COUNTS),
        (("fingerprints", "Mint@8453", "scope"), COUNTS),
        (("fingerprints", "Mint@8453", "green_total"), COUNTS),
        (("samples", "Mint@8453"), CONTENT),
        (("samples", "Mint@8453", "expected"), CONTENT),
        (("tolerances", "Mint"), COUNTS),
        (("l1", "heads"), PROGRESS),
        (("fingerprints", "Mint@8453"), COUNTS),
    ],
)
def test_a_missing_part_of_the_snapshot_is_could_not_check(path: tuple[str, ...], case: Case) -> None:
    snap = copy.deepcopy(snapshot())
    doc: Any = snap
    for key in path[:-1]:
        doc = doc[key]
    del doc[path[-1]]
    v = evaluate(case, snap)
    assert v.outcome is Outcome.COULD_NOT_CHECK, v
    assert "Mint@8453" in v.message or "8453" in v.message


def test_the_chain_head_from_the_snapshot_bounds_progress() -> None:
    snap = snapshot()
    snap["l1"]["heads"]["8453"] = 80
    failed(evaluate(PROGRESS, snap), "above the chain head 80")


def test_a_plan_error_is_could_not_check_and_absent_sample_sides_are_not_passes() -> None:
    snap = snapshot()
    snap["fingerprints"]["Mint@8453"]["error"] = "green does not index chain 8453 (see chain_set)"
    unknown(evaluate(COUNTS, snap), "Mint@8453: cannot compare: green does not index chain 8453")
    snap = snapshot()
    snap["samples"]["Mint@8453"] = {"seed": 0, "skip": "Mint is absent from green (see counts)", "absent": "green"}
    unknown(evaluate(CONTENT, snap), "Mint is absent from green")


# -- golden coverage with blue unreachable ----------------------------------------------------------


def test_with_blue_unreachable_coverage_does_not_call_chain_1_new() -> None:
    snap = snapshot()
    snap["mode"] = "expansion"
    snap["expected"] = [1, 8453]
    snap["belts"]["blue"] = {"endpoint": "http://blue", "progress": None, "error": "blue http://blue: refused"}
    snap["golden"] = {"ids": [], "dir": "golden"}
    assert plan_args(snap)["coverage_chains"] == [1, 8453]
    v = evaluate_coverage(Case("golden_coverage", 1), Snapshot.from_json(snap))
    unknown(v, "blue's chains are unknown", "chain 1", "refused")
    assert "new chain 1" not in v.message


# -- the snapshot: facts for the rules, one fingerprint request per belt -----------------------------


class Stub:
    def __init__(self, belt: str, processed: int) -> None:
        self.belt, self.endpoint, self.processed = belt, f"stub-{belt}", processed
        self.requests, self.seconds = 0, 0.0
        self.asked: list[list[AggregateAsk]] = []

    async def introspect(self) -> dict[str, Any]:
        raise NotImplementedError

    async def progress(self, source: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]:
        self.requests += 1
        self.asked.append(list(asks))
        out: dict[str, Any] = {a.alias: {"aggregate": {"count": 0 if a.conditions[1:] else 7}} for a in asks}
        out["_progress"] = [{"chain_id": 1, "processed": self.processed, "head": 50}]
        return out

    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
        raise NotImplementedError


def belt(name: str, processed: int) -> BeltState:
    d = Dialect("chain_metadata", ("E", "L"), frozenset({"E", "L"}), {"E": (), "L": ()}, {"E": (), "L": ()}, {}, ())
    return BeltState(name, Stub(name, processed), dialect=d)


def test_unsettled_mode_c_and_mode_b_without_rpc_are_current_state_slices_not_errors() -> None:
    entities = [
        EntityPlan("L", Reconciliation.CONVERGED, "chainId", None, None),
        EntityPlan("T", Reconciliation.AT_TIMESTAMP, "chainId", None, "timestamp"),
    ]
    cut = {1: {"block": 40, "why": "lower processed block", "blue": 40, "green": 44, "settled": False}}
    plans = {p.label: p for p in fingerprint_plans(entities, [1], cut, {}, {}, {})}
    assert plans["L@1"].error is None and plans["L@1"].scope == "current"
    assert plans["T@1"].error is None and plans["T@1"].scope == "current"
    assert "no --belt-rpc 1=URL" in plans["T@1"].cutoff_text


def test_totals_ride_in_the_one_fingerprint_request_per_belt() -> None:
    entities = [EntityPlan("E", Reconciliation.AT_BLOCK, "chainId", "blockNumber", None)]
    cut = {1: {"block": 0, "why": "chain head 50 - 1000000", "blue": 40, "green": 44}}
    plans = fingerprint_plans(entities, [1], cut, {}, {}, {})
    blue, green = belt("blue", 40), belt("green", 44)
    entry = asyncio.run(read_fingerprints(blue, green, plans))["E@1"]
    for state in (blue, green):
        assert isinstance(state.source, Stub) and state.source.requests == 1
        (asks,) = state.source.asked
        assert [[(c, op) for c, op, _ in a.conditions] for a in asks] == [
            [("chainId", "_eq"), ("blockNumber", "_lte")],
            [("chainId", "_eq")],
        ]
    assert entry["blue_total"] == {"aggregate": {"count": 7}} and entry["scope"] == "cutoff"
    snap = snapshot()
    snap["fingerprints"]["Mint@8453"].update(
        {k: entry[k] for k in ("blue", "green", "blue_total", "green_total", "cutoff", "cutoff_why", "asked")}
    )
    failed(evaluate(COUNTS, snap), "cutoff compares nothing", "chain head 50 - 1000000")


def test_content_at_a_cutoff_that_compares_nothing_fails_too() -> None:
    snap = snapshot()
    zero = agg(0, None, None, None)
    snap["fingerprints"]["Mint@8453"].update(blue=zero, green=zero, blue_total=total(9), green_total=total(9))
    snap["samples"]["Mint@8453"].update(expected=0, blue=[], green=[])
    failed(evaluate(COUNTS, snap), "cutoff compares nothing")
    failed(evaluate(CONTENT, snap), "cutoff compares nothing: blue holds no Mint rows at the cutoff but 9 above it")


def test_a_golden_entity_missing_from_the_answer_is_could_not_check_and_null_is_missing() -> None:
    from pathlib import Path

    from belt_gate.golden import event_to_json, load_golden
    from belt_gate.rules.golden import evaluate_golden

    event = load_golden(Path(__file__).resolve().parents[2] / "golden").by_chain(1)[0]
    snap = snapshot()
    snap["mode"] = "expansion"  # golden entities are read from green only
    golden: dict[str, Any] = {"events": {event.id: event_to_json(event)}}
    golden.update(ids=[[1, event.id]], l1={}, endpoints={"green": EP})
    case = Case("golden", 1, key=event.id)
    snap["golden"] = {**golden, "rows": {"green": {"rows": {}}}}  # the answer lacks the field
    unknown(evaluate_golden(case, Snapshot.from_json(snap)), "BELT UNAVAILABLE", "has no field for this golden entity")
    snap["golden"] = {**golden, "rows": {"green": {"rows": {event.id: None}}}}  # the belt says: no such entity
    failed(evaluate_golden(case, Snapshot.from_json(snap)), "MISSING: green has no NftTransfer")
