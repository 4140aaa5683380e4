"""`python -m belt_gate.sandbox.hasura (--db PATH | --pg-dsn-env VAR [--pg-schema S]) --schema schema.graphql --port P`.

--db reads a reference belt's SQLite file; --pg-dsn-env names the environment variable holding a
Postgres DSN (never on the command line) and --pg-schema the schema holding the belt's tables;
--envio-views says the tables are a real Envio indexer's (its own `_meta` view is served); --admin-role
serves what Hasura's admin role sees (every table has `_aggregate`) to every request.

Options: --shape admin|public|newer, --aggregate-tables A,B (shape public), --admin-secret-env VAR
(the secret is read from that environment variable, never from the command line; with shape public or
newer a request without it is served as that public role, with it as the admin role), --fault F
(repeatable; schema-remove, schema-nullable, slow, http5xx), --host (default 127.0.0.1).
Bad options give one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from belt_gate.errors import BeltGateError, SettingsError
from belt_gate.sandbox.faults import parse_fault

SERVED_FAULTS = ("schema-remove", "schema-nullable", "slow", "http5xx")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The server's options (a SQLite file or a Postgres DSN variable, the schema, the port, shape and faults)."""
    p = argparse.ArgumentParser(
        prog="python -m belt_gate.sandbox.hasura",
        description="Hasura-dialect GraphQL over a sandbox belt's SQLite file",
    )
    p.add_argument("--db", type=Path, default=None)
    p.add_argument("--pg-dsn-env", default=None)
    p.add_argument("--pg-schema", default="public")
    p.add_argument("--envio-views", action="store_true")
    p.add_argument("--admin-role", action="store_true", help="serve every table's _aggregate to everyone")
    p.add_argument("--schema", required=True, type=Path)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--shape", default="admin", choices=("admin", "public", "newer"))
    p.add_argument("--aggregate-tables", default=None)
    p.add_argument("--admin-secret-env", default=None)
    p.add_argument("--fault", action="append", default=[])
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve a belt as Hasura-dialect GraphQL until stopped; a bad option is one line and a non-zero exit."""
    args = parse_args(argv)
    try:
        from belt_gate.envio import load_schema
        from belt_gate.sandbox.hasura.app import ServerConfig, create_app

        if (args.db is None) == (args.pg_dsn_env is None):
            raise SettingsError("give exactly one of --db (SQLite) and --pg-dsn-env (Postgres)")
        schema = load_schema(args.schema)
        faults = tuple(parse_fault(f) for f in args.fault)
        for f in faults:
            if f.kind not in SERVED_FAULTS:
                raise SettingsError(
                    f"fault {f} does not apply to the GraphQL server (it serves: {', '.join(SERVED_FAULTS)})"
                )
        config = ServerConfig.from_options(
            db=args.db or Path(),
            pg_dsn_env=args.pg_dsn_env,
            pg_schema=args.pg_schema,
            envio_views=args.envio_views,
            schema_path=args.schema,
            schema=schema,
            shape=args.shape,
            aggregate_tables=args.aggregate_tables,
            admin_secret_env=args.admin_secret_env,
            faults=faults,
        )
        if args.admin_role:
            config = replace(config, admin_role=True)
        app = create_app(config)
    except BeltGateError as exc:
        print(f"belt_gate.sandbox.hasura: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
