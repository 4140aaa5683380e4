"""Expansion's expected chains: given, or declared by the project's Envio config.yaml, never taken from green."""

from __future__ import annotations

from pathlib import Path

import pytest

from belt_gate.errors import SettingsError
from belt_gate.settings import build_settings

URLS = {"blue": "http://127.0.0.1:8/v1/graphql", "green": "http://127.0.0.1:9/v1/graphql", "mode": "expansion"}
CONFIG = "name: demo\nnetworks:\n  - id: 1\n    start_block: 0\n  - id: 10\n    start_block: 0\n"


def test_expansion_takes_the_config_yaml_networks(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    assert build_settings(URLS, {}, cwd=tmp_path, env={}).expected_chains == (1, 10)


def test_given_expected_chains_win_over_config_yaml(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    settings = build_settings({**URLS, "expected_chains": "1,10,42161"}, {}, cwd=tmp_path, env={})
    assert settings.expected_chains == (1, 10, 42161)


def test_expansion_without_config_or_expected_chains_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="expansion needs the expected chains"):
        build_settings(URLS, {}, cwd=tmp_path, env={})
