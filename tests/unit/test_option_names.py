"""The plugin's options and the settings' known keys are one list (belt.toml rejects unknown keys)."""

from belt_gate.plugin import OPTIONS
from belt_gate.settings import OPTION_NAMES


def test_every_option_is_a_settings_key_and_back() -> None:
    assert {name for name, _, _ in OPTIONS} | {"rpc"} == set(OPTION_NAMES)
