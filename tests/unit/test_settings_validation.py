"""settings.py refuses every bad input with one readable line that shows no secret, and hides secrets in
its reprs; belt.toml's [entities.X] block_field / time_field pin an entity's block or time column."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from belt_gate import redact
from belt_gate.envio import Reconciliation
from belt_gate.errors import SettingsError
from belt_gate.settings import Settings, build_settings, environment_secrets

BLUE = "http://127.0.0.1:8/v1/graphql"
GREEN = "http://127.0.0.1:9/v1/graphql"
URLS = {"blue": BLUE, "green": GREEN}
KEY = "k3yInPath"  # a short RPC path key: not key-like by its looks, secret only because of where it came from
SCHEMA = """
type Deposit @entity {
  id: ID!
  chainId: Int!
  depositBlockNumber: BigInt!
  createdAt: BigInt!
  maybeBlock: BigInt
  blocks: [BigInt!]!
  label: String!
  at: Timestamp!
}
type Plain @entity {
  id: ID!
  amount: Int!
}
"""


@pytest.fixture(autouse=True)
def _clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(redact, "_used", None)
    for name in [k for k in __import__("os").environ if k.startswith(("BELT_RPC_", "BELT_")) and "SECRET" in k]:
        monkeypatch.delenv(name)
    yield


def build(tmp_path: Path, cli: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    config = tmp_path / "belt.toml"
    return build_settings(
        {**URLS, **(cli or {})},
        {},
        config_path=config if config.exists() else None,
        cwd=tmp_path,
        env=env or {},
    )


def refused(tmp_path: Path, cli: Mapping[str, Any] | None = None, **kw: Any) -> str:
    with pytest.raises(SettingsError) as info:
        build(tmp_path, cli, **kw)
    text = str(info.value)
    assert "\n" not in text
    return text


# -- belt.toml types and unreadable files ----------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("golden = 5", "[belt] golden must be a string, not an integer"),
        ("report = 5", "[belt] report must be a string, not an integer"),
        ("rpc = 5", '[belt] rpc must be an array of "CHAIN=URL" strings or a table of chain = URL, not an integer'),
        ("rpc = [5]", "expected CHAIN=URL strings, got an integer"),
        ("rpc = { 8453 = 5 }", "RPC for chain 8453 is not an http(s) URL"),
        ("blue = true", "--belt-blue must be a URL or a recorded snapshot file ([belt] blue is a boolean)"),
        ("mode = 1", "[belt] mode must be a string, not an integer"),
        ("sample = 1.5", "[belt] sample must be an integer, not a float"),
        ("timeout = true", "[belt] timeout must be a number of seconds, not a boolean"),
        ("seed = [1]", "[belt] seed must be an integer, not an array"),
        ("expected_chains = 5", "expected chains: not a list of chain ids: 5"),
        ("expected_chains = [1.5]", "expected chains: 1.5 is not a chain id"),
        ("schema = { a = 1 }", "[belt] schema must be a string, not a table"),
    ],
)
def test_belt_toml_values_of_the_wrong_type_are_refused(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "belt.toml").write_text(f"[belt]\n{line}\n")
    assert message in refused(tmp_path)


@pytest.mark.parametrize("name", ["belt.toml", "config.yaml", "schema.graphql"])
def test_binary_project_files_are_refused_naming_the_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
    text = refused(tmp_path)
    assert str(tmp_path / name) in text and "not UTF-8 text (byte 0x89 at offset 0)" in text


def test_a_binary_schema_named_by_option_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.graphql").write_bytes(b"type A {\n id: ID!\n}\n\xff")
    assert "cannot read schema" in refused(tmp_path, {"blue_schema": "s.graphql"})


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("networks:\n  - id: 0\n", "network id must be at least 1, got 0"),
        ("networks:\n  - id: -8453\n", "network id must be at least 1, got -8453"),
        ("networks:\n  - id: 1.5\n", "network id must be an integer, got 1.5"),
        ("networks:\n  - id: 1\n    rpc: 5\n", "chain 1: the rpc url must be a string"),
        ("networks:\n  - id: 1\n    contracts:\n      - name: C\n        address: 5\n", "address must be a string"),
        ("networks:\n  - id: 1\n    contracts: nope\n", "chain 1: contracts must be a list"),
        ("contracts:\n  - name: C\n    events: [Transfer]\nnetworks:\n  - id: 1\n", "each event needs an `event:`"),
    ],
)
def test_malformed_config_yaml_is_refused(tmp_path: Path, yaml: str, message: str) -> None:
    (tmp_path / "config.yaml").write_text(yaml)
    assert message in refused(tmp_path)


# -- chain ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("chain", ["0", "-1", "1.5", "x", "٣", "0x2105", str(2**63), " "])
def test_bad_chain_ids_are_refused_in_rpc_and_expected_chains(tmp_path: Path, chain: str) -> None:
    rpc = refused(tmp_path, {"rpc": [f"{chain}=http://127.0.0.1:8545"]})
    assert "--belt-rpc" in rpc and "is not a chain id" in rpc
    expected = refused(tmp_path, {"expected_chains": f"1,{chain}" if chain.strip() else "1,,0"})
    assert "expected chains" in expected and "is not a chain id" in expected


@pytest.mark.parametrize("chain", ["0", "ABC", "0x2105"])
def test_bad_chain_ids_in_rpc_variables_are_refused_and_the_url_not_shown(tmp_path: Path, chain: str) -> None:
    url = f"http://127.0.0.1:8545/v2/{KEY}"
    text = refused(tmp_path, env={f"BELT_RPC_{chain}": url})
    assert f"BELT_RPC_{chain}" in text and "is not a chain id" in text and KEY not in text
    assert url in environment_secrets({f"BELT_RPC_{chain}": url}).values  # known before anything is parsed


def test_toml_chain_ids_must_be_positive(tmp_path: Path) -> None:
    (tmp_path / "belt.toml").write_text("[belt]\nexpected_chains = [1, 0]\n")
    assert "expected chains: 0 is not a chain id" in refused(tmp_path)
    (tmp_path / "belt.toml").write_text('[belt]\nrpc = { "-5" = "http://127.0.0.1:1" }\n')
    assert "'-5' is not a chain id" in refused(tmp_path)


def test_a_chain_given_twice_in_one_source_is_refused_without_its_urls(tmp_path: Path) -> None:
    a, b = f"http://127.0.0.1:8545/{KEY}a", f"http://127.0.0.1:8546/{KEY}b"
    text = refused(tmp_path, {"rpc": [f"8453={a}", f"8453={b}"]})
    assert text == "--belt-rpc: chain 8453 is given twice: give one RPC URL per chain"
    text = refused(tmp_path, {"rpc": [f"8453={a}", f"08453={b}"]})
    assert "chain 8453 is given twice" in text
    text = refused(tmp_path, env={"BELT_RPC_8453": a, "BELT_RPC_08453": b})
    assert text == "BELT_RPC_08453 and BELT_RPC_8453 both name chain 8453: set one"
    (tmp_path / "belt.toml").write_text(f'[belt]\nrpc = ["1={a}", "1={b}"]\n')
    assert "chain 1 is given twice" in refused(tmp_path)


def test_a_chain_in_two_sources_follows_the_precedence(tmp_path: Path) -> None:
    (tmp_path / "belt.toml").write_text('[belt]\nrpc = { 10 = "http://127.0.0.1:1" }\n')
    settings = build(tmp_path, {"rpc": ["10=http://127.0.0.1:2"]}, env={"BELT_RPC_10": "http://127.0.0.1:3"})
    assert settings.rpc == {10: "http://127.0.0.1:2"}
    assert build(tmp_path, env={"BELT_RPC_10": "http://127.0.0.1:3"}).rpc == {10: "http://127.0.0.1:1"}


def test_rpc_urls_that_name_no_endpoint_are_refused(tmp_path: Path) -> None:
    text = refused(tmp_path, {"rpc": [f"10=http://u:{KEY}@127.0.0.1:99999/"]})
    assert text.startswith("--belt-rpc: RPC for chain 10: not a valid URL") and KEY not in text


# -- empty values, times ----------------------------------------------------------------------------


def test_an_empty_option_is_refused_not_defaulted(tmp_path: Path) -> None:
    assert refused(tmp_path, {"mode": ""}) == "--belt-mode is empty: give a value or leave the option out"
    assert "--belt-timeout is empty" in refused(tmp_path, {"timeout": "  "})
    (tmp_path / "belt.toml").write_text('[belt]\nmode = ""\n')
    assert "--belt-mode must be parity or expansion, not ''" in refused(tmp_path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "inf is not a finite number"),
        ("-inf", "-inf is not a finite number"),
        ("nan", "nan is not a finite number"),
        ("1e400", "1e400 is not a finite number"),
        ("0", "must be at least 0.001"),
        ("-1", "must be at least 0"),
        ("soon", "'soon' is not a number"),
    ],
)
def test_timeouts_must_be_finite_and_positive(tmp_path: Path, value: str, message: str) -> None:
    assert message in refused(tmp_path, {"timeout": value})


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "-0.5"])
def test_settle_timeout_must_be_finite_and_not_negative(tmp_path: Path, value: str) -> None:
    assert refused(tmp_path, {"settle_timeout": value}).startswith("--belt-settle-timeout: ")


def test_settle_timeout_zero_is_refused(tmp_path: Path) -> None:
    """Issue 8: non-positive times are refused ("0 = do not wait" was a wait of no time, like timeout 0)."""
    assert refused(tmp_path, {"settle_timeout": "0"}) == "--belt-settle-timeout: must be at least 0.001"
    assert build(tmp_path, {"settle_timeout": "0.001"}).settle_timeout == 0.001


def test_toml_times_are_checked_as_options_are(tmp_path: Path) -> None:
    (tmp_path / "belt.toml").write_text("[belt]\nsettle_timeout = inf\n")
    assert "--belt-settle-timeout: inf is not a finite number" in refused(tmp_path)
    (tmp_path / "belt.toml").write_text("[belt]\ntimeout = nan\n")
    assert "--belt-timeout: nan is not a finite number" in refused(tmp_path)
    (tmp_path / "belt.toml").write_text("[belt]\ntimeout = 2.5\n")
    assert math.isclose(build(tmp_path).timeout, 2.5)


@pytest.mark.parametrize(
    ("tol", "message"),
    [
        ("{ rel = nan }", "is not a finite number"),
        ("{ rel = inf }", "is not a finite number"),
        ("{ abs = -1 }", "must be at least 0"),
        ("{ absolute = 1 }", "unknown key(s) absolute"),
    ],
)
def test_tolerances_must_be_finite_and_known(tmp_path: Path, tol: str, message: str) -> None:
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "belt.toml").write_text(f"[entities.Plain]\ntolerance = {tol}\n")
    assert message in refused(tmp_path)


# -- output paths -------------------------------------------------------------------------------------


def test_report_path_is_checked_before_anything_is_fetched(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    assert "--belt-report: " in refused(tmp_path, {"report": "out"}) and "is a folder" in refused(
        tmp_path, {"report": "out"}
    )
    assert f"the folder {tmp_path / 'missing'} does not exist" in refused(tmp_path, {"report": "missing/cert.json"})
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in refused(tmp_path, {"report": "file/cert.json"})
    assert build(tmp_path, {"report": "out/cert.json"}).report == tmp_path / "out" / "cert.json"


def test_record_folder_is_checked_before_anything_is_fetched(tmp_path: Path) -> None:
    (tmp_path / "taken.json").write_text("{}")
    assert "--belt-record: " in refused(tmp_path, {"record": "taken.json"})
    assert "exists and is not a folder" in refused(tmp_path, {"record": "taken.json"})
    assert "is not a folder, so" in refused(tmp_path, {"record": "taken.json/deeper/rec"})
    assert build(tmp_path, {"record": "new/rec"}).record == tmp_path / "new" / "rec"


# -- green is blue -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "green",
    [
        f"{BLUE}?x=1",
        "http://127.1:8/v1/graphql",
        "http://localhost:8/v1/graphql/",
        f"http://admin:{KEY}@127.0.0.1:8//v1/./graphql#x",
    ],
)
def test_green_is_blue_by_identity_is_refused_without_secrets(tmp_path: Path, green: str) -> None:
    text = refused(tmp_path, {"green": green})
    assert text.startswith("green is blue (") and "refusing to certify a belt against itself" in text
    assert KEY not in text and "admin" not in text


def test_green_is_blue_when_blue_is_the_alias(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="green is blue"):
        build_settings({"alias": BLUE, "green": "http://127.1:8/v1/graphql"}, {}, cwd=tmp_path, env={})


def test_a_recorded_file_is_the_same_belt_by_its_resolved_path(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "blue.json").write_text("{}")
    cli = {"blue": "rec/blue.json", "green": str(tmp_path / "rec" / ".." / "rec" / "blue.json")}
    with pytest.raises(SettingsError, match="same recorded snapshot"):
        build_settings(cli, {}, cwd=tmp_path, env={})


def test_distinct_belts_are_accepted_and_the_resolver_runs_only_when_needed(tmp_path: Path) -> None:
    def resolver(host: str) -> frozenset[str]:
        return frozenset({"10.0.0.1"} if host == "blue.internal" else {"10.0.0.2"})

    def loopback(host: str) -> frozenset[str]:
        return frozenset({"127.0.0.1"})

    settings = build_settings(
        {"blue": "http://blue.internal/v1/graphql", "green": "http://green.internal/v1/graphql"},
        {},
        cwd=tmp_path,
        env={},
        resolver=resolver,
    )
    assert settings.green == "http://green.internal/v1/graphql"
    with pytest.raises(SettingsError, match="green is blue"):
        build_settings(
            {"blue": "http://blue.internal/v1/graphql", "green": "http://green.internal/v1/graphql"},
            {},
            cwd=tmp_path,
            env={},
            resolver=loopback,
        )


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v1/graphql", "http:///v1/graphql"])
def test_belt_urls_that_name_no_endpoint_are_refused(tmp_path: Path, url: str) -> None:
    assert refused(tmp_path, {"green": url}).startswith("--belt-green: ")


# -- secrets --------------------------------------------------------------------------------------------


def test_rpc_variables_and_admin_secrets_are_registered_as_secrets(tmp_path: Path) -> None:
    rpc = f"http://127.0.0.1:8545/v2/{KEY}"
    env = {"BELT_RPC_10": rpc, "BELT_BLUE_ADMIN_SECRET": "blue-s3cret", "BELT_ADMIN_SECRET": "any-s3cret"}
    settings = build(tmp_path, env=env)
    known = settings.secrets.ordered
    assert {rpc, "blue-s3cret", "any-s3cret"} <= set(known)
    assert settings.rpc == {10: rpc}
    assert KEY not in redact.redact_text(f"asked {rpc} and /v2/{KEY}", settings.secrets)
    assert settings.blue_headers == {"x-hasura-admin-secret": "blue-s3cret"}
    assert settings.green_headers == {"x-hasura-admin-secret": "any-s3cret"}


def test_an_admin_secret_too_short_to_hide_is_refused(tmp_path: Path) -> None:
    text = refused(tmp_path, env={"BELT_GREEN_ADMIN_SECRET": "abc"})
    assert text.startswith("BELT_GREEN_ADMIN_SECRET is shorter than 4 characters") and "abc" not in text


def test_reprs_hide_urls_secrets_and_headers(tmp_path: Path) -> None:
    rpc = f"http://127.0.0.1:8545/v2/{KEY}"
    (tmp_path / "config.yaml").write_text("networks:\n  - id: 1\n    rpc: http://u:cfgpass99@127.0.0.1:1/\n")
    settings = build(
        tmp_path,
        {"green": "http://user:hunter22@127.0.0.1:9/v1/graphql?apikey=sekrit123", "rpc": ["137=http://127.0.0.1:2"]},
        env={"BELT_RPC_10": rpc, "BELT_ADMIN_SECRET": "adm1n-s3cret"},
    )
    texts = [repr(settings), str(settings), repr(settings.rpc), repr(settings.blue_headers), repr(settings.describe())]
    texts.append(repr(__import__("belt_gate.envio", fromlist=["x"]).load_config(tmp_path / "config.yaml")))
    for text in texts:
        for secret in ("hunter22", "sekrit123", KEY, "adm1n-s3cret", "cfgpass99"):
            assert secret not in text, (secret, text)
    assert "x-hasura-admin-secret" in repr(settings) and "127.0.0.1:9" in repr(settings)


# -- block_field / time_field ------------------------------------------------------------------------------


def test_block_and_time_fields_pin_an_entity(tmp_path: Path) -> None:
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "belt.toml").write_text(
        '[entities.Deposit]\nblock_field = "depositBlockNumber"\ntime_field = "createdAt"\n'
    )
    settings = build(tmp_path)
    assert settings.schema is not None
    deposit = settings.schema.entity("Deposit")
    assert deposit is not None
    assert deposit.block_column == "depositBlockNumber" and deposit.timestamp_column == "createdAt"
    assert deposit.inferred_reconciliation == Reconciliation.AT_BLOCK
    (tmp_path / "belt.toml").write_text('[entities.Deposit]\ntime_field = "createdAt"\n')
    settings = build(tmp_path)
    assert settings.schema is not None
    only_time = settings.schema.entity("Deposit")
    assert (
        only_time is not None
        and only_time.block_column is None
        and only_time.inferred_reconciliation == Reconciliation.AT_TIMESTAMP
    )
    (tmp_path / "belt.toml").write_text('[entities.Plain]\nmode = "C"\n')
    unpinned = build(tmp_path).schema
    assert unpinned is not None
    assert [e.inferred_reconciliation for e in unpinned.entities if e.name == "Deposit"] == [Reconciliation.CONVERGED]


def test_a_pinned_field_makes_a_mode_override_possible(tmp_path: Path) -> None:
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "belt.toml").write_text('[entities.Deposit]\nmode = "A"\n')
    assert "reconciliation A (at block) needs a block number field" in refused(tmp_path)
    (tmp_path / "belt.toml").write_text('[entities.Deposit]\nmode = "A"\nblock_field = "depositBlockNumber"\n')
    assert build(tmp_path).entity_reconciliation("Deposit", Reconciliation.CONVERGED) == Reconciliation.AT_BLOCK


@pytest.mark.parametrize("key", ["reconciliation", "mode"])
def test_reconciliation_and_its_old_spelling_mode_mean_the_same(tmp_path: Path, key: str) -> None:
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "belt.toml").write_text(f'[entities.Deposit]\n{key} = "B"\ntime_field = "createdAt"\n')
    assert build(tmp_path).entity_reconciliation("Deposit", Reconciliation.AT_BLOCK) == Reconciliation.AT_TIMESTAMP
    (tmp_path / "belt.toml").write_text(f'[entities.Deposit]\n{key} = "D"\n')
    assert refused(tmp_path).endswith(f"entities.Deposit.{key} must be A, B or C")


def test_reconciliation_and_mode_both_given_must_agree(tmp_path: Path) -> None:
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "belt.toml").write_text('[entities.Deposit]\nreconciliation = "C"\nmode = "C"\n')
    assert build(tmp_path).entity_reconciliation("Deposit", Reconciliation.AT_BLOCK) == Reconciliation.CONVERGED
    (tmp_path / "belt.toml").write_text('[entities.Deposit]\nreconciliation = "C"\nmode = "A"\n')
    assert refused(tmp_path).endswith(
        "entities.Deposit: reconciliation = 'C' and mode = 'A' disagree "
        "(mode is the old name of reconciliation: give one)"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            'block_field = "depositBlock"',
            "Deposit has no field depositBlock (its numeric fields: chainId, depositBlockNumber",
        ),
        ('block_field = "label"', "Deposit.label is String (scalar); a block or time field must be Int or BigInt"),
        ('time_field = "at"', "Deposit.at is Timestamp (scalar)"),
        ('block_field = "blocks"', "Deposit.blocks is [BigInt]"),
        ('block_field = "maybeBlock"', "Deposit.maybeBlock is nullable (BigInt, not BigInt!)"),
        ("block_field = 5", "entities.Deposit.block_field must name a field"),
        ('block_field = ""', "entities.Deposit.block_field must name a field"),
        ('blockfield = "depositBlockNumber"', "entities.Deposit: unknown key(s) blockfield"),
    ],
)
def test_a_pinned_field_must_exist_and_hold_whole_numbers(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "belt.toml").write_text(f"[entities.Deposit]\n{spec}\n")
    assert message in refused(tmp_path)


def test_a_pinned_field_needs_the_schema(tmp_path: Path) -> None:
    (tmp_path / "belt.toml").write_text('[entities.Deposit]\nblock_field = "depositBlockNumber"\n')
    assert "entities.Deposit.block_field needs the Envio schema.graphql" in refused(tmp_path)


def test_a_multi_line_message_is_folded_onto_one_line(tmp_path: Path) -> None:
    assert str(SettingsError("bad input:\n  line one\n\n  line two\n")) == "bad input: | line one | line two"
    (tmp_path / "schema.graphql").write_text('type A {\n  id: ID!\n  x: "\n  multi\n"\n}\n')
    refused(tmp_path)  # the GraphQL parser's error, whatever it says, arrives as one line
