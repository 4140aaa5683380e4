"""The promotion part of the settings (`--belt-promote` and its options), checked together.

Called by `settings.build_settings` with the merged sources (CLI > ini > belt.toml); kept apart so the
promotion rules (exactly one swap target, a direct blue, the alias to watch) read in one place. Refusals
quote values as given: the plugin redacts the one line it prints (`pytest_configure`).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from belt_gate.errors import SettingsError


def _flag(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise SettingsError(f"{what}: expected true or false, not {str(value)!r}")


def _seconds(value: Any, what: str) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        raise SettingsError(f"{what}: {str(value)!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= 3600:
        raise SettingsError(f"{what}: must be between 0 and 3600 seconds, not {value!r}")
    return seconds


def promotion_settings(
    merged: Mapping[str, Any],
    path: Callable[[str], Path | None],
    *,
    config_path: Path | None,
    cwd: Path,
) -> dict[str, Any]:
    """Settings fields promote, alias_admin, swap_command, verify_window, ledger, dry_run (SettingsError)."""
    promote = _flag(merged.get("promote", False), "--belt-promote")
    dry_run = _flag(merged.get("dry_run", False), "--belt-dry-run")
    admin = merged.get("alias_admin")
    if admin is not None and not str(admin).startswith(("http://", "https://")):
        raise SettingsError(f"--belt-alias-admin must be the http(s) URL of Caddy's admin API, not {str(admin)!r}")
    raw = merged.get("swap_command")
    try:
        command = tuple(str(a) for a in raw) if isinstance(raw, (list, tuple)) else tuple(shlex.split(str(raw or "")))
    except ValueError as exc:
        raise SettingsError(f"--belt-swap-command: not a command line ({exc})") from None
    if command and not any("{to" in a for a in command[1:]):
        raise SettingsError("--belt-swap-command must pass the new upstream as {to} or {to_addr} in its arguments")
    window = _seconds(merged.get("verify_window", 10), "--belt-verify-window")
    if dry_run and not promote:
        raise SettingsError("--belt-dry-run shows what --belt-promote would change: give both")
    if promote:
        if not admin and not command:
            raise SettingsError(
                "--belt-promote needs a swap target: --belt-alias-admin=URL (Caddy) or --belt-swap-command"
            )
        if admin and command:
            raise SettingsError("--belt-promote takes one swap target: --belt-alias-admin or --belt-swap-command")
        if not merged.get("alias"):
            raise SettingsError(
                "--belt-promote needs --belt-alias=URL (what consumers call): the swap is watched there"
            )
        if not merged.get("blue"):
            raise SettingsError("--belt-promote needs --belt-blue=URL, blue's own address (not the alias)")
    base = (config_path if config_path.is_absolute() else cwd / config_path).parent if config_path else cwd
    return {
        "promote": promote,
        "alias_admin": str(admin) if admin else None,
        "swap_command": command,
        "verify_window": window,
        "ledger": path("ledger") or base / "belt-ledger.jsonl",
        "dry_run": dry_run,
    }
