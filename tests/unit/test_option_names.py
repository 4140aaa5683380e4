"""The plugin's options and the settings' known keys are one list (belt.toml rejects unknown keys)."""

from belt_gate.plugin import OPTIONS
from belt_gate.settings import OPTION_NAMES


def test_every_option_is_a_settings_key_and_back() -> None:
    assert {name for name, _, _ in OPTIONS} | {"rpc"} == set(OPTION_NAMES)


def test_every_option_is_used_by_a_plugin_test() -> None:
    """A cheap guard: an option added later without a pytester test that passes it fails here. (Which test
    shows each option's effect: the table in tests/plugin/test_option_coverage.py.)"""
    from pathlib import Path

    text = "".join(p.read_text() for p in (Path(__file__).resolve().parents[1] / "plugin").glob("test_*.py"))
    unused = [n for n in (*OPTION_NAMES, "config") if f"--belt-{n.replace('_', '-')}" not in text]
    assert unused == []
