"""belt.toml `[entities.X] block_field = "..."` pins an entity whose block lives in a column of another name
(issue 8): it is then compared at the cutoff block like an entity with `blockNumber`, end to end against real
belts (SQLite files served by the sandbox's Hasura-dialect server over HTTP).

Green stands ahead of blue (block 50 vs 40, with rows past 40): without the pin Deposit has no block field,
so it is reconciliation C and cannot be compared at all while the belts stand apart; with it, it is compared at
block <= 40, passes when green holds blue's rows and fails when one is dropped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from belt_gate.envio import parse_schema
from belt_gate.sandbox.store import connect, create_schema
from tests.support.launchers import Served, serve_belt
from tests.support.runs import outcomes
from tests.support.runs import run as run_plugin

pytest_plugins = ["pytester"]

SDL = """
type Deposit @entity {
  id: ID!
  chainId: Int!
  depositor: String!
  amount: BigInt!
  depositBlockNumber: BigInt!
}
"""
CHAINS = (1, 10)
ROWS = 12  # per chain, at blocks 1..12
BLUE_AT, GREEN_AT = 40, 50
DROPPED = "1-5"  # chain 1, block 5
PIN = '[entities.Deposit]\nblock_field = "depositBlockNumber"\n'


def write(path: Path, *, processed: int, ahead: int = 0, drop: frozenset[str] = frozenset()) -> Path:
    """ROWS deposits per chain at blocks 1..ROWS, plus `ahead` more at blocks past `BLUE_AT`."""
    db = connect(path)
    create_schema(db, parse_schema(SDL))
    for chain in CHAINS:
        blocks = [*range(1, ROWS + 1), *range(BLUE_AT + 1, BLUE_AT + 1 + ahead)]
        for block in blocks:
            rid = f"{chain}-{block}"
            if rid not in drop:
                db.execute(
                    'INSERT INTO "Deposit" (id, "chainId", depositor, amount, "depositBlockNumber") VALUES (?,?,?,?,?)',
                    (rid, chain, f"0x{block:040x}", str(10**18 * block + chain), block),
                )
        db.execute(
            "INSERT INTO chain_metadata (chain_id, start_block, end_block, block_height, first_event_block_number, "
            "latest_fetched_block_number, latest_processed_block, num_batches_fetched, num_events_processed, "
            "is_hyper_sync, timestamp_caught_up_to_head_or_endblock) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (chain, 0, None, processed + 5, 1, processed, processed, 3, len(blocks), 0, None),
        )
    db.commit()
    db.close()
    return path


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("pinned")
    schema = d / "deposit.graphql"
    schema.write_text(SDL)
    dbs = {
        "blue": write(d / "blue.db", processed=BLUE_AT),
        "ahead": write(d / "ahead.db", processed=GREEN_AT, ahead=5),
        "dropped": write(d / "dropped.db", processed=GREEN_AT, ahead=5, drop=frozenset({DROPPED})),
    }
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(serve_belt(db, schema=schema)) for name, db in dbs.items()}


def run(pytester: pytest.Pytester, belts: dict[str, Served], green: str, *args: str) -> pytest.RunResult:
    pytester.makefile(".graphql", deposit=SDL)
    schemas = ("--belt-schema=deposit.graphql", "--belt-blue-schema=deposit.graphql")
    return run_plugin(
        pytester,
        "--belt-report=cert.json",
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts[green].url}",
        *schemas,
        "--belt-green-schema=deposit.graphql",
        *args,
    )


def verdicts(pytester: pytest.Pytester) -> dict[str, Any]:
    doc = json.loads((pytester.path / "cert.json").read_text())
    return {v["id"]: v for v in doc["verdicts"]} | {
        "_entities": {e["name"]: e["reconciliation"] for e in doc["entities"]}
    }


def test_without_the_pin_deposit_cannot_be_compared_while_the_belts_stand_apart(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = run(pytester, belts, "ahead", "--belt-settle-timeout=0.1")
    got = outcomes(result)
    assert got["counts[Deposit@1]"] != "PASSED" and got["counts[Deposit@10]"] != "PASSED", result.stdout.str()
    assert verdicts(pytester)["_entities"] == {"Deposit": "C"}


def test_a_pinned_block_field_compares_at_the_cutoff_and_passes_when_equal(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    pytester.makefile(".toml", belt=PIN)
    result = run(pytester, belts, "ahead", "--belt-config=belt.toml")
    got = outcomes(result)
    assert result.ret == 0 and set(got.values()) == {"PASSED"}, result.stdout.str()
    doc = verdicts(pytester)
    assert doc["_entities"] == {"Deposit": "A"}
    for chain in CHAINS:
        assert f"counts[Deposit@{chain}]" in got
        verdict = doc[f"counts[Deposit@{chain}]"]["verdict"]
        assert verdict.startswith(f"Deposit@{chain} at block <= {BLUE_AT}") and f"{ROWS} rows" in verdict, verdict


def test_a_pinned_block_field_fails_a_dropped_row(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    pytester.makefile(".toml", belt=PIN)
    result = run(pytester, belts, "dropped", "--belt-config=belt.toml", f"--belt-sample={ROWS}")
    got = outcomes(result)
    assert got["counts[Deposit@1]"] == "FAILED" and got["counts[Deposit@10]"] == "PASSED", result.stdout.str()
    verdict = verdicts(pytester)["counts[Deposit@1]"]["verdict"]
    assert f"Deposit@1 at block <= {BLUE_AT}: count blue {ROWS} != green {ROWS - 1}" in verdict, verdict
