"""Sandbox chains against real anvil: determinism, deployment, reorg, stop; contract artifacts vs solc."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from belt_gate.envio import load_schema
from belt_gate.errors import SandboxError
from belt_gate.sandbox import chains, procs, traffic
from belt_gate.sandbox.chains import CONTRACTS, Chain
from belt_gate.sandbox.contracts import ARTIFACTS, build
from belt_gate.sandbox.indexer import index_chain
from belt_gate.sandbox.store import connect, quote

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "schema.graphql")


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Chain]]:
    """Chains started by a test; all stopped (by pid) afterwards."""
    running: list[Chain] = []
    yield running
    for c in running:
        chains.stop_chain(c)


def world(chain_id: int, run_dir: Path, started: list[Chain]) -> Chain:
    c = chains.start_chain(chain_id, run_dir=run_dir)
    started.append(c)
    chains.deploy(c)
    return c


def snapshot(c: Chain, db_path: Path) -> dict[str, Any]:
    """Everything observable about a chain plus the rows the reference indexer makes of it."""
    head = chains.head(c)
    blocks = chains.rpc_batch(c.rpc_url, [("eth_getBlockByNumber", [hex(b), False]) for b in range(head + 1)])
    logs = chains.rpc(c.rpc_url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(head)})
    db = connect(db_path)
    index_chain(db, SCHEMA, chain_id=c.chain_id, rpc_url=c.rpc_url)
    rows = {e.name: db.execute(f"SELECT * FROM {quote(e.name)} ORDER BY id").fetchall() for e in SCHEMA.entities}
    rows["chain_metadata"] = db.execute("SELECT * FROM chain_metadata").fetchall()
    db.close()
    return {
        "blocks": [(b["number"], b["hash"], b["timestamp"], b["transactions"]) for b in blocks],
        "logs": logs,
        "rows": rows,
    }


def test_two_runs_are_identical(tmp_path: Path, started: list[Chain]) -> None:
    snaps = []
    for run in ("a", "b"):
        c = world(8453, tmp_path / run, started)
        summary = traffic.traffic(c)
        assert summary.nft == summary.multi == summary.actions == summary.loans_opened == traffic.DEFAULT_EVENTS
        snaps.append((summary.tx_hashes, snapshot(c, tmp_path / run / "belt.db")))
    (hashes_a, a), (hashes_b, b) = snaps
    assert hashes_a == hashes_b and len(hashes_a) > 10
    assert a["blocks"] == b["blocks"]
    assert a["logs"] == b["logs"] and len(a["logs"]) > 4 * traffic.DEFAULT_EVENTS
    assert a["rows"] == b["rows"]
    # several transactions per block, timestamps on the pinned +12 s grid from the pinned genesis
    assert max(len(blk[3]) for blk in a["blocks"]) >= 4
    for number, _, ts, _ in a["blocks"]:
        assert int(ts, 16) == chains.GENESIS_TIMESTAMP + chains.BLOCK_INTERVAL * int(number, 16)


def test_chain_id_changes_hashes_not_addresses(tmp_path: Path, started: list[Chain]) -> None:
    one, other = world(1, tmp_path, started), world(7777777, tmp_path, started)
    w3 = Web3(Web3.HTTPProvider(other.rpc_url))
    assert w3.eth.chain_id == 7777777
    for name, address in CONTRACTS.items():
        assert w3.eth.get_code(Web3.to_checksum_address(address)) != b"", name
    assert chains.block(one, 1)["hash"] != chains.block(other, 1)["hash"]
    assert chains.deploy(one) == CONTRACTS  # idempotent: nothing sent the second time
    assert chains.head(one) == 1


def test_more_traffic_is_deterministic_and_appends(tmp_path: Path, started: list[Chain]) -> None:
    results = []
    for run in ("a", "b"):
        c = world(10, tmp_path / run, started)
        traffic.traffic(c, 8)
        before = chains.head(c)
        more = traffic.more_traffic(c, 3)
        assert more.blocks == [before + 1, before + 2, before + 3]
        assert chains.head(c) == before + 3
        results.append(chains.block(c)["hash"])
    assert results[0] == results[1]


def test_reorg_changes_block_hash_at_height(tmp_path: Path, started: list[Chain]) -> None:
    c = world(42161, tmp_path, started)
    traffic.traffic(c, 6)
    top = chains.head(c)
    old_logs = chains.rpc(c.rpc_url, "eth_getLogs", {"fromBlock": hex(top), "toBlock": hex(top)})
    changed = traffic.reorg(c, 2)
    assert sorted(changed) == [top - 1, top]
    for height, (old, new) in changed.items():
        assert old != new
        assert chains.block(c, height)["hash"] == new
    assert chains.head(c) == top
    new_logs = chains.rpc(c.rpc_url, "eth_getLogs", {"fromBlock": hex(top), "toBlock": hex(top)})
    assert new_logs != old_logs
    assert all(entry["blockHash"] == changed[top][1] for entry in new_logs)
    # the replaced blocks keep the timestamp grid
    assert int(chains.block(c, top)["timestamp"], 16) == chains.GENESIS_TIMESTAMP + chains.BLOCK_INTERVAL * top
    with pytest.raises(SandboxError):
        traffic.reorg(c, top + 5)


def test_stop_frees_port_and_leaves_no_process(tmp_path: Path) -> None:
    c = chains.start_chain(80094, run_dir=tmp_path)
    try:
        assert procs.port_open(c.port) and procs.alive(c.pid)
        assert c.log.exists()
        assert Chain.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    finally:
        chains.stop_chain(c)
    assert not procs.alive(c.pid) and not procs.group_alive(c.pid)
    assert not procs.port_open(c.port)


def test_committed_artifacts_match_solc_build() -> None:
    try:
        doc = build.compile_contracts()
    except SandboxError as exc:
        pytest.fail(f"cannot rebuild the contracts ({exc}); install node 20+ and run `npm ci`")
    assert build.render(doc) == ARTIFACTS.read_text(), (
        "belt_gate/sandbox/contracts/artifacts.json is stale: run `python -m belt_gate.sandbox.contracts.build`"
    )
    events = {e["name"] for c in doc["contracts"].values() for e in c["abi"] if e["type"] == "event"}
    assert events == {"Transfer", "TransferSingle", "ActionRecorded", "LoanOpened", "LoanRepaid", "LoanDefaulted"}


def test_sqlite_sums_stay_in_range(tmp_path: Path, started: list[Chain]) -> None:
    c = world(1, tmp_path, started)
    traffic.traffic(c, 20)
    db = sqlite3.connect(tmp_path / "belt.db")
    index_chain(db, SCHEMA, chain_id=1, rpc_url=c.rpc_url)
    biggest = max(
        db.execute(f"SELECT max({quote(col)}) FROM {quote(e.name)}").fetchone()[0] or 0
        for e in SCHEMA.entities
        for col in e.numeric_columns
    )
    assert 0 < biggest < 2**53


def test_fast_abi_encoder_matches_eth_abi() -> None:
    from eth_abi.abi import encode

    rng = random.Random(7)
    types = ["address[]", "uint8[]", "uint256[]", "string[]"]
    for n in (0, 1, 5, 33):
        columns = [
            [rng.randbytes(20) for _ in range(n)],
            [rng.randrange(256) for _ in range(n)],
            [rng.randrange(2**256) for _ in range(n)],
            ["".join(rng.choice("aZ €_") for _ in range(rng.randrange(80))) for _ in range(n)],
        ]
        assert traffic.abi_encode(types, columns) == encode(types, columns)
    with pytest.raises(SandboxError):
        traffic.abi_encode(["uint256[]"], [[-1]])


def test_traffic_needs_deployed_contracts(tmp_path: Path, started: list[Chain]) -> None:
    c = chains.start_chain(10, run_dir=tmp_path)
    started.append(c)
    with pytest.raises(SandboxError, match="not deployed"):
        traffic.traffic(c)
    assert chains.head(c) == 0
