"""The bulk generator: footprint shape, blue/green sharing, consistent chain_metadata, the server reads it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from belt_gate.envio import Reconciliation
from belt_gate.errors import SettingsError
from belt_gate.sandbox.bulk import BASELINES, VARIANTS, build_belt, load_footprint, plan_counts
from belt_gate.sandbox.hasura.app import GraphQLService, ServerConfig


def test_footprint_schema_has_the_twelve_entities_in_their_modes() -> None:
    schema = load_footprint()
    assert list(schema.entity_names) == list(BASELINES)
    modes = {e.name: e.inferred_reconciliation for e in schema.entities}
    assert modes.pop("Action") is Reconciliation.AT_TIMESTAMP
    assert (
        modes.pop("MiberaLoan") is Reconciliation.CONVERGED
        and modes.pop("MiberaStakedToken") is Reconciliation.CONVERGED
    )
    assert set(modes.values()) == {Reconciliation.AT_BLOCK}
    for e in schema.entities:
        if e.inferred_reconciliation is Reconciliation.AT_BLOCK:
            assert {"blockNumber", "timestamp", "chainId", "transactionHash"} <= {f.name for f in e.fields}


def test_plan_scales_baselines_and_green_holds_exactly_the_rows() -> None:
    plan = plan_counts(3_000_000)
    assert sum(sum(c.values()) for c in plan.values()) == 3_000_000
    assert sum(plan["BgtBoostEvent"].values()) == round(1_470_000 * 3_000_000 / sum(BASELINES.values()))
    assert max(plan, key=lambda e: sum(plan[e].values())) == "Action"
    assert all(set(c) == set(VARIANTS["green"]) for c in plan.values())
    blue = plan_counts(3_000_000, "blue")
    assert all(blue[e] == {c: n for c, n in plan[e].items() if c in VARIANTS["blue"]} for e in plan)
    with pytest.raises(SettingsError):
        plan_counts(5)


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bulk")
    return {v: build_belt(base / v, rows=6_000, variant=v, seed=7).db for v in ("blue", "green")}


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return c.execute(sql).fetchall()


def test_blue_equals_green_on_shared_chains(belts: dict[str, Path]) -> None:
    shared = ",".join(str(c) for c in VARIANTS["blue"])
    for entity in ("BgtBoostEvent", "Action", "MiberaLoan"):
        sql = f'SELECT * FROM "{entity}" WHERE chainId IN ({shared}) ORDER BY id'
        blue, green = _rows(belts["blue"], sql), _rows(belts["green"], sql)
        assert blue == green and blue
    green_chains = {r[0] for r in _rows(belts["green"], "SELECT DISTINCT chainId FROM Action")}
    assert green_chains == set(VARIANTS["green"])
    assert {r[0] for r in _rows(belts["blue"], "SELECT DISTINCT chainId FROM Action")} == set(VARIANTS["blue"])


def test_chain_metadata_is_consistent(belts: dict[str, Path]) -> None:
    db = belts["green"]
    meta = _rows(
        db,
        "SELECT chain_id, start_block, block_height, latest_processed_block, num_events_processed "
        "FROM chain_metadata ORDER BY chain_id",
    )
    assert [m[0] for m in meta] == sorted(VARIANTS["green"])
    for chain, start, height, processed, events in meta:
        assert processed == height
        total = sum(_rows(db, f'SELECT count(*) FROM "{e}" WHERE chainId = {chain}')[0][0] for e in BASELINES)
        assert events == total
        lo, hi = _rows(db, f"SELECT min(blockNumber), max(blockNumber) FROM BgtBoostEvent WHERE chainId={chain}")[0]
        assert start <= int(str(lo)) <= int(str(hi)) <= height


def test_server_reads_a_bulk_belt(belts: dict[str, Path]) -> None:
    db = belts["green"]
    svc = GraphQLService(ServerConfig(db, load_footprint()))
    q = (
        '{ a: BgtBoostEvent_aggregate(where: {_and: [{chainId: {_eq: 8453}}, {blockNumber: {_lte: "999999999"}}]})'
        " { aggregate { count sum { amount } } } }"
    )
    agg = svc.execute({"query": q})["data"]["a"]["aggregate"]
    count, total = _rows(db, "SELECT count(*), sum(amount) FROM BgtBoostEvent WHERE chainId = 8453")[0]
    assert agg == {"count": count, "sum": {"amount": str(total)}}


def test_cli_rejects_bad_rows_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "belt_gate.sandbox.bulk", "--out", str(tmp_path), "--rows", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--rows" in r.stderr
