"""`python -m belt_gate.sandbox.envio build [v2|v3 ...] [--force]`: install and codegen the sandbox's
Envio projects into `<checkout>/.envio/` (a no-op when already built). `.ci/run` runs it."""

from __future__ import annotations

import argparse
import sys
import time

from belt_gate.errors import BeltGateError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m belt_gate.sandbox.envio")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="install + codegen the Envio projects")
    b.add_argument("versions", nargs="*", default=["v2", "v3"], choices=["v2", "v3"])
    b.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    from belt_gate.sandbox.envio.project import FLAVOURS, build, built

    try:
        for key in args.versions:
            flavour = FLAVOURS[key]
            began = time.monotonic()
            was = built(flavour) and not args.force
            d = build(flavour, force=args.force)
            state = "already built" if was else f"built in {time.monotonic() - began:.1f}s"
            print(f"envio {flavour.package} ({key}): {d} {state}")
    except BeltGateError as exc:
        print(f"belt_gate.sandbox.envio: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
