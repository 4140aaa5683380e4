"""Localisation at seed scale: the bulk footprint belt (1,000,000 rows, 12 entities, 6 chains) served twice by
the real sandbox GraphQL server; green lacks one BgtBoostEvent among them, has one corrupted `amount`, and on
chain 1 one Action dropped and another duplicated (count unchanged; reconciliation B, bisected on timestamps).
The snapshot names each row, within 2*log2(blocks) requests per belt. Marked `bulk` (about 20 s of CPU to
build); it runs in CI like every test. Timings: bench/bench_localise.py and BENCHMARKS.md."""

from __future__ import annotations

import asyncio
import math
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from belt_gate.plan import Case
from belt_gate.rules import evaluate
from belt_gate.sandbox.bulk import CHAINS, FOOTPRINT, build_belt
from belt_gate.settings import build_settings
from belt_gate.snapshot import take
from tests.support.launchers import serve_belts

pytestmark = pytest.mark.bulk
ROWS = 1_000_000


def _faults(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as c:
        c.row_factory = sqlite3.Row
        n = c.execute('SELECT count(*) FROM "BgtBoostEvent" WHERE chainId = 8453').fetchone()[0]
        drop = dict(
            c.execute(
                'SELECT * FROM "BgtBoostEvent" WHERE chainId = 8453 ORDER BY id LIMIT 1 OFFSET ?', (n // 3,)
            ).fetchone()
        )
        c.execute('DELETE FROM "BgtBoostEvent" WHERE id = ?', (drop["id"],))
        bad = dict(
            c.execute('SELECT * FROM "BgtBoostEvent" WHERE chainId = 80094 ORDER BY id LIMIT 1 OFFSET 4242').fetchone()
        )
        c.execute('UPDATE "BgtBoostEvent" SET amount = amount + 1 WHERE id = ?', (bad["id"],))
        a, b = (
            dict(r) for r in c.execute('SELECT * FROM "Action" WHERE chainId = 1 ORDER BY timestamp LIMIT 2 OFFSET 999')
        )
        c.execute('DELETE FROM "Action" WHERE id = ?', (a["id"],))
        dup = {**b, "id": f"{b['id']}-dup"}
        c.execute(f'INSERT INTO "Action" ({", ".join(dup)}) VALUES ({", ".join("?" for _ in dup)})', list(dup.values()))
    return {"drop": drop, "corrupt": bad, "action_drop": a, "action_dup": dup}


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    d = tmp_path_factory.mktemp("bulk-localise")
    result = build_belt(d / "built", rows=ROWS, variant="green", seed=3)
    assert result.total == ROWS
    for name in ("blue", "green"):
        shutil.copy(result.db, d / f"{name}.sqlite")
    faults = _faults(d / "green.sqlite")
    with serve_belts({n: (d / f"{n}.sqlite", {"schema": FOOTPRINT}) for n in ("blue", "green")}) as served:
        cli = {"blue": served["blue"].url, "green": served["green"].url, "schema": str(FOOTPRINT), "timeout": "120"}
        snap = asyncio.run(take(build_settings(cli, {}, cwd=d)))
    yield faults, snap


def test_one_dropped_event_among_a_million_rows_is_located_to_its_block(
    bulk: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    faults, snap = bulk
    e = snap["localised"]["BgtBoostEvent@8453"]
    drop = faults["drop"]
    assert e["status"] == "located" and e["axis"] == "blockNumber"
    assert [r["id"] for r in e["only_blue"]] == [drop["id"]] and e["only_green"] == e["changed"] == []
    assert e["only_blue"][0]["blockNumber"] == str(drop["blockNumber"])
    (w,) = e["windows"]
    assert w["lo"] <= drop["blockNumber"] <= w["hi"] and (w["blue"], w["green"]) == (w["blue"], w["blue"] - 1)
    _share, start, head, _bt, _g = CHAINS[8453]
    assert e["requests"]["blue"] == e["requests"]["green"] <= 2 * math.log2(head - start)
    text = evaluate(Case("counts", chain=8453, entity="BgtBoostEvent"), snap).message
    assert f"only in blue: {drop['id']} (blockNumber {drop['blockNumber']})" in text


def test_a_corrupted_field_is_reported_with_both_values(bulk: tuple[dict[str, Any], dict[str, Any]]) -> None:
    faults, snap = bulk
    e = snap["localised"]["BgtBoostEvent@80094"]
    bad = faults["corrupt"]
    assert e["changed"] == [
        {"id": bad["id"], "field": "amount", "blue": str(bad["amount"]), "green": str(bad["amount"] + 1)}
    ]
    assert e["only_blue"] == e["only_green"] == []


def test_a_drop_and_a_duplicate_with_the_count_unchanged_report_both_rows(
    bulk: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    faults, snap = bulk
    fp = snap["fingerprints"]["Action@1"]
    assert fp["blue"]["aggregate"]["count"] == fp["green"]["aggregate"]["count"]
    e = snap["localised"]["Action@1"]
    assert e["axis"] == "timestamp" and e["status"] == "located"
    assert [r["id"] for r in e["only_blue"]] == [faults["action_drop"]["id"]]
    assert [r["id"] for r in e["only_green"]] == [faults["action_dup"]["id"]]
    assert set(snap["localised"]) == {"BgtBoostEvent@8453", "BgtBoostEvent@80094", "Action@1"}  # nothing else differs
