"""Laws of the comparison rules (hypothesis): gate(x, x) passes; removing from green fails;
adding to green never fails in expansion; numbers never go through float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from belt_gate.numbers import NotANumber, parse_number, same_value
from belt_gate.rules import chains
from belt_gate.rules.content import sample_offsets
from belt_gate.settings import Tolerance
from tests.unit.rule_calls import content_rows, fingerprints

EXACT = Tolerance()
chain_ids = st.sets(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=8)
big = st.integers(min_value=0, max_value=2**200)


def agg(count: int, total: int, lo: int, hi: int) -> dict[str, Any]:
    return {
        "aggregate": {
            "count": count,
            "sum": {"amount": str(total)},
            "min": {"amount": str(lo)},
            "max": {"amount": str(hi)},
        }
    }


@given(st.lists(big, min_size=0, max_size=30))
def test_identical_fingerprints_pass_in_both_modes(values: list[int]) -> None:
    fp = agg(len(values), sum(values), min(values, default=0), max(values, default=0))
    for mode in ("parity", "expansion"):
        assert fingerprints("E@1", mode, fp, fp, tolerance=EXACT, cutoff="block <= 9").passed


@given(st.lists(big, min_size=1, max_size=30), st.data())
def test_removing_any_row_from_green_fails(values: list[int], data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    green_values = values[:i] + values[i + 1 :]
    blue = agg(len(values), sum(values), min(values), max(values))
    green = agg(len(green_values), sum(green_values), min(green_values, default=0), max(green_values, default=0))
    for mode in ("parity", "expansion"):
        verdict = fingerprints("E@1", mode, blue, green, tolerance=EXACT, cutoff="block <= 9")
        assert not verdict.passed
        assert "E@1" in verdict.message and "block <= 9" in verdict.message


@given(st.lists(big, max_size=20), st.lists(big, min_size=1, max_size=20))
def test_adding_rows_to_green_never_fails_in_expansion_where_green_reads_more(
    values: list[int], extra: list[int]
) -> None:
    g = values + extra
    blue = agg(len(values), sum(values), min(values, default=0), max(values, default=0))
    green = agg(len(g), sum(g), min(g), max(g))
    assert fingerprints("E@1", "expansion", blue, green, tolerance=EXACT, cutoff="c", may_grow=True).passed
    assert not fingerprints("E@1", "parity", blue, green, tolerance=EXACT, cutoff="c").passed
    # where green reads the same sources as blue, rows it adds are duplicates: exact, as in parity
    same = fingerprints("E@1", "expansion", blue, green, tolerance=EXACT, cutoff="c")
    assert not same.passed and "--belt-blue-envio-config" in same.message


def test_same_count_different_sum_fails_naming_the_field() -> None:
    v = fingerprints("Mint@8453", "parity", agg(3, 10, 1, 5), agg(3, 11, 1, 5), tolerance=EXACT, cutoff="block <= 100")
    assert not v.passed
    assert "sum.amount" in v.message and "'10'" in v.message and "'11'" in v.message
    assert "Mint@8453" in v.message and "block <= 100" in v.message


def test_tolerance_allows_small_count_drift_only_when_configured() -> None:
    tol = Tolerance(Decimal("0.001"), 50)
    assert fingerprints("E", "parity", agg(40000, 1, 1, 1), agg(40040, 2, 1, 1), tolerance=tol, cutoff="c").passed
    assert not fingerprints("E", "parity", agg(40000, 1, 1, 1), agg(40051, 2, 1, 1), tolerance=tol, cutoff="c").passed


@given(st.sampled_from(["NaN", "abc", "", "1e", True, None, [], "inf"]))
def test_non_numeric_counts_fail(bad: Any) -> None:
    fp = {"aggregate": {"count": bad}}
    v = fingerprints("E@1", "parity", fp, fp, tolerance=EXACT, cutoff="c")
    assert not v.passed


def test_errors_fail_and_name_the_side() -> None:
    fp = agg(1, 1, 1, 1)
    v = fingerprints("E@1", "parity", fp, None, tolerance=EXACT, cutoff="c", green_error="HTTP 503")
    assert not v.passed and "green" in v.message and "HTTP 503" in v.message


def test_green_only_entity_with_rows_fails_in_parity_passes_in_expansion() -> None:
    fp = agg(4, 4, 1, 1)
    assert not fingerprints("New@1", "parity", None, fp, tolerance=EXACT, cutoff="c", blue_absent=True).passed
    assert fingerprints("New@1", "expansion", None, fp, tolerance=EXACT, cutoff="c", blue_absent=True).passed
    assert not fingerprints("Old@1", "expansion", fp, None, tolerance=EXACT, cutoff="c", green_absent=True).passed


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
        args: dict[str, Any] = {
            "blue_has_chain": True,
            "l1_head": None,
            "head_error": None,
            "head_tolerance": 5,
            "errors": {},
        }
        args.update(kw)
        return chains.progress(1, {"processed": b}, {"processed": g}, **args).passed

    assert prog("100", "100") and prog(100, "101")
    assert not prog("100", "99")
    assert not prog("100", None) and not prog("100", "x") and not prog("100", "1.5")
    assert not prog(None, "5", blue_has_chain=False)  # no RPC: the head is unknown
    assert prog(None, "96", blue_has_chain=False, l1_head=100)
    assert not prog(None, "90", blue_has_chain=False, l1_head=100)


@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=20),
    st.integers(),
    st.text(max_size=10),
)
def test_sample_offsets_deterministic_distinct_in_range(count: int, k: int, seed: int, label: str) -> None:
    a = sample_offsets(count, k, seed, label)
    assert a == sample_offsets(count, k, seed, label)
    assert len(a) == min(count, k) and len(set(a)) == len(a)
    assert all(0 <= o < count for o in a)


def test_content_rows() -> None:
    rows = [{"id": "a", "v": "1"}, {"id": "b", "v": "2"}]
    assert content_rows("E@1", rows, list(reversed(rows)), seed=3, expected=2).passed
    v = content_rows("E@1", rows, [{"id": "a", "v": "1"}, {"id": "b", "v": "3"}], seed=3, expected=2)
    assert not v.passed and "seed 3" in v.message and "field v" in v.message
    assert not content_rows("E@1", rows, rows[:1], seed=3, expected=2).passed
    assert not content_rows("E@1", rows[:1], rows, seed=3, expected=2).passed  # partial page


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


# -- the three laws for every rule that compares green with blue (or with a fixture) -----------------

blocks = st.integers(min_value=0, max_value=2**63)


def _progress(blue: object, green: object, **kw: Any) -> bool:
    args: dict[str, Any] = {
        "blue_has_chain": True,
        "l1_head": None,
        "head_error": None,
        "head_tolerance": 0,
        "errors": {},
    }
    args.update(kw)
    return chains.progress(1, {"processed": blue}, {"processed": green}, **args).passed


@given(blocks, st.booleans())
def test_progress_of_equal_belts_passes(block: int, as_text: bool) -> None:
    value = str(block) if as_text else block
    assert _progress(value, value)


@given(blocks, st.integers(min_value=1, max_value=2**32))
def test_progress_green_behind_fails_and_ahead_passes(block: int, delta: int) -> None:
    assert not _progress(block + delta, block)  # blocks green lacks: a removal
    assert _progress(block, block + delta)  # blocks green adds never fail


@given(chain_ids, st.data())
def test_chain_set_expansion_identity_and_expected_removal(chain_set: set[int], data: st.DataObject) -> None:
    assert chains.chain_set("expansion", chain_set, chain_set, chain_set, {}).passed
    blue = data.draw(st.sets(st.sampled_from(sorted(chain_set))))
    gone = data.draw(st.sampled_from(sorted(chain_set - blue))) if chain_set - blue else None
    if gone is not None:  # an expected chain that green does not index
        assert not chains.chain_set("expansion", chain_set, blue, chain_set - {gone}, {}).passed


values = st.one_of(st.none(), st.booleans(), big.map(str), st.text(max_size=6))
row_ids = st.lists(st.text(alphabet="0123456789_abcdef", min_size=1, max_size=8), min_size=1, max_size=8, unique=True)


@st.composite
def sampled_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    columns = draw(st.lists(st.from_regex(r"[a-z][A-Za-z]{0,5}", fullmatch=True), max_size=5, unique=True))
    return [{"id": rid, **{c: draw(values) for c in columns if c != "id"}} for rid in draw(row_ids)]


@settings(deadline=None)
@given(sampled_rows(), st.randoms(use_true_random=False))
def test_content_identical_rows_pass_in_any_order(rows: list[dict[str, Any]], rnd: Any) -> None:
    green = [dict(r) for r in rows]
    rnd.shuffle(green)
    assert content_rows("E@1", rows, green, seed=1, expected=len(rows)).passed


@settings(deadline=None)
@given(sampled_rows(), st.data())
def test_content_removing_a_row_or_changing_a_field_fails(rows: list[dict[str, Any]], data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(rows) - 1))
    without = rows[:i] + rows[i + 1 :]
    verdict = content_rows("E@1", rows, without, seed=5, expected=len(rows))
    assert not verdict.passed and f"row {rows[i]['id']} is in blue but not in green (seed 5)" in verdict.message
    column = data.draw(st.sampled_from(sorted(rows[i])))
    if column != "id":
        changed = [dict(r) for r in rows]
        changed[i][column] = "changed" if rows[i][column] != "changed" else "other"
        verdict = content_rows("E@1", rows, changed, seed=5, expected=len(rows))
        assert not verdict.passed and f"field {column}" in verdict.message


@settings(deadline=None)
@given(
    sampled_rows(),
    sampled_rows(),
    st.dictionaries(st.from_regex(r"new[A-Z][a-z]{0,4}", fullmatch=True), values, max_size=3),
)
def test_content_green_rows_and_columns_added_never_fail(
    rows: list[dict[str, Any]], more: list[dict[str, Any]], columns: dict[str, Any]
) -> None:
    extra = [r for r in more if r["id"] not in {b["id"] for b in rows}]
    green = [{**r, **columns} for r in rows] + extra
    assert content_rows("E@1", rows, green, seed=0, expected=len(rows)).passed


# Schemas in the Hasura dialect: entity types with scalar fields, a list and a by_pk root field each.
FIELD_TYPES = ("String", "Int", "Boolean", "numeric")
names = st.lists(st.from_regex(r"[A-Z][a-z]{1,6}", fullmatch=True), min_size=1, max_size=4, unique=True)


@st.composite
def hasura_schemas(draw: st.DrawFn) -> dict[str, dict[str, str]]:
    """entity -> field -> GraphQL type (e.g. "Int!")."""
    out = {}
    for entity in draw(names):
        fields = draw(st.lists(st.from_regex(r"[a-z][a-zA-Z]{0,6}", fullmatch=True), max_size=5, unique=True))
        out[entity] = {
            "id": "String!",
            **{f: draw(st.sampled_from(FIELD_TYPES)) + draw(st.sampled_from(["", "!"])) for f in fields if f != "id"},
        }
    return out


def sdl(model: dict[str, dict[str, str]]) -> Any:
    from graphql import build_schema

    types = "\n".join(
        f"type {e} {{ {' '.join(f'{f}: {t}' for f, t in fields.items())} }}" for e, fields in model.items()
    )
    roots = " ".join(["health: Int", *(f"{e}(limit: Int): [{e}!]! {e}_by_pk(id: String!): {e}" for e in model)])
    return build_schema(f"scalar numeric\n{types}\ntype query_root {{ {roots} }}\nschema {{ query: query_root }}")


def schema_verdicts(blue: dict[str, dict[str, str]], green: dict[str, dict[str, str]]) -> dict[str, bool]:
    from belt_gate.plan import ROOT
    from belt_gate.rules.schema import schema, schema_changes

    owners = sorted(blue)
    changes = schema_changes(sdl(blue), sdl(green), owners)
    return {e: schema(e, changes, None).passed for e in [*owners, ROOT]}


SCHEMA_SETTINGS = settings(deadline=None, max_examples=40)


@SCHEMA_SETTINGS
@given(hasura_schemas())
def test_schema_identical_passes(model: dict[str, dict[str, str]]) -> None:
    assert all(schema_verdicts(model, model).values())


@SCHEMA_SETTINGS
@given(hasura_schemas(), st.data())
def test_schema_removing_a_field_or_a_type_fails_its_entity(
    model: dict[str, dict[str, str]], data: st.DataObject
) -> None:
    entity = data.draw(st.sampled_from(sorted(model)))
    fields = [f for f in model[entity] if f != "id"]
    if fields:
        gone = data.draw(st.sampled_from(fields))
        green = {**model, entity: {f: t for f, t in model[entity].items() if f != gone}}
        got = schema_verdicts(model, green)
        assert not got[entity] and all(v for e, v in got.items() if e != entity)
        flipped = (
            model[entity][gone].removesuffix("!") if model[entity][gone].endswith("!") else model[entity][gone] + "!"
        )
        assert not schema_verdicts(model, {**model, entity: {**model[entity], gone: flipped}})[entity]
    got = schema_verdicts(model, {e: f for e, f in model.items() if e != entity})
    assert not got[entity]


@SCHEMA_SETTINGS
@given(hasura_schemas(), st.data())
def test_schema_additions_never_fail(model: dict[str, dict[str, str]], data: st.DataObject) -> None:
    entity = data.draw(st.sampled_from(sorted(model)))
    new_type = data.draw(st.sampled_from(FIELD_TYPES)) + data.draw(st.sampled_from(["", "!"]))
    green = {**model, entity: {**model[entity], "addedField": new_type}, "Zzadded": {"id": "String!"}}
    assert all(schema_verdicts(model, green).values())


enum_sets = st.dictionaries(
    st.from_regex(r"[A-Z][a-z]{1,6}", fullmatch=True),
    st.lists(st.from_regex(r"[A-Z]{1,6}", fullmatch=True), min_size=1, max_size=5, unique=True).map(tuple),
    min_size=1,
    max_size=4,
)


@given(enum_sets, st.data())
def test_enums_identity_removal_and_additions(enums: dict[str, tuple[str, ...]], data: st.DataObject) -> None:
    from belt_gate.rules.schema import enums as enum_rule

    assert enum_rule(enums, enums, ["x"]).passed
    name = data.draw(st.sampled_from(sorted(enums)))
    value = data.draw(st.sampled_from(enums[name]))
    assert not enum_rule(enums, {**enums, name: tuple(v for v in enums[name] if v != value)}, ["x"]).passed
    assert not enum_rule(enums, {k: v for k, v in enums.items() if k != name}, ["x"]).passed
    grown = {**{k: (*v, "ZZADDED") for k, v in enums.items()}, "Zzadded": ("A",)}
    assert enum_rule(enums, grown, ["x"]).passed


def test_enums_never_pass_without_a_source_when_an_endpoint_is_unreadable() -> None:
    from belt_gate.rules.schema import enums as enum_rule

    assert enum_rule(None, None, []).passed  # both endpoints read, neither has an enum column
    assert not enum_rule(None, None, None).passed
    assert enum_rule({"E": ("A",)}, {"E": ("A",)}, None).passed  # the files decide


golden_fields = st.dictionaries(
    st.from_regex(r"[a-z][A-Za-z0-9]{0,7}", fullmatch=True).filter(lambda n: n != "id"),
    st.one_of(
        st.booleans(),
        st.none(),
        st.integers(min_value=0, max_value=2**256).map(str),
        st.from_regex(r"0x[0-9a-f]{40}", fullmatch=True),
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    ),
    min_size=1,
    max_size=6,
)


def _golden(fields: dict[str, Any]) -> Any:
    from belt_gate.golden import parse_event_entry

    return parse_event_entry(
        {
            "chain": 8453,
            "tx_hash": "0x" + "ab" * 32,
            "log_index": 3,
            "block_number": 12,
            "block_hash": "0x" + "cd" * 32,
            "address": "0x" + "11" * 20,
            "event": "Transfer(address indexed from, address indexed to, uint256 value)",
            "entity": "E",
            "entity_id": "8453_12_3",
            "fields": fields,
        },
        "golden/8453.yaml: event 1",
    )


@settings(deadline=None)
@given(
    golden_fields,
    st.dictionaries(st.from_regex(r"extra[A-Z][a-z]{0,4}", fullmatch=True), values, max_size=3),
    st.data(),
)
def test_golden_entity_laws(fields: dict[str, Any], extra: dict[str, Any], data: st.DataObject) -> None:
    from belt_gate.rules.golden import golden_entity

    event = _golden(fields)
    row = {"id": "8453_12_3", **fields}
    assert golden_entity(event, row, belt="green", endpoint="e").passed  # the fixture's own values
    assert golden_entity(event, {**row, **extra}, belt="green", endpoint="e").passed  # columns added
    gone = data.draw(st.sampled_from(sorted(fields)))
    assert not golden_entity(event, {k: v for k, v in row.items() if k != gone}, belt="green", endpoint="e").passed
    assert not golden_entity(event, None, belt="green", endpoint="e").passed  # the row removed


# any text, and text of digits that are not ASCII digits ("²", "٣", "߃") plus underscores
number_like = st.one_of(
    st.text(max_size=8),
    st.text(
        alphabet=st.one_of(st.characters(categories=["Nd", "No"]), st.sampled_from("0123456789_")),
        min_size=1,
        max_size=4,
    ),
)


@given(number_like, number_like)
def test_numbers_only_from_ascii_text_and_same_value_never_raises(text: str, other: str) -> None:
    try:
        parse_number(text)
    except NotANumber:
        pass
    else:  # "²".isdigit() and Decimal("٣") == 3: neither is a number a belt sends
        assert text.strip().isascii() and "_" not in text
    assert same_value(text, text) and same_value(text, other) in (True, False)


@given(st.integers(min_value=0, max_value=10**30), st.sampled_from([0x660, 0x6F0, 0x966, 0x9E6, 0xFF10]))
def test_a_number_in_other_digits_is_not_that_number(n: int, zero: int) -> None:
    """Digits of other scripts ("٣", "३", "３") are digits to str.isdigit, re's \\d and Decimal, not to us."""
    from belt_gate.golden import values_equal

    text = "".join(chr(zero + int(c)) for c in str(n))
    assert not same_value(str(n), text) and not values_equal(str(n), text)
    try:
        parse_number(text)
    except NotANumber:
        return
    raise AssertionError(f"{text!r} parsed")


def test_huge_numbers_stay_exact_and_cheap() -> None:
    """A text column holding "1e999999999" must not become a billion-digit int; 5000 digits are no crash."""
    assert parse_number("1e999999999") == Decimal("1e999999999")
    assert same_value("9" * 5000, "9" * 5000) and not same_value("9" * 5000, "9" * 4999 + "8")
    assert same_value("1e4001", "1" + "0" * 4001) and parse_number("1" + "0" * 30) == 10**30
    from belt_gate.golden import values_equal

    assert not values_equal("42", "9" * 5000) and values_equal("42", "042")
