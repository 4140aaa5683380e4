"""Golden events: known on-chain logs and the entity an indexer must have made of each (fixtures).

A golden folder (default `./golden`) holds YAML files, one per chain or per set:

    # golden/8453.yaml
    chain: 8453                       # default for the events below (each event may set its own)
    events:
      - tx_hash: "0x5c50…"            # quote hex: YAML reads an unquoted 0x… as a number
        log_index: 0
        block_number: 12
        block_hash: "0x9a1e…"
        address: "0x5fbdb2315678afecb367f032d93f642f64180aa3"
        event: "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
        entity: NftTransfer
        entity_id: "8453_12_0"
        fields:                       # the entity's expected values (ints exact; big ones as strings)
          tokenId: "115792089237316195423570985008687907853269984665640564039457584007913129639935"
          to: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
          isMint: true
        # optional: topics: [...], data: "0x…" (the raw log, checked exactly against L1),
        #           params: {tokenId: tokenId} (event parameter -> entity field; default: same names),
        #           note: "first mint"

`event` is an Envio-style signature or an ABI fragment (a mapping with name/inputs/anonymous). The
loader is strict: anything invalid raises SettingsError naming the file, the event and the field.
Nothing here does I/O beyond reading/writing fixture files.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from belt_gate.errors import SettingsError

# eth_abi / eth_utils (~0.2-0.4 s to import) are imported where an event is parsed or decoded, so a run
# without golden fixtures or audits never pays for them.

DEFAULT_DIR = Path("golden")
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEXDATA = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT_TEXT = re.compile(r"^[+-]?\d+$", re.ASCII)  # ASCII: "٣" is not 3, "²" not a number
_DEC_TEXT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$", re.ASCII)
_HEX_TEXT = re.compile(r"^0x[0-9a-fA-F]*$")

REQUIRED_KEYS = (
    "tx_hash",
    "log_index",
    "block_number",
    "block_hash",
    "address",
    "event",
    "entity",
    "entity_id",
    "fields",
)
EVENT_KEYS = frozenset({*REQUIRED_KEYS, "chain", "topics", "data", "params", "note"})

Scalar = int | str | bool | None
Value = Scalar | list["Value"]


# ---------------------------------------------------------------------------------------------------
# Event ABI


@dataclass(frozen=True)
class EventInput:
    """One input of an event ABI: its name, canonical type and whether it is indexed (a topic) or in the data."""

    name: str
    type: str  # canonical ABI type string, tuples as "(uint256,address)"
    indexed: bool


@dataclass(frozen=True)
class EventAbi:
    """An event's ABI, what decoding a golden event's log needs."""

    name: str
    inputs: tuple[EventInput, ...]
    anonymous: bool = False

    @property
    def signature(self) -> str:
        """Canonical signature hashed into topic0, e.g. "Transfer(address,address,uint256)"."""
        return f"{self.name}({','.join(i.type for i in self.inputs)})"

    @property
    def topic0(self) -> str | None:
        """The keccak hash of the signature, the log's first topic; None for an anonymous event, whose logs carry
        none."""
        if self.anonymous:
            return None
        from eth_utils.crypto import keccak

        return "0x" + keccak(text=self.signature).hex()

    def describe(self) -> str:
        """Envio-style signature with indexed markers and names (what fixtures store)."""
        parts = []
        for i in self.inputs:
            words = [i.type] + (["indexed"] if i.indexed else []) + ([i.name] if i.name else [])
            parts.append(" ".join(words))
        return f"{self.name}({', '.join(parts)})"

    def to_json(self) -> dict[str, Any]:
        """The parsed ABI as JSON (the snapshot's form: read back by `from_json`, never parsed again)."""
        inputs = [{"name": i.name, "type": i.type, "indexed": i.indexed} for i in self.inputs]
        return {"name": self.name, "inputs": inputs, "anonymous": self.anonymous}

    @classmethod
    def from_json(cls, doc: Any) -> EventAbi:
        """`to_json`'s form; a missing or mistyped part raises ValueError."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("name"), str):
            raise ValueError(f"an event ABI is not an object with a name: {doc!r:.80}")
        inputs = doc.get("inputs")
        if not isinstance(inputs, list) or not isinstance(doc.get("anonymous"), bool):
            raise ValueError(f"event {doc['name']}: inputs or anonymous missing or mistyped")
        parsed = []
        for i in inputs:
            if not (
                isinstance(i, Mapping)
                and isinstance(i.get("name"), str)
                and isinstance(i.get("type"), str)
                and isinstance(i.get("indexed"), bool)
            ):
                raise ValueError(f"event {doc['name']}: an input is not {{name, type, indexed}}: {i!r:.80}")
            parsed.append(EventInput(i["name"], i["type"], i["indexed"]))
        return cls(doc["name"], tuple(parsed), doc["anonymous"])

    @property
    def indexed_count(self) -> int:
        """How many topics a log of this event carries: one per indexed input, plus topic0 unless anonymous."""
        return sum(1 for i in self.inputs if i.indexed) + (0 if self.anonymous else 1)

    def decode(self, topics: Sequence[str], data: str) -> dict[str, Value]:
        """Decoded parameters of one log, normalised (ints, lowercase hex for addresses/bytes).

        An indexed dynamic parameter (string, bytes, array, tuple) is only its keccak hash on chain;
        its value is that topic (hex). Raises ValueError when the log does not fit this event.
        """
        from eth_abi.abi import decode as abi_decode
        from eth_abi.exceptions import DecodingError

        if len(topics) != self.indexed_count:
            raise ValueError(f"log has {len(topics)} topics, {self.signature} needs {self.indexed_count}")
        if not self.anonymous and topics[0].lower() != self.topic0:
            raise ValueError(f"topic0 {topics[0]} is not {self.signature}'s {self.topic0}")
        indexed_topics = list(topics[0 if self.anonymous else 1 :])
        plain = [i for i in self.inputs if not i.indexed]
        try:
            raw = bytes.fromhex(data[2:] if data.startswith("0x") else data)
            plain_values = abi_decode([i.type for i in plain], raw) if plain else ()
            out: dict[str, Value] = {}
            k = 0
            for n, inp in enumerate(self.inputs):
                key = inp.name or f"arg{n}"
                if inp.indexed:
                    topic = indexed_topics.pop(0)
                    if _is_dynamic(inp.type):
                        out[key] = topic.lower()
                    else:
                        out[key] = normalise(abi_decode([inp.type], bytes.fromhex(topic[2:]))[0])
                else:
                    out[key] = normalise(plain_values[k])
                    k += 1
        except (DecodingError, ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"log data does not decode as {self.signature}: {exc}") from None
        return out

    def comparable(self, param: str) -> bool:
        """Can this parameter's decoded value be compared to an entity field (not a hashed topic)?"""
        inp = next((i for i in self.inputs if i.name == param), None)
        return inp is not None and not (inp.indexed and _is_dynamic(inp.type))


def _is_dynamic(type_str: str) -> bool:
    from eth_abi.grammar import parse as parse_abi_type

    return bool(parse_abi_type(type_str).is_dynamic) or type_str.endswith("]") or type_str.startswith("(")


def _canonical_type(text: str, components: Any = None) -> str:
    text = text.strip()
    if text.startswith("tuple"):
        if not isinstance(components, list):
            raise ValueError(f"tuple type {text!r} without components")
        inner = ",".join(_canonical_type(str(c.get("type", "")), c.get("components")) for c in components)
        text = f"({inner}){text[len('tuple') :]}"
    # Solidity's aliases: uint -> uint256, int -> int256.
    text = re.sub(r"\b(u?int)(?=$|[\[,)])", r"\g<1>256", text)
    from eth_abi.exceptions import ABITypeError, ParseError
    from eth_abi.grammar import parse as parse_abi_type

    try:
        t = parse_abi_type(text)
        t.validate()
    except (ParseError, ABITypeError) as exc:
        raise ValueError(f"bad ABI type {text!r}: {exc}") from None
    return str(t.to_type_str())


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced parentheses")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ValueError("unbalanced parentheses")
    tail = "".join(cur)
    if tail.strip() or parts:
        parts.append(tail)
    return parts


_SIG = re.compile(r"^\s*(?:event\s+)?([A-Za-z_$][A-Za-z0-9_$]*)\s*\((.*)\)\s*(anonymous)?\s*;?\s*$", re.S)
_PARAM = re.compile(r"^\s*(\(.*\)(?:\[\d*\])*|[A-Za-z0-9_\[\]]+)\s*(indexed)?\s*([A-Za-z_$][A-Za-z0-9_$]*)?\s*$", re.S)


def parse_event(spec: str | Mapping[str, Any]) -> EventAbi:
    """An Envio-style signature ("Transfer(address indexed from, ...)") or an ABI fragment -> EventAbi.

    Raises ValueError with the reason."""
    if isinstance(spec, Mapping):
        if spec.get("type", "event") != "event":
            raise ValueError(f"ABI fragment has type {spec.get('type')!r}, not event")
        name = spec.get("name")
        inputs = spec.get("inputs", [])
        if not isinstance(name, str) or not _IDENT.match(name):
            raise ValueError("ABI fragment has no valid name")
        if not isinstance(inputs, list):
            raise ValueError("ABI fragment inputs is not a list")
        parsed = []
        for n, inp in enumerate(inputs):
            if not isinstance(inp, Mapping) or not isinstance(inp.get("type"), str):
                raise ValueError(f"ABI fragment input {n} has no type")
            type_str = _canonical_type(inp["type"], inp.get("components"))
            parsed.append(EventInput(str(inp.get("name") or ""), type_str, bool(inp.get("indexed", False))))
        abi = EventAbi(name, tuple(parsed), bool(spec.get("anonymous", False)))
    elif isinstance(spec, str):
        m = _SIG.match(spec)
        if not m:
            raise ValueError(f"not an event signature: {spec!r}")
        params = []
        for n, part in enumerate(_split_top(m.group(2))):
            pm = _PARAM.match(part)
            if not pm:
                raise ValueError(f"parameter {n + 1} {part.strip()!r} is not 'type [indexed] [name]'")
            params.append(EventInput(pm.group(3) or "", _canonical_type(pm.group(1)), bool(pm.group(2))))
        abi = EventAbi(m.group(1), tuple(params), bool(m.group(3)))
    else:
        raise ValueError(f"event must be a signature string or an ABI fragment, got {type(spec).__name__}")
    if abi.indexed_count > 4:
        raise ValueError(f"{abi.signature} has more than 4 topics")
    names = [i.name for i in abi.inputs if i.name]
    if len(set(names)) != len(names):
        raise ValueError(f"{abi.signature} repeats a parameter name")
    return abi


# ---------------------------------------------------------------------------------------------------
# Values: normalisation and exact comparison (never through float)


def normalise(value: Any) -> Value:
    """A decoded ABI value as fixtures store it: ints, bools, lowercase 0x-hex strings, lists."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value.lower() if _HEX_TEXT.match(value) else value
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if value is None:
        return None
    raise ValueError(f"cannot represent decoded value {value!r}")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_TEXT.match(value.strip()) and len(value.strip()) <= 4000:
        return int(value.strip())  # (int() refuses over 4300 digits; no fixture integer is that long)
    return None


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and _DEC_TEXT.match(value.strip()):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def values_equal(expected: Any, actual: Any) -> bool:
    """Is a belt's (or a decoded log's) `actual` value the fixture's `expected` one?

    bools and nulls exactly; integers (YAML ints or decimal strings) exactly as Python ints, with the
    actual side an int or a decimal string (a JSON float never equals an integer); decimal strings as
    Decimal; 0x-hex strings case-insensitively; other strings exactly; lists element-wise.
    """
    if expected is None or isinstance(expected, bool):
        return actual is expected if isinstance(actual, bool) or actual is None else False
    if isinstance(expected, int):
        a = _as_int(actual)
        return a is not None and a == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(expected)
            and all(values_equal(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, str):
        text = expected.strip()
        if _INT_TEXT.match(text):
            a = _as_int(actual)
            return a is not None and a == int(text)
        if _HEX_TEXT.match(text):
            return isinstance(actual, str) and actual.strip().lower() == text.lower()
        if _DEC_TEXT.match(text):
            d = _as_decimal(actual)
            return d is not None and d == Decimal(text)
        return isinstance(actual, str) and actual == expected
    return False


# ---------------------------------------------------------------------------------------------------
# Fixtures


@dataclass(frozen=True)
class GoldenEvent:
    """One golden fixture event: a log known on L1 (transaction, log index, block, address, ABI) and the entity row it
    must produce on a belt."""

    chain: int
    tx_hash: str  # lowercase
    log_index: int
    block_number: int
    block_hash: str  # lowercase
    address: str  # lowercase
    event: EventAbi
    entity: str
    entity_id: str
    fields: Mapping[str, Value]
    topics: tuple[str, ...] | None = None  # the raw log, when the fixture records it
    data: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)  # event parameter -> entity field
    note: str = ""
    source: str = ""  # "golden/8453.yaml: event 3"
    id: str = ""

    @property
    def topic0(self) -> str | None:
        """The topic0 the event's ABI gives its logs."""
        return self.event.topic0

    def field_for(self, param: str) -> str | None:
        """The entity field an event parameter maps to (explicit `params`, else the same name)."""
        if self.params:
            return self.params.get(param)
        return param if param in self.fields else None

    def short_id(self) -> str:
        """`chain:tx-prefix:log-index`, the event's id in case ids when no other event shares it."""
        return f"{self.chain}:{self.tx_hash[:10]}:{self.log_index}"


@dataclass(frozen=True)
class GoldenSet:
    """The golden events of a run and the fixture files they came from."""

    events: tuple[GoldenEvent, ...]
    files: tuple[str, ...] = ()

    @property
    def chains(self) -> frozenset[int]:
        """The chains the events are on."""
        return frozenset(e.chain for e in self.events)

    def by_chain(self, chain: int) -> tuple[GoldenEvent, ...]:
        """The events on one chain, in the set's order."""
        return tuple(e for e in self.events if e.chain == chain)

    def get(self, event_id: str) -> GoldenEvent | None:
        """The event with id `event_id`, None when the set holds none."""
        return next((e for e in self.events if e.id == event_id), None)

    @property
    def ids(self) -> tuple[tuple[int, str], ...]:
        """(chain, id) per event, in order: what the plan makes test ids of."""
        return tuple((e.chain, e.id) for e in self.events)

    def __len__(self) -> int:
        return len(self.events)


def _fail(where: str, message: str) -> SettingsError:
    return SettingsError(f"{where}: {message}")


def _hex_field(raw: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str, where: str) -> str:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        raise _fail(where, f"{key} must be a quoted string (YAML reads an unquoted 0x… as a number)")
    if not isinstance(value, str) or not pattern.match(value):
        raise _fail(where, f"{key} is not {what}")
    return value.lower()


def _int_field(raw: Mapping[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if isinstance(value, str) and _INT_TEXT.match(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(where, f"{key} is not a non-negative integer: {value!r}")
    return value


def _field_value(value: Any, where: str, name: str) -> Value:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise _fail(where, f"fields.{name} is a float ({value!r}); write it as a decimal string")
    if isinstance(value, list):
        return [_field_value(v, where, name) for v in value]
    kind = type(value).__name__
    raise _fail(where, f"fields.{name} must be an int, string, bool, null or list, not {kind}")


def parse_event_entry(raw: Any, where: str, default_chain: int | None = None) -> GoldenEvent:
    """Validate one fixture entry; `where` is e.g. "golden/8453.yaml: event 3"."""
    if not isinstance(raw, Mapping):
        raise _fail(where, "is not a mapping")
    unknown = sorted(str(k) for k in raw if k not in EVENT_KEYS)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(EVENT_KEYS))})")
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise _fail(where, f"{key} is missing")
    if "chain" in raw:
        chain = _int_field(raw, "chain", where)
    elif default_chain is not None:
        chain = default_chain
    else:
        raise _fail(where, "chain is missing (set it on the event or at the top of the file)")
    tx_hash = _hex_field(raw, "tx_hash", _HASH, "a 32-byte hex string", where)
    block_hash = _hex_field(raw, "block_hash", _HASH, "a 32-byte hex string", where)
    address = _hex_field(raw, "address", _ADDRESS, "a 20-byte hex address", where)
    log_index = _int_field(raw, "log_index", where)
    block_number = _int_field(raw, "block_number", where)
    try:
        event = parse_event(raw["event"])
    except ValueError as exc:
        raise _fail(where, f"event: {exc}") from None
    entity = raw["entity"]
    if not isinstance(entity, str) or not _IDENT.match(entity):
        raise _fail(where, f"entity is not an entity name: {entity!r}")
    entity_id = raw["entity_id"]
    if not isinstance(entity_id, str) or not entity_id:
        raise _fail(where, f"entity_id must be a non-empty quoted string, got {entity_id!r}")
    fields_raw = raw["fields"]
    if not isinstance(fields_raw, Mapping) or not fields_raw:
        raise _fail(where, "fields must be a non-empty mapping of entity field -> expected value")
    fields: dict[str, Value] = {}
    for name, value in fields_raw.items():
        if not isinstance(name, str) or not _IDENT.match(name):
            raise _fail(where, f"fields: {name!r} is not a field name")
        fields[name] = _field_value(value, where, name)
    topics: tuple[str, ...] | None = None
    if raw.get("topics") is not None:
        t = raw["topics"]
        if not isinstance(t, list) or not all(isinstance(x, str) and _HASH.match(x) for x in t):
            raise _fail(where, "topics is not a list of quoted 32-byte hex strings")
        topics = tuple(x.lower() for x in t)
        if len(topics) != event.indexed_count or (event.topic0 and topics[0] != event.topic0):
            raise _fail(where, f"topics do not fit the event {event.signature}")
    data: str | None = None
    if raw.get("data") is not None:
        data = _hex_field(raw, "data", _HEXDATA, "0x-hex bytes", where)
    if topics is not None and data is not None:
        try:
            event.decode(topics, data)
        except ValueError as exc:
            raise _fail(where, f"data: {exc}") from None
    params: dict[str, str] = {}
    if raw.get("params") is not None:
        p = raw["params"]
        if not isinstance(p, Mapping):
            raise _fail(where, "params must map event parameter -> entity field")
        names = {i.name for i in event.inputs}
        for k, v in p.items():
            if k not in names:
                raise _fail(where, f"params: {k!r} is not a parameter of {event.signature}")
            if not isinstance(v, str) or v not in fields:
                raise _fail(where, f"params.{k}: {v!r} is not one of the listed fields")
            params[str(k)] = v
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise _fail(where, "note must be a string")
    return GoldenEvent(
        chain,
        tx_hash,
        log_index,
        block_number,
        block_hash,
        address,
        event,
        entity,
        entity_id,
        fields,
        topics,
        data,
        params,
        note,
        where,
    )


def parse_fixture(text: str, source: str) -> list[GoldenEvent]:
    """All events of one fixture file's text. `source` names the file in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    default_chain: int | None = None
    if data is None:
        return []
    if isinstance(data, Mapping):
        unknown = sorted(str(k) for k in data if k not in ("chain", "events"))
        if unknown:
            raise SettingsError(f"{source}: unknown top-level key {unknown[0]!r} (expected chain, events)")
        if "chain" in data:
            default_chain = _int_field(data, "chain", source)
        entries = data.get("events")
        if not isinstance(entries, list):
            raise SettingsError(f"{source}: events must be a list")
    elif isinstance(data, list):
        entries = data
    else:
        raise SettingsError(f"{source}: expected a mapping with `events:` or a list of events")
    return [parse_event_entry(e, f"{source}: event {n}", default_chain) for n, e in enumerate(entries, 1)]


def _with_ids(events: Iterable[GoldenEvent]) -> tuple[GoldenEvent, ...]:
    ordered = sorted(events, key=lambda e: (e.chain, e.block_number, e.tx_hash, e.log_index))
    seen: dict[tuple[int, str, int], GoldenEvent] = {}
    for e in ordered:
        key = (e.chain, e.tx_hash, e.log_index)
        if key in seen:
            raise SettingsError(
                f"{e.source}: the same log (chain {e.chain}, tx {e.tx_hash}, log index {e.log_index})"
                f" is already golden in {seen[key].source}"
            )
        seen[key] = e
    shorts: dict[str, int] = {}
    for e in ordered:
        shorts[e.short_id()] = shorts.get(e.short_id(), 0) + 1
    out = []
    for e in ordered:
        eid = e.short_id() if shorts[e.short_id()] == 1 else f"{e.chain}:{e.tx_hash}:{e.log_index}"
        out.append(_replace_id(e, eid))
    return tuple(out)


def _replace_id(e: GoldenEvent, eid: str) -> GoldenEvent:
    from dataclasses import replace

    return replace(e, id=eid)


def load_golden(directory: Path, *, required: bool = False) -> GoldenSet:
    """Every *.yaml / *.yml under `directory` (sorted, recursively). A missing folder is an empty set,
    unless `required` (the user named it), then a SettingsError."""
    if not directory.exists():
        if required:
            raise SettingsError(f"golden folder {directory} does not exist")
        return GoldenSet(())
    if not directory.is_dir():
        raise SettingsError(f"golden folder {directory} is not a directory")
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    events: list[GoldenEvent] = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            raise SettingsError(f"cannot read golden fixture {path}: {exc.strerror}") from None
        events += parse_fixture(text, str(path))
    return GoldenSet(_with_ids(events), tuple(str(p) for p in files))


def event_to_mapping(e: GoldenEvent, *, with_chain: bool = True) -> dict[str, Any]:
    """One event as a fixture file holds it (the chain left out when the file is per chain)."""
    out: dict[str, Any] = {}
    if with_chain:
        out["chain"] = e.chain
    out.update(
        tx_hash=e.tx_hash,
        log_index=e.log_index,
        block_number=e.block_number,
        block_hash=e.block_hash,
        address=e.address,
        event=e.event.describe(),
        entity=e.entity,
        entity_id=e.entity_id,
        fields=dict(e.fields),
    )
    if e.topics is not None:
        out["topics"] = list(e.topics)
    if e.data is not None:
        out["data"] = e.data
    if e.params:
        out["params"] = dict(e.params)
    if e.note:
        out["note"] = e.note
    return out


_EVENT_STR = ("tx_hash", "block_hash", "address", "entity", "entity_id", "note", "source", "id")
_EVENT_INT = ("chain", "log_index", "block_number")


def event_to_json(e: GoldenEvent) -> dict[str, Any]:
    """A validated event as the snapshot carries it to the workers (`event_from_json` reads it back
    without validating the fixture again: the controller did, once)."""
    out: dict[str, Any] = {k: getattr(e, k) for k in (*_EVENT_STR, *_EVENT_INT)}
    out.update(
        event=e.event.to_json(),
        fields=dict(e.fields),
        topics=None if e.topics is None else list(e.topics),
        data=e.data,
        params=dict(e.params),
    )
    return out


def event_from_json(doc: Any) -> GoldenEvent:
    """`event_to_json`'s form; a missing or mistyped part raises ValueError (fail closed)."""
    if not isinstance(doc, Mapping):
        raise ValueError(f"a golden event is not an object: {doc!r:.80}")
    for key in _EVENT_STR:
        if not isinstance(doc.get(key), str):
            raise ValueError(f"golden event: {key} is {doc.get(key)!r:.40}, not text")
    for key in _EVENT_INT:
        if isinstance(doc.get(key), bool) or not isinstance(doc.get(key), int):
            raise ValueError(f"golden event {doc['id']}: {key} is {doc.get(key)!r:.40}, not an integer")
    fields, params, topics, data = doc.get("fields"), doc.get("params"), doc.get("topics"), doc.get("data")
    if not isinstance(fields, Mapping) or not isinstance(params, Mapping):
        raise ValueError(f"golden event {doc['id']}: fields or params is not an object")
    if topics is not None and not (isinstance(topics, list) and all(isinstance(t, str) for t in topics)):
        raise ValueError(f"golden event {doc['id']}: topics is not a list of hex")
    if data is not None and not isinstance(data, str):
        raise ValueError(f"golden event {doc['id']}: data is not hex")
    return GoldenEvent(
        chain=doc["chain"],
        tx_hash=doc["tx_hash"],
        log_index=doc["log_index"],
        block_number=doc["block_number"],
        block_hash=doc["block_hash"],
        address=doc["address"],
        event=EventAbi.from_json(doc.get("event")),
        entity=doc["entity"],
        entity_id=doc["entity_id"],
        fields=dict(fields),
        topics=None if topics is None else tuple(topics),
        data=data,
        params={str(k): str(v) for k, v in params.items()},
        note=doc["note"],
        source=doc["source"],
        id=doc["id"],
    )


def dump_fixture(events: Sequence[GoldenEvent], *, header: str = "") -> str:
    """Fixture YAML for `events` (one chain: `chain:` at the top; several: per event)."""
    chains = {e.chain for e in events}
    one = len(chains) == 1
    body: dict[str, Any] = {}
    if one:
        body["chain"] = next(iter(chains))
    body["events"] = [event_to_mapping(e, with_chain=not one) for e in events]
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False, width=200, allow_unicode=True)
    prefix = "".join(f"# {line}\n" for line in header.splitlines()) if header else ""
    return prefix + text


def write_fixture(path: Path, events: Sequence[GoldenEvent], *, header: str = "") -> None:
    """Write atomically (temp file + rename), then re-read it with the strict loader."""
    text = dump_fixture(events, header=header)
    parse_fixture(text, str(path))  # never write what we could not read back
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "DEFAULT_DIR",
    "EventAbi",
    "EventInput",
    "GoldenEvent",
    "GoldenSet",
    "dump_fixture",
    "event_to_mapping",
    "load_golden",
    "normalise",
    "parse_event",
    "parse_event_entry",
    "parse_fixture",
    "values_equal",
    "write_fixture",
]
