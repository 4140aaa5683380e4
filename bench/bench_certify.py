"""Certification wall time and GraphQL requests per belt, at seed scale and at 100 chains × 100 entities.

    .venv/bin/python bench/bench_certify.py                    # both parts (3M-row belts; several minutes)
    .venv/bin/python bench/bench_certify.py --rows 300000      # smaller seed-scale belt
    .venv/bin/python bench/bench_certify.py --skip-seed --scales 10x10,30x30,100x100 --json out.json

Part 1 (seed scale): the bulk footprint belt (12 entities, 6 chains, --rows rows) served twice by the real
sandbox GraphQL server; `pytest --belt-blue --belt-green` run as a subprocess (wall time includes pytest's
start); requests per belt read from the certificate.
Part 2 (wide): synthetic belts of C chains × E entities (2 rows per slice), same measurement, plus the
collection time (from a timing plugin) to show growth with the number of items.
Loopback only; every server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pg_belt import served_file  # noqa: E402

from belt_gate.envio import parse_schema  # noqa: E402
from belt_gate.sandbox.store import connect, create_schema  # noqa: E402

TIMER_PLUGIN = """
import json, os, time
_t = {}
def pytest_collection(session):
    _t["start"] = time.perf_counter()
def pytest_collection_finish(session):
    _t["collection"] = time.perf_counter() - _t["start"]
    _t["items"] = len(session.items)
def pytest_sessionfinish(session):
    open(os.environ["BELT_BENCH_TIMER"], "w").write(json.dumps(_t))
"""


def certify(blue: str, green: str, schema: Path, work: Path, extra: list[str]) -> dict[str, object]:
    (work / "timer_plugin.py").write_text(TIMER_PLUGIN)
    env = {**os.environ, "PYTHONPATH": str(work), "BELT_BENCH_TIMER": str(work / "timer.json")}
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "timer_plugin",
        "-q",
        f"--belt-blue={blue}",
        f"--belt-green={green}",
        f"--belt-schema={schema}",
        f"--belt-blue-schema={schema}",
        f"--belt-green-schema={schema}",
        f"--belt-report={work / 'cert.json'}",
        "--belt-timeout=300",
        *extra,
    ]
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    cert = json.loads((work / "cert.json").read_text())
    timer = json.loads((work / "timer.json").read_text())
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "items": timer.get("items"),
        "collection_s": round(float(timer.get("collection", 0)), 3),
        "snapshot_s": cert.get("timings", {}).get("total"),
        "requests_blue": cert["requests"]["blue"]["requests"],
        "requests_green": cert["requests"]["green"]["requests"],
        "totals": cert["totals"],
    }


def seed_scale(rows: int, work: Path) -> dict[str, object]:
    from belt_gate.sandbox.bulk import FOOTPRINT, build_belt

    t0 = time.perf_counter()
    build_belt(work / "green", rows=rows, variant="green", seed=0)
    build_s = time.perf_counter() - t0
    (work / "blue").mkdir(exist_ok=True)
    db = next((work / "green").glob("*.sqlite"))
    shutil.copy(db, work / "blue" / db.name)
    with (
        served_file(work / "blue" / db.name, FOOTPRINT, work / "blue.log") as blue,
        served_file(db, FOOTPRINT, work / "green.log") as green,
    ):
        result = certify(blue, green, FOOTPRINT, work, [])
    result.update(rows=rows, build_s=round(build_s, 1))
    return result


def wide_schema(entities: int) -> str:
    return "\n".join(
        f"type E{i:03d} {{ id: ID! chainId: Int! blockNumber: BigInt! amount: BigInt! timestamp: BigInt! }}"
        for i in range(entities)
    )


def wide_belt(path: Path, schema_text: str, chains: int, rows: int) -> None:
    schema = parse_schema(schema_text)
    db = connect(path)
    create_schema(db, schema)
    for e in schema.entities:
        db.executemany(
            f'INSERT INTO "{e.name}" VALUES (?,?,?,?,?)',
            [
                (f"{c}_{r}", c, r + 1, 1000 * c + r, 1_700_000_000 + r)
                for c in range(1, chains + 1)
                for r in range(rows)
            ],
        )
    db.executemany(
        "INSERT INTO chain_metadata VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(c, 0, None, 100, 1, 100, 100, 1, rows, 0, None) for c in range(1, chains + 1)],
    )
    db.commit()
    db.close()


def wide(chains: int, entities: int, work: Path) -> dict[str, object]:
    schema_path = work / "schema.graphql"
    schema_path.write_text(wide_schema(entities))
    for name in ("blue", "green"):
        wide_belt(work / f"{name}.sqlite", schema_path.read_text(), chains, 2)
    with (
        served_file(work / "blue.sqlite", schema_path, work / "blue.log") as blue,
        served_file(work / "green.sqlite", schema_path, work / "green.log") as green,
    ):
        result = certify(blue, green, schema_path, work, [])
    result.update(chains=chains, entities=entities)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--skip-seed", action="store_true")
    ap.add_argument("--scales", default="10x10,30x30,100x100", help="CHAINSxENTITIES,...")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out: dict[str, object] = {"machine": f"{os.cpu_count()} cpus, {sys.platform}, Python {sys.version.split()[0]}"}
    with tempfile.TemporaryDirectory(prefix="belt-bench-") as tmp:
        if not args.skip_seed:
            work = Path(tmp) / "seed"
            work.mkdir()
            out["seed_scale"] = r = seed_scale(args.rows, work)
            print(f"seed scale: {r}", flush=True)
        rows = []
        for spec in filter(None, args.scales.split(",")):
            c, e = (int(x) for x in spec.split("x"))
            work = Path(tmp) / f"wide{c}x{e}"
            work.mkdir()
            r = wide(c, e, work)
            rows.append(r)
            print(f"wide {c} chains × {e} entities: {r}", flush=True)
        out["wide"] = rows
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
