"""Benchmark: start + deploy + traffic + index for the sandbox's chains.

    .venv/bin/python bench/bench_traffic.py                      # 6 chains, default traffic
    .venv/bin/python bench/bench_traffic.py --events 100000 --chains 1 --json out.json

Prints wall-clock seconds per phase (chains in parallel threads, one anvil each) and, with --json,
writes them to a file. Not a test: nothing is asserted beyond the counts adding up.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from belt_gate.envio import load_schema
from belt_gate.sandbox import chains, traffic
from belt_gate.sandbox.indexer import index_chain
from belt_gate.sandbox.store import connect

ROOT = Path(__file__).resolve().parents[1]


def one(chain_id: int, events: int, run_dir: Path) -> dict[str, Any]:
    schema = load_schema(ROOT / "schema.graphql")
    t0 = time.perf_counter()
    c = chains.start_chain(chain_id, run_dir=run_dir)
    try:
        t1 = time.perf_counter()
        chains.deploy(c)
        t2 = time.perf_counter()
        summary = traffic.traffic(c, events)
        t3 = time.perf_counter()
        db = connect(run_dir / f"belt-{chain_id}.db")
        result = index_chain(db, schema, chain_id=chain_id, rpc_url=c.rpc_url)
        t4 = time.perf_counter()
        db.close()
    finally:
        chains.stop_chain(c)
    return {
        "chain_id": chain_id,
        "start_s": t1 - t0,
        "deploy_s": t2 - t1,
        "traffic_s": t3 - t2,
        "index_s": t4 - t3,
        "total_s": t4 - t0,
        "blocks": result.head,
        "logs": result.events,
        "txs": len(summary.tx_hashes),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=traffic.DEFAULT_EVENTS, help="events per entity per chain")
    parser.add_argument("--chains", type=int, default=len(chains.DEFAULT_CHAIN_IDS))
    parser.add_argument("--sequential", action="store_true", help="one chain after the other")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ids = list(chains.DEFAULT_CHAIN_IDS[: args.chains])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        if args.sequential:
            per_chain = [one(cid, args.events, Path(tmp)) for cid in ids]
        else:
            with ThreadPoolExecutor(max_workers=len(ids)) as pool:
                per_chain = list(pool.map(lambda cid: one(cid, args.events, Path(tmp)), ids))
        wall = time.perf_counter() - started
    for r in per_chain:
        print(
            f"chain {r['chain_id']:>8}: start {r['start_s']:.2f}s deploy {r['deploy_s']:.2f}s "
            f"traffic {r['traffic_s']:.2f}s index {r['index_s']:.2f}s  "
            f"({r['blocks']} blocks, {r['txs']} txs, {r['logs']} logs)"
        )
    print(
        f"{len(ids)} chains x {args.events} events/entity: {wall:.2f}s wall "
        f"({'one after the other' if args.sequential else 'chains in parallel threads'})"
    )
    if args.json:
        doc = {"events": args.events, "sequential": args.sequential, "wall_s": wall, "chains": per_chain}
        args.json.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
