"""Time the bulk belt generator: `python bench/bench_bulk.py [--rows 3000000] [--variant green] [--json PATH]`.

Target: 3,000,000 rows in at most 120 s. Prints the figures; --json writes them.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from belt_gate.sandbox.bulk import build_belt


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=3_000_000)
    p.add_argument("--variant", default="green")
    p.add_argument("--out", type=Path, default=None, help="keep the belt here (default: a temp dir)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        out = args.out or Path(tmp)
        result = build_belt(out, args.rows, args.variant)
        size = result.db.stat().st_size
    figures = {
        "bench": "bulk",
        "rows": result.total,
        "variant": args.variant,
        "seconds": round(result.seconds, 2),
        "rows_per_second": round(result.total / result.seconds),
        "db_bytes": size,
        "target_seconds": 120,
        "ok": result.seconds <= 120,
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
    }
    print(
        f"bulk: {result.total:,} rows in {result.seconds:.1f} s ({figures['rows_per_second']:,} rows/s), "
        f"{size / 1e6:.0f} MB, target <= 120 s: {'ok' if figures['ok'] else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
