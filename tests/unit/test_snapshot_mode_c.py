"""Reconciliation C fingerprints carry the heights each belt stood at when read (progress is read in the same
request as the fingerprints), for the rule to judge. A stub source: a unit test of snapshot.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from belt_gate.envio import Reconciliation
from belt_gate.plan import EntityPlan
from belt_gate.snapshot import BeltState, FingerprintPlan, read_fingerprints
from belt_gate.sources.graphql import AggregateAsk, RowsAsk


class StubSource:
    def __init__(self, belt: str, processed: int) -> None:
        self.belt, self.endpoint, self.processed = belt, f"stub-{belt}", processed
        self.requests, self.seconds = 0, 0.0

    async def introspect(self) -> dict[str, Any]:
        raise NotImplementedError

    async def progress(self, source: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def aggregates(self, asks: Sequence[AggregateAsk], with_progress: str | None) -> dict[str, Any]:
        self.requests += 1
        out: dict[str, Any] = {a.alias: {"aggregate": {"count": 3}} for a in asks}
        if with_progress:
            out["_progress"] = [{"chain_id": 1, "processed": self.processed, "head": 50}]
        return out

    async def rows(self, asks: Sequence[RowsAsk], asked: str) -> dict[str, Any]:
        raise NotImplementedError


def state(belt: str, processed: int) -> BeltState:
    from belt_gate.dialect import Dialect

    dialect = Dialect("chain_metadata", ("Loan",), frozenset({"Loan"}), {"Loan": ()}, {"Loan": ()}, {}, ())
    return BeltState(belt, StubSource(belt, processed), dialect=dialect)


def fingerprints(blue_at: int, green_at: int) -> dict[str, Any]:
    loan = EntityPlan("Loan", Reconciliation.CONVERGED, "chainId", None, None)
    plan = FingerprintPlan("Loan@1", loan, 1, (("chainId", "_eq", 1),), "settled at block 40")
    cutoffs = {1: {"block": 40, "settled": True}}
    return asyncio.run(read_fingerprints(state("blue", blue_at), state("green", green_at), [plan], cutoffs))


def test_settled_belts_keep_their_fingerprints_and_equal_heights() -> None:
    entry = fingerprints(40, 40)["Loan@1"]
    assert "error" not in entry and entry["blue"] == entry["green"] == {"aggregate": {"count": 3}}
    assert entry["scope"] == "current" and entry["heights"] == {"blue": {"1": 40}, "green": {"1": 40}}


def test_a_belt_that_moved_while_read_keeps_its_answer_and_its_height() -> None:
    entry = fingerprints(40, 41)["Loan@1"]
    assert "error" not in entry and entry["heights"] == {"blue": {"1": 40}, "green": {"1": 41}}
    assert entry["append_only"] is False and "blue_total" not in entry
