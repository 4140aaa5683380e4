"""The typed snapshot: one JSON round trip (what the controller ships is what a worker reads), and it fails
closed: a missing or mistyped field is a SnapshotError naming where, and every case of such a snapshot is
could-not-check, never passed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from belt_gate.audit_spec import choose_windows, parse_audits, plan_windows
from belt_gate.golden import event_to_json, load_golden
from belt_gate.plan import Case
from belt_gate.rules import evaluate
from belt_gate.rules.verdict import Outcome
from belt_gate.snapshot_model import Snapshot, SnapshotError

ROOT = Path(__file__).resolve().parents[2]
TRANSFER = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"


def agg(count: int) -> dict[str, Any]:
    return {"aggregate": {"count": count, "sum": {"amount": "10"}, "min": {"amount": "1"}, "max": {"amount": "5"}}}


def doc() -> dict[str, Any]:
    event = next(e for e in load_golden(ROOT / "golden").by_chain(8453) if e.entity == "NftTransfer")
    spec = parse_audits([{"chain": 8453, "address": event.address, "event": TRANSFER, "entity": "NftTransfer"}])[0]
    progress = {"8453": {"processed": 90, "head": 90}}
    return {
        "version": 1,
        "mode": "parity",
        "seed": 0,
        "head_tolerance": 10,
        "expected": [],
        "growing_chains": [],
        "settings": {"mode": "parity"},
        "chains": [8453],
        "entities": [
            {
                "name": "Mint",
                "reconciliation": "A",
                "chain_column": "chainId",
                "block_column": "b",
                "timestamp_column": None,
            },
            {
                "name": "Loan",
                "reconciliation": "C",
                "chain_column": "chainId",
                "block_column": None,
                "timestamp_column": None,
            },
        ],
        "belts": {
            name: {"endpoint": f"http://{name}", "error": None, "progress": progress, "progress_error": None}
            for name in ("blue", "green")
        },
        "l1": {"heads": {"8453": 95}, "errors": {}, "rpc": [8453]},
        "cutoffs": {"8453": {"block": 90, "why": "lower processed block"}},
        "fingerprints": {
            "Mint@8453": {
                "cutoff": "block <= 90",
                "cutoff_why": "lower processed block",
                "scope": "cutoff",
                "append_only": True,
                "asked": {"sum": ["amount"], "minmax": ["amount"]},
                "blue": agg(3),
                "green": agg(3),
                "blue_total": {"aggregate": {"count": 3}},
                "green_total": {"aggregate": {"count": 3}},
            },
            "Loan@8453": {
                "cutoff": "the current state",
                "scope": "current",
                "append_only": False,
                "asked": {"sum": ["amount"], "minmax": ["amount"]},
                "blue": agg(3),
                "green": agg(3),
                "heights": {"blue": {"8453": 90}, "green": {"8453": 90}},
            },
        },
        "samples": {
            "Mint@8453": {"seed": 0, "expected": 1, "columns": ["id"], "blue": [{"id": "a"}], "green": [{"id": "a"}]},
            "Loan@8453": {"seed": 0, "skip": "Loan is absent from green (see counts)", "absent": "green"},
        },
        "localised": {},
        "schema": {"changes": [], "error": None},
        "enums": {"blue": None, "green": None, "live": []},
        "tolerances": {"Mint": {"rel": "0", "abs": 0}, "Loan": {"rel": "0.01", "abs": 2}},
        "golden": {
            "dir": "golden",
            "error": None,
            "events": {event.id: event_to_json(event)},
            "ids": [[8453, event.id]],
            "l1": {"8453": {"endpoint": "http://rpc", "error": "refused"}},
            "rows": {"green": {"rows": {event.id: None}}, "blue": {"error": "HTTP 503"}},
            "endpoints": {"green": "http://green"},
        },
        "audit": {
            "specs": [spec.to_json()],
            "ids": [[8453, "NftTransfer#w0"]],
            "seed": 0,
            "windows": plan_windows([spec], 0, {8453: {"block": 900}}),
            "l1": {},
            "green_counts": {},
            "green_error": None,
            "green_endpoint": "http://green",
        },
        "timings": {"total": 1.5},
    }


def test_the_json_round_trip_is_exact_and_workers_read_what_the_controller_typed() -> None:
    original = doc()
    snap = Snapshot.from_json(original)
    shipped = json.loads(json.dumps(snap.to_json()))  # through JSON, as pytest_configure_node ships it
    again = Snapshot.from_json(shipped)
    assert again == snap
    assert again.to_json() == shipped
    assert again.fingerprints["Mint@8453"].totals == ({"aggregate": {"count": 3}}, {"aggregate": {"count": 3}})
    assert again.audit is not None and again.audit.specs[0].pairs[0].event.name == "Transfer"
    assert again.audit.windows["8453:NftTransfer#w0"].window == choose_windows(0, again.audit.specs[0], cutoff=900)[0]
    event = next(iter(again.golden.events.values())) if again.golden else None
    assert event is not None and event.entity == "NftTransfer" and event.event.topic0 is not None
    assert [c.id for c in again.plan()] == [c.id for c in snap.plan()]
    assert "audit[NftTransfer@8453#w0]" in [c.id for c in snap.plan()]


def test_the_cases_of_a_typed_snapshot_are_judged_as_before() -> None:
    snap = Snapshot.from_json(doc())
    outcome = {c.id: evaluate(c, snap).outcome for c in snap.plan()}
    assert outcome["counts[Mint@8453]"] is Outcome.PASSED and outcome["content[Mint@8453]"] is Outcome.PASSED
    assert outcome["counts[Loan@8453]"] is Outcome.PASSED  # equal at one height
    assert outcome["content[Loan@8453]"] is Outcome.COULD_NOT_CHECK  # absent from green
    golden = next(i for i in outcome if i.startswith("golden["))
    assert outcome[golden] is Outcome.FAILED  # green has no such entity; L1 refused; blue unreadable
    assert outcome["audit[NftTransfer@8453#w0]"] is Outcome.COULD_NOT_CHECK  # no RPC answer for chain 8453


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    d = copy.deepcopy(doc())
    node: Any = d
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return d


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (("entities",), "has no 'entities'"),
        (("belts", "green", "endpoint"), "belts.green has no 'endpoint'"),
        (("belts", "blue", "progress"), "belts.blue has no 'progress'"),
        (("fingerprints", "Mint@8453", "green_total"), "fingerprints['Mint@8453'] has no 'green_total'"),
        (("fingerprints", "Loan@8453", "heights"), "fingerprints['Loan@8453'] has no 'heights'"),
        (("fingerprints", "Loan@8453", "heights", "green"), "heights has no 'green'"),
        (("samples", "Mint@8453", "expected"), "samples['Mint@8453'] has no 'expected'"),
        (("golden", "ids"), "golden has no 'ids'"),
        (("audit", "windows"), "audit has no 'windows'"),
        (("enums", "live"), "enums has no 'live'"),
        (("l1", "rpc"), "l1 has no 'rpc'"),
    ],
)
def test_a_missing_field_is_a_snapshot_error_naming_it_and_nothing_passes(path: tuple[str, ...], named: str) -> None:
    broken = _without(path)
    with pytest.raises(SnapshotError) as info:
        Snapshot.from_json(broken)
    assert named in str(info.value)
    for case in (Case("chain_set"), Case("counts", 8453, "Mint"), Case("schema", entity="Mint")):
        verdict = evaluate(case, broken)
        assert verdict.outcome is Outcome.COULD_NOT_CHECK and named.split(" has no")[0] in verdict.message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("fingerprints", "Mint@8453", "append_only"), "yes"),
        (("fingerprints", "Mint@8453", "scope"), "somewhere"),
        (("head_tolerance",), True),
        (("chains",), ["8453"]),
        (("belts", "blue", "progress"), ["8453"]),
        (("tolerances", "Mint", "rel"), "lots"),
        (("entities", 0, "reconciliation"), "Z"),
        (("golden", "events"), {"x": {"chain": 1}}),
        (("audit", "specs"), [{"chain": 1}]),
        (("samples", "Mint@8453", "expected"), -1),
    ],
)
def test_a_mistyped_field_is_a_snapshot_error(path: tuple[Any, ...], value: Any) -> None:
    broken = copy.deepcopy(doc())
    node: Any = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(SnapshotError):
        Snapshot.from_json(broken)
    assert evaluate(Case("chain_set"), broken).outcome is Outcome.COULD_NOT_CHECK


def test_what_is_not_an_object_is_refused() -> None:
    for bad in (None, [], "snapshot", 3):
        with pytest.raises(SnapshotError, match="not an object"):
            Snapshot.from_json(bad)


def test_a_worker_given_a_malformed_snapshot_plans_one_case_that_could_not_check() -> None:
    from types import SimpleNamespace

    from belt_gate.plugin import SNAPSHOT_KEY, BeltSession
    from belt_gate.settings import Settings

    good = json.dumps(Snapshot.from_json(doc()).to_json())
    broken = json.loads(good)
    del broken["fingerprints"]["Mint@8453"]["asked"]
    for raw, planned in ((good, "counts[Mint@8453]"), (json.dumps(broken), None), ("{not json", None), ("", None)):
        config: Any = SimpleNamespace(workerinput={SNAPSHOT_KEY: raw})
        worker = BeltSession(config, Settings(blue="blue.json", green="green.json"))
        worker.pytest_sessionstart(SimpleNamespace())  # type: ignore[arg-type]
        ids = [c.id for c in worker.cases()]
        if planned is not None:
            assert worker.snapshot is not None and planned in ids
            continue
        assert worker.snapshot is None and ids == ["chain_set"]
        assert "malformed" in worker.snapshot_error or "shipped no snapshot" in worker.snapshot_error
