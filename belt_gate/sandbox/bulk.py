"""Write a seed-scale reference belt straight into SQLite (no chains, no indexer).

`python -m belt_gate.sandbox.bulk --out DIR --rows 3000000 [--variant blue|green] [--seed N]`
writes DIR/belt.sqlite (the `sandbox.store` layout) and DIR/schema.graphql (footprint.graphql: the
12 score-api footprint entities of prior-system.md §2.2). Rows are spread over the entities like
that table's baselines, scaled so that the green belt holds `--rows` rows, and over six chains.
Blue holds four of them (1, 10, 8453, 80094), row-for-row identical to green's on those chains:
every (entity, chain) slice is generated from (seed, entity, chain) alone. chain_metadata says
every chain is fully synced to its head.

Fast path: one transaction, executemany, secondary indexes built after the insert, journal and
fsync off during the build (the file is switched to WAL at the end, like an indexer's).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from belt_gate.envio import Entity, EnvioSchema, Field, parse_schema
from belt_gate.errors import BeltGateError, SettingsError
from belt_gate.sandbox.store import create_entity_table, create_schema, quote

FOOTPRINT = Path(__file__).with_name("footprint.graphql")

#: prior-system.md §2.2 baselines (documentation-only there; here: the shape of the distribution).
BASELINES: dict[str, int] = {
    "MiberaTransfer": 39_714,
    "MintActivity": 10_000,
    "NftBurn": 39,
    "BgtBoostEvent": 1_470_000,
    "Erc1155MintEvent": 7_607,
    "FriendtechTrade": 1_317,
    "PaddleSupply": 363,
    "MintEvent": 3_588,
    "TreasuryActivity": 11_819,
    "Action": 2_070_000,
    "MiberaLoan": 176,
    "MiberaStakedToken": 1_603,
}

#: chain id -> (share of an entity's rows, start block, head block, seconds per block, genesis unix time)
CHAINS: dict[int, tuple[float, int, int, int, int]] = {
    80094: (0.40, 0, 9_000_000, 2, 1_737_400_000),
    8453: (0.20, 2_000_000, 30_000_000, 2, 1_686_789_347),
    1: (0.12, 15_000_000, 22_500_000, 12, 1_438_269_973),
    10: (0.10, 100_000_000, 135_000_000, 2, 1_636_665_386),
    42161: (0.10, 150_000_000, 330_000_000, 1, 1_622_240_000),
    7777777: (0.08, 1_000_000, 28_000_000, 2, 1_686_693_839),
}
VARIANTS: dict[str, tuple[int, ...]] = {
    "blue": (1, 10, 8453, 80094),
    "green": (1, 10, 8453, 42161, 80094, 7777777),
}
_MASK = (1 << 63) - 1


@dataclass(frozen=True)
class BulkResult:
    """What a bulk write produced: the SQLite file, its schema file, the rows per entity and chain, and how long it
    took."""

    db: Path
    schema: Path
    counts: dict[str, dict[int, int]]  # entity -> chain -> rows
    seconds: float

    @property
    def total(self) -> int:
        """Every row written, all entities and chains."""
        return sum(sum(c.values()) for c in self.counts.values())


def load_footprint() -> EnvioSchema:
    """The footprint schema (footprint.graphql) the bulk belts are written in."""
    return parse_schema(FOOTPRINT.read_text(), str(FOOTPRINT))


def plan_counts(rows: int, variant: str = "green") -> dict[str, dict[int, int]]:
    """Rows per entity and chain: baselines scaled to `rows` (green total), split by chain share."""
    if rows < len(BASELINES):
        raise SettingsError(f"--rows must be at least {len(BASELINES)}")
    if variant not in VARIANTS:
        raise SettingsError(f"unknown variant {variant!r}: expected blue or green")
    scale = rows / sum(BASELINES.values())
    totals = {e: max(len(CHAINS), round(b * scale)) for e, b in BASELINES.items()}
    largest = max(totals, key=lambda e: totals[e])
    totals[largest] += rows - sum(totals.values())  # rounding: green holds exactly `rows`
    plan: dict[str, dict[int, int]] = {}
    for entity in BASELINES:
        total = totals[entity]
        per = {c: max(1, int(total * CHAINS[c][0])) for c in CHAINS}
        # the largest share takes the rounding remainder, so green holds exactly `total`
        per[max(CHAINS, key=lambda c: CHAINS[c][0])] += total - sum(per.values())
        plan[entity] = {c: n for c, n in per.items() if c in VARIANTS[variant]}
    return plan


def _mix(x: int) -> int:
    x = (x ^ (x >> 31)) * 0x7FB5D329728EA185 & _MASK
    x = (x ^ (x >> 27)) * 0x81DADEF4BC2DD44D & _MASK
    return x ^ (x >> 33)


def _rows(
    entity: Entity, enums: dict[str, tuple[str, ...]], chain: int, n: int, seed: int, salt: int
) -> Iterator[tuple[Any, ...]]:
    """The n rows of one (entity, chain) slice, deterministic in (seed, entity, chain)."""
    _share, start, head, block_time, genesis = CHAINS[chain]
    span = head - start
    base = _mix(seed * 1_000_003 + salt * 7_919 + chain)
    addresses = [f"0x{_mix(base + k):016x}{_mix(base + k + 7):016x}{k:08x}" for k in range(max(16, min(5000, n // 20)))]
    cols = entity.columns
    has_block = entity.block_column is not None
    mode_c = entity.block_column is None and entity.timestamp_column is None
    makers: list[Any] = []
    for k, f in enumerate(cols):
        makers.append(_maker(f, k, enums, chain, addresses))
    for i in range(n):
        h = _mix(base ^ (i * 0x9E3779B97F4A7C15 & _MASK))
        block = start + (i * span) // n
        ts = genesis + (block - start) * block_time if has_block else genesis + (i * span * block_time) // n
        tx = f"0x{h:016x}{base:016x}{i:016x}{h ^ base:016x}"
        if has_block:
            ident = f"{chain}_{block}_{i}"
        elif mode_c:
            ident = f"{chain}_{i}"
        else:
            ident = f"{chain}_{tx}_{i}"
        yield tuple(m(i, h, block, ts, tx, ident) for m in makers)


def _maker(f: Field, k: int, enums: dict[str, tuple[str, ...]], chain: int, addresses: list[str]) -> Any:
    name = f.name
    na = len(addresses)
    if name == "id":
        return lambda i, h, b, t, x, ident: ident
    if name == "chainId":
        return lambda i, h, b, t, x, ident: chain
    if name == "blockNumber":
        return lambda i, h, b, t, x, ident: b
    if name == "timestamp":
        return lambda i, h, b, t, x, ident: t
    if name in ("transactionHash", "txHash"):
        return lambda i, h, b, t, x, ident: x
    if name == "logIndex":
        return lambda i, h, b, t, x, ident: i
    if name in ("tokenId", "loanId"):
        return lambda i, h, b, t, x, ident: i + 1
    shift = (k * 7) % 40
    if f.kind == "enum":
        values = enums[f.type_name]
        nv = len(values)
        return lambda i, h, b, t, x, ident: values[(h >> shift) % nv]
    if f.type_name == "Boolean":
        return lambda i, h, b, t, x, ident: (h >> shift) & 1
    if f.type_name in ("BigInt", "Int"):
        if f.nullable:
            return lambda i, h, b, t, x, ident: None if (h >> shift) % 7 == 0 else (h >> shift) % 10**12
        return lambda i, h, b, t, x, ident: (h >> shift) % 10**15
    if f.nullable:
        return lambda i, h, b, t, x, ident: None if (h >> shift) % 5 == 0 else f"ctx-{(h >> shift) % 997}"
    return lambda i, h, b, t, x, ident: addresses[(h >> shift) % na]


def build_belt(out: Path, rows: int = 3_000_000, variant: str = "green", seed: int = 0) -> BulkResult:
    """Write DIR/belt.sqlite and DIR/schema.graphql; returns what was written and how long it took."""
    began = time.perf_counter()
    schema = load_footprint()
    plan = plan_counts(rows, variant)
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "belt.sqlite"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    schema_path = out / "schema.graphql"
    schema_path.write_text(FOOTPRINT.read_text())
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-1000000",
            "locking_mode=EXCLUSIVE",
            "temp_store=MEMORY",
        ):
            db.execute(f"PRAGMA {pragma}")
        create_schema(db, schema)
        indexes = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")]
        db.execute("BEGIN")
        for name in indexes:
            db.execute(f"DROP INDEX {quote(name)}")
        enums = dict(schema.enums)
        events: dict[int, int] = {}
        for salt, entity in enumerate(schema.entities):
            cols = entity.columns
            sql = (
                f"INSERT INTO {quote(entity.name)} ({', '.join(quote(c.column) for c in cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})"
            )
            for chain, n in plan.get(entity.name, {}).items():
                db.executemany(sql, _rows(entity, enums, chain, n, seed, salt))
                events[chain] = events.get(chain, 0) + n
        for chain in VARIANTS[variant]:
            _share, start, head, block_time, genesis = CHAINS[chain]
            ready = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(genesis + (head - start) * block_time))
            db.execute(
                "INSERT INTO chain_metadata (chain_id, start_block, end_block, block_height, "
                "first_event_block_number, latest_fetched_block_number, latest_processed_block, "
                "num_batches_fetched, num_events_processed, is_hyper_sync, "
                "timestamp_caught_up_to_head_or_endblock) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    chain,
                    start,
                    head,
                    start,
                    head,
                    head,
                    max(1, events.get(chain, 0) // 5000),
                    events.get(chain, 0),
                    ready,
                ),
            )
        for entity in schema.entities:
            create_entity_table(db, entity)  # IF NOT EXISTS: re-creates only the indexes
        db.execute("COMMIT")
        db.execute("ANALYZE")
        db.execute("PRAGMA locking_mode=NORMAL")
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()
    return BulkResult(db_path, schema_path, plan, time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    """`python -m belt_gate.sandbox.bulk`: write a seed-scale belt and print what was written."""
    p = argparse.ArgumentParser(
        prog="python -m belt_gate.sandbox.bulk", description="write a seed-scale footprint belt into SQLite"
    )
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--rows", type=int, default=3_000_000)
    p.add_argument("--variant", default="green", choices=tuple(VARIANTS))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        result = build_belt(args.out, args.rows, args.variant, args.seed)
    except (BeltGateError, OSError, sqlite3.Error) as exc:
        print(f"belt_gate.sandbox.bulk: {exc}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "db": str(result.db),
                "schema": str(result.schema),
                "variant": args.variant,
                "rows": result.total,
                "seconds": round(result.seconds, 2),
                "entities": {e: sum(c.values()) for e, c in result.counts.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
