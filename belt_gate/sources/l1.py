"""The controller's L1 fetch: golden events and window audits, awaited by `snapshot.take` in its own loop.

Loads the golden fixtures (validated here, once), probes each chain's RPC once (batched), reads the golden
entities from green (and blue in parity) with ONE GraphQL request per belt, counts the audit windows'
logs on L1 and green's rows in the same windows (one aggregate request). Everything lands in the
snapshot's `golden` and `audit` parts as JSON. It never raises: every error becomes a message the rules
turn into a verdict. The chains' sync RPC clients run in threads (`asyncio.to_thread`), the belts'
questions on the caller's loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from belt_gate.audit_spec import AuditSpec, audit_ids, plan_windows
from belt_gate.chain_facts import LogQuery
from belt_gate.errors import BeltGateError
from belt_gate.golden import GoldenEvent, GoldenSet, event_to_json, load_golden
from belt_gate.redact import redact_text, redact_url
from belt_gate.sources.graphql import where_literal

if TYPE_CHECKING:
    from belt_gate.settings import Settings
    from belt_gate.sources.recorded import Tape

#: Case key of the single failing test an unreadable golden folder becomes.
INVALID_KEY = "invalid"


def _msg(exc: BaseException) -> str:
    if isinstance(exc, BeltGateError):
        return redact_text(str(exc))
    return redact_text(f"{type(exc).__name__}: {exc}")


def _golden_required(settings: Settings, cwd: Path) -> bool:
    """The user named the folder (anything but ./golden of `cwd`, the directory the settings were built in:
    pytest's invocation dir, which need not be the process's current directory)."""
    try:
        return settings.golden.resolve() != (cwd / "golden").resolve()
    except OSError:
        return True


def load(settings: Settings, cwd: Path) -> tuple[GoldenSet, str | None]:
    """The golden fixtures, validated (once, here), or the error that makes them one failing test."""
    try:
        return load_golden(settings.golden, required=_golden_required(settings, cwd)), None
    except Exception as exc:
        return GoldenSet(()), f"golden fixtures in {settings.golden}: {_msg(exc)}"


def _probe_chain(settings: Settings, tape: Tape, chain: int, events: Sequence[GoldenEvent]) -> dict[str, Any]:
    url = settings.rpc[chain]
    try:
        with tape.rpc(chain, url, timeout=min(settings.timeout, 10.0)) as rpc:
            probe = rpc.golden_probe(events)
        out: dict[str, Any] = {"endpoint": probe.endpoint, "round_trips": probe.round_trips, "probes": {}}
        for e in events:
            r = probe.for_event(e)
            out["probes"][e.id] = None if r is None else r.to_dict()
        return out
    except Exception as exc:
        return {"endpoint": redact_url(url), "error": _msg(exc)}


def _count_chain(settings: Settings, tape: Tape, chain: int, queries: Sequence[LogQuery]) -> dict[str, Any]:
    url = settings.rpc[chain]
    try:
        with tape.rpc(chain, url, timeout=min(settings.timeout, 10.0)) as rpc:
            counts = rpc.count_logs_many(queries)
            return {"endpoint": rpc.endpoint, "counts": counts, "round_trips": rpc.round_trips}
    except Exception as exc:
        return {"endpoint": redact_url(url), "error": _msg(exc)}


def _entity_query(events: Sequence[GoldenEvent]) -> tuple[str, dict[str, str]]:
    aliases: dict[str, str] = {}
    parts = []
    for n, e in enumerate(events):
        alias = f"g{n}"
        aliases[alias] = e.id
        cols = " ".join(dict.fromkeys(["id", *e.fields]))
        parts.append(f"{alias}: {e.entity}_by_pk(id: {json.dumps(e.entity_id)}) {{ {cols} }}")
    return "query BeltGolden { " + " ".join(parts) + " }", aliases


def _window_query(
    windows: Mapping[str, Mapping[str, Any]], specs: Sequence[AuditSpec], chain_columns: Mapping[str, str | None]
) -> tuple[str | None, dict[str, str]]:
    """Green's row count in every chosen window, one aggregate field each (None: no window to count)."""
    block_field = {f"{s.chain}:{s.key(i)}": s.block_field for s in specs for i in range(s.windows)}
    aliases: dict[str, str] = {}
    parts = []
    for n, (key, item) in enumerate(sorted(windows.items())):
        w = item["window"]
        if w is None:
            continue
        conds: list[tuple[str, str, Any]] = []
        col = chain_columns.get(item["entity"], "chainId")
        if col:
            conds.append((col, "_eq", item["chain"]))
        conds += [(block_field[key], "_gte", w[1]), (block_field[key], "_lte", w[2])]
        alias = f"a{n}"
        aliases[alias] = key
        parts.append(f"{alias}: {item['entity']}_aggregate({where_literal(conds)}) {{ aggregate {{ count }} }}")
    return ("query BeltAudit { " + " ".join(parts) + " }" if parts else None), aliases


def _log_queries(
    windows: Mapping[str, Mapping[str, Any]], specs: Sequence[AuditSpec]
) -> dict[int, list[tuple[str, LogQuery]]]:
    queries: dict[int, list[tuple[str, LogQuery]]] = {}
    for spec in specs:
        for i in range(spec.windows):
            key = f"{spec.chain}:{spec.key(i)}"
            w = windows[key]["window"]
            if w is None:
                continue
            for pair in spec.pairs:
                addr: str | list[str] = pair.addresses[0] if len(pair.addresses) == 1 else list(pair.addresses)
                queries.setdefault(spec.chain, []).append((key, LogQuery(addr, pair.event.topic0, w[1], w[2])))
    return queries


def _per_window(value: Mapping[str, Any], queries: Sequence[tuple[str, LogQuery]]) -> dict[str, Any]:
    counts = value.get("counts")
    per: dict[str, list[int]] = {}
    if isinstance(counts, list) and len(counts) == len(queries):
        for (key, _), c in zip(queries, counts, strict=True):
            per.setdefault(key, []).append(c)
    return {
        "endpoint": value.get("endpoint"),
        "error": value.get("error"),
        "counts": per,
        "round_trips": value.get("round_trips"),
    }


class _Fetch:
    """One run's L1 questions: named jobs gathered together, each answer put where the rules read it."""

    def __init__(self, settings: Settings, tape: Tape, golden: dict[str, Any], audit: dict[str, Any]) -> None:
        self.settings, self.tape, self.golden, self.audit = settings, tape, golden, audit
        self.jobs: dict[str, Any] = {}

    def belt_query(self, belt: str, text: str, asked: str) -> Any:
        target, headers = self.settings.target(belt)
        return self.tape.query(belt, target, headers, self.settings.timeout, text, asked)

    def add_golden(self, golden: GoldenSet, belts: Sequence[str]) -> dict[str, str]:
        for chain in sorted(golden.chains):
            if chain not in self.settings.rpc:
                self.golden["l1"][str(chain)] = {
                    "endpoint": None,
                    "error": f"no RPC for chain {chain} (--belt-rpc {chain}=URL, BELT_RPC_{chain} or the Envio config)",
                }
                continue
            events = golden.by_chain(chain)
            self.jobs[f"probe:{chain}"] = asyncio.to_thread(_probe_chain, self.settings, self.tape, chain, events)
        if not golden.events:
            return {}
        text, aliases = _entity_query(golden.events)
        for belt in belts:
            target, _ = self.settings.target(belt)
            self.golden["endpoints"][belt] = self.tape.endpoint(belt, target)  # a recording names its own
            self.jobs[f"golden:{belt}"] = self.belt_query(belt, text, f"{len(aliases)} golden entities")
        return aliases

    def add_audits(
        self, specs: Sequence[AuditSpec], chain_columns: Mapping[str, str | None]
    ) -> tuple[dict[int, list[tuple[str, LogQuery]]], dict[str, str]]:
        windows = self.audit["windows"]
        queries = _log_queries(windows, specs)
        for chain, qs in queries.items():
            if chain not in self.settings.rpc:
                self.audit["l1"][str(chain)] = {"endpoint": None, "error": f"no RPC for chain {chain}"}
                continue
            logs = [q for _, q in qs]
            self.jobs[f"count:{chain}"] = asyncio.to_thread(_count_chain, self.settings, self.tape, chain, logs)
        if not windows:
            return queries, {}
        self.audit["green_endpoint"] = self.tape.endpoint("green", self.settings.green)
        text, aliases = _window_query(windows, specs, chain_columns)
        if text is not None:
            self.jobs["audit:green"] = self.belt_query("green", text, f"{len(aliases)} audit window counts")
        return queries, aliases

    async def run(self) -> dict[str, Any]:
        results = await asyncio.gather(*self.jobs.values(), return_exceptions=True)
        return dict(zip(self.jobs, results, strict=True))


async def read(
    settings: Settings,
    tape: Tape,
    *,
    cwd: Path,
    cutoffs: Mapping[int, Mapping[str, Any]],
    chain_columns: Mapping[str, str | None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The snapshot's `golden` and `audit` parts. `cutoffs`: each chain's cutoff (the audit windows lie
    below it); `chain_columns`: entity -> its chain id column (None: the entity has none)."""
    golden, golden_error = load(settings, cwd)
    golden_doc: dict[str, Any] = {
        "dir": str(settings.golden),
        "error": golden_error,
        "events": {e.id: event_to_json(e) for e in golden.events},
        "ids": [[c, i] for c, i in golden.ids],
        "l1": {},
        "rows": {},
        "endpoints": {},
    }
    specs = settings.audits
    audit_doc: dict[str, Any] = {
        "specs": [s.to_json() for s in specs],
        "ids": [[c, k] for c, k in audit_ids(specs)],
        "seed": settings.seed,
        "windows": {},
        "l1": {},
        "green_counts": {},
        "green_error": None,
        "green_endpoint": None,
    }
    try:
        audit_doc["windows"] = plan_windows(specs, settings.seed, cutoffs)
        if not golden.events and not specs:
            return golden_doc, audit_doc
        fetch = _Fetch(settings, tape, golden_doc, audit_doc)
        belts = ["green", "blue"] if settings.mode == "parity" else ["green"]
        aliases = fetch.add_golden(golden, belts)
        queries, agg_aliases = fetch.add_audits(specs, chain_columns)
        done = await fetch.run()
    except Exception as exc:  # pragma: no cover - a bug here must still fail the L1 tests, not the run
        golden_doc["fatal"] = audit_doc["fatal"] = _msg(exc)
        return golden_doc, audit_doc
    for job, res in done.items():
        kind, _, name = job.partition(":")
        if kind in ("probe", "count"):
            chain = int(name)
            value = res if isinstance(res, dict) else {"endpoint": redact_url(settings.rpc[chain]), "error": _msg(res)}
            if kind == "probe":
                golden_doc["l1"][name] = value
            else:
                audit_doc["l1"][name] = _per_window(value, queries[chain])
        elif kind == "golden":
            if isinstance(res, BaseException):
                golden_doc["rows"][name] = {"error": _msg(res)}
            else:
                golden_doc["rows"][name] = {"rows": {aliases[k]: v for k, v in res.items() if k in aliases}}
        elif isinstance(res, BaseException):
            audit_doc["green_error"] = _msg(res)
        else:
            counts: dict[str, Any] = {}
            for alias, key in agg_aliases.items():
                node = res.get(alias)
                counts[key] = (node or {}).get("aggregate", {}).get("count") if isinstance(node, dict) else None
            audit_doc["green_counts"] = counts
    return golden_doc, audit_doc


__all__ = ["INVALID_KEY", "load", "read"]
