"""What one run knows about blue, green and the chains: fetched once, on the controller, shipped as JSON.

Order: introspection + progress of both belts (concurrently) -> chains and entities to plan -> chain
heads and cutoff timestamps from the RPCs -> reconciliation C settling -> one batched fingerprint request per belt
-> sampled rows (one request per belt) -> schema changes. Every failure is kept as a message on the
thing it concerns; nothing here decides pass/fail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from belt_gate import localise, sampling
from belt_gate.dialect import Dialect, read_dialect, schema_of, shared_columns
from belt_gate.envio import Entity, Reconciliation
from belt_gate.errors import BeltGateError, EndpointError
from belt_gate.plan import EntityPlan, entity_plans
from belt_gate.redact import redact_text, redact_url
from belt_gate.rules.schema import schema_changes
from belt_gate.settings import Settings
from belt_gate.sources.graphql import (
    PROGRESS_FIELDS_CHAIN_METADATA,
    PROGRESS_FIELDS_META,
    AggregateAsk,
    Numeric,
    RowsAsk,
    normalise_progress,
)
from belt_gate.sources.l1 import read as read_l1_checks
from belt_gate.sources.recorded import (
    BeltSource,
    LiveSource,
    Tape,
    write_recording,
)

MAX_ALIASES_PER_REQUEST = 20_000  # one request per belt even at 100 chains × 100 entities
PROGRESS_ALIAS = "_progress"


@dataclass
class BeltState:
    """What the snapshot learned of one belt: its endpoint, schema dialect and introspection, progress per chain, and
    the errors that stopped a read."""

    name: str
    source: BeltSource
    dialect: Dialect | None = None
    introspection: dict[str, Any] | None = None
    error: str | None = None  # the endpoint could not be read at all
    progress: dict[int, dict[str, Any]] | None = None
    progress_error: str | None = None
    recording: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The belt's part of the snapshot as plain JSON (endpoint redacted by its source, chain ids as strings)."""
        return {
            "endpoint": self.source.endpoint,
            "error": self.error,
            "progress_source": self.dialect.progress_source if self.dialect else None,
            "progress": None if self.progress is None else {str(k): v for k, v in self.progress.items()},
            "progress_error": self.progress_error,
            "tables": list(self.dialect.tables) if self.dialect else None,
            "requests": self.source.requests,
            "seconds": round(self.source.seconds, 4),
        }


def _msg(exc: BaseException) -> str:
    if isinstance(exc, BeltGateError):
        return redact_text(str(exc))
    return redact_text(f"{type(exc).__name__}: {exc}")


def open_source(settings: Settings, belt: str, tape: Tape) -> tuple[BeltSource, dict[str, Any] | None]:
    """A belt's source on the run's tape and the recording its answers go into (None: not recording)."""
    target, headers = settings.target(belt)
    return tape.source(belt, target, headers, settings.timeout), tape.recording(belt)


async def _read_belt(state: BeltState) -> None:
    try:
        state.introspection = await state.source.introspect()
        state.dialect = read_dialect(state.introspection)
    except Exception as exc:
        state.error = _msg(exc)
        return
    await _read_progress(state)


async def _read_progress(state: BeltState) -> None:
    assert state.dialect is not None
    source = state.dialect.progress_source
    if source is None:
        state.progress_error = (
            f"{state.name} {state.source.endpoint}: neither chain_metadata nor _meta is "
            "visible to this role (grant select on chain_metadata, or set "
            f"BELT_{state.name.upper()}_ADMIN_SECRET)"
        )
        return
    try:
        rows = await state.source.progress(source)
        state.progress = _progress_map(rows)
        state.progress_error = None
    except Exception as exc:
        state.progress_error = _msg(exc)


def _progress_map(rows: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        try:
            chain = int(str(row.get("chain_id")))
        except ValueError:
            continue
        out[chain] = {"processed": row.get("processed"), "head": row.get("head")}
    return out


def _as_int(value: Any) -> int | None:
    try:
        n = int(str(value))
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


@dataclass
class L1Reader:
    """Heads and block timestamps from the chains' RPCs (sync client, run in threads)."""

    settings: Settings
    heads: dict[int, int] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    round_trips: dict[int, int] = field(default_factory=dict)
    tape: Tape | None = None  # the run's recording / replay of the chains' answers

    def _client(self, chain: int) -> Any:
        from belt_gate.sources.rpc import RpcClient

        if self.tape is not None:
            return self.tape.rpc(chain, self.settings.rpc[chain], timeout=min(self.settings.timeout, 10.0))
        return RpcClient(chain, self.settings.rpc[chain], timeout=min(self.settings.timeout, 10.0))

    def read_heads(self, chains: Iterable[int]) -> None:
        """Read each chain's head from its RPC, the chains at once (a slow or unresponsive RPC costs its own
        deadline, not one per chain before it); a chain without an RPC is left out, a failed read is kept in
        `errors` (the L1 rules then cannot check it)."""
        wanted = [c for c in chains if c in self.settings.rpc]

        def one(chain: int) -> tuple[int, int | None, int, str | None]:
            try:
                with self._client(chain) as rpc:
                    return chain, int(rpc.head_block()), rpc.round_trips, None
            except Exception as exc:
                return chain, None, 0, _msg(exc)

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(wanted)))) as pool:
            read = list(pool.map(one, wanted))
        for chain, head, trips, error in read:  # in the chains' order, whatever finished first
            if error is not None:
                self.errors[chain] = error
                continue
            assert head is not None
            self.heads[chain] = head
            self.round_trips[chain] = self.round_trips.get(chain, 0) + trips

    def timestamp(self, chain: int, block: int) -> int:
        """The timestamp of `block` on `chain` (a reconciliation B cutoff); EndpointError when the RPC does not know the
        block."""
        with self._client(chain) as rpc:
            b = rpc.block(block)
            self.round_trips[chain] = self.round_trips.get(chain, 0) + rpc.round_trips
        if b is None:
            raise EndpointError(f"block {block} not found", endpoint=redact_url(self.settings.rpc[chain]))
        return int(b.timestamp)


def plan_entities(settings: Settings, blue: BeltState, green: BeltState) -> list[EntityPlan]:
    """Entities from the settings' schema, plus any table either belt serves that the schema lacks."""
    models: dict[str, Entity] = {}
    for state in (green, blue):
        if state.dialect is not None:
            models.update(state.dialect.entities)
    if settings.schema is not None:
        models.update({e.name: e for e in settings.schema.entities})
    chosen = {name: settings.entity_reconciliation(name, e.inferred_reconciliation) for name, e in models.items()}
    return entity_plans(models.values(), chosen)


def plan_chains(settings: Settings, blue: BeltState, green: BeltState) -> list[int]:
    """The chains to compare: the expected and configured ones and every chain either belt reports progress for."""
    chains = set(settings.expected_chains) | set(settings.config_chains)
    for state in (blue, green):
        chains |= set(state.progress or {})
    return sorted(chains)


def _no_block(state: BeltState, chain: int) -> str:
    if state.progress is not None and chain not in state.progress:
        return f"{state.name} does not index chain {chain} (see chain_set)"
    return f"no processed block on chain {chain} from {state.name}"


def compute_cutoffs(
    chains: Sequence[int], blue: BeltState, green: BeltState, l1: L1Reader, margin: int
) -> dict[int, dict[str, Any]]:
    """Per chain the block both belts are compared at: the lower processed block, lowered to the chain head minus
    `margin` when that is lower. A chain either belt reports no block for gets an error instead."""
    cutoffs: dict[int, dict[str, Any]] = {}
    for chain in chains:
        b = _as_int((blue.progress or {}).get(chain, {}).get("processed"))
        g = _as_int((green.progress or {}).get(chain, {}).get("processed"))
        if b is None or g is None:
            why_not = [_no_block(state, chain) for state, v in ((blue, b), (green, g)) if v is None]
            cutoffs[chain] = {"block": None, "error": "; ".join(why_not), "blue": b, "green": g}
            continue
        block = min(b, g)
        why = "lower processed block"
        if chain in l1.heads and margin:
            if l1.heads[chain] - margin < block:
                block, why = max(l1.heads[chain] - margin, 0), f"chain head {l1.heads[chain]} - {margin}"
        cutoffs[chain] = {"block": block, "why": why, "blue": b, "green": g, "settled": b == g}
    return cutoffs


def _column_type(models: Mapping[str, Entity], entity: str, column: str) -> str:
    e = models.get(entity)
    f = next((f for f in e.columns if f.column == column), None) if e else None
    return f.type_name if f else "BigInt"


def _lit(type_name: str, value: int) -> Any:
    return value if type_name == "Int" else Numeric(value)


@dataclass
class FingerprintPlan:
    """What one (entity, chain) slice is compared on. `scope` "cutoff": both belts filtered to the same
    history (`conditions` carry the cutoff; `total_conditions` the whole slice, to tell a cutoff that
    compares nothing); "current": the current state, judged with the belts' heights (`height_chains`)."""

    label: str
    entity: EntityPlan
    chain: int | None
    conditions: tuple[tuple[str, str, Any], ...]
    cutoff_text: str
    error: str | None = None
    new_chain: bool = False
    scope: str = "current"
    total_conditions: tuple[tuple[str, str, Any], ...] = ()
    cutoff_why: str = ""
    height_chains: tuple[int, ...] = ()

    @property
    def entity_name(self) -> str:
        """The entity the slice is of."""
        return self.entity.name

    @property
    def chain_column(self) -> str | None:
        """The column naming a row's chain; None: the entity is compared whole, not per chain."""
        return self.entity.chain_column

    @property
    def heights_on(self) -> tuple[int, ...]:
        """The chains whose heights a current-state comparison of this slice depends on."""
        return self.height_chains or ((self.chain,) if self.chain is not None else ())

    @property
    def append_only(self) -> bool:
        """True when the entity is reconciled at a block or a time (A, B), its rows taken for history that does not
        change; False for a converged entity (C), compared on its current state."""
        return self.entity.reconciliation != Reconciliation.CONVERGED


def _no_cutoff(cut: Mapping[str, Any] | None, chain: int) -> str | None:
    if cut is None:
        return f"no cutoff for chain {chain}"
    if cut.get("block") is None:
        return str(cut.get("error") or f"no cutoff for chain {chain}")
    return None


def fingerprint_plans(
    entities: Sequence[EntityPlan],
    chains: Sequence[int],
    cutoffs: Mapping[int, Mapping[str, Any]],
    models: Mapping[str, Entity],
    timestamps: Mapping[int, int | None],
    ts_errors: Mapping[int, str],
    new_chains: Iterable[int] = (),
) -> list[FingerprintPlan]:
    """`new_chains`: chains green adds in expansion; blue has no baseline there (the L1 checks judge).

    Reconciliation A compares at the cutoff block; B at the cutoff block's timestamp (from the RPC), else the
    current state; C (and an entity without a chain field) the current state. Only facts are kept
    here (why a slice has no cutoff); the rules decide what they mean."""
    new = set(new_chains)
    out = []
    for e in entities:
        targets: list[int | None] = list(chains) if e.chain_column else [None]
        for chain in targets:
            label = f"{e.name}@{chain}" if chain is not None else e.name
            conds: list[tuple[str, str, Any]] = []
            if chain is not None and e.chain_column:
                conds.append((e.chain_column, "_eq", _lit(_column_type(models, e.name, e.chain_column), chain)))
            cut = cutoffs.get(chain) if chain is not None else None
            fp = FingerprintPlan(label, e, chain, (), "the current state")
            fp.height_chains = (chain,) if chain is not None else tuple(chains)
            fp.total_conditions = tuple(conds)
            if chain in new:
                fp.new_chain = True
                fp.cutoff_text = "new chain"
            elif chain is not None and e.reconciliation in (Reconciliation.AT_BLOCK, Reconciliation.AT_TIMESTAMP):
                column = e.block_column if e.reconciliation == Reconciliation.AT_BLOCK else e.timestamp_column
                fp.error = _no_cutoff(cut, chain)
                if column is None:
                    at_block = e.reconciliation == Reconciliation.AT_BLOCK
                    kind, how = ("block number", "at block") if at_block else ("timestamp", "at timestamp")
                    fp.error = (
                        f"reconciliation {e.reconciliation.value} ({how}) needs a {kind} field; {e.name} has none "
                        f"(name it with [entities.{e.name}] in belt.toml, or set its reconciliation)"
                    )
                elif cut is not None and fp.error is None:
                    fp.cutoff_why = str(cut.get("why") or "")
                    ts = timestamps.get(chain)
                    if e.reconciliation == Reconciliation.AT_BLOCK:
                        value, fp.cutoff_text = cut["block"], f"block <= {cut['block']}"
                    elif ts is not None:
                        value, fp.cutoff_text = ts, f"timestamp <= {ts} (block {cut['block']})"
                    else:
                        value = None  # no timestamp for the cutoff block: the current state, with heights
                        fp.cutoff_text = (
                            f"the current state (no timestamp for cutoff block {cut['block']}: "
                            f"{ts_errors.get(chain) or f'no --belt-rpc {chain}=URL'})"
                        )
                    if value is not None:
                        fp.scope = "cutoff"
                        conds.append((column, "_lte", _lit(_column_type(models, e.name, column), value)))
            elif chain is not None and e.reconciliation == Reconciliation.CONVERGED:
                fp.error = _no_cutoff(cut, chain)
            fp.conditions = tuple(conds)
            out.append(fp)
    return out


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


async def _batched(fetch: Callable[[Sequence[Any]], Any], asks: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for chunk in _chunks(asks, MAX_ALIASES_PER_REQUEST):
        if chunk:
            out.update(await fetch(chunk))
    return out


def _heights_at(read_at: Mapping[str, Mapping[int, Mapping[str, Any]]], chains: Sequence[int]) -> dict[str, Any]:
    """Each belt's processed block on `chains` as read in the same request as its answer (None: not read)."""
    out: dict[str, Any] = {}
    for belt in ("blue", "green"):
        progress = read_at.get(belt)
        out[belt] = (
            None
            if progress is None or not chains
            else {str(c): (progress.get(c) or {}).get("processed") for c in chains}
        )
    return out


async def read_fingerprints(
    blue: BeltState,
    green: BeltState,
    plans: Sequence[FingerprintPlan],
    cutoffs: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """One batched request per belt: every slice's fingerprint, for a slice compared at a cutoff also its
    row count over the whole slice (a cutoff below every row compares nothing), and the belt's progress,
    read in the same request (one transaction), so a current-state slice is judged at the heights the
    belts stood at when read. `cutoffs` is unused (kept for callers)."""
    read_at: dict[str, dict[int, dict[str, Any]]] = {}
    result: dict[str, dict[str, Any]] = {}
    asks: dict[str, list[AggregateAsk]] = {"blue": [], "green": []}
    aliases: dict[str, str] = {}
    states = {"blue": blue, "green": green}
    dialects = [s.dialect for s in states.values() if s.dialect is not None]
    for i, fp in enumerate(plans):
        name = fp.entity.name
        sums = set.intersection(*(set(d.sum_columns.get(name, ())) for d in dialects)) if dialects else set()
        minmax = set.intersection(*(set(d.minmax_columns.get(name, ())) for d in dialects)) if dialects else set()
        entry: dict[str, Any] = {
            "cutoff": fp.cutoff_text,
            "cutoff_why": fp.cutoff_why,
            "scope": fp.scope,
            "append_only": fp.append_only,
            "asked": {"sum": sorted(sums), "minmax": sorted(minmax)},
            "blue": None,
            "green": None,
        }
        result[fp.label] = entry
        if fp.error:
            entry["error"] = fp.error
            continue
        if fp.new_chain:
            entry["new_chain"] = True
            continue
        if fp.scope == "cutoff":
            entry["blue_total"] = entry["green_total"] = None
        for belt, state in states.items():
            if state.error or state.dialect is None:
                entry[f"{belt}_error"] = state.error or "unreadable"
            elif name not in state.dialect.tables:
                entry[f"{belt}_absent"] = True
            elif not state.dialect.has_aggregate(name):
                entry[f"{belt}_error"] = (
                    f"{state.source.endpoint}: no aggregate permission on {name} for this role "
                    f"(grant select with allow_aggregations, or set BELT_{belt.upper()}_ADMIN_SECRET)"
                )
            else:
                alias = f"f{i}"
                aliases[fp.label] = alias
                asks[belt].append(AggregateAsk(alias, name, fp.conditions, tuple(sorted(sums)), tuple(sorted(minmax))))
                if fp.scope == "cutoff":
                    asks[belt].append(AggregateAsk(f"t{i}", name, fp.total_conditions, (), ()))

    async def run(belt: str) -> None:
        state = states[belt]
        if not asks[belt]:
            return
        try:
            progress = state.dialect.progress_source if state.dialect else None
            data = await _batched(lambda chunk: state.source.aggregates(chunk, progress), asks[belt])
            if isinstance(data.get("_progress"), list):
                read_at[belt] = _progress_map(data["_progress"])
        except Exception as exc:
            for fp in plans:
                if fp.label in aliases and result[fp.label].get(f"{belt}_absent") is None:
                    result[fp.label].setdefault(f"{belt}_error", _msg(exc))
            return
        for fp in plans:
            alias = aliases.get(fp.label)
            entry = result[fp.label]
            if alias is None or f"{belt}_error" in entry or entry.get(f"{belt}_absent"):
                continue
            if alias not in data or data[alias] is None:
                entry[f"{belt}_error"] = f"{state.source.endpoint}: no answer for {fp.label}"
                continue
            entry[belt] = data[alias]
            if fp.scope == "cutoff":
                entry[f"{belt}_total"] = data.get("t" + alias[1:])

    await asyncio.gather(run("blue"), run("green"))
    for fp in plans:
        entry = result[fp.label]
        if fp.scope == "current" and not entry.get("error") and not fp.new_chain:
            entry["heights"] = _heights_at(read_at, fp.heights_on)
    return result


def _progress_ask(state: BeltState) -> list[RowsAsk]:
    """The belt's progress as one more field of a rows request (so rows and heights are one read)."""
    source = state.dialect.progress_source if state.dialect else None
    if source == "_meta":
        return [RowsAsk(PROGRESS_ALIAS, "_meta", PROGRESS_FIELDS_META, (), False)]
    if source == "chain_metadata":
        return [RowsAsk(PROGRESS_ALIAS, "chain_metadata", PROGRESS_FIELDS_CHAIN_METADATA, (), False)]
    return []


def _progress_in(state: BeltState, data: Mapping[str, Any]) -> dict[int, dict[str, Any]] | None:
    source = state.dialect.progress_source if state.dialect else None
    if source is None or PROGRESS_ALIAS not in data:
        return None
    try:
        return _progress_map(normalise_progress(source, data[PROGRESS_ALIAS]))
    except ValueError:
        return None


async def read_samples(
    blue: BeltState,
    green: BeltState,
    plans: Sequence[FingerprintPlan],
    fingerprints: Mapping[str, Mapping[str, Any]],
    k: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Blue's sampled rows (one request), then the same ids from green (one request); see sampling.py.
    Each request also reads the belt's progress: a current-state sample is judged at those heights."""
    plan = sampling.plan_blue(
        plans, fingerprints, lambda name: shared_columns((blue.dialect, green.dialect), name), k, seed
    )
    read_at: dict[str, dict[int, dict[str, Any]] | None] = {}
    try:
        asks = [*plan.blue_asks, *_progress_ask(blue)] if plan.blue_asks else []
        data = await _batched(lambda chunk: blue.source.rows(chunk, "sample rows"), asks)
    except Exception as exc:
        sampling.fail_all(plan, plan.entity_of, "blue_error", _msg(exc))
        return plan.entries
    read_at["blue"] = _progress_in(blue, data)
    sampling.assign_blue(plan, data, blue.source.endpoint)
    green_asks = sampling.green_asks(plan)
    try:
        asks = [*green_asks.asks, *_progress_ask(green)] if green_asks.asks else []
        gdata = await _batched(lambda chunk: green.source.rows(chunk, "sample rows by id"), asks)
    except Exception as exc:
        sampling.fail_all(plan, set().union(*green_asks.labels.values()), "green_error", _msg(exc))
        return plan.entries
    read_at["green"] = _progress_in(green, gdata)
    sampling.assign_green(plan, green_asks, gdata, green.source.endpoint)
    for fp in plans:
        entry = plan.entries[fp.label]
        if fp.scope == "current" and fp.label in plan.entity_of:
            entry["scope"] = "current"
            entry["heights"] = _heights_at({b: p for b, p in read_at.items() if p is not None}, fp.heights_on)
    return plan.entries


async def settle(blue: BeltState, green: BeltState, chains: Sequence[int], timeout: float) -> None:
    """Wait (polling progress) until blue and green stand at the same block on `chains`, or time out."""
    deadline = time.monotonic() + timeout

    def unsettled() -> list[int]:
        out = []
        for c in chains:
            b = _as_int((blue.progress or {}).get(c, {}).get("processed"))
            g = _as_int((green.progress or {}).get(c, {}).get("processed"))
            if b is not None and g is not None and b != g:
                out.append(c)
        return out

    while unsettled() and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        await asyncio.gather(_read_progress(blue), _read_progress(green))


async def _cutoff_timestamps(
    settings: Settings, l1: L1Reader, cutoffs: Mapping[int, Mapping[str, Any]], entities: Sequence[EntityPlan]
) -> tuple[dict[int, int | None], dict[int, str]]:
    """Each cutoff block's timestamp from its chain's RPC (reconciliation B compares there), and why one is missing."""
    timestamps: dict[int, int | None] = {}
    errors: dict[int, str] = {}
    if not any(e.reconciliation == Reconciliation.AT_TIMESTAMP for e in entities):
        return timestamps, errors
    for chain, cut in cutoffs.items():
        if cut.get("block") is None or chain not in settings.rpc:
            continue
        try:
            timestamps[chain] = await asyncio.to_thread(l1.timestamp, chain, cut["block"])
        except Exception as exc:
            errors[chain] = _msg(exc)
    return timestamps, errors


def _schema_doc(blue: BeltState, green: BeltState, entities: Sequence[EntityPlan]) -> dict[str, Any]:
    """The schema changes from blue's introspection to green's (None, with the error, when not compared)."""
    if blue.introspection is None or green.introspection is None:
        why = "; ".join(f"{s.name}: {s.error}" for s in (blue, green) if s.error) or "unreadable"
        return {"changes": None, "error": why}
    try:
        changes = schema_changes(
            schema_of(blue.introspection), schema_of(green.introspection), [e.name for e in entities]
        )
    except Exception as exc:
        return {"changes": None, "error": _msg(exc)}
    return {"changes": changes, "error": None}


def _enums_doc(settings: Settings, blue: BeltState, green: BeltState) -> dict[str, Any]:
    """Enum values from the two Envio schema files, and the enum scalars both endpoints serve (`live`)."""
    live: list[str] | None = sorted(
        {*(blue.dialect.enum_scalars if blue.dialect else ()), *(green.dialect.enum_scalars if green.dialect else ())}
    )
    if blue.dialect is None or green.dialect is None:
        live = None  # an endpoint that could not be introspected may expose enum columns
    return {
        "blue": {k: list(v) for k, v in settings.blue_schema.enums.items()} if settings.blue_schema else None,
        "green": {k: list(v) for k, v in settings.green_schema.enums.items()} if settings.green_schema else None,
        "live": live,
    }


async def take(settings: Settings, *, tape: Tape | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """The whole snapshot as a JSON-able dict, the L1 checks' part included. `tape`: where the chains' and
    the belts' answers are recorded or replayed from (default: opened from the settings); `cwd`: the
    directory the settings were built in (default: the current one; it tells a named golden folder)."""
    started = time.perf_counter()
    if tape is None:
        tape = Tape.open(settings)
    timings: dict[str, float] = {}
    blue_src, blue_rec = open_source(settings, "blue", tape)
    green_src, green_rec = open_source(settings, "green", tape)
    blue = BeltState("blue", blue_src, recording=blue_rec)
    green = BeltState("green", green_src, recording=green_rec)
    clients = [s.client for s in (blue_src, green_src) if isinstance(s, LiveSource)]
    for c in clients:
        await c.__aenter__()
    try:
        await asyncio.gather(_read_belt(blue), _read_belt(green))
        timings["progress"] = time.perf_counter() - started
        chains = plan_chains(settings, blue, green)
        entities = plan_entities(settings, blue, green)
        models: dict[str, Entity] = {}
        for state in (green, blue):
            if state.dialect:
                models.update(state.dialect.entities)
        l1 = L1Reader(settings, tape=tape)
        converged_chains = list(chains) if any(e.reconciliation == Reconciliation.CONVERGED for e in entities) else []
        if converged_chains and blue.progress is not None and green.progress is not None:
            await settle(blue, green, converged_chains, settings.settle_timeout)
        # The heads after the last progress read (the settle wait re-reads it): a head read before a belt's
        # newer progress would call a belt that follows the chain "above the head".
        await asyncio.to_thread(l1.read_heads, chains)
        cutoffs = compute_cutoffs(chains, blue, green, l1, settings.reorg_margin)
        timestamps, ts_errors = await _cutoff_timestamps(settings, l1, cutoffs, entities)
        new_chains: set[int] = set()
        if settings.mode == "expansion" and blue.progress is not None:
            new_chains = {c for c in settings.expected_chains if c not in blue.progress}
        plans = fingerprint_plans(entities, chains, cutoffs, models, timestamps, ts_errors, new_chains)
        t0 = time.perf_counter()
        fingerprints = await read_fingerprints(blue, green, plans, cutoffs)
        timings["fingerprints"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        samples = await read_samples(blue, green, plans, fingerprints, settings.sample, settings.seed)
        timings["samples"] = time.perf_counter() - t0
        # Second phase (issue 14): where fingerprints differ, bisect to the differing rows (localise.py).
        t0 = time.perf_counter()
        localised = await localise.run(settings, blue, green, plans, fingerprints)
        timings["localise"] = time.perf_counter() - t0
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)
    snap: dict[str, Any] = {
        "version": 1,
        "mode": settings.mode,
        "seed": settings.seed,
        "head_tolerance": settings.head_tolerance,
        "expected": list(settings.expected_chains),
        "growing_chains": list(settings.growing_chains),
        "settings": settings.describe(),
        "chains": chains,
        "entities": [e.to_json() for e in entities],
        "belts": {"blue": blue.to_json(), "green": green.to_json()},
        "l1": {
            "heads": {str(k): v for k, v in l1.heads.items()},
            "errors": {str(k): v for k, v in l1.errors.items()},
            "rpc": sorted(settings.rpc),
        },
        "cutoffs": {str(k): v for k, v in cutoffs.items()},
        "fingerprints": fingerprints,
        "samples": samples,
        "localised": localised,
        "schema": _schema_doc(blue, green, entities),
        "enums": _enums_doc(settings, blue, green),
        "tolerances": {
            e.name: {"rel": str(settings.tolerance(e.name).rel), "abs": settings.tolerance(e.name).abs}
            for e in entities
        },
    }
    t0 = time.perf_counter()
    snap["golden"], snap["audit"] = await read_l1_checks(
        settings,
        tape,
        cwd=Path.cwd() if cwd is None else cwd,
        cutoffs=cutoffs,
        chain_columns={e.name: e.chain_column for e in entities},
    )
    timings["l1_checks"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    snap["timings"] = {k: round(v, 4) for k, v in timings.items()}
    if settings.record:
        for state in (blue, green):
            if state.recording is not None:
                write_recording(settings.record, state.name, state.recording)
    return snap
