"""The gate against endpoints shaped like the three REAL Hasura schemas (tests/data/hasura-envio/), with the
REAL entity schemas of those indexers, not only ours.

Belts are written by a generic writer driven by the parsed Envio schema (every entity, every column, by its
type) and served by the sandbox's Hasura-dialect server in the oracle's shape:
- admin-role input, shape admin: every table has `_aggregate`;
- public-role input, shape public, `_aggregate` exactly on the tables the public-role oracle SDL shows it;
- public-role input, shape newer: progress from `_meta`, no aggregates at all.
The public shapes run behind an admin secret, as Hasura with HASURA_GRAPHQL_UNAUTHORIZED_ROLE: without the
secret a client sees the public role, with it the admin role.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import sqlite3
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema

from belt_gate.envio import Entity, EnvioSchema, Field, load_schema
from belt_gate.sandbox.store import connect, create_schema, quote
from tests.support.builders import ROOT, expand_spreads
from tests.support.launchers import Served, serve_belts
from tests.support.runs import failed, line_with, outcomes
from tests.support.runs import run as run_plugin

pytest_plugins = ["pytester"]
DATA = ROOT / "tests" / "data" / "hasura-envio"
ADMIN_INPUT = DATA / "admin-role.envio-input.graphql"
PUBLIC_INPUT = DATA / "public-role.envio-input.graphql"
CHAINS = (1, 10)
PER_CHAIN = 6  # rows per entity and chain; a slice this small is sampled whole with --belt-sample >= 3
PROCESSED = 40
SECRETS = {"blue": "blue-R3al-schema-s3cret-4e1d", "green": "green-R3al-schema-s3cret-9a7c"}
SECRET_VAR = "BELT_TEST_REAL_SCHEMA_ADMIN_SECRET"  # the servers' own variable (never the plugin's)
CORRUPT_ENTITY, CORRUPT_FIELD, CORRUPT_CHAIN = "Token", "priceUSD", 10
#: exact Decimal arithmetic (Postgres numeric), not the default 28 significant digits
EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


# -- a belt for any Envio schema ----------------------------------------------------------------


def _h(*parts: object) -> int:
    """A stable small hash (Python's hash() is salted per process)."""
    return zlib.crc32(":".join(map(str, parts)).encode())


def _digits(n: int, *parts: object) -> str:
    """n deterministic decimal digits."""
    return f"{int(hashlib.sha256(':'.join(map(str, parts)).encode()).hexdigest(), 16) % 10**n:0{n}d}"


def row_id(entity: Entity, chain: int | None, i: int) -> str:
    return f"{entity.name.lower()}-{i:03d}" if chain is None else f"{chain}-{entity.name.lower()}-{i:03d}"


def entity_chains(entity: Entity, chains: Sequence[int]) -> list[int | None]:
    """Chains an entity has rows on: each chain with a chainId column, else once (no chain)."""
    return list(chains) if entity.chain_column else [None]


def _scalar(
    schema: EnvioSchema, entity: Entity, f: Field, chain: int | None, i: int, n: int, chains: Sequence[int]
) -> Any:
    h = _h(entity.name, f.name, chain, i)
    if f.kind == "relation":
        target = schema.entity(f.type_name)
        assert target is not None
        on = (chain if chain is not None else chains[0]) if target.chain_column else None
        return row_id(target, on, (i + h) % n)
    if f.kind == "enum":
        values = schema.enums[f.type_name]
        return values[(i + h) % len(values)]
    t = f.type_name
    if t in ("Int",):
        if f.column == entity.timestamp_column:
            return 1_700_000_000 + 12 * (i + 1)
        if f.column == entity.block_column:
            return i + 1
        return h % 2001 - 1000
    if t == "BigInt":
        return 10**18 * (i % 7) + h % 10**12  # some sums pass 2**63: the server sums exactly
    if t == "BigDecimal":  # up to 33 significant digits, as bignumber.js results have: past Decimal's default 28
        sign = "-" if h % 5 == 0 else ""
        return f"{sign}{h % 10**9}.{_digits(24, h)}"
    if t == "Float":
        return (h % 10_000) / 4
    if t == "Boolean":
        return h % 2
    if t == "Timestamp":
        return f"2024-{1 + i % 12:02d}-{1 + h % 28:02d}T{h % 24:02d}:00:00+00:00"
    if t == "Json":
        return json.dumps({"i": i, "h": h % 100})
    if t == "Bytes":
        return f"0x{h:08x}{i:04x}"
    return f"{f.name}-{h % 100_000:05d}"  # ID, String


def value(
    schema: EnvioSchema, entity: Entity, f: Field, chain: int | None, i: int, n: int, chains: Sequence[int]
) -> Any:
    """Column `f` of row i of `entity` on `chain`: every column has a value by its type; nullable columns
    are sometimes NULL; relation columns (`x_id`) point at a row that exists."""
    if f.name == "id":
        return row_id(entity, chain, i)
    if f.column == entity.chain_column:
        return chain
    if f.nullable and _h(entity.name, f.name, chain, i, "null") % 3 == 0:
        return None
    if f.is_list:
        return json.dumps([_scalar(schema, entity, f, chain, i + j, n, chains) for j in range(i % 3)])
    return _scalar(schema, entity, f, chain, i, n, chains)


def write_belt(
    schema: EnvioSchema,
    path: Path,
    *,
    chains: Sequence[int] = CHAINS,
    per_chain: int = PER_CHAIN,
    processed: int = PROCESSED,
    change: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> Path:
    """`per_chain` deterministic rows of every entity on every chain (once for entities without a chainId),
    laid out by store.create_schema, plus chain_metadata at block `processed`. `change`: (entity, id) ->
    column overrides (a corruption)."""
    db = connect(path)
    create_schema(db, schema)
    for entity in schema.entities:
        cols = entity.columns
        sql = (
            f"INSERT INTO {quote(entity.name)} ({', '.join(quote(f.column) for f in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})"
        )
        for chain in entity_chains(entity, chains):
            for i in range(per_chain):
                row = {f.column: value(schema, entity, f, chain, i, per_chain, chains) for f in cols}
                row.update((change or {}).get((entity.name, row["id"]), {}))
                db.execute(sql, [row[f.column] for f in cols])
    for chain in chains:
        meta = {
            "chain_id": chain,
            "start_block": 0,
            "end_block": None,
            "block_height": processed + 5,
            "first_event_block_number": 1,
            "latest_fetched_block_number": processed,
            "latest_processed_block": processed,
            "num_batches_fetched": 3,
            "num_events_processed": per_chain * len(schema.entities),
            "is_hyper_sync": 0,
            "timestamp_caught_up_to_head_or_endblock": None,
        }
        db.execute(
            f"INSERT INTO chain_metadata ({', '.join(meta)}) VALUES ({', '.join('?' for _ in meta)})",
            list(meta.values()),
        )
    db.commit()
    db.close()
    return path


# -- what the plan must hold ----------------------------------------------------------------------


def data_tests(
    schema: EnvioSchema, names: Sequence[str] | None = None, rules: Sequence[str] = ("counts", "content")
) -> set[str]:
    out = set()
    for e in schema.entities:
        if names is None or e.name in names:
            for chain in entity_chains(e, CHAINS):
                out |= {f"{rule}[{e.name}]" if chain is None else f"{rule}[{e.name}@{chain}]" for rule in rules}
    return out


def all_ids(schema: EnvioSchema) -> set[str]:
    return {
        "chain_set",
        "enums",
        "schema[_root]",
        *(f"progress[{c}]" for c in CHAINS),
        *(f"schema[{e.name}]" for e in schema.entities),
        *data_tests(schema),
    }


def oracle_aggregate_tables(schema: EnvioSchema) -> list[str]:
    """The tables public-role.hasura.graphql shows `X_aggregate` for, among the input schema's entities."""
    oracle = build_schema((DATA / "public-role.hasura.graphql").read_text())
    assert oracle.query_type is not None
    granted = {name.removesuffix("_aggregate") for name in oracle.query_type.fields if name.endswith("_aggregate")}
    return sorted(granted & set(schema.entity_names))


# -- the servers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corruption:
    """One BigDecimal of one row on chain 10, moved by 1e-24 in green: neither its slice's min nor max, so
    only the exact sum of the column (and the row itself) can tell."""

    id: str
    blue: str
    green: str
    blue_sum: str
    green_sum: str

    @classmethod
    def of(cls, blue_db: Path) -> Corruption:
        db = sqlite3.connect(blue_db)
        try:
            rows = db.execute(
                f"SELECT id, {quote(CORRUPT_FIELD)} FROM {quote(CORRUPT_ENTITY)} WHERE chainId = ? ORDER BY id",
                (CORRUPT_CHAIN,),
            ).fetchall()
        finally:
            db.close()
        values = [Decimal(v) for _, v in rows]
        rid, blue = next((r, v) for r, v in rows if min(values) < Decimal(v) < max(values) and len(v) > 30)
        with decimal.localcontext(EXACT):
            green = Decimal(blue) + Decimal("1e-24")
            total = sum(values, Decimal(0))
            return cls(rid, blue, format(green, "f"), format(total, "f"), format(total + Decimal("1e-24"), "f"))


@dataclass
class World:
    admin: EnvioSchema
    public: EnvioSchema
    public_path: Path
    granted: list[str]
    served: dict[str, Served]
    dbs: dict[str, Path]
    corruption: Corruption

    def pair(self, blue: str, green: str, schema: Path) -> list[str]:
        return [
            f"--belt-blue={self.served[blue].url}",
            f"--belt-green={self.served[green].url}",
            f"--belt-schema={schema}",
            f"--belt-blue-schema={schema}",
            f"--belt-green-schema={schema}",
        ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    d = tmp_path_factory.mktemp("real-schemas")
    admin = load_schema(ADMIN_INPUT)
    public_path = d / "public-role.schema.graphql"  # that repository's `...Interface` spreads expanded
    public_path.write_text(expand_spreads(PUBLIC_INPUT.read_text()))
    public = load_schema(public_path)
    granted = oracle_aggregate_tables(public)
    dbs = {"admin-blue": write_belt(admin, d / "admin-blue.db"), "admin-green": write_belt(admin, d / "admin-green.db")}
    corruption = Corruption.of(dbs["admin-blue"])
    dbs |= {
        "admin-corrupt": write_belt(
            admin, d / "admin-corrupt.db", change={(CORRUPT_ENTITY, corruption.id): {CORRUPT_FIELD: corruption.green}}
        ),
        **{
            f"{shape}-{belt}": write_belt(public, d / f"{shape}-{belt}.db")
            for shape in ("public", "newer")
            for belt in SECRETS
        },
    }
    specs: dict[str, tuple[Path, dict[str, Any]]] = {}
    for name, db in dbs.items():
        shape, belt = name.split("-")
        if shape == "admin":
            specs[name] = (db, {"schema": ADMIN_INPUT, "shape": "admin"})
        else:
            specs[name] = (
                db,
                {
                    "schema": public_path,
                    "shape": shape,
                    "secret_env": SECRET_VAR,
                    "env": {SECRET_VAR: SECRETS[belt]},
                    "aggregate_tables": ",".join(granted) if shape == "public" else None,
                },
            )
    with serve_belts(specs) as served:
        yield World(admin, public, public_path, granted, served, dbs, corruption)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return run_plugin(pytester, *args, "--belt-report=cert.json", "--junitxml=junit.xml", lean=True)


def verdicts(pytester: pytest.Pytester) -> dict[str, str]:
    cert = json.loads((pytester.path / "cert.json").read_text())
    return {v["id"]: v["verdict"] for v in cert["verdicts"]}


def assert_all_pass(result: pytest.RunResult, schema: EnvioSchema) -> None:
    got = outcomes(result)
    assert set(got) == all_ids(schema), result.stdout.str()
    assert set(got.values()) == {"PASSED"}, sorted(failed(result))
    assert result.ret == 0


def assert_names_the_permission(result: pytest.RunResult, test_ids: set[str]) -> None:
    """Each test's failure line names the missing permission on its entity and both belts' variables."""
    for test_id in sorted(test_ids):
        entity = test_id.split("[")[1].split("@")[0].rstrip("]")
        line = next(x for x in result.outlines if x.startswith(f"{test_id}: "))
        for part in (
            f"no aggregate permission on {entity} for this role",
            "allow_aggregations",
            "BELT_GREEN_ADMIN_SECRET",
            "BELT_BLUE_ADMIN_SECRET",
        ):
            assert part in line, (part, line)


def assert_secrets_hidden(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    text = (
        result.stdout.str()
        + result.stderr.str()
        + (pytester.path / "cert.json").read_text()
        + (pytester.path / "junit.xml").read_text()
    )
    for secret in SECRETS.values():
        assert secret not in text
    assert "R3al-schema" not in text


# -- the tests --------------------------------------------------------------------------------------


def test_generic_belt_fills_every_column_of_the_real_schemas(world: World) -> None:
    """The writer covers the schemas: every entity has rows, every column a non-NULL value somewhere, every
    relation column an existing id, every enum column a value of its enum."""
    for schema, db_name in ((world.admin, "admin-blue"), (world.public, "public-blue")):
        db = sqlite3.connect(world.dbs[db_name])
        try:
            for e in schema.entities:
                n = len(entity_chains(e, CHAINS)) * PER_CHAIN
                assert db.execute(f"SELECT count(*) FROM {quote(e.name)}").fetchone()[0] == n, e.name
                for f in e.columns:
                    filled = db.execute(f"SELECT count({quote(f.column)}) FROM {quote(e.name)}").fetchone()[0]
                    assert filled > 0, f"{e.name}.{f.column}"
                    if f.kind == "relation" and not f.is_list:
                        dangling = db.execute(
                            f"SELECT count(*) FROM {quote(e.name)} WHERE {quote(f.column)} IS NOT NULL AND "
                            f"{quote(f.column)} NOT IN (SELECT id FROM {quote(f.type_name)})"
                        ).fetchone()[0]
                        assert dangling == 0, f"{e.name}.{f.column}"
                    if f.kind == "enum" and not f.is_list:
                        got = {r[0] for r in db.execute(f"SELECT DISTINCT {quote(f.column)} FROM {quote(e.name)}")}
                        assert got - {None} <= set(schema.enums[f.type_name]), f"{e.name}.{f.column}"
            assert db.execute("SELECT count(*) FROM chain_metadata").fetchone()[0] == len(CHAINS)
        finally:
            db.close()
    assert len(world.granted) == 14  # the oracle's allow_aggregations tables, all entities of the input


def test_admin_role_schema_certifies(pytester: pytest.Pytester, world: World) -> None:
    result = run(pytester, *world.pair("admin-blue", "admin-green", ADMIN_INPUT))
    assert_all_pass(result, world.admin)
    ids = set(outcomes(result))
    for e in world.admin.entities:  # counts and content per entity × chain, schema per entity
        assert f"schema[{e.name}]" in ids
        for rule in ("counts", "content"):
            wanted = {f"{rule}[{e.name}@{c}]" for c in CHAINS} if e.chain_column else {f"{rule}[{e.name}]"}
            assert wanted <= ids, (e.name, rule)
    assert "counts[Deposit]" in ids and "counts[Token@10]" in ids  # both kinds are in the real schema
    result.stdout.fnmatch_lines(
        line_with(f"belt_gate: CERTIFIED (passed {len(all_ids(world.admin))} of {len(all_ids(world.admin))} planned)")
    )
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert cert["certified"] is True and cert["complete"] is True and cert["reasons"] == []
    assert cert["planned"] == cert["ran"] == cert["totals"]["passed"] == len(all_ids(world.admin))
    got = verdicts(pytester)
    # Token has no block field: compared at the current state, both belts at one height (no heights note)
    assert got["counts[Token@10]"] == f"Token@10 at the current state: {PER_CHAIN} rows, fingerprints equal"
    # Swap has only a timestamp: without an RPC for the cutoff block's time, the current state too
    assert got["counts[Swap@1]"] == (
        f"Swap@1 at the current state (no timestamp for cutoff block {PROCESSED}: no --belt-rpc 1=URL): "
        f"{PER_CHAIN} rows, fingerprints equal"
    )
    assert got["content[Swap@1]"].startswith(f"Swap@1: {PER_CHAIN} sampled rows equal")
    assert got["counts[BountyContributor]"].endswith(f"{PER_CHAIN} rows, fingerprints equal")


def test_public_role_fails_exactly_the_entities_without_aggregate_permission(
    pytester: pytest.Pytester, world: World
) -> None:
    result = run(pytester, *world.pair("public-blue", "public-green", world.public_path))
    schema = world.public
    assert set(outcomes(result)) == all_ids(schema), result.stdout.str()
    ungranted = [e.name for e in schema.entities if e.name not in world.granted]
    assert failed(result) == data_tests(schema, ungranted), result.stdout.str()
    assert_names_the_permission(result, data_tests(schema, ungranted))
    result.stdout.fnmatch_lines(
        line_with(
            "counts[Role@10]: *green unreadable: *no aggregate permission on Role for this role"
            "*allow_aggregations*BELT_GREEN_ADMIN_SECRET*blue unreadable: *BELT_BLUE_ADMIN_SECRET"
        )
    )
    got = verdicts(pytester)
    assert got["counts[Token@10]"].endswith(f"{PER_CHAIN} rows, fingerprints equal")  # granted: full comparison
    assert got["content[Deposit]"].startswith(f"Deposit: {PER_CHAIN} sampled rows equal")


def test_public_role_with_admin_secrets_certifies_and_never_shows_them(
    pytester: pytest.Pytester, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BELT_BLUE_ADMIN_SECRET", SECRETS["blue"])
    monkeypatch.setenv("BELT_GREEN_ADMIN_SECRET", SECRETS["green"])
    result = run(pytester, *world.pair("public-blue", "public-green", world.public_path))
    assert_all_pass(result, world.public)
    assert_secrets_hidden(pytester, result)


def test_newer_envio_reads_progress_from_meta_and_fails_every_count(pytester: pytest.Pytester, world: World) -> None:
    result = run(pytester, *world.pair("newer-blue", "newer-green", world.public_path))
    schema = world.public
    assert set(outcomes(result)) == all_ids(schema), result.stdout.str()
    assert failed(result) == data_tests(schema), result.stdout.str()
    assert_names_the_permission(result, data_tests(schema))
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert cert["progress_sources"] == {"blue": "_meta", "green": "_meta"}
    got = verdicts(pytester)
    assert got["progress[10]"] == f"chain 10: green processed {PROCESSED} >= blue {PROCESSED}"
    assert got["chain_set"] == "chain set (parity): blue [1, 10], green [1, 10]"


def test_newer_envio_with_admin_secrets_certifies(
    pytester: pytest.Pytester, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BELT_BLUE_ADMIN_SECRET", SECRETS["blue"])
    monkeypatch.setenv("BELT_GREEN_ADMIN_SECRET", SECRETS["green"])
    result = run(pytester, *world.pair("newer-blue", "newer-green", world.public_path))
    assert_all_pass(result, world.public)
    assert_secrets_hidden(pytester, result)
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert cert["progress_sources"] == {"blue": "_meta", "green": "_meta"}


def test_one_corrupt_big_decimal_fails_exactly_its_slice(pytester: pytest.Pytester, world: World) -> None:
    result = run(pytester, *world.pair("admin-blue", "admin-corrupt", ADMIN_INPUT), f"--belt-sample={PER_CHAIN}")
    assert set(outcomes(result)) == all_ids(world.admin), result.stdout.str()
    label = f"{CORRUPT_ENTITY}@{CORRUPT_CHAIN}"
    assert failed(result) == {f"counts[{label}]", f"content[{label}]"}, result.stdout.str()
    c = world.corruption
    assert len(c.blue.lstrip("-").replace(".", "").lstrip("0")) > 28  # past Decimal's default precision
    result.stdout.fnmatch_lines(
        line_with(
            f"counts[{label}]: {label} at the current state: fingerprint sum.{CORRUPT_FIELD} "
            f"differs: blue '{c.blue_sum}' != green '{c.green_sum}' (count {PER_CHAIN} on both); "
            f"both belts at the same height (blue at block {PROCESSED}, green at block {PROCESSED})"
        )
    )
    result.stdout.fnmatch_lines(
        line_with(
            f"content[{label}]: {label}: row {c.id} field {CORRUPT_FIELD}: blue '{c.blue}' != green '{c.green}' "
            f"(seed 0); both belts at the same height (blue at block {PROCESSED}, green at block {PROCESSED})"
        )
    )
    cert = json.loads((pytester.path / "cert.json").read_text())
    outcome = {v["id"]: v["outcome"] for v in cert["verdicts"]}
    assert outcome[f"counts[{label}]"] == outcome[f"content[{label}]"] == "failed"  # a failure, not could-not-check
    assert cert["certified"] is False
