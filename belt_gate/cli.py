"""`belt-gate`: the command line.

    belt-gate sandbox up [--json] [--state-dir D] [--events N] [--chains 1,10,..] [--fault BELT:FAULT ...]
    belt-gate sandbox status [--json] [--state-dir D]
    belt-gate sandbox down [--state-dir D]
    belt-gate demo [--state-dir D] [--events N] [--fault BELT:FAULT ...] [--keep]
    belt-gate rollback --alias-admin=URL [--ledger PATH] [--to URL] [--dry-run]   (belt_gate.rollback_cli)
    belt-gate status [--belt NAME=URL ...] [--json] [--watch]   (belt_gate.watch_cli: also dashboard, wait)
    belt-gate diff-report OLD.json NEW.json [--json]     (exit 1 when a case passed in OLD and not in NEW)
    belt-gate summary CERT.json [--markdown]              (exit 0 only when CERT is certified)

Bad options and expected failures print one line on stderr (never a traceback): exit 2 for bad
usage or settings, 1 for a sandbox that cannot be started, found or stopped, or for a command whose
extra (`dashboard`, `sandbox`) is not installed. Imports stay lazy so the command starts fast.

Secrets: a command that reads settings puts their secret set in use (`redact.use`: the watch commands
`WatchSettings.secrets`, rollback `settings.environment_secrets()`); before that, and for the others,
the environment's own applies (`redact.active`). Every error line is redacted here, where it is printed, and
`main` puts back the set that was in use before it (so a command run in-process leaves none behind).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from belt_gate.sandbox.world import WorldState

PROG = "belt-gate"
EXPANSION_CHAINS = "1,10,8453,42161,80094,7777777"


class UsageFailure(Exception):
    """Bad command-line usage: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageFailure(f"{self.prog}: {message} (see {self.prog} --help)")


def _chain_list(text: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected chain ids like 1,10,8453, not {text!r}") from None
    if not ids or any(i <= 0 for i in ids):
        raise argparse.ArgumentTypeError(f"expected positive chain ids like 1,10,8453, not {text!r}")
    return ids


def _events(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if not 1 <= n <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1000000, not {n}")
    return n


def _world_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".belt-sandbox"),
        help="where the state file and run files live (default .belt-sandbox)",
    )
    p.add_argument("--events", type=_events, default=None, help="events per entity per chain (default 40)")
    p.add_argument(
        "--chains",
        type=_chain_list,
        default=None,
        help="chain ids of the world (default 1,10,8453,42161,80094,7777777)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="BELT:FAULT",
        help="e.g. green:drop:NftTransfer@8453, green:skip:42161, blue:http5xx (repeatable)",
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for the world (default 60; 240 with Envio)"
    )
    p.add_argument(
        "--indexer",
        choices=("reference", "envio"),
        default="reference",
        help="the belts' indexer: the Python reference indexer (SQLite, fast) or real Envio HyperIndex "
        "(Postgres; blue Envio 2, green Envio 3)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The `belt-gate` argument parser: every command and its options (the golden, rollback and watch commands' parsers
    come from their own modules)."""
    parser = _Parser(prog=PROG, description="Certify a green indexer deployment; run the sandbox world.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    sandbox = sub.add_parser("sandbox", help="the embedded world: chains, belts, alias")
    ssub = sandbox.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    ssub.required = True
    up = ssub.add_parser("up", help="start the world and print its URLs")
    _world_options(up)
    up.add_argument("--json", action="store_true", help="print one JSON object")
    status = ssub.add_parser("status", help="print the URLs of the running world")
    status.add_argument("--state-dir", type=Path, default=Path(".belt-sandbox"))
    status.add_argument("--json", action="store_true", help="print one JSON object")
    down = ssub.add_parser("down", help="stop every process of the world (by pid)")
    down.add_argument("--state-dir", type=Path, default=Path(".belt-sandbox"))

    from belt_gate import golden_cli, rollback_cli, watch_cli

    golden_cli.add_parser(sub)
    rollback_cli.add_parser(sub)
    watch_cli.add_parsers(sub)  # status, dashboard, wait
    diff = sub.add_parser("diff-report", help="what changed between two certificates; exit 1 on a regression")
    diff.add_argument("old", type=Path, metavar="OLD.json")
    diff.add_argument("new", type=Path, metavar="NEW.json")
    diff.add_argument("--json", action="store_true", help="print one JSON object (for tools)")
    summary = sub.add_parser("summary", help="what one certificate says; exit 0 only when it is certified")
    summary.add_argument("certificate", type=Path, metavar="CERT.json")
    summary.add_argument("--markdown", action="store_true", help="Markdown (e.g. for $GITHUB_STEP_SUMMARY)")
    demo = sub.add_parser(
        "demo", help="the whole story on the sandbox: refuse a faulty green, promote, roll back, promote again"
    )
    _world_options(demo)
    demo.set_defaults(indexer="envio")  # the demo certifies real Envio belts in Postgres; reference: the quick one
    demo.add_argument("--keep", action="store_true", help="leave the world running afterwards")
    return parser


# ---------------------------------------------------------------------------------------------


def _options(args: argparse.Namespace) -> Any:
    from belt_gate.sandbox.world import DEFAULT_EVENTS, WorldOptions, parse_world_fault

    for f in args.fault:
        parse_world_fault(f)  # a bad fault is a usage error before anything starts
    envio = getattr(args, "indexer", "reference") == "envio"
    timeout = args.timeout if args.timeout is not None else (240.0 if envio else 60.0)
    kw: dict[str, Any] = {"events": args.events or DEFAULT_EVENTS, "faults": tuple(args.fault), "timeout": timeout}
    if envio:
        kw["indexer"] = "envio"
    if args.chains is not None:
        kw["chains"] = args.chains
    return WorldOptions(**kw)


def render(state: WorldState) -> str:
    """The running world as the lines `sandbox up` and `sandbox status` print: each belt with its URL, chains, indexer
    and faults, the alias, the RPCs and the schema files."""
    s = state.summary()
    lines = [f"sandbox world in {state.state_dir} (state file {state.state_file})"]
    if state.ready_seconds is not None:
        lines[0] += f", ready in {state.ready_seconds:.1f} s"
    for name, belt in state.belts.items():
        chains = ",".join(str(c) for c in sorted(belt.chains))
        faults = f"  faults {' '.join(belt.faults)}" if belt.faults else ""
        runs = s.get("indexers", {}).get(name, {})
        indexer = f"  {runs.get('indexer')} {runs.get('version')}" if runs else ""
        lines.append(f"  {name:<8} {belt.url}  chains {chains}{indexer}{faults}")
    if s["alias"]:
        lines.append(f"  {'alias':<8} {s['alias']}  (-> blue)")
        lines.append(f"  {'admin':<8} {s['admin']}")
    for chain, url in s["rpc"].items():
        direct = s["rpc_direct"].get(chain)
        note = f"  (fault proxy; anvil at {direct})" if direct and direct != url else ""
        lines.append(f"  rpc {chain:<8} {url}{note}")
    for name in ("blue", "green"):
        if s.get(f"{name}_schema"):
            lines.append(f"  {name + ' schema':<12} {s[f'{name}_schema']}")
    return "\n".join(lines)


def _print_state(state: WorldState, as_json: bool) -> None:
    if as_json:
        print(json.dumps(state.summary(), sort_keys=True))
    else:
        print(render(state))


def _sandbox_extra() -> None:
    """Import the sandbox extra's servers before any process starts: the world's belts and proxies run them
    in child processes, where a missing library would show only as a belt that never listened."""
    import importlib

    for library in ("starlette", "uvicorn"):
        importlib.import_module(library)


def sandbox_up(args: argparse.Namespace) -> int:
    """`belt-gate sandbox up`: start the world (after checking the sandbox extra is installed) and print it."""
    from belt_gate.sandbox.world import World

    _sandbox_extra()
    opts = _options(args)
    state = World(args.state_dir).up(opts)
    _print_state(state, args.json)
    return 0


def _running_state(state_dir: Path) -> WorldState:
    from belt_gate.errors import SandboxError
    from belt_gate.sandbox.world import load_state, running

    state = load_state(state_dir)
    if state is None:
        raise SandboxError(f"no sandbox world runs in {state_dir} (start one: belt-gate sandbox up)")
    if not running(state):
        raise SandboxError(f"the sandbox world in {state_dir} is not (fully) running: belt-gate sandbox down, then up")
    return state


def sandbox_status(args: argparse.Namespace) -> int:
    """`belt-gate sandbox status`: print the world recorded in the state folder, refusing one whose processes
    are gone."""
    _print_state(_running_state(args.state_dir), args.json)
    return 0


def sandbox_down(args: argparse.Namespace) -> int:
    """`belt-gate sandbox down`: stop every process of the recorded world (nothing recorded is not an error)."""
    from belt_gate.sandbox.world import World, load_state

    if load_state(args.state_dir) is None:
        print(f"no sandbox world recorded in {args.state_dir}: nothing to stop")
        return 0
    stopped = World(args.state_dir).down()
    print(f"sandbox world in {args.state_dir} stopped ({len(stopped)} processes: {' '.join(map(str, stopped))})")
    return 0


def gate_command(state: WorldState, *, schema_of: str = "green", python: str = sys.executable) -> list[str]:
    """A belt_gate run of the world's green against its blue, with both schemas and every chain's RPC;
    `schema_of` names the belt whose schema.graphql is the project's (green's for expansion)."""
    s = state.summary()
    return [
        python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        f"--belt-blue={s['blue']}",
        f"--belt-green={s['green']}",
        f"--belt-blue-schema={s['blue_schema']}",
        f"--belt-green-schema={s['green_schema']}",
        f"--belt-schema={s[f'{schema_of}_schema']}",
        *[f"--belt-rpc={c}={u}" for c, u in s["rpc"].items()],
    ]


def demo_command(state: WorldState, python: str = sys.executable) -> list[str]:
    """The belt_gate certification run the demo makes: green (all six chains) against blue, expansion."""
    argv = gate_command(state, python=python)
    expected = (
        ",".join(str(c) for c in sorted(state.belts["green"].chains)) if "green" in state.belts else EXPANSION_CHAINS
    )
    argv += ["--belt-mode=expansion", f"--belt-expected-chains={expected}"]
    return argv


def demo(args: argparse.Namespace) -> int:
    """The whole story (belt_gate.demo): refuse a faulty green, promote, roll back, promote again."""
    from belt_gate.demo import run_demo
    from belt_gate.sandbox.world import World, load_state, running

    _sandbox_extra()

    world = World(args.state_dir)
    existing = load_state(args.state_dir)
    started = False
    if existing is not None and running(existing):
        if args.fault or args.events or args.chains:
            raise UsageFailure(
                f"{PROG} demo: a world already runs in {args.state_dir}; "
                "--fault/--events/--chains apply to a new one (belt-gate sandbox down first)"
            )
        state = existing
        print(f"using the running sandbox world in {args.state_dir} (the demo brings its own alias)")
    else:
        from belt_gate.demo import prepare

        options = _options(args)
        prepare(options)
        print("starting the sandbox world ...", flush=True)
        state = world.up(options)
        started = True
    try:
        print("\n[1/5] the world: blue indexes 4 chains, green 6, the alias serves blue")
        print(render(state), flush=True)
        rc = run_demo(state, own_alias=not started, command=demo_command)
    finally:
        if started and not args.keep:
            world.down(state)
            print(f"sandbox world stopped (keep it with --keep; state was {state.state_file})")
        elif started:
            print(f"sandbox world left running: belt-gate sandbox down --state-dir {args.state_dir}")
    return rc


def certificates(args: argparse.Namespace) -> int:
    """`diff-report` (exit 1 on a regression) and `summary` (exit 1 unless certified); bad input exit 2."""
    from belt_gate import diff_report as dr

    try:
        if args.command == "summary":
            cert = dr.load_certificate(args.certificate)
            print(dr.render_summary(cert, markdown=args.markdown), end="")
            return 0 if cert.certified else 1
        d = dr.diff(dr.load_certificate(args.old), dr.load_certificate(args.new))
    except dr.CertificateError as exc:
        raise UsageFailure(f"{PROG} {args.command}: {exc}") from None
    if args.json:
        print(json.dumps(d.to_json(), indent=1, sort_keys=True))
    else:
        print(dr.render_diff(d), end="")
    return d.exit_code


#: Libraries that come with an extra (pyproject.toml), not with a plain `pip install belt-gate`.
_EXTRA_LIBRARIES = frozenset({"starlette", "uvicorn", "psycopg"})


def _missing_extra(command: str | None, exc: ModuleNotFoundError) -> str | None:
    """One line naming the extra to install when `command` needs a library of one, else None."""
    library = (exc.name or "").split(".")[0]
    if library not in _EXTRA_LIBRARIES:
        return None
    extra = "dashboard" if command == "dashboard" else "sandbox"
    who = f"{PROG} {command}" if command else PROG
    return f"{who}: needs {library}, from the {extra} extra: pip install 'belt-gate[{extra}]'"


def main(argv: Sequence[str] | None = None) -> int:
    """The `belt-gate` entry point: dispatch to the command and turn its failures into one line on stderr and an exit
    status (2 for usage and settings errors, 1 for other belt_gate errors and a missing extra, 130 on Ctrl-C)."""
    from belt_gate import redact

    previous = redact.use(None)  # not settings.environment_secrets(): settings' imports cost 0.3 s
    try:
        return _main(argv)
    finally:
        redact.use(previous)


def _main(argv: Sequence[str] | None) -> int:
    from belt_gate.redact import redact_text

    command: str | None = None
    try:
        args = build_parser().parse_args(list(argv) if argv is not None else None)
        command = args.command
        handler = {
            ("sandbox", "up"): sandbox_up,
            ("sandbox", "status"): sandbox_status,
            ("sandbox", "down"): sandbox_down,
            ("demo", None): demo,
            ("diff-report", None): certificates,
            ("summary", None): certificates,
        }
        if args.command == "rollback":
            from belt_gate import rollback_cli

            return rollback_cli.run(args)
        if args.command == "golden":
            from belt_gate import golden_cli

            return golden_cli.run(args)
        if args.command in ("status", "dashboard", "wait"):
            from belt_gate import watch_cli

            return watch_cli.run(args)
        return handler[(args.command, getattr(args, "action", None))](args)
    except UsageFailure as exc:
        print(redact_text(str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        line = _missing_extra(command, exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 1
    except Exception as exc:
        from belt_gate.errors import BeltGateError, SettingsError

        if not isinstance(exc, BeltGateError):
            raise
        print(redact_text(f"{PROG}: {exc}"), file=sys.stderr)
        return 2 if isinstance(exc, SettingsError) else 1


if __name__ == "__main__":
    raise SystemExit(main())
