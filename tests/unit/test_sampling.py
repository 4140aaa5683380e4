"""belt_gate/sampling.py: which rows are read from blue, which from green, and whose rows they are.

Pure unit tests (no network): fake slices, fake fingerprints, and a fake belt that answers RowsAsks
from an in-memory table the way Hasura would (where, order_by id, offset, limit).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from belt_gate import sampling
from belt_gate.rules.content import sample_offsets
from belt_gate.sampling import GreenAsks, SamplePlan, assign_blue, assign_green, green_asks, plan_blue, seeded_id
from belt_gate.sources.graphql import Condition, RowsAsk
from tests.unit.rule_calls import content_rows

SEED = 7
COLUMNS = ("id", "chainId", "value")


@dataclass
class FakeSlice:
    label: str
    chain: int | None
    conditions: tuple[Condition, ...]
    entity_name: str
    chain_column: str | None
    error: str | None = None
    new_chain: bool = False


def sl(
    entity: str, chain: int | None, *, column: str | None = "chainId", extra: tuple[Condition, ...] = (), **kw: Any
) -> FakeSlice:
    """A slice as snapshot.fingerprint_plans makes it: the chain condition first, then the cutoff's."""
    conds = ((column, "_eq", chain),) if column is not None and chain is not None else ()
    label = f"{entity}@{chain}" if chain is not None else entity
    return FakeSlice(label, chain, (*conds, *extra), entity, column, **kw)


def fpe(count: Any, lo: Any = None, hi: Any = None) -> dict[str, Any]:
    """A fingerprint entry: blue's count (and min/max id) at the cutoff; green the same."""
    agg: dict[str, Any] = {"count": count}
    if lo is not None:
        agg["min"] = {"id": lo}
        agg["max"] = {"id": hi}
    return {"blue": {"aggregate": agg}, "green": {"aggregate": dict(agg)}}


def columns_of(name: str) -> tuple[str, ...]:
    return COLUMNS


def plan(slices: Sequence[FakeSlice], fps: Mapping[str, Mapping[str, Any]], k: int = 5, seed: int = SEED) -> SamplePlan:
    return plan_blue(slices, fps, columns_of, k, seed)


def ask(p: SamplePlan, alias: str) -> RowsAsk:
    found = [a for a in p.blue_asks if a.alias == alias]
    assert len(found) == 1, [a.alias for a in p.blue_asks]
    return found[0]


def row(chain: int | None, n: int, value: Any = None) -> dict[str, Any]:
    return {"id": f"{chain}_{n:04d}", "chainId": chain, "value": n if value is None else value}


# ---------------------------------------------------------------------------------------------------
# A fake belt: answers RowsAsks from tables of rows, as Hasura does


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "_eq": operator.eq,
    "_gt": operator.gt,
    "_gte": operator.ge,
    "_lt": operator.lt,
    "_lte": operator.le,
    "_in": lambda value, options: value in options,
}


def _matches(r: Mapping[str, Any], conds: Sequence[Condition]) -> bool:
    return all(r.get(col) is not None and _OPS[op](r.get(col), val) for col, op, val in conds)


def answer(asks: Sequence[RowsAsk], tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in asks:
        hits = [
            r
            for r in tables.get(a.entity, ())
            if _matches(r, a.conditions) and (not a.any_of or any(_matches(r, g) for g in a.any_of))
        ]
        if a.order_by_id:
            hits.sort(key=lambda r: str(r["id"]))
        hits = hits[a.offset or 0 :]
        if a.limit is not None:
            hits = hits[: a.limit]
        out[a.alias] = [{c: r.get(c) for c in a.columns} for r in hits]
    return out


def round_trip(
    p: SamplePlan,
    blue: Mapping[str, Sequence[Mapping[str, Any]]],
    green: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> GreenAsks:
    """What snapshot.read_samples does, with the fake belt in place of the endpoints."""
    assign_blue(p, answer(p.blue_asks, blue), "blue-stub")
    g = green_asks(p)
    assign_green(p, g, answer(g.asks, blue if green is None else green), "green-stub")
    return g


@pytest.fixture
def max_rows(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    def set_to(n: int) -> None:
        monkeypatch.setattr(sampling, "MAX_ROWS_PER_FIELD", n)

    return set_to


# ---------------------------------------------------------------------------------------------------
# plan_blue: whole slices


def test_whole_slices_of_one_entity_share_one_field_with_an_or_of_their_conditions() -> None:
    cut = (("blockNumber", "_lte", 90),)
    slices = [sl("Transfer", 1, extra=cut), sl("Transfer", 2, extra=cut), sl("Transfer", 3, extra=cut)]
    p = plan(slices, {"Transfer@1": fpe(3), "Transfer@2": fpe(10), "Transfer@3": fpe(0)}, k=5)
    assert [a.alias for a in p.blue_asks] == ["w_Transfer_0"]
    a = p.blue_asks[0]
    assert (a.conditions, a.limit, a.offset, a.order_by_id) == ((), None, None, True)
    assert a.any_of == (slices[0].conditions, slices[1].conditions)  # count 0 asks nothing
    assert a.render() == (
        "w_Transfer_0: Transfer(where: {_or: [{chainId: {_eq: 1}, blockNumber: {_lte: 90}}, "
        "{chainId: {_eq: 2}, blockNumber: {_lte: 90}}]}, order_by: {id: asc}) { id chainId value }"
    )
    assert p.routes["w_Transfer_0"].labels == {"1": "Transfer@1", "2": "Transfer@2"}
    assert p.routes["w_Transfer_0"].chain_column == "chainId"
    assert [p.entries[s.label]["expected"] for s in slices] == [3, 10, 0]  # 10 == 2k is still whole
    assert all(p.entries[s.label]["seed"] == SEED and p.entries[s.label]["columns"] == list(COLUMNS) for s in slices)
    assert p.entity_of == {s.label: "Transfer" for s in slices}
    assert "from_id" not in p.entries["Transfer@1"]


def test_each_entity_gets_its_own_whole_field() -> None:
    slices = [sl("A", 1), sl("B", 1), sl("A", 2), sl("B", 2)]
    p = plan(slices, {s.label: fpe(2) for s in slices})
    assert [a.alias for a in p.blue_asks] == ["w_A_0", "w_B_0"]
    assert p.routes["w_A_0"].labels == {"1": "A@1", "2": "A@2"}
    assert p.routes["w_B_0"].labels == {"1": "B@1", "2": "B@2"}


def test_one_whole_slice_alone_in_its_field_is_asked_by_its_own_conditions() -> None:
    s = sl("A", 1, extra=(("blockNumber", "_lte", 5),))
    p = plan([s], {s.label: fpe(4)})
    a = ask(p, "w_A_0")
    assert (a.conditions, a.any_of) == (s.conditions, ())
    assert "_or" not in a.render()
    assert "where: {chainId: {_eq: 1}, blockNumber: {_lte: 5}}" in a.render()
    assert p.routes["w_A_0"].labels == {"": "A@1"}


def test_whole_slices_split_when_the_rows_of_a_field_would_exceed_max_rows(max_rows: Callable[[int], None]) -> None:
    max_rows(10)
    slices = [sl("E", c) for c in (1, 2, 3, 4, 5)]
    counts = {"E@1": 4, "E@2": 4, "E@3": 2, "E@4": 6, "E@5": 5}  # 4+4+2 = 10 fits; +6 would not
    p = plan(slices, {label: fpe(n) for label, n in counts.items()}, k=10)
    assert [a.alias for a in p.blue_asks] == ["w_E_0", "w_E_1", "w_E_2"]
    assert p.routes["w_E_0"].labels == {"1": "E@1", "2": "E@2", "3": "E@3"}
    assert p.routes["w_E_1"].labels == {"": "E@4"}  # 6 + 5 > 10: E@5 starts the next field
    assert p.routes["w_E_2"].labels == {"": "E@5"}
    for a in p.blue_asks:
        assert sum(counts[label] for label in p.routes[a.alias].labels.values()) <= 10


def test_a_whole_slice_larger_than_max_rows_gets_a_field_of_its_own(max_rows: Callable[[int], None]) -> None:
    max_rows(3)
    slices = [sl("E", 1), sl("E", 2), sl("E", 3)]
    p = plan(slices, {"E@1": fpe(1), "E@2": fpe(8), "E@3": fpe(1)}, k=5)
    assert [list(p.routes[a.alias].labels.values()) for a in p.blue_asks] == [["E@1"], ["E@2"], ["E@3"]]


def test_entities_without_a_chain_column_get_one_field_per_slice() -> None:
    cut = (("blockNumber", "_lte", 9),)
    slices = [
        sl("Global", 1, column=None, extra=cut),
        sl("Global", 2, column=None, extra=cut),
        sl("Solo", None, column=None),
    ]
    p = plan(slices, {s.label: fpe(2) for s in slices})
    assert [a.alias for a in p.blue_asks] == ["w_Global_0", "w_Global_1", "w_Solo_0"]
    assert all(a.any_of == () for a in p.blue_asks)
    assert ask(p, "w_Global_1").conditions == cut
    assert ask(p, "w_Solo_0").conditions == ()
    assert "where" not in ask(p, "w_Solo_0").render()
    assert [p.routes[a.alias].labels for a in p.blue_asks] == [{"": "Global@1"}, {"": "Global@2"}, {"": "Solo"}]


# ---------------------------------------------------------------------------------------------------
# plan_blue: large slices


def test_a_large_slice_is_two_seeks_in_the_closed_id_range_from_the_seeded_key() -> None:
    s = sl("E", 1, extra=(("blockNumber", "_lte", 50),))
    lo, hi = "1_0000", "1_0099"
    p = plan([s], {s.label: fpe(100, lo, hi)}, k=5)
    key = seeded_id(lo, hi, SEED, s.label)
    assert lo <= key <= hi
    entry = p.entries[s.label]
    assert (entry["expected"], entry["from_id"]) == (5, key)
    after, wrap = p.blue_asks
    assert (after.alias, wrap.alias) == ("s0_0", "s0_1")
    assert after.conditions == (*s.conditions, ("id", "_gt", key), ("id", "_lte", hi))
    assert wrap.conditions == (*s.conditions, ("id", "_gte", lo), ("id", "_lte", key))
    assert all((a.limit, a.offset, a.order_by_id, a.any_of) == (5, None, True, ()) for a in (after, wrap))
    assert f'id: {{_gt: "{key}", _lte: "{hi}"}}' in after.render()
    assert f'id: {{_gte: "{lo}", _lte: "{key}"}}' in wrap.render()
    assert "offset" not in after.render()
    assert p.routes["s0_0"].labels == p.routes["s0_1"].labels == {"": "E@1"}


def test_the_seek_key_is_a_pure_function_of_bounds_seed_and_label() -> None:
    lo, hi = "1_1000", "1_9999"
    assert seeded_id(lo, hi, 1, "E@1") == seeded_id(lo, hi, 1, "E@1")
    keys = {seeded_id(lo, hi, seed, label) for seed in range(20) for label in ("E@1", "E@2")}
    assert len(keys) > 1  # the seed moves the start
    assert all(lo < key < hi for key in keys)


def test_aliases_number_slices_by_plan_position() -> None:
    slices = [sl("E", 1), sl("E", 2), sl("E", 3)]
    p = plan(slices, {"E@1": fpe(2), "E@2": fpe(50, "2_0", "2_9"), "E@3": fpe(50)}, k=2)
    assert [a.alias for a in p.blue_asks] == ["s1_0", "s1_1", "s2_0", "s2_1", "w_E_0"]


@pytest.mark.parametrize(
    "bounds",
    [
        pytest.param({}, id="no-min-max"),
        pytest.param({"lo": 1, "hi": 99}, id="int-ids"),
        pytest.param({"lo": "5", "hi": "5"}, id="equal-bounds"),
        pytest.param({"lo": "9", "hi": "1"}, id="inverted"),
    ],
)
def test_without_orderable_ids_a_large_slice_is_read_at_seeded_offsets(bounds: dict[str, Any]) -> None:
    s = sl("E", 3)
    p = plan([s], {s.label: fpe(40, bounds.get("lo"), bounds.get("hi"))}, k=4)
    offsets = sample_offsets(40, 4, SEED, "E@3")
    assert len(offsets) == 4
    assert [(a.alias, a.conditions, a.limit, a.offset) for a in p.blue_asks] == [
        (f"s0_{j}", s.conditions, 1, off) for j, off in enumerate(offsets)
    ]
    assert "from_id" not in p.entries[s.label]
    assert p.entries[s.label]["expected"] == 4


@pytest.mark.parametrize(("count", "k"), [(0, 5), (7, 0), (0, 0), (9, -1)])
def test_nothing_to_sample_expects_0_rows_and_asks_no_field(count: int, k: int) -> None:
    s = sl("E", 1)
    p = plan([s], {s.label: fpe(count, "1_0", "1_9")}, k=k)
    assert p.blue_asks == []
    assert p.entries["E@1"]["expected"] == 0
    assert p.entity_of == {"E@1": "E"}
    round_trip(p, {})
    assert (p.entries["E@1"]["blue"], p.entries["E@1"]["green"]) == ([], [])
    assert content_rows("E@1", p.entries["E@1"]["blue"], p.entries["E@1"]["green"], seed=SEED, expected=0).passed


def test_a_numeric_count_sent_as_a_string_is_a_count() -> None:
    s = sl("E", 1)
    p = plan([s], {s.label: fpe("3")})
    assert p.entries["E@1"]["expected"] == 3


@pytest.mark.parametrize(
    ("slice_kw", "fp", "key", "text"),
    [
        ({"error": "reconciliation A needs a block"}, fpe(3), "error", "reconciliation A needs a block"),
        ({}, {**fpe(3), "error": "moved while read"}, "error", "moved while read"),
        ({"new_chain": True}, fpe(3), "skip", "chain 1 is new in green"),
        ({}, {**fpe(3), "blue_absent": True}, "skip", "is absent from"),
        ({}, {**fpe(3), "green_absent": True}, "skip", "is absent from"),
        ({}, {"blue_error": "blue: HTTP 500"}, "error", "blue: HTTP 500"),
        ({}, {**fpe(3), "green_error": "green: timed out"}, "error", "green: timed out"),
        ({}, {"blue": None}, "error", "no blue count"),
        ({}, {}, "error", "no blue count"),
        ({}, fpe("many"), "error", "blue count is not a number"),
        ({}, fpe(None), "error", "blue count is not a number"),
        ({}, {"blue": {"aggregate": {}}}, "error", "blue count is not a number"),
        ({}, {"blue": []}, "error", "blue count is not a number"),
    ],
)
def test_slices_that_cannot_be_sampled_say_why_and_ask_nothing(
    slice_kw: dict[str, Any], fp: dict[str, Any], key: str, text: str
) -> None:
    bad = sl("E", 1, **slice_kw)
    good = sl("E", 2)
    p = plan([bad, good], {"E@1": fp, "E@2": fpe(2)})
    entry = p.entries["E@1"]
    assert text in entry[key]
    assert entry["seed"] == SEED
    assert "expected" not in entry
    assert "E@1" not in p.entity_of
    assert p.entity_of == {"E@2": "E"}
    assert [p.routes[a.alias].labels for a in p.blue_asks] == [{"": "E@2"}]
    round_trip(p, {"E": [row(1, 0), row(2, 0), row(2, 1)]})
    assert "blue" not in entry and "green" not in entry
    assert len(p.entries["E@2"]["blue"]) == 2


# ---------------------------------------------------------------------------------------------------
# assign_blue


def test_assign_blue_routes_a_shared_field_by_chain_value_dedups_and_truncates() -> None:
    slices = [sl("E", 1), sl("E", 2)]
    p = plan(slices, {"E@1": fpe(2), "E@2": fpe(1)})
    got = [row(1, 0), row(2, 0), row(1, 0), row(1, 1), row(2, 1), row(1, 2)]
    assign_blue(p, {"w_E_0": got}, "blue-stub")
    assert p.entries["E@1"]["blue"] == [row(1, 0), row(1, 1)]  # deduplicated, then 2 of 3
    assert p.entries["E@2"]["blue"] == [row(2, 0)]  # 1 of 2
    assert not any("blue_error" in p.entries[s.label] for s in slices)


def test_a_chain_value_of_another_type_routes_by_its_text() -> None:
    """Hasura sends numeric columns as strings: chain "2" is chain 2's row."""
    slices = [sl("E", 1), sl("E", 2)]
    p = plan(slices, {"E@1": fpe(1), "E@2": fpe(1)})
    assign_blue(p, {"w_E_0": [{**row(1, 0), "chainId": "1"}, {**row(2, 0), "chainId": "2"}]}, "blue-stub")
    assert [r["id"] for r in p.entries["E@2"]["blue"]] == ["2_0000"]


def test_assign_blue_keeps_ask_order_after_seek_rows_before_wrap_rows() -> None:
    s = sl("E", 1)
    p = plan([s], {s.label: fpe(100, "1_0000", "1_0099")}, k=3)
    after = [row(1, 70), row(1, 71)]
    wrap = [row(1, 0), row(1, 1), row(1, 2)]
    assign_blue(p, {"s0_1": wrap, "s0_0": after}, "blue-stub")  # the answer's key order does not matter
    assert p.entries["E@1"]["blue"] == [row(1, 70), row(1, 71), row(1, 0)]


def test_assign_blue_dedups_across_the_two_seek_fields() -> None:
    s = sl("E", 1)
    p = plan([s], {s.label: fpe(100, "1_0000", "1_0099")}, k=3)
    assign_blue(p, {"s0_0": [row(1, 98), row(1, 99)], "s0_1": [row(1, 99), row(1, 0), row(1, 1)]}, "blue-stub")
    assert [r["id"] for r in p.entries["E@1"]["blue"]] == ["1_0098", "1_0099", "1_0000"]


def test_offset_rows_come_back_in_offset_order() -> None:
    s = sl("E", 1)
    p = plan([s], {s.label: fpe(40)}, k=3)
    data = {a.alias: [row(1, a.offset or 0)] for a in p.blue_asks}
    assign_blue(p, data, "blue-stub")
    assert [r["value"] for r in p.entries["E@1"]["blue"]] == sample_offsets(40, 3, SEED, "E@1")


@pytest.mark.parametrize(
    "stray",
    [
        pytest.param(row(9, 0), id="chain-of-no-slice"),
        pytest.param({"id": "x", "value": 1}, id="no-chain-value"),
        pytest.param({**row(1, 5), "chainId": None}, id="null-chain-value"),
        pytest.param("not a row", id="not-an-object"),
    ],
)
def test_a_row_of_no_slice_fails_every_slice_of_its_field(stray: Any) -> None:
    slices = [sl("E", 1), sl("E", 2), sl("F", 1)]
    p = plan(slices, {s.label: fpe(2) for s in slices})
    assign_blue(p, {"w_E_0": [row(1, 0), stray, row(2, 0)], "w_F_0": [row(1, 0), row(1, 1)]}, "blue-stub")
    for label in ("E@1", "E@2"):
        assert p.entries[label]["blue_error"] == "blue-stub: sample field w_E_0 answered a row of no slice"
        assert not content_rows(
            label, p.entries[label]["blue"], [], seed=SEED, expected=2, blue_error=p.entries[label]["blue_error"]
        ).passed
    assert "blue_error" not in p.entries["F@1"]
    assert len(p.entries["F@1"]["blue"]) == 2
    g = green_asks(p)
    assert [a.alias for a in g.asks] == ["g_F_0"]  # failed slices are not asked of green
    assert "green" not in p.entries["E@1"]


def test_a_non_object_row_in_a_single_slice_field_fails_it() -> None:
    s = sl("E", 1)
    p = plan([s], {s.label: fpe(2)})
    assign_blue(p, {"w_E_0": [row(1, 0), None]}, "blue-stub")
    assert "answered a row of no slice" in p.entries["E@1"]["blue_error"]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="missing"),
        pytest.param({"w_E_0": None}, id="null"),
        pytest.param({"w_E_0": {"id": "1_0000"}}, id="object"),
    ],
)
def test_a_field_missing_from_the_answer_fails_its_slices(data: dict[str, Any]) -> None:
    slices = [sl("E", 1), sl("E", 2), sl("F", 1)]
    p = plan(slices, {"E@1": fpe(1), "E@2": fpe(1), "F@1": fpe(30)}, k=1)
    f_rows = {a.alias: [row(1, 3)] for a in p.blue_asks if a.entity == "F"}  # one seeded offset
    assign_blue(p, {**data, **f_rows}, "blue-stub")
    for label in ("E@1", "E@2"):
        assert p.entries[label]["blue_error"] == "blue-stub: no answer for sample field w_E_0"
        assert p.entries[label]["blue"] == []
    assert "blue_error" not in p.entries["F@1"]
    assert len(p.entries["F@1"]["blue"]) == 1


def test_one_missing_seek_field_fails_the_slice() -> None:
    s = sl("E", 1)
    p = plan([s], {s.label: fpe(100, "1_0000", "1_0099")}, k=3)
    assign_blue(p, {"s0_0": [row(1, 70), row(1, 71), row(1, 72)]}, "blue-stub")
    assert p.entries["E@1"]["blue_error"] == "blue-stub: no answer for sample field s0_1"


# ---------------------------------------------------------------------------------------------------
# green_asks / assign_green


def _answered(slices: Sequence[FakeSlice], counts: Mapping[str, int]) -> SamplePlan:
    p = plan(slices, {s.label: fpe(counts[s.label]) for s in slices}, k=50)
    table = [row(s.chain, n) for s in slices for n in range(counts[s.label])]
    assign_blue(p, answer(p.blue_asks, {s.entity_name: table for s in slices}), "blue-stub")
    return p


def test_green_is_asked_by_id_one_field_per_entity() -> None:
    slices = [sl("E", 1), sl("E", 2), sl("F", 1), sl("F", 2)]
    p = _answered(slices, {"E@1": 2, "E@2": 1, "F@1": 0, "F@2": 1})
    g = green_asks(p)
    assert [a.alias for a in g.asks] == ["g_E_0", "g_F_0"]
    e = g.asks[0]
    assert (e.entity, e.columns, e.order_by_id, e.limit, e.offset) == ("E", COLUMNS, True, None, None)
    assert e.conditions == (("id", "_in", ["1_0000", "1_0001", "2_0000"]),)
    assert 'where: {id: {_in: ["1_0000", "1_0001", "2_0000"]}}' in e.render()
    assert g.labels == {"g_E_0": {"E@1", "E@2"}, "g_F_0": {"F@2"}}
    assert g.owner == {("E", "1_0000"): "E@1", ("E", "1_0001"): "E@1", ("E", "2_0000"): "E@2", ("F", "2_0000"): "F@2"}
    assert p.entries["F@1"]["green"] == []  # nothing sampled: nothing to ask


def test_green_ids_are_chunked_by_max_rows_per_field(max_rows: Callable[[int], None]) -> None:
    slices = [sl("E", 1), sl("E", 2), sl("F", 1)]
    p = _answered(slices, {"E@1": 3, "E@2": 2, "F@1": 1})
    max_rows(2)
    g = green_asks(p)
    assert [(a.alias, a.conditions[0][2]) for a in g.asks] == [
        ("g_E_0", ["1_0000", "1_0001"]),
        ("g_E_1", ["1_0002", "2_0000"]),
        ("g_E_2", ["2_0001"]),
        ("g_F_0", ["1_0000"]),
    ]
    assert g.labels == {"g_E_0": {"E@1"}, "g_E_1": {"E@1", "E@2"}, "g_E_2": {"E@2"}, "g_F_0": {"F@1"}}


def test_assign_green_routes_rows_back_by_id() -> None:
    slices = [sl("E", 1), sl("E", 2)]
    p = _answered(slices, {"E@1": 2, "E@2": 1})
    g = green_asks(p)
    green = [{**row(2, 0), "value": "x"}, row(1, 1), row(1, 0), row(3, 3)]  # any order; 3_0003 was not asked
    assign_green(p, g, {"g_E_0": green}, "green-stub")
    assert p.entries["E@1"]["green"] == [row(1, 1), row(1, 0)]
    assert p.entries["E@2"]["green"] == [{**row(2, 0), "value": "x"}]
    assert content_rows("E@1", p.entries["E@1"]["blue"], p.entries["E@1"]["green"], seed=SEED, expected=2).passed
    verdict = content_rows("E@2", p.entries["E@2"]["blue"], p.entries["E@2"]["green"], seed=SEED, expected=1)
    assert not verdict.passed and "field value" in verdict.message


def test_a_row_green_lacks_is_missing_from_its_slice() -> None:
    slices = [sl("E", 1)]
    p = _answered(slices, {"E@1": 2})
    g = green_asks(p)
    assign_green(p, g, {"g_E_0": [row(1, 0)]}, "green-stub")
    verdict = content_rows("E@1", p.entries["E@1"]["blue"], p.entries["E@1"]["green"], seed=SEED, expected=2)
    assert not verdict.passed and "1_0001 is in blue but not in green" in verdict.message


@pytest.mark.parametrize("bad", [None, {"id": "1_0000"}, "rows"])
def test_a_green_field_missing_from_the_answer_fails_the_slices_it_asks_for(
    max_rows: Callable[[int], None], bad: Any
) -> None:
    slices = [sl("E", 1), sl("E", 2), sl("E", 3)]
    p = _answered(slices, {"E@1": 1, "E@2": 2, "E@3": 1})
    max_rows(2)
    g = green_asks(p)  # g_E_0: 1_0000, 2_0000 / g_E_1: 2_0001, 3_0000
    data: dict[str, Any] = {"g_E_0": [row(1, 0), row(2, 0)]}
    if bad is not None:
        data["g_E_1"] = bad
    assign_green(p, g, data, "green-stub")
    assert "green_error" not in p.entries["E@1"]
    assert p.entries["E@1"]["green"] == [row(1, 0)]
    for label in ("E@2", "E@3"):  # E@2 is half answered: still failed
        assert p.entries[label]["green_error"] == f"green-stub: no answer for sample of {label}"
        assert not content_rows(
            label,
            p.entries[label]["blue"],
            p.entries[label].get("green"),
            seed=SEED,
            expected=p.entries[label]["expected"],
            green_error=p.entries[label]["green_error"],
        ).passed


def test_fail_all_marks_each_label() -> None:
    p = plan([sl("E", 1), sl("E", 2)], {"E@1": fpe(1), "E@2": fpe(1)})
    sampling.fail_all(p, ["E@1", "E@2"], "blue_error", "boom")
    assert p.entries["E@1"]["blue_error"] == p.entries["E@2"]["blue_error"] == "boom"


# ---------------------------------------------------------------------------------------------------
# End to end through the fake belt


def test_a_mixed_plan_round_trips_through_a_fake_belt(max_rows: Callable[[int], None]) -> None:
    max_rows(6)
    k = 3
    counts = {"E@1": 2, "E@2": 6, "E@3": 4, "E@4": 40, "E@5": 7, "N": 5, "O@1": 30}
    slices = [sl("E", c) for c in (1, 2, 3, 4, 5)] + [sl("N", None, column=None), sl("O", 1)]
    tables: dict[str, list[dict[str, Any]]] = {}
    fps = {}
    for s in slices:
        rows = [row(s.chain, n) for n in range(counts[s.label])]
        tables.setdefault(s.entity_name, []).extend(rows)
        ordered = sorted(r["id"] for r in rows)
        fps[s.label] = fpe(counts[s.label], *(() if s.label == "O@1" else (ordered[0], ordered[-1])))
    p = plan(slices, fps, k=k)
    assert {a.alias for a in p.blue_asks} >= {"w_E_0", "w_E_1", "w_N_0", "s3_0", "s3_1", "s4_0", "s4_1"}
    g = round_trip(p, tables)
    # E: 2+6+4+3+3 = 18 ids in chunks of 6; N: 5; O: 3
    assert [a.alias for a in g.asks] == ["g_E_0", "g_E_1", "g_E_2", "g_N_0", "g_O_0"]
    for s in slices:
        entry = p.entries[s.label]
        want = counts[s.label] if counts[s.label] <= 2 * k else k
        assert entry["expected"] == want
        assert len(entry["blue"]) == len(entry["green"]) == want
        assert all(r["chainId"] == s.chain for r in entry["blue"])
        assert content_rows(s.label, entry["blue"], entry["green"], seed=SEED, expected=want).passed


# ---------------------------------------------------------------------------------------------------
# Property: every slice gets exactly `expected` rows from a well-formed belt


@st.composite
def plans(draw: st.DrawFn) -> tuple[list[FakeSlice], dict[str, dict[str, Any]], dict[str, list[Any]], int, int, int]:
    k = draw(st.integers(0, 6))
    max_rows_per_field = draw(st.sampled_from([1, 3, 8, 1000]))
    slices: list[FakeSlice] = []
    fps: dict[str, dict[str, Any]] = {}
    tables: dict[str, list[Any]] = {}
    for e in range(draw(st.integers(1, 3))):
        name = f"E{e}"
        chained = draw(st.booleans())
        chains: list[int | None] = [None]
        if chained:
            chains = [*sorted(draw(st.sets(st.integers(1, 400), min_size=1, max_size=4)))]
        for chain in chains:
            s = sl(name, chain, column="chainId" if chained else None, extra=(("blockNumber", "_lte", 10**6),))
            count = draw(st.integers(0, 30))
            width = draw(st.integers(1, 4))
            rows: list[dict[str, Any]] = [
                {"id": f"{chain}_{n:0{width}d}", "chainId": chain, "blockNumber": n, "value": str(n)}
                for n in range(count)
            ]
            # rows past the cutoff are in the table, not in the count
            late = [
                {"id": f"{chain}_z{n}", "chainId": chain, "blockNumber": 10**7, "value": "late"}
                for n in range(draw(st.integers(0, 2)))
            ]
            tables.setdefault(name, []).extend(rows + late)
            ids = sorted(str(r["id"]) for r in rows)
            if draw(st.booleans()) and ids:
                fps[s.label] = fpe(count, ids[0], ids[-1])
            else:
                fps[s.label] = fpe(count if draw(st.booleans()) else str(count))
            slices.append(s)
    return slices, fps, tables, k, max_rows_per_field, draw(st.integers(0, 2**32))


@settings(deadline=None, max_examples=150)
@given(plans())
def test_every_slice_gets_exactly_expected_rows_from_a_well_formed_belt(
    case: tuple[list[FakeSlice], dict[str, dict[str, Any]], dict[str, list[Any]], int, int, int],
) -> None:
    slices, fps, tables, k, max_rows_per_field, seed = case
    with pytest.MonkeyPatch.context() as mp:  # per example: a function-scoped fixture would leak
        mp.setattr(sampling, "MAX_ROWS_PER_FIELD", max_rows_per_field)
        p = plan_blue(slices, fps, lambda name: ("id", "chainId", "value"), k, seed)
        for s in slices:
            count = int(fps[s.label]["blue"]["aggregate"]["count"])
            assert p.entries[s.label]["expected"] == (min(count, k) if count > 2 * k else count)
        assert len({a.alias for a in p.blue_asks}) == len(p.blue_asks)
        for a in p.blue_asks:
            if a.alias.startswith("w_"):
                labels = p.routes[a.alias].labels.values()
                assert len(labels) == 1 or sum(p.entries[label]["expected"] for label in labels) <= max_rows_per_field
        g = round_trip(p, tables)
        assert all(len(a.conditions[0][2]) <= max_rows_per_field for a in g.asks)
    for s in slices:
        entry = p.entries[s.label]
        assert "blue_error" not in entry and "green_error" not in entry
        assert len(entry["blue"]) == entry["expected"]
        assert len({r["id"] for r in entry["blue"]}) == entry["expected"]
        assert all(r["chainId"] == s.chain and r["value"] != "late" for r in entry["blue"])
        assert sorted(r["id"] for r in entry["green"]) == sorted(r["id"] for r in entry["blue"])


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12), st.integers(0, 10_000))
def test_seeded_id_stays_inside_the_closed_range(a: str, b: str, seed: int) -> None:
    lo, hi = sorted((a, b))
    assume(lo < hi)
    assert lo <= seeded_id(lo, hi, seed, "E@1") <= hi
