"""Validated settings from every source, one precedence: CLI > environment (BELT_BLUE, BELT_GREEN,
BELT_ALIAS) > pytest ini > belt.toml > Envio files.

Nothing else in belt_gate reads options, ini values or environment variables. Secrets come only from
the environment (admin secrets: BELT_BLUE_ADMIN_SECRET, BELT_GREEN_ADMIN_SECRET or BELT_ADMIN_SECRET;
RPC URLs with keys may come from BELT_RPC_<CHAIN>, endpoints from BELT_BLUE/BELT_GREEN/BELT_ALIAS) and
are gathered in `Settings.secrets` (`environment_secrets`). Building settings registers nothing anywhere:
the caller activates the set for its process (`redact.use(settings.secrets)`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from belt_gate.endpoint_identity import InvalidEndpoint, location, resolve, same_endpoint
from belt_gate.envio import (
    BLOCK_FIELDS,
    TIMESTAMP_FIELDS,
    EnvioConfig,
    EnvioSchema,
    Reconciliation,
    chain_sources,
    load_config,
    load_schema,
    read_text,
)
from belt_gate.errors import SettingsError
from belt_gate.numbers import Tolerance
from belt_gate.promote_settings import promotion_settings
from belt_gate.redact import MASK, Secrets, active, redact_text, redact_url

if TYPE_CHECKING:
    from belt_gate.audit_spec import AuditSpec
    from belt_gate.localise import Budget

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
    # where counts differ, the differing rows (belt_gate.localise)
    "localise_budget",
    "store_failures",
    # promotion (belt_gate.promote)
    "promote",
    "alias_admin",
    "swap_command",
    "verify_window",
    "ledger",
    "dry_run",
)
#: [belt] keys by the TOML types they take (a number may also be written as a string, as on the command line).
_INT_KEYS = frozenset({"seed", "sample", "reorg_margin", "head_tolerance"})
_SECONDS_KEYS = frozenset({"settle_timeout", "timeout", "verify_window"})
_FLAG_KEYS = frozenset({"promote", "dry_run"})  # true/false; swap_command may also be a list of arguments
_TEXT_KEYS = (
    frozenset(OPTION_NAMES) - _INT_KEYS - _SECONDS_KEYS - _FLAG_KEYS - {"expected_chains", "rpc", "swap_command"}
)
_ENTITY_KEYS = ("reconciliation", "tolerance", "block_field", "time_field")
#: The old spelling of `[entities.X] reconciliation` (still read, same meaning).
_OLD_RECONCILIATION_KEY = "mode"
#: EIP-155 chain ids are positive and fit in 63 bits (EIP-2294).
MAX_CHAIN_ID = 2**63 - 1
#: A secret shorter than this cannot be masked in output (redact.py ignores it), so it is refused.
MIN_SECRET_LENGTH = 4
ADMIN_SECRET_VARS = ("BELT_BLUE_ADMIN_SECRET", "BELT_GREEN_ADMIN_SECRET", "BELT_ADMIN_SECRET")
#: Endpoints the environment may give (a CI job's secrets: URLs may carry keys, so each value is a secret
#: whole). Below the command line, above the pytest ini and belt.toml.
ENV_ENDPOINTS = {"BELT_BLUE": "blue", "BELT_GREEN": "green", "BELT_ALIAS": "alias"}


class SecretHeaders(dict[str, str]):
    """HTTP headers whose values are secrets (the admin secret): its repr shows the names only."""

    def __repr__(self) -> str:
        return repr({k: MASK for k in self})


class RpcUrls(dict[int, str]):
    """chain -> RPC URL (which may carry a key): its repr shows the URLs redacted (with `secrets`, the
    settings' own, and the set in use)."""

    def __init__(self, urls: Mapping[int, str] | None = None, *, secrets: Secrets | None = None) -> None:
        super().__init__(urls or {})
        self.secrets = secrets or Secrets()

    def __repr__(self) -> str:
        secrets = self.secrets | active()
        return repr({k: redact_text(v, secrets) for k, v in self.items()})


@dataclass(frozen=True)
class EntitySettings:
    """`[entities.X]` of belt.toml: a reconciliation (A/B/C), a tolerance, and the fields carrying the entity's
    block or time."""

    reconciliation: Reconciliation | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)
    block_field: str | None = None
    time_field: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything one certification run is told: the two belts, the mode (parity or expansion), the chains, schemas,
    RPCs, sampling, localisation and secrets; built once by `build_settings` and frozen."""

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
    #: where counts differ: the bisection's budget (None: localise.Budget()) and the folder of failure JSONL
    localise_budget: Budget | None = None
    store_failures: Path | None = None
    entities: Mapping[str, EntitySettings] = field(default_factory=dict)
    #: the [[audit]] tables, parsed once here (belt_gate/audit_spec.py)
    audits: tuple[AuditSpec, ...] = ()
    blue_headers: Mapping[str, str] = field(default_factory=SecretHeaders, repr=False)
    green_headers: Mapping[str, str] = field(default_factory=SecretHeaders, repr=False)
    #: what redact.py must hide in this run's output (from the environment; `environment_secrets`)
    secrets: Secrets = field(default_factory=Secrets, repr=False, compare=False)
    #: promotion (belt_gate.promote): swap the alias after a certified session; exactly one swap target
    promote: bool = False
    alias_admin: str | None = None
    swap_command: tuple[str, ...] = ()
    verify_window: float = 10.0
    ledger: Path = Path("belt-ledger.jsonl")
    dry_run: bool = False

    def __repr__(self) -> str:
        """Every URL redacted, header values masked, schemas summarised: safe under --showlocals/--fulltrace."""
        shown = []
        secrets = self.secrets | active()
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("blue", "green", "alias"):
                text = repr(redact_text(v, secrets) if v else v)
            elif f.name == "rpc":
                text = repr({k: redact_text(u, secrets) for k, u in v.items()})
            elif f.name.endswith("_headers"):
                text = repr({k: MASK for k in v})
            elif isinstance(v, EnvioSchema):
                text = f"<EnvioSchema: {len(v.entities)} entities>"
            else:
                text = redact_text(repr(v), secrets)
            shown.append(f"{f.name}={text}")
        return f"Settings({', '.join(shown)})"

    def target(self, belt: str) -> tuple[str, Mapping[str, str]]:
        """A belt's URL (or recorded snapshot file) and the headers it is asked with."""
        return (self.blue, self.blue_headers) if belt == "blue" else (self.green, self.green_headers)

    def recorded(self, belt: str) -> bool:
        """Is this belt a recorded snapshot file, not a live URL? (Asked here and nowhere else.)"""
        return not is_url(self.target(belt)[0])

    def entity_reconciliation(self, name: str, inferred: Reconciliation) -> Reconciliation:
        """How entity `name` is reconciled: the reconciliation the settings give it, else `inferred` (what its columns
        imply)."""
        override = self.entities.get(name)
        return override.reconciliation if override and override.reconciliation else inferred

    def tolerance(self, name: str) -> Tolerance:
        """The numeric tolerance the settings give entity `name`; none (exact comparison) by default."""
        override = self.entities.get(name)
        return override.tolerance if override else Tolerance()

    def digest(self) -> str:
        """A stable hash of what decides verdicts (URLs redacted with these settings' own secrets, so the
        same settings give the same digest in every process)."""
        doc = {
            "blue": redact_url(self.blue, self.secrets),
            "green": redact_url(self.green, self.secrets),
            "mode": self.mode,
            "expected_chains": self.expected_chains,
            "config_chains": self.config_chains,
            "growing_chains": self.growing_chains,
            "entities": self.schema.entity_names if self.schema else None,
            "rpc": {str(k): redact_url(v, self.secrets) for k, v in sorted(self.rpc.items())},
            "seed": self.seed,
            "sample": self.sample,
            "reorg_margin": self.reorg_margin,
            "head_tolerance": self.head_tolerance,
            "overrides": {
                k: {"reconciliation": v.reconciliation, "rel": str(v.tolerance.rel), "abs": v.tolerance.abs}
                | ({"block_field": v.block_field} if v.block_field else {})
                | ({"time_field": v.time_field} if v.time_field else {})
                for k, v in sorted(self.entities.items())
            },
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """The settings as the certificate shows them, every URL redacted with these settings' secrets and the active
        set, and the digest that identifies them."""
        secrets = self.secrets | active()
        return {
            "blue": redact_text(self.blue, secrets),
            "green": redact_text(self.green, secrets),
            "mode": self.mode,
            "alias": redact_text(self.alias, secrets) if self.alias else None,
            "expected_chains": list(self.expected_chains),
            "growing_chains": list(self.growing_chains),
            "rpc": {str(k): redact_text(v, secrets) for k, v in sorted(self.rpc.items())},
            "seed": self.seed,
            "sample": self.sample,
            "digest": self.digest(),
            "tolerances": {
                k: asdict(v.tolerance) | {"rel": str(v.tolerance.rel)} for k, v in sorted(self.entities.items())
            },
        }


def is_url(value: str) -> bool:
    """True for an http(s) URL: the option is an endpoint to query, not a recorded file to replay."""
    return value.startswith(("http://", "https://"))


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def chain_id(value: Any, what: str) -> int:
    """A chain id: a positive integer (written as one, or in ASCII digits) of at most 63 bits, else SettingsError."""
    if isinstance(value, int) and not isinstance(value, bool):
        chain = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):
        chain = int(value)
    else:
        shown = redact_text(repr(value)) if isinstance(value, (str, float)) else _toml_type(value)
        raise SettingsError(f"{what}: {shown} is not a chain id (a positive integer)")
    if not 0 < chain <= MAX_CHAIN_ID:
        raise SettingsError(f"{what}: {chain} is not a chain id (a positive integer below 2**63)")
    return chain


def parse_chain_list(value: Any, what: str) -> tuple[int, ...]:
    """Chain ids from an option or config value (a list, or text as a JSON list or comma/space separated); SettingsError
    naming `what` when an item is not a chain id."""
    items: list[Any]
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                raise SettingsError(f"{what}: not a list of chain ids: {redact_text(repr(value))}") from None
            if not isinstance(parsed, list):
                raise SettingsError(f"{what}: not a list of chain ids: {redact_text(repr(value))}")
            items = parsed
        else:
            items = [p for p in re.split(r"[,\s]+", text) if p]
    else:
        shown = repr(value) if isinstance(value, (int, float)) else _toml_type(value)
        raise SettingsError(f"{what}: not a list of chain ids: {shown}")
    return tuple(sorted({chain_id(item, what) for item in items}))


def parse_rpc(values: Any, what: str) -> dict[int, str]:
    """CHAIN=URL lines, or a {chain: URL} table -> {chain: URL}. A chain named twice is refused (which URL was
    meant?). No message shows a URL: it may carry a key."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(values, Mapping):
        pairs = list(values.items())
    elif isinstance(values, (list, tuple)):
        for v in values:
            if not isinstance(v, str):
                raise SettingsError(f"{what}: expected CHAIN=URL strings, got {_toml_type(v)}")
            name, sep, url = v.partition("=")
            if not sep:
                raise SettingsError(f"{what}: expected CHAIN=URL (e.g. 8453=https://...), got a value without '='")
            pairs.append((name, url))
    else:
        raise SettingsError(f"{what}: expected CHAIN=URL lines or a table of chain = URL, got {_toml_type(values)}")
    out: dict[int, str] = {}
    for raw_chain, raw_url in pairs:
        chain = chain_id(raw_chain, what)
        if not isinstance(raw_url, str) or not is_url(raw_url.strip()):
            raise SettingsError(f"{what}: RPC for chain {chain} is not an http(s) URL")
        try:
            location(raw_url)
        except InvalidEndpoint as exc:
            raise SettingsError(f"{what}: RPC for chain {chain}: {exc}") from None
        if chain in out:
            raise SettingsError(f"{what}: chain {chain} is given twice: give one RPC URL per chain")
        out[chain] = raw_url.strip()
    return out


def _number(value: Any, what: str, kind: Callable[[str], Any], minimum: float = 0) -> Any:
    """`value` as `kind` (int, float, Decimal), finite and at least `minimum`, else SettingsError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise SettingsError(f"{what}: {_toml_type(value)} is not a number")
    try:
        parsed = kind(str(value).strip())
    except (ValueError, InvalidOperation):
        raise SettingsError(f"{what}: {redact_text(repr(value))} is not a number") from None
    finite = (
        True
        if isinstance(parsed, int)
        else parsed.is_finite()
        if isinstance(parsed, Decimal)
        else math.isfinite(parsed)
    )
    if not finite:
        raise SettingsError(f"{what}: {value} is not a finite number")
    if parsed < minimum:
        raise SettingsError(f"{what}: must be at least {minimum}")
    return parsed


def _seconds(value: Any, what: str, *, minimum: float = 0.001) -> float:
    """A time in seconds: finite and at least `minimum` (a deadline or a wait of no time is refused)."""
    return float(_number(value, what, float, minimum))


def _field_name(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{what} must name a field of the entity (a non-empty string)")
    return value.strip()


def _reconciliation(spec: Mapping[str, Any], where: str) -> Reconciliation | None:
    """`reconciliation = "A"|"B"|"C"` of an `[entities.X]` table (or its old spelling `mode`; both only if
    they agree), None if neither is given."""
    given = {k: spec[k] for k in ("reconciliation", _OLD_RECONCILIATION_KEY) if k in spec}
    if len({repr(v) for v in given.values()}) > 1:
        raise SettingsError(
            f"{where}: reconciliation = {given['reconciliation']!r} and mode = {given['mode']!r} disagree "
            "(mode is the old name of reconciliation: give one)"
        )
    for key, value in given.items():
        if value not in ("A", "B", "C"):
            raise SettingsError(f"{where}.{key} must be A, B or C")
        return Reconciliation(value)
    return None


def _entity_settings(raw: Any, source: str) -> dict[str, EntitySettings]:
    out = {}
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{source}: [entities] must be a table")
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise SettingsError(f"{source}: entities.{name} must be a table")
        unknown = set(spec) - {*_ENTITY_KEYS, _OLD_RECONCILIATION_KEY}
        if unknown:
            known = ", ".join(_ENTITY_KEYS)
            raise SettingsError(
                f"{source}: entities.{name}: unknown key(s) {', '.join(sorted(unknown))} (known: {known})"
            )
        reconciliation = _reconciliation(spec, f"{source}: entities.{name}")
        tol = spec.get("tolerance", {})
        if not isinstance(tol, Mapping):
            raise SettingsError(f"{source}: entities.{name}.tolerance must be a table")
        if extra := sorted(set(tol) - {"rel", "abs"}):
            raise SettingsError(
                f"{source}: entities.{name}.tolerance: unknown key(s) {', '.join(extra)} (known: rel, abs)"
            )
        tolerance = Tolerance(
            _number(tol.get("rel", 0), f"{source}: entities.{name}.tolerance.rel", Decimal),
            _number(tol.get("abs", 0), f"{source}: entities.{name}.tolerance.abs", int),
        )
        out[str(name)] = EntitySettings(
            reconciliation,
            tolerance,
            _field_name(spec.get("block_field"), f"{source}: entities.{name}.block_field"),
            _field_name(spec.get("time_field"), f"{source}: entities.{name}.time_field"),
        )
    return out


def _apply_entities(entities: Mapping[str, EntitySettings], schema: EnvioSchema, source: str) -> EnvioSchema:
    """The schema with each entity's configured block/time fields pinned; refuses an override of an entity the
    schema lacks and a reconciliation the entity cannot be compared in (A needs a block field, B a time field)."""
    for name, spec in entities.items():
        entity = schema.entity(name)
        if entity is None:  # a typo would otherwise leave the intended entity on its defaults, silently
            raise SettingsError(
                f"{source}: entities.{name}: the schema has no entity {name} (it has {', '.join(schema.entity_names)})"
            )
        if spec.block_field or spec.time_field:
            entity = entity.pinned(block_field=spec.block_field, time_field=spec.time_field, source=source)
            schema = schema.with_entity(entity)
        if spec.reconciliation == Reconciliation.AT_BLOCK and entity.block_column is None:
            raise SettingsError(
                f"{source}: entities.{name}: reconciliation A (at block) needs a block number field "
                f"({' or '.join(BLOCK_FIELDS)}); {name} has none (name its field: block_field = ...)"
            )
        if spec.reconciliation == Reconciliation.AT_TIMESTAMP and entity.timestamp_column is None:
            raise SettingsError(
                f"{source}: entities.{name}: reconciliation B (at timestamp) needs a timestamp field "
                f"({' or '.join(TIMESTAMP_FIELDS)}); {name} has none (name its field: time_field = ...)"
            )
    return schema


def _check_belt_types(belt: Mapping[str, Any], source: str) -> None:
    """Each [belt] value has the TOML type its key takes (`golden = 5` is no folder)."""
    for key, value in belt.items():
        if key in ("blue", "green", "alias"):
            if not isinstance(value, str):
                given = f"[belt] {key} is {_toml_type(value)}"
                raise SettingsError(f"{source}: --belt-{key} must be a URL or a recorded snapshot file ({given})")
            continue
        if key in _TEXT_KEYS:
            ok = isinstance(value, str)
            wanted = "a string"
        elif key in _INT_KEYS:
            ok = isinstance(value, (int, str)) and not isinstance(value, bool)
            wanted = "an integer"
        elif key in _SECONDS_KEYS:
            ok = isinstance(value, (int, float, str)) and not isinstance(value, bool)
            wanted = "a number of seconds"
        elif key in _FLAG_KEYS:
            ok = isinstance(value, bool)
            wanted = "true or false"
        elif key == "swap_command":
            ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(a, str) for a in value))
            wanted = "a command line or an array of its arguments"
        elif key == "expected_chains":
            continue  # parse_chain_list says what it takes
        else:  # rpc
            ok = isinstance(value, (list, dict))
            wanted = 'an array of "CHAIN=URL" strings or a table of chain = URL'
        if not ok:
            raise SettingsError(f"{source}: [belt] {key} must be {wanted}, not {_toml_type(value)}")


def load_belt_toml(path: Path) -> dict[str, Any]:
    """The `[belt]` table of a belt.toml as options (`path` the file); SettingsError when the file is not TOML, the
    table holds an unknown key, or a value has the wrong type."""
    try:
        data = tomllib.loads(read_text(path, "belt config"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    belt = data.get("belt", {})
    if not isinstance(belt, dict):
        raise SettingsError(f"{path}: [belt] must be a table")
    unknown = set(belt) - set(OPTION_NAMES)
    if unknown:
        raise SettingsError(f"{path}: unknown key(s) in [belt]: {', '.join(sorted(unknown))}")
    _check_belt_types(belt, str(path))
    out: dict[str, Any] = {k: v for k, v in belt.items()}
    if "rpc" in out:
        out["rpc"] = parse_rpc(out["rpc"], f"{path}: [belt] rpc")  # duplicates are seen only within one source
    if "entities" in data:
        out["entities"] = _entity_settings(data["entities"], str(path))
    if "audit" in data:
        if not isinstance(data["audit"], list):
            raise SettingsError(f"{path}: [[audit]] must be an array of tables")
        out["audits"] = tuple(data["audit"])
    return out


def _env_endpoints(env: Mapping[str, str]) -> dict[str, str]:
    """blue / green / alias from BELT_BLUE, BELT_GREEN, BELT_ALIAS (each a secret whole: `environment_secrets`)."""
    return {key: env[var].strip() for var, key in ENV_ENDPOINTS.items() if env.get(var, "").strip()}


_ADMIN_SECRET_VAR = re.compile(r"BELT_(?:\w+_)?ADMIN_SECRET")


def environment_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    """What the environment (default: os.environ) holds that output must never show, each value as a whole:
    every admin secret (`BELT_ADMIN_SECRET`, `BELT_<BELT>_ADMIN_SECRET`), the endpoints `BELT_BLUE`,
    `BELT_GREEN`, `BELT_ALIAS`, and what redact.py takes for secret by its name (every `BELT_RPC_<CHAIN>`
    value, variables named like a token or key). A value: nothing is registered; the caller `redact.use`s it.
    Known before anything is parsed, so a refusal of the settings is redacted with it too."""
    env = os.environ if env is None else env
    admin = (v for k, v in env.items() if _ADMIN_SECRET_VAR.fullmatch(k))
    endpoints = (env.get(var, "").strip() for var in ENV_ENDPOINTS)
    return Secrets.from_environment(env) | Secrets.of(*admin, *endpoints)


def _env_rpc(env: Mapping[str, str]) -> dict[int, str]:
    """The RPC URLs of BELT_RPC_<CHAIN>; an admin secret too short to hide, or two variables naming one
    chain, are refused."""
    for var in ADMIN_SECRET_VARS:
        value = env.get(var)
        if value and len(value) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"{var} is shorter than {MIN_SECRET_LENGTH} characters: belt_gate cannot keep it out of its output"
            )
    rpc_vars = sorted(k for k, v in env.items() if k.startswith("BELT_RPC_") and v.strip())
    out: dict[int, str] = {}
    named: dict[int, str] = {}
    for key in rpc_vars:
        chain = chain_id(key.removeprefix("BELT_RPC_"), key)
        if chain in named:
            raise SettingsError(f"{named[chain]} and {key} both name chain {chain}: set one")
        named[chain] = key
        out.update(parse_rpc([f"{chain}={env[key]}"], key))
    return out


def _headers(env: Mapping[str, str], belt: str) -> SecretHeaders:
    secret = env.get(f"BELT_{belt.upper()}_ADMIN_SECRET") or env.get("BELT_ADMIN_SECRET")
    return SecretHeaders({"x-hasura-admin-secret": secret} if secret else {})


def _check_output_path(p: Path | None, option: str, *, folder: bool) -> None:
    """Refuse, before anything is fetched, an output path that cannot be written: a report is a file whose
    folder exists; a recording folder is a folder (or none yet) under an existing folder."""
    if p is None:
        return
    if folder:
        if p.exists() and not p.is_dir():
            raise SettingsError(f"{option}: {p} exists and is not a folder (recordings go into a folder)")
        ancestor = p
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise SettingsError(f"{option}: {ancestor} is not a folder, so {p} cannot be made")
        writable = ancestor
    else:
        if p.is_dir():
            raise SettingsError(f"{option}: {p} is a folder; give the certificate's file name (e.g. {p / 'cert.json'})")
        if not p.parent.exists():
            raise SettingsError(f"{option}: the folder {p.parent} does not exist")
        if not p.parent.is_dir():
            raise SettingsError(f"{option}: {p.parent} is not a folder")
        writable = p if p.exists() else p.parent
    if not os.access(writable, os.W_OK):
        raise SettingsError(f"{option}: {writable} is not writable")


def _refuse_empty(cli: Mapping[str, Any]) -> None:
    """An option given with no value (`--belt-mode=`) is refused, not read as "not given"."""
    for key, value in cli.items():
        if isinstance(value, str) and not value.strip():
            raise SettingsError(f"--belt-{key.replace('_', '-')} is empty: give a value or leave the option out")


def _belt_target(value: Any, name: str, cwd: Path) -> None:
    """A belt is an http(s) URL naming a host (no URL is echoed) or an existing recorded snapshot file."""
    if not isinstance(value, str):
        raise SettingsError(f"--belt-{name} must be a URL or a recorded snapshot file")
    if is_url(value):
        try:
            location(value)
        except InvalidEndpoint as exc:
            raise SettingsError(f"--belt-{name}: not a valid URL: {redact_url(value)} ({exc.reason})") from None
    elif not (cwd / value).is_file() and not Path(value).is_file():
        raise SettingsError(f"--belt-{name}: {redact_url(value)!r} is neither an http(s) URL nor a file")


def _check_recording(path: Path, name: str) -> None:
    """A recorded belt is read now, so a malformed file is refused before any request is sent (the replay
    reads it again; sources/recorded.py holds the format's one reader)."""
    from belt_gate.sources.recorded import ERRORS_SECTION, read_recording

    try:
        doc = read_recording(name, path)
    except UnicodeDecodeError:
        raise SettingsError(f"--belt-{name}: {path} is not UTF-8 text, so not a belt_gate recording") from None
    for key in ("answers", ERRORS_SECTION):
        if not isinstance(doc.get(key, {}), dict):
            raise SettingsError(f"--belt-{name}: {path} is not a belt_gate recording: its {key!r} is not an object")


def _recorded_file(value: str, cwd: Path) -> Path:
    p = cwd / value
    return (p if p.is_file() else Path(value)).resolve()


def _refuse_same_belt(blue: str, green: str, cwd: Path, resolver: Callable[[str], frozenset[str]]) -> None:
    """Green must not be blue by another spelling: same scheme, resolved address, port and path (query,
    fragment and userinfo ignored), or the same recorded file. The message shows neither URL's secrets."""
    if is_url(blue) and is_url(green):
        if same_endpoint(blue, green, resolver):
            g, b = location(green), location(blue)
            spelled = f"{redact_url(str(g))}" + ("" if str(g) == str(b) else f" and {redact_url(str(b))}")
            raise SettingsError(
                f"green is blue ({spelled}: the same scheme, address, port and path): "
                "refusing to certify a belt against itself"
            )
    elif not is_url(blue) and not is_url(green) and _recorded_file(blue, cwd) == _recorded_file(green, cwd):
        raise SettingsError("green is blue (same recorded snapshot): refusing to certify a belt against itself")


def _localise_budget(value: Any) -> Budget:
    from belt_gate.localise import parse_budget  # the bisection's own grammar (REQUESTS, SECONDSs)

    return parse_budget(value)


#: A path option read from the merged sources, relative to the working folder (SettingsError if not a path).
PathOption = Callable[[str], Path | None]


class _Belts(TypedDict):
    blue: str
    green: str
    alias: str | None


class _Project(TypedDict):
    config_chains: tuple[int, ...]
    schema: EnvioSchema | None
    blue_schema: EnvioSchema | None
    green_schema: EnvioSchema | None
    entities: Mapping[str, EntitySettings]
    audits: tuple[AuditSpec, ...]


class _Outputs(TypedDict):
    report: Path | None
    record: Path | None
    golden: Path


class _Numbers(TypedDict):
    seed: int
    sample: int
    settle_timeout: float
    timeout: float
    reorg_margin: int
    head_tolerance: int


def _merged_sources(
    cli: Mapping[str, Any], ini: Mapping[str, Any], env: Mapping[str, str], config_path: Path | None, cwd: Path
) -> dict[str, Any]:
    """belt.toml < pytest ini < environment < CLI, an empty value read as not given."""
    layers: list[Mapping[str, Any]] = []
    if config_path is not None:
        layers.append(load_belt_toml(config_path if config_path.is_absolute() else cwd / config_path))
    layers.append({k: v for k, v in ini.items() if v not in (None, "", [])})
    layers.append(_env_endpoints(env))
    layers.append({k: v for k, v in cli.items() if v not in (None, "", [])})
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def _path_option(merged: Mapping[str, Any], cwd: Path) -> PathOption:
    def path(key: str) -> Path | None:
        v = merged.get(key)
        if v is not None and not isinstance(v, str):
            raise SettingsError(f"--belt-{key.replace('_', '-')} must be a path")
        return None if v is None else (Path(v) if Path(v).is_absolute() else cwd / str(v))

    return path


def _envio_config(path: PathOption, cwd: Path) -> tuple[EnvioConfig | None, Path | None]:
    """Green's Envio config.yaml (--belt-envio-config, else ./config.yaml) and where it was read."""
    envio_path = path("envio_config")
    if envio_path is not None:
        return load_config(envio_path), envio_path
    if (cwd / "config.yaml").exists():
        return load_config(cwd / "config.yaml"), cwd / "config.yaml"
    return None, None


def _schema_path(path: PathOption, envio: EnvioConfig | None, envio_path: Path | None, cwd: Path) -> Path | None:
    """--belt-schema, else the schema config.yaml names (or schema.graphql next to it), else ./schema.graphql."""
    schema_path = path("schema")
    if schema_path is None and envio is not None and envio_path is not None:
        candidate = envio_path.parent / (envio.schema_path or "schema.graphql")
        if envio.schema_path and not candidate.exists():
            raise SettingsError(f"{envio_path}: schema: {envio.schema_path} does not exist ({candidate})")
        schema_path = candidate if candidate.exists() else None
    if schema_path is None and (cwd / "schema.graphql").exists():
        schema_path = cwd / "schema.graphql"
    return schema_path


def _project(
    merged: Mapping[str, Any],
    path: PathOption,
    envio: EnvioConfig | None,
    schema: EnvioSchema | None,
    config_path: Path | None,
) -> _Project:
    """The schemas, the [entities.X] settings applied to green's schema, and the [[audit]] tables."""
    entities: Mapping[str, EntitySettings] = merged.get("entities", {})
    if schema is not None:
        schema = _apply_entities(entities, schema, str(config_path))
    else:
        for name, spec in entities.items():
            if spec.block_field or spec.time_field:
                key = "block_field" if spec.block_field else "time_field"
                raise SettingsError(
                    f"{config_path}: entities.{name}.{key} needs the Envio schema.graphql to check the field "
                    "(--belt-schema, or schema.graphql next to config.yaml)"
                )
    audits: tuple[AuditSpec, ...] = ()
    if merged.get("audits"):
        from belt_gate.audit_spec import parse_audits  # eth_utils hashes the events: only with audits

        audits = parse_audits(tuple(merged["audits"]), source=f"{config_path}: [[audit]]")
    blue_schema = load_schema(p) if (p := path("blue_schema")) else None
    green_schema = load_schema(p) if (p := path("green_schema")) else None
    return _Project(
        config_chains=envio.chain_ids if envio else (),
        schema=schema,
        blue_schema=blue_schema,
        green_schema=green_schema,
        entities=entities,
        audits=audits,
    )


def _mode(merged: Mapping[str, Any]) -> str:
    mode = str(merged.get("mode", "parity"))
    if mode not in MODES:
        raise SettingsError(f"--belt-mode must be parity or expansion, not {redact_text(repr(mode))}")
    return mode


def _belts(merged: Mapping[str, Any], cwd: Path, resolver: Callable[[str], frozenset[str]]) -> _Belts:
    """Blue (or the alias), green and the alias: each a valid URL or a readable recording, green not blue."""
    green = merged.get("green")
    if not green:
        raise SettingsError("no green: give --belt-green=URL (the candidate deployment's GraphQL endpoint)")
    alias = merged.get("alias")
    blue = merged.get("blue") or alias
    if not blue:
        raise SettingsError("no blue and no alias: give --belt-blue=URL, or set the alias in the settings")
    for name, value in (("blue", merged.get("blue")), ("green", green), ("alias", alias)):
        if value is not None:
            _belt_target(value, name, cwd)
    _refuse_same_belt(str(blue), str(green), cwd, resolver)
    for name, value in (("blue", merged.get("blue")), ("green", green), ("alias", alias)):
        if isinstance(value, str) and not is_url(value):
            _check_recording(_recorded_file(value, cwd), name)
    return _Belts(blue=str(blue), green=str(green), alias=str(alias) if alias else None)


def _expected_chains(merged: Mapping[str, Any], mode: str, envio: EnvioConfig | None) -> tuple[int, ...]:
    expected = parse_chain_list(merged["expected_chains"], "expected chains") if merged.get("expected_chains") else ()
    if mode == "expansion" and not expected and envio is not None:
        expected = envio.chain_ids  # the project's own config.yaml declares them, not green
    if mode == "expansion" and not expected:
        raise SettingsError(
            "expansion needs the expected chains (--belt-expected-chains=1,10,..., or the networks of the "
            "Envio config.yaml): green cannot attest its own completeness"
        )
    return expected


def _growing_chains(path: PathOption, envio: EnvioConfig | None) -> tuple[int, ...]:
    """Shared chains whose sources green's config.yaml changes from blue's (--belt-blue-envio-config)."""
    if (blue_envio_path := path("blue_envio_config")) is None:
        return ()
    if envio is None:
        raise SettingsError(
            "--belt-blue-envio-config needs green's Envio config.yaml too "
            "(--belt-envio-config, or ./config.yaml) to compare their sources"
        )
    blue_envio = load_config(blue_envio_path)
    shared = set(envio.chain_ids) & set(blue_envio.chain_ids)
    return tuple(sorted(c for c in shared if chain_sources(envio, c) != chain_sources(blue_envio, c)))


def _rpc_urls(
    merged: Mapping[str, Any], envio: EnvioConfig | None, env_rpc: Mapping[int, str], secrets: Secrets
) -> RpcUrls:
    """config.yaml's RPC URLs < BELT_RPC_<CHAIN> < --belt-rpc."""
    rpc = RpcUrls(secrets=secrets)
    if envio is not None:
        rpc.update({c.chain_id: c.rpc_url for c in envio.chains if c.rpc_url and is_url(c.rpc_url)})
    rpc.update(env_rpc)
    given_rpc = merged.get("rpc") or []
    rpc.update(given_rpc if isinstance(given_rpc, Mapping) else parse_rpc(given_rpc, "--belt-rpc"))
    return rpc


def _outputs(path: PathOption, cwd: Path) -> _Outputs:
    report = path("report")
    record = path("record")
    _check_output_path(report, "--belt-report", folder=False)
    _check_output_path(record, "--belt-record", folder=True)
    return _Outputs(report=report, record=record, golden=path("golden") or cwd / "golden")


def _numbers(merged: Mapping[str, Any]) -> _Numbers:
    return _Numbers(
        seed=_number(merged.get("seed", 0), "--belt-seed", int),
        sample=_number(merged.get("sample", 5), "--belt-sample", int, 1),  # 0 would compare no row, silently
        # a time like any other: finite and positive (a short wait compares about where the belts stand now)
        settle_timeout=_seconds(merged.get("settle_timeout", 30), "--belt-settle-timeout"),
        timeout=_seconds(merged.get("timeout", 30), "--belt-timeout"),
        reorg_margin=_number(merged.get("reorg_margin", 0), "--belt-reorg-margin", int),
        head_tolerance=_number(merged.get("head_tolerance", 10), "--belt-head-tolerance", int),
    )


def build_settings(
    cli: Mapping[str, Any],
    ini: Mapping[str, Any],
    *,
    config_path: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    resolver: Callable[[str], frozenset[str]] = resolve,
) -> Settings:
    """Merge every source into validated Settings, or raise SettingsError with one readable line.

    `resolver`: host name -> addresses, to tell whether green is blue (default: the system resolver).
    The parts are checked in this order, and the first refusal is the one reported."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    env_rpc, secrets = _env_rpc(env), environment_secrets(env)
    _refuse_empty(cli)
    merged = _merged_sources(cli, ini, env, config_path, cwd)
    path = _path_option(merged, cwd)
    envio, envio_path = _envio_config(path, cwd)
    schema_path = _schema_path(path, envio, envio_path, cwd)
    project = _project(merged, path, envio, load_schema(schema_path) if schema_path else None, config_path)
    mode = _mode(merged)
    belts = _belts(merged, cwd, resolver)
    expected = _expected_chains(merged, mode, envio)
    growing = _growing_chains(path, envio)
    rpc = _rpc_urls(merged, envio, env_rpc, secrets)
    outputs = _outputs(path, cwd)
    numbers = _numbers(merged)
    return Settings(
        **belts,
        mode=mode,
        expected_chains=expected,
        growing_chains=growing,
        **project,
        rpc=rpc,
        **outputs,
        **numbers,
        blue_headers=_headers(env, "blue"),
        green_headers=_headers(env, "green"),
        secrets=secrets,
        localise_budget=_localise_budget(merged.get("localise_budget")),
        store_failures=path("store_failures"),
        **promotion_settings(merged, path, config_path=config_path, cwd=cwd),
    )


# -- the watch commands (`belt-gate status / dashboard / wait`) ------------------------------------------
# Built here, from the same parsers, because nothing else reads settings; a type of its own because
# watching takes any belts by name where certification needs exactly a blue and a green.


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
    #: what redact.py must hide in the command's output (from the environment; `environment_secrets`)
    secrets: Secrets = field(default_factory=Secrets, repr=False, compare=False)


def _pyproject_ini(cwd: Path) -> dict[str, Any]:
    """`belt_*` keys of [tool.pytest.ini_options] in ./pyproject.toml: what the plugin reads as ini, read
    here without pytest (the watch commands run outside a pytest session)."""
    path = cwd / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        ini = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("pytest", {}).get("ini_options", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None
    return {k.removeprefix("belt_"): v for k, v in ini.items() if k.startswith("belt_") and v not in (None, "", [])}


def _watched_belts(belts: list[str] | tuple[str, ...], known: Mapping[str, str]) -> dict[str, str]:
    """`NAME=URL` or `NAME` (one the settings name); none given: every belt the settings name (the alias
    left out when it is blue's URL)."""
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
    return chosen


def build_watch_settings(
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
    ./belt.toml) > the Envio config.yaml's RPCs; secrets only from the environment, gathered in
    `WatchSettings.secrets` as for certification (nothing is registered)."""
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
    chosen = _watched_belts(belts, known)
    env_rpc = _env_rpc(env)
    urls: dict[int, str] = {}
    envio_path = merged.get("envio_config")
    envio_file = (cwd / str(envio_path)) if envio_path else cwd / "config.yaml"
    if envio_file.is_file():
        urls.update({c.chain_id: c.rpc_url for c in load_config(envio_file).chains if c.rpc_url and is_url(c.rpc_url)})
    urls.update(env_rpc)
    if merged.get("rpc"):
        urls.update(merged["rpc"] if isinstance(merged["rpc"], Mapping) else parse_rpc(merged["rpc"], "settings rpc"))
    urls.update(parse_rpc(list(rpc), "--rpc"))
    headers: dict[str, SecretHeaders] = {}
    for name in chosen:
        headers[name] = _headers(env, name.replace("-", "_").replace(".", "_"))
    secrets = environment_secrets(env) | Secrets.of(*(secret for h in headers.values() for secret in h.values()))

    def path(key: str) -> Path | None:
        v = merged.get(key)
        return None if not isinstance(v, str) or not v else (Path(v) if Path(v).is_absolute() else cwd / v)

    admin = merged.get("alias_admin")
    return WatchSettings(
        belts=chosen,
        headers=headers,
        rpc=RpcUrls(urls, secrets=secrets),
        alias_admin=str(admin) if isinstance(admin, str) and admin else None,
        ledger=path("ledger"),
        report=path("report"),
        head_tolerance=_number(merged.get("head_tolerance", 10), "head_tolerance", int),
        secrets=secrets,
    )
