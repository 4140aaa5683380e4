"""The plugin against the real belt shapes (tests/data/hasura-envio/README.md), end to end with pytester.

Both belts of a pair have one shape, as two deployments of one indexer do: `public` (aggregates granted on
some tables only) and `newer` (progress from `_meta`, no aggregates). Each server has an admin secret, so it
behaves like Hasura with HASURA_GRAPHQL_UNAUTHORIZED_ROLE: without the secret a client sees the public role,
with it the admin role (every table has `_aggregate`). Where a rule cannot run it must fail naming the
missing permission and the variable to set, never pass weaker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belts
from tests.support.runs import failed, line_with, outcomes
from tests.support.runs import run as run_plugin

pytest_plugins = ["pytester"]
SCHEMAS = [f"--belt-schema={SCHEMA}", f"--belt-blue-schema={SCHEMA}", f"--belt-green-schema={SCHEMA}"]
SECRETS = {"blue": "blue-Adm1n-s3cret-7f3a91", "green": "green-Adm1n-s3cret-c2b84e"}
SECRET_VAR = "BELT_TEST_HASURA_ADMIN_SECRET"  # the servers' own variable (never the plugin's)
ENTITIES = ("Action", "Erc1155Transfer", "Loan", "NftTransfer")
CHAINS = (1, 10)
GRANTED = ("NftTransfer", "Action")  # shape public: allow_aggregations only on these


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return run_plugin(pytester, *args, lean=True)


def data_tests(*entities: str) -> set[str]:
    return {f"{rule}[{e}@{c}]" for rule in ("counts", "content") for e in entities for c in CHAINS}


ALL_IDS = {
    "chain_set",
    "enums",
    "schema[_root]",
    *(f"progress[{c}]" for c in CHAINS),
    *(f"schema[{e}]" for e in ENTITIES),
    *data_tests(*ENTITIES),
}


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("shapes")
    specs: dict[str, tuple[Path, dict[str, Any]]] = {}
    for shape in ("public", "newer"):
        for belt, secret in SECRETS.items():
            specs[f"{shape}-{belt}"] = (
                BeltData().write(d / f"{shape}-{belt}.db"),
                {
                    "shape": shape,
                    "aggregate_tables": ",".join(GRANTED) if shape == "public" else None,
                    "secret_env": SECRET_VAR,
                    "env": {SECRET_VAR: secret},
                },
            )
    with serve_belts(specs) as served:
        yield served


def pair(belts: dict[str, Served], shape: str) -> list[str]:
    return [f"--belt-blue={belts[f'{shape}-blue'].url}", f"--belt-green={belts[f'{shape}-green'].url}", *SCHEMAS]


def test_public_role_fails_exactly_the_entities_without_aggregate_permission(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = run(pytester, *pair(belts, "public"), "--belt-report=cert.json")
    got = outcomes(result)
    assert set(got) == ALL_IDS, result.stdout.str()
    assert failed(result) == data_tests("Erc1155Transfer", "Loan"), result.stdout.str()
    for e in ("Erc1155Transfer", "Loan"):  # one line, both belts' variables (neither role may aggregate)
        result.stdout.fnmatch_lines(
            line_with(
                f"counts[{e}@1]: *green unreadable: *no aggregate permission on {e} for this role"
                "*allow_aggregations*BELT_GREEN_ADMIN_SECRET*blue unreadable: *BELT_BLUE_ADMIN_SECRET"
            )
        )
    result.stdout.fnmatch_lines(line_with("content[Loan@10]: *no aggregate permission on Loan*BELT_BLUE_ADMIN_SECRET"))
    verdicts = {v["id"]: v["verdict"] for v in json.loads((pytester.path / "cert.json").read_text())["verdicts"]}
    # the granted tables pass by the full comparison, not a weaker one
    assert verdicts["counts[NftTransfer@10]"] == "NftTransfer@10 at block <= 40: 12 rows, fingerprints equal"
    assert verdicts["content[Action@1]"].startswith("Action@1: 5 sampled rows equal")


def test_newer_envio_reads_progress_from_meta_and_fails_every_count(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = run(pytester, *pair(belts, "newer"), "--belt-report=cert.json")
    assert set(outcomes(result)) == ALL_IDS, result.stdout.str()
    assert failed(result) == data_tests(*ENTITIES), result.stdout.str()
    result.stdout.fnmatch_lines(
        line_with(
            "counts[NftTransfer@10]: *no aggregate permission on NftTransfer*BELT_GREEN_ADMIN_SECRET"
            "*BELT_BLUE_ADMIN_SECRET"
        )
    )
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert cert["progress_sources"] == {"blue": "_meta", "green": "_meta"}
    assert cert["cutoffs"]["10"]["block"] == 40 and cert["passed"] is False
    verdicts = {v["id"]: v["verdict"] for v in cert["verdicts"]}
    assert verdicts["progress[10]"] == "chain 10: green processed 40 >= blue 40"
    assert verdicts["chain_set"] == "chain set (parity): blue [1, 10], green [1, 10]"


@pytest.mark.parametrize("shape", ["public", "newer"])
def test_admin_secrets_from_the_environment_certify_and_are_never_shown(
    pytester: pytest.Pytester, belts: dict[str, Served], monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    monkeypatch.setenv("BELT_BLUE_ADMIN_SECRET", SECRETS["blue"])
    monkeypatch.setenv("BELT_GREEN_ADMIN_SECRET", SECRETS["green"])
    result = run(pytester, *pair(belts, shape), "--belt-report=cert.json", "--junitxml=junit.xml")
    got = outcomes(result)
    assert set(got) == ALL_IDS and set(got.values()) == {"PASSED"}, result.stdout.str()
    assert result.ret == 0
    cert = (pytester.path / "cert.json").read_text()
    assert json.loads(cert)["passed"] is True
    text = result.stdout.str() + result.stderr.str() + cert + (pytester.path / "junit.xml").read_text()
    for secret in SECRETS.values():
        assert secret not in text
    assert "blue-Adm1n" not in text and "green-Adm1n" not in text


def test_wrong_admin_secret_fails_naming_the_redacted_endpoint(
    pytester: pytest.Pytester, belts: dict[str, Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wr0ng-Adm1n-s3cret-5d6e"
    monkeypatch.setenv("BELT_BLUE_ADMIN_SECRET", SECRETS["blue"])
    monkeypatch.setenv("BELT_GREEN_ADMIN_SECRET", wrong)
    green = f"{belts['newer-green'].url}?token=tok3n-in-the-url-91"  # the endpoint's own secret, redacted
    result = run(
        pytester,
        f"--belt-blue={belts['newer-blue'].url}",
        f"--belt-green={green}",
        *SCHEMAS,
        "--belt-report=cert.json",
        "--junitxml=junit.xml",
    )
    got = outcomes(result)
    assert set(got) == ALL_IDS, result.stdout.str()
    assert failed(result) == ALL_IDS - {"enums"}, result.stdout.str()  # enums reads the two schema files
    port = belts["newer-green"].port
    endpoint = f"green http://127.0.0.1:{port}/v1/graphql?token=***"  # `*` separates assert_out's parts
    for test_id in ("counts[Loan@1]", "content[NftTransfer@10]", "progress[10]", "schema[Action]", "chain_set"):
        line = next(x for x in result.outlines if x.startswith(f"{test_id}: "))
        assert endpoint in line and "invalid x-hasura-admin-secret" in line, line
    result.stdout.fnmatch_lines(
        line_with(
            "counts[Loan@1]: could not check: Loan@1: cannot compare: no processed block on chain 1 from green: green"
        )
    )
    result.stdout.fnmatch_lines(
        line_with("schema[Action]: could not check: schema of Action: cannot compare: green: green")
    )
    result.stdout.fnmatch_lines(line_with("belt_gate: NOT CERTIFIED: 24 planned cases could not be checked"))
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert cert["certified"] is False
    # a rejected secret is an error, not a wrong green: every case that needed green could not be checked
    assert {v["id"]: v["outcome"] for v in cert["verdicts"]} == {
        i: "passed" if i == "enums" else "could-not-check" for i in ALL_IDS
    }
    text = (
        result.stdout.str()
        + result.stderr.str()
        + (pytester.path / "cert.json").read_text()
        + (pytester.path / "junit.xml").read_text()
    )
    for secret in (wrong, SECRETS["blue"], "tok3n-in-the-url-91"):
        assert secret not in text
