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


def test_growing_chains_are_the_shared_chains_whose_sources_green_extends(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        CONFIG + "  - id: 8453\n    start_block: 0\n    contracts: [{name: Nft, address: ['0xAB', '0xCD']}]\n"
    )
    (tmp_path / "blue.yaml").write_text(
        CONFIG.replace("  - id: 10\n    start_block: 0\n", "") + "  - id: 8453\n    start_block: 0\n"
        "    contracts: [{name: Nft, address: ['0xab']}]\n"
    )
    settings = build_settings({**URLS, "blue_envio_config": "blue.yaml"}, {}, cwd=tmp_path, env={})
    assert settings.growing_chains == (8453,)  # 1: same sources; 10: new in green; 8453: one more address


def test_blue_envio_config_without_greens_is_refused(tmp_path: Path) -> None:
    (tmp_path / "blue.yaml").write_text(CONFIG)
    with pytest.raises(SettingsError, match=r"needs green's Envio config\.yaml"):
        build_settings({**URLS, "expected_chains": "1", "blue_envio_config": "blue.yaml"}, {}, cwd=tmp_path, env={})


def test_an_override_of_an_entity_the_schema_lacks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "schema.graphql").write_text("type Mint { id: ID! chainId: Int! blockNumber: BigInt! }\n")
    (tmp_path / "belt.toml").write_text('[entities.Mnit]\nmode = "C"\n')
    with pytest.raises(SettingsError, match=r"entities\.Mnit: the schema has no entity Mnit"):
        build_settings({**URLS, "mode": "parity"}, {}, config_path=tmp_path / "belt.toml", cwd=tmp_path, env={})


def test_a_schema_config_yaml_names_but_lacks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("schema: ./entities.graphql\n" + CONFIG)
    with pytest.raises(SettingsError, match="does not exist"):
        build_settings(URLS, {}, cwd=tmp_path, env={})
