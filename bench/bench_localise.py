"""Localising one dropped event in the seed-scale belt: rounds, requests per belt and wall time (issue 14).

    .venv/bin/python bench/bench_localise.py                      # 3,000,000-row belts in Postgres (a few minutes)
    .venv/bin/python bench/bench_localise.py --rows 1000000 --json out.json
    .venv/bin/python bench/bench_localise.py --backend sqlite     # the same over SQLite files
    .venv/bin/python bench/bench_localise.py --backend sqlite --belt DIR   # reuse DIR/belt.sqlite (bulk, green)

The bulk footprint belt (12 entities, 6 chains) is built once and copied: with `--backend postgres` (the
default) into a throwaway Postgres cluster in Envio's layout (belt_gate.sandbox.pgbulk; the copy is a second
schema), with `--backend sqlite` as a SQLite file (belt_gate.sandbox.bulk; the copy a second file). Blue is
the copy, green the same rows less one BgtBoostEvent on chain 8453 (the largest entity, on a chain of 28M
blocks), and, with --faults all, also one corrupted `amount` (chain 80094) and a drop plus a duplicate in
Action (mode B, bisected on timestamps) on chain 1. Both are served by the real sandbox GraphQL server over
loopback; the snapshot (belt_gate.snapshot.take, what the plugin runs on the controller) is taken with
`--belt-localise-budget=0` (certification alone) and with the default budget, in-process, `--repeat` times.
Printed: the certification snapshot's seconds, the localisation's seconds, rounds, page rounds and
requests per belt, against the targets (<= 2*log2(blocks) requests per belt, <= 10 s beyond certification).
Every server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pg_belt import (  # noqa: E402
    copy_schema,
    seed_belt,
    served_file,
)
from pg_belt import served as pg_served  # noqa: E402

from belt_gate.sandbox.bulk import CHAINS, FOOTPRINT, build_belt  # noqa: E402

CHAIN = 8453
ENTITY = "BgtBoostEvent"


def fault(db: Path, everything: bool) -> dict[str, Any]:
    """Drop the middle BgtBoostEvent of chain 8453 (and, with `everything`, the other faults)."""
    with sqlite3.connect(db) as c:
        n = c.execute(f'SELECT count(*) FROM "{ENTITY}" WHERE chainId = ?', (CHAIN,)).fetchone()[0]
        rid, block = c.execute(
            f'SELECT id, blockNumber FROM "{ENTITY}" WHERE chainId = ? ORDER BY id LIMIT 1 OFFSET ?', (CHAIN, n // 2)
        ).fetchone()
        c.execute(f'DELETE FROM "{ENTITY}" WHERE id = ?', (rid,))
        out: dict[str, Any] = {"dropped": rid, "block": block, "slice_rows": n}
        if everything:
            (cid,) = c.execute(f'SELECT id FROM "{ENTITY}" WHERE chainId = 80094 ORDER BY id LIMIT 1 OFFSET 777')
            c.execute(f'UPDATE "{ENTITY}" SET amount = amount + 1 WHERE id = ?', cid)
            a = c.execute('SELECT id FROM "Action" WHERE chainId = 1 ORDER BY timestamp LIMIT 2 OFFSET 1000').fetchall()
            c.execute('DELETE FROM "Action" WHERE id = ?', a[0])
            cols = [r[1] for r in c.execute('PRAGMA table_info("Action")')]
            row = list(c.execute('SELECT * FROM "Action" WHERE id = ?', a[1]).fetchone())
            row[cols.index("id")] = f"{row[cols.index('id')]}-dup"
            c.execute(f'INSERT INTO "Action" VALUES ({", ".join("?" for _ in cols)})', row)
            out.update(corrupted=cid[0], action_dropped=a[0][0], action_duplicated=f"{a[1][0]}-dup")
    return out


def fault_pg(dsn: str, pg_schema: str, everything: bool) -> dict[str, Any]:
    """`fault` on a Postgres belt: the same rows changed (ids in the same order: the cluster's C collation)."""
    from belt_gate.sandbox.postgres import connect

    s = f'"{pg_schema}"'
    with connect(dsn) as c, c.transaction():
        (n,) = c.execute(f'SELECT count(*) FROM {s}."{ENTITY}" WHERE "chainId" = %s', (CHAIN,)).fetchone()
        rid, block = c.execute(
            f'SELECT id, "blockNumber" FROM {s}."{ENTITY}" WHERE "chainId" = %s ORDER BY id LIMIT 1 OFFSET %s',
            (CHAIN, n // 2),
        ).fetchone()
        c.execute(f'DELETE FROM {s}."{ENTITY}" WHERE id = %s', (rid,))
        out: dict[str, Any] = {"dropped": rid, "block": int(block), "slice_rows": int(n)}
        if everything:
            (cid,) = c.execute(
                f'SELECT id FROM {s}."{ENTITY}" WHERE "chainId" = 80094 ORDER BY id LIMIT 1 OFFSET 777'
            ).fetchone()
            changed = c.execute(f'UPDATE {s}."{ENTITY}" SET amount = amount + 1 WHERE id = %s', (cid,)).rowcount
            assert changed == 1, cid
            a = c.execute(
                f'SELECT id FROM {s}."Action" WHERE "chainId" = 1 ORDER BY timestamp LIMIT 2 OFFSET 1000'
            ).fetchall()
            c.execute(f'DELETE FROM {s}."Action" WHERE id = %s', a[0])
            cols = [
                r[0]
                for r in c.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                    " AND table_name = 'Action' ORDER BY ordinal_position",
                    (pg_schema,),
                )
            ]
            select = ", ".join("id || '-dup'" if col == "id" else f'"{col}"' for col in cols)
            c.execute(f'INSERT INTO {s}."Action" SELECT {select} FROM {s}."Action" WHERE id = %s', a[1])
            out.update(corrupted=cid, action_dropped=a[0][0], action_duplicated=f"{a[1][0]}-dup")
    return out


def snapshot(blue: str, green: str, budget: str | None, cwd: Path) -> dict[str, Any]:
    from belt_gate.settings import build_settings
    from belt_gate.snapshot import take

    cli = {"blue": blue, "green": green, "schema": str(FOOTPRINT), "timeout": "300", "localise_budget": budget}
    settings = build_settings({k: v for k, v in cli.items() if v is not None}, {}, cwd=cwd)
    started = time.perf_counter()
    snap = asyncio.run(take(settings))
    snap["_wall"] = time.perf_counter() - started
    return snap


def measure(blue: str, green: str, repeat: int, cwd: Path) -> dict[str, Any]:
    cert_s, loc_s, runs = [], [], []
    for _ in range(repeat):
        base = snapshot(blue, green, "0", cwd)
        cert_s.append(base["_wall"])
        snap = snapshot(blue, green, None, cwd)
        loc_s.append(snap["timings"]["localise"])
        runs.append(snap)
    snap = runs[-1]
    entries = snap["localised"]
    main = entries[f"{ENTITY}@{CHAIN}"]
    _share, start, head, _bt, _g = CHAINS[CHAIN]
    blocks = head - start
    base_requests = {b: base["belts"][b]["requests"] for b in ("blue", "green")}
    return {
        "certification_snapshot_s": round(statistics.median(cert_s), 3),
        "localise_s": round(statistics.median(loc_s), 3),
        "localise_s_all": [round(x, 3) for x in loc_s],
        "rounds": main["rounds"],
        "page_rounds": main["pages"],
        "localise_requests_per_belt": main["requests"],
        "certification_requests_per_belt": base_requests,
        "target_requests_per_belt": math.floor(2 * math.log2(blocks)),
        "slice_blocks": blocks,
        "found": {label: _found(e) for label, e in entries.items()},
    }


def _found(e: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: [r.get("id") for r in e.get(k, [])] for k in ("only_blue", "only_green")}
    return out | {"changed": e.get("changed", []), "status": e.get("status"), "rounds": e.get("rounds")}


def on_postgres(rows: int, everything: bool, repeat: int, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with seed_belt(rows) as (dsn, built):
        out.update(build_s=round(built.seconds, 1), rows=built.total)
        t0 = time.perf_counter()
        copy_schema(dsn, "green", "blue")
        out["copy_s"] = round(time.perf_counter() - t0, 1)
        out["fault"] = fault_pg(dsn, "green", everything)
        with (
            pg_served(dsn, "blue", FOOTPRINT, work / "blue.log") as blue,
            pg_served(dsn, "green", FOOTPRINT, work / "green.log") as green,
        ):
            out.update(measure(blue, green, repeat, work))
    return out


def on_sqlite(rows: int, belt: Path | None, everything: bool, repeat: int, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if belt is None:
        t0 = time.perf_counter()
        build_belt(work / "built", rows=rows, variant="green", seed=0)
        out["build_s"] = round(time.perf_counter() - t0, 1)
        source = work / "built" / "belt.sqlite"
    else:
        source = belt / "belt.sqlite"
    shutil.copy(source, work / "blue.sqlite")
    shutil.copy(source, work / "green.sqlite")
    with sqlite3.connect(work / "green.sqlite") as c:
        out["rows"] = sum(
            c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table' AND name != 'chain_metadata'")
        )
    out["fault"] = fault(work / "green.sqlite", everything)
    with (
        served_file(work / "blue.sqlite", FOOTPRINT, work / "blue.log") as blue,
        served_file(work / "green.sqlite", FOOTPRINT, work / "green.log") as green,
    ):
        out.update(measure(blue, green, repeat, work))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--belt", type=Path, help="(sqlite) a folder holding a green bulk belt.sqlite to reuse")
    ap.add_argument("--faults", choices=("drop", "all"), default="drop")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.belt is not None and args.backend != "sqlite":
        ap.error("--belt reuses a SQLite belt: it needs --backend sqlite")
    out: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cpus, {sys.platform}, Python {sys.version.split()[0]}",
        "backend": args.backend,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    everything = args.faults == "all"
    with tempfile.TemporaryDirectory(prefix="belt-bench-localise-") as tmp:
        if args.backend == "postgres":
            out.update(on_postgres(args.rows, everything, args.repeat, Path(tmp)))
        else:
            out.update(on_sqlite(args.rows, args.belt, everything, args.repeat, Path(tmp)))
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
