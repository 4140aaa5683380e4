"""Detection matrix at seed scale: the 3,000,000-row footprint belt (12 entities, 6 chains) as blue, and a
green copied from it carrying the minimal defect classes, certified in-process (tests/proof/inprocess.py,
exactly as the plugin runs it) with a real anvil per bulk chain and golden fixtures on chains 1 and 10
(tests/proof/seed_world.py). Each certification asserts the exact set of failed and could-not-check ids, and
a fragment of each verdict naming the rule's finding, chain and entity. PROOF.md tabulates the outcome.

A certification at this scale costs about 12 s (both belts fingerprint 3M rows), so the defect classes
share four certifications, each defect on an (entity, chain) or a schema element no other defect of its
run touches, which is what lets the exact-set assertion attribute every failure to one defect:

- healthy: a plain copy certifies (167 cases, golden events included): no false failure at seed scale;
- rows: one event dropped (BgtBoostEvent@8453), duplicated (MiberaTransfer@80094), corrupted
  (MintActivity@8453 amountPaid), drop + duplicate with the count unchanged (BgtBoostEvent@10), a wrong
  chain id on one row (NftBurn@8453 written as chain 1), a chain skipped (7777777: no rows, no progress
  row), a chain one block behind (42161);
- schema: a table missing (PaddleSupply), a field removed (MintEvent.collection), nullability changed
  (FriendtechTrade.supply), an enum value removed (TreasuryKind.BACKING);
- L1: the gate's RPC for chain 1 answers `[]` to eth_getLogs (a fault proxy in front of the anvil), and
  chain 10's golden block is reorged on a fresh anvil that first replayed it (its hash checked);
- green equal to blue (the same server by three spellings): refused before any request.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from belt_gate.errors import SettingsError
from belt_gate.rules.verdict import Outcome
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox import traffic
from belt_gate.sandbox.bulk import load_footprint
from belt_gate.sandbox.world import remove_entity, remove_enum_value
from belt_gate.settings import build_settings
from tests.proof.expect import expect
from tests.proof.inprocess import Run, gate
from tests.proof.seed_world import CHAINS, GOLDEN_CHAINS, SeedWorld, processed, seed_belt, seed_world

pytestmark = [pytest.mark.bulk, pytest.mark.proof]
__all__ = ["seed_belt"]  # the session fixture, used through `world`

ENTITIES = tuple(load_footprint().entity_names)


@pytest.fixture(scope="module")
def world(seed_belt: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeedWorld]:
    with seed_world(seed_belt, tmp_path_factory.mktemp("seed-world")) as w:
        yield w


def _nth(db: Path, entity: str, chain: int, n: int) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
        rows = c.execute(f'SELECT id FROM "{entity}" WHERE chainId = ? ORDER BY id LIMIT 1 OFFSET ?', (chain, n))
        (rid,) = rows.fetchone()
    return str(rid)


def _write(db: Path, *statements: str, some: bool = True) -> None:
    """Run the statements in one transaction; with `some`, each must change at least one row."""
    with contextlib.closing(sqlite3.connect(db)) as c, c:
        for statement in statements:
            assert c.execute(statement).rowcount != 0 or not some, statement


def _dup(db: Path, entity: str, rid: str) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
        cols = [r[1] for r in c.execute(f'PRAGMA table_info("{entity}")') if r[1] != "id"]
    rest = ", ".join(f'"{x}"' for x in cols)
    return f"INSERT INTO \"{entity}\" (id, {rest}) SELECT id || '-dup', {rest} FROM \"{entity}\" WHERE id = '{rid}'"


def _sampled(run: Run, label: str, rid: str) -> bool:
    """Whether content's sample of `label` held row `rid` (a sample of k rows may miss a faulted row:
    counts, which fingerprints every row, must find it; content then may or may not)."""
    entry = run.snap["samples"].get(label) or {}
    return rid in {str(r.get("id")) for r in entry.get("blue") or [] if isinstance(r, dict)}


def golden_id(run: Run, chain: int) -> str:
    (case,) = [i for i in run.verdicts if i.startswith(f"golden[{chain}:")]
    return case


def healthy(world: SeedWorld) -> None:
    green = world.serve(world.green_copy())
    run = gate(world.options(green.url, golden=str(world.golden_dir("healthy"))), world.dir)
    expect(run, {})
    assert len(run.verdicts) == 167, len(run.verdicts)
    for c in GOLDEN_CHAINS:
        assert run.verdicts[golden_id(run, c)].outcome is Outcome.PASSED
    assert {c: run.snap["cutoffs"][str(c)]["block"] for c in CHAINS} == {c: processed(c) for c in CHAINS}


def row_defects(world: SeedWorld) -> None:
    db = world.green_copy()
    dropped = _nth(db, "BgtBoostEvent", 8453, 1)
    duplicated = _nth(db, "MiberaTransfer", 80094, 1)
    corrupted = _nth(db, "MintActivity", 8453, 1)
    gone, twice = _nth(db, "BgtBoostEvent", 10, 1), _nth(db, "BgtBoostEvent", 10, 3)
    moved = _nth(db, "NftBurn", 8453, 1)
    _write(
        db,
        f"DELETE FROM \"BgtBoostEvent\" WHERE id = '{dropped}'",
        _dup(db, "MiberaTransfer", duplicated),
        f"UPDATE \"MintActivity\" SET amountPaid = amountPaid + 1 WHERE id = '{corrupted}'",
        f"DELETE FROM \"BgtBoostEvent\" WHERE id = '{gone}'",
        _dup(db, "BgtBoostEvent", twice),
        f"UPDATE \"NftBurn\" SET chainId = 1 WHERE id = '{moved}'",
        "DELETE FROM chain_metadata WHERE chain_id = 7777777",
        "UPDATE chain_metadata SET latest_processed_block = latest_processed_block - 1 WHERE chain_id = 42161",
    )
    _write(db, *[f'DELETE FROM "{e}" WHERE chainId = 7777777' for e in ENTITIES])  # the chain skipped
    green = world.serve(db)
    run = gate(world.options(green.url, golden=str(world.golden_dir("rows"))), world.dir)
    behind = processed(42161) - 1
    failed: dict[str, list[str]] = {
        # the fingerprint finds the defect, the localisation (bisection by block) names the row
        "counts[BgtBoostEvent@8453]": [
            f"BgtBoostEvent@8453 at block <= {processed(8453)}: count blue",
            "(delta -1, allowed 0)",
            f"only in blue: {dropped} ",
        ],
        "counts[MiberaTransfer@80094]": ["(delta +1, allowed 0)", f"only in green: {duplicated}-dup "],
        "counts[MintActivity@8453]": ["fingerprint sum.amountPaid differs", f"{corrupted} field amountPaid: blue"],
        "counts[BgtBoostEvent@10]": [
            "fingerprint sum.amount differs",
            "on both)",
            f"only in blue: {gone} ",
            f"only in green: {twice}-dup ",
        ],
        "counts[NftBurn@8453]": ["(delta -1, allowed 0)", f"only in blue: {moved} "],
        "counts[NftBurn@1]": ["(delta +1, allowed 0)", f"only in green: {moved} "],
        "content[NftBurn@8453]": [f"row {moved} field chainId: blue 8453 != green 1"],
        "chain_set": ["green lacks blue's chain(s) [7777777] (silent skip)"],
        "progress[7777777]": ["chain 7777777: green has no progress row (silent skip)"],
        "progress[42161]": [f"chain 42161: green processed {behind} < blue {processed(42161)} (still backfilling)"],
    }
    for label, rid, text in (
        ("BgtBoostEvent@8453", dropped, "is in blue but not in green"),
        ("MintActivity@8453", corrupted, "field amountPaid"),
        ("BgtBoostEvent@10", gone, "is in blue but not in green"),
    ):
        if _sampled(run, label, rid):
            failed[f"content[{label}]"] = [text]
    expect(
        run,
        failed,
        unknown=[f"{r}[{e}@7777777]" for r in ("counts", "content") for e in ENTITIES],
        maybe=["content[MiberaTransfer@80094]"],  # its duplicate is not one of blue's rows: content may not see it
    )
    for e in ENTITIES:
        assert "green does not index chain 7777777 (see chain_set)" in run.message(f"counts[{e}@7777777]")
    assert run.snap["cutoffs"]["42161"]["block"] == behind


def schema_defects(world: SeedWorld) -> None:
    footprint = world.schema.read_text()
    green_schema = world.dir / "schema-defects.graphql"  # green's Envio schema: an enum value removed
    green_schema.write_text(remove_enum_value(footprint, "TreasuryKind", "BACKING"))
    served = world.dir / "schema-served.graphql"  # what green's server serves: a table missing
    served.write_text(remove_entity(footprint, "PaddleSupply"))
    faults = ("schema-remove:MintEvent.collection", "schema-nullable:FriendtechTrade.supply")
    green = world.serve(world.green_copy(), schema=served, faults=faults)
    run = gate(world.options(green.url, green_schema, golden=str(world.golden_dir("schema"))), world.dir)
    expect(
        run,
        {
            **{f"counts[PaddleSupply@{c}]": ["green has no PaddleSupply table (blue has"] for c in CHAINS},
            "schema[PaddleSupply]": ["TYPE_REMOVED: PaddleSupply was removed."],
            "schema[MintEvent]": ["FIELD_REMOVED: Field MintEvent.collection was removed."],
            "schema[FriendtechTrade]": ["Field FriendtechTrade.supply changed type from numeric! to numeric."],
            "enums": ["enum TreasuryKind lost value(s) BACKING"],
        },
        unknown=[f"content[PaddleSupply@{c}]" for c in CHAINS],
    )


def l1_defects(world: SeedWorld) -> None:
    """Chain 1's RPC answers [] to eth_getLogs; chain 10's golden block is reorged (for real, on an anvil
    that first replayed it): the golden rule fails each, naming the chain and the event."""
    chain10 = world.replay_chain(10)
    golden10 = world.golden[10]
    replaced = traffic.reorg(chain10, chainlib.head(chain10) - golden10.block + 1)
    old, new = replaced[golden10.block]
    assert old == golden10.block_hash and new != old
    empty = world.proxy(1, "empty")
    green = world.serve(world.green_copy())
    cli = world.options(green.url, golden=str(world.golden_dir("l1")), rpc=world.rpc(c1=empty, c10=chain10.rpc_url))
    run = gate(cli, world.dir)
    g1, g10 = golden_id(run, 1), golden_id(run, 10)
    expect(
        run,
        {
            g1: ["GAP: eth_getLogs by blockHash", "answered [] although the receipt holds the golden log"],
            g10: [f"REORG: block {golden10.block} is {new[:10]}", "the golden block is no longer canonical"],
        },
    )


def green_is_blue(world: SeedWorld) -> None:
    blue = world.blue.url
    for green in (blue, blue + "?x=1", blue.replace("127.0.0.1", "127.1")):
        with pytest.raises(SettingsError, match="green is blue"):
            build_settings(world.options(green), {}, cwd=world.dir, env={})


CLASSES = {
    "healthy": healthy,
    "rows": row_defects,
    "schema": schema_defects,
    "l1": l1_defects,  # last: it starts its own chain 10 and reorgs it, nothing after it needs that chain
    "green is blue": green_is_blue,
}


def test_seed_scale_detection_matrix(world: SeedWorld) -> None:
    """One test, so one xdist worker builds and serves the seed world while the other runs other tests
    (each certification already keeps both cores busy: two servers fingerprint 3M rows each). Every
    certification runs even when another fails; the failure names each one that did not hold."""
    problems: dict[str, str] = {}
    for name, check in CLASSES.items():
        try:
            check(world)
        except AssertionError as exc:
            problems[name] = str(exc)[:4000]
    assert not problems, "\n\n".join(f"[{name}] {text}" for name, text in problems.items())
