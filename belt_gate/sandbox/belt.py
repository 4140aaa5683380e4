"""One reference belt = one process: index its chains into SQLite, then serve them as Hasura GraphQL.

    python -m belt_gate.sandbox.belt --db PATH --chains 1=RPCURL,10=RPCURL --port P
        [--schema schema.graphql] [--fault F]... [--shape admin|public|newer]
        [--aggregate-tables A,B] [--admin-secret-env VAR] [--follow-interval SECONDS]

Why one process and not two (indexer + server): a belt is then one pid to stop, one log, one port, and
"the port is open" already means "the first indexing pass is done" (the server starts only after it).
The GraphQL server reads the SQLite file through read-only connections, one snapshot per request, so
the follow thread writing into the same file never shows a half-written block range.

Order of work:
1. create the tables (so the server always finds them, even for a belt with no chains);
2. index every chain once up to its head (`index_chain`); an RPC failure is logged and left to the
   follow thread (a belt behind a broken RPC still serves, its chain simply does not advance);
3. start `follow` in a thread (new blocks keep being indexed every --follow-interval seconds);
4. serve /v1/graphql with uvicorn until SIGTERM/SIGINT; then stop the follow thread and exit 0.

Faults: drop/dup/corrupt/rechain/lag go to the indexer, schema-remove/schema-nullable/slow/http5xx to the
server. skip/extra/rpc-empty/rpc-5xx/enum-remove/table-remove are about the belt's surroundings (which chains, which
RPC URL, which schema file): the world (`belt_gate.sandbox.world`) applies them before starting the
belt, so they are accepted here and have no further effect.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from belt_gate.errors import BeltGateError, SettingsError
from belt_gate.sandbox.faults import Fault, parse_fault

INDEXER_FAULTS = ("drop", "dup", "corrupt", "rechain", "lag")
SERVER_FAULTS = ("schema-remove", "schema-nullable", "slow", "http5xx")
WORLD_FAULTS = ("skip", "extra", "rpc-empty", "rpc-5xx", "enum-remove", "table-remove")

log = logging.getLogger("belt_gate.sandbox.belt")


def parse_chains(text: str) -> dict[int, str]:
    """`1=http://127.0.0.1:8545,10=http://...` -> {1: url, 10: url}; empty text -> {}."""
    out: dict[int, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        chain, sep, url = part.partition("=")
        if not sep or not chain.strip().isdigit() or not url.strip().startswith(("http://", "https://")):
            raise SettingsError(f"bad --chains entry {part!r}: expected CHAIN=http://HOST:PORT")
        cid = int(chain)
        if cid in out:
            raise SettingsError(f"chain {cid} given twice in --chains")
        out[cid] = url.strip()
    return out


def belt_argv(
    *,
    db: Path,
    schema: Path,
    chains: dict[int, str],
    port: int,
    faults: Sequence[Fault | str] = (),
    shape: str = "admin",
    aggregate_tables: str | None = None,
    admin_secret_env: str | None = None,
    follow_interval: float | None = None,
) -> list[str]:
    """The command line that starts a belt process (for `procs.spawn`)."""
    argv = [
        sys.executable,
        "-m",
        "belt_gate.sandbox.belt",
        "--db",
        str(db),
        "--schema",
        str(schema),
        "--chains",
        ",".join(f"{c}={u}" for c, u in chains.items()),
        "--port",
        str(port),
        "--shape",
        shape,
    ]
    for f in faults:
        argv += ["--fault", str(f)]
    if aggregate_tables is not None:
        argv += ["--aggregate-tables", aggregate_tables]
    if admin_secret_env:
        argv += ["--admin-secret-env", admin_secret_env]
    if follow_interval is not None:
        argv += ["--follow-interval", f"{follow_interval:g}"]
    return argv


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from belt_gate.sandbox.tools import project_root

    p = _Parser(
        prog="python -m belt_gate.sandbox.belt",
        description="one sandbox belt: index chains into SQLite, serve Hasura-dialect GraphQL",
    )
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--schema", type=Path, default=project_root() / "schema.graphql")
    p.add_argument("--chains", required=True, help="CHAIN=RPCURL,... (may be empty)")
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--shape", default="admin", choices=("admin", "public", "newer"))
    p.add_argument("--aggregate-tables", default=None)
    p.add_argument("--admin-secret-env", default=None)
    p.add_argument("--fault", action="append", default=[])
    p.add_argument("--follow-interval", type=float, default=0.5)
    return p.parse_args(list(argv) if argv is not None else None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one reference belt: index its chains into SQLite, then serve them as Hasura GraphQL (with the faults asked
    for); a bad option is one line and a non-zero exit."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from belt_gate.envio import load_schema
        from belt_gate.sandbox.hasura.app import ServerConfig, create_app
        from belt_gate.sandbox.indexer import index_chain
        from belt_gate.sandbox.store import connect, create_schema

        chains = parse_chains(args.chains)
        faults = tuple(parse_fault(f) for f in args.fault)
        if not 0 < args.follow_interval <= 60:
            raise SettingsError("--follow-interval must be in (0, 60] seconds")
        if not args.schema.is_file():
            raise SettingsError(f"schema file {args.schema} not found")
        schema = load_schema(args.schema)
        config = ServerConfig.from_options(
            db=args.db,
            schema_path=args.schema,
            schema=schema,
            shape=args.shape,
            aggregate_tables=args.aggregate_tables,
            admin_secret_env=args.admin_secret_env,
            faults=tuple(f for f in faults if f.kind in SERVER_FAULTS),
        )
        indexer_faults = [f for f in faults if f.kind in INDEXER_FAULTS]

        args.db.parent.mkdir(parents=True, exist_ok=True)
        db = connect(args.db)
        create_schema(db, schema)
        for chain_id, url in chains.items():
            try:
                r = index_chain(db, schema, chain_id=chain_id, rpc_url=url, faults=indexer_faults)
                log.info(
                    "chain %s: indexed blocks %s..%s (head %s), %s events",
                    chain_id,
                    r.from_block,
                    r.to_block,
                    r.head,
                    r.events,
                )
            except BeltGateError as exc:
                log.warning("chain %s: first indexing pass failed, following will retry: %s", chain_id, exc)
        db.close()
        app = create_app(config)
    except BeltGateError as exc:
        print(f"belt_gate.sandbox.belt: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from belt_gate.sandbox.indexer import follow

    stop = threading.Event()
    follower = threading.Thread(
        target=follow,
        name="belt-follow",
        daemon=True,
        args=(args.db, schema, chains, indexer_faults, stop, args.follow_interval),
    )
    follower.start()
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")
    )
    try:
        server.run()  # returns on SIGTERM / SIGINT (uvicorn's own handlers)
    finally:
        stop.set()
        follower.join(timeout=10)
    return 0


__all__ = ["INDEXER_FAULTS", "SERVER_FAULTS", "WORLD_FAULTS", "belt_argv", "main", "parse_chains"]


if __name__ == "__main__":
    raise SystemExit(main())
