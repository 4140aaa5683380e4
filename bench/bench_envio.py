"""Real Envio belts: world ready time and certification time.

    .venv/bin/python bench/bench_envio.py [--runs 1] [--parity] [--json out.json]

Per run: `World.up(indexer="envio")` (6 anvils + traffic, a Postgres cluster, Envio 2 on 4 chains and
Envio 3 on 6, each served by the Hasura-dialect server; ready = every chain processed to its head), then
the demo's certification (expansion 4 -> 6, committed golden fixtures) as a pytest subprocess, then down.
With --parity, a second world (Envio 2 on both belts) and its parity certification.
Needs the built projects (`python -m belt_gate.sandbox.envio build`). Loopback only; everything stopped.
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

from belt_gate.cli import demo_command, gate_command  # noqa: E402
from belt_gate.sandbox.world import World, WorldOptions, WorldState, committed_golden  # noqa: E402


def certify(argv: list[str], work: Path) -> dict[str, object]:
    cert = work / "cert.json"
    started = time.perf_counter()
    proc = subprocess.run([*argv, f"--belt-report={cert}", "-q"], cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - started
    doc = json.loads(cert.read_text())
    return {
        "exit": proc.returncode,
        "certified": doc["certified"],
        "planned": doc["planned"],
        "wall_s": round(wall, 2),
        "snapshot_s": doc.get("timings", {}).get("total"),
        "requests_blue": doc["requests"]["blue"]["requests"],
        "requests_green": doc["requests"]["green"]["requests"],
    }


def parity_argv(world: WorldState, golden: Path) -> list[str]:
    return [*gate_command(world, schema_of="blue"), f"--belt-golden={golden}"]


def one(green: str, work: Path) -> dict[str, object]:
    world = World(work / f"world-{green}")
    began = time.perf_counter()
    try:
        state = world.up(WorldOptions(indexer="envio", green_envio=green, timeout=300))
        ready = time.perf_counter() - began
        golden = committed_golden(state)
        assert golden is not None
        if green == "v3":
            argv = [*demo_command(state), f"--belt-golden={golden}", "--belt-mode=expansion"]
        else:
            subset = work / "golden"
            subset.mkdir(exist_ok=True)
            for c in state.belts["blue"].chains:
                shutil.copy(golden / f"{c}.yaml", subset / f"{c}.yaml")
            argv = parity_argv(state, subset)
        cert = certify(argv, work)
        belts = {n: i.get("ready_seconds") for n, i in state.summary()["indexers"].items()}
    finally:
        t = time.perf_counter()
        world.down()
        down = time.perf_counter() - t
    return {
        "world": "upgrade (v2 4 chains -> v3 6 chains)" if green == "v3" else "parity (v2 vs v2)",
        "ready_s": round(ready, 2),
        "belt_ready_s": belts,
        "certification": cert,
        "down_s": round(down, 2),
        "load": os.getloadavg()[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--parity", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-envio-") as tmp:
        for i in range(args.runs):
            for green in ("v3", "v2") if args.parity else ("v3",):
                work = Path(tmp) / f"run{i}-{green}"
                work.mkdir()
                r = one(green, work)
                print(json.dumps(r), flush=True)
                results.append(r)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
