"""The plugin's L1 cases end to end: golden events and window audits against a real anvil.

One anvil (chain 8453) with sandbox traffic, indexed by the reference indexer into SQLite belts served by
the real sandbox GraphQL server; golden fixtures captured from blue and confirmed on L1; pytest runs in a
subprocess with --belt-rpc/--belt-golden. Healthy belts pass; an RPC answering `[]` is a GAP; green
missing the golden entity fails; in expansion a new chain without golden events fails its coverage test.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from belt_gate.envio import load_schema
from belt_gate.golden import load_golden, parse_event
from belt_gate.golden_capture import EntityEvent, capture
from belt_gate.sandbox import chains, procs, traffic
from belt_gate.sandbox.chains import CONTRACTS
from belt_gate.sandbox.indexer import index_chain
from belt_gate.sandbox.rpc_proxy import start_rpc_proxy
from belt_gate.sandbox.store import connect
from belt_gate.sources.rpc import RpcClient
from tests.support.builders import SCHEMA, hasura_rows
from tests.support.launchers import Served, serve_belt
from tests.support.runs import outcomes

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.sandbox

CHAIN = 8453
NEW_CHAIN = 31337
SIGNATURE = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
NFT = CONTRACTS["SandboxNFT"].lower()
SCHEMAS = [f"--belt-schema={SCHEMA}", f"--belt-blue-schema={SCHEMA}", f"--belt-green-schema={SCHEMA}"]


def _index(rpc_url: str, path: Path, *faults: str) -> Path:
    db = connect(path)
    index_chain(db, load_schema(SCHEMA), chain_id=CHAIN, rpc_url=rpc_url, faults=faults)
    db.close()
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    run = tmp_path_factory.mktemp("l1-plugin")
    chain = chains.start_chain(CHAIN, run_dir=run)
    pids: list[int] = []
    try:
        chains.deploy(chain)
        traffic.traffic(chain, 12)
        blue = _index(chain.rpc_url, run / "blue.db")
        green = _index(chain.rpc_url, run / "green.db")
        missing = _index(chain.rpc_url, run / "missing.db", f"drop:NftTransfer@{CHAIN}#0")
        with contextlib.closing(sqlite3.connect(blue)) as db:
            rows = hasura_rows(db, load_schema(SCHEMA), "NftTransfer")
        golden = run / "golden"
        with RpcClient(CHAIN, chain.rpc_url, timeout=10.0) as rpc:
            capture(
                {"NftTransfer": [rows[0], rows[-1]]},
                rpc,
                {"NftTransfer": EntityEvent("NftTransfer", parse_event(SIGNATURE), addresses=(NFT,))},
                golden,
            )
        empty_url, pid = start_rpc_proxy(chain.rpc_url, "empty", run)
        pids.append(pid)
        with contextlib.ExitStack() as stack:
            served: dict[str, Served] = {
                name: stack.enter_context(serve_belt(path))
                for name, path in (("blue", blue), ("green", green), ("missing", missing))
            }
            yield {
                "rpc": chain.rpc_url,
                "empty_rpc": empty_url,
                "golden": golden,
                "belts": served,
                "events": load_golden(golden, required=True).events,
            }
    finally:
        for pid in pids:
            procs.stop(pid)
        chains.stop_chain(chain)


def run(
    pytester: pytest.Pytester, world: dict[str, Any], *args: str, green: str = "green", rpc: str | None = None
) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-rA",
        f"--belt-blue={world['belts']['blue'].url}",
        f"--belt-green={world['belts'][green].url}",
        f"--belt-rpc={CHAIN}={rpc or world['rpc']}",
        f"--belt-golden={world['golden']}",
        *SCHEMAS,
        *args,
    )


def golden_ids(world: dict[str, Any]) -> list[str]:
    return [f"golden[{e.id}]" for e in world["events"]]


def test_golden_and_audit_pass_on_healthy_belts(pytester: pytest.Pytester, world: dict[str, Any]) -> None:
    pytester.makefile(
        ".toml",
        belt=f"""
[[audit]]
chain = {CHAIN}
address = "{NFT}"
event = "{SIGNATURE}"
entity = "NftTransfer"
windows = 2
width = 50
""",
    )
    result = run(pytester, world, "--belt-config=belt.toml")
    got = outcomes(result)
    ids = golden_ids(world)
    assert len(ids) == 2
    for case in [*ids, f"audit[NftTransfer@{CHAIN}#w0]", f"audit[NftTransfer@{CHAIN}#w1]"]:
        assert got.get(case) == "PASSED", (case, result.stdout.str()[-4000:])


def test_rpc_answering_empty_logs_is_a_gap(pytester: pytest.Pytester, world: dict[str, Any]) -> None:
    result = run(pytester, world, rpc=world["empty_rpc"])
    got = outcomes(result)
    for case in golden_ids(world):
        assert got.get(case) == "FAILED", case
    text = result.stdout.str()
    assert "GAP" in text and "eth_getLogs by blockHash" in text


def test_green_missing_the_golden_entity_fails(pytester: pytest.Pytester, world: dict[str, Any]) -> None:
    result = run(pytester, world, green="missing")
    got = outcomes(result)
    first, last = golden_ids(world)
    assert got.get(first) == "FAILED" and got.get(last) == "PASSED", got
    text = result.stdout.str()
    entity_id = world["events"][0].entity_id
    assert re.search(rf"MISSING: green has no NftTransfer with id '{re.escape(entity_id)}'", text), text[-3000:]


def test_new_chain_without_golden_events_fails_in_expansion(pytester: pytest.Pytester, world: dict[str, Any]) -> None:
    result = run(pytester, world, "--belt-mode=expansion", f"--belt-expected-chains={CHAIN},{NEW_CHAIN}")
    got = outcomes(result)
    assert got.get(f"golden_coverage[{NEW_CHAIN}]") == "FAILED", got
    assert f"golden_coverage[{CHAIN}]" not in got  # blue indexes it: parity data proves it
    assert f"no golden event for new chain {NEW_CHAIN}" in result.stdout.str()
