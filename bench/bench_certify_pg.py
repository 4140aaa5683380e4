"""Certification over Postgres belts: seed scale (3M rows, 12 entities, 6 chains) and C chains × E entities.

    .venv/bin/python bench/bench_certify_pg.py                          # seed scale + 100x100
    .venv/bin/python bench/bench_certify_pg.py --rows 300000 --scales 10x10 --json out.json

The same measurements as bench_certify.py (wall time of `pytest --belt-blue --belt-green` as a
subprocess, requests per belt from the certificate, snapshot time), but the belts live in a throwaway
Postgres cluster in Envio's layout (pgstore) and the Hasura-dialect server reads them over psycopg.
Blue and green are two servers over the same Postgres schema (identical rows, as bench_certify copies
the SQLite file). Also reported: where the time goes - the server's seconds per request (its
BELT_SANDBOX_TIMING_LOG lines) against the client's snapshot time and pytest's wall time.
Loopback only; every server and the cluster are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_certify import certify, wide_schema  # noqa: E402
from pg_belt import served  # noqa: E402

from belt_gate.envio import parse_schema  # noqa: E402
from belt_gate.sandbox import pgstore  # noqa: E402
from belt_gate.sandbox.bulk import FOOTPRINT  # noqa: E402
from belt_gate.sandbox.pgbulk import build_pg_belt  # noqa: E402
from belt_gate.sandbox.postgres import Cluster, connect, create_database, start_cluster, stop_cluster  # noqa: E402

PHASES = ("parse_s", "validate_s", "sql_s", "statements", "execute_s", "json_s")


def server_side(*logs: Path) -> dict[str, object]:
    """Per belt: requests the server answered and its seconds for them (the rest of the wall is the client)."""
    out: dict[str, object] = {}
    for log in logs:
        lines = [json.loads(x) for x in log.with_suffix(".timings.jsonl").read_text().splitlines() if x.strip()]
        out[log.stem] = {
            "requests": len(lines),
            "server_s": round(sum(x["seconds"] for x in lines), 3),
            "per_request_s": [round(x["seconds"], 3) for x in lines],
            # each request's seconds by phase: parse, validate, execute (SQL included: sql_s over
            # `statements` statements), encoding the response
            "per_request": [
                {k: round(x[k], 3) if isinstance(x[k], float) else x[k] for k in PHASES if k in x} for x in lines
            ],
            "request_kb": round(sum(x["request_bytes"] for x in lines) / 1024),
            "response_kb": round(sum(x["response_bytes"] for x in lines) / 1024),
        }
    return out


def seed_scale(cluster: Cluster, rows: int, work: Path) -> dict[str, object]:
    dsn = create_database(cluster, "seed")
    built = build_pg_belt(dsn, "green", rows=rows)
    with (
        served(dsn, "green", FOOTPRINT, work / "blue.log") as blue,
        served(dsn, "green", FOOTPRINT, work / "green.log") as green,
    ):
        result = certify(blue, green, FOOTPRINT, work, [])
    result["server"] = server_side(work / "blue.log", work / "green.log")
    with connect(dsn) as db:
        size = db.execute("SELECT pg_database_size('seed')").fetchone()
    result.update(rows=built.total, build_s=round(built.seconds, 1), db_mb=round(int(size[0]) / 2**20))
    return result


def wide(cluster: Cluster, chains: int, entities: int, work: Path) -> dict[str, object]:
    name = f"wide_{chains}x{entities}"
    dsn = create_database(cluster, name)
    schema_path = work / f"{name}.graphql"
    schema_path.write_text(wide_schema(entities))
    schema = parse_schema(schema_path.read_text())
    began = time.perf_counter()
    with connect(dsn) as db:
        pgstore.create_schema(db, schema, "belt")
        for e in schema.entities:
            pgstore.insert_rows(
                db,
                "belt",
                e.name,
                [f.column for f in e.columns],
                (
                    (f"{c}_{r}", c, r + 1, 1000 * c + r, 1_700_000_000 + r)
                    for c in range(1, chains + 1)
                    for r in range(2)
                ),
            )
        pgstore.insert_rows(
            db,
            "belt",
            "chain_metadata",
            [c for c, _ in pgstore.CHAIN_METADATA_COLUMNS],
            [(c, 0, None, 100, 1, 100, 100, 1, 2, False, None) for c in range(1, chains + 1)],
        )
        db.execute("ANALYZE")
    build_s = time.perf_counter() - began
    with (
        served(dsn, "belt", schema_path, work / f"{name}-blue.log") as blue,
        served(dsn, "belt", schema_path, work / f"{name}-green.log") as green,
    ):
        result = certify(blue, green, schema_path, work, [])
    result["server"] = server_side(work / f"{name}-blue.log", work / f"{name}-green.log")
    result.update(chains=chains, entities=entities, build_s=round(build_s, 1))
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--skip-seed", action="store_true")
    ap.add_argument("--scales", default="100x100", help="CHAINSxENTITIES,... ('' for none)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results: dict[str, object] = {}
    cluster = start_cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-certify-pg-") as tmp:
            work = Path(tmp)
            if not args.skip_seed:
                results["seed"] = seed_scale(cluster, args.rows, work)
                print(json.dumps({"seed": results["seed"]}), flush=True)
            for scale in filter(None, args.scales.split(",")):
                c, e = (int(x) for x in scale.split("x"))
                (work / scale).mkdir()
                results[scale] = wide(cluster, c, e, work / scale)
                print(json.dumps({scale: results[scale]}), flush=True)
    finally:
        stop_cluster(cluster)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
