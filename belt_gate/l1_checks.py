"""Glue between the snapshot/plan and the L1 ground-truth checks (golden events, window audits).

Controller: `extend_snapshot(settings, snap)` loads the golden fixtures, probes each chain's RPC once
(batched), reads the golden entities from green (and blue in parity) with ONE GraphQL request per belt,
counts the audit windows' logs on L1 and green's rows in the same windows (one aggregate request), and
stores everything JSON-able under `snap["golden"]` and `snap["audit"]`. It never raises: every error
becomes a message a test fails with.

Everywhere: `plan_args(snap)` gives the L1 case ids from the shipped snapshot alone, and the evaluators
registered here turn a case + the snapshot into a Verdict with helper-4's pure rules.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from belt_gate.golden import GoldenEvent, GoldenSet, event_to_mapping, load_golden, parse_event_entry
from belt_gate.plan import Case
from belt_gate.redact import redact_text, redact_url
from belt_gate.rules import register
from belt_gate.rules.audit import AuditSpec, Window, audit_ids, audit_window, choose_windows, parse_audits, witnessed
from belt_gate.rules.golden import chains_needing_golden, golden_coverage, golden_entity, golden_l1
from belt_gate.rules.inputs import need_map
from belt_gate.rules.verdict import Outcome, Verdict
from belt_gate.settings import Settings
from belt_gate.sources.graphql import where_literal
from belt_gate.sources.recorded import Tape
from belt_gate.sources.rpc import LogQuery, ProbeResult

#: Case key of the single failing test an unreadable golden folder / invalid [[audit]] table becomes.
INVALID_KEY = "invalid"
_INVALID_CHAIN = 0


def _msg(exc: BaseException) -> str:
    from belt_gate.errors import BeltGateError

    if isinstance(exc, BeltGateError):
        return redact_text(str(exc))
    return redact_text(f"{type(exc).__name__}: {exc}")


def _belts(settings: Settings, snap: Mapping[str, Any]) -> list[str]:
    return ["green", "blue"] if snap.get("mode", settings.mode) == "parity" else ["green"]


def _belt_target(settings: Settings, belt: str) -> tuple[str, Mapping[str, str]]:
    if belt == "blue":
        return settings.blue, settings.blue_headers
    return settings.green, settings.green_headers


# ---------------------------------------------------------------------------------------------------
# Controller: the snapshot


def _golden_required(settings: Settings, cwd: Path) -> bool:
    """The user named the folder (anything but ./golden of `cwd`, the directory the settings were built in:
    pytest's invocation dir, which need not be the process's current directory)."""
    try:
        return settings.golden.resolve() != (cwd / "golden").resolve()
    except OSError:
        return True


def _load(settings: Settings, cwd: Path) -> tuple[GoldenSet, str | None]:
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


async def _belt_query(settings: Settings, tape: Tape, belt: str, text: str, asked: str) -> dict[str, Any]:
    target, headers = _belt_target(settings, belt)
    return await tape.query(belt, target, headers, settings.timeout, text, asked)


def _audit_plan(settings: Settings, snap: Mapping[str, Any], specs: Sequence[AuditSpec]) -> dict[str, dict[str, Any]]:
    """Per window key "chain:Entity#wI": the chosen window (or None) and the cutoff."""
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        cut = (snap.get("cutoffs") or {}).get(str(spec.chain)) or {}
        cutoff = cut.get("block")
        windows: tuple[Window, ...] = ()
        if isinstance(cutoff, int):
            windows = choose_windows(settings.seed, spec, cutoff=cutoff)
        for i in range(spec.windows):
            w = windows[i] if i < len(windows) else None
            out[f"{spec.chain}:{spec.key(i)}"] = {
                "chain": spec.chain,
                "entity": spec.entity,
                "cutoff": cutoff,
                "cutoff_reason": None
                if isinstance(cutoff, int)
                else str(cut.get("error") or f"no cutoff for chain {spec.chain}"),
                "window": None if w is None else [w.index, w.from_block, w.to_block],
            }
    return out


async def _gather(
    settings: Settings, tape: Tape, snap: dict[str, Any], golden: GoldenSet, specs: Sequence[AuditSpec]
) -> None:
    g = snap["golden"]
    a = snap["audit"]
    # -- L1: one golden probe per chain, one batched log count per chain
    probe_jobs = {}
    for chain in sorted(golden.chains):
        events = golden.by_chain(chain)
        if chain not in settings.rpc:
            g["l1"][str(chain)] = {
                "endpoint": None,
                "error": f"no RPC for chain {chain} (--belt-rpc {chain}=URL, BELT_RPC_{chain} or the Envio config)",
            }
            continue
        probe_jobs[chain] = asyncio.to_thread(_probe_chain, settings, tape, chain, events)
    windows = a["windows"]
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
    count_jobs = {}
    for chain, qs in queries.items():
        if chain not in settings.rpc:
            a["l1"][str(chain)] = {"endpoint": None, "error": f"no RPC for chain {chain}"}
            continue
        count_jobs[chain] = asyncio.to_thread(_count_chain, settings, tape, chain, [q for _, q in qs])

    # -- belts: golden entities (green, blue in parity) and green's window counts, one request each
    belt_jobs: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    if golden.events:
        text, aliases = _entity_query(golden.events)
        for belt in _belts(settings, snap):
            target, _ = _belt_target(settings, belt)
            g["endpoints"][belt] = tape.endpoint(belt, target)  # a recorded belt answers from its recording
            belt_jobs[f"golden:{belt}"] = _belt_query(settings, tape, belt, text, f"{len(aliases)} golden entities")
    agg_aliases: dict[str, str] = {}
    if windows:
        chain_col = {e["name"]: e.get("chain_column") for e in snap.get("entities", [])}
        block_field = {f"{s.chain}:{s.key(i)}": s.block_field for s in specs for i in range(s.windows)}
        parts = []
        for n, (key, item) in enumerate(sorted(windows.items())):
            w = item["window"]
            if w is None:
                continue
            conds: list[tuple[str, str, Any]] = []
            col = chain_col.get(item["entity"], "chainId")
            if col:
                conds.append((col, "_eq", item["chain"]))
            conds += [(block_field[key], "_gte", w[1]), (block_field[key], "_lte", w[2])]
            alias = f"a{n}"
            agg_aliases[alias] = key
            parts.append(f"{alias}: {item['entity']}_aggregate({where_literal(conds)}) {{ aggregate {{ count }} }}")
        green, _ = _belt_target(settings, "green")
        a["green_endpoint"] = tape.endpoint("green", green)
        if parts:
            belt_jobs["audit:green"] = _belt_query(
                settings,
                tape,
                "green",
                "query BeltAudit { " + " ".join(parts) + " }",
                f"{len(parts)} audit window counts",
            )

    names = list(probe_jobs) + list(count_jobs)
    kinds = ["probe"] * len(probe_jobs) + ["count"] * len(count_jobs)
    results = await asyncio.gather(
        *probe_jobs.values(), *count_jobs.values(), *belt_jobs.values(), return_exceptions=True
    )
    l1_results = results[: len(names)]
    belt_results = dict(zip(belt_jobs, results[len(names) :], strict=True))
    for chain, kind, res in zip(names, kinds, l1_results, strict=True):
        value = res if isinstance(res, dict) else {"endpoint": redact_url(settings.rpc[chain]), "error": _msg(res)}
        if kind == "probe":
            g["l1"][str(chain)] = value
        else:
            counts = value.get("counts")
            qs = queries[chain]
            per: dict[str, list[int]] = {}
            if isinstance(counts, list) and len(counts) == len(qs):
                for (key, _), c in zip(qs, counts, strict=True):
                    per.setdefault(key, []).append(c)
            a["l1"][str(chain)] = {
                "endpoint": value.get("endpoint"),
                "error": value.get("error"),
                "counts": per,
                "round_trips": value.get("round_trips"),
            }
    for job, res in belt_results.items():
        if job.startswith("golden:"):
            belt = job.split(":", 1)[1]
            if isinstance(res, BaseException):
                g["rows"][belt] = {"error": _msg(res)}
            else:
                g["rows"][belt] = {"rows": {aliases[k]: v for k, v in res.items() if k in aliases}}
        elif isinstance(res, BaseException):
            a["green_error"] = _msg(res)
        else:
            counts_out: dict[str, Any] = {}
            for alias, key in agg_aliases.items():
                node = res.get(alias)
                counts_out[key] = (node or {}).get("aggregate", {}).get("count") if isinstance(node, dict) else None
            a["green_counts"] = counts_out


def extend_snapshot(
    settings: Settings, snap: dict[str, Any], *, cwd: Path | None = None, tape: Tape | None = None
) -> None:
    """Add what the golden and audit rules need to the snapshot (controller only). Never raises.
    `cwd`: the directory the settings were built in (default: the current directory). `tape`: the run's
    recording or replay of the chains' and belts' answers (default: from the settings)."""
    golden, golden_error = _load(settings, Path.cwd() if cwd is None else cwd)
    snap["golden"] = {
        "dir": str(settings.golden),
        "error": golden_error,
        "events": {e.id: {**event_to_mapping(e), "source": e.source} for e in golden.events},
        "ids": [[c, i] for c, i in golden.ids],
        "l1": {},
        "rows": {},
        "endpoints": {},
    }
    specs: tuple[AuditSpec, ...] = ()
    audit_error = None
    try:
        specs = parse_audits(settings.audits)
    except Exception as exc:
        audit_error = _msg(exc)
    snap["audit"] = {
        "error": audit_error,
        "tables": json.loads(json.dumps(list(settings.audits), default=str)),
        "ids": [[c, k] for c, k in audit_ids(specs)],
        "seed": settings.seed,
        "windows": {},
        "l1": {},
        "green_counts": {},
        "green_error": None,
        "green_endpoint": None,
    }
    try:
        snap["audit"]["windows"] = _audit_plan(settings, snap, specs)
        if not golden.events and not specs:
            return
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # we are inside snapshot.take's event loop
            if tape is None:
                tape = Tape.open(settings)
            pool.submit(asyncio.run, _gather(settings, tape, snap, golden, specs)).result()
    except Exception as exc:  # pragma: no cover - a bug here must still fail the L1 tests, not the run
        snap["golden"]["fatal"] = snap["audit"]["fatal"] = _msg(exc)


# ---------------------------------------------------------------------------------------------------
# Everywhere: plan arguments and evaluators (from the shipped snapshot only)


def _blue_chains(snap: Mapping[str, Any]) -> list[int] | None:
    progress = ((snap.get("belts") or {}).get("blue") or {}).get("progress")
    return None if progress is None else [int(c) for c in progress]


def plan_args(snap: Mapping[str, Any]) -> dict[str, Any]:
    """The golden/audit case ids the plan must generate, from the shipped snapshot."""
    g = snap.get("golden") or {}
    a = snap.get("audit") or {}
    golden_ids: list[tuple[int, str]] = [(int(c), str(i)) for c, i in g.get("ids", [])]
    if g.get("error"):
        golden_ids.append((_INVALID_CHAIN, INVALID_KEY))
    ids: list[tuple[int, str]] = [(int(c), str(k)) for c, k in a.get("ids", [])]
    if a.get("error"):
        ids.append((_INVALID_CHAIN, INVALID_KEY))
    coverage: list[int] = []
    if snap.get("mode") == "expansion":
        blue = _blue_chains(snap)
        # blue unreadable: which expected chains are new is unknown, so each gets a case that says so
        coverage = list(chains_needing_golden(snap["expected"], blue if blue is not None else []))
    return {"golden_ids": golden_ids, "coverage_chains": coverage, "audit_ids": ids}


class _EventCache:
    """Parsed golden events of ONE snapshot's events mapping, held by reference and matched with `is`: an
    id() key could name a newer snapshot once the old one is freed (CPython reuses ids), and return its
    stale events. Holding the mapping keeps its id unique while cached; a new snapshot starts afresh."""

    def __init__(self) -> None:
        self.events: Mapping[str, Any] | None = None
        self.parsed: dict[str, GoldenEvent] = {}

    def get(self, events: Mapping[str, Any], event_id: str) -> GoldenEvent:
        if self.events is not events:
            self.events, self.parsed = events, {}
        if event_id not in self.parsed:
            raw = dict(events[event_id])
            source = str(raw.pop("source", ""))
            self.parsed[event_id] = dataclasses.replace(parse_event_entry(raw, source), id=event_id, source=source)
        return self.parsed[event_id]


_EVENTS = _EventCache()


def _event(snap: Mapping[str, Any], event_id: str) -> GoldenEvent:
    return _EVENTS.get(snap["golden"]["events"], event_id)


def _combine(verdicts: Sequence[Verdict], chain: int, event_id: str) -> Verdict:
    """Failed when any part failed; else could-not-check when any part could not be checked; else passed."""
    bad = [v for v in verdicts if not v.passed]
    props = {"chain": chain, "golden": event_id}
    if bad:
        kinds = sorted({str(v.properties.get("kind")) for v in bad})
        make = Verdict.fail if any(v.outcome is Outcome.FAILED for v in bad) else Verdict.unknown
        return make(" | ".join(v.message for v in bad), kind="/".join(kinds), **props)
    return Verdict.ok(" | ".join(v.message for v in verdicts), kind="ok", **props)


def evaluate_golden(case: Case, snap: Mapping[str, Any]) -> Verdict:
    g = snap.get("golden")
    if g is None:
        return Verdict.unknown(f"{case.id}: the snapshot holds no golden data (fail closed)")
    if case.key == INVALID_KEY and g.get("error"):
        return Verdict.fail(f"invalid golden fixtures: {g['error']}", kind="INVALID")
    if g.get("fatal"):
        return Verdict.unknown(f"golden checks could not run: {g['fatal']} (fail closed)", kind="ERROR")
    assert case.key is not None and case.chain is not None
    if case.key not in g.get("events", {}):
        return Verdict.unknown(f"golden {case.key}: not in the snapshot (fail closed)", kind="ERROR")
    try:
        event = _event(snap, case.key)
    except Exception as exc:
        return Verdict.fail(f"golden {case.key}: fixture unreadable on this worker: {_msg(exc)}", kind="INVALID")
    l1 = g.get("l1", {}).get(str(case.chain)) or {"endpoint": None, "error": f"no RPC for chain {case.chain}"}
    endpoint = str(l1.get("endpoint") or "(none)")
    raw_probe = (l1.get("probes") or {}).get(case.key)
    verdicts = [
        golden_l1(
            event,
            None if raw_probe is None else ProbeResult.from_dict(raw_probe),
            endpoint=endpoint,
            error=l1.get("error"),
        )
    ]
    belts = ["green", "blue"] if snap.get("mode") == "parity" else ["green"]
    for belt in belts:
        got = g.get("rows", {}).get(belt) or {"error": "not read"}
        rows = got.get("rows") or {}
        error = got.get("error")
        if error is None and case.key not in rows:  # no field in the answer is no answer, not "no entity"
            error = f"{belt}'s answer has no field for this golden entity (a partial answer)"
        verdicts.append(
            golden_entity(
                event,
                rows.get(case.key),
                belt=belt,
                endpoint=str(g.get("endpoints", {}).get(belt) or belt),
                error=error,
            )
        )
    return _combine(verdicts, case.chain, case.key)


def evaluate_coverage(case: Case, snap: Mapping[str, Any]) -> Verdict:
    assert case.chain is not None
    g = snap.get("golden") or {}
    if _blue_chains(snap) is None:
        blue = need_map(need_map(snap, "belts", "the snapshot"), "blue", "the belts")
        why = blue.get("error") or blue.get("progress_error") or "blue's progress was not read"
        return Verdict.unknown(
            f"chain {case.chain}: blue's chains are unknown, so whether chain {case.chain} is new in green "
            f"(and needs a golden event) cannot be said: {why}",
            chain=case.chain,
        )
    chains = [int(c) for c, _ in g.get("ids", [])]
    verdict = golden_coverage(case.chain, chains, golden_dir=str(g.get("dir", "golden")))
    if not verdict.passed and g.get("error"):
        return Verdict.fail(f"{verdict.message}; the golden fixtures are invalid: {g['error']}", **verdict.properties)
    return verdict


def evaluate_audit(case: Case, snap: Mapping[str, Any]) -> Verdict:
    a = snap.get("audit")
    if a is None:
        return Verdict.unknown(f"{case.id}: the snapshot holds no audit data (fail closed)")
    if case.key == INVALID_KEY and a.get("error"):
        return Verdict.fail(f"invalid [[audit]] settings: {a['error']}", kind="INVALID")
    if a.get("fatal"):
        return Verdict.unknown(f"audits could not run: {a['fatal']} (fail closed)", kind="ERROR")
    assert case.key is not None and case.chain is not None
    specs = [s for s in parse_audits(a.get("tables", [])) if s.chain == case.chain]
    entity, _, idx = case.key.rpartition("#w")
    spec = next((s for s in specs if s.entity == entity), None)
    item = a.get("windows", {}).get(f"{case.chain}:{case.key}")
    if spec is None or item is None:
        return Verdict.unknown(f"audit {case.key} on chain {case.chain}: not in the snapshot (fail closed)")
    w = item.get("window")
    window = None if w is None else Window(int(w[0]), int(w[1]), int(w[2]))
    if window is None and item.get("cutoff") is None:
        return Verdict.unknown(
            f"audit {entity} on chain {case.chain}, window {idx}: no cutoff block to place"
            f" the window below: {item.get('cutoff_reason')} (fail closed)",
            kind="NO WINDOW",
            chain=case.chain,
            entity=entity,
        )
    l1 = a.get("l1", {}).get(str(case.chain)) or {}
    l1_counts_by_key: dict[str, list[int]] = l1.get("counts") or {}
    chain_counts = [c for k, cs in l1_counts_by_key.items() for c in cs]
    golden = snap.get("golden") or {}
    probes = ((golden.get("l1") or {}).get(str(case.chain)) or {}).get("probes") or {}
    golden_counts = [len(p.get("logs_by_hash") or []) for p in probes.values() if p]
    return audit_window(
        spec,
        window,
        l1_counts_by_key.get(f"{case.chain}:{case.key}") if not l1.get("error") else None,
        (a.get("green_counts") or {}).get(f"{case.chain}:{case.key}"),
        l1_endpoint=str(l1.get("endpoint") or "(no RPC)"),
        belt="green",
        belt_endpoint=str(a.get("green_endpoint") or "green"),
        l1_witness=witnessed(chain_counts, golden_counts),
        seed=a.get("seed", ""),
        cutoff=item.get("cutoff"),
        l1_error=l1.get("error") or (None if l1 else f"no RPC for chain {case.chain}"),
        belt_error=a.get("green_error"),
    )


def register_rules() -> None:
    register("golden", evaluate_golden)
    register("golden_coverage", evaluate_coverage)
    register("audit", evaluate_audit)


register_rules()

__all__ = ["extend_snapshot", "plan_args", "register_rules"]
