"""Write the seed-scale footprint belt into Postgres (the same rows as `bulk.build_belt` writes to SQLite).

    build_pg_belt(dsn, "green", rows=3_000_000)      # 12 entities, 6 chains, Envio's Postgres layout

Every (entity, chain) slice comes from `bulk`'s generator (deterministic in seed, entity, chain), so a
Postgres belt and a SQLite belt of the same arguments hold identical rows. Fast path: tables created
without their secondary indexes, rows streamed with COPY (binary-free text protocol, one COPY per
slice), indexes built afterwards, then VACUUM (ANALYZE). chain_metadata says every chain is synced to its head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from belt_gate.sandbox import pgstore
from belt_gate.sandbox.bulk import CHAINS, VARIANTS, _rows, load_footprint, plan_counts
from belt_gate.sandbox.postgres import connect
from belt_gate.sandbox.store import quote


@dataclass(frozen=True)
class PgBulkResult:
    """What a Postgres bulk write produced: where (DSN and schema), the rows per entity and chain, and how long it
    took."""

    dsn: str
    pg_schema: str
    counts: dict[str, dict[int, int]]
    seconds: float

    @property
    def total(self) -> int:
        """Every row written, all entities and chains."""
        return sum(sum(c.values()) for c in self.counts.values())


def _bool(value: Any) -> Any:
    return None if value is None else bool(value)


def build_pg_belt(
    dsn: str, pg_schema: str, rows: int = 3_000_000, variant: str = "green", seed: int = 0
) -> PgBulkResult:
    """(Re)create `pg_schema` in the database `dsn` and fill it; returns what was written and how long it took."""
    began = time.perf_counter()
    schema = load_footprint()
    plan = plan_counts(rows, variant)
    enums = dict(schema.enums)
    events: dict[int, int] = {}
    with connect(dsn) as db:
        pgstore.drop_schema(db, pg_schema)
        pgstore.create_schema(db, schema, pg_schema)
        indexes = db.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname LIKE 'ix\\_%%'", (pg_schema,)
        ).fetchall()
        for (name,) in indexes:
            db.execute(f"DROP INDEX {quote(pg_schema)}.{quote(name)}")
        for salt, entity in enumerate(schema.entities):
            cols = entity.columns
            bools = [i for i, f in enumerate(cols) if f.kind == "scalar" and f.type_name == "Boolean"]
            names = [f.column for f in cols]
            for chain, n in plan.get(entity.name, {}).items():
                source = _rows(entity, enums, chain, n, seed, salt)
                if bools:
                    source = (tuple(_bool(v) if i in bools else v for i, v in enumerate(r)) for r in source)
                pgstore.insert_rows(db, pg_schema, entity.name, names, source)
                events[chain] = events.get(chain, 0) + n
        metadata = []
        for chain in VARIANTS[variant]:
            _share, start, head, block_time, genesis = CHAINS[chain]
            ready = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(genesis + (head - start) * block_time))
            metadata.append(
                (
                    chain,
                    start,
                    None,
                    head,
                    start,
                    head,
                    head,
                    max(1, events.get(chain, 0) // 5000),
                    events.get(chain, 0),
                    True,
                    ready,
                )
            )
        pgstore.insert_rows(db, pg_schema, "chain_metadata", [c for c, _ in pgstore.CHAIN_METADATA_COLUMNS], metadata)
        for entity in schema.entities:
            pgstore.create_entity_table(db, entity, pg_schema)  # IF NOT EXISTS: builds only the indexes
        # VACUUM, not only ANALYZE: a table just filled by COPY has no visibility map, so every count reads the
        # heap; a live Envio database has been autovacuumed, and answers a filtered count from the index alone.
        for table in [e.name for e in schema.entities] + ["chain_metadata"]:
            db.execute(f"VACUUM (ANALYZE) {quote(pg_schema)}.{quote(table)}")
    return PgBulkResult(dsn, pg_schema, plan, time.perf_counter() - began)


__all__ = ["PgBulkResult", "build_pg_belt"]
