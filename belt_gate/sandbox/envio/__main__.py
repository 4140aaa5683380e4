"""`python -m belt_gate.sandbox.envio build [v2|v3 ...] [--force]`: install and codegen the sandbox's
Envio projects into `<checkout>/.envio/` (a no-op when already built). `.ci/run` runs it."""

from __future__ import annotations

import argparse
import sys
import time

from belt_gate.errors import BeltGateError


def main(argv: list[str] | None = None) -> int:
    """`python -m belt_gate.sandbox.envio build`: install and codegen the Envio projects asked for (both by default)."""
    p = argparse.ArgumentParser(prog="python -m belt_gate.sandbox.envio")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="install + codegen the Envio projects")
    b.add_argument("versions", nargs="*", metavar="v2|v3", help="default: both")
    b.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    from belt_gate.sandbox.envio.project import FLAVOURS, build, built

    unknown = [v for v in args.versions if v not in FLAVOURS]
    if unknown:
        print(f"belt_gate.sandbox.envio: unknown version(s) {', '.join(unknown)} (v2, v3)", file=sys.stderr)
        return 2
    try:
        for key in args.versions or list(FLAVOURS):
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
