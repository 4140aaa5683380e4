"""The sandbox Hasura-dialect server over real HTTP: uvicorn in a thread on a free loopback port (and
one test through the real `python -m belt_gate.sandbox.hasura` process), hit with httpx.

Every test runs against both backends: the belt in a SQLite file, and the same belt in a real
Postgres (a throwaway cluster, tables laid out as Envio makes them): the answers must be identical."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from belt_gate.envio import load_schema
from belt_gate.sandbox import pgstore, procs
from belt_gate.sandbox.faults import parse_fault
from belt_gate.sandbox.hasura.app import ServerConfig, create_app
from belt_gate.sandbox.postgres import Cluster, create_database
from belt_gate.sandbox.postgres import connect as pg_connect
from belt_gate.sandbox.store import connect, create_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schema.graphql"
BIG = 2**62  # two of these overflow SQLite's 64-bit sum


@dataclass(frozen=True)
class Belt:
    """Where a test belt lives: a SQLite file, or a schema of a Postgres database."""

    path: Path
    dsn: str | None = None
    pg_schema: str = "public"

    def config(self, **options: Any) -> ServerConfig:
        return ServerConfig(self.path, load_schema(SCHEMA), pg_dsn=self.dsn, pg_schema=self.pg_schema, **options)


def belt_tables() -> dict[str, list[tuple[Any, ...]]]:
    rows: list[tuple[Any, ...]] = []
    for chain in (1, 8453):
        for block in range(1, 11):
            for log in range(2):
                rows.append(
                    (
                        f"{chain}_{block}_{log}",
                        chain,
                        "0xc",
                        "0x0",
                        f"0x{block % 3}",
                        block * 10 + log,
                        log == 0,
                        block,
                        1_700_000_000 + block,
                        f"0xh{block}",
                        log,
                    )
                )
    return {
        "NftTransfer": rows,
        "Loan": [
            ("1_1", 1, 1, "0xb", BIG, 5, "ACTIVE", 1, None, None, "0xh"),
            ("1_2", 1, 2, "0xb", BIG, 5, "REPAID", 1, 9, None, "0xh"),
        ],
        "chain_metadata": [
            (8453, 0, None, 120, 1, 118, 110, 7, 40, True, "2025-01-01T00:00:00+00:00"),
            (1, 0, None, 100, 1, 100, 90, 5, 22, True, None),
        ],
    }


def write_belt(path: Path) -> None:
    db = connect(path)
    create_schema(db, load_schema(SCHEMA))
    for table, rows in belt_tables().items():
        marks = ",".join("?" for _ in rows[0])
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    db.commit()
    db.close()


def write_pg_belt(dsn: str, pg_schema: str) -> None:
    schema = load_schema(SCHEMA)
    with pg_connect(dsn) as db:
        pgstore.drop_schema(db, pg_schema)
        pgstore.create_schema(db, schema, pg_schema)
        for table, rows in belt_tables().items():
            entity = schema.entity(table)
            cols = [f.column for f in entity.columns] if entity else [c for c, _ in pgstore.CHAIN_METADATA_COLUMNS]
            pgstore.insert_rows(db, pg_schema, table, cols, rows)


class Server:
    def __init__(self, config: ServerConfig) -> None:
        self.port = procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/graphql"
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(config), host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        procs.wait_for_port(self.port, timeout=10, what="sandbox hasura")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def query(self, query: str, *, headers: dict[str, str] | None = None, **extra: Any) -> Any:
        r = httpx.post(self.url, json={"query": query, **extra}, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def belt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Belt:
    path = tmp_path_factory.mktemp("hasura") / "belt.sqlite"
    if request.param == "sqlite":
        write_belt(path)
        return Belt(path)
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    dsn = create_database(cluster, "hasura_server")
    write_pg_belt(dsn, "belt_one")
    return Belt(path, dsn, "belt_one")


@pytest.fixture(scope="module")
def server(belt: Belt) -> Iterator[Server]:
    with Server(belt.config()) as s:
        yield s


def test_prior_system_snapshot_query_works_unchanged(server: Server) -> None:
    q = (
        "query Snapshot { chain_metadata(order_by: {chain_id: asc}) { chain_id block_height "
        'latest_processed_block } e0: NftTransfer_aggregate(where: {blockNumber: {_lte: "5"}}) '
        '{ aggregate { count } } e1: Action_aggregate(where: {timestamp: {_lte: "1"}}) { aggregate { count } } '
        "e2: Loan_aggregate { aggregate { count } } }"
    )
    data = server.query(q)["data"]
    assert data["chain_metadata"] == [
        {"chain_id": 1, "block_height": 100, "latest_processed_block": 90},
        {"chain_id": 8453, "block_height": 120, "latest_processed_block": 110},
    ]
    assert data["e0"] == {"aggregate": {"count": 20}}  # 2 chains x 5 blocks x 2 logs
    assert data["e1"] == {"aggregate": {"count": 0}}
    assert data["e2"] == {"aggregate": {"count": 2}}


def test_fingerprint_aggregates_are_exact_and_numerics_are_strings(server: Server) -> None:
    q = (
        '{ a: NftTransfer_aggregate(where: {_and: [{chainId: {_eq: 8453}}, {blockNumber: {_lte: "9"}}]}) '
        "{ aggregate { count sum { tokenId blockNumber chainId } min { blockNumber id } "
        "max { blockNumber timestamp } d: count(columns: [to], distinct: true) } } "
        "l: Loan_aggregate { aggregate { sum { amount } max { amount } } } }"
    )
    agg = server.query(q)["data"]["a"]["aggregate"]
    assert agg["count"] == 18
    assert agg["sum"] == {
        "tokenId": str(sum(b * 20 + 1 for b in range(1, 10))),
        "blockNumber": str(sum(range(1, 10)) * 2),
        "chainId": 8453 * 18,
    }
    assert agg["min"] == {"blockNumber": "1", "id": "8453_1_0"}
    assert agg["max"] == {"blockNumber": "9", "timestamp": "1700000009"}
    assert agg["d"] == 3
    loan = server.query(q)["data"]["l"]["aggregate"]
    assert loan["sum"]["amount"] == str(2 * BIG)  # past 2**63, still exact
    assert loan["max"]["amount"] == str(BIG)


def test_list_filters_order_limit_offset_and_by_pk(server: Server) -> None:
    q = (
        "query($cut: numeric!) { NftTransfer(where: {chainId: {_in: [1]}, blockNumber: {_gt: $cut}, "
        '_or: [{isMint: {_eq: true}}, {logIndex: {_eq: 1}, to: {_neq: "0x0"}}], _not: {id: {_like: "%_9_%"}}}, '
        "order_by: [{blockNumber: desc}, {logIndex: asc}], limit: 3, offset: 1) { id blockNumber isMint } "
        'NftTransfer_by_pk(id: "1_3_1") { id tokenId } nope: NftTransfer_by_pk(id: "x") { id } '
        "Loan(where: {repaidAt: {_is_null: false}}) { id status repaidAt } }"
    )
    data = server.query(q, variables={"cut": "6"})["data"]
    assert data["NftTransfer"] == [
        {"id": "1_10_1", "blockNumber": "10", "isMint": False},
        {"id": "1_8_0", "blockNumber": "8", "isMint": True},
        {"id": "1_8_1", "blockNumber": "8", "isMint": False},
    ]
    assert data["NftTransfer_by_pk"] == {"id": "1_3_1", "tokenId": "31"}
    assert data["nope"] is None
    assert data["Loan"] == [{"id": "1_2", "status": "REPAID", "repaidAt": "9"}]


def test_errors_come_back_the_hasura_way(server: Server) -> None:
    body = server.query("{ Missing_aggregate { aggregate { count } } }")
    assert "data" not in body
    err = body["errors"][0]
    assert err["message"] == "field 'Missing_aggregate' not found in type: 'query_root'"
    assert err["extensions"]["code"] == "validation-failed"
    assert server.query("{ NftTransfer(")["errors"][0]["extensions"]["code"] == "validation-failed"
    bad = server.query('{ NftTransfer_aggregate(where: {blockNumber: {_lte: "x"}}) { aggregate { count } } }')
    assert bad["errors"][0]["extensions"]["code"] == "validation-failed"


def test_introspection_lists_hasura_types(server: Server) -> None:
    q = '{ __type(name: "NftTransfer_aggregate_fields") { fields { name } } __schema { queryType { name } } }'
    data = server.query(q)["data"]
    names = {f["name"] for f in data["__type"]["fields"]}
    assert {"count", "sum", "min", "max", "avg"} <= names
    assert data["__schema"]["queryType"]["name"] == "query_root"


def test_many_aliased_aggregates_in_one_request(server: Server) -> None:
    parts = [
        f"a{i}_{c}: NftTransfer_aggregate(where: {{_and: [{{chainId: {{_eq: {c}}}}}, "
        f'{{blockNumber: {{_lte: "{i % 10 + 1}"}}}}]}}) {{ aggregate {{ count sum {{ tokenId }} '
        f"min {{ blockNumber }} max {{ blockNumber }} }} }}"
        for i in range(300)
        for c in (1, 8453)
    ]
    # its speed is a benchmark (bench/bench_aggregate.py), not an assertion: a loaded machine is slower
    data = server.query("query Fingerprint { " + " ".join(parts) + " }")["data"]
    assert len(data) == 600
    assert data["a4_8453"]["aggregate"]["count"] == 10
    assert data["a4_8453"]["aggregate"]["max"] == {"blockNumber": "5"}
    # a conflicting duplicate alias is still refused in a large document
    dup = [*parts[:100], parts[0].replace("_eq: 1}", "_eq: 8453}")]
    errors = server.query("{ " + " ".join(dup) + " }")["errors"]
    assert "conflict" in errors[0]["message"]


def test_admin_secret_is_required_when_configured(belt: Belt) -> None:
    with Server(belt.config(admin_secret="s3cret")) as s:
        denied = s.query("{ chain_metadata { chain_id } }")
        assert denied["errors"][0]["extensions"]["code"] == "access-denied"
        assert "s3cret" not in str(denied)
        ok = s.query("{ chain_metadata { chain_id } }", headers={"x-hasura-admin-secret": "s3cret"})
        assert len(ok["data"]["chain_metadata"]) == 2


@pytest.mark.parametrize("shape", ["public", "newer"])
def test_secret_with_public_shape_is_hasuras_unauthorized_role(belt: Belt, shape: str) -> None:
    """HASURA_GRAPHQL_UNAUTHORIZED_ROLE: no header -> the public shape; the right secret -> admin (every
    table has `_aggregate`); a wrong secret -> access-denied, the secret never echoed."""
    config = belt.config(shape=shape, aggregate_tables=frozenset({"Loan"}), admin_secret="s3cret-xyz")
    roots = "{ __schema { queryType { fields { name } } } }"
    with Server(config) as s:
        public = {f["name"] for f in s.query(roots)["data"]["__schema"]["queryType"]["fields"]}
        admin = {
            f["name"]
            for f in s.query(roots, headers={"x-hasura-admin-secret": "s3cret-xyz"})["data"]["__schema"]["queryType"][
                "fields"
            ]
        }
        tables = {"NftTransfer", "Erc1155Transfer", "Action", "Loan", "chain_metadata"}
        assert {f"{t}_aggregate" for t in tables} <= admin
        assert "NftTransfer_aggregate" not in public and "chain_metadata_aggregate" not in public
        assert ("Loan_aggregate" in public) == (shape == "public")
        assert ("_meta" in admin) == ("_meta" in public) == (shape == "newer")
        count = s.query(
            "{ NftTransfer_aggregate { aggregate { count } } }", headers={"x-hasura-admin-secret": "s3cret-xyz"}
        )
        assert count["data"]["NftTransfer_aggregate"]["aggregate"]["count"] == 40
        wrong = s.query(roots, headers={"x-hasura-admin-secret": "s3cret-xy"})
        assert wrong["errors"][0]["extensions"]["code"] == "access-denied" and "s3cret" not in str(wrong)
    with Server(belt.config(shape="admin", admin_secret="s3cret-xyz")) as s:
        missing = s.query(roots)["errors"][0]
        assert missing["extensions"]["code"] == "access-denied" and "required, but not found" in missing["message"]


def test_public_and_newer_shapes(belt: Belt) -> None:
    with Server(belt.config(shape="public", aggregate_tables=frozenset({"Loan"}))) as s:
        assert s.query("{ Loan_aggregate { aggregate { count } } }")["data"]["Loan_aggregate"]["aggregate"] == {
            "count": 2
        }
        missing = s.query("{ NftTransfer_aggregate { aggregate { count } } }")["errors"][0]["message"]
        assert missing == "field 'NftTransfer_aggregate' not found in type: 'query_root'"
    with Server(belt.config(shape="newer")) as s:
        meta = s.query(
            "{ _meta(order_by: {chainId: asc}) { chainId progressBlock sourceBlock bufferBlock "
            "eventsProcessed isReady readyAt } }"
        )["data"]["_meta"]
        assert meta == [
            {
                "chainId": 1,
                "progressBlock": 90,
                "sourceBlock": 100,
                "bufferBlock": 100,
                "eventsProcessed": 22,
                "isReady": False,
                "readyAt": None,
            },
            {
                "chainId": 8453,
                "progressBlock": 110,
                "sourceBlock": 120,
                "bufferBlock": 118,
                "eventsProcessed": 40,
                "isReady": True,
                "readyAt": "2025-01-01T00:00:00+00:00",
            },
        ]
        assert "errors" in s.query("{ chain_metadata_by_pk(chain_id: 1) { chain_id } }")


def test_faults_schema_remove_nullable_slow(belt: Belt) -> None:
    faults = tuple(
        parse_fault(f)
        for f in ("schema-remove:NftTransfer.tokenId", "schema-nullable:NftTransfer.logIndex", "slow:0.3")
    )
    with Server(belt.config(faults=faults)) as s:
        started = time.perf_counter()
        body = s.query("{ NftTransfer(limit: 1) { tokenId } }")
        assert time.perf_counter() - started >= 0.3
        assert body["errors"][0]["message"] == "field 'tokenId' not found in type: 'NftTransfer'"
        t = s.query('{ __type(name: "NftTransfer") { fields { name type { kind } } } }')["data"]["__type"]
        kinds = {f["name"]: f["type"]["kind"] for f in t["fields"]}
        assert "tokenId" not in kinds
        assert kinds["logIndex"] == "SCALAR" and kinds["blockNumber"] == "NON_NULL"


def test_cli_process_http5xx_and_healthz(belt: Belt, tmp_path: Path) -> None:
    port = procs.free_port()
    env = {**os.environ, "BG_TEST_SECRET": "xyz", "BG_TEST_DSN": belt.dsn or ""}
    where = (
        ["--db", str(belt.path)] if belt.dsn is None else ["--pg-dsn-env", "BG_TEST_DSN", "--pg-schema", belt.pg_schema]
    )
    argv = [
        sys.executable,
        "-m",
        "belt_gate.sandbox.hasura",
        *where,
        "--schema",
        str(SCHEMA),
        "--port",
        str(port),
        "--fault",
        "http5xx",
        "--admin-secret-env",
        "BG_TEST_SECRET",
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        procs.wait_for_port(port, pid=proc.pid, timeout=20, what="sandbox hasura")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").text == "ok"
        r = httpx.post(f"http://127.0.0.1:{port}/v1/graphql", json={"query": "{ chain_metadata { chain_id } }"})
        assert r.status_code == 503
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert b"xyz" not in out
    bad = subprocess.run(
        [*argv[:-4], "--fault", "drop:NftTransfer@1"], env=env, capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "does not apply" in bad.stderr
