"""The reference indexer against a real anvil chain: rows, chain_metadata, incremental runs, faults, follow."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from belt_gate.envio import load_schema
from belt_gate.errors import SandboxError
from belt_gate.sandbox import chains, traffic
from belt_gate.sandbox.chains import CONTRACTS, Chain
from belt_gate.sandbox.indexer import ENTITY_EVENTS, chain_set, follow, index_chain, iso_utc
from belt_gate.sandbox.store import connect, quote

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "schema.graphql")
CHAIN = 10
ENTITIES = ("NftTransfer", "Erc1155Transfer", "Action", "Loan")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    c = chains.start_chain(CHAIN, run_dir=tmp_path_factory.mktemp("chain"))
    try:
        chains.deploy(c)
        traffic.traffic(c)
        yield c
    finally:
        chains.stop_chain(c)


def run(tmp_path: Path, c: Chain, name: str = "belt", **kw: Any) -> sqlite3.Connection:
    db = connect(tmp_path / f"{name}.db")
    index_chain(db, SCHEMA, chain_id=c.chain_id, rpc_url=c.rpc_url, **kw)
    return db


def rows(db: sqlite3.Connection, entity: str) -> dict[str, dict[str, Any]]:
    cur = db.execute(f"SELECT * FROM {quote(entity)} ORDER BY id")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def meta(db: sqlite3.Connection) -> dict[str, Any]:
    cur = db.execute("SELECT * FROM chain_metadata WHERE chain_id = ?", (CHAIN,))
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


@pytest.fixture(scope="module")
def clean(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    db = run(tmp_path_factory.mktemp("clean"), chain)
    return {e: rows(db, e) for e in ENTITIES}


def nth_id(clean: dict[str, dict[str, dict[str, Any]]], entity: str, n: int) -> str:
    """The id of the n-th (0-based) event of an entity, in chain order."""
    order = {
        "NftTransfer": ("blockNumber", "logIndex"),
        "Erc1155Transfer": ("blockNumber", "logIndex"),
        "Loan": ("loanId",),
    }
    if entity == "Action":
        key = lambda r: (r["timestamp"], int(r["id"].rsplit("_", 1)[1]))  # noqa: E731 (one block per ts)
    else:
        key = lambda r: tuple(r[k] for k in order[entity])  # noqa: E731
    return str(sorted(clean[entity].values(), key=key)[n]["id"])


def test_rows_have_the_sample_schema_shape(chain: Chain, tmp_path: Path) -> None:
    db = run(tmp_path, chain)
    nft, multi, action, loan = (rows(db, e) for e in ENTITIES)
    assert len(nft) == len(multi) == len(action) == len(loan) == traffic.DEFAULT_EVENTS
    some = next(iter(nft.values()))
    assert some["id"] == f"{CHAIN}_{some['blockNumber']}_{some['logIndex']}"
    assert some["collection"] == CONTRACTS["SandboxNFT"].lower()
    mints = [r for r in nft.values() if r["isMint"]]
    assert mints and len(mints) < len(nft)
    assert all((r["from"] == "0x" + "00" * 20) == bool(r["isMint"]) for r in nft.values())
    assert all(r["to"] == r["to"].lower() and r["to"].startswith("0x") for r in nft.values())
    assert {r["operator"] for r in multi.values()} == {chains.DEPLOYER.lower()}
    assert {r["actionType"] for r in action.values()} == {"MINT", "BURN", "STAKE", "CLAIM"}
    assert any(r["numeric1"] is None for r in action.values())
    assert any(r["context"] is None for r in action.values())
    assert not any(r["numeric1"] == 0 or r["context"] == "" for r in action.values())
    a = next(iter(action.values()))
    assert a["id"] == f"{CHAIN}_{a['txHash']}_{a['id'].rsplit('_', 1)[1]}" and len(a["txHash"]) == 66
    assert {r["status"] for r in loan.values()} == {"ACTIVE", "REPAID", "DEFAULTED"}
    for r in loan.values():
        assert r["id"] == f"{CHAIN}_{r['loanId']}"
        assert (r["repaidAt"] is not None) == (r["status"] == "REPAID")
        assert (r["defaultedAt"] is not None) == (r["status"] == "DEFAULTED")
        assert r["createdAt"] <= (r["repaidAt"] or r["defaultedAt"] or r["createdAt"])


def test_chain_metadata_is_envio_shaped(chain: Chain, tmp_path: Path) -> None:
    db = run(tmp_path, chain)
    m = meta(db)
    head = chains.head(chain)
    head_ts = int(chains.block(chain, head)["timestamp"], 16)
    assert m == {
        "chain_id": CHAIN,
        "start_block": 0,
        "end_block": None,
        "block_height": head,
        "first_event_block_number": 2,  # block 1 holds the deployments, traffic starts in block 2
        "latest_fetched_block_number": head,
        "latest_processed_block": head,
        "num_batches_fetched": 1,
        "num_events_processed": m["num_events_processed"],
        "is_hyper_sync": 0,
        "timestamp_caught_up_to_head_or_endblock": iso_utc(head_ts),
    }
    logs = chains.rpc(chain.rpc_url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(head)})
    assert m["num_events_processed"] == len(logs)
    assert iso_utc(chains.GENESIS_TIMESTAMP) == "2023-11-14T22:13:20+00:00"


def test_incremental_runs_equal_one_run(
    chain: Chain, tmp_path: Path, clean: dict[str, dict[str, dict[str, Any]]]
) -> None:
    db = connect(tmp_path / "inc.db")
    first = index_chain(db, SCHEMA, chain_id=CHAIN, rpc_url=chain.rpc_url, to_block=5, batch=2)
    assert (first.from_block, first.to_block, first.batches) == (0, 5, 3)
    assert meta(db)["latest_processed_block"] == 5
    assert meta(db)["timestamp_caught_up_to_head_or_endblock"] is None
    second = index_chain(db, SCHEMA, chain_id=CHAIN, rpc_url=chain.rpc_url, batch=3)
    assert second.from_block == 6 and second.to_block == chains.head(chain)
    assert {e: rows(db, e) for e in ENTITIES} == clean
    assert meta(db)["num_batches_fetched"] == first.batches + second.batches
    again = index_chain(db, SCHEMA, chain_id=CHAIN, rpc_url=chain.rpc_url)
    assert again.events == 0 and again.batches == 0


@pytest.mark.parametrize("entity", ENTITIES)
def test_drop_fault_removes_the_nth_event(
    chain: Chain, tmp_path: Path, entity: str, clean: dict[str, dict[str, dict[str, Any]]]
) -> None:
    db = run(tmp_path, chain, faults=[f"drop:{entity}@{CHAIN}#3"])
    got = rows(db, entity)
    missing = set(clean[entity]) - set(got)
    assert missing == {nth_id(clean, entity, 3)}
    assert len(got) == len(clean[entity]) - 1


def test_dup_fault_doubles_the_nth_event(
    chain: Chain, tmp_path: Path, clean: dict[str, dict[str, dict[str, Any]]]
) -> None:
    db = run(tmp_path, chain, faults=[f"dup:Erc1155Transfer@{CHAIN}"])  # default N = 1
    got = rows(db, "Erc1155Transfer")
    target = nth_id(clean, "Erc1155Transfer", 1)
    assert set(got) - set(clean["Erc1155Transfer"]) == {f"{target}-dup"}
    assert {**got[f"{target}-dup"], "id": target} == clean["Erc1155Transfer"][target]


@pytest.mark.parametrize(
    ("entity", "field"),
    [("NftTransfer", "tokenId"), ("Action", "actionType"), ("Loan", "amount"), ("NftTransfer", "isMint")],
)
def test_corrupt_fault_changes_one_field(
    chain: Chain, tmp_path: Path, entity: str, field: str, clean: dict[str, dict[str, dict[str, Any]]]
) -> None:
    db = run(tmp_path, chain, faults=[f"corrupt:{entity}@{CHAIN}:{field}#0"])
    got = rows(db, entity)
    target = nth_id(clean, entity, 0)
    diffs = {(i, k) for i, r in got.items() for k, v in r.items() if clean[entity][i][k] != v}
    assert diffs == {(target, field)}
    before, after = clean[entity][target][field], got[target][field]
    if field in ("tokenId", "amount"):
        assert after == before + 1
    elif field == "isMint":
        assert after == 1 - before
    else:
        assert after == before.lower()


def test_fault_for_another_chain_changes_nothing(
    chain: Chain, tmp_path: Path, clean: dict[str, dict[str, dict[str, Any]]]
) -> None:
    db = run(tmp_path, chain, faults=["drop:NftTransfer@1", "lag:8453=3", "skip:10", "rpc-empty:10"])
    assert {e: rows(db, e) for e in ENTITIES} == clean
    assert meta(db)["latest_processed_block"] == chains.head(chain)


def test_corrupt_unknown_field_is_refused(chain: Chain, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="no field"):
        run(tmp_path, chain, faults=[f"corrupt:Loan@{CHAIN}:nope"])


def test_lag_fault_stops_at_block_and_says_so(
    chain: Chain, tmp_path: Path, clean: dict[str, dict[str, dict[str, Any]]]
) -> None:
    db = run(tmp_path, chain, faults=[f"lag:{CHAIN}=4"])
    m = meta(db)
    assert m["latest_processed_block"] == 4 and m["latest_fetched_block_number"] == 4
    assert m["block_height"] == chains.head(chain) > 4
    assert m["timestamp_caught_up_to_head_or_endblock"] is None
    nft = rows(db, "NftTransfer")
    assert nft and all(r["blockNumber"] <= 4 for r in nft.values())
    assert len(nft) < len(clean["NftTransfer"])
    # the lag holds on later runs too
    index_chain(db, SCHEMA, chain_id=CHAIN, rpc_url=chain.rpc_url, faults=[f"lag:{CHAIN}=4"])
    assert meta(db)["latest_processed_block"] == 4


def test_faults_count_across_incremental_runs(
    chain: Chain, tmp_path: Path, clean: dict[str, dict[str, dict[str, Any]]]
) -> None:
    target = nth_id(clean, "Action", 30)
    db = connect(tmp_path / "inc.db")
    faults = [f"drop:Action@{CHAIN}#30"]
    for stop in (2, 4, 6, None):
        index_chain(db, SCHEMA, chain_id=CHAIN, rpc_url=chain.rpc_url, faults=faults, to_block=stop)
    assert set(clean["Action"]) - set(rows(db, "Action")) == {target}


def test_chain_set_applies_skip_and_extra() -> None:
    assert chain_set([1, 10, 8453, 42161], ["skip:10", "extra:80094"], [1, 10, 8453, 42161, 80094]) == [
        1,
        8453,
        42161,
        80094,
    ]
    assert chain_set([1, 10], ["extra:999"], [1, 10]) == [1, 10]


def test_wrong_chain_is_refused(chain: Chain, tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")
    with pytest.raises(SandboxError, match="serves chain 10"):
        index_chain(db, SCHEMA, chain_id=1, rpc_url=chain.rpc_url)


def test_follow_indexes_new_blocks_until_stopped(tmp_path: Path) -> None:
    c = chains.start_chain(1, run_dir=tmp_path)
    stop = threading.Event()
    worker = threading.Thread(
        target=follow,
        args=(tmp_path / "f.db", SCHEMA, {1: c.rpc_url}, [], stop),
        kwargs={"interval": 0.05},
        daemon=True,
    )
    try:
        chains.deploy(c)
        traffic.traffic(c, 5)
        worker.start()
        db = connect(tmp_path / "f.db")

        def processed() -> int | None:
            try:
                row = db.execute("SELECT latest_processed_block FROM chain_metadata WHERE chain_id = 1").fetchone()
            except sqlite3.OperationalError:  # tables not created yet
                return None
            return None if row is None else int(row[0])

        for _ in range(2):
            target = chains.head(c)
            deadline = time.monotonic() + 15
            while processed() != target:
                assert time.monotonic() < deadline, (
                    f"follow did not reach block {target}: {processed()} (follower alive: {worker.is_alive()})"
                )
                time.sleep(0.02)
            traffic.more_traffic(c, 2)
        stop.set()
        worker.join(timeout=10)
        assert not worker.is_alive()
        n = db.execute('SELECT count(*) FROM "NftTransfer"').fetchone()[0]
        assert n >= 5
    finally:
        stop.set()
        chains.stop_chain(c)


def test_entity_events_count_the_logs(
    chain: Chain, tmp_path: Path, clean: dict[str, dict[str, dict[str, Any]]]
) -> None:
    for entity, (address, topic0) in ENTITY_EVENTS.items():
        logs = chains.rpc(
            chain.rpc_url,
            "eth_getLogs",
            {"fromBlock": "0x0", "toBlock": "latest", "address": address, "topics": [topic0]},
        )
        assert len(logs) == len(clean[entity]), entity


def test_event_signatures_match_the_abis() -> None:
    for name, signatures in chains.EVENT_SIGNATURES.items():
        in_abi = {e["name"] for e in chains.ABIS[name] if e["type"] == "event"}
        assert {s.split("(")[0] for s in signatures} == in_abi
