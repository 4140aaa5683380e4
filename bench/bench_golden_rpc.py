"""Benchmark: JSON-RPC round trips (and time) of the golden checks and window audits of one chain.

    .venv/bin/python bench/bench_golden_rpc.py                        # 200 events, 25 golden, 5 windows
    .venv/bin/python bench/bench_golden_rpc.py --events 2000 --golden 100 --windows 10
    .venv/bin/python bench/bench_golden_rpc.py --json bench/results/golden_rpc.json

Loopback only: one deterministic anvil (chain 8453) with the sandbox contracts and traffic, the
reference indexer for the rows, and the sandbox RPC proxy in `pass` mode in front of anvil, so round
trips are counted twice, independently: by RpcClient (HTTP requests it sent) and by the proxy (HTTP
requests it received). Target: golden checks of one chain use at most 2 JSON-RPC round trips.
Exit status 1 if they use more.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from belt_gate.envio import load_schema
from belt_gate.golden import load_golden, parse_event
from belt_gate.golden_capture import EntityEvent, capture
from belt_gate.rules.audit import choose_windows, parse_audits
from belt_gate.rules.golden import golden_l1
from belt_gate.sandbox import chains, procs, traffic
from belt_gate.sandbox.chains import CONTRACTS
from belt_gate.sandbox.indexer import index_chain
from belt_gate.sandbox.rpc_proxy import start_rpc_proxy, stats
from belt_gate.sandbox.store import connect
from belt_gate.sources.rpc import LogQuery, RpcClient

ROOT = Path(__file__).resolve().parents[1]
CHAIN = 8453
TRANSFER = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"


def rows_of(db: sqlite3.Connection) -> list[dict[str, Any]]:
    out = []
    for raw in db.execute('SELECT * FROM "NftTransfer" ORDER BY "blockNumber", "logIndex"'):
        row = dict(raw)
        row["isMint"] = bool(row["isMint"])
        for k in ("tokenId", "blockNumber", "timestamp"):
            row[k] = str(row[k])
        out.append(row)
    return out


def run(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    chain = chains.start_chain(CHAIN, run_dir=run_dir)
    proxy_pid = None
    try:
        chains.deploy(chain)
        traffic.traffic(chain, args.events)
        db = connect(run_dir / "blue.db")
        db.row_factory = sqlite3.Row
        index_chain(db, load_schema(ROOT / "schema.graphql"), chain_id=CHAIN, rpc_url=chain.rpc_url)
        rows = rows_of(db)
        step = max(1, len(rows) // args.golden)
        picked = rows[::step][: args.golden]
        proxy, proxy_pid = start_rpc_proxy(chain.rpc_url, "pass", run_dir)
        nft = CONTRACTS["SandboxNFT"].lower()
        mapping = {"NftTransfer": EntityEvent("NftTransfer", parse_event(TRANSFER), addresses=(nft,))}

        with RpcClient(CHAIN, proxy) as rpc:
            seen0 = stats(proxy)["seen"]
            t0 = time.perf_counter()
            cap = capture({"NftTransfer": picked}, rpc, mapping, run_dir / "golden")
            capture_s = time.perf_counter() - t0
            capture_proxy = stats(proxy)["seen"] - seen0  # the stats route is not counted
        events = load_golden(run_dir / "golden", required=True).by_chain(CHAIN)

        probe_trips, proxy_trips, seconds, calls = [], [], [], []
        for _ in range(args.repeat):
            with RpcClient(CHAIN, proxy) as rpc:
                seen0 = stats(proxy)["seen"]
                t0 = time.perf_counter()
                probe = rpc.golden_probe(events)
                verdicts = [golden_l1(e, probe.for_event(e), endpoint=probe.endpoint) for e in events]
                seconds.append(time.perf_counter() - t0)
                proxy_trips.append(stats(proxy)["seen"] - seen0)
                probe_trips.append(rpc.round_trips)
                calls.append(rpc.calls)
            failed = [v.message for v in verdicts if not v.passed]
            if failed:
                raise SystemExit(f"golden check failed in the benchmark: {failed[0]}")

        spec = parse_audits(
            [
                {
                    "chain": CHAIN,
                    "address": nft,
                    "event": TRANSFER,
                    "entity": "NftTransfer",
                    "windows": args.windows,
                    "width": args.width,
                }
            ]
        )[0]
        head = chains.head(chain)
        windows = choose_windows(args.seed, spec, cutoff=head)
        with RpcClient(CHAIN, proxy) as rpc:
            t0 = time.perf_counter()
            counts = rpc.count_logs_many(
                [LogQuery(p.addresses, p.event.topic0, w.from_block, w.to_block) for w in windows for p in spec.pairs]
            )
            audit_s = time.perf_counter() - t0
            audit_trips = rpc.round_trips
        return {
            "benchmark": "golden_rpc",
            "machine": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": __import__("os").cpu_count(),
            },
            "chain": CHAIN,
            "head": head,
            "events_on_chain": len(rows),
            "golden_events": len(events),
            "capture": {
                "round_trips": cap.round_trips,
                "proxy_requests": capture_proxy,
                "seconds": round(capture_s, 4),
            },
            "golden_check": {
                "round_trips": max(probe_trips),
                "proxy_requests": max(proxy_trips),
                "jsonrpc_calls": max(calls),
                "repeat": args.repeat,
                "seconds_median": round(statistics.median(seconds), 4),
                "seconds_max": round(max(seconds), 4),
            },
            "window_audit": {
                "windows": len(windows),
                "round_trips": audit_trips,
                "logs_counted": sum(counts),
                "seconds": round(audit_s, 4),
            },
            "target_met": max(probe_trips) <= 2 and max(proxy_trips) <= 2,
        }
    finally:
        if proxy_pid is not None:
            procs.stop(proxy_pid)
        chains.stop_chain(chain)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200, help="events of each kind the traffic emits")
    parser.add_argument("--golden", type=int, default=25, help="golden events to capture and check")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-golden-") as tmp:
        result = run(args, Path(tmp))
    g, c, a = result["golden_check"], result["capture"], result["window_audit"]
    print(
        f"chain {result['chain']}: head {result['head']}, {result['events_on_chain']} NftTransfer events,"
        f" {result['golden_events']} golden"
    )
    print(
        f"golden check : {g['round_trips']} round trip(s) (proxy saw {g['proxy_requests']}),"
        f" {g['jsonrpc_calls']} JSON-RPC calls, median {g['seconds_median'] * 1000:.1f} ms,"
        f" max {g['seconds_max'] * 1000:.1f} ms over {g['repeat']} runs"
    )
    print(
        f"capture      : {c['round_trips']} round trip(s) (proxy saw {c['proxy_requests']}),"
        f" {c['seconds'] * 1000:.1f} ms"
    )
    print(
        f"window audit : {a['windows']} windows, {a['round_trips']} round trip(s), {a['logs_counted']} logs,"
        f" {a['seconds'] * 1000:.1f} ms"
    )
    print(f"target (golden checks of one chain <= 2 round trips): {'met' if result['target_met'] else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
