"""The sandbox world end to end: chains, belts, alias, faults and the CLI, all through real endpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from belt_gate.envio import load_schema
from belt_gate.promote.caddy import CaddyAlias
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox import procs, traffic
from belt_gate.sandbox.indexer import EMITTER, TOPICS
from belt_gate.sandbox.world import World, WorldOptions, WorldState, load_state
from tests.support.launchers import core

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "schema.graphql")
ENTITIES = SCHEMA.entity_names
BLUE = [1, 10, 8453, 80094]
ALL = [1, 10, 8453, 42161, 80094, 7777777]


def gql(url: str, query: str, variables: dict[str, Any] | None = None, *, timeout: float = 30.0) -> dict[str, Any]:
    resp = httpx.post(url, json={"query": query, "variables": variables or {}}, timeout=timeout)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def gql_errors(url: str, query: str) -> list[dict[str, Any]]:
    body = httpx.post(url, json={"query": query}, timeout=30.0).json()
    assert "errors" in body, body
    errors: list[dict[str, Any]] = body["errors"]
    return errors


def metadata(url: str) -> dict[int, dict[str, Any]]:
    data = gql(
        url,
        "{ chain_metadata(order_by: {chain_id: asc}) { chain_id start_block block_height "
        "latest_processed_block latest_fetched_block_number num_events_processed "
        "first_event_block_number num_batches_fetched is_hyper_sync "
        "timestamp_caught_up_to_head_or_endblock } }",
    )
    return {int(r["chain_id"]): r for r in data["chain_metadata"]}


def rows(url: str, entity: str, chain: int) -> list[dict[str, Any]]:
    e = SCHEMA.entity(entity)
    assert e is not None
    cols = " ".join(f.column for f in e.columns)
    q = f"query($c: Int!) {{ {entity}(where: {{chainId: {{_eq: $c}}}}, order_by: {{id: asc}}) {{ {cols} }} }}"
    result: list[dict[str, Any]] = gql(url, q, {"c": chain})[entity]
    return result


def ids(url: str, entity: str, chain: int) -> set[str]:
    return {r["id"] for r in rows(url, entity, chain)}


def poll(check: Callable[[], bool], *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g}s")
        time.sleep(0.05)


def get_logs(url: str, chain_id: int) -> Any:
    return chainlib.rpc(
        url,
        "eth_getLogs",
        {"fromBlock": "0x0", "toBlock": "latest", "address": sorted(set(EMITTER.values())), "topics": [list(TOPICS)]},
    )


# ---------------------------------------------------------------------------------------------
# the default world


def test_blue_has_four_chains_and_green_six_each_caught_up(world: WorldState) -> None:
    for name, want in (("blue", BLUE), ("green", ALL)):
        meta = metadata(world.belts[name].url)
        assert sorted(meta) == want, name
        for chain, m in meta.items():
            head = chainlib.head(world.rpc_direct[chain])
            assert int(m["latest_processed_block"]) == int(m["block_height"]) == head, (name, chain, m)
            assert int(m["num_events_processed"]) > 0
            assert m["timestamp_caught_up_to_head_or_endblock"]
    assert world.ready_seconds is not None and world.ready_seconds <= 60


def test_state_file_records_every_pid_port_url_and_path(world: WorldState) -> None:
    data = json.loads(world.state_file.read_text())
    for key in ("blue", "green", "alias", "admin", "rpc", "blue_schema", "green_schema", "pids", "ports"):
        assert data[key], key
    assert sorted(int(c) for c in data["rpc"]) == ALL
    current = load_state(world.state_dir)
    assert current is not None
    pids, ports = core(current)
    assert set(pids) <= set(data["pids"]) and set(ports) <= set(data["ports"])
    for pid in pids:
        assert procs.alive(pid)
    for port in ports:
        assert procs.port_open(port)
    assert Path(data["blue_schema"]).read_text() == (ROOT / "schema.graphql").read_text()
    assert data["admin"].startswith("http://127.0.0.1:")


def test_alias_points_at_blue(world: WorldState) -> None:
    summary = world.summary()
    with CaddyAlias(summary["admin"]) as alias:
        assert alias.current_upstream() == f"127.0.0.1:{world.belts['blue'].port}"
    assert sorted(metadata(summary["alias"])) == BLUE


@pytest.mark.parametrize("through", ["green", "alias"])
def test_list_by_pk_aggregate_and_introspection(world: WorldState, through: str) -> None:
    url = world.summary()[through]
    chain = 1
    listed = gql(
        url,
        """query { NftTransfer(where: {chainId: {_eq: 1}, blockNumber: {_lte: "8"}},
                          order_by: [{blockNumber: asc}, {logIndex: asc}], limit: 500) {
                          id tokenId blockNumber isMint from } }""",
    )["NftTransfer"]
    assert listed and all(int(r["blockNumber"]) <= 8 for r in listed)
    assert isinstance(listed[0]["tokenId"], str)  # numerics as strings, as Hasura does
    page = gql(
        url,
        '{ NftTransfer(where: {chainId: {_eq: 1}, blockNumber: {_lte: "8"}}, '
        "order_by: [{blockNumber: asc}, {logIndex: asc}], limit: 2, offset: 1) { id } }",
    )["NftTransfer"]
    assert [r["id"] for r in page] == [r["id"] for r in listed[1:3]]
    one = gql(url, "query($id: String!) { NftTransfer_by_pk(id: $id) { id tokenId } }", {"id": listed[0]["id"]})[
        "NftTransfer_by_pk"
    ]
    assert one == {"id": listed[0]["id"], "tokenId": listed[0]["tokenId"]}
    agg = gql(
        url,
        """{ NftTransfer_aggregate(where: {chainId: {_eq: 1}, blockNumber: {_lte: "8"}}) {
                        aggregate { count sum { tokenId } min { blockNumber } max { blockNumber } } } }""",
    )
    a = agg["NftTransfer_aggregate"]["aggregate"]
    assert a["count"] == len(listed)
    assert int(a["sum"]["tokenId"]) == sum(int(r["tokenId"]) for r in listed)
    assert int(a["min"]["blockNumber"]) == min(int(r["blockNumber"]) for r in listed)
    assert int(a["max"]["blockNumber"]) == max(int(r["blockNumber"]) for r in listed)
    fields = gql(url, "{ __schema { queryType { fields { name } } } }")["__schema"]["queryType"]["fields"]
    names = {f["name"] for f in fields}
    for entity in ENTITIES:
        assert {entity, f"{entity}_by_pk", f"{entity}_aggregate"} <= names
    assert "chain_metadata" in names
    assert chain in metadata(url)


def test_prior_system_snapshot_query_works_unchanged(world: WorldState) -> None:
    query = (
        "query Snapshot { chain_metadata(order_by: {chain_id: asc}) { chain_id block_height "
        'latest_processed_block } e0: NftTransfer_aggregate(where: {blockNumber: {_lte: "10"}}) '
        '{ aggregate { count } } e1: Action_aggregate(where: {timestamp: {_lte: "1700000100"}}) '
        "{ aggregate { count } } e2: Loan_aggregate { aggregate { count } } }"
    )
    data = gql(world.summary()["alias"], query)
    assert [int(r["chain_id"]) for r in data["chain_metadata"]] == BLUE
    assert all(int(data[k]["aggregate"]["count"]) >= 0 for k in ("e0", "e1", "e2"))
    assert int(data["e2"]["aggregate"]["count"]) > 0


def test_blue_and_green_agree_on_shared_chains(world: WorldState) -> None:
    for chain in BLUE:
        for entity in ENTITIES:
            assert rows(world.belts["blue"].url, entity, chain) == rows(world.belts["green"].url, entity, chain)


# ---------------------------------------------------------------------------------------------
# determinism: a second, independent world gives the same chains and rows


@pytest.fixture(scope="module")
def world_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldState]:
    w = World(tmp_path_factory.mktemp("world-b"))
    state = w.up(WorldOptions(chains=(1, 7777777), blue_chains=(1,), alias=False))
    try:
        yield state
    finally:
        w.down(state)


def _blocks(url: str) -> list[tuple[str, str, list[str]]]:
    head = chainlib.head(url)
    blocks = chainlib.rpc_batch(url, [("eth_getBlockByNumber", [hex(n), False]) for n in range(head + 1)])
    return [(b["hash"], b["timestamp"], b["transactions"]) for b in blocks]


def test_two_worlds_are_identical(world: WorldState, world_b: WorldState) -> None:
    for chain in (1, 7777777):
        a, b = _blocks(world.rpc_direct[chain]), _blocks(world_b.rpc_direct[chain])
        assert a == b, f"chain {chain}: block hashes, timestamps or tx hashes differ"
        assert any(txs for _, _, txs in a)
        for entity in ENTITIES:
            ra = rows(world.belts["green"].url, entity, chain)
            assert ra, (entity, chain)
            assert ra == rows(world_b.belts["green"].url, entity, chain), (entity, chain)
        ma, mb = metadata(world.belts["green"].url)[chain], metadata(world_b.belts["green"].url)[chain]
        assert ma == mb


def test_belts_follow_new_blocks(world_b: WorldState) -> None:
    chain = world_b.chains[1]
    before = len(ids(world_b.belts["green"].url, "NftTransfer", 1))
    traffic.more_traffic(chain, 2)
    head = chainlib.head(chain)
    for name in ("blue", "green"):
        url = world_b.belts[name].url
        poll(
            lambda url=url: int(metadata(url)[1]["latest_processed_block"]) == head,  # type: ignore[misc]
            what=f"{name} following chain 1 to block {head}",
        )
    assert len(ids(world_b.belts["green"].url, "NftTransfer", 1)) > before
    assert ids(world_b.belts["blue"].url, "NftTransfer", 1) == ids(world_b.belts["green"].url, "NftTransfer", 1)


# ---------------------------------------------------------------------------------------------
# faults, each visible through the API or the RPC

DATA_FAULTS = (
    "drop:NftTransfer@1",
    "dup:Erc1155Transfer@10",
    "corrupt:Loan@8453:amount",
    "lag:42161=5",
    "skip:7777777",
    "extra:80094",
    "schema-remove:Action.context",
    "schema-nullable:NftTransfer.tokenId",
    "enum-remove:LoanStatus.DEFAULTED",
)


@pytest.fixture(scope="module")
def faulty(belt_factory: Callable[..., Any]) -> Any:
    """One belt with every data/schema fault at once, each on its own chain or entity."""
    return belt_factory(faults=DATA_FAULTS, chains=[1, 10, 8453, 42161, 7777777])


def test_fault_drop(world: WorldState, faulty: Any) -> None:
    good, bad = ids(world.belts["green"].url, "NftTransfer", 1), ids(faulty.url, "NftTransfer", 1)
    assert len(good - bad) == 1 and bad < good


def test_fault_dup(world: WorldState, faulty: Any) -> None:
    good, bad = ids(world.belts["green"].url, "Erc1155Transfer", 10), ids(faulty.url, "Erc1155Transfer", 10)
    extra = bad - good
    assert len(extra) == 1 and next(iter(extra)).endswith("-dup") and good < bad


def test_fault_corrupt(world: WorldState, faulty: Any) -> None:
    good = {r["id"]: r for r in rows(world.belts["green"].url, "Loan", 8453)}
    bad = {r["id"]: r for r in rows(faulty.url, "Loan", 8453)}
    assert good.keys() == bad.keys()
    diff = [k for k in good if good[k] != bad[k]]
    assert len(diff) == 1
    assert int(bad[diff[0]]["amount"]) == int(good[diff[0]]["amount"]) + 1


def test_fault_lag(world: WorldState, faulty: Any) -> None:
    m = metadata(faulty.url)[42161]
    assert int(m["latest_processed_block"]) == 5
    assert int(m["block_height"]) == chainlib.head(world.rpc_direct[42161]) > 5
    assert m["timestamp_caught_up_to_head_or_endblock"] is None
    blocks = [int(r["blockNumber"]) for r in rows(faulty.url, "NftTransfer", 42161)]
    assert blocks and max(blocks) <= 5


def test_fault_skip_and_extra(faulty: Any) -> None:
    assert sorted(metadata(faulty.url)) == [1, 10, 8453, 42161, 80094]
    assert rows(faulty.url, "NftTransfer", 7777777) == []
    assert rows(faulty.url, "NftTransfer", 80094)


def _type_fields(url: str, name: str) -> dict[str, Any]:
    q = '{ __type(name: "NAME") { fields { name type { kind name ofType { name } } } } }'.replace("NAME", name)
    return {f["name"]: f["type"] for f in gql(url, q)["__type"]["fields"]}


def test_fault_schema_remove(world: WorldState, faulty: Any) -> None:
    assert "context" in _type_fields(world.belts["green"].url, "Action")
    assert "context" not in _type_fields(faulty.url, "Action")
    errors = gql_errors(faulty.url, "{ Action(limit: 1) { id context } }")
    assert "context" in errors[0]["message"]


def test_fault_schema_nullable(world: WorldState, faulty: Any) -> None:
    assert _type_fields(world.belts["green"].url, "NftTransfer")["tokenId"]["kind"] == "NON_NULL"
    assert _type_fields(faulty.url, "NftTransfer")["tokenId"]["kind"] != "NON_NULL"


def test_fault_enum_remove_writes_the_belts_own_schema(world: WorldState, faulty: Any) -> None:
    assert load_schema(faulty.schema).enums["LoanStatus"] == ("ACTIVE", "REPAID")
    assert "DEFAULTED" in load_schema(world.belts["green"].schema).enums["LoanStatus"]
    assert faulty.schema != world.belts["green"].schema


def test_fault_rpc_empty(world: WorldState, belt_factory: Callable[..., Any]) -> None:
    belt = belt_factory(faults=["rpc-empty:8453"], chains=[8453])
    proxy = belt.chains[8453]
    assert proxy != world.rpc_direct[8453]
    assert get_logs(proxy, 8453) == []
    assert get_logs(world.rpc_direct[8453], 8453)
    m = metadata(belt.url)[8453]
    assert int(m["latest_processed_block"]) == chainlib.head(world.rpc_direct[8453])  # "caught up", but empty
    assert rows(belt.url, "NftTransfer", 8453) == []


def test_fault_rpc_5xx(world: WorldState, belt_factory: Callable[..., Any]) -> None:
    belt = belt_factory(faults=["rpc-5xx:10"], chains=[10, 1])
    resp = httpx.post(belt.chains[10], json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"})
    assert resp.status_code == 503
    assert sorted(metadata(belt.url)) == [1]


def test_fault_slow(belt_factory: Callable[..., Any]) -> None:
    belt = belt_factory(faults=["slow:0.6"], chains=[])
    began = time.monotonic()
    assert gql(belt.url, "{ chain_metadata { chain_id } }") == {"chain_metadata": []}
    assert time.monotonic() - began >= 0.6


def test_fault_http5xx(belt_factory: Callable[..., Any]) -> None:
    belt = belt_factory(faults=["http5xx"], chains=[])
    resp = httpx.post(belt.url, json={"query": "{ chain_metadata { chain_id } }"}, timeout=10)
    assert resp.status_code == 503


# ---------------------------------------------------------------------------------------------
# the real CLI


def cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "belt-gate"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "belt_gate.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout)


def test_cli_up_status_down(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "cli-world")
    up = cli("sandbox", "up", "--json", "--state-dir", state_dir, "--events", "6", "--fault", "green:rpc-empty:42161")
    try:
        assert up.returncode == 0, up.stderr
        urls = json.loads(up.stdout)  # exactly one JSON object
        assert {"blue", "green", "alias", "admin", "rpc"} <= urls.keys()
        assert sorted(int(c) for c in urls["rpc"]) == ALL
        assert urls["rpc"]["42161"] != urls["rpc_direct"]["42161"]
        assert get_logs(urls["rpc"]["42161"], 42161) == []
        assert get_logs(urls["rpc_direct"]["42161"], 42161)
        assert sorted(metadata(urls["blue"])) == BLUE and sorted(metadata(urls["green"])) == ALL
        assert rows(urls["green"], "NftTransfer", 42161) == []  # green indexed through the empty proxy

        status = cli("sandbox", "status", "--json", "--state-dir", state_dir)
        assert status.returncode == 0, status.stderr
        again = json.loads(status.stdout)
        assert {k: again[k] for k in ("blue", "green", "alias", "admin", "rpc")} == {
            k: urls[k] for k in ("blue", "green", "alias", "admin", "rpc")
        }
        human = cli("sandbox", "status", "--state-dir", state_dir)
        assert human.returncode == 0 and urls["alias"] in human.stdout and urls["admin"] in human.stdout

        twice = cli("sandbox", "up", "--state-dir", state_dir)
        assert twice.returncode == 1 and "already runs" in twice.stderr
        assert len(twice.stderr.strip().splitlines()) == 1

        recorded = json.loads((Path(state_dir) / "state.json").read_text())
        pids, ports = recorded["pids"], recorded["ports"]
        assert len(pids) == 6 + 2 + 1 + 1  # anvils, belts, alias, one rpc proxy
        assert all(procs.alive(p) for p in pids)
    finally:
        down = cli("sandbox", "down", "--state-dir", state_dir)
    assert down.returncode == 0, down.stderr
    assert [p for p in pids if procs.alive(p)] == []
    assert [p for p in ports if procs.port_open(p)] == []
    assert load_state(Path(state_dir)) is None
    gone = cli("sandbox", "status", "--state-dir", state_dir)
    assert gone.returncode == 1 and len(gone.stderr.strip().splitlines()) == 1
    assert "no sandbox world" in gone.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["sandbox"],
        ["sandbox", "sideways"],
        ["sandbox", "up", "--events", "0"],
        ["sandbox", "up", "--events", "many"],
        ["sandbox", "up", "--chains", "1,x"],
        ["sandbox", "up", "--fault", "green:nope"],
        ["sandbox", "up", "--fault", "red:skip:1"],
        ["sandbox", "up", "--fault", "green:skip:999"],
        ["sandbox", "up", "--fault", "green:drop:Nope@1"],
        ["sandbox", "up", "--fault", "blue:corrupt:Loan@1:nofield"],
        ["demo", "--bogus"],
    ],
    ids=lambda a: " ".join(a) or "nothing",
)
def test_cli_bad_options_give_one_line(tmp_path: Path, args: list[str]) -> None:
    extra = ["--state-dir", str(tmp_path)] if args[:2] in (["sandbox", "up"], ["demo"]) else []
    result = cli(*args, *extra, timeout=30)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "state.json").exists()


def test_demo_certifies_green_on_the_running_world(world: WorldState) -> None:
    result = cli("demo", "--state-dir", str(world.state_dir), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "using the running sandbox world" in result.stdout
    assert "--belt-mode=expansion" in result.stdout and "--belt-expected-chains=" in result.stdout
    assert "CERTIFIED" in result.stdout and "certification passed" in result.stdout
    assert all(procs.alive(p) for p in core(world)[0])  # a world the demo did not start is left running
    # the whole story, on the demo's own alias (the shared world's alias is not moved)
    out = result.stdout
    refused, promoted, rolled_back, again = (
        out.index(s)
        for s in (
            "belt_gate promote: REFUSED: the session's exit status is 1; not certified",
            "belt_gate promote: PROMOTED: the alias serves green",
            "belt_gate rollback: ROLLED BACK: the alias serves",
            "[5/5] promote the healthy green again",
        )
    )
    assert refused < promoted < rolled_back < again and out.count("PROMOTED: the alias serves green") == 2
    assert "4 chains through it (1, 10, 8453, 80094); still blue: the faulty green was refused" in out
    assert "6 chains through it (1, 10, 8453, 42161, 80094, 7777777); green: promoted again" in out
    assert "the demo went as told" in out
    with CaddyAlias(world.summary()["admin"]) as alias:
        assert alias.current_upstream() == f"127.0.0.1:{world.belts['blue'].port}"
