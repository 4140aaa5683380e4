"""Envio HyperIndex project files -> chains, contracts, entities, fields and reconciliations (A/B/C).

Reads `schema.graphql` (Envio's entity schema) with graphql-core's parser and `config.yaml` with
PyYAML. Nothing here does network I/O. The same entity model drives the sandbox's Hasura-dialect
server (which must expose what Hasura would) and belt_gate's plan (which must ask for it).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from graphql import (
    EnumTypeDefinitionNode,
    GraphQLSyntaxError,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    TypeNode,
    parse,
)

from belt_gate.errors import SettingsError
from belt_gate.redact import redact_text

#: Envio scalar -> the Hasura/Postgres type name Hasura exposes for it.
HASURA_SCALAR: dict[str, str] = {
    "ID": "String",
    "String": "String",
    "Bytes": "String",
    "Int": "Int",
    "BigInt": "numeric",
    "BigDecimal": "numeric",
    "Float": "float8",
    "Boolean": "Boolean",
    "Timestamp": "timestamptz",
    "Json": "jsonb",
}

#: Scalars whose values are numbers that a fingerprint may sum.
NUMERIC_SCALARS = frozenset({"Int", "BigInt", "BigDecimal", "Float"})
#: Scalars whose values have an order (min/max are meaningful in Hasura).
ORDERABLE_SCALARS = frozenset({"ID", "String", "Bytes", "Int", "BigInt", "BigDecimal", "Float", "Timestamp"})

BLOCK_FIELDS = ("blockNumber", "block_number")
TIMESTAMP_FIELDS = ("timestamp", "blockTimestamp", "block_timestamp")
CHAIN_FIELDS = ("chainId", "chain_id")
#: Scalars a configured block or time field may have: whole numbers (block heights, unix seconds), as the
#: cutoff compares them with `_lte` and an integer.
PIN_SCALARS = frozenset({"Int", "BigInt"})


class Reconciliation(enum.StrEnum):
    """How an entity is reconciled between two belts (see DESIGN.md §2)."""

    AT_BLOCK = "A"
    AT_TIMESTAMP = "B"
    CONVERGED = "C"


@dataclass(frozen=True)
class Field:
    """One field of an Envio entity as it appears in the schema file."""

    name: str
    type_name: str  # the named type at the core: "BigInt", "LoanStatus", "Token", ...
    nullable: bool
    is_list: bool
    kind: str  # "scalar" | "enum" | "relation" | "derived"

    @property
    def column(self) -> str:
        """The column name Envio/Hasura expose: a relation `token: Token!` is `token_id`."""
        return f"{self.name}_id" if self.kind == "relation" else self.name

    @property
    def is_column(self) -> bool:
        """Whether the field is stored as a column (a `@derivedFrom` field is computed from others, so nothing to
        compare)."""
        return self.kind != "derived"

    @property
    def hasura_type(self) -> str:
        """The GraphQL type Hasura serves the column with: an enum's lower-cased Postgres type, a relation's id as
        String, a scalar by HASURA_SCALAR (String when unknown)."""
        if self.kind == "enum":
            return self.type_name.lower()
        if self.kind == "relation":
            return "String"
        return HASURA_SCALAR.get(self.type_name, "String")

    @property
    def is_numeric(self) -> bool:
        """Whether fingerprints sum the column (a numeric scalar, not a list)."""
        return self.kind == "scalar" and not self.is_list and self.type_name in NUMERIC_SCALARS

    @property
    def is_orderable(self) -> bool:
        """Whether min/max of the column mean something in Hasura (enums, relation ids and ordered scalars; never a
        list)."""
        if self.is_list:
            return False
        if self.kind in ("enum", "relation"):
            return True
        return self.kind == "scalar" and self.type_name in ORDERABLE_SCALARS


@dataclass(frozen=True)
class Entity:
    """One entity type. `block_field` / `time_field`: the fields belt.toml names as carrying the entity's block
    or time (`[entities.X] block_field = ...`); otherwise the conventional names are looked for."""

    name: str
    fields: tuple[Field, ...]
    block_field: str | None = None
    time_field: str | None = None

    def field(self, name: str) -> Field | None:
        """The field called `name`, None when the entity has none."""
        return next((f for f in self.fields if f.name == name), None)

    @property
    def columns(self) -> tuple[Field, ...]:
        """The fields stored as columns, in schema order."""
        return tuple(f for f in self.fields if f.is_column)

    def _first(self, names: Sequence[str]) -> str | None:
        for name in names:
            f = self.field(name)
            if f is not None and f.is_column and not f.is_list:
                return f.column
        return None

    @property
    def block_column(self) -> str | None:
        """The column holding the block an entity's row belongs to: the configured field, else blockNumber/..."""
        return self._first((self.block_field,) if self.block_field else BLOCK_FIELDS)

    @property
    def timestamp_column(self) -> str | None:
        """The column holding a row's time (unix seconds): the configured field, else timestamp/..."""
        return self._first((self.time_field,) if self.time_field else TIMESTAMP_FIELDS)

    def pinned(self, *, block_field: str | None = None, time_field: str | None = None, source: str = "") -> Entity:
        """This entity with its block and/or time carried by the named fields. Raises SettingsError unless each
        names a non-null, non-list Int or BigInt column of the entity (a NULL would put a row below no cutoff,
        so it would be compared nowhere)."""
        where = f"{source}: " if source else ""
        for key, name in (("block_field", block_field), ("time_field", time_field)):
            if name is None:
                continue
            f = self.field(name)
            what = f"{where}entities.{self.name}.{key} = {name!r}"
            if f is None:
                columns = ", ".join(c.name for c in self.columns if c.is_numeric) or "none"
                raise SettingsError(f"{what}: {self.name} has no field {name} (its numeric fields: {columns})")
            if f.kind != "scalar" or f.is_list or f.type_name not in PIN_SCALARS:
                shown = f"[{f.type_name}]" if f.is_list else f.type_name
                raise SettingsError(
                    f"{what}: {self.name}.{name} is {shown} ({f.kind}); a block or time field must be Int or "
                    "BigInt (block numbers, unix seconds)"
                )
            if f.nullable:
                raise SettingsError(
                    f"{what}: {self.name}.{name} is nullable ({f.type_name}, not {f.type_name}!); a row without "
                    "it would fall below no cutoff and be compared nowhere"
                )
        return replace(
            self,
            block_field=block_field if block_field is not None else self.block_field,
            time_field=time_field if time_field is not None else self.time_field,
        )

    @property
    def chain_column(self) -> str | None:
        """The column naming a row's chain (chainId / chain_id); None: the entity is compared whole, not per chain."""
        return self._first(CHAIN_FIELDS)

    @property
    def inferred_reconciliation(self) -> Reconciliation:
        """How to reconcile the entity when no option says: at a block if it has a block column, at a time if it has a
        time column, else its current state."""
        if self.block_column:
            return Reconciliation.AT_BLOCK
        if self.timestamp_column:
            return Reconciliation.AT_TIMESTAMP
        return Reconciliation.CONVERGED

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        """The columns fingerprints sum."""
        return tuple(f.column for f in self.columns if f.is_numeric)

    @property
    def orderable_columns(self) -> tuple[str, ...]:
        """The columns fingerprints take the min and max of."""
        return tuple(f.column for f in self.columns if f.is_orderable)


@dataclass(frozen=True)
class EnvioSchema:
    """An Envio schema.graphql: its entity types in file order and its enums (name -> values)."""

    entities: tuple[Entity, ...]
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def entity(self, name: str) -> Entity | None:
        """The entity called `name`, None when the schema has none."""
        return next((e for e in self.entities if e.name == name), None)

    def with_entity(self, entity: Entity) -> EnvioSchema:
        """This schema with the entity of `entity.name` replaced by `entity`."""
        return replace(self, entities=tuple(entity if e.name == entity.name else e for e in self.entities))

    @property
    def entity_names(self) -> tuple[str, ...]:
        """The entities' names, in file order."""
        return tuple(e.name for e in self.entities)


def _unwrap(node: TypeNode) -> tuple[str, bool, bool]:
    """(core type name, nullable, is_list) of a field type node."""
    nullable = True
    if isinstance(node, NonNullTypeNode):
        nullable = False
        node = node.type
    is_list = False
    if isinstance(node, ListTypeNode):
        is_list = True
        node = node.type
        if isinstance(node, NonNullTypeNode):
            node = node.type
    if isinstance(node, ListTypeNode):  # nested lists: Envio does not emit them; treat as list
        return _unwrap(node)[0], nullable, True
    assert isinstance(node, NamedTypeNode)
    return node.name.value, nullable, is_list


def parse_schema(sdl: str, source: str = "schema.graphql") -> EnvioSchema:
    """Parse an Envio `schema.graphql`. Raises SettingsError naming the file on bad input."""
    try:
        document = parse(sdl, no_location=False)
    except GraphQLSyntaxError as exc:
        raise SettingsError(f"{source}: not a valid GraphQL schema: {exc.message}") from None
    enums: dict[str, tuple[str, ...]] = {}
    objects: list[ObjectTypeDefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, EnumTypeDefinitionNode):
            enums[definition.name.value] = tuple(v.name.value for v in definition.values or ())
        elif isinstance(definition, ObjectTypeDefinitionNode):
            objects.append(definition)
    entity_names = {o.name.value for o in objects}
    entities = []
    for obj in objects:
        fields = []
        for f in obj.fields or ():
            type_name, nullable, is_list = _unwrap(f.type)
            derived = any(d.name.value == "derivedFrom" for d in f.directives or ())
            if derived:
                kind = "derived"
            elif type_name in enums:
                kind = "enum"
            elif type_name in entity_names:
                kind = "relation"
            elif type_name in HASURA_SCALAR:
                kind = "scalar"
            else:
                raise SettingsError(f"{source}: {obj.name.value}.{f.name.value} has unknown type {type_name}")
            fields.append(Field(f.name.value, type_name, nullable, is_list, kind))
        if not any(f.name == "id" for f in fields):
            raise SettingsError(f"{source}: entity {obj.name.value} has no id field")
        entities.append(Entity(obj.name.value, tuple(fields)))
    if not entities:
        raise SettingsError(f"{source}: no entity types found")
    return EnvioSchema(tuple(entities), enums)


def read_text(path: Path, what: str) -> str:
    """A project file's text (UTF-8), or SettingsError naming `what` and the file in one line."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"cannot read {what} {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None


def load_schema(path: Path) -> EnvioSchema:
    """Read and parse an Envio schema.graphql file; a missing, unreadable or malformed one is a SettingsError
    naming it."""
    return parse_schema(read_text(path, "schema"), str(path))


@dataclass(frozen=True)
class ContractEvent:
    """One event a contract of config.yaml handles."""

    contract: str
    event: str  # the event signature as written in config.yaml, e.g. "Transfer(address indexed from, ...)"


@dataclass(frozen=True)
class ChainConfig:
    """One network of config.yaml: its chain id, start block, RPC URL (if any) and each contract's addresses."""

    chain_id: int
    start_block: int
    rpc_url: str | None
    contracts: Mapping[str, tuple[str, ...]]  # contract name -> addresses

    def __repr__(self) -> str:  # the RPC URL may carry a key: shown redacted
        rpc = redact_text(self.rpc_url) if self.rpc_url else None
        return (
            f"ChainConfig(chain_id={self.chain_id!r}, start_block={self.start_block!r}, rpc_url={rpc!r}, "
            f"contracts={dict(self.contracts)!r})"
        )


@dataclass(frozen=True)
class EnvioConfig:
    """An Envio config.yaml: its name, networks, each contract's event signatures and the schema file it names."""

    name: str
    chains: tuple[ChainConfig, ...]
    events: Mapping[str, tuple[str, ...]]  # contract name -> event signatures
    schema_path: str | None

    @property
    def chain_ids(self) -> tuple[int, ...]:
        """The networks' chain ids, in file order."""
        return tuple(c.chain_id for c in self.chains)


def chain_sources(config: EnvioConfig, chain_id: int) -> frozenset[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """What an indexer reads on one chain: (contract, its addresses, its events) for each contract."""
    for chain in config.chains:
        if chain.chain_id == chain_id:
            return frozenset(
                (name, tuple(sorted(a.lower() for a in addresses)), config.events.get(name, ()))
                for name, addresses in chain.contracts.items()
            )
    return frozenset()


def _int(value: Any, what: str, source: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{source}: {what} must be an integer, got {value!r}")  # redacted where printed
    if value < minimum:
        raise SettingsError(f"{source}: {what} must be at least {minimum}, got {value}")
    return value


def _list(value: Any, what: str, source: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SettingsError(f"{source}: {what} must be a list")
    return value


def _events(value: Any, what: str, source: str) -> tuple[str, ...]:
    out = []
    for e in _list(value, f"{what}: events", source):
        if not isinstance(e, dict) or not isinstance(e.get("event"), str):
            raise SettingsError(f"{source}: {what}: each event needs an `event:` signature")
        out.append(e["event"])
    return tuple(out)


def parse_config(text: str, source: str = "config.yaml") -> EnvioConfig:
    """Parse an Envio `config.yaml` (networks/chains, contracts, events)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a mapping at the top level")
    events: dict[str, tuple[str, ...]] = {}
    for c in _list(data.get("contracts"), "contracts", source):
        if isinstance(c, dict) and "name" in c:
            events[str(c["name"])] = _events(c.get("events"), f"contract {c['name']}", source)
    networks = data.get("networks", data.get("chains"))
    if not isinstance(networks, list) or not networks:
        raise SettingsError(f"{source}: no networks (chains) listed")
    chains = []
    for n in networks:
        if not isinstance(n, dict):
            raise SettingsError(f"{source}: each network must be a mapping")
        chain_id = _int(n.get("id"), "network id", source, minimum=1)
        rpc = n.get("rpc") or n.get("rpc_config")
        rpc_url = rpc.get("url") if isinstance(rpc, dict) else rpc
        if rpc_url is not None and not isinstance(rpc_url, str):
            raise SettingsError(f"{source}: chain {chain_id}: the rpc url must be a string")
        contracts: dict[str, tuple[str, ...]] = {}
        for c in _list(n.get("contracts"), f"chain {chain_id}: contracts", source):
            if not isinstance(c, dict) or "name" not in c:
                raise SettingsError(f"{source}: chain {chain_id}: each contract needs a name")
            address = c.get("address") or []
            if isinstance(address, str):
                addresses: tuple[str, ...] = (address,)
            elif isinstance(address, list) and all(isinstance(a, str) for a in address):
                addresses = tuple(address)
            else:
                raise SettingsError(
                    f"{source}: chain {chain_id}: contract {c['name']}: address must be a string or a list of strings"
                )
            contracts[str(c["name"])] = addresses
            if c.get("events"):
                events.setdefault(str(c["name"]), _events(c["events"], f"contract {c['name']}", source))
        chains.append(ChainConfig(chain_id, _int(n.get("start_block", 0), "start_block", source), rpc_url, contracts))
    ids = [c.chain_id for c in chains]
    if len(set(ids)) != len(ids):
        raise SettingsError(f"{source}: a chain id is listed twice")
    schema = data.get("schema")
    return EnvioConfig(str(data.get("name", "")), tuple(chains), events, str(schema) if schema else None)


def load_config(path: Path) -> EnvioConfig:
    """Read and parse an Envio config.yaml file; a missing or malformed one is a SettingsError naming it."""
    return parse_config(read_text(path, "Envio config"), str(path))


__all__ = [
    "ChainConfig",
    "ContractEvent",
    "Entity",
    "EnvioConfig",
    "EnvioSchema",
    "Field",
    "Reconciliation",
    "chain_sources",
    "load_config",
    "load_schema",
    "parse_config",
    "parse_schema",
    "read_text",
]
