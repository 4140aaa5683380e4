"""The gate in-process, exactly as the plugin runs it (settings -> snapshot.take with the L1 checks ->
the plan -> every rule), without a pytest subprocess: cheap enough to repeat a run twenty times.

The snapshot goes through JSON first, as it does when it is shipped to an xdist worker."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from belt_gate import snapshot
from belt_gate.rules import evaluate
from belt_gate.rules.verdict import Outcome, Verdict
from belt_gate.settings import build_settings
from belt_gate.snapshot_model import Snapshot


@dataclass
class Run:
    verdicts: dict[str, Verdict]  # case id -> verdict, for every planned case
    snap: dict[str, Any]

    def ids(self, outcome: Outcome) -> set[str]:
        return {i for i, v in self.verdicts.items() if v.outcome is outcome}

    @property
    def failed(self) -> set[str]:
        return self.ids(Outcome.FAILED)

    @property
    def unknown(self) -> set[str]:
        return self.ids(Outcome.COULD_NOT_CHECK)

    @property
    def not_passed(self) -> set[str]:
        return self.failed | self.unknown

    def message(self, case_id: str) -> str:
        return self.verdicts[case_id].message


def take(cli: Mapping[str, Any], cwd: Path) -> dict[str, Any]:
    """The controller's snapshot (with the L1 checks' part), as shipped to a worker (through JSON)."""
    settings = build_settings(dict(cli), {}, cwd=cwd, env={})
    snap = asyncio.run(snapshot.take(settings, cwd=cwd))
    return dict(json.loads(json.dumps(snap)))


def judge(snap: dict[str, Any]) -> Run:
    """Every planned case of a snapshot, evaluated as a worker does."""
    typed = Snapshot.from_json(snap)  # as a worker reads what the controller shipped
    cases = typed.plan()
    return Run({c.id: evaluate(c, typed) for c in cases}, snap)


def gate(cli: Mapping[str, Any], cwd: Path) -> Run:
    """One certification run; `cli` holds the options as the plugin passes them (`rpc`: ["C=URL", ...])."""
    return judge(take(cli, cwd))


def gate_many(cli: Mapping[str, Any], cwd: Path, n: int, *, parallel: int = 2) -> list[Run]:
    """`n` runs, up to `parallel` snapshots at once (a snapshot mostly waits on its endpoints), each at
    its own moment; the rules are then evaluated one snapshot after another."""
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        snaps = list(pool.map(lambda _: take(cli, cwd), range(n)))
    return [judge(s) for s in snaps]
