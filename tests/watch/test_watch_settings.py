"""Which belts, RPCs and alias the watch commands read, from the project's settings (no I/O but files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from belt_gate.errors import SettingsError
from belt_gate.redact import redact_text
from belt_gate.settings import build_watch_settings

TOML = """[belt]
blue = "http://127.0.0.1:1001/v1/graphql"
green = "http://127.0.0.1:1002/v1/graphql"
alias = "http://127.0.0.1:1000/v1/graphql"
rpc = ["8453=http://127.0.0.1:2001"]
head_tolerance = 25
"""


def test_defaults_come_from_belt_toml_pyproject_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "belt.toml").write_text(TOML)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nbelt_green = "http://127.0.0.1:1003/v1/graphql"\n'
    )
    env = {
        "BELT_RPC_10": "http://127.0.0.1:2002/v2/AbCdEf0123456789xyzKEY",
        "BELT_GREEN_ADMIN_SECRET": "watch-admin-777",
    }
    ws = build_watch_settings([], [], cwd=tmp_path, env=env)
    assert ws.belts == {
        "blue": "http://127.0.0.1:1001/v1/graphql",
        "green": "http://127.0.0.1:1003/v1/graphql",  # pyproject's ini over belt.toml
        "alias": "http://127.0.0.1:1000/v1/graphql",
    }
    assert ws.rpc == {8453: "http://127.0.0.1:2001", 10: "http://127.0.0.1:2002/v2/AbCdEf0123456789xyzKEY"}
    assert ws.headers["green"] == {"x-hasura-admin-secret": "watch-admin-777"} and ws.headers["blue"] == {}
    assert ws.head_tolerance == 25
    # the settings' secret set (what the command puts in use) hides the environment's secrets
    assert "watch-admin-777" not in redact_text("echo watch-admin-777", ws.secrets)
    assert "AbCdEf0123456789xyzKEY" not in redact_text(
        "rpc http://127.0.0.1:2002/v2/AbCdEf0123456789xyzKEY", ws.secrets
    )
    assert "watch-admin-777" not in repr(ws) and "xyzKEY" not in repr(ws)


def test_belts_by_name_or_url_and_rpcs_over_the_settings(tmp_path: Path) -> None:
    (tmp_path / "belt.toml").write_text(TOML)
    ws = build_watch_settings(
        ["green", "extra=http://127.0.0.1:1009/v1/graphql"], ["8453=http://127.0.0.1:2009"], cwd=tmp_path, env={}
    )
    assert ws.belts == {"green": "http://127.0.0.1:1002/v1/graphql", "extra": "http://127.0.0.1:1009/v1/graphql"}
    assert ws.rpc == {8453: "http://127.0.0.1:2009"}


@pytest.mark.parametrize(
    ("belts", "rpc", "message"),
    [
        (["nosuch"], [], "no belt 'nosuch'"),
        (["a=ftp://x"], [], r"not an http\(s\) URL"),
        (["bad name=http://x"], [], "expected NAME=URL or NAME"),
        ([], [], "no belt to watch"),
        (["a=http://127.0.0.1:1/x"], ["x=http://h"], "not a chain id"),
    ],
)
def test_bad_input_is_one_settings_error(belts: list[str], rpc: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=message):
        build_watch_settings(belts, rpc, cwd=tmp_path, env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BELT_ADMIN_SECRET": "abc"}, "BELT_ADMIN_SECRET is shorter than 4 characters"),
        ({"BELT_RPC_10": "http://127.0.0.1:2002", "BELT_RPC_010": "http://127.0.0.1:2003"}, "both name chain 10"),
        ({"BELT_RPC_TEN": "http://127.0.0.1:2002"}, "not a chain id"),
    ],
)
def test_the_environment_is_refused_as_for_certification(env: dict[str, str], message: str, tmp_path: Path) -> None:
    """Watching reads the environment through the same parser as certification, so it refuses the same
    things: a secret too short to keep out of the output, two variables for one chain, a name that is no chain."""
    with pytest.raises(SettingsError, match=message):
        build_watch_settings(["a=http://127.0.0.1:1/x"], [], cwd=tmp_path, env=env)
