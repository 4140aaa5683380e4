"""The plugin end to end with pytester: options, refusals, faults, xdist, record/replay, shapes, secrets.

Belts are small SQLite files served by the real sandbox GraphQL server over HTTP.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belt
from tests.support.runs import failed as failed_ids
from tests.support.runs import line_with, outcomes, run

pytest_plugins = ["pytester"]
SCHEMAS = [f"--belt-schema={SCHEMA}", f"--belt-blue-schema={SCHEMA}", f"--belt-green-schema={SCHEMA}"]


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("belts")
    variants = {
        "blue": BeltData(),
        "green": BeltData(),
        "dropped": BeltData(drop={"10_3_0"}),
        "corrupt": BeltData(corrupt={"1_5_0": 1}),
        "drop_plus_extra": BeltData(drop={"10_3_0"}, extra_rows=1, processed=40),
        "lag": BeltData(lag={10: 30}),
        "skip": BeltData(chains=(1,)),
        "wide": BeltData(chains=(1, 10, 42161)),
    }
    with contextlib.ExitStack() as stack:
        served = {
            name: stack.enter_context(serve_belt(data.write(d / f"{name}.db"))) for name, data in variants.items()
        }
        yield served


def test_healthy_green_passes_in_parity_with_certificate_and_junit(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['green'].url}",
        *SCHEMAS,
        "--belt-report=cert.json",
        "--junitxml=junit.xml",
    )
    assert result.ret == 0, result.stdout.str()
    got = outcomes(result)
    assert got["counts[NftTransfer@10]"] == "PASSED" and got["progress[1]"] == "PASSED"
    assert {"chain_set", "enums", "schema[_root]", "content[Loan@1]", "counts[Action@10]"} <= set(got)
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert cert["passed"] is True and cert["cutoffs"]["10"]["block"] == 40
    assert len(cert["verdicts"]) == len(got)
    assert cert["requests"]["blue"]["requests"] <= 5
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="cutoff" value="block &lt;= 40"' in junit and 'name="chain" value="10"' in junit
    assert "CERTIFIED" in result.stdout.str()


def test_dropped_event_fails_exactly_counts_and_content_of_that_chain(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['dropped'].url}",
        *SCHEMAS,
        "--belt-sample=50",
    )
    failed = {k for k, v in outcomes(result).items() if v == "FAILED"}
    assert failed == {"counts[NftTransfer@10]", "content[NftTransfer@10]"}, result.stdout.str()
    result.stdout.fnmatch_lines(line_with("NftTransfer@10 at block <= 40: count blue 12 != green 11"))
    result.stdout.fnmatch_lines(line_with("row 10_3_0 is in blue but not in green (seed 0)"))


def test_corrupt_field_fails_naming_field_and_values(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['corrupt'].url}",
        *SCHEMAS,
        "--belt-sample=50",
        "--belt-seed=7",
    )
    failed = {k for k, v in outcomes(result).items() if v == "FAILED"}
    assert failed == {"counts[NftTransfer@1]", "content[NftTransfer@1]"}
    result.stdout.fnmatch_lines(line_with("fingerprint sum.tokenId differs: blue '66' != green '67'"))
    result.stdout.fnmatch_lines(line_with("row 1_5_0 field tokenId: blue '4' != green '5' (seed 7)"))


def test_drop_plus_duplicate_keeps_count_but_fails(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['drop_plus_extra'].url}",
        *SCHEMAS,
        "-k",
        "NftTransfer and 10 and counts",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(line_with("NftTransfer@10*fingerprint*differs*(count 12 on both)"))


def test_lagging_chain_fails_progress_and_compares_at_the_lower_block(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['lag'].url}",
        *SCHEMAS,
        "--belt-settle-timeout=0.5",
        "--belt-report=cert.json",
    )
    got = outcomes(result)
    assert got["progress[10]"] == "FAILED" and got["progress[1]"] == "PASSED"
    result.stdout.fnmatch_lines(line_with("chain 10: green processed 30 < blue 40 (still backfilling)"))
    result.stdout.fnmatch_lines(line_with("cutoffs (block per chain): 1: 40, 10: 30"))
    result.stdout.fnmatch_lines(line_with("belt_gate: NOT CERTIFIED: 1 planned case failed"))
    assert failed_ids(result) == {"progress[10]"}, result.stdout.str()
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert cert["certified"] is False and cert["cutoffs"]["10"]["block"] == 30
    verdicts = {v["id"]: v for v in cert["verdicts"]}
    # block-field entities are compared at the lower block of the lagging chain
    assert verdicts["counts[NftTransfer@10]"]["verdict"] == "NftTransfer@10 at block <= 30: 12 rows, fingerprints equal"
    # reconciliation C (no block field) compares the current state: the same rows with green lower are consistent
    # and pass, the verdict saying the heights differed (issue 8: no more "not settled")
    assert verdicts["counts[Loan@10]"]["outcome"] == "passed"
    assert verdicts["counts[Loan@10]"]["verdict"] == (
        "Loan@10 at the current state: 3 rows, fingerprints equal "
        "(blue at block 40, green at block 30: equal at different heights, consistent)"
    )
    assert verdicts["counts[Loan@1]"]["verdict"] == "Loan@1 at the current state: 3 rows, fingerprints equal"


def test_skipped_chain_and_extra_chain(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    skipped = run(pytester, f"--belt-blue={belts['blue'].url}", f"--belt-green={belts['skip'].url}", *SCHEMAS)
    got = outcomes(skipped)
    assert got["chain_set"] == got["progress[10]"] == got["counts[NftTransfer@10]"] == "FAILED"
    skipped.stdout.fnmatch_lines(line_with("green lacks blue's chain(s) [10] (silent skip)"))
    extra = run(pytester, f"--belt-blue={belts['blue'].url}", f"--belt-green={belts['wide'].url}", *SCHEMAS)
    assert outcomes(extra)["chain_set"] == "FAILED"
    extra.stdout.fnmatch_lines(line_with("green-only chain(s) [42161]: parity needs the same chains"))
    expansion = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['wide'].url}",
        *SCHEMAS,
        "--belt-mode=expansion",
        "--belt-expected-chains=1,10,42161",
    )
    got = outcomes(expansion)
    assert got["chain_set"] == "PASSED" and got["counts[NftTransfer@10]"] == "PASSED"
    assert got["progress[42161]"] == "FAILED"  # no RPC for the new chain: its head is unknown
    expansion.stdout.fnmatch_lines(line_with("chain 42161: blue lacks it and its head is unknown*--belt-rpc 42161=URL"))


def test_xdist_gives_the_same_verdicts(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    args = (f"--belt-blue={belts['blue'].url}", f"--belt-green={belts['corrupt'].url}", *SCHEMAS)
    serial = outcomes(run(pytester, *args, "-p", "no:xdist"))
    parallel = outcomes(run(pytester, *args, "-n", "2"))
    assert serial == parallel and len(serial) > 20


def test_k_selects_a_chain(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['green'].url}",
        *SCHEMAS,
        "-k",
        "10 or progress",
    )
    got = outcomes(result)
    assert got and all("@10" in k or k.startswith("progress") for k in got)


def test_record_then_replay_offline(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    rec = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['corrupt'].url}",
        *SCHEMAS,
        "--belt-record=rec",
    )
    replay = run(pytester, "--belt-blue=rec/blue.json", "--belt-green=rec/green.json", *SCHEMAS)
    assert outcomes(rec) == outcomes(replay)
    assert json.loads((pytester.path / "rec" / "blue.json").read_text())["format"] == "belt-gate-recording/1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--belt-blue=http://127.0.0.1:9/v1/graphql"], "no green"),
        (["--belt-green=http://127.0.0.1:9/v1/graphql"], "no blue and no alias"),
        (["--belt-blue=http://LOCALHOST:9/v1/graphql/", "--belt-green=http://127.0.0.1:9/v1/graphql"], "green is blue"),
        (
            [
                "--belt-blue=http://127.0.0.1:8/v1/graphql",
                "--belt-green=http://127.0.0.1:9/v1/graphql",
                "--belt-mode=expansion",
            ],
            "expansion needs the expected chains",
        ),
        (
            ["--belt-blue=http://127.0.0.1:8/", "--belt-green=http://127.0.0.1:9/", "--belt-mode=canary"],
            "--belt-mode must be parity or expansion",
        ),
        (
            ["--belt-blue=http://127.0.0.1:8/", "--belt-green=http://127.0.0.1:9/", "--belt-rpc=1:http://x"],
            "expected CHAIN=URL",
        ),
        (["--belt-blue=http://127.0.0.1:8/", "--belt-green=nope.json"], "neither an http(s) URL nor a file"),
        (
            ["--belt-blue=http://127.0.0.1:8/", "--belt-green=http://127.0.0.1:9/", "--belt-expected-chains=1,x"],
            "'x' is not a chain id",
        ),
        (["--belt-config=missing.toml"], "cannot read"),
        (
            ["--belt-blue=http://127.0.0.1:8/", "--belt-green=http://127.0.0.1:9/", "--belt-schema=nope.graphql"],
            "cannot read schema",
        ),
        (
            ["--belt-blue=http://127.0.0.1:8/", "--belt-green=http://127.0.0.1:9/", "--belt-sample=0"],
            "--belt-sample: must be at least 1",
        ),
    ],
)
def test_refusals_are_one_line_and_nonzero(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert message in err and "Traceback" not in err
    assert "passed" not in result.stdout.str()


def test_invalid_belt_toml_and_ini_precedence(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    pytester.makefile(".toml", belt='[belt]\nmode = "parity"\nunknown_key = 1\n')
    bad = run(pytester, "--belt-config=belt.toml")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR and "unknown key(s) in [belt]: unknown_key" in bad.stderr.str()
    pytester.makefile(
        ".toml",
        belt=f'[belt]\nblue = "{belts["blue"].url}"\ngreen = "{belts["dropped"].url}"\n'
        "[entities.NftTransfer]\ntolerance = {abs = 1}\n",
    )
    pytester.makeini(f"[pytest]\nbelt_green = {belts['green'].url}\n")
    # ini (green = healthy) beats belt.toml (green = dropped); belt.toml's tolerance still applies
    result = run(pytester, "--belt-config=belt.toml", *SCHEMAS)
    assert result.ret == 0, result.stdout.str()
    # CLI beats ini
    result = run(
        pytester,
        "--belt-config=belt.toml",
        f"--belt-green={belts['dropped'].url}",
        *SCHEMAS,
        "-k",
        "counts and NftTransfer",
    )
    assert result.ret == 0  # the dropped row is within tolerance abs=1


def test_unreachable_endpoint_fails_every_test_with_redacted_url(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    secret_url = "http://user:hunter2@127.0.0.1:9/v1/graphql?apikey=sekrit123"
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={secret_url}",
        *SCHEMAS,
        "--belt-timeout=2",
        "--belt-report=cert.json",
        "--junitxml=j.xml",
    )
    got = outcomes(result)
    assert got and "PASSED" not in {v for k, v in got.items() if k != "enums"}
    text = (
        result.stdout.str()
        + result.stderr.str()
        + (pytester.path / "cert.json").read_text()
        + (pytester.path / "j.xml").read_text()
    )
    assert "hunter2" not in text and "sekrit123" not in text
    assert "***@127.0.0.1:9" in text


def test_plugin_is_free_without_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import sys
        def test_light():
            heavy = [m for m in ("httpx", "graphql", "web3", "belt_gate.snapshot") if m in sys.modules]
            assert heavy == []
    """
    )
    result = run(pytester)
    assert result.ret == 0, result.stdout.str()
