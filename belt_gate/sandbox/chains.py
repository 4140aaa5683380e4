"""Deterministic anvil chains for the sandbox: start, deploy the four contracts, reorg, stop.

Determinism (reference/environment.md §3): anvil runs with `--no-mining`, a fixed mnemonic, a pinned
genesis `--timestamp`, `--order fifo`, and `anvil_setBlockTimestampInterval 12` right after it starts,
so every block is `previous + 12 s` whatever the wall clock says. Blocks are only mined by explicit
`evm_mine` calls, after all of a block's transactions are in the pool. Transactions are sent with
every field pinned (nonce, gas, fees), so two runs of the same sequence give identical transaction
hashes, block hashes, timestamps and logs.

The base fee starts at 0 and stays 0 because blocks are never filled past half of the (raised) gas
limit: the traffic generator keeps each block's planned gas below `BLOCK_GAS_BUDGET`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from belt_gate.errors import SandboxError
from belt_gate.sandbox import procs, tools
from belt_gate.sandbox.contracts import NAMES, abi, bytecode

MNEMONIC = "test test test test test test test test test test test junk"
#: anvil's account 0 for MNEMONIC: deploys the contracts and sends all traffic.
DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
GENESIS_TIMESTAMP = 1_700_000_000
BLOCK_INTERVAL = 12
GAS_LIMIT = 300_000_000
#: Planned gas per block stays below half the gas limit, so the EIP-1559 base fee never leaves 0.
BLOCK_GAS_BUDGET = GAS_LIMIT // 2 - 1_000_000
MAX_FEE_PER_GAS = 1_000_000_000
PRIORITY_FEE_PER_GAS = 0

#: Contract name -> address: account 0's CREATE addresses for nonces 0..3, the same on every chain.
CONTRACTS: dict[str, str] = {
    "SandboxNFT": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "SandboxMulti": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "SandboxActions": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
    "SandboxLending": "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
}
#: Contract name -> its events as Envio's config.yaml writes them.
EVENT_SIGNATURES: dict[str, tuple[str, ...]] = {
    "SandboxNFT": ("Transfer(address indexed from, address indexed to, uint256 indexed tokenId)",),
    "SandboxMulti": (
        "TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)",
    ),
    "SandboxActions": ("ActionRecorded(address indexed actor, uint8 actionType, uint256 numeric1, string context)",),
    "SandboxLending": (
        "LoanOpened(uint256 indexed loanId, address indexed borrower, uint256 amount, uint256 expiry)",
        "LoanRepaid(uint256 indexed loanId)",
        "LoanDefaulted(uint256 indexed loanId)",
    ),
}
#: Contract name -> ABI (from the committed artifacts).
ABIS: dict[str, list[dict[str, Any]]] = {name: abi(name) for name in NAMES}

#: The six chain ids of the origin system.
DEFAULT_CHAIN_IDS: tuple[int, ...] = (1, 10, 8453, 42161, 80094, 7777777)


@dataclass(frozen=True)
class Chain:
    """One running anvil. Plain data: it can be written to and read back from a state file."""

    chain_id: int
    port: int
    rpc_url: str
    pid: int
    log: Path

    def to_dict(self) -> dict[str, Any]:
        """The chain process as plain JSON for the world's state file."""
        d = asdict(self)
        d["log"] = str(self.log)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chain:
        """The chain `to_dict` wrote."""
        return cls(int(d["chain_id"]), int(d["port"]), str(d["rpc_url"]), int(d["pid"]), Path(d["log"]))


# ---------------------------------------------------------------------------------------------
# JSON-RPC (plain httpx: the sandbox needs raw, batched calls, not web3's formatting)


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    """One pooled client for the process (building a client costs ~40 ms of TLS setup)."""
    global _client
    if _client is None:
        _client = httpx.Client(timeout=60.0, limits=httpx.Limits(max_connections=64))
    return _client


def rpc_batch(url: str, calls: Sequence[tuple[str, Sequence[Any]]], *, timeout: float = 60.0) -> list[Any]:
    """Send several JSON-RPC calls in one HTTP request; results in call order. Errors raise."""
    if not calls:
        return []
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
    try:
        resp = _http().post(url, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise SandboxError(f"RPC {url} unreachable: {type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        raise SandboxError(f"RPC {url} answered HTTP {resp.status_code} to {calls[0][0]}")
    try:
        answers = resp.json()
    except ValueError:
        raise SandboxError(f"RPC {url} answered non-JSON to {calls[0][0]}") from None
    if isinstance(answers, dict):  # a whole-batch error
        raise SandboxError(f"RPC {url} rejected a batch of {calls[0][0]}: {answers.get('error')}")
    by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
    results = []
    for i, (method, _) in enumerate(calls):
        a = by_id.get(i)
        if a is None:
            raise SandboxError(f"RPC {url} gave no answer to {method}")
        if "error" in a:
            raise SandboxError(f"RPC {url} {method} failed: {a['error'].get('message', a['error'])}")
        results.append(a.get("result"))
    return results


def rpc(url: str, method: str, *params: Any, timeout: float = 60.0) -> Any:
    """One JSON-RPC call to a sandbox chain, its result."""
    return rpc_batch(url, [(method, params)], timeout=timeout)[0]


def head(chain: Chain | str) -> int:
    """The chain's latest block number."""
    url = chain if isinstance(chain, str) else chain.rpc_url
    return int(rpc(url, "eth_blockNumber"), 16)


def mine(chain: Chain, blocks: int = 1) -> None:
    """Mine `blocks` blocks (each +BLOCK_INTERVAL seconds), including whatever is in the pool."""
    rpc_batch(chain.rpc_url, [("evm_mine", [])] * blocks)


def block(chain: Chain, number: int | str = "latest") -> dict[str, Any]:
    """A block of a sandbox chain by number or tag (default latest); SandboxError when the chain has none."""
    tag = hex(number) if isinstance(number, int) else number
    result: dict[str, Any] | None = rpc(chain.rpc_url, "eth_getBlockByNumber", tag, False)
    if result is None:
        raise SandboxError(f"chain {chain.chain_id}: no block {number}")
    return result


def pending_count(chain: Chain) -> int:
    status = rpc(chain.rpc_url, "txpool_status")
    return int(status["pending"], 16) + int(status["queued"], 16)


# ---------------------------------------------------------------------------------------------
# lifecycle


def start_chain(
    chain_id: int,
    *,
    run_dir: Path,
    port: int | None = None,
    timeout: float = 30.0,
    number: int = 0,
    timestamp: int = GENESIS_TIMESTAMP,
    interval: int = BLOCK_INTERVAL,
) -> Chain:
    """Start one deterministic anvil for `chain_id` on 127.0.0.1 (log in run_dir/anvil-<id>.log). A free
    port another process takes before anvil binds it is retried on a new port (parallel test workers).
    `number`, `timestamp`, `interval`: the genesis block's number and time, and the seconds between blocks
    (a chain that starts at a real chain's height, for the seed-scale bulk belt)."""
    for attempt in range(3):
        try:
            return _start_chain(
                chain_id,
                run_dir=run_dir,
                port=port or procs.free_port(),
                timeout=timeout,
                genesis=(number, timestamp, interval),
            )
        except SandboxError as exc:
            if port is not None or attempt == 2 or "exited before listening" not in str(exc):
                raise
    raise AssertionError("unreachable")


def _start_chain(chain_id: int, *, run_dir: Path, port: int, timeout: float, genesis: tuple[int, int, int]) -> Chain:
    number, timestamp, interval = genesis
    log = Path(run_dir) / f"anvil-{chain_id}.log"
    argv = [
        str(tools.anvil()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--mnemonic",
        MNEMONIC,
        "--accounts",
        "10",
        "--balance",
        "10000",
        "--no-mining",
        "--order",
        "fifo",
        "--timestamp",
        str(timestamp),
        "--number",
        str(number),
        "--gas-limit",
        str(GAS_LIMIT),
        "--block-base-fee-per-gas",
        "0",
        "--hardfork",
        "prague",
    ]
    proc = procs.spawn(argv, log)
    chain = Chain(chain_id, port, f"http://127.0.0.1:{port}", proc.pid, log)
    try:
        procs.wait_for_port(port, pid=proc.pid, timeout=timeout, what=f"anvil for chain {chain_id}")
        got = int(rpc(chain.rpc_url, "eth_chainId"), 16)
        if got != chain_id:
            raise SandboxError(f"anvil on port {port} says chain id {got}, expected {chain_id}")
        rpc(chain.rpc_url, "anvil_setBlockTimestampInterval", interval)
    except BaseException:
        procs.stop(proc.pid)
        raise
    return chain


def stop_chain(chain: Chain, *, timeout: float = 10.0) -> None:
    """Stop the anvil by its pid; returns once the process is gone."""
    procs.stop(chain.pid, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# transactions


def tx(chain: Chain, to: str | None, data: str, *, nonce: int, gas: int) -> dict[str, Any]:
    """An eth_sendTransaction request with every field pinned (so its hash is deterministic)."""
    request: dict[str, Any] = {
        "from": DEPLOYER,
        "data": data,
        "nonce": hex(nonce),
        "gas": hex(gas),
        "value": "0x0",
        "maxFeePerGas": hex(MAX_FEE_PER_GAS),
        "maxPriorityFeePerGas": hex(PRIORITY_FEE_PER_GAS),
        "chainId": hex(chain.chain_id),
        "type": "0x2",
    }
    if to is not None:
        request["to"] = to
    return request


def send_block(chain: Chain, requests: Sequence[dict[str, Any]]) -> list[str]:
    """Put `requests` in the pool and mine exactly one block holding all of them; tx hashes back."""
    hashes: list[str] = []
    group: list[tuple[str, list[Any]]] = []
    size = 0
    for r in requests:  # anvil rejects very large request bodies: keep each HTTP body under ~1 MB
        if group and size + len(r["data"]) > 1_000_000:
            hashes += [str(h) for h in rpc_batch(chain.rpc_url, group)]
            group, size = [], 0
        group.append(("eth_sendTransaction", [r]))
        size += len(r["data"])
    hashes += [str(h) for h in rpc_batch(chain.rpc_url, group)]
    mine(chain)
    left = pending_count(chain)
    if left:
        raise SandboxError(f"chain {chain.chain_id}: {left} transactions did not fit in the block")
    return hashes


def nonce(chain: Chain) -> int:
    return int(rpc(chain.rpc_url, "eth_getTransactionCount", DEPLOYER, "latest"), 16)


def deploy(chain: Chain) -> dict[str, str]:
    """Deploy the four contracts from account 0 with nonces 0..3, in one block. Idempotent."""
    codes = rpc_batch(chain.rpc_url, [("eth_getCode", [a, "latest"]) for a in CONTRACTS.values()])
    if all(c not in (None, "0x") for c in codes):
        return dict(CONTRACTS)
    start = nonce(chain)
    if start != 0:
        raise SandboxError(f"chain {chain.chain_id}: account 0 has nonce {start}; deploy needs a fresh chain")
    requests = [tx(chain, None, bytecode(name), nonce=i, gas=3_000_000) for i, name in enumerate(NAMES)]
    hashes = send_block(chain, requests)
    receipts = rpc_batch(chain.rpc_url, [("eth_getTransactionReceipt", [h]) for h in hashes])
    for name, receipt in zip(NAMES, receipts, strict=True):
        want = CONTRACTS[name].lower()
        if receipt is None or receipt.get("status") != "0x1" or str(receipt.get("contractAddress")) != want:
            raise SandboxError(f"chain {chain.chain_id}: deploying {name} failed: {json.dumps(receipt)}")
    return dict(CONTRACTS)


__all__ = [
    "ABIS",
    "BLOCK_INTERVAL",
    "CONTRACTS",
    "DEFAULT_CHAIN_IDS",
    "DEPLOYER",
    "EVENT_SIGNATURES",
    "GENESIS_TIMESTAMP",
    "Chain",
    "block",
    "deploy",
    "head",
    "mine",
    "rpc",
    "rpc_batch",
    "send_block",
    "start_chain",
    "stop_chain",
    "tx",
]
