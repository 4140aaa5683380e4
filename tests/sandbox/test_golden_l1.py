"""Golden events and window audits against a real anvil, the reference indexer and the RPC fault proxy.

capture -> fixture -> check passes; `[]` from eth_getLogs -> GAP; a reorg (evm_snapshot/evm_revert, then a
different tx at the same height) -> the golden check fails; 503 then OK -> retried; always 503 or a hang
-> fail closed naming the redacted URL; a dropped event no golden event covers -> the window audit fails.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from belt_gate.audit_spec import choose_windows, parse_audits
from belt_gate.chain_facts import LogQuery
from belt_gate.envio import load_schema
from belt_gate.errors import RpcError
from belt_gate.golden import load_golden, parse_event
from belt_gate.golden_capture import CaptureRefused, EntityEvent, capture
from belt_gate.rules import audit
from belt_gate.rules.audit import BeltCount, L1Counts, witnessed
from belt_gate.rules.golden import golden_entity, golden_l1
from belt_gate.rules.verdict import Verdict
from belt_gate.sandbox import chains, procs, traffic
from belt_gate.sandbox.chains import CONTRACTS, Chain
from belt_gate.sandbox.indexer import index_chain
from belt_gate.sandbox.rpc_proxy import start_rpc_proxy
from belt_gate.sandbox.store import connect
from belt_gate.sources.rpc import RpcClient
from tests.support.builders import hasura_rows


def audit_window(spec: Any, window: Any, l1_counts: Any, belt_count: Any, **kw: Any) -> Verdict:
    """rules.audit.audit_window with L1's and the belt's values (l1_endpoint, belt_error, ...) as keywords."""
    l1 = L1Counts(l1_counts, kw.pop("l1_endpoint"), kw.pop("l1_witness"), kw.pop("l1_error", None))
    belt = BeltCount(belt_count, kw.pop("belt"), kw.pop("belt_endpoint"), kw.pop("belt_error", None))
    return audit.audit_window(spec, window, l1, belt, **kw)


pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "schema.graphql")
CHAIN = 8453
TRANSFER = parse_event("Transfer(address indexed from, address indexed to, uint256 indexed tokenId)")
NFT = CONTRACTS["SandboxNFT"].lower()
NFT_MAP = {"NftTransfer": EntityEvent("NftTransfer", TRANSFER, addresses=(NFT,))}
ZERO = "0x" + "00" * 20
USER = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"


def no_sleep(_: float) -> None:
    """Backoff delays are not synchronisation: tests skip them (their bounds are unit-tested)."""


def client(url: str, **kw: Any) -> RpcClient:
    kw.setdefault("retries", 2)
    kw.setdefault("timeout", 10.0)
    return RpcClient(CHAIN, url, sleep=no_sleep, **kw)


def index(chain: Chain, path: Path, *faults: str) -> sqlite3.Connection:
    db = connect(path)
    db.row_factory = sqlite3.Row
    index_chain(db, SCHEMA, chain_id=chain.chain_id, rpc_url=chain.rpc_url, faults=faults)
    return db


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    run = tmp_path_factory.mktemp("golden-world")
    chain = chains.start_chain(CHAIN, run_dir=run)
    try:
        chains.deploy(chain)
        traffic.traffic(chain, 24)
        blue = index(chain, run / "blue.db")
        yield {"chain": chain, "run": run, "rows": hasura_rows(blue, SCHEMA, "NftTransfer")}
    finally:
        chains.stop_chain(chain)


@pytest.fixture
def proxy(world: dict[str, Any]) -> Iterator[Any]:
    """Start the fault proxy in a given mode in front of the world's chain; stopped by pid."""
    pids: list[int] = []

    def start(mode: str) -> str:
        url, pid = start_rpc_proxy(world["chain"].rpc_url, mode, world["run"])
        pids.append(pid)
        return url

    yield start
    for pid in pids:
        procs.stop(pid)


@pytest.fixture
def golden_dir(world: dict[str, Any], tmp_path: Path) -> Path:
    rows = world["rows"][:3] + world["rows"][-2:]
    with client(world["chain"].rpc_url) as rpc:
        result = capture({"NftTransfer": rows}, rpc, NFT_MAP, tmp_path / "golden")
    assert result.round_trips == 2 and len(result.events) == 5
    return tmp_path / "golden"


def test_capture_then_golden_checks_pass(world: dict[str, Any], golden_dir: Path) -> None:
    events = load_golden(golden_dir, required=True).by_chain(CHAIN)
    assert len(events) == 5 and all(e.topics and e.data is not None for e in events)
    with client(world["chain"].rpc_url) as rpc:
        probe = rpc.golden_probe(events)
    assert probe.round_trips == 1
    by_id = {r["id"]: r for r in world["rows"]}
    for e in events:
        v = golden_l1(e, probe.for_event(e), endpoint=probe.endpoint)
        assert v.passed, v.message
        assert golden_entity(e, by_id[e.entity_id], belt="green", endpoint="g").passed


def test_green_missing_or_corrupted_entity_fails(world: dict[str, Any], golden_dir: Path, tmp_path: Path) -> None:
    e = load_golden(golden_dir).events[1]
    green = index(
        world["chain"], tmp_path / "green.db", f"corrupt:NftTransfer@{CHAIN}:tokenId#1", f"drop:NftTransfer@{CHAIN}#0"
    )
    rows = {r["id"]: r for r in hasura_rows(green, SCHEMA, "NftTransfer")}
    first = load_golden(golden_dir).events[0]
    assert first.entity_id not in rows
    v = golden_entity(first, rows.get(first.entity_id), belt="green", endpoint="http://green/v1/graphql")
    assert not v.passed and "MISSING" in v.message
    v = golden_entity(e, rows.get(e.entity_id), belt="green", endpoint="http://green/v1/graphql")
    assert not v.passed and "tokenId" in v.message, v.message


def test_capture_refuses_what_l1_does_not_confirm(world: dict[str, Any], tmp_path: Path) -> None:
    good = world["rows"][0]
    bad_value = {**world["rows"][1], "tokenId": str(int(world["rows"][1]["tokenId"]) + 1)}
    bad_tx = {**world["rows"][2], "transactionHash": "0x" + "12" * 32}
    bad_index = {**world["rows"][3], "logIndex": 999}
    with client(world["chain"].rpc_url) as rpc, pytest.raises(CaptureRefused) as err:
        capture({"NftTransfer": [good, bad_value, bad_tx, bad_index]}, rpc, NFT_MAP, tmp_path / "golden")
    text = str(err.value)
    assert "tokenId=" in text and "no receipt" in text and "no log with that index" in text
    assert not (tmp_path / "golden").exists()


def test_empty_getlogs_is_a_gap(world: dict[str, Any], golden_dir: Path, proxy: Any) -> None:
    url = proxy("empty")
    events = load_golden(golden_dir).by_chain(CHAIN)
    with client(url) as rpc:
        probe = rpc.golden_probe(events)
        counts = rpc.count_logs_many([LogQuery(NFT, TRANSFER.topic0, 0, chains.head(world["chain"]))])
    for e in events:
        v = golden_l1(e, probe.for_event(e), endpoint=probe.endpoint)
        assert not v.passed and v.properties["kind"] == "GAP", v.message
        assert "[]" in v.message and url in v.message
    spec = parse_audits([{"chain": CHAIN, "address": NFT, "event": TRANSFER.describe(), "entity": "NftTransfer"}])[0]
    window = choose_windows(1, spec, cutoff=chains.head(world["chain"]))[0]
    v = audit_window(
        spec,
        window,
        counts,
        len(world["rows"]),
        l1_witness=witnessed(counts),
        l1_endpoint=url,
        belt="green",
        belt_endpoint="g",
    )
    assert not v.passed and "GAP" in v.message


def test_window_audit_catches_a_dropped_event(world: dict[str, Any], tmp_path: Path) -> None:
    chain = world["chain"]
    head = chains.head(chain)
    dropped_index = 5  # no golden event covers it
    green = index(chain, tmp_path / "green.db", f"drop:NftTransfer@{CHAIN}#{dropped_index}")
    rows = hasura_rows(green, SCHEMA, "NftTransfer")
    lost = world["rows"][dropped_index]
    assert lost["id"] not in {r["id"] for r in rows}
    spec = parse_audits(
        [
            {
                "chain": CHAIN,
                "address": NFT,
                "event": TRANSFER.describe(),
                "entity": "NftTransfer",
                "windows": 3,
                "width": 1000,
            }
        ]
    )[0]
    windows = choose_windows(42, spec, cutoff=head)
    with client(chain.rpc_url) as rpc:
        counts = rpc.count_logs_many(
            [LogQuery(p.addresses, p.event.topic0, w.from_block, w.to_block) for w in windows for p in spec.pairs]
        )
        assert rpc.round_trips == 1
    verdicts = []
    for w, n in zip(windows, counts, strict=True):
        belt_n = sum(1 for r in rows if w.from_block <= int(r["blockNumber"]) <= w.to_block)
        verdicts.append(
            audit_window(
                spec,
                w,
                [n],
                belt_n,
                l1_witness=witnessed(counts),
                seed=42,
                cutoff=head,
                l1_endpoint=rpc.endpoint,
                belt="green",
                belt_endpoint="g",
            )
        )
    failed = [v for v in verdicts if not v.passed]
    covering = [w for w in windows if w.from_block <= int(lost["blockNumber"]) <= w.to_block]
    assert len(failed) == len(covering) == 1, [v.message for v in verdicts]
    assert "1 missing" in failed[0].message


def test_rpc_503_then_ok_is_retried(world: dict[str, Any], golden_dir: Path, proxy: Any) -> None:
    url = proxy("flaky:2")
    events = load_golden(golden_dir).by_chain(CHAIN)
    with client(url, retries=3) as rpc:
        probe = rpc.golden_probe(events)
        assert rpc.round_trips == 3
    assert all(golden_l1(e, probe.for_event(e), endpoint=probe.endpoint).passed for e in events)


def test_rpc_always_503_fails_closed_with_redacted_url(world: dict[str, Any], golden_dir: Path, proxy: Any) -> None:
    url = proxy("5xx") + "/?apikey=SeCrEt-api-key-42"
    events = load_golden(golden_dir).by_chain(CHAIN)
    with client(url, retries=2) as rpc, pytest.raises(RpcError) as err:
        rpc.golden_probe(events)
    text = str(err.value)
    assert "HTTP 503" in text and "after 3 attempts" in text and "chain 8453" in text
    assert "SeCrEt" not in text and "apikey=***" in text
    v = golden_l1(events[0], None, endpoint=err.value.endpoint, error=str(err.value))
    assert not v.passed and "L1 UNAVAILABLE" in v.message and "SeCrEt" not in v.message


def test_rpc_timeout_fails_closed(world: dict[str, Any], proxy: Any) -> None:
    url = proxy("slow:5")
    with client(url, retries=1, timeout=0.3) as rpc, pytest.raises(RpcError, match=r"timeout after 0\.3s"):
        rpc.heads()


def test_reorg_fails_the_golden_check(tmp_path: Path) -> None:
    chain = chains.start_chain(CHAIN, run_dir=tmp_path)
    try:
        chains.deploy(chain)
        snapshot = chains.rpc(chain.rpc_url, "evm_snapshot")
        data = traffic.encode_nft([(ZERO, USER, 7)])
        [tx] = chains.send_block(chain, [chains.tx(chain, NFT, data, nonce=chains.nonce(chain), gas=200_000)])
        db = index(chain, tmp_path / "blue.db")
        rows = hasura_rows(db, SCHEMA, "NftTransfer")
        assert [r["transactionHash"] for r in rows] == [tx]
        with client(chain.rpc_url) as rpc:
            capture({"NftTransfer": rows}, rpc, NFT_MAP, tmp_path / "golden")
        [event] = load_golden(tmp_path / "golden").events
        assert chains.rpc(chain.rpc_url, "evm_revert", snapshot) is True
        other = traffic.encode_nft([(ZERO, USER, 8)])  # a different tx at the same height
        chains.send_block(chain, [chains.tx(chain, NFT, other, nonce=chains.nonce(chain), gas=200_000)])
        assert chains.head(chain) == event.block_number
        with client(chain.rpc_url) as rpc:
            probe = rpc.golden_probe([event])
            assert probe.round_trips == 1  # the unknown-hash error is an answer, not retried
        v = golden_l1(event, probe.for_event(event), endpoint=probe.endpoint)
        assert not v.passed and v.properties["kind"] == "REORG", v.message
        assert "no longer canonical" in v.message
    finally:
        chains.stop_chain(chain)
