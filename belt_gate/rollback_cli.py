"""`belt-gate rollback`: move the alias back, with no gate, by compare-and-swap; recorded in the ledger.

    belt-gate rollback --alias-admin=URL [--ledger PATH] [--to URL] [--dry-run]

Without `--to` it undoes the ledger's standing promotion (the newest one whose new upstream the alias
still serves) by going back to where that promotion came from. Exit 0 when the alias serves the target
(or a dry run printed the change), 1 otherwise, 2 for bad usage.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    """The `rollback` subcommand's options."""
    p = sub.add_parser("rollback", help="move the alias back (no gate): to the ledger's previous upstream, or --to")
    p.add_argument("--alias-admin", required=True, metavar="URL", help="Caddy's admin API of the alias")
    p.add_argument(
        "--ledger",
        type=Path,
        default=Path("belt-ledger.jsonl"),
        help="the promotion ledger (default ./belt-ledger.jsonl)",
    )
    p.add_argument("--to", metavar="URL", help="go to this upstream (host:port or http URL) instead of the ledger's")
    p.add_argument("--dry-run", action="store_true", help="print the exact change, change nothing")


def run(args: argparse.Namespace) -> int:
    """Run `belt-gate rollback`; errors the caller reports (BeltGateError) are one line."""
    from belt_gate import redact
    from belt_gate.errors import SettingsError, SwapError
    from belt_gate.promote.caddy import upstream_address
    from belt_gate.promote.flow import rollback
    from belt_gate.settings import environment_secrets

    redact.use(environment_secrets())  # no settings of its own: what the environment holds is hidden

    if not str(args.alias_admin).startswith(("http://", "https://")):
        raise SettingsError(f"--alias-admin must be an http(s) URL of Caddy's admin API, not {args.alias_admin!r}")
    if args.to is not None:
        try:
            upstream_address(args.to)
        except SwapError as e:
            raise SettingsError(f"--to: {e}") from None
    ok = rollback(
        args.alias_admin, ledger=args.ledger, to=args.to, dry_run=args.dry_run, out=lambda s: print(s, flush=True)
    )
    return 0 if ok else 1
