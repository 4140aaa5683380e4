"""The certificate is the plan: only a complete run whose every case and every other test passed is CERTIFIED.

Each case here certified on the old main (a partial run, xfail markers, a team's failing test, a crash,
an interrupt) and must now say NOT CERTIFIED with one line saying why. Real belts over HTTP (SQLite files
served by the sandbox's GraphQL server); pytest runs in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belt
from tests.support.runs import line_with, run

pytest_plugins = ["pytester"]
SCHEMAS = [f"--belt-schema={SCHEMA}", f"--belt-blue-schema={SCHEMA}", f"--belt-green-schema={SCHEMA}"]


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("cert-belts")
    variants = {"blue": BeltData(), "green": BeltData(), "corrupt": BeltData(corrupt={"1_5_0": 1})}
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(serve_belt(data.write(d / f"{name}.db"))) for name, data in variants.items()}


def gate(pytester: pytest.Pytester, belts: dict[str, Served], *args: str, green: str = "green") -> pytest.RunResult:
    return run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts[green].url}",
        *SCHEMAS,
        "--belt-report=cert.json",
        *args,
    )


def cert(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "cert.json").read_text())  # type: ignore[no-any-return]


def test_complete_healthy_run_is_certified_and_lists_every_planned_case(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = gate(pytester, belts)
    doc = cert(pytester)
    assert result.ret == 0, result.stdout.str()
    assert doc["certified"] is True and doc["complete"] is True and doc["reasons"] == []
    assert doc["format"] == "belt-gate-certificate/2"
    assert doc["planned"] == doc["ran"] == len(doc["verdicts"]) == doc["totals"]["passed"] > 20
    assert {v["outcome"] for v in doc["verdicts"]} == {"passed"}
    result.stdout.fnmatch_lines(line_with("belt_gate: CERTIFIED (passed*of*planned)"))
    result.stdout.fnmatch_lines(line_with("snapshot (reading the belts and chains):* s"))


@pytest.mark.parametrize(
    "args",
    [
        ("-k", "chain_set"),
        ("-m", "belt_counts"),
        ("--deselect", "belt_gate::chain_set"),
        ("belt_gate::chain_set",),
    ],
    ids=["k", "m", "deselect", "nodeid"],
)
def test_a_selection_is_a_partial_run_and_never_certified(
    pytester: pytest.Pytester, belts: dict[str, Served], args: tuple[str, ...]
) -> None:
    result = gate(pytester, belts, *args)
    doc = cert(pytester)
    assert doc["certified"] is False and doc["complete"] is False
    assert any(r.startswith("selection filter") for r in doc["reasons"]), doc["reasons"]
    result.stdout.fnmatch_lines(line_with("belt_gate: NOT CERTIFIED: *selection filter"))
    assert not any("belt_gate: CERTIFIED" in line for line in result.outlines)


def test_k_on_a_corrupted_green_says_partial_with_the_counts(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = gate(pytester, belts, "-k", "not counts and not content", green="corrupt")
    doc = cert(pytester)
    assert result.ret == 0  # pytest's own status is for debugging; the certificate is the word that acts
    assert doc["certified"] is False
    assert f"partial run ({doc['ran']} of {doc['planned']} planned cases ran)" in doc["reasons"]
    assert doc["totals"]["not-run"] == doc["planned"] - doc["ran"] > 0
    result.stdout.fnmatch_lines(
        line_with(f"NOT CERTIFIED: partial run ({doc['ran']} of {doc['planned']} planned cases ran)")
    )


def test_last_failed_is_a_selection(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    base = (
        "-p",
        "cacheprovider",
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['corrupt'].url}",
        *SCHEMAS,
        "--belt-report=cert.json",
    )
    pytester.runpytest_subprocess(*base)
    result = pytester.runpytest_subprocess(*base, "--lf", "-rA")
    doc = cert(pytester)
    assert doc["certified"] is False and "--lf" in "; ".join(doc["reasons"]), doc["reasons"]
    result.stdout.fnmatch_lines(line_with("NOT CERTIFIED"))


def test_xfail_markers_from_a_conftest_never_hide_a_failure(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    pytester.makeconftest(
        """
import pytest
def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.xfail(reason="known"))
"""
    )
    result = gate(pytester, belts, green="corrupt")
    doc = cert(pytester)
    assert doc["certified"] is False
    assert any("skipped or xfailed" in r for r in doc["reasons"]), doc["reasons"]
    assert any("xfail marker" in r for r in doc["reasons"]), doc["reasons"]
    by_id = {v["id"]: v for v in doc["verdicts"]}
    assert by_id["counts[NftTransfer@1]"]["outcome"] == "not-run"
    assert by_id["counts[NftTransfer@1]"]["why"] == "xfailed"
    result.stdout.fnmatch_lines(line_with("NOT CERTIFIED"))


def test_a_skip_marker_on_a_generated_item_is_no_internal_error(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    pytester.makeconftest(
        """
import pytest
def pytest_collection_modifyitems(items):
    for item in items:
        if "counts" in item.nodeid:
            item.add_marker(pytest.mark.skip(reason="not today"))
"""
    )
    result = gate(pytester, belts)
    assert result.ret == 0 and "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    doc = cert(pytester)
    assert doc["certified"] is False and any("skipped" in r for r in doc["reasons"])


def test_a_teams_failing_or_skipped_test_blocks_certification(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    pytester.makepyfile(
        test_team="""
def test_invariant():
    assert 1 + 1 == 3, "a repaid loan has no repay time"
"""
    )
    result = gate(pytester, belts, "test_team.py")
    doc = cert(pytester)
    assert doc["certified"] is False and doc["complete"] is True
    assert doc["other_tests"] == {"collected": 1, "passed": 0, "failed": 1, "could-not-check": 0, "not-run": 0}
    result.stdout.fnmatch_lines(
        line_with("NOT CERTIFIED: *1 other test failed (the team's own checks are part of the gate)")
    )
    pytester.makepyfile(test_team="import pytest\n\ndef test_invariant():\n    pytest.skip('later')\n")
    gate(pytester, belts, "test_team.py")
    assert cert(pytester)["certified"] is False and cert(pytester)["complete"] is False
    pytester.makepyfile(test_team="def test_invariant():\n    assert True\n")
    gate(pytester, belts, "test_team.py")
    assert cert(pytester)["certified"] is True, cert(pytester)["reasons"]


def test_an_interrupted_run_writes_a_certificate_that_says_so(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    pytester.makepyfile(test_team="def test_stop():\n    raise KeyboardInterrupt\n")
    result = gate(pytester, belts, "test_team.py")
    doc = cert(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert doc["certified"] is False and doc["interrupted"] is True
    assert "the run was interrupted" in doc["reasons"]


def test_a_crashed_xdist_worker_is_never_a_pass(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    pytester.makepyfile(test_team="import os\n\ndef test_crash():\n    os._exit(3)\n")
    gate(pytester, belts, "test_team.py", "-n", "2")
    doc = cert(pytester)
    assert doc["certified"] is False
    assert doc["other_tests"]["passed"] == 0
    assert any("crashed" in r for r in doc["reasons"]), doc["reasons"]


def test_a_run_killed_before_its_end_leaves_a_provisional_certificate(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    pytester.makepyfile(test_team="import os\n\ndef test_die():\n    os._exit(9)\n")
    gate(pytester, belts, "test_team.py", "-p", "no:xdist")
    doc = cert(pytester)
    assert doc["certified"] is False and doc["complete"] is False
    assert any("did not finish" in r for r in doc["reasons"]), doc["reasons"]


def test_an_unreachable_green_is_could_not_check_not_passed(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        "--belt-green=http://127.0.0.1:9/v1/graphql",
        *SCHEMAS,
        "--belt-report=cert.json",
        "--belt-timeout=2",
    )
    doc = cert(pytester)
    assert result.ret == 1 and doc["certified"] is False
    assert doc["totals"]["passed"] < doc["planned"]
    assert doc["totals"]["failed"] + doc["totals"]["could-not-check"] >= 1
    result.stdout.fnmatch_lines(line_with("NOT CERTIFIED"))
