"""Settings of the watch commands (`belt-gate status / dashboard / wait`): which belts, RPCs, alias.

Kept beside settings.py (whose parsers it uses: belt.toml, RPC lists) rather than inside it: certification
needs a green and a blue, watching needs any belts by name. Secrets only from the environment, registered
with redact.py at once, as for certification.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from belt_gate.envio import load_config
from belt_gate.errors import SettingsError
from belt_gate.redact import redact_url, register_secret
from belt_gate.settings import is_url, load_belt_toml, parse_rpc


@dataclass(frozen=True)
class WatchSettings:
    """What the watch commands read: belts by name (URL and admin-secret headers), chain RPCs, the alias's
    admin API, the promotion ledger and the certificate, and the head tolerance (blocks)."""

    belts: Mapping[str, str]
    headers: Mapping[str, Mapping[str, str]] = field(repr=False)
    rpc: Mapping[int, str] = field(repr=False)
    alias_admin: str | None = None
    ledger: Path | None = None
    report: Path | None = None
    head_tolerance: int = 10


def _tolerance(value: Any) -> int:
    try:
        n = int(str(value))
    except ValueError:
        raise SettingsError(f"head_tolerance: {value!r} is not a whole number") from None
    if n < 0:
        raise SettingsError("head_tolerance: must be at least 0")
    return n


def _pyproject_ini(cwd: Path) -> dict[str, Any]:
    """`belt_*` keys of [tool.pytest.ini_options] in ./pyproject.toml (what the plugin reads as ini)."""
    path = cwd / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        ini = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("pytest", {}).get("ini_options", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None
    return {k.removeprefix("belt_"): v for k, v in ini.items() if k.startswith("belt_") and v not in (None, "", [])}


def watch_settings(
    belts: list[str] | tuple[str, ...],
    rpc: list[str] | tuple[str, ...],
    *,
    config_path: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> WatchSettings:
    """Settings for the watch commands: `belts` are `NAME=URL` or `NAME` (taken from the settings: blue,
    green, alias); none given: every belt the settings name. `rpc` are `CHAIN=URL`, over the settings'.
    Sources, highest first: these arguments > pyproject's pytest ini > belt.toml (`config_path`, else
    ./belt.toml) > the Envio config.yaml's RPCs; secrets only from the environment, as for certification."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    toml_path = (
        config_path if config_path is not None else (cwd / "belt.toml" if (cwd / "belt.toml").is_file() else None)
    )
    merged: dict[str, Any] = {}
    if toml_path is not None:
        merged.update(load_belt_toml(toml_path if toml_path.is_absolute() else cwd / toml_path))
    merged.update(_pyproject_ini(cwd))
    known = {k: str(merged[k]) for k in ("blue", "green", "alias") if isinstance(merged.get(k), str) and merged[k]}
    chosen: dict[str, str] = {}
    for entry in belts:
        name, sep, url = entry.partition("=")
        name = name.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
            raise SettingsError(f"--belt {redact_url(entry)!r}: expected NAME=URL or NAME (letters, digits, . _ -)")
        if not sep:
            if name not in known:
                raise SettingsError(f"--belt {name}: the settings name no belt {name!r} (they name {sorted(known)})")
            url = known[name]
        if not is_url(url.strip()):
            raise SettingsError(f"--belt {name}: {redact_url(url)!r} is not an http(s) URL")
        chosen[name] = url.strip()
    if not belts:
        chosen = {k: v for k, v in known.items() if is_url(v)}
        if "alias" in chosen and "blue" in chosen and chosen["alias"] == chosen["blue"]:
            del chosen["alias"]
    if not chosen:
        raise SettingsError("no belt to watch: give --belt NAME=URL (or blue/green in belt.toml or pyproject)")
    urls: dict[int, str] = {}
    envio_path = merged.get("envio_config")
    envio_file = (cwd / str(envio_path)) if envio_path else cwd / "config.yaml"
    if envio_file.is_file():
        urls.update({c.chain_id: c.rpc_url for c in load_config(envio_file).chains if c.rpc_url and is_url(c.rpc_url)})
    for key, value in sorted(env.items()):
        if re.fullmatch(r"BELT_RPC_\d+", key) and value.strip():
            register_secret(value.strip())
            urls.update(parse_rpc([f"{key.removeprefix('BELT_RPC_')}={value}"], key))
    if merged.get("rpc"):
        urls.update(merged["rpc"] if isinstance(merged["rpc"], Mapping) else parse_rpc(merged["rpc"], "settings rpc"))
    urls.update(parse_rpc(list(rpc), "--rpc"))
    headers: dict[str, dict[str, str]] = {}
    for name in chosen:
        secret = env.get(f"BELT_{name.upper().replace('-', '_').replace('.', '_')}_ADMIN_SECRET") or env.get(
            "BELT_ADMIN_SECRET"
        )
        if secret:
            register_secret(secret)
        headers[name] = {"x-hasura-admin-secret": secret} if secret else {}

    def path(key: str) -> Path | None:
        v = merged.get(key)
        return None if not isinstance(v, str) or not v else (Path(v) if Path(v).is_absolute() else cwd / v)

    admin = merged.get("alias_admin")
    return WatchSettings(
        belts=chosen,
        headers=headers,
        rpc=urls,
        alias_admin=str(admin) if isinstance(admin, str) and admin else None,
        ledger=path("ledger"),
        report=path("report"),
        head_tolerance=_tolerance(merged.get("head_tolerance", 10)),
    )
