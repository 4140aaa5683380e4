"""Deterministic traffic for a sandbox chain: NFT mints and transfers, ERC-1155 transfers, actions, loans.

Everything is a pure function of the chain id (the seed) and what is already on the chain, so two
runs of `traffic(chain)` on fresh chains give identical transactions, blocks and logs. Each block
holds several transactions (one or more per contract) that each emit a batch of events, and is mined
explicitly. Values stay far below 2**53 (sums over a million rows still fit SQLite's INTEGER).

What the traffic guarantees (the indexer and the gate rules rely on it):
- NftTransfer: mints (from = zero address) and transfers of already minted tokens;
- Erc1155Transfer: mints and transfers, several token ids, values 1..1000;
- Action: every ActionType (0..3 = MINT, BURN, STAKE, CLAIM), some numeric1 = 0 and some empty
  contexts (the indexer stores both as null);
- Loan: opened loans that are later repaid, defaulted, or left active (each of the three occurs).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils.crypto import keccak

from belt_gate.errors import SandboxError
from belt_gate.sandbox import chains
from belt_gate.sandbox.chains import CONTRACTS, Chain

ZERO = "0x" + "00" * 20
DEFAULT_EVENTS = 40
MAX_VALUE = 10**12  # amounts and numeric1: 1e6 rows of this still sum below 2**63
USERS = 16
MAX_PER_TX = 400

_CONTEXTS = ("Genesis drop", "pool:Alpha", "Bridge In", "claim#7", "Season Two", "vault:Beta", "Quest done")


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


_SIG = {
    "nft": ("transferBatch(address[],address[],uint256[])", ["address[]", "address[]", "uint256[]"]),
    "multi": (
        "transferSingleBatch(address[],address[],uint256[],uint256[])",
        ["address[]", "address[]", "uint256[]", "uint256[]"],
    ),
    "actions": (
        "recordBatch(address[],uint8[],uint256[],string[])",
        ["address[]", "uint8[]", "uint256[]", "string[]"],
    ),
    "open": (
        "openBatch(uint256[],address[],uint256[],uint256[])",
        ["uint256[]", "address[]", "uint256[]", "uint256[]"],
    ),
    "repay": ("repayBatch(uint256[])", ["uint256[]"]),
    "default": ("defaultBatch(uint256[])", ["uint256[]"]),
}
# per-event execution gas, generous (logs + loop + calldata copy); calldata is charged separately
_EVENT_GAS = {
    "nft": 6_000,
    "multi": 8_000,
    "actions": 12_000,
    "open": 8_000,
    "repay": 3_000,
    "default": 3_000,
}
_TARGET = {
    "nft": "SandboxNFT",
    "multi": "SandboxMulti",
    "actions": "SandboxActions",
    "open": "SandboxLending",
    "repay": "SandboxLending",
    "default": "SandboxLending",
}


def _word(value: int | bytes) -> bytes:
    if isinstance(value, bytes):  # an address
        if len(value) != 20:
            raise SandboxError(f"bad address of {len(value)} bytes")
        return b"\0" * 12 + value
    if not 0 <= value < 2**256:
        raise SandboxError(f"value {value} does not fit a uint256")
    return value.to_bytes(32, "big")


def _string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(32, "big") + raw + b"\0" * (-len(raw) % 32)


def _array(kind: str, values: Sequence[Any]) -> bytes:
    """ABI tail of one dynamic array: static elements inline, strings through offsets."""
    out = [len(values).to_bytes(32, "big")]
    if kind != "string[]":
        out += [_word(v) for v in values]
        return b"".join(out)
    bodies = [_string(v) for v in values]
    offset = 32 * len(values)
    for b in bodies:
        out.append(offset.to_bytes(32, "big"))
        offset += len(b)
    return b"".join(out + bodies)


def abi_encode(types: Sequence[str], columns: Sequence[Sequence[Any]]) -> bytes:
    """ABI-encode a tuple of dynamic arrays (what every batch function takes), fast.

    eth-abi's general encoder validates every element and dominates the time of large traffic;
    this covers only `T[]` with T in address/uint8/uint256/string and is checked against eth-abi
    by the tests.
    """
    tails = [_array(t, c) for t, c in zip(types, columns, strict=True)]
    head, offset = [], 32 * len(types)
    for t in tails:
        head.append(offset.to_bytes(32, "big"))
        offset += len(t)
    return b"".join(head + tails)


def _calldata(kind: str, *columns: Sequence[Any]) -> str:
    signature, types = _SIG[kind]
    return "0x" + (_selector(signature) + abi_encode(types, columns)).hex()


def _addr(a: str) -> bytes:
    return bytes.fromhex(a[2:])


def encode_nft(rows: Sequence[tuple[str, str, int]]) -> str:
    """Calldata for SandboxNFT.transferBatch from rows (from, to, tokenId)."""
    return _calldata("nft", [_addr(r[0]) for r in rows], [_addr(r[1]) for r in rows], [r[2] for r in rows])


def encode_multi(rows: Sequence[tuple[str, str, int, int]]) -> str:
    """Calldata for SandboxMulti.transferSingleBatch from rows (from, to, id, value)."""
    return _calldata(
        "multi", [_addr(r[0]) for r in rows], [_addr(r[1]) for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )


def encode_actions(rows: Sequence[tuple[str, int, int, str]]) -> str:
    """Calldata for SandboxActions.recordBatch from rows (actor, actionType, numeric1, context)."""
    return _calldata(
        "actions", [_addr(r[0]) for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )


def encode_open(rows: Sequence[tuple[int, str, int, int]]) -> str:
    """Calldata for SandboxLending.openBatch from rows (loanId, borrower, amount, expiry)."""
    return _calldata(
        "open", [r[0] for r in rows], [_addr(r[1]) for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )


def users(chain_id: int) -> list[str]:
    """The chain's deterministic user addresses (lower-case hex)."""
    return ["0x" + keccak(text=f"belt-gate user {chain_id} {i}")[12:].hex() for i in range(USERS)]


@dataclass
class TrafficState:
    """What the generator must know about the chain's past to continue it."""

    next_token: int = 1
    owners: dict[int, str] = field(default_factory=dict)
    next_loan: int = 1
    open_loans: list[int] = field(default_factory=list)
    repaid: int = 0
    defaulted: int = 0


@dataclass
class TrafficSummary:
    """Counts of what one traffic call sent (events per entity, blocks, transactions)."""

    nft: int = 0
    multi: int = 0
    actions: int = 0
    loans_opened: int = 0
    loans_repaid: int = 0
    loans_defaulted: int = 0
    blocks: list[int] = field(default_factory=list)
    tx_hashes: list[str] = field(default_factory=list)


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


def state_from_chain(chain: Chain) -> TrafficState:
    """Rebuild the generator's state from the chain's logs (NFT owners, loans still open)."""
    transfer = _topic("Transfer(address,address,uint256)")
    opened = _topic("LoanOpened(uint256,address,uint256,uint256)")
    repaid = _topic("LoanRepaid(uint256)")
    defaulted = _topic("LoanDefaulted(uint256)")
    logs = chains.rpc(
        chain.rpc_url,
        "eth_getLogs",
        {
            "fromBlock": "0x0",
            "toBlock": "latest",
            "address": [CONTRACTS["SandboxNFT"], CONTRACTS["SandboxLending"]],
        },
    )
    st = TrafficState()
    open_loans: dict[int, None] = {}
    for log in logs:
        topics = log["topics"]
        if topics[0] == transfer:
            token = int(topics[3], 16)
            st.owners[token] = "0x" + topics[2][-40:]
            st.next_token = max(st.next_token, token + 1)
        elif topics[0] == opened:
            loan = int(topics[1], 16)
            open_loans[loan] = None
            st.next_loan = max(st.next_loan, loan + 1)
        elif topics[0] in (repaid, defaulted):
            open_loans.pop(int(topics[1], 16), None)
            if topics[0] == repaid:
                st.repaid += 1
            else:
                st.defaulted += 1
    st.open_loans = list(open_loans)
    return st


class _Block:
    """The transactions of one block being planned."""

    def __init__(self, chain: Chain, start_nonce: int) -> None:
        self.chain = chain
        self.nonce = start_nonce
        self.requests: list[dict[str, Any]] = []
        self.gas = 0

    def add(self, kind: str, data: str, events: int) -> None:
        calldata_gas = 16 * (len(data) - 2) // 2
        gas = 60_000 + calldata_gas + _EVENT_GAS[kind] * events
        if self.gas + gas > chains.BLOCK_GAS_BUDGET:
            raise SandboxError("traffic planner overfilled a block")
        self.requests.append(chains.tx(self.chain, CONTRACTS[_TARGET[kind]], data, nonce=self.nonce, gas=gas))
        self.nonce += 1
        self.gas += gas


def _send(chain: Chain, blk: _Block, summary: TrafficSummary) -> None:
    hashes = chains.send_block(chain, blk.requests)
    receipts = chains.rpc_batch(chain.rpc_url, [("eth_getTransactionReceipt", [h]) for h in hashes])
    bad = [h for h, r in zip(hashes, receipts, strict=True) if r is None or r.get("status") != "0x1"]
    if bad:
        raise SandboxError(f"chain {chain.chain_id}: traffic transaction {bad[0]} failed")
    if receipts:
        summary.blocks.append(int(receipts[0]["blockNumber"], 16))
    summary.tx_hashes.extend(hashes)


def _plan_block(
    chain: Chain,
    rng: random.Random,
    st: TrafficState,
    quota: dict[str, int],
    per_tx: int,
    txs_per_kind: int,
    timestamp: int,
    summary: TrafficSummary,
    *,
    final: bool,
) -> _Block:
    blk = _Block(chain, chains.nonce(chain))
    people = users(chain.chain_id)
    for _ in range(txs_per_kind):
        n = min(quota["nft"], rng.randint(max(1, per_tx // 2), per_tx))
        if n > 0:
            rows: list[tuple[str, str, int]] = []
            for _ in range(n):
                if not st.owners or rng.random() < 0.5 or summary.nft == 0:
                    token, src = st.next_token, ZERO
                    st.next_token += 1
                else:
                    token = rng.choice(list(st.owners)) if len(st.owners) < 64 else rng.randrange(1, st.next_token)
                    src = st.owners[token]
                dst = rng.choice([p for p in people if p != src])
                st.owners[token] = dst
                rows.append((src, dst, token))
                summary.nft += 1
            quota["nft"] -= n
            blk.add("nft", encode_nft(rows), n)
        n = min(quota["multi"], rng.randint(max(1, per_tx // 2), per_tx))
        if n > 0:
            mrows = []
            for _ in range(n):
                src = ZERO if rng.random() < 0.3 else rng.choice(people)
                mrows.append((src, rng.choice(people), rng.randint(1, 20), rng.randint(1, 1000)))
            quota["multi"] -= n
            summary.multi += n
            blk.add("multi", encode_multi(mrows), n)
        n = min(quota["actions"], rng.randint(max(1, per_tx // 2), per_tx))
        if n > 0:
            arows = []
            for _ in range(n):
                action = summary.actions % 4 if summary.actions < 4 else rng.randrange(4)
                numeric1 = 0 if rng.random() < 0.2 else rng.randint(1, MAX_VALUE)
                context = "" if rng.random() < 0.25 else f"{rng.choice(_CONTEXTS)} {rng.randint(1, 99)}"
                arows.append((rng.choice(people), action, numeric1, context))
                summary.actions += 1
            quota["actions"] -= n
            blk.add("actions", encode_actions(arows), n)
        # resolve loans opened in earlier blocks: some repaid, some defaulted, the rest stay active
        repay, default = [], []
        for loan in list(st.open_loans):
            r = rng.random()
            if r < 0.25:
                repay.append(loan)
            elif r < 0.4:
                default.append(loan)
        if final and len(st.open_loans) >= 3:
            if st.repaid + len(repay) == 0:
                repay.append(next(x for x in st.open_loans if x not in default))
            if st.defaulted + len(default) == 0:
                default.append(next(x for x in st.open_loans if x not in repay))
        for loan in repay + default:
            st.open_loans.remove(loan)
        for what, ids in (("repay", repay), ("default", default)):
            for i in range(0, len(ids), MAX_PER_TX):
                chunk = ids[i : i + MAX_PER_TX]
                blk.add(what, _calldata(what, chunk), len(chunk))
        st.repaid += len(repay)
        st.defaulted += len(default)
        summary.loans_repaid += len(repay)
        summary.loans_defaulted += len(default)
        n = min(quota["loans"], rng.randint(max(1, per_tx // 2), per_tx))
        if n > 0:
            lrows = []
            for _ in range(n):
                loan = st.next_loan
                st.next_loan += 1
                expiry = timestamp + rng.randint(1, 30) * 86_400
                lrows.append((loan, rng.choice(people), rng.randint(1, MAX_VALUE), expiry))
            quota["loans"] -= n
            summary.loans_opened += n
            blk.add("open", encode_open(lrows), n)
            opened_now = [r[0] for r in lrows]
        else:
            opened_now = []
        # loans opened in this block become resolvable from the next block on
        st.open_loans.extend(opened_now)
    return blk


def _run(
    chain: Chain,
    st: TrafficState,
    rng: random.Random,
    quota: dict[str, int],
    per_tx: int,
    txs_per_kind: int,
    max_blocks: int | None,
) -> TrafficSummary:
    summary = TrafficSummary()

    def one(final: bool) -> None:
        timestamp = int(chains.block(chain)["timestamp"], 16) + chains.BLOCK_INTERVAL
        blk = _plan_block(chain, rng, st, quota, per_tx, txs_per_kind, timestamp, summary, final=final)
        if blk.requests:
            _send(chain, blk, summary)
        else:
            chains.mine(chain)

    if max_blocks is not None:
        for _ in range(max_blocks):
            one(False)
        return summary
    while sum(quota.values()):
        one(False)
    if (st.repaid == 0 or st.defaulted == 0) and len(st.open_loans) >= 3:
        one(True)  # make sure repaid, defaulted and active loans all exist
    return summary


def _shape(events: int) -> tuple[int, int]:
    """(events per transaction, transactions per contract per block) for a traffic size."""
    per_tx = max(1, min(MAX_PER_TX, events // 8))
    txs_per_kind = max(1, min(8, events // (per_tx * 20)))
    return per_tx, txs_per_kind


def _require_contracts(chain: Chain) -> None:
    codes = chains.rpc_batch(chain.rpc_url, [("eth_getCode", [a, "latest"]) for a in CONTRACTS.values()])
    if any(c in (None, "0x") for c in codes):
        raise SandboxError(f"chain {chain.chain_id}: contracts not deployed (call chains.deploy first)")


def traffic(chain: Chain, events: int = DEFAULT_EVENTS, *, seed: int | None = None) -> TrafficSummary:
    """Send `events` NftTransfer, Erc1155Transfer, Action and LoanOpened events (each) to a deployed chain.

    Deterministic for a given chain content, `events` and `seed` (default: the chain id).
    """
    if events < 1:
        raise SandboxError("traffic needs at least one event per entity")
    _require_contracts(chain)
    st = state_from_chain(chain) if chains.head(chain) > 1 else TrafficState()
    rng = random.Random(f"belt-gate traffic {chain.chain_id if seed is None else seed} {chains.head(chain)}")
    quota = {"nft": events, "multi": events, "actions": events, "loans": events}
    per_tx, txs_per_kind = _shape(events)
    return _run(chain, st, rng, quota, per_tx, txs_per_kind, None)


def more_traffic(chain: Chain, n: int = 1, *, per_tx: int = 4, seed: int | None = None) -> TrafficSummary:
    """Add `n` more blocks of traffic (about `per_tx` events per contract each) after what is there."""
    if n < 1:
        raise SandboxError("more_traffic needs at least one block")
    _require_contracts(chain)
    st = state_from_chain(chain)
    rng = random.Random(f"belt-gate more {chain.chain_id if seed is None else seed} {chains.head(chain)}")
    quota = {k: per_tx * n * 2 for k in ("nft", "multi", "actions", "loans")}
    return _run(chain, st, rng, quota, per_tx, 1, n)


def reorg(chain: Chain, depth: int) -> dict[int, tuple[str, str]]:
    """Replace the last `depth` blocks with blocks of different content (anvil_rollback + new blocks).

    Each replacement block holds one ActionRecorded log with context "reorg:<height>", so every
    replaced height gets a new block hash (timestamps stay on the +12 s grid). Returns
    {height: (old hash, new hash)}.
    """
    top = chains.head(chain)
    if depth < 1 or depth > top:
        raise SandboxError(f"chain {chain.chain_id}: cannot reorg {depth} blocks below head {top}")
    heights = list(range(top - depth + 1, top + 1))
    old = {h: str(chains.block(chain, h)["hash"]) for h in heights}
    chains.rpc(chain.rpc_url, "anvil_rollback", depth)
    if chains.head(chain) != top - depth:
        raise SandboxError(f"chain {chain.chain_id}: rollback of {depth} blocks did not take")
    chains.rpc(chain.rpc_url, "anvil_dropAllTransactions")
    for h in heights:
        data = encode_actions([(chains.DEPLOYER, 3, h, f"reorg:{h}")])
        chains.send_block(
            chain, [chains.tx(chain, CONTRACTS["SandboxActions"], data, nonce=chains.nonce(chain), gas=200_000)]
        )
    new = {h: str(chains.block(chain, h)["hash"]) for h in heights}
    return {h: (old[h], new[h]) for h in heights}


__all__ = [
    "DEFAULT_EVENTS",
    "TrafficState",
    "TrafficSummary",
    "abi_encode",
    "encode_actions",
    "encode_multi",
    "encode_nft",
    "encode_open",
    "more_traffic",
    "reorg",
    "state_from_chain",
    "traffic",
    "users",
]
