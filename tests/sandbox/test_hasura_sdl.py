"""Fidelity oracle: the generated Hasura-dialect SDL against real Hasura schemas of Envio indexers.

What the comparison leaves out, and why:
- Envio's internal tables (raw_events, dynamic_contract_registry, event_sync_state, persisted_state,
  end_of_block_range_scanned_data, entity_history*, ...): they are not in the Envio input schema, and
  belt_gate never reads them; the sandbox does not serve them. Concretely: every oracle root field whose
  table is neither an input entity nor chain_metadata (`INTERNAL_ROOTS` below is computed, then checked
  against the expected names so a new kind of root field cannot slip through unnoticed).
- Mutations and subscriptions (`mutation_root`, `subscription_root`, `X_stream`, `insert_X`, ...): the
  sandbox is read-only and belt_gate only queries.
- The scalars `contract_type` and `jsonb` and their comparison types: only the internal tables use them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    build_client_schema,
    build_schema,
    get_introspection_query,
)

from belt_gate.envio import parse_schema
from belt_gate.errors import SettingsError
from belt_gate.sandbox import pgstore
from belt_gate.sandbox.hasura.app import GraphQLService, ServerConfig
from belt_gate.sandbox.hasura.sdl import SdlOptions, derived_from_map, hasura_sdl
from belt_gate.sandbox.postgres import Cluster, create_database
from belt_gate.sandbox.postgres import connect as pg_connect
from tests.support.builders import expand_spreads

DATA = Path(__file__).resolve().parents[1] / "data" / "hasura-envio"
INTERNAL_TABLES = {
    "raw_events",
    "dynamic_contract_registry",
    "event_sync_state",
    "persisted_state",
    "end_of_block_range_scanned_data",
}
PUBLIC_AGGREGATES = frozenset(
    {
        "BondingCurve",
        "Bounty",
        "BountyClaim",
        "CurveDayData",
        "CurveHourData",
        "Deposit",
        "DepositVault",
        "IssuanceTokenDayData",
        "IssuanceTokenHourData",
        "OraclePriceFM",
        "ProjectFee",
        "ProtocolFee",
        "Token",
        "Transfer",
    }
)


def generated(input_name: str, **options: object) -> tuple[GraphQLSchema, set[str]]:
    src = expand_spreads((DATA / input_name).read_text())
    envio = parse_schema(src)
    sdl = hasura_sdl(envio, SdlOptions(derived_from=derived_from_map(src), **options))  # type: ignore[arg-type]
    return build_schema(sdl), set(envio.entity_names) | {"chain_metadata"}


def oracle(name: str) -> GraphQLSchema:
    return build_schema((DATA / name).read_text())


def base_table(root_field: str) -> str:
    return root_field.removesuffix("_aggregate").removesuffix("_by_pk")


def fields_of(t: object) -> dict[str, str]:
    assert isinstance(t, GraphQLObjectType | GraphQLInputObjectType)
    return {name: str(f.type) for name, f in t.fields.items()}


def compare(ours: GraphQLSchema, theirs: GraphQLSchema, tables: set[str]) -> list[str]:
    problems: list[str] = []
    assert theirs.query_type is not None and ours.query_type is not None
    for name, field in theirs.query_type.fields.items():
        if base_table(name) not in tables:
            continue
        mine = ours.query_type.fields.get(name)
        if mine is None:
            problems.append(f"missing root field {name}")
            continue
        if str(mine.type) != str(field.type):
            problems.append(f"{name}: returns {mine.type}, oracle {field.type}")
        if {a: str(v.type) for a, v in mine.args.items()} != {a: str(v.type) for a, v in field.args.items()}:
            problems.append(f"{name}: arguments differ")
    for name in ours.query_type.fields:
        if name not in theirs.query_type.fields:
            problems.append(f"extra root field {name}")
    for table in tables:
        for suffix in (
            "",
            "_aggregate_fields",
            "_sum_fields",
            "_min_fields",
            "_max_fields",
            "_bool_exp",
            "_order_by",
            "_avg_fields",
        ):
            t = theirs.type_map.get(table + suffix)
            if t is None:
                if table + suffix in ours.type_map and suffix != "_bool_exp":
                    problems.append(f"extra type {table + suffix}")
                continue
            mine_t = ours.type_map.get(table + suffix)
            if mine_t is None:
                problems.append(f"missing type {table + suffix}")
            elif fields_of(mine_t) != fields_of(t):
                problems.append(f"{table + suffix}: fields differ")
    return problems


def test_admin_role_oracle_is_reproduced() -> None:
    ours, tables = generated("admin-role.envio-input.graphql", shape="admin")
    theirs = oracle("admin-role.hasura.graphql")
    assert theirs.query_type is not None
    internal = {base_table(f) for f in theirs.query_type.fields if base_table(f) not in tables}
    assert internal == INTERNAL_TABLES  # exactly what is excluded, and nothing else
    assert compare(ours, theirs, tables) == []
    # the oracle's types for the served tables are all there (mutation/stream inputs aside)
    skip = re.compile(
        r"_(insert_input|on_conflict|constraint|set_input|inc_input|updates|mutation_response|"
        r"stream_cursor\w*|pk_columns_input|update_column|obj_rel_insert_input|"
        r"arr_rel_insert_input)$"
    )
    missing = sorted(
        n
        for n in theirs.type_map
        if not n.startswith("__")
        and not skip.search(n)
        and n not in ours.type_map
        and not any(n.startswith(t) for t in INTERNAL_TABLES)
        and n
        not in (
            "mutation_root",
            "subscription_root",
            "cursor_ordering",
            "contract_type",
            "jsonb",
            "contract_type_comparison_exp",
            "jsonb_comparison_exp",
            "jsonb_cast_exp",
        )
    )
    assert missing == []


def test_public_role_oracle_aggregates_only_where_granted() -> None:
    ours, tables = generated("public-role.envio-input.graphql", shape="public", aggregate_tables=PUBLIC_AGGREGATES)
    theirs = oracle("public-role.hasura.graphql")
    assert compare(ours, theirs, tables) == []
    assert ours.query_type is not None
    aggregates = {base_table(f) for f in ours.query_type.fields if f.endswith("_aggregate")}
    assert aggregates == PUBLIC_AGGREGATES  # none on chain_metadata, none on ungranted tables
    assert "chain_metadata_by_pk" in ours.query_type.fields


def test_newer_envio_shape_has_meta_and_no_aggregates() -> None:
    envio = parse_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
    ours = build_schema(hasura_sdl(envio, SdlOptions(shape="newer")))
    theirs = oracle("newer-envio-public.hasura.graphql")
    assert ours.query_type is not None and theirs.query_type is not None
    for name in ("_meta", "chain_metadata"):
        mine, real = ours.query_type.fields[name], theirs.query_type.fields[name]
        assert str(mine.type) == str(real.type)
        assert set(mine.args) == set(real.args)
    for t in ("_meta", "chain_metadata", "_meta_bool_exp", "chain_metadata_bool_exp", "_meta_order_by"):
        assert fields_of(ours.type_map[t]) == fields_of(theirs.type_map[t]), t
    assert not [f for f in ours.query_type.fields if f.endswith("_aggregate")]
    assert "chain_metadata_by_pk" not in ours.query_type.fields
    assert "db_write_timestamp" not in fields_of(ours.type_map["NftTransfer"])


def test_schema_faults_remove_and_relax_a_field_everywhere() -> None:
    envio = parse_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
    sdl = hasura_sdl(
        envio,
        SdlOptions(removed=frozenset({("NftTransfer", "tokenId")}), nullable=frozenset({("NftTransfer", "logIndex")})),
    )
    s = build_schema(sdl)
    for t in (
        "NftTransfer",
        "NftTransfer_bool_exp",
        "NftTransfer_order_by",
        "NftTransfer_sum_fields",
        "NftTransfer_min_fields",
        "NftTransfer_max_fields",
        "NftTransfer_avg_fields",
    ):
        assert "tokenId" not in fields_of(s.type_map[t]), t
    assert "tokenId" not in s.type_map["NftTransfer_select_column"].values  # type: ignore[attr-defined]
    assert fields_of(s.type_map["NftTransfer"])["logIndex"] == "Int"
    with pytest.raises(SettingsError, match=r"NftTransfer\.nope"):
        hasura_sdl(envio, SdlOptions(removed=frozenset({("NftTransfer", "nope")})))


@pytest.mark.parametrize(
    ("input_name", "oracle_name", "options"),
    [
        ("admin-role.envio-input.graphql", "admin-role.hasura.graphql", {"shape": "admin"}),
        (
            "public-role.envio-input.graphql",
            "public-role.hasura.graphql",
            {"shape": "public", "aggregate_tables": PUBLIC_AGGREGATES},
        ),
    ],
)
def test_served_over_postgres_the_oracle_is_reproduced(
    pg_cluster: Cluster, input_name: str, oracle_name: str, options: dict[str, object]
) -> None:
    """The same oracle, but through the live server over real Postgres tables laid out as Envio makes them
    (enum types, numeric, arrays, relations): its introspection, not just the SDL text, is the oracle's."""
    src = expand_spreads((DATA / input_name).read_text())
    envio = parse_schema(src)
    dsn = create_database(pg_cluster, "sdl_oracle")
    pg_schema = input_name.split(".")[0].replace("-", "_")
    with pg_connect(dsn) as db:
        pgstore.drop_schema(db, pg_schema)
        pgstore.create_schema(db, envio, pg_schema)
    config = ServerConfig(
        Path(),
        envio,
        derived_from=derived_from_map(src),
        pg_dsn=dsn,
        pg_schema=pg_schema,
        **options,  # type: ignore[arg-type]
    )
    service = GraphQLService(config)
    try:
        body = service.execute({"query": get_introspection_query()})
        assert "errors" not in body, body
        served = build_client_schema(body["data"])
        tables = set(envio.entity_names) | {"chain_metadata"}
        assert compare(served, oracle(oracle_name), tables) == []
        # and every served table answers a list and (where granted) an aggregate query from Postgres
        for t in sorted(tables):
            q = f"{{ {t}(limit: 1) {{ __typename }} }}"
            if f"{t}_aggregate" in served.query_type.fields:  # type: ignore[union-attr]
                q = f"{{ {t}(limit: 1) {{ __typename }} {t}_aggregate {{ aggregate {{ count }} }} }}"
            answer = service.execute({"query": q})
            assert "errors" not in answer, (t, answer)
            assert answer["data"][t] == []
    finally:
        service.backend.close()
