"""Benchmark: promotions and rollbacks back and forth through the real promote path, under keep-alive load.

    .venv/bin/python bench/bench_promote.py                       # 10 promotions + 10 rollbacks = 20 switches
    .venv/bin/python bench/bench_promote.py --cycles 3 --clients 2 --json bench/results/promote.json

A sandbox world (six anvils, blue on 4 chains, green on 6, the Caddy alias) is started in a temp folder.
Client processes (one keep-alive httpx.Client each, no retries) send real GraphQL requests
(`chain_metadata`) through the alias for the whole run and tell blue (4 chains) from green (6) by the
answer. Each cycle: `pytest --belt-promote` (the demo's expansion certification, --belt-verify-window as
given) in a subprocess, then `belt-gate rollback` (also a subprocess). Figures: failed client requests
(total and by kind), the switch (locked compare + rename + read-back) and the whole apply call from the
ledger, the time from the session's last test to the first green answer (ledger; verify window
excluded), and the probe's own failures. Loopback only; the world is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

QUERY = {"query": "{ chain_metadata(order_by: {chain_id: asc}) { chain_id } }"}


def load_worker(url: str, stop: Any, out: Any) -> None:
    """One consumer: one keep-alive client, no retries; counts answers by colour and every failure."""
    errors: dict[str, int] = {}
    colours = {"blue": 0, "green": 0, "other": 0}
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                r = client.post(url, json=QUERY)
                chains = len(r.json()["data"]["chain_metadata"]) if r.status_code == 200 else -1
                if chains < 0:
                    errors[f"HTTP {r.status_code}"] = errors.get(f"HTTP {r.status_code}", 0) + 1
                else:
                    colours["blue" if chains == 4 else "green" if chains == 6 else "other"] += 1
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            time.sleep(0.002)  # a busy consumer, not a flood: certification shares the 2 cores
    out.put((colours, errors))


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from belt_gate.cli import demo_command
    from belt_gate.promote.ledger import Ledger
    from belt_gate.sandbox.world import World, WorldOptions, committed_golden

    world = World(work / "world")
    state = world.up(WorldOptions())
    try:
        alias = f"{state.alias.url}/v1/graphql"
        ledger = work / "belt-ledger.jsonl"
        argv = [
            *demo_command(state),
            "-q",
            f"--belt-alias={alias}",
            f"--belt-alias-admin={state.alias.admin_url}",
            f"--belt-ledger={ledger}",
            f"--belt-verify-window={args.verify_window}",
            "--belt-promote",
        ]
        golden = committed_golden(state)
        if golden is not None:
            argv.append(f"--belt-golden={golden}")
        rollback = [
            sys.executable, "-m", "belt_gate.cli", "rollback",
            f"--alias-admin={state.alias.admin_url}", f"--ledger={ledger}",
        ]  # fmt: skip
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        out: Any = ctx.Queue()
        workers = [ctx.Process(target=load_worker, args=(alias, stop, out), daemon=True) for _ in range(args.clients)]
        for w in workers:
            w.start()
        time.sleep(1.0)  # every consumer holds a keep-alive connection to blue
        began = time.monotonic()
        failures: list[str] = []
        for n in range(args.cycles):
            p = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                failures.append(f"promotion {n + 1} exited {p.returncode}: {p.stdout[-800:]}")
                break
            r = subprocess.run(rollback, cwd=work, capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                failures.append(f"rollback {n + 1} exited {r.returncode}: {r.stdout[-400:]}")
                break
        elapsed = time.monotonic() - began
        time.sleep(0.5)
        stop.set()
        results = [out.get(timeout=30) for _ in workers]
        for w in workers:
            w.join(timeout=15)
    finally:
        world.down(state)

    entries = Ledger(ledger).entries()
    promotions = [e for e in entries if e["action"] == "promote" and e["result"] == "done"]
    rollbacks = [e for e in entries if e["action"] == "rollback" and e["result"] == "done"]
    switch = [float(e["switch_ms"]) for e in promotions + rollbacks if e.get("switch_ms") is not None]
    apply_ms = [float(e["apply_ms"]) for e in promotions if e.get("apply_ms") is not None]
    to_green = [float(e["last_test_to_green_ms"]) for e in promotions if e.get("last_test_to_green_ms") is not None]
    errors: dict[str, int] = {}
    colours = {"blue": 0, "green": 0, "other": 0}
    for c, errs in results:
        for k, v in errs.items():
            errors[k] = errors.get(k, 0) + v
        for k, v in c.items():
            colours[k] += v
    return {
        "cycles": args.cycles,
        "switches": len(promotions) + len(rollbacks),
        "clients": args.clients,
        "verify_window_s": args.verify_window,
        "seconds": round(elapsed, 1),
        "client_requests": sum(colours.values()) + sum(errors.values()),
        "client_answers": colours,
        "client_failed": sum(errors.values()),
        "client_failed_by_kind": errors,
        "probe_failed": sum(int(e["probe"]["failed"]) for e in promotions),
        "switch_ms_p50": pct(switch, 0.5),
        "switch_ms_max": max(switch, default=None),
        "apply_ms_p50 (promote: staging + switch + admin confirm)": pct(apply_ms, 0.5),
        "last_test_to_green_ms_p50": pct(to_green, 0.5),
        "last_test_to_green_ms_max": max(to_green, default=None),
        "phases_ms_p50 (from the last test)": {
            k: pct([float(e["phases_ms"][k]) for e in promotions if k in e.get("phases_ms", {})], 0.5)
            for k in ("promote", "locked", "read", "planned", "swap")
        },
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=10, help="promotion + rollback pairs (default 10: 20 switches)")
    ap.add_argument("--clients", type=int, default=3, help="keep-alive client processes (default 3)")
    ap.add_argument("--verify-window", type=float, default=1.0, help="--belt-verify-window of each promotion")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if not (1 <= args.cycles <= 100 and 1 <= args.clients <= 16 and 0 <= args.verify_window <= 60):
        ap.error("bounds: 1-100 cycles, 1-16 clients, 0-60 s verify window")
    with tempfile.TemporaryDirectory(prefix="belt-bench-promote-") as tmp:
        result = run(args, Path(tmp))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result["machine"] = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, {cpus} CPUs"
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    for k, v in result.items():
        print(f"{k:58} {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if not result["failures"] and result["client_failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
