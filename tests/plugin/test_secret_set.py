"""The secret set a run hides is put in use explicitly: on the controller from its settings, and on each
xdist worker also from the controller (its `workerinput`), whatever the worker's own settings found."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belt
from tests.support.runs import run

pytest_plugins = ["pytester"]
SECRET = "wk-adm1n-s3cret-9090"

#: On a worker, the admin secret leaves the environment before belt_gate builds its settings there.
CONFTEST = """
import os
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if hasattr(config, "workerinput"):
        os.environ.pop("BELT_ADMIN_SECRET", None)
"""
TEAM_TEST = f"""
import os
from belt_gate import redact

def test_a_worker_hides_what_the_controller_hides():
    assert "BELT_ADMIN_SECRET" not in os.environ  # this worker's own settings never saw it
    assert os.environ.get("PYTEST_XDIST_WORKER")
    assert redact.redact_text("sent {SECRET} along") == "sent *** along"
"""


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("secret-belts")
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(serve_belt(BeltData().write(d / f"{name}.db"))) for name in ("blue", "green")}


def test_xdist_workers_get_the_controllers_secret_set(
    pytester: pytest.Pytester, belts: dict[str, Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BELT_ADMIN_SECRET", SECRET)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_team=TEAM_TEST)
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['green'].url}",
        f"--belt-schema={SCHEMA}",
        "--belt-report=cert.json",
        "test_team.py",
        "-n",
        "2",
    )
    doc = json.loads((pytester.path / "cert.json").read_text())
    assert doc["other_tests"]["passed"] == 1, result.stdout.str()
    assert SECRET not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("option", "secret"),
    [
        ("--belt-alias-admin=ftp://ops:pw-adm1n-777@127.0.0.1:2019", "pw-adm1n-777"),
        ("--belt-verify-window=tok3n-window-77", "tok3n-window-77"),
        ("-obelt_dry_run=tok3n-flag-77", "tok3n-flag-77"),
    ],
)
def test_a_refusal_is_redacted_in_the_one_line_the_plugin_prints(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, option: str, secret: str
) -> None:
    """The settings quote a refused value as given; the plugin's usage line hides what the environment holds
    (`BELT_*_TOKEN` values, before any settings exist) and what a URL's userinfo holds."""
    monkeypatch.setenv("BELT_X_TOKEN", secret)
    result = run(
        pytester, "--belt-blue=http://127.0.0.1:8/v1/graphql", "--belt-green=http://127.0.0.1:9/v1/graphql", option
    )
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "belt_gate: " in err, err
    assert secret not in err + result.stdout.str() and "***" in err, err


LEAKY_TEAM_TEST = """
import logging
import os

def test_a_team_check_that_shows_the_secret():
    secret = os.environ["BELT_ADMIN_SECRET"]
    print("stdout", secret)
    logging.getLogger("team").warning("log %s", secret)
    assert secret == "something else", f"failed with {secret}"
"""


def test_a_team_tests_failure_and_output_are_redacted_in_junit_and_the_terminal(
    pytester: pytest.Pytester, belts: dict[str, Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BELT_ADMIN_SECRET", SECRET)
    pytester.makepyfile(test_team=LEAKY_TEAM_TEST)
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['green'].url}",
        f"--belt-schema={SCHEMA}",
        "--junitxml=junit.xml",
        "--showlocals",
        "test_team.py",
    )
    junit = (pytester.path / "junit.xml").read_text()
    assert "test_a_team_check_that_shows_the_secret" in junit and "failed with ***" in junit, junit
    assert SECRET not in junit + result.stdout.str() + result.stderr.str()
