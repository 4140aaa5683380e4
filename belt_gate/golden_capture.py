"""`belt-gate golden capture`: turn a belt's entity rows into golden fixtures, confirmed by L1.

`capture_from_belt` reads rows from a belt (blue by default) through sources/graphql.py and hands them
to `capture` with an RpcClient for the chain. For every row: L1 must have the transaction's receipt
holding the log at the row's log index, from an allowed address with the mapped event's topic0, in the
row's block; the log's decoded parameters must equal the row's mapped fields; and the golden L1 rule
itself (block still canonical, eth_getLogs by block hash returns the log) must pass. If any row is not
confirmed, nothing is written and CaptureRefused lists every reason. Two JSON-RPC round trips in all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from belt_gate.errors import BeltGateError, SettingsError
from belt_gate.golden import EventAbi, GoldenEvent, Value, parse_fixture, values_equal, write_fixture
from belt_gate.rules.golden import golden_l1
from belt_gate.sources.graphql import GraphQLClient, Numeric, where_literal
from belt_gate.sources.rpc import RpcClient

if TYPE_CHECKING:
    from belt_gate.chain_facts import Log, Receipt
    from belt_gate.envio import EnvioSchema

_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_SKIP_FIELDS = frozenset({"__typename"})
#: CaptureRefused's one problem when no row was given at all
NOTHING = "no rows given: nothing to capture"


class CaptureRefused(BeltGateError):
    """L1 did not confirm every row: nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:20])
        more = f"\n  (+{len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"golden capture refused, nothing written; L1 does not confirm:\n  {shown}{more}")


@dataclass(frozen=True)
class EntityEvent:
    """How rows of one entity map to the log that made each of them.

    `params` maps event parameter -> entity field (default: parameters whose names are row fields).
    `addresses` are the contracts allowed to emit it (empty: any). Row column names default to the
    sample schema's (transactionHash, logIndex, blockNumber, chainId, id); `block_field`/`chain_field`
    may be None when the entity has no such column (the receipt then gives the block)."""

    entity: str
    event: EventAbi
    addresses: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    tx_field: str = "transactionHash"
    log_index_field: str = "logIndex"
    block_field: str | None = "blockNumber"
    chain_field: str | None = "chainId"
    id_field: str = "id"
    fields: tuple[str, ...] | None = None  # row fields recorded as expected values (default: all but id)


@dataclass(frozen=True)
class CaptureResult:
    """What a capture wrote: the fixture file, the events it added, and the JSON-RPC round trips it took."""

    path: Path
    events: tuple[GoldenEvent, ...]  # the captured ones (the file may hold more)
    round_trips: int


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _expected_value(value: Any) -> Value | None:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)  # exact decimal text; fixtures never hold floats
    if isinstance(value, list):
        items = [_expected_value(v) for v in value]
        return items
    return None


class _Staged(NamedTuple):
    """A row whose columns name a log: what L1 is asked about it."""

    mapping: EntityEvent
    row: Mapping[str, Any]
    tx: str  # lowercase
    log_index: int
    block: int | None  # the row's block, when it has one
    rid: str


def _stage(entity: str, mapping: EntityEvent, row: Mapping[str, Any], chain: int) -> _Staged | str:
    """The row's log as its columns name it, or the problem with the row (no request is sent for it)."""
    rid = row.get(mapping.id_field)
    label = f"{entity} {rid!r}"
    if not isinstance(rid, str | int) or isinstance(rid, bool) or str(rid) == "":
        return f"{label}: row has no {mapping.id_field}"
    tx = row.get(mapping.tx_field)
    log_index = _int(row.get(mapping.log_index_field))
    if not isinstance(tx, str) or not _HASH.match(tx):
        return f"{label}: {mapping.tx_field} is not a tx hash: {tx!r}"
    if log_index is None:
        return f"{label}: {mapping.log_index_field} is not a log index: {row.get(mapping.log_index_field)!r}"
    if mapping.chain_field and mapping.chain_field in row and _int(row[mapping.chain_field]) != chain:
        return f"{label}: row is on chain {row[mapping.chain_field]!r}, the RPC serves {chain}"
    block = None
    if mapping.block_field and row.get(mapping.block_field) is not None:
        block = _int(row[mapping.block_field])
        if block is None:
            return f"{label}: {mapping.block_field} is not a block number"
    return _Staged(mapping, row, tx.lower(), log_index, block, str(rid))


def _stage_rows(
    rows_by_entity: Mapping[str, Sequence[Mapping[str, Any]]],
    event_map: Mapping[str, EntityEvent],
    chain: int,
    problems: list[str],
) -> list[_Staged]:
    """Every row's log, by entity name; a row that names none adds its problem to `problems`."""
    staged: list[_Staged] = []
    for entity, rows in sorted(rows_by_entity.items()):
        mapping = event_map.get(entity)
        if mapping is None:
            raise SettingsError(f"golden capture: no event mapping for entity {entity}")
        for row in rows:
            match _stage(entity, mapping, row, chain):
                case str(problem):
                    problems.append(problem)
                case staged_row:
                    staged.append(staged_row)
    return staged


def _confirmed_log(s: _Staged, receipt: Receipt | None, label: str) -> tuple[Receipt, Log] | str:
    """The receipt and its log when L1 confirms the row (decoded parameters equal to the row's), else the problem."""
    mapping, row = s.mapping, s.row
    if receipt is None:
        return f"{label}: L1 has no receipt for the transaction"
    if s.block is not None and receipt.block_number != s.block:
        return f"{label}: the row says block {s.block}, L1 puts the tx in {receipt.block_number}"
    log = receipt.log_at(s.log_index)
    if log is None:
        return f"{label}: the receipt has no log with that index"
    allowed = {a.lower() for a in mapping.addresses}
    if allowed and log.address not in allowed:
        return f"{label}: log emitted by {log.address}, not by {sorted(allowed)}"
    if mapping.event.topic0 is not None and log.topic0 != mapping.event.topic0:
        return f"{label}: log is not {mapping.event.signature} (topic0 {log.topic0})"
    try:
        decoded = mapping.event.decode(log.topics, log.data)
    except ValueError as exc:
        return f"{label}: {exc}"
    params = dict(mapping.params) or {p: p for p in decoded if p in row and mapping.event.comparable(p)}
    wrong = [
        f"{p}={decoded[p]!r} on L1, row {f}={row.get(f)!r}"
        for p, f in params.items()
        if p in decoded and (f not in row or not values_equal(decoded[p], row[f]))
    ]
    if wrong:
        return f"{label}: decoded log differs from the row: {'; '.join(wrong)}"
    return receipt, log


def _recorded_fields(s: _Staged, label: str) -> dict[str, Value] | str:
    """The row's fields the fixture records as expected values, or the problem."""
    mapping, row = s.mapping, s.row
    names = (
        mapping.fields
        if mapping.fields is not None
        else tuple(k for k in row if k != mapping.id_field and k not in _SKIP_FIELDS)
    )
    fields: dict[str, Value] = {}
    for name in names:
        if name not in row:
            return f"{label}: row has no field {name}"
        value = _expected_value(row[name])
        if value is not None or row[name] is None:
            fields[name] = value
    if not fields:
        return f"{label}: no fields to record"
    return fields


def _golden_event(s: _Staged, receipt: Receipt | None, chain: int, note: str) -> GoldenEvent | str:
    """The fixture's event for a staged row, L1's receipt in hand, or the problem."""
    label = f"{s.mapping.entity} {s.rid!r} (chain {chain}, tx {s.tx}, log index {s.log_index})"
    confirmed = _confirmed_log(s, receipt, label)
    if isinstance(confirmed, str):
        return confirmed
    receipt, log = confirmed
    fields = _recorded_fields(s, label)
    if isinstance(fields, str):
        return fields
    return GoldenEvent(
        chain=chain,
        tx_hash=s.tx,
        log_index=s.log_index,
        block_number=receipt.block_number,
        block_hash=receipt.block_hash,
        address=log.address,
        event=s.mapping.event,
        entity=s.mapping.entity,
        entity_id=s.rid,
        fields=fields,
        topics=log.topics,
        data=log.data,
        params={p: f for p, f in (s.mapping.params or {}).items() if f in fields},
        note=note,
    )


def _write(out_dir: Path, file_name: str | None, chain: int, candidates: Sequence[GoldenEvent]) -> Path:
    """Merge the captured events into the chain's fixture file (a log already there is replaced)."""
    path = out_dir / (file_name or f"{chain}.yaml")
    existing: list[GoldenEvent] = []
    if path.exists():
        existing = parse_fixture(path.read_text(), str(path))
    fresh = {(c.chain, c.tx_hash, c.log_index) for c in candidates}
    kept = [e for e in existing if (e.chain, e.tx_hash, e.log_index) not in fresh]
    ordered = sorted([*kept, *candidates], key=lambda e: (e.chain, e.block_number, e.tx_hash, e.log_index))
    write_fixture(path, ordered, header=f"golden events captured by belt-gate, confirmed on L1 (chain {chain})")
    return path


def capture(
    rows_by_entity: Mapping[str, Sequence[Mapping[str, Any]]],
    rpc: RpcClient,
    event_map: Mapping[str, EntityEvent],
    out_dir: Path,
    *,
    file_name: str | None = None,
    note: str = "",
) -> CaptureResult:
    """Verify every row against L1 (rpc's chain) and write them to `out_dir/<chain>.yaml` (merged with
    what the file holds; a log already there is replaced by the fresh capture). Raises CaptureRefused
    (nothing written) if any row is not confirmed, SettingsError for rows of unmapped entities."""
    chain = rpc.chain_id
    trips0 = rpc.round_trips
    problems: list[str] = []
    staged = _stage_rows(rows_by_entity, event_map, chain, problems)
    receipts = rpc.receipts([s.tx for s in staged]) if staged else {}
    candidates: list[GoldenEvent] = []
    for s in staged:
        match _golden_event(s, receipts.get(s.tx), chain, note):
            case str(problem):
                problems.append(problem)
            case event:
                candidates.append(event)
    if candidates:
        probe = rpc.golden_probe(candidates)
        for c in candidates:
            verdict = golden_l1(c, probe.for_event(c), endpoint=rpc.endpoint)
            if not verdict.passed:
                problems.append(verdict.message)
    if problems:
        raise CaptureRefused(problems)
    if not candidates:
        raise CaptureRefused([NOTHING])
    path = _write(out_dir, file_name, chain, candidates)
    return CaptureResult(path, tuple(candidates), rpc.round_trips - trips0)


async def _belt_rows(
    belt_url: str,
    chain: int,
    event_map: Mapping[str, EntityEvent],
    schema: EnvioSchema,
    *,
    count: int,
    blocks: tuple[tuple[int, int], int] | None,
) -> dict[str, list[dict[str, Any]]]:
    """Each mapped entity's rows on `chain` from the belt, through sources/graphql (one request each)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    async with GraphQLClient("belt", belt_url, timeout=30.0) as client:
        for name, mapping in event_map.items():
            entity = schema.entity(name)
            if entity is None:
                raise SettingsError(f"the schema has no entity {name}")
            cols = " ".join(f.column for f in entity.columns if not f.is_list)
            conds: list[tuple[str, str, Any]] = [(entity.chain_column or "chainId", "_eq", chain)]
            later: list[list[tuple[str, str, Any]]] = []
            order = "{id: asc}"
            if blocks is not None:
                block = entity.block_column or mapping.block_field
                if block is None:
                    raise SettingsError(f"--newer needs a block number field on {name}")
                (after_block, after_log), top = blocks
                conds.append((block, "_lte", Numeric(top)))
                later = [
                    [(block, "_gt", Numeric(after_block))],
                    [(block, "_eq", Numeric(after_block)), (mapping.log_index_field, "_gt", after_log)],
                ]
                order = f"[{{{block}: asc}}, {{{mapping.log_index_field}: asc}}]"
            where = where_literal(conds, later)
            query = f"{{ rows: {name}({where}, order_by: {order}, limit: {count}) {{ {cols} }} }}"
            data = await client.query(query, f"{name} rows on chain {chain}")
            got = data.get("rows")
            if not isinstance(got, list):
                raise SettingsError(f"{client.endpoint}: cannot read {name}: the answer holds no row list")
            rows[name] = got
            if not got and blocks is None:
                raise SettingsError(f"{client.endpoint}: no {name} rows on chain {chain}")
    return rows


def capture_from_belt(
    belt_url: str,
    rpc_url: str,
    chain: int,
    event_map: Mapping[str, EntityEvent],
    schema: EnvioSchema,
    out_dir: Path,
    *,
    count: int,
    note: str = "",
    blocks: tuple[tuple[int, int], int] | None = None,
) -> CaptureResult:
    """The first `count` rows (by id) of each mapped entity on `chain`, confirmed on L1, into `out_dir`.
    `blocks` ((block, log index) after, block up to): instead, the `count` oldest rows of all mapped
    entities together that come after that log and stand at or below that block, in block and log order."""
    import asyncio

    rows = asyncio.run(_belt_rows(belt_url, chain, event_map, schema, count=count, blocks=blocks))
    if blocks is not None:
        rows = _oldest(rows, event_map, count)
    with RpcClient(chain, rpc_url) as rpc:
        return capture(rows, rpc, event_map, out_dir, note=note)


def _oldest(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], event_map: Mapping[str, EntityEvent], count: int
) -> dict[str, list[dict[str, Any]]]:
    """The `count` oldest rows of all entities together, by (block, log index), kept per entity."""

    def order(item: tuple[str, Mapping[str, Any]]) -> tuple[int, int]:
        name, row = item
        m = event_map[name]
        return int(str(row.get(m.block_field or "blockNumber"))), int(str(row.get(m.log_index_field)))

    picked = sorted(((n, r) for n, rs in rows.items() for r in rs), key=order)[:count]
    out: dict[str, list[dict[str, Any]]] = {}
    for name, row in picked:
        out.setdefault(name, []).append(dict(row))
    return out


__all__ = ["NOTHING", "CaptureRefused", "CaptureResult", "EntityEvent", "capture", "capture_from_belt"]
