"""The JSON-RPC fault proxy, a real process in front of a real anvil, observed through web3 and httpx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from web3 import Web3

from belt_gate.envio import load_schema
from belt_gate.errors import SandboxError
from belt_gate.sandbox import chains, procs, traffic
from belt_gate.sandbox.chains import CONTRACTS, Chain
from belt_gate.sandbox.indexer import index_chain
from belt_gate.sandbox.rpc_proxy import mode_for, parse_mode, set_mode, start_rpc_proxy, stats
from belt_gate.sandbox.store import connect

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "schema.graphql")
LOGS_FILTER: dict[str, Any] = {
    "fromBlock": 0,
    "toBlock": "latest",
    "address": Web3.to_checksum_address(CONTRACTS["SandboxNFT"]),
}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    c = chains.start_chain(8453, run_dir=tmp_path_factory.mktemp("chain"))
    try:
        chains.deploy(c)
        traffic.traffic(c, 10)
        yield c
    finally:
        chains.stop_chain(c)


@pytest.fixture(scope="module")
def proxy(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One proxy process for the module; each test sets the mode it needs."""
    url, pid = start_rpc_proxy(chain.rpc_url, "pass", tmp_path_factory.mktemp("proxy"))
    try:
        yield url
    finally:
        procs.stop(pid)
    assert not procs.alive(pid)


def web3(url: str, *, retries: bool = False) -> Web3:
    if retries:
        return Web3(Web3.HTTPProvider(url))
    return Web3(Web3.HTTPProvider(url, exception_retry_configuration=None))


def batch(url: str, calls: list[tuple[str, list[Any]]]) -> httpx.Response:
    body = [{"jsonrpc": "2.0", "id": i + 1, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    return httpx.post(url, json=body, timeout=10)


def test_pass_forwards_single_and_batched(chain: Chain, proxy: str) -> None:
    set_mode(proxy, "pass")
    direct, through = web3(chain.rpc_url), web3(proxy)
    assert through.eth.chain_id == 8453
    assert through.eth.block_number == direct.eth.block_number
    logs = through.eth.get_logs(LOGS_FILTER)  # type: ignore[arg-type]
    assert len(logs) == 10 and logs == direct.eth.get_logs(LOGS_FILTER)  # type: ignore[arg-type]
    resp = batch(proxy, [("eth_blockNumber", []), ("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])])
    answers = {a["id"]: a for a in resp.json()}
    assert int(answers[1]["result"], 16) == direct.eth.block_number
    assert len(answers[2]["result"]) > 40


def test_empty_answers_no_logs_but_everything_else(chain: Chain, proxy: str, tmp_path: Path) -> None:
    set_mode(proxy, "empty")
    through = web3(proxy)
    assert through.eth.get_logs(LOGS_FILTER) == []  # type: ignore[arg-type]
    assert through.eth.block_number == chains.head(chain) > 0
    resp = batch(proxy, [("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}]), ("eth_chainId", [])])
    answers = {a["id"]: a for a in resp.json()}
    assert answers[1]["result"] == [] and answers[2]["result"] == hex(8453)
    assert stats(proxy)["emptied"] >= 2
    # the dangerous green: it reaches the head and has no rows
    db = connect(tmp_path / "belt.db")
    result = index_chain(db, SCHEMA, chain_id=8453, rpc_url=proxy)
    assert result.to_block == chains.head(chain) and result.events == 0
    assert db.execute('SELECT count(*) FROM "NftTransfer"').fetchone()[0] == 0
    assert db.execute("SELECT latest_processed_block FROM chain_metadata").fetchone()[0] == result.head


def test_5xx_answers_503_to_everything(proxy: str, tmp_path: Path) -> None:
    set_mode(proxy, "5xx")
    with pytest.raises(requests.HTTPError, match="503"):
        web3(proxy).eth.block_number  # noqa: B018
    assert batch(proxy, [("eth_chainId", [])]).status_code == 503
    with pytest.raises(SandboxError, match="HTTP 503"):
        index_chain(connect(tmp_path / "belt.db"), SCHEMA, chain_id=8453, rpc_url=proxy)


def test_flaky_fails_first_n_then_passes(proxy: str) -> None:
    set_mode(proxy, "flaky:2")
    w3 = web3(proxy)
    for _ in range(2):
        with pytest.raises(requests.HTTPError, match="503"):
            w3.eth.chain_id  # noqa: B018
    assert w3.eth.chain_id == 8453
    # web3's default provider retries HTTP errors: a flaky:2 endpoint looks healthy to it
    set_mode(proxy, "flaky:2")
    assert web3(proxy, retries=True).eth.block_number > 0
    assert stats(proxy)["seen"] == 3


def test_slow_delays_each_answer(proxy: str) -> None:
    set_mode(proxy, "slow:0.4")
    w3 = web3(proxy)
    started = time.monotonic()
    assert w3.eth.chain_id == 8453
    assert time.monotonic() - started >= 0.4


def test_mode_from_the_command_line(chain: Chain, tmp_path: Path) -> None:
    url, pid = start_rpc_proxy(chain.rpc_url, "empty", tmp_path)
    try:
        assert web3(url).eth.get_logs(LOGS_FILTER) == []  # type: ignore[arg-type]
        assert stats(url)["mode"] == "empty"
    finally:
        procs.stop(pid)
    assert not procs.alive(pid)


def test_modes_parse_and_come_from_faults() -> None:
    assert str(parse_mode("flaky:3")) == "flaky:3" and str(parse_mode("slow:1.5")) == "slow:1.5"
    for bad in ("nope", "flaky", "slow:x", "5xx:1", "flaky:-1"):
        with pytest.raises(SandboxError):
            parse_mode(bad)
    faults = ["rpc-empty:10", "rpc-5xx:8453", "drop:Action@1"]
    assert (mode_for(10, faults), mode_for(8453, faults), mode_for(1, faults)) == ("empty", "5xx", "pass")


def test_bad_mode_refused_at_runtime(proxy: str) -> None:
    with pytest.raises(SandboxError):
        set_mode(proxy, "sideways")
    resp = httpx.post(f"{proxy}/__belt_proxy/mode", content="sideways", timeout=5)
    assert resp.status_code == 400
