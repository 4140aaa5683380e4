"""Detection matrix: each minimal defect class injected into green fails naming the right rule, chain and
entity, and nothing else fails. Against the real sandbox world (anvil chains, the reference indexer, the
Hasura-dialect server, the RPC fault proxy); the same classes at seed scale (3M rows): test_seed_matrix.py.
The gate runs in-process (tests/proof/
inprocess.py: settings -> snapshot.take with the L1 checks -> the plan -> every rule), so each assertion
is about the exact set of failed and could-not-check case ids. PROOF.md tabulates the outcome.

World, belt A (blue's chains 1, 10, 8453, 80094); why the defects do not interact:
- chain 1: drop NftTransfer, duplicate Erc1155Transfer (different entities); Action #1 of chain 8453 is
  written with chain id 1 (Action is touched nowhere else);
- chain 8453: corrupt Erc1155Transfer.value; drop + duplicate NftTransfer (count unchanged);
- chain 10: one block behind (at or above the golden block, so only progress can see it; Loan, mode C,
  compares the current state at the two heights);
- chain 80094 skipped; schema: a field removed, a nullability change; an enum value removed;
- the gate's RPC for 8453 answers `[]` to eth_getLogs (the golden probes see it); the golden fixture of one
  chain-1 event names a block hash the chain no longer has (a reorged golden block, as the rule sees it).
World, belt B: a table missing (Erc1155Transfer), and green indexed chain 8453 through an RPC answering `[]`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from belt_gate.cli import demo_command
from belt_gate.errors import SettingsError
from belt_gate.golden import load_golden
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox.world import BeltInfo, WorldState, committed_golden
from belt_gate.settings import build_settings
from tests.proof.expect import expect
from tests.proof.inprocess import gate
from tests.sandbox.conftest import belt_factory, world  # noqa: F401  (the shared sandbox world)

pytestmark = pytest.mark.sandbox

WORLD_ENTITIES = ("Action", "Erc1155Transfer", "Loan", "NftTransfer")
BLUE_CHAINS = (1, 10, 8453, 80094)


def options(state: WorldState, green: BeltInfo, golden: Path | None, **extra: Any) -> dict[str, Any]:
    s = state.summary()
    cli: dict[str, Any] = {
        "blue": s["blue"],
        "green": green.url,
        "schema": s["blue_schema"],
        "blue_schema": s["blue_schema"],
        "green_schema": str(green.schema),
        "rpc": [f"{c}={u}" for c, u in s["rpc"].items()],
        "sample": "50",  # slices of at most 100 rows are read whole: every faulted row is compared
        "settle_timeout": "0.5",
    }
    if golden is not None:
        cli["golden"] = str(golden)
    cli.update(extra)
    return cli


def golden_copy(state: WorldState, chains: Iterable[int], into: Path) -> Path:
    source = committed_golden(state)
    assert source is not None
    into.mkdir(parents=True, exist_ok=True)
    for c in chains:
        shutil.copy(source / f"{c}.yaml", into / f"{c}.yaml")
    return into


def reorg_first_golden(golden: Path, chain: int) -> str:
    """The fixture of the first event of `chain` names a block hash L1 does not have at its height."""
    first = load_golden(golden).by_chain(chain)[0]
    path = golden / f"{chain}.yaml"
    text = path.read_text()
    forged = "0x" + "ab" * 32
    assert first.block_hash in text and forged not in text
    path.write_text(text.replace(first.block_hash, forged, 1))
    assert load_golden(golden).by_chain(chain)[0].block_hash == forged
    return first.id


def test_world_detection_matrix(
    world: WorldState,  # noqa: F811
    belt_factory: Callable[..., BeltInfo],  # noqa: F811
    tmp_path: Path,
) -> None:
    head10 = chainlib.head(world.rpc_direct[10])
    golden = golden_copy(world, BLUE_CHAINS, tmp_path / "golden")
    assert max(e.block_number for e in load_golden(golden).by_chain(10)) <= head10 - 1
    reorged = reorg_first_golden(golden, 1)
    a = belt_factory(
        chains=BLUE_CHAINS,
        faults=(
            "drop:NftTransfer@1",
            "dup:Erc1155Transfer@1",
            "rechain:Action@8453=1#1",
            "corrupt:Erc1155Transfer@8453:value",
            "drop:NftTransfer@8453#1",
            "dup:NftTransfer@8453#3",
            f"lag:10={head10 - 1}",
            "skip:80094",
            "schema-remove:Action.context",
            "schema-nullable:NftTransfer.tokenId",
            "enum-remove:LoanStatus.DEFAULTED",
        ),
    )
    b = belt_factory(chains=BLUE_CHAINS, faults=("rpc-empty:8453", "table-remove:Erc1155Transfer"))
    empty_rpc = b.chains[8453]  # b's own proxy in front of chain 8453: eth_getLogs answers []
    rpc = [f"{c}={u}" for c, u in world.summary()["rpc"].items() if c != "8453"] + [f"8453={empty_rpc}"]
    run = gate(options(world, a, golden, rpc=rpc), tmp_path)
    g = load_golden(golden)
    cut = {c: run.snap["cutoffs"][str(c)]["block"] for c in (1, 8453)}
    expect(
        run,
        {
            "counts[NftTransfer@1]": [f"NftTransfer@1 at block <= {cut[1]}: count blue", "(delta -1, allowed 0)"],
            "content[NftTransfer@1]": ["is in blue but not in green (seed 0)"],
            "counts[Erc1155Transfer@1]": ["(delta +1, allowed 0)"],
            "counts[Action@8453]": ["Action@8453 at timestamp <=", "(delta -1, allowed 0)"],
            "counts[Action@1]": ["Action@1 at timestamp <=", "(delta +1, allowed 0)"],
            "content[Action@8453]": ["field chainId: blue 8453 != green 1"],
            "counts[Erc1155Transfer@8453]": [f"at block <= {cut[8453]}: fingerprint sum.value differs"],
            "content[Erc1155Transfer@8453]": ["field value: blue"],
            "counts[NftTransfer@8453]": ["fingerprint sum.blockNumber differs", "(count"],
            "content[NftTransfer@8453]": ["is in blue but not in green"],
            "progress[10]": [f"chain 10: green processed {head10 - 1} < blue {head10} (still backfilling)"],
            "chain_set": ["green lacks blue's chain(s) [80094] (silent skip)"],
            "progress[80094]": ["chain 80094: green has no progress row (silent skip)"],
            **{f"golden[{e.id}]": [f"MISSING: green has no {e.entity}"] for e in g.by_chain(80094)},
            "schema[Action]": ["FIELD_REMOVED: Field Action.context was removed."],
            "schema[NftTransfer]": ["Field NftTransfer.tokenId changed type from numeric! to numeric."],
            "enums": ["enum LoanStatus lost value(s) DEFAULTED"],
            **{f"golden[{e.id}]": ["GAP: eth_getLogs by blockHash"] for e in g.by_chain(8453)},
            f"golden[{reorged}]": ["REORG: block 10 is 0x", "the golden block is no longer canonical"],
        },
        unknown=[f"{r}[{e}@80094]" for r in ("counts", "content") for e in WORLD_ENTITIES],
        maybe=["counts[Loan@10]", "content[Loan@10]"],  # mode C at two heights: a difference is could-not-check
    )
    for e in WORLD_ENTITIES:
        assert "green does not index chain 80094 (see chain_set)" in run.message(f"counts[{e}@80094]")

    # belt B: a table missing, and green indexed chain 8453 through an RPC answering []
    (tmp_path / "b").mkdir()  # no golden/ there: the golden query would ask for the missing table
    run = gate(options(world, b, None), tmp_path / "b")
    others = [e for e in WORLD_ENTITIES if e != "Erc1155Transfer"]
    expect(
        run,
        {
            **{f"counts[Erc1155Transfer@{c}]": ["green has no Erc1155Transfer table (blue has"] for c in BLUE_CHAINS},
            "schema[Erc1155Transfer]": ["TYPE_REMOVED: Erc1155Transfer was removed."],
            **{f"counts[{e}@8453]": ["count blue", "!= green 0"] for e in others},
            **{f"content[{e}@8453]": ["is in blue but not in green"] for e in others},
        },
        unknown=[f"content[Erc1155Transfer@{c}]" for c in BLUE_CHAINS],
    )


def test_a_cutoff_that_compares_nothing_fails(world: WorldState, tmp_path: Path) -> None:  # noqa: F811
    """--belt-reorg-margin=1000000 puts every cutoff at block 0, below every row: "0 == 0" is no pass."""
    cli: dict[str, Any] = {"rpc": [], "golden": str(committed_golden(world)), "reorg_margin": "1000000"}
    for a in demo_command(world):
        key, _, value = a.removeprefix("--belt-").partition("=")
        if a.startswith("--belt-") and key == "rpc":
            cli["rpc"].append(value)
        elif a.startswith("--belt-"):
            cli[key.replace("-", "_")] = value
    run = gate(cli, tmp_path)
    assert {run.snap["cutoffs"][str(c)]["block"] for c in BLUE_CHAINS} == {0}
    expect(
        run,
        {
            f"{rule}[{e}@{c}]": [f"cutoff compares nothing: blue holds no {e} rows at the cutoff but", "1000000"]
            for rule in ("counts", "content")
            for e in ("Action", "Erc1155Transfer", "NftTransfer")
            for c in BLUE_CHAINS
        },
    )


@pytest.mark.parametrize(
    "spell",
    [lambda u: u, lambda u: u + "?x=1", lambda u: u.replace("127.0.0.1", "127.1")],
    ids=["same", "query", "127.1"],
)
def test_green_equal_to_blue_is_refused_before_any_request(
    world: WorldState,  # noqa: F811
    spell: Callable[[str], str],
    tmp_path: Path,
) -> None:
    blue = world.summary()["blue"]
    with pytest.raises(SettingsError, match="blue"):
        build_settings({"blue": blue, "green": spell(blue)}, {}, cwd=tmp_path, env={})
