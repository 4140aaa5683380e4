"""The sandbox's reference indexer: the four contracts' logs -> entity rows + Envio's `chain_metadata`.

It reads logs with `eth_getLogs` in block ranges, decodes them with eth-abi, and writes the sample
schema's entities into the SQLite store (belt_gate.sandbox.store):

- NftTransfer / Erc1155Transfer, id `${chainId}_${blockNumber}_${logIndex}`; isMint = from is 0x0;
- Action, id `${chainId}_${txHash}_${logIndex}`, the block's timestamp and no block number;
  numeric1 = 0 and context = "" are stored as NULL;
- Loan, id `${chainId}_${loanId}`, created by LoanOpened and updated by LoanRepaid / LoanDefaulted.

Addresses are lower-case hex. Only the entities and columns the given schema has are written, so a
schema without (say) `Loan` simply gets no loans.

`chain_metadata` has Envio's shape: start_block 0, end_block NULL, block_height = the chain's head
when the run looked, latest_fetched_block_number = latest_processed_block = the last block indexed,
num_batches_fetched = eth_getLogs calls so far, num_events_processed = logs handled so far,
is_hyper_sync 0, and timestamp_caught_up_to_head_or_endblock = the head block's own timestamp
(ISO-8601, UTC) once the chain is processed up to its head, else NULL. No wall clock anywhere, so two
runs over identical chains write identical databases.

Re-running is incremental: it continues after `latest_processed_block`. Reorgs below that block are
not followed (the reference indexer is a fixture, not a production indexer).

Data faults (belt_gate.sandbox.faults), applied when their chain is the one being indexed:
- drop / dup / corrupt: the N-th (0-based) event of ENTITY on CHAIN, counted from the chain's first
  block across incremental runs (for Loan: the N-th LoanOpened). A dropped loan's later repay/default
  updates nothing; a duplicate gets id suffix "-dup" and is not touched by later updates; corrupt adds
  1 to a number (NULL counts as 0), flips a boolean, or swaps the case of a string/enum (NULL becomes
  "CORRUPT").
- lag:CHAIN=BLOCK: never process past BLOCK; chain_metadata says so honestly (latest_processed_block =
  BLOCK, block_height = the real head, not caught up).
- skip / extra are about *which* chains a belt indexes: the caller decides (see `chain_set`);
  `index_chain` indexes whatever chain it is given and refuses nothing.
Other fault kinds are ignored here (they belong to the GraphQL server or the RPC proxy).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_abi.abi import decode
from eth_utils.crypto import keccak

from belt_gate.envio import Entity, EnvioSchema, Field
from belt_gate.errors import SandboxError
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox.chains import CONTRACTS
from belt_gate.sandbox.faults import Fault, parse_fault
from belt_gate.sandbox.store import connect, create_schema, quote

log = logging.getLogger(__name__)

ZERO = "0x" + "00" * 20
ACTION_TYPES = ("MINT", "BURN", "STAKE", "CLAIM")
COUNTS_TABLE = "belt_indexer_counts"  # private: per-chain event ordinals for the drop/dup/corrupt faults


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


TRANSFER = _topic("Transfer(address,address,uint256)")
TRANSFER_SINGLE = _topic("TransferSingle(address,address,address,uint256,uint256)")
ACTION_RECORDED = _topic("ActionRecorded(address,uint8,uint256,string)")
LOAN_OPENED = _topic("LoanOpened(uint256,address,uint256,uint256)")
LOAN_REPAID = _topic("LoanRepaid(uint256)")
LOAN_DEFAULTED = _topic("LoanDefaulted(uint256)")
TOPICS = (TRANSFER, TRANSFER_SINGLE, ACTION_RECORDED, LOAN_OPENED, LOAN_REPAID, LOAN_DEFAULTED)
#: topic0 -> the contract that must have emitted it
EMITTER = {
    TRANSFER: CONTRACTS["SandboxNFT"].lower(),
    TRANSFER_SINGLE: CONTRACTS["SandboxMulti"].lower(),
    ACTION_RECORDED: CONTRACTS["SandboxActions"].lower(),
    LOAN_OPENED: CONTRACTS["SandboxLending"].lower(),
    LOAN_REPAID: CONTRACTS["SandboxLending"].lower(),
    LOAN_DEFAULTED: CONTRACTS["SandboxLending"].lower(),
}

#: entity -> (contract address, topic0) of the event that creates its rows (for log-count audits)
ENTITY_EVENTS: dict[str, tuple[str, str]] = {
    "NftTransfer": (CONTRACTS["SandboxNFT"], TRANSFER),
    "Erc1155Transfer": (CONTRACTS["SandboxMulti"], TRANSFER_SINGLE),
    "Action": (CONTRACTS["SandboxActions"], ACTION_RECORDED),
    "Loan": (CONTRACTS["SandboxLending"], LOAN_OPENED),
}


@dataclass(frozen=True)
class IndexResult:
    """What one `index_chain` call did."""

    chain_id: int
    from_block: int  # first block looked at in this call (> to_block when there was nothing to do)
    to_block: int  # latest processed block after this call
    head: int  # the chain's head when the call looked
    events: int  # logs handled in this call
    batches: int  # eth_getLogs calls in this call


def _addr(topic: str) -> str:
    return "0x" + topic[-40:].lower()


def _int(word: str) -> int:
    return int(word, 16) if word not in ("0x", "") else 0


def iso_utc(timestamp: int) -> str:
    """A block timestamp as ISO-8601 in UTC, the way Hasura renders timestamptz."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def chain_set(chain_ids: Iterable[int], faults: Iterable[Fault | str], available: Iterable[int]) -> list[int]:
    """The chains a belt should index: its own set minus `skip:` chains plus `extra:` ones (if available)."""
    fs = [parse_fault(f) if isinstance(f, str) else f for f in faults]
    skip = {f.chain for f in fs if f.kind == "skip"}
    have = set(available)
    result = [c for c in chain_ids if c not in skip]
    result += [
        f.chain
        for f in fs
        if f.kind == "extra"
        and f.chain is not None
        and f.chain in have
        and f.chain not in result
        and f.chain not in skip
    ]
    return result


class _Writer:
    """Turns decoded events into ordered SQL operations on the schema's tables, applying faults."""

    def __init__(self, db: sqlite3.Connection, schema: EnvioSchema, chain_id: int, faults: list[Fault]) -> None:
        self.db = db
        self.chain_id = chain_id
        self.entities: dict[str, Entity] = {e.name: e for e in schema.entities}
        self.faults = [f for f in faults if f.chain == chain_id and f.kind in ("drop", "dup", "corrupt", "rechain")]
        for f in self.faults:
            e = self.entities.get(f.entity or "")
            if f.kind == "corrupt" and e is not None and e.field(f.field or "") is None:
                raise SandboxError(f"fault {f}: entity {e.name} has no field {f.field}")
        self.counts: dict[str, int] = dict(
            db.execute(f"SELECT entity, n FROM {COUNTS_TABLE} WHERE chain_id = ?", (chain_id,)).fetchall()
        )
        self._insert_sql: dict[str, tuple[str, list[Field]]] = {}

    def _insert(self, entity: str) -> tuple[str, list[Field]] | None:
        e = self.entities.get(entity)
        if e is None:
            return None
        if entity not in self._insert_sql:
            cols = list(e.columns)
            sql = (
                f"INSERT OR REPLACE INTO {quote(e.name)} ({', '.join(quote(f.column) for f in cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})"
            )
            self._insert_sql[entity] = (sql, cols)
        return self._insert_sql[entity]

    def _ordinal(self, entity: str) -> int:
        n = self.counts.get(entity, 0)
        self.counts[entity] = n + 1
        return n

    def create(self, entity: str, row: dict[str, Any]) -> None:
        """Insert one entity row for the next event of `entity`, with this chain's faults applied."""
        n = self._ordinal(entity)
        spec = self._insert(entity)
        if spec is None:
            return
        sql, cols = spec
        copies = [row]
        for f in self.faults:
            if f.entity != entity or f.index != n:
                continue
            if f.kind == "drop":
                return
            if f.kind == "dup":
                copies.append({**row, "id": f"{row['id']}-dup"})
            if f.kind == "rechain" and self.entities[entity].chain_column:
                row[str(self.entities[entity].chain_column)] = f.other_chain
            if f.kind == "corrupt":
                field = self.entities[entity].field(f.field or "")
                assert field is not None
                row[field.name] = _corrupt(field, row.get(field.name))
        for r in copies:
            self.db.execute(sql, [r.get(f.name) for f in cols])

    def update(self, entity: str, ident: str, values: dict[str, Any]) -> None:
        e = self.entities.get(entity)
        if e is None:
            return
        cols = [(e.field(k), v) for k, v in values.items()]
        sets = [(f, v) for f, v in cols if f is not None and f.is_column]
        if not sets:
            return
        assignments = ", ".join(f"{quote(f.column)} = ?" for f, _ in sets)
        self.db.execute(f"UPDATE {quote(e.name)} SET {assignments} WHERE id = ?", [v for _, v in sets] + [ident])

    def save_counts(self) -> None:
        self.db.executemany(
            f"INSERT OR REPLACE INTO {COUNTS_TABLE} (chain_id, entity, n) VALUES (?, ?, ?)",
            [(self.chain_id, k, v) for k, v in sorted(self.counts.items())],
        )


def _corrupt(field: Field, value: Any) -> Any:
    if field.kind == "scalar" and field.type_name == "Boolean":
        return 0 if value else 1
    if field.kind == "scalar" and field.type_name in ("Int", "BigInt"):
        return (value or 0) + 1
    if value is None or value == "":
        return "CORRUPT"
    text = str(value)
    flipped = text.swapcase()
    return flipped if flipped != text else text + "X"


def _handle(w: _Writer, entry: dict[str, Any], timestamp: int) -> None:
    topics: list[str] = entry["topics"]
    t0 = topics[0]
    chain_id = w.chain_id
    block = int(entry["blockNumber"], 16)
    index = int(entry["logIndex"], 16)
    tx_hash = str(entry["transactionHash"]).lower()
    address = str(entry["address"]).lower()
    data = str(entry["data"])
    if t0 == TRANSFER:
        src, dst = _addr(topics[1]), _addr(topics[2])
        w.create(
            "NftTransfer",
            {
                "id": f"{chain_id}_{block}_{index}",
                "chainId": chain_id,
                "collection": address,
                "from": src,
                "to": dst,
                "tokenId": int(topics[3], 16),
                "isMint": 1 if src == ZERO else 0,
                "blockNumber": block,
                "timestamp": timestamp,
                "transactionHash": tx_hash,
                "logIndex": index,
            },
        )
    elif t0 == TRANSFER_SINGLE:
        w.create(
            "Erc1155Transfer",
            {
                "id": f"{chain_id}_{block}_{index}",
                "chainId": chain_id,
                "collection": address,
                "operator": _addr(topics[1]),
                "from": _addr(topics[2]),
                "to": _addr(topics[3]),
                "tokenId": _int(data[2:66]),
                "value": _int(data[66:130]),
                "blockNumber": block,
                "timestamp": timestamp,
                "transactionHash": tx_hash,
                "logIndex": index,
            },
        )
    elif t0 == ACTION_RECORDED:
        action, numeric1, context = decode(["uint8", "uint256", "string"], bytes.fromhex(data[2:]))
        w.create(
            "Action",
            {
                "id": f"{chain_id}_{tx_hash}_{index}",
                "chainId": chain_id,
                "actor": _addr(topics[1]),
                "actionType": ACTION_TYPES[action] if action < len(ACTION_TYPES) else str(action),
                "numeric1": numeric1 or None,
                "context": context or None,
                "timestamp": timestamp,
                "txHash": tx_hash,
            },
        )
    elif t0 == LOAN_OPENED:
        loan = int(topics[1], 16)
        w.create(
            "Loan",
            {
                "id": f"{chain_id}_{loan}",
                "chainId": chain_id,
                "loanId": loan,
                "borrower": _addr(topics[2]),
                "amount": _int(data[2:66]),
                "expiry": _int(data[66:130]),
                "status": "ACTIVE",
                "createdAt": timestamp,
                "repaidAt": None,
                "defaultedAt": None,
                "transactionHash": tx_hash,
            },
        )
    elif t0 == LOAN_REPAID:
        w.update("Loan", f"{chain_id}_{int(topics[1], 16)}", {"status": "REPAID", "repaidAt": timestamp})
    elif t0 == LOAN_DEFAULTED:
        w.update("Loan", f"{chain_id}_{int(topics[1], 16)}", {"status": "DEFAULTED", "defaultedAt": timestamp})


def _ensure_tables(db: sqlite3.Connection, schema: EnvioSchema) -> None:
    create_schema(db, schema)
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {COUNTS_TABLE} "
        "(chain_id INTEGER NOT NULL, entity TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (chain_id, entity))"
    )
    db.commit()


def _timestamps(rpc_url: str, logs: list[dict[str, Any]]) -> dict[int, int]:
    """Block number -> timestamp for the logs' blocks (anvil puts blockTimestamp on logs; else ask)."""
    out: dict[int, int] = {}
    missing: set[int] = set()
    for entry in logs:
        b = int(entry["blockNumber"], 16)
        if entry.get("blockTimestamp"):
            out[b] = int(entry["blockTimestamp"], 16)
        else:
            missing.add(b)
    missing -= set(out)
    if missing:
        blocks = chainlib.rpc_batch(rpc_url, [("eth_getBlockByNumber", [hex(b), False]) for b in sorted(missing)])
        for b, blk in zip(sorted(missing), blocks, strict=True):
            if blk is None:
                raise SandboxError(f"RPC {rpc_url} has no block {b} for its own logs")
            out[b] = int(blk["timestamp"], 16)
    return out


def index_chain(
    db: sqlite3.Connection,
    schema: EnvioSchema,
    *,
    chain_id: int,
    rpc_url: str,
    faults: Iterable[Fault | str] = (),
    to_block: int | None = None,
    batch: int = 2000,
) -> IndexResult:
    """Index `chain_id` from its RPC into `db`, continuing after the last processed block.

    Stops at the chain's head, at `to_block`, or at a `lag:` fault's block, whichever is lowest.
    RPC failures raise SandboxError; everything committed before stays consistent (one transaction
    per block range, entity rows and chain_metadata together).
    """
    if batch < 1:
        raise SandboxError("batch must be at least 1 block")
    fs = [parse_fault(f) if isinstance(f, str) else f for f in faults]
    _ensure_tables(db, schema)
    row = db.execute(
        "SELECT latest_processed_block, first_event_block_number, num_batches_fetched, num_events_processed "
        "FROM chain_metadata WHERE chain_id = ?",
        (chain_id,),
    ).fetchone()
    processed: int = -1 if row is None or row[0] is None else int(row[0])
    first_event: int | None = None if row is None else row[1]
    batches_total = 0 if row is None else int(row[2])
    events_total = 0 if row is None or row[3] is None else int(row[3])

    got_chain, head_hex = chainlib.rpc_batch(rpc_url, [("eth_chainId", []), ("eth_blockNumber", [])])
    if int(got_chain, 16) != chain_id:
        raise SandboxError(f"RPC {rpc_url} serves chain {int(got_chain, 16)}, not {chain_id}")
    head = int(head_hex, 16)
    target = head if to_block is None else min(head, to_block)
    for f in fs:
        if f.kind == "lag" and f.chain == chain_id and f.block is not None:
            target = min(target, f.block)

    writer = _Writer(db, schema, chain_id, fs)
    start = processed + 1
    events = batches = 0
    addresses = sorted({a for a in EMITTER.values()})
    for lo in range(start, target + 1, batch):
        hi = min(lo + batch - 1, target)
        logs = chainlib.rpc(
            rpc_url,
            "eth_getLogs",
            {
                "fromBlock": hex(lo),
                "toBlock": hex(hi),
                "address": addresses,
                "topics": [list(TOPICS)],
            },
        )
        if not isinstance(logs, list):
            raise SandboxError(f"RPC {rpc_url} answered eth_getLogs with {type(logs).__name__}, not a list")
        batches += 1
        logs = [
            e
            for e in logs
            if not e.get("removed") and e["topics"] and EMITTER.get(e["topics"][0]) == str(e["address"]).lower()
        ]
        logs.sort(key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16)))
        stamps = _timestamps(rpc_url, logs)
        with db:
            for entry in logs:
                _handle(writer, entry, stamps[int(entry["blockNumber"], 16)])
            if logs and first_event is None:
                first_event = int(logs[0]["blockNumber"], 16)
            events += len(logs)
            writer.save_counts()
            _write_metadata(
                db,
                chain_id,
                head=head,
                processed=hi,
                first_event=first_event,
                batches=batches_total + batches,
                events=events_total + events,
                caught_up=None,
            )
        processed = hi

    caught_up = None
    if processed >= head:
        top = chainlib.rpc(rpc_url, "eth_getBlockByNumber", hex(head), False)
        if not isinstance(top, dict) or "timestamp" not in top:
            raise SandboxError(f"RPC {rpc_url} has no block {head} although it is the head")
        caught_up = iso_utc(int(top["timestamp"], 16))
    with db:
        _write_metadata(
            db,
            chain_id,
            head=head,
            processed=processed,
            first_event=first_event,
            batches=batches_total + batches,
            events=events_total + events,
            caught_up=caught_up,
        )
    return IndexResult(chain_id, start, processed, head, events, batches)


def _write_metadata(
    db: sqlite3.Connection,
    chain_id: int,
    *,
    head: int,
    processed: int,
    first_event: int | None,
    batches: int,
    events: int,
    caught_up: str | None,
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO chain_metadata (chain_id, start_block, end_block, block_height, "
        "first_event_block_number, latest_fetched_block_number, latest_processed_block, num_batches_fetched, "
        "num_events_processed, is_hyper_sync, timestamp_caught_up_to_head_or_endblock) "
        "VALUES (?, 0, NULL, ?, ?, ?, ?, ?, ?, 0, ?)",
        (
            chain_id,
            head,
            first_event,
            max(processed, 0),
            processed if processed >= 0 else None,
            batches,
            events,
            caught_up,
        ),
    )


def follow(
    db_path: Path,
    schema: EnvioSchema,
    chains: Mapping[int, str],
    faults: Iterable[Fault | str],
    stop_event: threading.Event,
    interval: float = 0.2,
) -> None:
    """Keep indexing every chain in `chains` (chain id -> RPC URL) until `stop_event` is set.

    Meant for a thread or a child process of the sandbox. RPC failures are logged and retried on the
    next round (a chain behind a broken RPC simply stops advancing, as a real indexer would).
    """
    fs = [parse_fault(f) if isinstance(f, str) else f for f in faults]
    db = connect(Path(db_path))
    try:
        while not stop_event.is_set():
            for chain_id, url in chains.items():
                if stop_event.is_set():
                    break
                try:
                    index_chain(db, schema, chain_id=chain_id, rpc_url=url, faults=fs)
                except Exception as exc:  # a follower that dies silently would leave a belt frozen in time
                    log.warning("indexing chain %s: %s: %s", chain_id, type(exc).__name__, exc)
            stop_event.wait(interval)
    finally:
        db.close()


__all__ = ["COUNTS_TABLE", "ENTITY_EVENTS", "IndexResult", "chain_set", "follow", "index_chain", "iso_utc"]
