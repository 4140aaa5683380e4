"""`belt-gate status`, `belt-gate dashboard`, `belt-gate wait --synced`: watching belts sync.

    belt-gate status [--belt NAME[=URL] ...] [--rpc CHAIN=URL ...] [--json] [--watch] [--sample-seconds S]
    belt-gate dashboard [--port P] [--host 127.0.0.1] [--alias-admin URL] [--certificate F] [--ledger F]
    belt-gate wait --synced [--belt green] [--within N] [--timeout S] [--interval S]

`status` exits 1 when a belt could not be read (it still prints what it knows); `wait` exits 0 once every
chain of the belt is within N blocks for two reads in a row, 1 with one line on stderr at the timeout.

Belts, RPCs, the alias's admin API, the ledger and the certificate default to the project's settings
(belt.toml or --config, pyproject's pytest ini, the Envio config.yaml, BELT_RPC_<CHAIN> and the admin
secrets from the environment; settings.build_watch_settings). The numbers are those of belt_gate.status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from belt_gate.status import BeltSpec, BeltStatus, ChainStatus, Report, Watcher

if TYPE_CHECKING:
    from belt_gate.settings import WatchSettings

DASHBOARD_PORT = 8787


def _positive(kind: type[Any]) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
        return value

    return parse


def _common(p: argparse.ArgumentParser, *, belt_help: str) -> None:
    p.add_argument("--belt", action="append", default=[], metavar="NAME[=URL]", help=belt_help)
    p.add_argument("--rpc", action="append", default=[], metavar="CHAIN=URL", help="a chain's RPC for its head")
    p.add_argument("--config", type=Path, default=None, help="belt.toml with [belt] settings (default ./belt.toml)")
    p.add_argument(
        "--within", type=_positive(int), default=None, help="blocks from the head that count as synced (default 10)"
    )
    p.add_argument("--request-timeout", type=_positive(float), default=10.0, help="seconds per request (default 10)")


def add_parsers(sub: Any) -> None:
    """Add the three subcommands to the `belt-gate` parser's subparsers."""
    status = sub.add_parser("status", help="per belt and chain: processed / head, rate, ETA, fetched ahead")
    _common(status, belt_help="a belt to read (default: blue, green and alias from the settings)")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument("--watch", action="store_true", help="a live display, until Ctrl-C")
    status.add_argument(
        "--sample-seconds",
        type=_positive(float),
        default=2.0,
        help="a one-shot status reads twice this far apart, for rate and ETA (0: once, no rate; default 2)",
    )
    status.add_argument("--interval", type=_positive(float), default=2.0, help="--watch: seconds between reads")
    status.add_argument("--iterations", type=_positive(int), default=0, help=argparse.SUPPRESS)

    dash = sub.add_parser("dashboard", help="a local web page: belts side by side, refreshing itself")
    _common(dash, belt_help="a belt to show (default: blue, green and alias from the settings)")
    dash.add_argument("--port", type=_positive(int), default=DASHBOARD_PORT, help=f"default {DASHBOARD_PORT}")
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    dash.add_argument("--interval", type=_positive(float), default=2.0, help="seconds between reads (default 2)")
    dash.add_argument("--alias-admin", default=None, metavar="URL", help="the alias's Caddy admin API")
    dash.add_argument("--certificate", type=Path, default=None, help="a certificate to show (--belt-report's file)")
    dash.add_argument("--ledger", type=Path, default=None, help="the promotion ledger (JSONL)")
    dash.add_argument("--ready-belt", default="green", help="the belt 'ready to certify' is about (default green)")

    wait = sub.add_parser("wait", help="wait until a belt is synced (exit 0), or time out (exit 1)")
    _common(wait, belt_help="the belt to wait for (default green); NAME from the settings or NAME=URL")
    wait.add_argument("--synced", action="store_true", required=True, help="wait until every chain is synced")
    wait.add_argument("--timeout", type=_positive(float), default=3600.0, help="give up after S seconds (3600)")
    wait.add_argument("--interval", type=_positive(float), default=5.0, help="seconds between reads (default 5)")


def _specs(args: argparse.Namespace, default: list[str] | None = None) -> tuple[list[BeltSpec], WatchSettings]:
    from belt_gate import redact
    from belt_gate.settings import build_watch_settings

    ws = build_watch_settings(args.belt or default or [], args.rpc, config_path=args.config)
    redact.use(ws.secrets)  # the command's output hides these (cli.main puts the previous set back)
    specs = [BeltSpec(name, url, ws.headers.get(name, {})) for name, url in ws.belts.items()]
    return specs, ws


def _within(args: argparse.Namespace, ws: WatchSettings) -> int:
    return int(args.within) if args.within is not None else ws.head_tolerance


# -- terminal ----------------------------------------------------------------------------------------


def _num(v: int | None) -> str:
    return "—" if v is None else f"{v:,}"


def _rate(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f}/s"


def _eta(c: ChainStatus) -> str:
    if c.state == "synced":
        return "—"
    if c.eta is None:
        return "never" if c.committed_rate is not None else "—"
    s = c.eta
    if s < 90:
        return f"{s:.0f}s"
    h, m = divmod(round(s / 60), 60)
    return f"{h}h {m}m" if h else f"{m}m"


def table(report: Report) -> Any:
    """The report as a rich Table (one row per belt and chain); its free texts (failures, notes) are redacted
    here, where they become the terminal's."""
    from rich.table import Table

    from belt_gate.redact import redact_text

    t = Table(title=f"belt sync · within {report.within} blocks · {time.strftime('%H:%M:%S')}", expand=False)
    for col in ("belt", "chain", "processed / head", "%", "remaining", "fetched ahead", "events", "rate", "ETA"):
        t.add_column(col, justify="left" if col in ("belt", "chain") else "right")
    t.add_column("state")
    for b in report.belts:
        if b.state != "ok":
            t.add_row(
                b.name, "", "", "", "", "", "", "", "", f"[red]{b.state.upper()}[/]: {redact_text(str(b.message))}"
            )
        for c in b.chains:
            head = f"{_num(c.processed)} / {_num(c.head)} ({c.head_source})"
            pct = "—" if c.percent is None else f"{c.percent:.1f}"
            state = f"stale ({b.state})" if c.stale else c.state + (f": {redact_text(c.note)}" if c.note else "")
            colour = "green" if c.state == "synced" and not c.stale else "yellow" if c.state == "syncing" else "red"
            t.add_row(
                b.name,
                f"{c.name} {c.chain_id}",
                head,
                pct,
                _num(c.remaining),
                _num(c.fetched_ahead),
                _num(c.events),
                "—" if c.stale else _rate(c.rate),
                "—" if c.stale else _eta(c),
                f"[{colour}]{state}[/]",
            )
        if b.state == "ok":
            ready = "[green]ready to certify[/]" if b.ready(report.within) else f"{len(b.behind(report.within))} behind"
            t.add_row(b.name, f"[dim]{b.endpoint} ({b.source})[/]", "", "", "", "", "", "", "", ready)
    return t


async def _polls(watcher: Watcher, count: int, gap: float) -> Report:
    try:
        report = await watcher.poll()
        for _ in range(count - 1):
            await asyncio.sleep(gap)
            report = await watcher.poll()
        return report
    finally:
        await watcher.aclose()


def status(args: argparse.Namespace) -> int:
    """`belt-gate status`: one table (or JSON) of every watched belt, or a live one with `--watch`; exit 1 when a belt
    could not be read."""
    from rich.console import Console

    specs, ws = _specs(args)
    watcher = Watcher(specs, ws.rpc, within=_within(args, ws), timeout=args.request_timeout)
    # piped or captured: wide enough for every column (rich assumes 80 and would cut them)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    if not args.watch:
        reads = 2 if args.sample_seconds > 0 else 1
        report = asyncio.run(_polls(watcher, reads, args.sample_seconds))
        if args.json:
            print(json.dumps(report.to_json(), sort_keys=True))
        else:
            console.print(table(report))
        return 0 if all(b.state == "ok" for b in report.belts) else 1
    from rich.live import Live

    async def live() -> None:
        # --json --watch: one JSON object per line and read (for scripts); else a live table
        with contextlib.nullcontext() if args.json else Live(console=console, auto_refresh=False) as view:
            n = 0
            try:
                while True:
                    report = await watcher.poll()
                    if view is None:
                        print(json.dumps(report.to_json(), sort_keys=True), flush=True)
                    else:
                        view.update(table(report), refresh=True)
                    n += 1
                    if args.iterations and n >= args.iterations:
                        return
                    await asyncio.sleep(args.interval)
            finally:
                await watcher.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(live())
    return 0


def dashboard(args: argparse.Namespace) -> int:
    """`belt-gate dashboard`: serve the local page of every watched belt (plus the alias, certificate and ledger when
    known) until interrupted."""
    from belt_gate.dashboard import DashboardConfig, serve

    specs, ws = _specs(args)
    config = DashboardConfig(
        belts=specs,
        rpc=ws.rpc,
        within=_within(args, ws),
        interval=max(args.interval, 0.2),
        timeout=args.request_timeout,
        alias_admin=args.alias_admin or ws.alias_admin,
        certificate=args.certificate or (ws.report if ws.report and ws.report.is_file() else None),
        ledger=args.ledger or (ws.ledger if ws.ledger and ws.ledger.is_file() else _default_ledger()),
        ready_belt=args.ready_belt,
    )
    print(f"belt_gate dashboard on http://{args.host}:{args.port}/ ({len(specs)} belts; Ctrl-C stops it)", flush=True)
    serve(config, host=args.host, port=args.port)
    return 0


def _default_ledger() -> Path | None:
    path = Path("belt-ledger.jsonl")
    return path if path.is_file() else None


def _why_not(belt: BeltStatus | None, within: int) -> str:
    if belt is None:
        return "not read"
    if belt.state != "ok":
        return f"{belt.state}: {belt.message}"
    if not belt.chains:
        return "it lists no chains"
    parts = []
    for c in belt.behind(within):
        if c.remaining is None or c.state in ("unknown", "error"):
            parts.append(f"chain {c.chain_id} {c.state}" + (f" ({c.note})" if c.note else ""))
        else:
            parts.append(f"chain {c.chain_id} at {_num(c.processed)} of {_num(c.target)} ({_num(c.remaining)} behind)")
    return "; ".join(parts[:4]) + (f" (+{len(parts) - 4} more)" if len(parts) > 4 else "")


def wait(args: argparse.Namespace) -> int:
    """`belt-gate wait --synced`: poll one belt until every chain is within the tolerance on two reads in a row (exit
    0), or give up at `--timeout` with one line on stderr (exit 1)."""
    from belt_gate.redact import redact_text

    specs, ws = _specs(args, default=["green"])
    if len(specs) != 1:
        from belt_gate.errors import SettingsError

        raise SettingsError("wait: give one --belt (NAME from the settings, or NAME=URL)")
    within = _within(args, ws)
    watcher = Watcher(specs, ws.rpc, within=within, timeout=min(args.request_timeout, max(args.timeout, 0.5)))
    name = specs[0].name
    deadline = time.monotonic() + args.timeout

    async def run() -> tuple[bool, int, BeltStatus | None]:
        in_a_row = reads = 0
        belt: BeltStatus | None = None
        try:
            while True:
                belt = (await watcher.poll()).belt(name)
                reads += 1
                in_a_row = in_a_row + 1 if belt is not None and belt.ready(within) else 0
                if in_a_row >= 2:
                    return True, reads, belt
                left = deadline - time.monotonic()
                if left <= 0:
                    return False, reads, belt
                await asyncio.sleep(min(args.interval, left))
        finally:
            await watcher.aclose()

    began = time.monotonic()
    ok, reads, belt = asyncio.run(run())
    took = time.monotonic() - began
    if ok:
        chains = len(belt.chains) if belt else 0
        print(f"{name}: synced: every chain ({chains}) within {within} blocks of its head, two reads in a row")
        return 0
    line = f"belt-gate wait: {name} not synced after {took:.0f} s ({reads} reads): {_why_not(belt, within)}"
    print(redact_text(line), file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    """Dispatch one of the three subcommands."""
    handlers = {"status": status, "dashboard": dashboard, "wait": wait}
    return handlers[args.command](args)
