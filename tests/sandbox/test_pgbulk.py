"""The seed-scale bulk belt in Postgres: the same rows as the SQLite writer, served alike."""

from __future__ import annotations

from pathlib import Path

from belt_gate.sandbox.bulk import build_belt, load_footprint
from belt_gate.sandbox.hasura.app import GraphQLService, ServerConfig
from belt_gate.sandbox.pgbulk import build_pg_belt
from belt_gate.sandbox.postgres import Cluster, create_database


def test_postgres_bulk_belt_equals_the_sqlite_one(pg_cluster: Cluster, tmp_path: Path) -> None:
    dsn = create_database(pg_cluster, "bulk_test")
    pg = build_pg_belt(dsn, "green", rows=6_000, seed=3)
    lite = build_belt(tmp_path, rows=6_000, seed=3)
    assert pg.counts == lite.counts and pg.total == 6_000
    schema = load_footprint()
    services = [
        GraphQLService(ServerConfig(lite.db, schema)),
        GraphQLService(ServerConfig(Path(), schema, pg_dsn=dsn, pg_schema="green")),
    ]
    fields = []
    for e in schema.entities:
        nums = " ".join(c for c in e.numeric_columns if c != "chainId") or "__typename"
        fields.append(
            f"{e.name}: {e.name}_aggregate {{ aggregate {{ count sum {{ {nums} }} min {{ id }} max {{ id }} }} }}"
            if nums != "__typename"
            else f"{e.name}: {e.name}_aggregate {{ aggregate {{ count min {{ id }} max {{ id }} }} }}"
        )
        fields.append(f"{e.name}_rows: {e.name}(order_by: {{id: asc}}, limit: 25, offset: 100) {{ id }}")
    query = "{ " + " ".join(fields) + " chain_metadata(order_by: {chain_id: asc}) { chain_id latest_processed_block } }"
    try:
        answers = [s.execute({"query": query}) for s in services]
    finally:
        services[1].backend.close()
    assert "errors" not in answers[0] and "errors" not in answers[1], answers
    assert answers[0]["data"] == answers[1]["data"]
