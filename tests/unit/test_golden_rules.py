"""Golden verdicts (L1 and entity) and expansion coverage: pure, no I/O."""

from __future__ import annotations

import dataclasses

import yaml
from hypothesis import given
from hypothesis import strategies as st

from belt_gate.chain_facts import Block, Log, ProbeResult, Receipt
from belt_gate.golden import GoldenEvent, parse_fixture
from belt_gate.rules.golden import chains_needing_golden, golden_coverage, golden_entity, golden_l1

TRANSFER = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
TOPIC0 = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TX = "0x" + "ab" * 32
BH = "0x" + "cd" * 32
ADDR = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
TO = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
EP = "http://127.0.0.1:8545/"


def golden() -> GoldenEvent:
    text = yaml.safe_dump(
        {
            "chain": 8453,
            "events": [
                {
                    "tx_hash": TX,
                    "log_index": 3,
                    "block_number": 12,
                    "block_hash": BH,
                    "address": ADDR,
                    "event": TRANSFER,
                    "entity": "NftTransfer",
                    "entity_id": "8453_12_3",
                    "fields": {"tokenId": "42", "to": TO, "from": "0x" + "00" * 20, "isMint": True},
                }
            ],
        }
    )
    e = parse_fixture(text, "golden/8453.yaml")[0]
    return dataclasses.replace(e, id=e.short_id())


def the_log(token: int = 42) -> Log:
    return Log(ADDR, (TOPIC0, "0x" + "00" * 32, "0x" + "00" * 12 + TO[2:], "0x" + f"{token:064x}"), "0x", 12, BH, TX, 3)


def probe(**over: object) -> ProbeResult:
    log = the_log()
    p = ProbeResult(TX, 12, BH, Receipt(TX, 12, BH, 1, (log,)), Block(12, BH, "0x" + "00" * 32, 1_700_000_144), (log,))
    return dataclasses.replace(p, **over)  # type: ignore[arg-type]


def test_l1_pass() -> None:
    v = golden_l1(golden(), probe(), endpoint=EP)
    assert v.passed, v.message
    assert "8453:0xabababab:3" in v.message and EP in v.message and "NftTransfer" in v.message


def test_empty_logs_by_hash_is_a_gap() -> None:
    v = golden_l1(golden(), probe(logs_by_hash=()), endpoint=EP)
    assert not v.passed and "GAP" in v.message and v.properties["kind"] == "GAP"
    assert f"chain 8453, tx {TX}, log index 3" in v.message and EP in v.message


def test_logs_by_hash_without_the_golden_log_is_a_gap() -> None:
    other = dataclasses.replace(the_log(), log_index=9)
    assert golden_l1(golden(), probe(logs_by_hash=(other,)), endpoint=EP).properties["kind"] == "GAP"


def test_reorg_is_detected() -> None:
    moved = Block(12, "0x" + "ee" * 32, "0x" + "00" * 32, 1)
    v = golden_l1(golden(), probe(canonical=moved, logs_by_hash=None, logs_error="unknown block"), endpoint=EP)
    assert not v.passed and v.properties["kind"] == "REORG" and "no longer canonical" in v.message
    assert golden_l1(golden(), probe(canonical=None), endpoint=EP).properties["kind"] == "REORG"


def test_receipt_problems() -> None:
    assert golden_l1(golden(), probe(receipt=None), endpoint=EP).properties["kind"] == "MISSING"
    r = Receipt(TX, 12, BH, 0, ())
    assert "no log with index 3" in golden_l1(golden(), probe(receipt=r), endpoint=EP).message
    wrong = dataclasses.replace(the_log(token=43))
    v = golden_l1(golden(), probe(receipt=Receipt(TX, 12, BH, 1, (wrong,)), logs_by_hash=(wrong,)), endpoint=EP)
    assert not v.passed and "tokenId=43 on L1" in v.message
    other_addr = dataclasses.replace(the_log(), address="0x" + "99" * 20)
    v = golden_l1(golden(), probe(receipt=Receipt(TX, 12, BH, 1, (other_addr,))), endpoint=EP)
    assert not v.passed and "emitted by" in v.message


def test_errors_fail_closed() -> None:
    v = golden_l1(golden(), None, endpoint=EP)
    assert not v.passed
    v = golden_l1(golden(), probe(), endpoint=EP, error="HTTP 503 (after 5 attempts)")
    assert not v.passed and "L1 UNAVAILABLE" in v.message and "fail closed" in v.message


@given(st.sampled_from(["logs_by_hash", "receipt", "canonical"]))
def test_l1_never_passes_on_empty_answers(which: str) -> None:
    empty = {"logs_by_hash": (), "receipt": None, "canonical": None}[which]
    assert not golden_l1(golden(), probe(**{which: empty}), endpoint=EP).passed


ROW = {
    "id": "8453_12_3",
    "tokenId": "42",
    "to": TO.upper().replace("0X", "0x"),
    "from": "0x" + "00" * 20,
    "isMint": True,
    "blockNumber": "12",
}


def test_entity_pass_and_failures() -> None:
    assert golden_entity(golden(), ROW, belt="green", endpoint=EP).passed
    v = golden_entity(golden(), None, belt="green", endpoint=EP)
    assert not v.passed and "green has no NftTransfer with id '8453_12_3'" in v.message
    v = golden_entity(golden(), {**ROW, "tokenId": "43"}, belt="green", endpoint=EP)
    assert not v.passed and "tokenId: expected '42', green has '43'" in v.message
    v = golden_entity(golden(), {k: x for k, x in ROW.items() if k != "isMint"}, belt="blue", endpoint=EP)
    assert not v.passed and "fields missing from blue's row: isMint" in v.message
    v = golden_entity(golden(), {**ROW, "tokenId": 42.0}, belt="green", endpoint=EP)
    assert not v.passed  # never through float
    v = golden_entity(golden(), ROW, belt="green", endpoint=EP, error="HTTP 502")
    assert not v.passed and "BELT UNAVAILABLE" in v.message


@given(
    st.dictionaries(
        st.sampled_from(["tokenId", "to", "from", "isMint", "x"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans()),
    )
)
def test_entity_only_passes_with_all_expected_values(row: dict[str, object]) -> None:
    v = golden_entity(golden(), row, belt="green", endpoint=EP)
    if v.passed:
        assert row.get("tokenId") in ("42", 42) and row.get("isMint") is True


def test_coverage() -> None:
    assert chains_needing_golden([1, 10, 8453, 42161], [1, 10, 8453]) == (42161,)
    v = golden_coverage(42161, [8453, 8453])
    assert not v.passed and "no golden event for new chain 42161" in v.message
    assert golden_coverage(8453, [golden()]).passed
    assert not golden_coverage(42161, []).passed
