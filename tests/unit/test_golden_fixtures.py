"""Golden fixtures: strict loader, stable ids, event signatures, exact value comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from belt_gate.errors import SettingsError
from belt_gate.golden import (
    dump_fixture,
    load_golden,
    parse_event,
    parse_fixture,
    values_equal,
)

TRANSFER = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
TX = "0x" + "ab" * 32
BH = "0x" + "cd" * 32
ADDR = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def entry(**over: object) -> dict[str, object]:
    e: dict[str, object] = {
        "tx_hash": TX,
        "log_index": 7,
        "block_number": 12,
        "block_hash": BH,
        "address": ADDR,
        "event": TRANSFER,
        "entity": "NftTransfer",
        "entity_id": "8453_12_7",
        "fields": {"tokenId": "340282366920938463463374607431768211456", "isMint": True, "chainId": 8453},
    }
    e.update(over)
    return e


def fixture(*events: dict[str, object], chain: int | None = 8453) -> str:
    body: dict[str, object] = {"events": list(events)}
    if chain is not None:
        body["chain"] = chain
    return yaml.safe_dump(body)


def test_valid_fixture_loads_with_stable_ids(tmp_path: Path) -> None:
    (tmp_path / "8453.yaml").write_text(fixture(entry(), entry(log_index=8, entity_id="8453_12_8")))
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "one.yml").write_text(fixture(entry(chain=10), chain=None))
    gs = load_golden(tmp_path, required=True)
    assert [e.id for e in gs.events] == ["10:0xabababab:7", "8453:0xabababab:7", "8453:0xabababab:8"]
    assert gs.chains == {10, 8453}
    e = gs.get("8453:0xabababab:7")
    assert e is not None and e.fields["tokenId"] == "340282366920938463463374607431768211456"
    assert e.event.signature == "Transfer(address,address,uint256)"
    assert e.source.endswith("8453.yaml: event 1")
    assert load_golden(tmp_path).ids == gs.ids  # deterministic


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"block_hash": "0x1234"}, "event 1: block_hash is not a 32-byte hex string"),
        ({"tx_hash": int(TX, 16)}, "event 1: tx_hash must be a quoted string"),
        ({"address": "0xnothex"}, "event 1: address is not a 20-byte hex address"),
        ({"log_index": -1}, "event 1: log_index is not a non-negative integer"),
        ({"log_index": True}, "event 1: log_index is not a non-negative integer"),
        ({"event": "Transfer(address indexed, uint999 x)"}, "event 1: event: bad ABI type"),
        ({"entity_id": 8453127}, "event 1: entity_id must be a non-empty quoted string"),
        ({"fields": {"amount": 1.5}}, "fields.amount is a float"),
        ({"fields": {}}, "fields must be a non-empty mapping"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"params": {"nope": "tokenId"}}, "params: 'nope' is not a parameter"),
        ({"topics": ["0x" + "00" * 32]}, "topics do not fit the event"),
    ],
)
def test_invalid_fixture_names_file_and_field(tmp_path: Path, over: dict[str, object], message: str) -> None:
    (tmp_path / "8453.yaml").write_text(fixture(entry(**over)))
    with pytest.raises(SettingsError) as err:
        load_golden(tmp_path)
    assert str(tmp_path / "8453.yaml") in str(err.value)
    assert message in str(err.value)


def test_missing_field_and_chain() -> None:
    e = entry()
    del e["block_hash"]
    with pytest.raises(SettingsError, match=r"x\.yaml: event 1: block_hash is missing"):
        parse_fixture(fixture(e), "x.yaml")
    with pytest.raises(SettingsError, match="chain is missing"):
        parse_fixture(fixture(entry(), chain=None), "x.yaml")


def test_duplicate_log_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(fixture(entry()))
    (tmp_path / "b.yaml").write_text(fixture(entry(entity_id="other")))
    with pytest.raises(SettingsError, match="is already golden in"):
        load_golden(tmp_path)


def test_unquoted_hex_in_yaml_is_caught() -> None:
    text = f"chain: 8453\nevents:\n- tx_hash: {TX}\n"
    with pytest.raises(SettingsError, match="tx_hash must be a quoted string"):
        parse_fixture(
            text
            + "  log_index: 0\n  block_number: 1\n  block_hash: '"
            + BH
            + "'\n  address: '"
            + ADDR
            + "'\n  event: 'E()'\n  entity: E\n  entity_id: '1'\n  fields: {a: 1}\n",
            "f.yaml",
        )


def test_missing_folder() -> None:
    assert len(load_golden(Path("/nonexistent/golden"))) == 0
    with pytest.raises(SettingsError, match="does not exist"):
        load_golden(Path("/nonexistent/golden"), required=True)


def test_dump_round_trips() -> None:
    events = parse_fixture(fixture(entry(), entry(log_index=1, note="second")), "in.yaml")
    again = parse_fixture(dump_fixture(events), "out.yaml")
    assert [(e.tx_hash, e.log_index, dict(e.fields), e.note) for e in again] == [
        (e.tx_hash, e.log_index, dict(e.fields), e.note) for e in events
    ]


def test_event_signatures_and_fragments() -> None:
    e = parse_event(TRANSFER)
    assert e.topic0 == "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    assert parse_event("event Loan(uint id, address indexed who)").signature == "Loan(uint256,address)"
    frag = {
        "type": "event",
        "name": "TransferSingle",
        "anonymous": False,
        "inputs": [
            {"name": "operator", "type": "address", "indexed": True},
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "id", "type": "uint256", "indexed": False},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    }
    assert parse_event(frag).signature == "TransferSingle(address,address,address,uint256,uint256)"
    with pytest.raises(ValueError, match="more than 4 topics"):
        parse_event("E(uint8 indexed a, uint8 indexed b, uint8 indexed c, uint8 indexed d)")


def test_decode_log() -> None:
    e = parse_event(TRANSFER)
    to = "0x" + "00" * 12 + "70997970c51812dc3a010c7d01b50e0d17dc79c8"
    got = e.decode([e.topic0 or "", "0x" + "00" * 32, to, "0x" + f"{2**255:064x}"], "0x")
    assert got == {"from": "0x" + "00" * 20, "to": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "tokenId": 2**255}
    with pytest.raises(ValueError, match="topics"):
        e.decode([e.topic0 or ""], "0x")


@given(st.integers(-(2**256), 2**256))
def test_integers_compare_exactly(n: int) -> None:
    assert values_equal(n, str(n)) and values_equal(str(n), n) and values_equal(n, n)
    assert not values_equal(n, str(n + 1)) and not values_equal(str(n), n - 1)


@given(st.integers(2**53, 2**80))
def test_never_through_float(n: int) -> None:
    assert not values_equal(n, float(n))  # a JSON float never equals an exact integer
    assert not values_equal(str(n + 1), str(n))  # float would round these together


def test_value_kinds() -> None:
    assert values_equal("0xABcd", "0xabCD")
    assert not values_equal(True, 1) and not values_equal(1, True) and not values_equal(True, "true")
    assert values_equal(None, None) and not values_equal(None, "")
    assert values_equal("1.50", "1.5") and values_equal("MINT", "MINT") and not values_equal("MINT", "mint")
    assert values_equal([1, "0xab"], ["1", "0xAB"]) and not values_equal([1], [1, 2])
