"""belt_gate against REAL Envio HyperIndex belts: Envio 2.32 and Envio 3 indexing the sandbox's anvil chains
into Postgres, served by the Hasura-dialect server over Envio's own tables and views.

One test per world (a world is two Envio processes, ~0.9 GB each; see conftest.py):
- the upgrade world (blue Envio 2 on four chains, green Envio 3 on six): Envio's tables and views are
  real and served; nothing listens beyond loopback; expansion 4 -> 6 certifies with the committed golden
  fixtures, the schema rule naming the real Envio 2 -> 3 type changes of `_meta`/`chain_metadata`
  (Int -> float4); then an anvil reorg that Envio misses (its rows of replaced blocks stay) makes the same
  certification fail, naming the golden events whose block is no longer canonical and the audit window
  whose rows L1 no longer has;
- the parity world (Envio 2 on both belts, the same chains): parity certifies; a copy of green's Postgres
  rows and views without one event (the demo's faulty green) serves one row fewer and the same progress.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from belt_gate.cli import demo_command, gate_command
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox import traffic
from belt_gate.sandbox.envio.runner import listening_beyond_loopback
from belt_gate.sandbox.envio.world import DATABASE, copy_without_event, stop_copy
from belt_gate.sandbox.postgres import Cluster, connect
from belt_gate.sandbox.world import WorldState, committed_golden
from tests.envio.conftest import EnvioWorld

pytestmark = pytest.mark.envio

ENTITIES = ("NftTransfer", "Erc1155Transfer", "Action", "Loan")
ENVIO_TABLES = {"envio_chains", "envio_checkpoints", "raw_events", "dynamic_contract_registry", "persisted_state"}
REORG_CHAIN, REORG_DEPTH = 1, 6  # replaces blocks head-5 .. head, the golden events' block 10 among them
AUDIT = """
[[audit]]
chain = 1
address = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
event = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
entity = "NftTransfer"
"""


def gql(url: str, query: str) -> dict[str, Any]:
    body = httpx.post(url, json={"query": query}, timeout=30).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def certify(argv: list[str], cwd: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run belt_gate (a real pytest process) and return it with its certificate."""
    cert = cwd / f"cert-{time.monotonic_ns()}.json"
    proc = subprocess.run(
        [*argv, *extra, f"--belt-report={cert}", "-q", "-rA"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert cert.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc, json.loads(cert.read_text())


def failures(cert: dict[str, Any]) -> dict[str, str]:
    return {v["id"]: v["verdict"] for v in cert["verdicts"] if v["outcome"] != "passed"}


def verdict(cert: dict[str, Any], test_id: str) -> str:
    return str(next(v["verdict"] for v in cert["verdicts"] if v["id"] == test_id))


def pg_dsn(world: WorldState) -> str:
    assert world.postgres is not None
    return Cluster.from_dict(world.postgres).dsn(DATABASE)


def tables(world: WorldState, schema: str) -> dict[str, str]:
    with connect(pg_dsn(world)) as db:
        rows = db.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {str(n): str(t) for n, t in rows}


def pg_schemas(world: WorldState) -> list[tuple[str]]:
    with connect(pg_dsn(world)) as db:
        return list(db.execute("SELECT nspname FROM pg_namespace").fetchall())


def row_count(world: WorldState, schema: str, entity: str, chain: int) -> int:
    with connect(pg_dsn(world)) as db:
        row = db.execute(f'SELECT count(*) FROM "{schema}"."{entity}" WHERE "chainId" = %s', (chain,)).fetchone()
    assert row is not None
    return int(row[0])


def check_world_is_real_envio(world: WorldState, versions: dict[str, str]) -> None:
    summary = world.summary()
    assert {n: i["indexer"] for n, i in summary["indexers"].items()} == {"blue": "envio", "green": "envio"}
    assert {n: i["version"] for n, i in summary["indexers"].items()} == versions
    for name, belt in world.belts.items():
        found = tables(world, name)
        assert {"_meta", "chain_metadata"} <= {t for t, kind in found.items() if kind == "VIEW"}
        assert ENVIO_TABLES | set(ENTITIES) <= set(found)
        assert {f"envio_history_{e}" for e in ENTITIES} <= set(found)
        # the server answers from Envio's own views and tables
        data = gql(
            belt.url,
            "{ _meta(order_by: {chainId: asc}) { chainId progressBlock sourceBlock eventsProcessed } "
            "chain_metadata(order_by: {chain_id: asc}) { chain_id latest_processed_block } "
            + " ".join(f"{e}_aggregate {{ aggregate {{ count }} }}" for e in ENTITIES)
            + " }",
        )
        heads = {c: chainlib.head(world.rpc_direct[c]) for c in belt.chains}
        assert [m["chainId"] for m in data["_meta"]] == sorted(belt.chains)
        assert {m["chainId"]: m["progressBlock"] for m in data["_meta"]} == heads
        assert {m["chain_id"]: m["latest_processed_block"] for m in data["chain_metadata"]} == heads
        assert all(m["eventsProcessed"] > 0 for m in data["_meta"])
        for e in ENTITIES:
            direct = sum(row_count(world, name, e, c) for c in belt.chains)
            assert data[f"{e}_aggregate"]["aggregate"]["count"] == direct > 0
        # nothing Envio (or the server) started listens beyond 127.0.0.1
        info = world.envio[name]
        assert listening_beyond_loopback(int(info["pid"])) == []
        assert listening_beyond_loopback(belt.pid) == []


def test_upgrade_world_certifies_and_a_reorg_envio_misses_fails_it(envio_world: EnvioWorld, tmp_path: Path) -> None:
    with envio_world("v3") as world:
        check_world_is_real_envio(world, {"blue": "2.32.12", "green": "3.0.0-alpha.21"})
        status = subprocess.run(
            [sys.executable, "-m", "belt_gate.cli", "sandbox", "status", "--json", "--state-dir", str(world.state_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        indexers = json.loads(status.stdout)["indexers"]
        assert {n: (i["indexer"], i["version"]) for n, i in indexers.items()} == {
            "blue": ("envio", "2.32.12"),
            "green": ("envio", "3.0.0-alpha.21"),
        }
        golden = committed_golden(world)
        assert golden is not None
        argv = [*demo_command(world), f"--belt-golden={golden}"]
        (tmp_path / "belt.toml").write_text(AUDIT)
        proc, cert = certify(argv, tmp_path, "--belt-config=belt.toml")
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert cert["certified"] and cert["complete"] and failures(cert) == {}
        assert cert["totals"]["passed"] == cert["planned"] == 90  # 87 of the demo + 3 audit windows
        assert "CERTIFIED (passed 90 of 90 planned)" in proc.stdout
        # the real schema difference of Envio 2 -> 3, reported as what it is (and not a data-contract failure)
        root = verdict(cert, "schema[_root]")
        assert "Envio's progress views changed (not the data contract)" in root, root
        for change in (
            "_meta.eventsProcessed changed type from Int to float4",
            "chain_metadata.num_events_processed changed type from Int to float4",
        ):
            assert change in root, root
        assert all("progress views" not in verdict(cert, f"schema[{e}]") for e in ENTITIES)

        # an anvil reorg: blocks 10..15 of chain 1 replaced by blocks of other content
        chain = world.chains[REORG_CHAIN]
        before = {b: row_count(world, b, "NftTransfer", REORG_CHAIN) for b in ("blue", "green")}
        replaced = traffic.reorg(chain, REORG_DEPTH)
        assert all(old != new for old, new in replaced.values())
        first = min(replaced)
        time.sleep(3)  # both Envios poll the chain; give them the time to notice (they do not)
        after = {b: row_count(world, b, "NftTransfer", REORG_CHAIN) for b in ("blue", "green")}
        assert after == before  # the real defect: the rows of blocks that no longer exist stayed
        logs = chainlib.rpc(
            chain.rpc_url,
            "eth_getLogs",
            {"fromBlock": hex(first), "toBlock": "latest", "address": chainlib.CONTRACTS["SandboxNFT"]},
        )
        assert logs == []  # ... while L1 has no Transfer in the replaced blocks any more

        proc, cert = certify(argv, tmp_path, "--belt-config=belt.toml")
        assert proc.returncode == 1 and not cert["certified"]
        failed = failures(cert)
        golden_fails = {k for k in failed if k.startswith("golden[")}
        assert golden_fails and all(k.startswith(f"golden[{REORG_CHAIN}:") for k in golden_fails)
        for k in golden_fails:
            assert f"REORG: block {first}" in failed[k] and "no longer canonical" in failed[k], failed[k]
        window = [k for k in failed if k.startswith("audit[NftTransfer")]
        assert window == [f"audit[NftTransfer@{REORG_CHAIN}#w2]"], failed
        assert f"blocks {first}..{max(replaced)}" in failed[window[0]]
        assert "green has" in failed[window[0]] and "NftTransfer rows" in failed[window[0]]
        assert set(failed) == golden_fails | set(window), failed
        for k in failed:
            assert any(line.startswith(f"FAILED belt_gate::{k}") for line in proc.stdout.splitlines()), k


def test_parity_envio2_against_envio2_certifies(envio_world: EnvioWorld, tmp_path: Path) -> None:
    with envio_world("v2") as world:
        check_world_is_real_envio(world, {"blue": "2.32.12", "green": "2.32.12"})
        source = committed_golden(world)
        assert source is not None
        golden = tmp_path / "golden"
        golden.mkdir()
        for c in world.belts["blue"].chains:
            shutil.copy(source / f"{c}.yaml", golden / f"{c}.yaml")
        argv = [*gate_command(world, schema_of="blue"), f"--belt-golden={golden}"]
        proc, cert = certify(argv, tmp_path)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert cert["certified"] and failures(cert) == {}
        assert sorted(int(c) for c in cert["cutoffs"]) == sorted(world.belts["blue"].chains)
        assert cert["totals"]["passed"] == cert["planned"] == 59
        assert "progress views" not in verdict(cert, "schema[_root]")  # same Envio: nothing changed

        # the demo's faulty green on a real Envio world: green's rows and views copied without one event
        copy = copy_without_event(world, "green", "faulty_copy", "NftTransfer", 8453, 1)
        try:
            count = "{ NftTransfer_aggregate(where: {chainId: {_eq: 8453}}) { aggregate { count } } }"
            progress = "{ chain_metadata(order_by: {chain_id: asc}) { chain_id latest_processed_block } }"
            green, faulty = (
                gql(u, count)["NftTransfer_aggregate"]["aggregate"]["count"]
                for u in (world.belts["green"].url, copy.url)
            )
            assert faulty == green - 1 > 0
            gone = gql(copy.url, f'{{ NftTransfer_by_pk(id: "{copy.dropped}") {{ id }} }}')
            assert gone["NftTransfer_by_pk"] is None
            assert gql(world.belts["green"].url, f'{{ NftTransfer_by_pk(id: "{copy.dropped}") {{ id }} }}')[
                "NftTransfer_by_pk"
            ]
            assert gql(copy.url, progress) == gql(world.belts["green"].url, progress)  # Envio's views, copied
        finally:
            stop_copy(world, copy)
        assert "faulty_copy" not in {s for (s,) in pg_schemas(world)}
