"""Validated settings from every source, one precedence: CLI > pytest ini > belt.toml > Envio files.

Nothing else in belt_gate reads options, ini values or environment variables. Secrets come only from
the environment (admin secrets: BELT_BLUE_ADMIN_SECRET, BELT_GREEN_ADMIN_SECRET or BELT_ADMIN_SECRET;
RPC URLs with keys may come from BELT_RPC_<CHAIN>) and are registered with redact.py at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from belt_gate.envio import (
    BLOCK_FIELDS,
    TIMESTAMP_FIELDS,
    EnvioConfig,
    EnvioSchema,
    Mode,
    chain_sources,
    load_config,
    load_schema,
)
from belt_gate.errors import SettingsError
from belt_gate.redact import redact_url, register_secret

MODES = ("parity", "expansion")
OPTION_NAMES = (
    "blue",
    "green",
    "alias",
    "mode",
    "expected_chains",
    "envio_config",
    "schema",
    "blue_schema",
    "green_schema",
    "rpc",
    "report",
    "record",
    "golden",
    "seed",
    "sample",
    "settle_timeout",
    "timeout",
    "reorg_margin",
    "head_tolerance",
    "blue_envio_config",
)


@dataclass(frozen=True)
class Tolerance:
    rel: Decimal = Decimal(0)
    abs: int = 0

    @property
    def exact(self) -> bool:
        return self.rel == 0 and self.abs == 0

    def allowed(self, baseline: int) -> int:
        """max(ceil(rel × baseline), abs): the prior system's model; exact unless configured."""
        rel = int((self.rel * baseline).to_integral_value(rounding="ROUND_CEILING"))
        return max(rel, self.abs)


@dataclass(frozen=True)
class EntitySettings:
    mode: Mode | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)


@dataclass(frozen=True)
class Settings:
    blue: str
    green: str
    mode: str = "parity"
    alias: str | None = None
    expected_chains: tuple[int, ...] = ()
    config_chains: tuple[int, ...] = ()
    #: expansion: shared chains whose sources (contracts, addresses, events) green's config.yaml extends
    #: beyond blue's; there shared entities may grow. Every other shared chain is compared exactly.
    growing_chains: tuple[int, ...] = ()
    schema: EnvioSchema | None = None
    blue_schema: EnvioSchema | None = None
    green_schema: EnvioSchema | None = None
    rpc: Mapping[int, str] = field(default_factory=dict)
    report: Path | None = None
    record: Path | None = None
    golden: Path = Path("golden")
    seed: int = 0
    sample: int = 5
    settle_timeout: float = 30.0
    timeout: float = 30.0
    reorg_margin: int = 0
    head_tolerance: int = 10
    entities: Mapping[str, EntitySettings] = field(default_factory=dict)
    audits: tuple[Mapping[str, Any], ...] = ()
    blue_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    green_headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def entity_mode(self, name: str, inferred: Mode) -> Mode:
        override = self.entities.get(name)
        return override.mode if override and override.mode else inferred

    def tolerance(self, name: str) -> Tolerance:
        override = self.entities.get(name)
        return override.tolerance if override else Tolerance()

    def digest(self) -> str:
        """A stable hash of what decides verdicts (redacted URLs; no secrets)."""
        doc = {
            "blue": redact_url(self.blue),
            "green": redact_url(self.green),
            "mode": self.mode,
            "expected_chains": self.expected_chains,
            "config_chains": self.config_chains,
            "growing_chains": self.growing_chains,
            "entities": self.schema.entity_names if self.schema else None,
            "rpc": {str(k): redact_url(v) for k, v in sorted(self.rpc.items())},
            "seed": self.seed,
            "sample": self.sample,
            "reorg_margin": self.reorg_margin,
            "head_tolerance": self.head_tolerance,
            "overrides": {
                k: {"mode": v.mode, "rel": str(v.tolerance.rel), "abs": v.tolerance.abs}
                for k, v in sorted(self.entities.items())
            },
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {
            "blue": redact_url(self.blue),
            "green": redact_url(self.green),
            "mode": self.mode,
            "alias": redact_url(self.alias) if self.alias else None,
            "expected_chains": list(self.expected_chains),
            "growing_chains": list(self.growing_chains),
            "rpc": {str(k): redact_url(v) for k, v in sorted(self.rpc.items())},
            "seed": self.seed,
            "sample": self.sample,
            "digest": self.digest(),
            "tolerances": {
                k: asdict(v.tolerance) | {"rel": str(v.tolerance.rel)} for k, v in sorted(self.entities.items())
            },
        }


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def normalise_url(url: str) -> str:
    """Scheme/host case, default ports, localhost and a trailing slash do not make two URLs differ."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise SettingsError(f"not a valid URL: {redact_url(url)}") from None
    if host in ("localhost", "::1"):
        host = "127.0.0.1"
    scheme = parts.scheme.lower()
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        netloc = host
    else:
        netloc = f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}?{parts.query}"


def parse_chain_list(value: Any, what: str) -> tuple[int, ...]:
    items: list[Any]
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = list(json.loads(text))
            except (json.JSONDecodeError, TypeError):
                raise SettingsError(f"{what}: not a list of chain ids: {value!r}") from None
        else:
            items = [p for p in re.split(r"[,\s]+", text) if p]
    else:
        raise SettingsError(f"{what}: not a list of chain ids: {value!r}")
    out = []
    for item in items:
        try:
            chain = int(str(item))
        except ValueError:
            raise SettingsError(f"{what}: {item!r} is not a chain id") from None
        if chain <= 0:
            raise SettingsError(f"{what}: {chain} is not a chain id")
        out.append(chain)
    return tuple(sorted(set(out)))


def parse_rpc(values: Any, what: str) -> dict[int, str]:
    out: dict[int, str] = {}
    if isinstance(values, Mapping):
        pairs = [(str(k), str(v)) for k, v in values.items()]
    else:
        pairs = []
        for v in values or []:
            chain, sep, url = str(v).partition("=")
            if not sep:
                raise SettingsError(f"{what}: expected CHAIN=URL, got {redact_url(str(v))!r}")
            pairs.append((chain, url))
    for chain, url in pairs:
        if not chain.strip().isdigit():
            raise SettingsError(f"{what}: {chain!r} is not a chain id")
        if not is_url(url.strip()):
            raise SettingsError(f"{what}: RPC for chain {chain} is not an http(s) URL")
        out[int(chain)] = url.strip()
    return out


def _number(value: Any, what: str, kind: Callable[[str], Any], minimum: float = 0) -> Any:
    try:
        parsed = kind(str(value))
    except (ValueError, InvalidOperation):
        raise SettingsError(f"{what}: {value!r} is not a number") from None
    if parsed < minimum:
        raise SettingsError(f"{what}: must be at least {minimum}")
    return parsed


def _entity_settings(raw: Any, source: str) -> dict[str, EntitySettings]:
    out = {}
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{source}: [entities] must be a table")
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise SettingsError(f"{source}: entities.{name} must be a table")
        mode = spec.get("mode")
        if mode is not None and mode not in ("A", "B", "C"):
            raise SettingsError(f"{source}: entities.{name}.mode must be A, B or C")
        tol = spec.get("tolerance", {})
        if not isinstance(tol, Mapping):
            raise SettingsError(f"{source}: entities.{name}.tolerance must be a table")
        tolerance = Tolerance(
            _number(tol.get("rel", 0), f"{source}: entities.{name}.tolerance.rel", Decimal),
            _number(tol.get("abs", 0), f"{source}: entities.{name}.tolerance.abs", int),
        )
        out[str(name)] = EntitySettings(Mode(mode) if mode else None, tolerance)
    return out


def _check_modes(entities: Mapping[str, EntitySettings], schema: EnvioSchema, source: str) -> None:
    """A mode override must be one the entity can be compared in (A needs a block field, B a timestamp)."""
    for name, spec in entities.items():
        entity = schema.entity(name)
        if entity is None:  # a typo would otherwise leave the intended entity on its defaults, silently
            raise SettingsError(
                f"{source}: entities.{name}: the schema has no entity {name} (it has {', '.join(schema.entity_names)})"
            )
        if spec.mode is None:
            continue
        if spec.mode == Mode.AT_BLOCK and entity.block_column is None:
            raise SettingsError(
                f"{source}: entities.{name}.mode A needs a block number field "
                f"({' or '.join(BLOCK_FIELDS)}); {name} has none"
            )
        if spec.mode == Mode.AT_TIMESTAMP and entity.timestamp_column is None:
            raise SettingsError(
                f"{source}: entities.{name}.mode B needs a timestamp field "
                f"({' or '.join(TIMESTAMP_FIELDS)}); {name} has none"
            )


def load_belt_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    belt = data.get("belt", {})
    if not isinstance(belt, dict):
        raise SettingsError(f"{path}: [belt] must be a table")
    unknown = set(belt) - set(OPTION_NAMES)
    if unknown:
        raise SettingsError(f"{path}: unknown key(s) in [belt]: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {k: v for k, v in belt.items()}
    if "entities" in data:
        out["entities"] = _entity_settings(data["entities"], str(path))
    if "audit" in data:
        if not isinstance(data["audit"], list):
            raise SettingsError(f"{path}: [[audit]] must be an array of tables")
        out["audits"] = tuple(data["audit"])
    return out


def _headers(env: Mapping[str, str], belt: str) -> dict[str, str]:
    secret = env.get(f"BELT_{belt.upper()}_ADMIN_SECRET") or env.get("BELT_ADMIN_SECRET")
    if not secret:
        return {}
    register_secret(secret)
    return {"x-hasura-admin-secret": secret}


def build_settings(
    cli: Mapping[str, Any],
    ini: Mapping[str, Any],
    *,
    config_path: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every source into validated Settings, or raise SettingsError with one readable line."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    layers: list[Mapping[str, Any]] = []
    if config_path is not None:
        layers.append(load_belt_toml(config_path if config_path.is_absolute() else cwd / config_path))
    layers.append({k: v for k, v in ini.items() if v not in (None, "", [])})
    layers.append({k: v for k, v in cli.items() if v not in (None, "", [])})
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)

    def path(key: str) -> Path | None:
        v = merged.get(key)
        return None if v is None else (Path(v) if Path(v).is_absolute() else cwd / str(v))

    envio_path = path("envio_config")
    envio: EnvioConfig | None = None
    if envio_path is not None:
        envio = load_config(envio_path)
    elif (cwd / "config.yaml").exists():
        envio = load_config(cwd / "config.yaml")
        envio_path = cwd / "config.yaml"
    schema_path = path("schema")
    if schema_path is None and envio is not None and envio_path is not None:
        candidate = envio_path.parent / (envio.schema_path or "schema.graphql")
        if envio.schema_path and not candidate.exists():
            raise SettingsError(f"{envio_path}: schema: {envio.schema_path} does not exist ({candidate})")
        schema_path = candidate if candidate.exists() else None
    if schema_path is None and (cwd / "schema.graphql").exists():
        schema_path = cwd / "schema.graphql"
    schema = load_schema(schema_path) if schema_path else None
    entities: Mapping[str, EntitySettings] = merged.get("entities", {})
    if schema is not None:
        _check_modes(entities, schema, str(config_path))
    audits = tuple(merged.get("audits", ()))
    if audits:
        from belt_gate.rules.audit import parse_audits

        parse_audits(audits, source=f"{config_path}: [[audit]]")
    blue_schema = load_schema(p) if (p := path("blue_schema")) else None
    green_schema = load_schema(p) if (p := path("green_schema")) else None

    mode = str(merged.get("mode", "parity"))
    if mode not in MODES:
        raise SettingsError(f"--belt-mode must be parity or expansion, not {mode!r}")
    green = merged.get("green")
    if not green:
        raise SettingsError("no green: give --belt-green=URL (the candidate deployment's GraphQL endpoint)")
    alias = merged.get("alias")
    blue = merged.get("blue") or alias
    if not blue:
        raise SettingsError("no blue and no alias: give --belt-blue=URL, or set the alias in the settings")
    for name, value in (("blue", merged.get("blue")), ("green", green), ("alias", alias)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise SettingsError(f"--belt-{name} must be a URL or a recorded snapshot file")
        if not is_url(value) and not (cwd / value).is_file() and not Path(value).is_file():
            raise SettingsError(f"--belt-{name}: {redact_url(value)!r} is neither an http(s) URL nor a file")
    if is_url(blue) and is_url(green) and normalise_url(blue) == normalise_url(green):
        raise SettingsError(f"green is blue ({redact_url(green)}): refusing to certify a belt against itself")
    if not is_url(blue) and not is_url(green) and Path(blue).resolve() == Path(green).resolve():
        raise SettingsError("green is blue (same recorded snapshot): refusing to certify a belt against itself")

    expected = parse_chain_list(merged["expected_chains"], "expected chains") if merged.get("expected_chains") else ()
    if mode == "expansion" and not expected and envio is not None:
        expected = envio.chain_ids  # the project's own config.yaml declares them, not green
    if mode == "expansion" and not expected:
        raise SettingsError(
            "expansion needs the expected chains (--belt-expected-chains=1,10,..., or the networks of the "
            "Envio config.yaml): green cannot attest its own completeness"
        )
    growing: tuple[int, ...] = ()
    if (blue_envio_path := path("blue_envio_config")) is not None:
        if envio is None:
            raise SettingsError(
                "--belt-blue-envio-config needs green's Envio config.yaml too "
                "(--belt-envio-config, or ./config.yaml) to compare their sources"
            )
        blue_envio = load_config(blue_envio_path)
        growing = tuple(
            sorted(
                c
                for c in set(envio.chain_ids) & set(blue_envio.chain_ids)
                if chain_sources(envio, c) != chain_sources(blue_envio, c)
            )
        )
    rpc: dict[int, str] = {}
    if envio is not None:
        rpc.update({c.chain_id: c.rpc_url for c in envio.chains if c.rpc_url and is_url(c.rpc_url)})
    for key, value in env.items():
        m = re.fullmatch(r"BELT_RPC_(\d+)", key)
        if m and value:
            rpc.update(parse_rpc([f"{m.group(1)}={value}"], key))
    rpc.update(parse_rpc(merged.get("rpc") or [], "--belt-rpc"))

    report = path("report")
    record = path("record")
    golden = path("golden") or cwd / "golden"
    return Settings(
        blue=str(blue),
        green=str(green),
        mode=mode,
        alias=str(alias) if alias else None,
        expected_chains=expected,
        config_chains=envio.chain_ids if envio else (),
        growing_chains=growing,
        schema=schema,
        blue_schema=blue_schema,
        green_schema=green_schema,
        rpc=rpc,
        report=report,
        record=record,
        golden=golden,
        seed=_number(merged.get("seed", 0), "--belt-seed", int),
        sample=_number(merged.get("sample", 5), "--belt-sample", int, 1),  # 0 would compare no row, silently
        settle_timeout=_number(merged.get("settle_timeout", 30), "--belt-settle-timeout", float),
        timeout=_number(merged.get("timeout", 30), "--belt-timeout", float, 0.001),
        reorg_margin=_number(merged.get("reorg_margin", 0), "--belt-reorg-margin", int),
        head_tolerance=_number(merged.get("head_tolerance", 10), "--belt-head-tolerance", int),
        entities=entities,
        audits=audits,
        blue_headers=_headers(env, "blue"),
        green_headers=_headers(env, "green"),
    )
