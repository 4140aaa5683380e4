"""Faults the sandbox can inject into one belt (or its chains' RPC), parsed from short strings.

Grammar (one fault per string; `sandbox up --fault green:drop:NftTransfer@8453`):

    drop:ENTITY@CHAIN[#N]            leave out the N-th (default 2nd, 0-based 1) event of ENTITY on CHAIN
    dup:ENTITY@CHAIN[#N]             write the N-th event twice (second copy gets id suffix "-dup")
    corrupt:ENTITY@CHAIN:FIELD[#N]   add 1 to a numeric FIELD of the N-th event (or flip a string's case)
    rechain:ENTITY@CHAIN=OTHER[#N]   write the N-th event of ENTITY on CHAIN with chain id OTHER (a wrong chain id)
    lag:CHAIN=BLOCK                  stop indexing CHAIN at BLOCK (chain_metadata says so, honestly)
    skip:CHAIN                       leave CHAIN out entirely (no rows, no chain_metadata row)
    extra:CHAIN                      index CHAIN although the belt's chain set lacks it
    schema-remove:ENTITY.FIELD       the served schema lacks that field
    schema-nullable:ENTITY.FIELD     the served schema makes a non-null field nullable
    table-remove:ENTITY              the belt's schema lacks ENTITY: no table is indexed or served
    enum-remove:ENUM.VALUE           the belt's Envio schema file lacks that enum value
    rpc-empty:CHAIN                  the RPC proxy for CHAIN answers [] to every eth_getLogs
    rpc-5xx:CHAIN                    the RPC proxy for CHAIN answers HTTP 503
    slow:SECONDS                     the GraphQL endpoint waits SECONDS before each answer
    http5xx                          the GraphQL endpoint answers HTTP 503

Faults compose: several on one slice each act on their own event, so `drop:NftTransfer@8453#1` with
`dup:NftTransfer@8453#3` loses one row and adds another (the count is unchanged, the fingerprint is not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from belt_gate.errors import SettingsError

KINDS = (
    "drop",
    "dup",
    "corrupt",
    "rechain",
    "lag",
    "skip",
    "extra",
    "schema-remove",
    "schema-nullable",
    "enum-remove",
    "table-remove",
    "rpc-empty",
    "rpc-5xx",
    "slow",
    "http5xx",
)

_EVENT = re.compile(r"^(?P<entity>[A-Za-z_]\w*)@(?P<chain>\d+)(?::(?P<field>[A-Za-z_]\w*))?(?:#(?P<n>\d+))?$")
_RECHAIN = re.compile(r"^(?P<entity>[A-Za-z_]\w*)@(?P<chain>\d+)=(?P<other>\d+)(?:#(?P<n>\d+))?$")
_NAME = re.compile(r"^[A-Za-z_]\w*$")
_DOTTED = re.compile(r"^(?P<a>[A-Za-z_]\w*)\.(?P<b>[A-Za-z_]\w*)$")


@dataclass(frozen=True)
class Fault:
    """One fault a sandbox belt is started with: its kind and where it strikes (entity, chain, field, the index-th row,
    a block, a delay, the chain written instead)."""

    kind: str
    entity: str | None = None
    chain: int | None = None
    field: str | None = None
    index: int = 1
    block: int | None = None
    seconds: float | None = None
    other_chain: int | None = None  # rechain: the chain id written instead

    def __str__(self) -> str:
        return format_fault(self)


def parse_fault(text: str) -> Fault:
    """Parse one fault string; a bad one raises SettingsError with one readable line."""
    kind, _, arg = text.strip().partition(":")
    if kind not in KINDS:
        raise SettingsError(f"unknown fault {text!r}: kind must be one of {', '.join(KINDS)}")
    try:
        if kind in ("drop", "dup", "corrupt"):
            m = _EVENT.match(arg)
            if not m or (kind == "corrupt") != bool(m.group("field")):
                shape = "ENTITY@CHAIN:FIELD" if kind == "corrupt" else "ENTITY@CHAIN"
                raise ValueError(f"expected {kind}:{shape}[#N]")
            return Fault(kind, m.group("entity"), int(m.group("chain")), m.group("field"), int(m.group("n") or 1))
        if kind == "rechain":
            m = _RECHAIN.match(arg)
            if not m or m.group("chain") == m.group("other"):
                raise ValueError("expected rechain:ENTITY@CHAIN=OTHER[#N] with OTHER another chain")
            return Fault(
                kind,
                m.group("entity"),
                int(m.group("chain")),
                index=int(m.group("n") or 1),
                other_chain=int(m.group("other")),
            )
        if kind == "table-remove":
            if not _NAME.match(arg):
                raise ValueError("expected table-remove:ENTITY")
            return Fault(kind, entity=arg)
        if kind == "lag":
            chain, _, block = arg.partition("=")
            return Fault(kind, chain=int(chain), block=int(block))
        if kind in ("skip", "extra", "rpc-empty", "rpc-5xx"):
            return Fault(kind, chain=int(arg))
        if kind in ("schema-remove", "schema-nullable", "enum-remove"):
            m = _DOTTED.match(arg)
            if not m:
                raise ValueError(f"expected {kind}:NAME.MEMBER")
            return Fault(kind, entity=m.group("a"), field=m.group("b"))
        if kind == "slow":
            seconds = float(arg)
            if not 0 < seconds < 600:
                raise ValueError("seconds must be in (0, 600)")
            return Fault(kind, seconds=seconds)
        if arg:
            raise ValueError(f"{kind} takes no argument")
        return Fault(kind)
    except ValueError as exc:
        msg = str(exc) if "expected" in str(exc) or "seconds" in str(exc) else "bad number"
        raise SettingsError(f"bad fault {text!r}: {msg}") from None


def format_fault(f: Fault) -> str:
    """The fault as its `--fault` text, the inverse of parse_fault."""
    if f.kind in ("drop", "dup", "corrupt"):
        field = f":{f.field}" if f.field else ""
        return f"{f.kind}:{f.entity}@{f.chain}{field}#{f.index}"
    if f.kind == "rechain":
        return f"rechain:{f.entity}@{f.chain}={f.other_chain}#{f.index}"
    if f.kind == "table-remove":
        return f"table-remove:{f.entity}"
    if f.kind == "lag":
        return f"lag:{f.chain}={f.block}"
    if f.kind in ("skip", "extra", "rpc-empty", "rpc-5xx"):
        return f"{f.kind}:{f.chain}"
    if f.kind in ("schema-remove", "schema-nullable", "enum-remove"):
        return f"{f.kind}:{f.entity}.{f.field}"
    if f.kind == "slow":
        return f"slow:{f.seconds:g}"
    return f.kind
