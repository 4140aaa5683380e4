"""Chain facts: the values L1 answers are made of (logs, blocks, receipts, golden probes), pure.

`sources/rpc.py` parses JSON-RPC answers into these; the rules (`rules/golden.py`, `rules/audit.py`) read
them without importing any I/O. `ProbeResult.to_dict`/`from_dict` is the form the snapshot carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ItemError:
    """A JSON-RPC error object (or a malformed result) for one call of a batch."""

    code: int | None
    message: str

    def __str__(self) -> str:
        return f"RPC error {self.code}: {self.message}" if self.code is not None else self.message


@dataclass(frozen=True)
class Log:
    """One event log as an RPC returned it, hex normalised to lowercase."""

    address: str  # lowercase 0x-hex
    topics: tuple[str, ...]  # lowercase
    data: str  # lowercase 0x-hex
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    removed: bool = False

    @property
    def topic0(self) -> str | None:
        """The log's first topic (the event's signature hash), None for an anonymous event's log without topics."""
        return self.topics[0] if self.topics else None


@dataclass(frozen=True)
class Block:
    """The header fields of one block the checks read: number, hash, parent and timestamp (and the logs bloom when
    given)."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    logs_bloom: str | None = None


@dataclass(frozen=True)
class Receipt:
    """One transaction's receipt: where it was included, its status (None: the RPC gave none) and its logs."""

    tx_hash: str
    block_number: int
    block_hash: str
    status: int | None
    logs: tuple[Log, ...]

    def log_at(self, log_index: int) -> Log | None:
        """The receipt's log with block-wide index `log_index`, None when it holds no such log."""
        return next((log for log in self.logs if log.log_index == log_index), None)


@dataclass(frozen=True)
class Heads:
    """A chain's head and its `safe` and `finalized` blocks (None: the provider does not know the tag)."""

    head: int
    safe: int | None  # None: the provider does not support the tag
    finalized: int | None


class ProbeTarget(Protocol):
    """What golden_probe needs of a golden event (belt_gate.golden.GoldenEvent has these)."""

    @property
    def tx_hash(self) -> str:
        """The hash of the transaction that emitted the event."""

    @property
    def block_number(self) -> int:
        """The block the event's log is in."""

    @property
    def block_hash(self) -> str:
        """The hash of that block, as the fixture recorded it."""

    @property
    def address(self) -> str:
        """The contract that emitted the event."""


@dataclass(frozen=True)
class ProbeResult:
    """L1's answers about one golden event, as given (None = the RPC answered null)."""

    tx_hash: str
    block_number: int
    block_hash: str
    receipt: Receipt | None
    canonical: Block | None  # eth_getBlockByNumber(block_number)
    logs_by_hash: tuple[Log, ...] | None  # eth_getLogs({blockHash, address}); None if it errored
    logs_error: str | None = None  # the JSON-RPC error for logs_by_hash (e.g. unknown block hash)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the snapshot ships it to xdist workers)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProbeResult:
        """The result `to_dict` wrote (the snapshot's JSON form); KeyError or TypeError when a field is missing or
        unknown."""

        def log(x: Mapping[str, Any]) -> Log:
            return Log(**{**x, "topics": tuple(x["topics"])})

        r = d.get("receipt")
        c = d.get("canonical")
        lb = d.get("logs_by_hash")
        return cls(
            tx_hash=d["tx_hash"],
            block_number=d["block_number"],
            block_hash=d["block_hash"],
            receipt=None if r is None else Receipt(**{**r, "logs": tuple(log(x) for x in r["logs"])}),
            canonical=None if c is None else Block(**c),
            logs_by_hash=None if lb is None else tuple(log(x) for x in lb),
            logs_error=d.get("logs_error"),
        )


@dataclass(frozen=True)
class GoldenProbe:
    """L1's answers about one chain's golden events, keyed by (transaction hash, block number), and what they cost."""

    chain_id: int
    endpoint: str  # redacted
    results: Mapping[tuple[str, int], ProbeResult]  # (tx hash lowercase, log block number) -> result
    round_trips: int

    def for_event(self, target: ProbeTarget) -> ProbeResult | None:
        """The probe result for one golden event, None when it was not probed."""
        return self.results.get((target.tx_hash.lower(), target.block_number))


@dataclass(frozen=True)
class LogQuery:
    """One eth_getLogs filter: address (or addresses, or any), topic0 (or any) and an inclusive block range."""

    address: str | Sequence[str] | None
    topic0: str | None
    from_block: int
    to_block: int


__all__ = ["Block", "GoldenProbe", "Heads", "ItemError", "Log", "LogQuery", "ProbeResult", "ProbeTarget", "Receipt"]
