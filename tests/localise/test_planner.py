"""localise.py: the pure planner and diff, and the driver against an in-memory belt (tests/localise/fakes.py).

Laws: the halves partition their window (ints and strings); whatever is dropped, duplicated or corrupted,
an unbounded localisation reports exactly the rows a full diff of both belts reports; every round is one
request per belt however many slices fail; a budget stops it with the narrowest windows found."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from belt_gate import localise, redact
from belt_gate.envio import Reconciliation
from belt_gate.errors import SettingsError
from belt_gate.localise import Budget, Span, diff_rows, parse_budget, split, string_between
from belt_gate.rules.localised import located_text, with_findings
from belt_gate.rules.verdict import Verdict
from belt_gate.settings import Settings
from belt_gate.sources.graphql import Numeric
from tests.localise.fakes import FakeBelt, FakePlan, entity_plan, fingerprint

UNBOUNDED = Budget(None, None)
CHAIN = 8453


def _settings(budget: Budget = UNBOUNDED, mode: str = "parity") -> Settings:
    return Settings(blue="http://127.0.0.1:1/v1/graphql", green="http://127.0.0.1:2/v1/graphql", mode=mode,
                    localise_budget=budget)  # fmt: skip


# -- ranges ------------------------------------------------------------------------------------------


@given(st.text(min_size=0, max_size=12), st.text(min_size=1, max_size=12), st.booleans())
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_string_between_lies_inside_the_range(a: str, b: str, lo_open: bool) -> None:
    lo, hi = min(a, b), max(a, b)
    m = string_between(lo, hi, lo_open)
    if lo == hi:
        assert m is None
        return
    if m is None:  # a closed range always splits; an open one only when a NUL-free string lies inside
        assert lo_open
        return
    assert (lo < m if lo_open else lo <= m) and m < hi
    assert "\x00" not in m or "\x00" in lo + hi


@given(st.integers(0, 2**63), st.integers(0, 2**20))
@settings(max_examples=200, deadline=None)
def test_integer_halves_partition_the_window(lo: int, width: int) -> None:
    halves = split(Span(lo, lo + width))
    if width == 0:
        assert halves is None
        return
    assert halves is not None
    a, b = halves
    assert (a.lo, b.hi) == (lo, lo + width) and a.hi + 1 == b.lo and a.lo <= a.hi < b.lo <= b.hi
    assert max(a.hi - a.lo, b.hi - b.lo) <= width // 2 + 1


def test_string_halves_are_closed_then_open() -> None:
    halves = split(Span("8453_1", "8453_9"))
    assert halves is not None
    a, b = halves
    assert a.lo == "8453_1" and not a.lo_open and b.lo == a.hi and b.lo_open and b.hi == "8453_9"
    assert split(Span("x", "x")) is None


# -- budget grammar ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (None, Budget()),
        ("", Budget()),
        ("40", Budget(40, 60.0)),
        ("30s", Budget(64, 30.0)),
        ("10, 2.5s", Budget(10, 2.5)),
        ("12r,5s", Budget(12, 5.0)),
        (7, Budget(7, 60.0)),
    ],
)
def test_budget_grammar(text: Any, want: Budget) -> None:
    assert parse_budget(text) == want


def test_budget_zero_is_off_and_bad_budgets_are_one_line() -> None:
    assert parse_budget("0").off and parse_budget("0s").off and not parse_budget("1").off
    for bad in ("lots", "1.5", "-3", "5m", True, "4,,2s"):
        with pytest.raises(SettingsError, match="--belt-localise-budget") as info:
            parse_budget(bad)
        assert "\n" not in str(info.value)


# -- the diff ----------------------------------------------------------------------------------------


def test_diff_rows_names_ids_on_one_side_and_fields_with_both_values() -> None:
    blue = [{"id": "a", "v": "1", "w": "x"}, {"id": "b", "v": "2", "w": "y"}, {"id": "c", "v": "3", "w": "z"}]
    green = [{"id": "b", "v": "2", "w": "Y"}, {"id": "c", "v": 3, "w": "z"}, {"id": "d", "v": "4", "w": "q"}]
    d = diff_rows(blue, green, ("id", "v", "w"))
    assert [r["id"] for r in d.only_blue] == ["a"] and [r["id"] for r in d.only_green] == ["d"]
    assert d.changed == [{"id": "b", "field": "w", "blue": "y", "green": "Y"}]  # "3" == 3: numbers by value


# -- the driver against in-memory belts ----------------------------------------------------------------


def _transfers(n: int, seed: int, chain: int = CHAIN) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows, block = [], 1000
    for i in range(n):
        block += rng.choice((0, 1, 1, 3, 40))
        rows.append({"id": f"{chain}_{block}_{i}", "chainId": chain, "blockNumber": block,
                     "amount": rng.randrange(10**9), "owner": f"0x{rng.randrange(16**8):08x}"})  # fmt: skip
    return rows


def _acts(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"{CHAIN}_0x{rng.randrange(16**12):012x}_{i}",
            "chainId": CHAIN,
            "timestamp": 1_700_000_000 + 7 * i,
            "amount": rng.randrange(1000),
        }
        for i in range(n)
    ]


def _loans(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {"id": f"{CHAIN}_{i}", "chainId": CHAIN, "amount": rng.randrange(1000), "status": "ACTIVE"} for i in range(n)
    ]


def _faulted(rows: list[dict[str, Any]], seed: int, drops: int, dups: int, corrupt: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = [dict(r) for r in rows]
    for _ in range(drops):
        out.pop(rng.randrange(len(out)))
    for _ in range(dups):
        r = dict(rng.choice(out))
        r["id"] = f"{r['id']}-dup"
        if r["id"] not in {x["id"] for x in out}:
            out.append(r)
    for _ in range(corrupt):
        rng.choice(out)["amount"] += 1
    return out


def _localise(
    entity: str, blue_rows: list[dict[str, Any]], green_rows: list[dict[str, Any]], budget: Budget = UNBOUNDED
) -> tuple[dict[str, Any], FakeBelt, FakeBelt]:
    plan = entity_plan(entity)
    conds: tuple[tuple[str, str, Any], ...] = (("chainId", "_eq", CHAIN),)
    if plan.reconciliation is Reconciliation.AT_BLOCK:
        conds += (("blockNumber", "_lte", Numeric(10**9)),)
    blue, green = FakeBelt.of("blue", {entity: blue_rows}), FakeBelt.of("green", {entity: green_rows})
    label = f"{entity}@{CHAIN}"
    fps = {label: {"cutoff": "block <= 1000000000", "blue": fingerprint(blue.source, entity, conds),
                   "green": fingerprint(green.source, entity, conds)}}  # fmt: skip
    out = asyncio.run(localise.run(_settings(budget), blue, green, [FakePlan(label, plan, CHAIN, conds)], fps))
    return out.get(label, {}), blue, green


def _full_diff(
    blue_rows: list[dict[str, Any]], green_rows: list[dict[str, Any]]
) -> tuple[set[str], set[str], set[str]]:
    d = diff_rows(blue_rows, green_rows, ("id", "chainId", "blockNumber", "amount", "owner", "timestamp", "status"))
    return {r["id"] for r in d.only_blue}, {r["id"] for r in d.only_green}, {c["id"] for c in d.changed}


@given(
    st.sampled_from(["Transfer", "Act", "Loan"]),
    st.integers(1, 3000),
    st.integers(0, 2**32),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_localisation_reports_exactly_what_a_full_diff_reports(
    entity: str, n: int, seed: int, drops: int, dups: int, corrupt: int
) -> None:
    make = {"Transfer": _transfers, "Act": _acts, "Loan": _loans}[entity]
    blue_rows = make(n, seed)
    green_rows = _faulted(blue_rows, seed + 1, min(drops, n - 1), dups, corrupt)
    want = _full_diff(blue_rows, green_rows)
    entry, blue, green = _localise(entity, blue_rows, green_rows)
    if not any(want):
        assert entry == {}  # equal fingerprints: nothing to localise, nothing asked
        assert blue.source.requests == 0
        return
    assert entry["status"] == "located", entry
    got = ({r["id"] for r in entry["only_blue"]}, {r["id"] for r in entry["only_green"]},
           {c["id"] for c in entry["changed"]})  # fmt: skip
    assert got == want
    assert entry["axis"] == {"Transfer": "blockNumber", "Act": "timestamp", "Loan": "id"}[entity]
    # one request per belt per round, plus the page round(s); both belts asked the same number of times
    assert blue.source.requests == green.source.requests == entry["rounds"] + entry["pages"]
    assert entry["requests"] == {"blue": blue.source.requests, "green": green.source.requests}


@given(st.integers(0, 2**32), st.integers(1, 3), st.integers(0, 2))
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_belt_ordering_ids_otherwise_never_gets_a_false_row(seed: int, drops: int, corrupt: int) -> None:
    """Reconciliation C bisects ids at code-point midpoints; a belt whose collation orders ids differently (here:
    reversed text) still answers a partition or a superset of each window: what is reported is real,
    reported once, and the run stays inside its budget."""
    blue_rows = _loans(800, seed)
    green_rows = _faulted(blue_rows, seed + 1, drops, 0, corrupt)
    plan = entity_plan("Loan")
    conds: tuple[tuple[str, str, Any], ...] = (("chainId", "_eq", CHAIN),)
    blue, green = FakeBelt.of("blue", {"Loan": blue_rows}), FakeBelt.of("green", {"Loan": green_rows})
    for b in (blue, green):
        b.source.id_key = lambda v: v[::-1]
    fps = {
        "Loan@8453": {
            "blue": fingerprint(blue.source, "Loan", conds),
            "green": fingerprint(green.source, "Loan", conds),
        }
    }
    budget = Budget(12, None)
    out = asyncio.run(localise.run(_settings(budget), blue, green, [FakePlan("Loan@8453", plan, CHAIN, conds)], fps))
    want_blue, want_green, want_changed = _full_diff(blue_rows, green_rows)
    if not (want_blue or want_green or want_changed):
        assert out == {}
        return
    e = out["Loan@8453"]
    ids = [r["id"] for r in e["only_blue"]]
    assert set(ids) <= want_blue and len(ids) == len(set(ids))
    assert {r["id"] for r in e["only_green"]} <= want_green and {c["id"] for c in e["changed"]} <= want_changed
    assert blue.source.requests <= 12
    if e["status"] == "located":
        assert set(ids) == want_blue and {c["id"] for c in e["changed"]} == want_changed


def test_one_dropped_row_among_many_costs_about_log2_rows_rounds() -> None:
    blue_rows = _transfers(12_000, 1)
    dropped = blue_rows[7_345]
    green_rows = [r for r in blue_rows if r is not dropped]
    entry, blue, _ = _localise("Transfer", blue_rows, green_rows)
    assert entry["status"] == "located" and entry["changed"] == [] and entry["only_green"] == []
    (row,) = entry["only_blue"]
    assert row["id"] == dropped["id"] and row["blockNumber"] == str(dropped["blockNumber"])
    (w,) = entry["windows"]
    assert (
        w["lo"] <= dropped["blockNumber"] <= w["hi"]
        and w["paged"]
        and (w["blue"], w["green"]) == (w["blue"], w["blue"] - 1)
    )
    # log2(12,000 / FINAL_ROWS) ~ 5.6 halvings, then one page round
    assert entry["rounds"] <= 7 and entry["pages"] == 1 and blue.source.requests == entry["rounds"] + 1
    assert max(blue.source.asked) == 2  # two halves of one open window per round


def test_every_failing_slice_shares_each_round_one_request_per_belt() -> None:
    rows = {c: _transfers(2000, c, chain=c) for c in (1, 10, 8453)}
    blue = FakeBelt.of("blue", {"Transfer": [r for c in rows for r in rows[c]]})
    green_rows = [r for c in rows for r in rows[c] if r is not rows[c][1500]]  # one drop on every chain
    green = FakeBelt.of("green", {"Transfer": green_rows})
    plans, fps = [], {}
    for c in rows:
        conds = (("chainId", "_eq", c),)
        label = f"Transfer@{c}"
        plans.append(FakePlan(label, entity_plan("Transfer"), c, conds))
        fps[label] = {
            "blue": fingerprint(blue.source, "Transfer", conds),
            "green": fingerprint(green.source, "Transfer", conds),
        }
    out = asyncio.run(localise.run(_settings(), blue, green, plans, fps))
    assert {label: [r["id"] for r in e["only_blue"]] for label, e in out.items()} == {
        f"Transfer@{c}": [rows[c][1500]["id"]] for c in rows
    }
    rounds = max(e["rounds"] for e in out.values())
    assert blue.source.requests == green.source.requests == rounds + 1  # not 3 x rounds


def test_budget_stops_at_the_narrowest_windows() -> None:
    blue_rows = _transfers(8_000, 3)
    green_rows = [r for i, r in enumerate(blue_rows) if i not in (100, 6_000)]
    entry, blue, green = _localise("Transfer", blue_rows, green_rows, Budget(3, None))
    assert entry["status"] == "partial" and "budget spent (3 requests per belt)" in entry["why"]
    assert blue.source.requests == green.source.requests == 3 and entry["rounds"] == 3
    windows = entry["windows"]
    assert len(windows) == 2 and not any(w["paged"] for w in windows)
    for w, i in zip(windows, (100, 6_000), strict=True):
        assert w["lo"] <= blue_rows[i]["blockNumber"] <= w["hi"] and w["blue"] == w["green"] + 1
    text = located_text(entry)
    assert "budget spent (3 requests per belt); narrowest windows not paged: blockNumber [" in text


def test_a_time_budget_of_nothing_left_asks_nothing_more() -> None:
    blue_rows = _transfers(5000, 4)
    entry, blue, _ = _localise("Transfer", blue_rows, blue_rows[1:], Budget(None, 1e-9))
    assert entry["status"] == "partial" and "budget spent" in entry["why"] and blue.source.requests <= 1


def test_budget_off_localises_nothing() -> None:
    blue_rows = _transfers(100, 5)
    entry, blue, _ = _localise("Transfer", blue_rows, blue_rows[1:], Budget(0, None))
    assert entry == {} and blue.source.requests == 0


def test_an_endpoint_error_is_reported_with_the_windows_reached() -> None:
    blue_rows = _transfers(20_000, 6)
    plan = entity_plan("Transfer")
    conds = (("chainId", "_eq", CHAIN),)
    blue, green = FakeBelt.of("blue", {"Transfer": blue_rows}), FakeBelt.of("green", {"Transfer": blue_rows[:-1]})
    fps = {
        "Transfer@8453": {
            "blue": fingerprint(blue.source, "Transfer", conds),
            "green": fingerprint(green.source, "Transfer", conds),
        }
    }
    green.source.fail_after = 2
    out = asyncio.run(localise.run(_settings(), blue, green, [FakePlan("Transfer@8453", plan, CHAIN, conds)], fps))
    entry = out["Transfer@8453"]
    assert entry["status"] == "error" and "HTTP 503" in entry["why"] and entry["rounds"] == 2
    assert entry["windows"] and entry["windows"][0]["hi"] == blue_rows[-1]["blockNumber"]
    assert located_text(entry).endswith(f"stopped: {entry['why']}")


def test_errors_and_absent_tables_are_left_to_the_rule() -> None:
    plan = FakePlan("Transfer@1", entity_plan("Transfer"), 1, ())
    s = _settings()
    assert not localise.differs(s, plan, {"blue": {"aggregate": {"count": 1}}, "green": None, "green_error": "x"})
    assert not localise.differs(s, plan, {"blue": {"aggregate": {"count": 1}}, "green": None, "green_absent": True})
    assert not localise.differs(
        s, plan, {"blue": {"aggregate": {"count": "1e5"}}, "green": {"aggregate": {"count": 1}}}
    )
    assert localise.differs(s, plan, {"blue": {"aggregate": {"count": 2}}, "green": {"aggregate": {"count": 1}}})
    grows = Settings(blue="http://a/x", green="http://b/x", mode="expansion", growing_chains=(1,))
    assert not localise.differs(
        grows, plan, {"blue": {"aggregate": {"count": 1}}, "green": {"aggregate": {"count": 2}}}
    )
    assert localise.differs(grows, plan, {"blue": {"aggregate": {"count": 2}}, "green": {"aggregate": {"count": 1}}})


# -- the verdict text and the JSONL files --------------------------------------------------------------


def _located_entry() -> dict[str, Any]:
    blue_rows = _transfers(3000, 7)
    green_rows = [dict(r) for r in blue_rows]
    green_rows[10]["amount"] += 1
    del green_rows[2000]
    green_rows.append({**blue_rows[5], "id": blue_rows[5]["id"] + "-dup"})
    entry, _, _ = _localise("Transfer", blue_rows, green_rows)
    return entry


def test_the_failure_text_names_the_first_rows_with_both_values() -> None:
    entry = _located_entry()
    failed = with_findings(Verdict.fail("Transfer@8453 at block <= 9: count blue 3 != green 3"), entry)
    text = failed.message
    b, g, c = entry["only_blue"][0], entry["only_green"][0], entry["changed"][0]
    assert f"only in blue: {b['id']} (blockNumber {b['blockNumber']})" in text
    assert f"only in green: {g['id']} (blockNumber {g['blockNumber']})" in text
    assert f"{c['id']} field amount: blue {c['blue']!r} != green {c['green']!r}" in text
    assert text.startswith("Transfer@8453 at block <= 9: count blue 3 != green 3; localised (blockNumber, ")
    assert failed.properties["localised"] == "located"
    assert with_findings(Verdict.ok("fine"), entry).message == "fine"


def test_store_failures_writes_one_jsonl_per_failing_test(tmp_path: Path) -> None:
    entry = _located_entry()
    verdicts = [
        {"id": "counts[Transfer@8453]", "outcome": "failed", "verdict": "count differs"},
        {"id": "content[Transfer@8453]", "outcome": "failed", "verdict": "row differs"},
        {"id": "progress[1]", "outcome": "could-not-check", "verdict": "no head"},
        {"id": "counts[Transfer@1]", "outcome": "passed", "verdict": "ok"},
    ]
    written = localise.store_failures(tmp_path / "f", verdicts, {"localised": {"Transfer@8453": entry}})
    assert sorted(p.name for p in written) == ["content[Transfer@8453].jsonl", "counts[Transfer@8453].jsonl",
                                              "progress[1].jsonl"]  # fmt: skip
    lines = [json.loads(x) for x in (tmp_path / "f" / "counts[Transfer@8453].jsonl").read_text().splitlines()]
    kinds = [x["kind"] for x in lines]
    assert kinds == ["only_blue", "only_green", "changed"]
    assert lines[0]["id"] == entry["only_blue"][0]["id"] and lines[0]["row"] == entry["only_blue"][0]
    assert lines[2] == {"test": "counts[Transfer@8453]", "kind": "changed", **entry["changed"][0]}
    (only,) = [json.loads(x) for x in (tmp_path / "f" / "progress[1].jsonl").read_text().splitlines()]
    assert only == {"test": "progress[1]", "kind": "verdict", "verdict": "no head"}


def test_store_failures_masks_a_secret_json_would_escape(tmp_path: Path) -> None:
    secret = 'to"k\\én-0123'  # a quote, a backslash and a non-ASCII letter: each escaped in JSON text
    verdicts = [{"id": "progress[1]", "outcome": "failed", "verdict": f"head read from {secret}"}]
    previous = redact.use(redact.Secrets.of(secret))
    try:
        (path,) = localise.store_failures(tmp_path / "f", verdicts, None)
    finally:
        redact.use(previous)
    text = path.read_text(encoding="utf-8")
    assert secret not in text and json.dumps(secret)[1:-1] not in text
    assert json.loads(text)["verdict"] == "head read from ***"
