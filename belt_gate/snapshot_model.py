"""The snapshot, typed: what one run knows of blue, green and the chains, as frozen dataclasses.

`snapshot.take` gathers the facts as JSON; `Snapshot.from_json` reads them into these types, once on the
controller and once on every xdist worker (`to_json` is what is shipped, and what the `belt_snapshot`
fixture shows). It fails closed: a missing or mistyped field raises `SnapshotError` naming where, and the
run is could-not-check, never passed. A field is Optional only where its absence means something the rules
judge (no progress read, no error). The belts' own answers (aggregates, rows) stay JSON inside: the rules
check those themselves (`rules/inputs.py`). Pure: no I/O, no settings, no sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from belt_gate.audit_spec import AuditSpec, Window
from belt_gate.chain_facts import ProbeResult
from belt_gate.envio import Reconciliation
from belt_gate.golden import GoldenEvent, event_from_json, event_to_json
from belt_gate.numbers import Tolerance
from belt_gate.plan import INVALID_KEY, Case, EntityPlan, build_plan, chains_needing_golden

FORMAT = 1
_T = TypeVar("_T")


class SnapshotError(ValueError):
    """A snapshot that lacks or mistypes a field: nothing can be judged from it (could-not-check)."""


class _Doc:
    """One JSON object being read, with where it sits (for the error)."""

    def __init__(self, doc: object, where: str) -> None:
        if not isinstance(doc, Mapping):
            raise SnapshotError(f"{where} is {_shown(doc)}, not an object")
        self.doc, self.where = doc, where

    def has(self, key: str) -> bool:
        return key in self.doc

    def any(self, key: str) -> Any:
        if key not in self.doc:
            raise SnapshotError(f"{self.where} has no {key!r}")
        return self.doc[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.doc.get(key, default)

    def sub(self, key: str) -> _Doc:
        return _Doc(self.any(key), f"{self.where}.{key}")

    def typed(self, key: str, kind: type[_T] | tuple[type, ...], *, optional: bool = False, default: Any = None) -> Any:
        """doc[key] of type `kind` (required, or `optional`: absent or null gives `default`)."""
        if optional and self.doc.get(key) is None:
            return default
        value = self.any(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
            raise SnapshotError(f"{self.where}.{key} is {_shown(value)}, not {_kind(kind)}")
        return value

    def text(self, key: str) -> str:
        return str(self.typed(key, str))

    def opt_text(self, key: str) -> str | None:
        value = self.typed(key, str, optional=True)
        return None if value is None else str(value)

    def integer(self, key: str) -> int:
        return int(self.typed(key, int))

    def flag(self, key: str, default: bool = False) -> bool:
        return bool(self.typed(key, bool, optional=True, default=default))

    def ints(self, key: str, *, optional: bool = False) -> tuple[int, ...]:
        items = self.typed(key, list, optional=optional, default=[])
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
            raise SnapshotError(f"{self.where}.{key} holds {_shown(items)}, not integers")
        return tuple(items)

    def texts(self, key: str, *, optional: bool = False) -> tuple[str, ...]:
        items = self.typed(key, list, optional=optional, default=[])
        if not all(isinstance(i, str) for i in items):
            raise SnapshotError(f"{self.where}.{key} holds {_shown(items)}, not text")
        return tuple(items)

    def objects(self, key: str, read: Callable[[_Doc], _T], *, optional: bool = False) -> dict[str, _T]:
        """doc[key]: an object of objects, each read by `read`."""
        if optional and self.doc.get(key) is None:
            return {}
        sub = self.sub(key)
        return {str(k): read(_Doc(v, f"{sub.where}[{k!r}]")) for k, v in sub.doc.items()}

    def mapping(self, key: str, *, optional: bool = False) -> dict[str, Any]:
        return dict(self.typed(key, Mapping, optional=optional, default={}))


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", bool: "true/false", list: "a list", Mapping: "an object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _ids(d: _Doc, what: str) -> tuple[tuple[int, str], ...]:
    """doc["ids"]: [[chain, key], ...], the case ids the plan makes."""
    out = []
    for item in d.typed("ids", list):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and isinstance(item[1], str)):
            raise SnapshotError(f"{d.where}.ids holds {_shown(item)}, not [chain, {what}]")
        out.append((item[0], item[1]))
    return tuple(out)


def _chain_key(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SnapshotError(f"{where}: chain {text!r} is not a chain id") from None


# ---------------------------------------------------------------------------------------------------
# The belts and the chains


@dataclass(frozen=True)
class BeltFacts:
    """What was read of one belt. `progress` None: its progress could not be read (the reason in
    `error` or `progress_error`); else chain id (text) -> {"processed", "head"} as the belt answered."""

    endpoint: str
    progress: dict[str, Any] | None
    error: str | None = None
    progress_error: str | None = None
    progress_source: str | None = None
    tables: tuple[str, ...] | None = None
    requests: int = 0
    seconds: float = 0.0

    @property
    def chains(self) -> list[int] | None:
        """The chain ids the belt reports progress for, sorted; None when its progress could not be read."""
        return None if self.progress is None else sorted(int(c) for c in self.progress)

    @property
    def why_unreadable(self) -> str | None:
        """Why the belt could not be read (endpoint or progress error), None when it could."""
        return self.error or self.progress_error

    @classmethod
    def read(cls, d: _Doc) -> BeltFacts:
        """One belt's facts from the snapshot's JSON; SnapshotError naming the field when one is missing or mistyped."""
        progress = None if d.any("progress") is None else d.typed("progress", Mapping)  # null: not read
        if progress is not None:
            for c in progress:
                _chain_key(str(c), f"{d.where}.progress")
        tables = d.texts("tables", optional=True) if d.get("tables") is not None else None
        return cls(
            endpoint=d.text("endpoint"),
            progress=None if progress is None else {str(k): v for k, v in progress.items()},
            error=d.opt_text("error"),
            progress_error=d.opt_text("progress_error"),
            progress_source=d.opt_text("progress_source"),
            tables=tables,
            requests=int(d.typed("requests", int, optional=True, default=0)),
            seconds=float(d.typed("seconds", (int, float), optional=True, default=0.0)),
        )

    def to_json(self) -> dict[str, Any]:
        """The facts as plain JSON, what `read` takes back."""
        return {
            "endpoint": self.endpoint,
            "error": self.error,
            "progress_source": self.progress_source,
            "progress": self.progress,
            "progress_error": self.progress_error,
            "tables": None if self.tables is None else list(self.tables),
            "requests": self.requests,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Belts:
    """Blue's and green's facts, side by side."""

    blue: BeltFacts
    green: BeltFacts

    def errors(self) -> dict[str, str]:
        """belt -> why it could not be read (only the unreadable ones)."""
        return {n: why for n, b in (("blue", self.blue), ("green", self.green)) if (why := b.why_unreadable)}


@dataclass(frozen=True)
class L1Facts:
    """The chains' heads read from their RPCs (chain id text -> block), their errors, which have an RPC."""

    heads: dict[str, Any]
    errors: dict[str, str]
    rpc: tuple[int, ...]

    @classmethod
    def read(cls, d: _Doc) -> L1Facts:
        """The chains' heads, errors and RPC chains from the snapshot's JSON; SnapshotError when one is missing or
        mistyped."""
        errors = d.mapping("errors")
        return cls(d.mapping("heads"), {str(k): str(v) for k, v in errors.items()}, d.ints("rpc"))

    def to_json(self) -> dict[str, Any]:
        """The facts as plain JSON, what `read` takes back."""
        return {"heads": self.heads, "errors": self.errors, "rpc": list(self.rpc)}


# ---------------------------------------------------------------------------------------------------
# Slices: fingerprints and samples


@dataclass(frozen=True)
class Fingerprint:
    """One (entity, chain) slice's fingerprints. `scope` "cutoff": both belts filtered to one history
    (`totals`: each belt's whole-slice row count); "current": the current state, judged with `heights`
    (each belt's processed blocks read with its answer). `error`: why it was not read at all."""

    cutoff: str
    scope: str
    append_only: bool
    asked_sum: tuple[str, ...]
    asked_minmax: tuple[str, ...]
    blue: Any
    green: Any
    cutoff_why: str = ""
    error: str | None = None
    new_chain: bool = False
    blue_error: str | None = None
    green_error: str | None = None
    blue_absent: bool = False
    green_absent: bool = False
    totals: tuple[Any, Any] | None = None
    heights: dict[str, Any] | None = None

    @property
    def compared(self) -> bool:
        """Both belts were asked (no plan error, not a chain only green has)."""
        return self.error is None and not self.new_chain

    @classmethod
    def read(cls, d: _Doc) -> Fingerprint:
        """One slice's fingerprints from the snapshot's JSON. Totals (cutoff scope) or heights (current scope) are
        required unless the slice has an error or a chain new in green; SnapshotError otherwise."""
        scope = d.text("scope")
        if scope not in ("cutoff", "current"):
            raise SnapshotError(f"{d.where}.scope is {scope!r}, not cutoff or current")
        asked = d.sub("asked")
        error, new_chain = d.opt_text("error"), d.flag("new_chain")
        totals = heights = None
        if error is None and not new_chain:
            if scope == "cutoff":
                totals = (d.any("blue_total"), d.any("green_total"))
            else:
                heights = _heights(d.sub("heights"))
        return cls(
            cutoff=d.text("cutoff"),
            scope=scope,
            append_only=bool(d.typed("append_only", bool)),
            asked_sum=asked.texts("sum"),
            asked_minmax=asked.texts("minmax"),
            blue=d.any("blue"),
            green=d.any("green"),
            cutoff_why=str(d.typed("cutoff_why", str, optional=True, default="")),
            error=error,
            new_chain=new_chain,
            blue_error=d.opt_text("blue_error"),
            green_error=d.opt_text("green_error"),
            blue_absent=d.flag("blue_absent"),
            green_absent=d.flag("green_absent"),
            totals=totals,
            heights=heights,
        )

    def to_json(self) -> dict[str, Any]:
        """The fingerprints as plain JSON (optional fields only when set), what `read` takes back."""
        out: dict[str, Any] = {
            "cutoff": self.cutoff,
            "cutoff_why": self.cutoff_why,
            "scope": self.scope,
            "append_only": self.append_only,
            "asked": {"sum": list(self.asked_sum), "minmax": list(self.asked_minmax)},
            "blue": self.blue,
            "green": self.green,
        }
        optional = {
            "error": self.error,
            "new_chain": self.new_chain or None,
            "blue_error": self.blue_error,
            "green_error": self.green_error,
            "blue_absent": self.blue_absent or None,
            "green_absent": self.green_absent or None,
            "heights": self.heights,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.totals is not None:
            out["blue_total"], out["green_total"] = self.totals
        return out


def _heights(d: _Doc) -> dict[str, Any]:
    """{"blue": {chain: block} | None, "green": ...}: both keys required (None: that belt's were not read)."""
    return {
        belt: d.typed(belt, Mapping, optional=True) if d.any(belt) is not None else None for belt in ("blue", "green")
    }


@dataclass(frozen=True)
class Sample:
    """One slice's content sample: the rows read from blue, the same ids from green. `skip` / `absent`:
    no sample because a side does not serve the entity (the rule judges what that means); `error`: none
    could be drawn; `expected`: how many rows the sample must hold (required when a sample was drawn)."""

    seed: Any
    expected: int | None = None
    columns: tuple[str, ...] | None = None
    blue: Any = None
    green: Any = None
    skip: str | None = None
    absent: str | None = None
    error: str | None = None
    blue_error: str | None = None
    green_error: str | None = None
    scope: str | None = None
    heights: dict[str, Any] | None = None
    from_id: Any = None

    @classmethod
    def read(cls, d: _Doc) -> Sample:
        """One slice's content sample from the snapshot's JSON: a sample that was neither skipped nor failed must say
        how many rows it expects (a count, never a bool); SnapshotError otherwise."""
        skip, error = d.opt_text("skip"), d.opt_text("error")
        blue_error, green_error = d.opt_text("blue_error"), d.opt_text("green_error")
        expected = None
        if not (skip or error or blue_error or green_error):
            raw = d.any("expected")
            if isinstance(raw, bool) or not (
                (isinstance(raw, int) and raw >= 0) or (isinstance(raw, str) and raw.isascii() and raw.isdigit())
            ):
                raise SnapshotError(f"{d.where}.expected is {_shown(raw)}, not a row count")
            expected = int(raw)
        scope = d.opt_text("scope")
        return cls(
            seed=d.any("seed"),
            expected=expected,
            columns=d.texts("columns") if d.get("columns") is not None else None,
            blue=d.get("blue"),
            green=d.get("green"),
            skip=skip,
            absent=d.opt_text("absent"),
            error=error,
            blue_error=blue_error,
            green_error=green_error,
            scope=scope,
            heights=_heights(d.sub("heights")) if scope == "current" else None,
            from_id=d.get("from_id"),
        )

    def to_json(self) -> dict[str, Any]:
        """The sample as plain JSON (optional fields only when set), what `read` takes back."""
        out: dict[str, Any] = {"seed": self.seed}
        optional = {
            "expected": self.expected,
            "columns": None if self.columns is None else list(self.columns),
            "blue": self.blue,
            "green": self.green,
            "skip": self.skip,
            "absent": self.absent,
            "error": self.error,
            "blue_error": self.blue_error,
            "green_error": self.green_error,
            "scope": self.scope,
            "heights": self.heights,
            "from_id": self.from_id,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out


# ---------------------------------------------------------------------------------------------------
# Schema, enums, tolerances


@dataclass(frozen=True)
class SchemaFacts:
    """The schema comparison: the changes between blue's and green's schemas (None: not compared), or why it could not
    be made."""

    changes: Any  # rules.schema.schema_changes' list, None when not compared
    error: str | None = None

    @classmethod
    def read(cls, d: _Doc) -> SchemaFacts:
        """The schema comparison from the snapshot's JSON."""
        return cls(d.any("changes"), d.opt_text("error"))

    def to_json(self) -> dict[str, Any]:
        """The schema comparison as plain JSON, what `read` takes back."""
        return {"changes": self.changes, "error": self.error}


@dataclass(frozen=True)
class EnumFacts:
    """Enum values from the two Envio schema files (None: no file), and the enum scalars the endpoints
    serve (`live`; None: an endpoint could not be introspected)."""

    live: tuple[str, ...] | None
    blue: dict[str, Any] | None = None
    green: dict[str, Any] | None = None

    @classmethod
    def read(cls, d: _Doc) -> EnumFacts:
        """The enum facts from the snapshot's JSON; `live` must be present (null: not introspected), SnapshotError when
        missing or mistyped."""
        d.any("live")
        live = d.texts("live", optional=True) if d.get("live") is not None else None
        blue, green = d.typed("blue", Mapping, optional=True), d.typed("green", Mapping, optional=True)
        return cls(live, None if blue is None else dict(blue), None if green is None else dict(green))

    def to_json(self) -> dict[str, Any]:
        """The enum facts as plain JSON, what `read` takes back."""
        return {"blue": self.blue, "green": self.green, "live": None if self.live is None else list(self.live)}


def _tolerance(d: _Doc) -> Tolerance:
    rel = d.typed("rel", (str, int))
    try:
        return Tolerance(Decimal(str(rel)), d.integer("abs"))
    except InvalidOperation:
        raise SnapshotError(f"{d.where}.rel is {_shown(rel)}, not a number") from None


# ---------------------------------------------------------------------------------------------------
# L1 checks: golden events and window audits


@dataclass(frozen=True)
class GoldenL1:
    """One chain's golden probe: L1's answers per event id (None: not asked), or why it failed."""

    endpoint: str | None
    error: str | None
    probes: dict[str, ProbeResult | None]
    round_trips: Any = None

    @classmethod
    def read(cls, d: _Doc) -> GoldenL1:
        """One chain's golden probe from the snapshot's JSON; a malformed probe answer is a SnapshotError naming its
        event id."""
        probes: dict[str, ProbeResult | None] = {}
        for eid, raw in d.mapping("probes", optional=True).items():
            try:
                probes[str(eid)] = None if raw is None else ProbeResult.from_dict(raw)
            except (KeyError, TypeError, ValueError) as exc:
                raise SnapshotError(f"{d.where}.probes[{eid!r}] is malformed: {exc!r:.80}") from None
        return cls(d.opt_text("endpoint"), d.opt_text("error"), probes, d.get("round_trips"))

    def to_json(self) -> dict[str, Any]:
        """The probe as plain JSON (its error alone when it failed), what `read` takes back."""
        out: dict[str, Any] = {"endpoint": self.endpoint}
        if self.error is not None:
            out["error"] = self.error
        else:
            out["probes"] = {k: None if p is None else p.to_dict() for k, p in self.probes.items()}
            out["round_trips"] = self.round_trips
        return out


@dataclass(frozen=True)
class GoldenRows:
    """A belt's answer about the golden entities: event id -> its row (None: the belt has none)."""

    rows: dict[str, Any] | None
    error: str | None = None

    @classmethod
    def read(cls, d: _Doc) -> GoldenRows:
        """A belt's golden rows from the snapshot's JSON: the rows unless an error is recorded."""
        return cls(d.mapping("rows") if d.get("error") is None else None, d.opt_text("error"))

    def to_json(self) -> dict[str, Any]:
        """The rows, or the error alone, as plain JSON; what `read` takes back."""
        return {"error": self.error} if self.error is not None else {"rows": self.rows}


@dataclass(frozen=True)
class GoldenFacts:
    """The golden fixtures (validated once, on the controller) and what L1 and the belts said of them.
    `error`: the folder could not be read (one failing case); `fatal`: the checks could not run."""

    dir: str
    ids: tuple[tuple[int, str], ...]
    events: dict[str, GoldenEvent] = field(default_factory=dict)
    error: str | None = None
    fatal: str | None = None
    l1: dict[str, GoldenL1] = field(default_factory=dict)
    rows: dict[str, GoldenRows] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: object) -> GoldenFacts:
        """The snapshot's golden part on its own (SnapshotError when malformed)."""
        return cls.read(_Doc(doc, "the snapshot.golden"))

    @classmethod
    def read(cls, d: _Doc) -> GoldenFacts:
        """The golden facts from the snapshot's JSON; an event that is no valid golden event, or a malformed id list, is
        a SnapshotError."""
        events = {}
        for eid, raw in d.mapping("events", optional=True).items():
            try:
                events[str(eid)] = event_from_json(raw)
            except ValueError as exc:
                raise SnapshotError(f"{d.where}.events[{eid!r}]: {exc}") from None
        ids = _ids(d, "event id")
        return cls(
            dir=str(d.typed("dir", str, optional=True, default="golden")),
            ids=ids,
            events=events,
            error=d.opt_text("error"),
            fatal=d.opt_text("fatal"),
            l1=d.objects("l1", GoldenL1.read, optional=True),
            rows=d.objects("rows", GoldenRows.read, optional=True),
            endpoints={str(k): str(v) for k, v in d.mapping("endpoints", optional=True).items()},
        )

    def to_json(self) -> dict[str, Any]:
        """The golden facts as plain JSON (`fatal` only when set), what `read` takes back."""
        out: dict[str, Any] = {
            "dir": self.dir,
            "error": self.error,
            "events": {k: event_to_json(e) for k, e in self.events.items()},
            "ids": [[c, i] for c, i in self.ids],
            "l1": {k: v.to_json() for k, v in self.l1.items()},
            "rows": {k: v.to_json() for k, v in self.rows.items()},
            "endpoints": self.endpoints,
        }
        if self.fatal is not None:
            out["fatal"] = self.fatal
        return out


@dataclass(frozen=True)
class AuditWindow:
    """One audit window: where it lies (None: no cutoff to place it below, `cutoff_reason` says why)."""

    chain: int
    entity: str
    cutoff: int | None
    window: Window | None
    cutoff_reason: str | None = None

    @classmethod
    def read(cls, d: _Doc) -> AuditWindow:
        """One audit window from the snapshot's JSON; a window that is not [index, from, to] of integers is a
        SnapshotError."""
        w = d.any("window")
        if w is not None and not (
            isinstance(w, list) and len(w) == 3 and all(isinstance(x, int) and not isinstance(x, bool) for x in w)
        ):
            raise SnapshotError(f"{d.where}.window is {_shown(w)}, not [index, from, to]")
        return cls(
            chain=d.integer("chain"),
            entity=d.text("entity"),
            cutoff=None if d.any("cutoff") is None else d.integer("cutoff"),
            window=None if w is None else Window(w[0], w[1], w[2]),
            cutoff_reason=d.opt_text("cutoff_reason"),
        )

    def to_json(self) -> dict[str, Any]:
        """The window as plain JSON, what `read` takes back."""
        w = self.window
        return {
            "chain": self.chain,
            "entity": self.entity,
            "cutoff": self.cutoff,
            "cutoff_reason": self.cutoff_reason,
            "window": None if w is None else [w.index, w.from_block, w.to_block],
        }


@dataclass(frozen=True)
class AuditL1:
    """One chain's log counts: window key -> the count of each (address, event) pair, or why none."""

    endpoint: str | None
    error: str | None
    counts: dict[str, list[Any]]
    round_trips: Any = None

    @classmethod
    def read(cls, d: _Doc) -> AuditL1:
        """One chain's audit log counts from the snapshot's JSON; a count that is not a list is a SnapshotError."""
        counts = d.mapping("counts", optional=True)
        if not all(isinstance(v, list) for v in counts.values()):
            raise SnapshotError(f"{d.where}.counts holds a count that is not a list")
        return cls(d.opt_text("endpoint"), d.opt_text("error"), counts, d.get("round_trips"))

    def to_json(self) -> dict[str, Any]:
        """The counts as plain JSON, what `read` takes back."""
        return {"endpoint": self.endpoint, "error": self.error, "counts": self.counts, "round_trips": self.round_trips}


@dataclass(frozen=True)
class AuditFacts:
    """The window audits: their specs (parsed once, in settings), the windows, L1's and green's counts."""

    specs: tuple[AuditSpec, ...]
    ids: tuple[tuple[int, str], ...]
    windows: dict[str, AuditWindow]
    seed: Any = ""
    l1: dict[str, AuditL1] = field(default_factory=dict)
    green_counts: dict[str, Any] = field(default_factory=dict)
    green_error: str | None = None
    green_endpoint: str | None = None
    fatal: str | None = None

    @classmethod
    def read(cls, d: _Doc) -> AuditFacts:
        """The audit facts from the snapshot's JSON (specs, window ids, windows, L1's and green's counts); a malformed
        spec or id list is a SnapshotError."""
        try:
            specs = tuple(AuditSpec.from_json(s) for s in d.typed("specs", list))
        except ValueError as exc:
            raise SnapshotError(f"{d.where}.specs: {exc}") from None
        ids = _ids(d, "window key")
        return cls(
            specs=specs,
            ids=ids,
            windows=d.objects("windows", AuditWindow.read),
            seed=d.get("seed", ""),
            l1=d.objects("l1", AuditL1.read, optional=True),
            green_counts=d.mapping("green_counts", optional=True),
            green_error=d.opt_text("green_error"),
            green_endpoint=d.opt_text("green_endpoint"),
            fatal=d.opt_text("fatal"),
        )

    def to_json(self) -> dict[str, Any]:
        """The audit facts as plain JSON (`fatal` only when set), what `read` takes back."""
        out: dict[str, Any] = {
            "specs": [s.to_json() for s in self.specs],
            "ids": [[c, k] for c, k in self.ids],
            "seed": self.seed,
            "windows": {k: w.to_json() for k, w in self.windows.items()},
            "l1": {k: v.to_json() for k, v in self.l1.items()},
            "green_counts": self.green_counts,
            "green_error": self.green_error,
            "green_endpoint": self.green_endpoint,
        }
        if self.fatal is not None:
            out["fatal"] = self.fatal
        return out


# ---------------------------------------------------------------------------------------------------
# The snapshot


@dataclass(frozen=True)
class Snapshot:
    """Everything the rules judge. `golden` / `audit` None: the L1 checks were not taken (no such cases
    are planned); `settings`, `cutoffs`, `localised` and `timings` are for people and the certificate."""

    version: int
    mode: str
    seed: Any
    head_tolerance: int
    expected: tuple[int, ...]
    chains: tuple[int, ...]
    entities: tuple[EntityPlan, ...]
    belts: Belts
    l1: L1Facts
    fingerprints: dict[str, Fingerprint]
    samples: dict[str, Sample]
    schema: SchemaFacts
    enums: EnumFacts
    tolerances: dict[str, Tolerance]
    growing_chains: tuple[int, ...] = ()
    golden: GoldenFacts | None = None
    audit: AuditFacts | None = None
    localised: dict[str, Any] = field(default_factory=dict)
    cutoffs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: object) -> Snapshot:
        """The typed snapshot of `doc` (a `to_json` document), or SnapshotError naming the first part
        that is missing or mistyped."""
        d = _Doc(doc, "the snapshot")
        belts = d.sub("belts")
        entities = []
        for n, raw in enumerate(d.typed("entities", list)):
            e = _Doc(raw, f"the snapshot.entities[{n}]")
            try:
                reconciliation = Reconciliation(e.text("reconciliation"))
            except ValueError:
                raise SnapshotError(f"{e.where}.reconciliation is {e.get('reconciliation')!r}, not A, B or C") from None
            chain_column, block_column = e.typed("chain_column", str, optional=True), e.opt_text("block_column")
            entities.append(
                EntityPlan(e.text("name"), reconciliation, chain_column, block_column, e.opt_text("timestamp_column"))
            )
        return cls(
            version=d.integer("version"),
            mode=d.text("mode"),
            seed=d.any("seed"),
            head_tolerance=d.integer("head_tolerance"),
            expected=d.ints("expected"),
            chains=d.ints("chains"),
            entities=tuple(entities),
            belts=Belts(BeltFacts.read(belts.sub("blue")), BeltFacts.read(belts.sub("green"))),
            l1=L1Facts.read(d.sub("l1")),
            fingerprints=d.objects("fingerprints", Fingerprint.read),
            samples=d.objects("samples", Sample.read),
            schema=SchemaFacts.read(d.sub("schema")),
            enums=EnumFacts.read(d.sub("enums")),
            tolerances=d.objects("tolerances", _tolerance),
            growing_chains=d.ints("growing_chains", optional=True),
            golden=None if d.get("golden") is None else GoldenFacts.read(d.sub("golden")),
            audit=None if d.get("audit") is None else AuditFacts.read(d.sub("audit")),
            localised=d.mapping("localised", optional=True),
            cutoffs=d.mapping("cutoffs", optional=True),
            settings=d.mapping("settings", optional=True),
            timings=d.mapping("timings", optional=True),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON document `from_json` reads back (what is shipped to xdist workers)."""
        return {
            "version": self.version,
            "mode": self.mode,
            "seed": self.seed,
            "head_tolerance": self.head_tolerance,
            "expected": list(self.expected),
            "growing_chains": list(self.growing_chains),
            "settings": self.settings,
            "chains": list(self.chains),
            "entities": [e.to_json() for e in self.entities],
            "belts": {"blue": self.belts.blue.to_json(), "green": self.belts.green.to_json()},
            "l1": self.l1.to_json(),
            "cutoffs": self.cutoffs,
            "fingerprints": {k: v.to_json() for k, v in self.fingerprints.items()},
            "samples": {k: v.to_json() for k, v in self.samples.items()},
            "localised": self.localised,
            "schema": self.schema.to_json(),
            "enums": self.enums.to_json(),
            "tolerances": {k: {"rel": str(t.rel), "abs": t.abs} for k, t in self.tolerances.items()},
            "golden": None if self.golden is None else self.golden.to_json(),
            "audit": None if self.audit is None else self.audit.to_json(),
            "timings": self.timings,
        }

    def plan_args(self) -> dict[str, Any]:
        """The golden/audit case ids the plan must generate."""
        golden_ids: list[tuple[int, str]] = list(self.golden.ids) if self.golden else []
        if self.golden is not None and self.golden.error:
            golden_ids.append((0, INVALID_KEY))
        coverage: list[int] = []
        if self.mode == "expansion":
            # blue unreadable: which expected chains are new is unknown, so each gets a case that says so
            coverage = list(chains_needing_golden(self.expected, self.belts.blue.chains or []))
        audit_ids = list(self.audit.ids) if self.audit else []
        return {"golden_ids": golden_ids, "coverage_chains": coverage, "audit_ids": audit_ids}

    def plan(self) -> list[Case]:
        """Every case this snapshot implies (the same on the controller and on every worker)."""
        return build_plan(self.chains, self.entities, **self.plan_args())


def as_snapshot(snap: Snapshot | Mapping[str, Any]) -> Snapshot:
    """A typed snapshot (a JSON document is read, failing closed with SnapshotError)."""
    return snap if isinstance(snap, Snapshot) else Snapshot.from_json(snap)


__all__ = [
    "FORMAT",
    "AuditFacts",
    "AuditL1",
    "AuditWindow",
    "BeltFacts",
    "Belts",
    "EnumFacts",
    "Fingerprint",
    "GoldenFacts",
    "GoldenL1",
    "GoldenRows",
    "L1Facts",
    "Sample",
    "SchemaFacts",
    "Snapshot",
    "SnapshotError",
    "as_snapshot",
]
