"""Benchmark: time to ready of `belt-gate sandbox up` (the real CLI, in a subprocess), and of `down`.

    .venv/bin/python bench/bench_sandbox_ready.py                     # defaults, 3 runs
    .venv/bin/python bench/bench_sandbox_ready.py --events 1000 --runs 1 --json out.json

`up` returns only once blue shows its 4 chains and green its 6 processed up to each chain's head, so
the wall-clock time of the command is the time to ready (target: at most 60 s with defaults). The
world's own figure (`ready_seconds`, measured inside `up`, without Python start-up) is printed too.
Each run is taken down again and checked: no recorded pid alive, no recorded port listening.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from belt_gate.sandbox import procs


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "belt-gate"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "belt_gate.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=600)


def one(events: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="belt-bench-ready-") as tmp:
        state_dir = str(Path(tmp) / "world")
        extra = ["--events", str(events)] if events else []
        t0 = time.perf_counter()
        up = cli("sandbox", "up", "--json", "--state-dir", state_dir, *extra)
        t1 = time.perf_counter()
        if up.returncode != 0:
            raise SystemExit(f"sandbox up failed: {up.stderr.strip()}")
        urls = json.loads(up.stdout)
        t2 = time.perf_counter()
        down = cli("sandbox", "down", "--state-dir", state_dir)
        t3 = time.perf_counter()
        if down.returncode != 0:
            raise SystemExit(f"sandbox down failed: {down.stderr.strip()}")
        left = [p for p in urls["pids"] if procs.alive(p)]
        if left:
            raise SystemExit(f"pids still alive after down: {left}")
    return {
        "up_s": round(t1 - t0, 3),
        "ready_inside_s": urls.get("ready_seconds"),
        "down_s": round(t3 - t2, 3),
        "processes": len(urls["pids"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=None, help="events per entity per chain (default: the CLI's)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = [one(args.events) for _ in range(args.runs)]
    for i, r in enumerate(runs, 1):
        print(
            f"run {i}: sandbox up ready in {r['up_s']:.2f} s (inside up: {r['ready_inside_s']:.2f} s), "
            f"down in {r['down_s']:.2f} s, {r['processes']} processes"
        )
    ups = [r["up_s"] for r in runs]
    summary = {
        "events": args.events or "default",
        "runs": runs,
        "up_median_s": statistics.median(ups),
        "up_max_s": max(ups),
        "target_s": 60,
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
    }
    print(f"time to ready: median {summary['up_median_s']:.2f} s, max {summary['up_max_s']:.2f} s (target <= 60 s)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
