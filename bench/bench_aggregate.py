"""Time `_aggregate` requests through the real sandbox Hasura server (its own process, real HTTP).

`python bench/bench_aggregate.py [--backend postgres|sqlite] [--belt DIR] [--rows N] [--repeat 5] [--json PATH]`

- a filtered count over the largest entity (Action, `timestamp _lte`) and over BgtBoostEvent
  (`blockNumber _lte`): median of --repeat runs; target <= 200 ms;
- one batched fingerprint: 12 entities x 6 chains aliased `X_aggregate(where: {_and: [chainId, cutoff]})
  { aggregate { count sum {..} min {..} max {..} } }` in one request;
- a wide batched request: 10,000 aliased count fields (graphql-core parse/validate/execute at scale).
With `--backend postgres` (the default) the seed-scale belt of --rows rows (default 3,000,000) is built in a
throwaway Postgres cluster in Envio's layout (belt_gate.sandbox.pgbulk) and served by the server's Postgres
backend; with `--backend sqlite` it is generated as a SQLite file (belt_gate.sandbox.bulk), or reused with --belt.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_belt import seed_belt, served

from belt_gate.sandbox import procs
from belt_gate.sandbox.bulk import CHAINS, FOOTPRINT, build_belt, load_footprint

CLIENT = httpx.Client(timeout=600)  # keep-alive, like belt_gate's own client


def timed(url: str, query: str, repeat: int) -> tuple[float, Any]:
    times = []
    body: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        r = CLIENT.post(url, json={"query": query})
        times.append((time.perf_counter() - started) * 1000)
        body = r.json()
        if "errors" in body:
            raise SystemExit(f"GraphQL errors: {str(body['errors'])[:300]}")
    return statistics.median(times), body


def fingerprint_query() -> str:
    parts = []
    for e in load_footprint().entities:
        numeric = " ".join(c.column for c in e.columns if c.is_numeric)
        ordered = " ".join(c.column for c in e.columns if c.is_numeric)
        for chain in CHAINS:
            cut = ""
            if e.block_column:
                cut = f', {{blockNumber: {{_lte: "{CHAINS[chain][2]}"}}}}'
            elif e.timestamp_column:
                cut = ', {timestamp: {_lte: "2000000000"}}'
            parts.append(
                f"{e.name}_{chain}: {e.name}_aggregate(where: {{_and: [{{chainId: {{_eq: {chain}}}}}{cut}]}})"
                f" {{ aggregate {{ count sum {{ {numeric} }} min {{ {ordered} }} max {{ {ordered} }} }} }}"
            )
    return "query Fingerprint { " + " ".join(parts) + " }"


@contextlib.contextmanager
def sqlite_belt(belt: Path | None, rows: int, tmp: Path) -> Iterator[str]:
    if belt is None:
        belt = tmp
        print(f"generating a {rows:,}-row belt ...", flush=True)
        build_belt(belt, rows)
    port = procs.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "belt_gate.sandbox.hasura",
            "--db",
            str(belt / "belt.sqlite"),
            "--schema",
            str(belt / "schema.graphql"),
            "--port",
            str(port),
        ]
    )
    try:
        procs.wait_for_port(port, pid=proc.pid, timeout=30, what="sandbox hasura")
        yield f"http://127.0.0.1:{port}/v1/graphql"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def postgres_belt(rows: int, tmp: Path, figures: dict[str, Any]) -> Iterator[str]:
    print(f"building a {rows:,}-row belt in Postgres ...", flush=True)
    with seed_belt(rows) as (dsn, built):
        figures["build_s"] = round(built.seconds, 1)
        with served(dsn, "green", FOOTPRINT, tmp / "server.log") as url:
            yield url


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--belt", type=Path, default=None, help="a directory written by belt_gate.sandbox.bulk")
    p.add_argument("--rows", type=int, default=3_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if args.belt is not None and args.backend != "sqlite":
        p.error("--belt reuses a SQLite belt: it needs --backend sqlite")
    built: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-agg-")))
        if args.backend == "postgres":
            url = stack.enter_context(postgres_belt(args.rows, tmp, built))
        else:
            url = stack.enter_context(sqlite_belt(args.belt, args.rows, tmp))
        rows = sum(
            httpx.post(url, json={"query": f"{{ {e}_aggregate {{ aggregate {{ count }} }} }}"}, timeout=600).json()[
                "data"
            ][f"{e}_aggregate"]["aggregate"]["count"]
            for e in load_footprint().entity_names
        )
        action_ms, action = timed(
            url,
            '{ a: Action_aggregate(where: {timestamp: {_lte: "1700000000"}}) { aggregate { count } } }',
            args.repeat,
        )
        bgt_ms, _ = timed(
            url,
            '{ a: BgtBoostEvent_aggregate(where: {blockNumber: {_lte: "20000000"}}) { aggregate { count } } }',
            args.repeat,
        )
        fp_ms, fp = timed(url, fingerprint_query(), max(1, args.repeat // 2))
        wide = " ".join(
            f"c{i}: Action_aggregate(where: {{_and: [{{chainId: {{_eq: {i % 100}}}}}, "
            f'{{timestamp: {{_lte: "{1_700_000_000 + i}"}}}}]}}) {{ aggregate {{ count }} }}'
            for i in range(10_000)
        )
        wide_ms, _ = timed(url, "query Wide { " + wide + " }", 1)
    figures = {
        "bench": "aggregate",
        "backend": args.backend,
        **built,
        "belt_rows": rows,
        "count_largest_entity_ms": round(action_ms, 1),
        "count_largest_entity_rows_matched": action["data"]["a"]["aggregate"]["count"],
        "count_bgt_boost_ms": round(bgt_ms, 1),
        "fingerprint_12x6_ms": round(fp_ms, 1),
        "fingerprint_fields": len(fp["data"]),
        "wide_10000_counts_ms": round(wide_ms, 1),
        "target_count_ms": 200,
        "ok": action_ms <= 200 and bgt_ms <= 200,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(
        f"aggregate over {rows:,} rows ({args.backend}): Action count {action_ms:.1f} ms, "
        f"BgtBoostEvent count {bgt_ms:.1f} ms "
        f"(target <= 200 ms: {'ok' if figures['ok'] else 'MISSED'}); fingerprint 12x6 {fp_ms:.0f} ms; "
        f"10,000 aliased counts {wide_ms:.0f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
