"""L1 window audit: seeded window choice (laws) and the count verdict (fail closed)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from belt_gate.audit_spec import AuditSpec, Window, audit_ids, choose_windows, parse_audits
from belt_gate.errors import SettingsError
from belt_gate.rules import audit
from belt_gate.rules.audit import BeltCount, L1Counts, witnessed
from belt_gate.rules.verdict import Verdict

TRANSFER = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
NFT = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def spec(**over: object) -> AuditSpec:
    table = {"chain": 8453, "address": NFT, "event": TRANSFER, "entity": "NftTransfer"}
    table.update(over)
    return parse_audits([table])[0]


def test_parse_and_ids() -> None:
    specs = parse_audits(
        [
            {"chain": 8453, "address": NFT, "event": TRANSFER, "entity": "NftTransfer", "windows": 2},
            {"chain": 8453, "address": ["0x" + "22" * 20], "event": TRANSFER, "entity": "NftTransfer", "windows": 2},
            {"chain": 1, "address": NFT, "event": TRANSFER, "entity": "NftTransfer"},
        ]
    )
    assert [(s.chain, s.entity, len(s.pairs)) for s in specs] == [(1, "NftTransfer", 1), (8453, "NftTransfer", 2)]
    assert audit_ids(specs) == [
        (1, "NftTransfer#w0"),
        (1, "NftTransfer#w1"),
        (1, "NftTransfer#w2"),
        (8453, "NftTransfer#w0"),
        (8453, "NftTransfer#w1"),
    ]


def test_one_entity_audited_on_two_chains_gives_distinct_case_ids() -> None:
    """Two [[audit]] tables for one entity on two chains: the plan's ids name the chain (they collided)."""
    from belt_gate.plan import build_plan

    specs = parse_audits(
        [
            {"chain": 8453, "address": NFT, "event": TRANSFER, "entity": "NftTransfer", "windows": 2},
            {"chain": 1, "address": NFT, "event": TRANSFER, "entity": "NftTransfer", "windows": 2},
        ]
    )
    ids = [c.id for c in build_plan([1, 8453], [], audit_ids=audit_ids(specs)) if c.rule == "audit"]
    assert ids == [
        "audit[NftTransfer@1#w0]",
        "audit[NftTransfer@1#w1]",
        "audit[NftTransfer@8453#w0]",
        "audit[NftTransfer@8453#w1]",
    ]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"chain": "x"}, "chain must be an integer"),
        ({"address": "0x12"}, "address must be"),
        ({"event": "nope"}, "event: not an event signature"),
        ({"entity": "9x"}, "entity must be"),
        ({"windows": 0}, "windows must be an integer >= 1"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_parse_errors(over: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        spec(**over)


@given(st.integers(0, 2**32), st.integers(0, 10**7), st.integers(0, 10**7), st.integers(1, 8), st.integers(1, 5000))
def test_windows_deterministic_and_below_cutoff(seed: int, start: int, span: int, k: int, width: int) -> None:
    cutoff = start + span
    a = choose_windows(seed, 8453, "NftTransfer", cutoff=cutoff, start_block=start, k=k, width=width)
    b = choose_windows(seed, 8453, "NftTransfer", cutoff=cutoff, start_block=start, k=k, width=width)
    assert a == b and len(a) == k
    for w in a:
        assert start <= w.from_block <= w.to_block <= cutoff
        assert w.to_block - w.from_block + 1 <= width
    if span + 1 >= k:  # enough blocks: windows never overlap
        for x, y in itertools.pairwise(a):
            assert x.to_block < y.from_block


def test_windows_depend_on_seed_and_nothing_below_start() -> None:
    s = spec(windows=4, width=10)
    assert choose_windows(1, s, cutoff=10**6) != choose_windows(2, s, cutoff=10**6)
    assert choose_windows(1, s, cutoff=10**6) == choose_windows(1, s, cutoff=10**6)
    assert choose_windows(1, spec(start_block=100), cutoff=99) == ()


def audit_window(spec: Any, window: Any, l1_counts: Any, belt_count: Any, **kw: Any) -> Verdict:
    """rules.audit.audit_window with L1's and the belt's values (l1_endpoint, belt_error, ...) as keywords."""
    l1 = L1Counts(l1_counts, kw.pop("l1_endpoint"), kw.pop("l1_witness"), kw.pop("l1_error", None))
    belt = BeltCount(belt_count, kw.pop("belt"), kw.pop("belt_endpoint"), kw.pop("belt_error", None))
    return audit.audit_window(spec, window, l1, belt, **kw)


KW = {"l1_endpoint": "http://127.0.0.1:1/", "belt": "green", "belt_endpoint": "http://127.0.0.1:2/v1/graphql"}
W = Window(0, 100, 199)


def test_equal_counts_pass() -> None:
    v = audit_window(spec(), W, [5], "5", l1_witness=False, seed=7, cutoff=900, **KW)
    assert v.passed and "L1 5 == green 5" in v.message and "seed 7" in v.message


def test_dropped_event_fails() -> None:
    v = audit_window(spec(), W, [5], 4, l1_witness=True, **KW)
    assert not v.passed and "1 missing" in v.message and v.properties["kind"] == "MISSING"
    v = audit_window(spec(), W, [5], 6, l1_witness=True, **KW)
    assert not v.passed and "1 extra" in v.message


def test_empty_l1_with_rows_is_a_gap() -> None:
    v = audit_window(spec(), W, [0], 4, l1_witness=True, **KW)
    assert not v.passed and "GAP" in v.message and "KF-012" in v.message


def test_both_empty_needs_a_witness() -> None:
    assert not audit_window(spec(), W, [0], 0, l1_witness=False, **KW).passed
    assert audit_window(spec(), W, [0], 0, l1_witness=True, **KW).passed


@pytest.mark.parametrize("bad", [None, 1.0, True, "1.5", "x", -1, {"count": 1}])
def test_non_numeric_fails_closed(bad: object) -> None:
    assert not audit_window(spec(), W, [bad], 1, l1_witness=True, **KW).passed
    assert not audit_window(spec(), W, [1], bad, l1_witness=True, **KW).passed


def test_errors_and_missing_fail_closed() -> None:
    assert not audit_window(spec(), None, [1], 1, l1_witness=True, **KW).passed
    assert not audit_window(spec(), W, None, 1, l1_witness=True, **KW).passed
    assert not audit_window(spec(), W, [1], 1, l1_witness=True, l1_error="HTTP 503", **KW).passed
    assert not audit_window(spec(), W, [1], 1, l1_witness=True, belt_error="timeout", **KW).passed


@given(st.lists(st.integers(0, 50), min_size=1, max_size=3), st.integers(0, 150), st.booleans())
def test_verdict_laws(l1: list[int], belt: int, witness: bool) -> None:
    s = spec(address=[NFT, "0x" + "22" * 20, "0x" + "33" * 20][: len(l1)])
    s = AuditSpec(s.chain, s.entity, s.pairs * len(l1), s.windows, s.width)
    v = audit_window(s, W, l1, belt, l1_witness=witness, **KW)
    if v.passed:
        assert sum(l1) == belt and (belt > 0 or witness)
    if sum(l1) == belt and belt > 0:
        assert v.passed


def test_witness() -> None:
    assert not witnessed([0, 0], [])
    assert witnessed([0], [3])
    assert not witnessed([None, "x"])
