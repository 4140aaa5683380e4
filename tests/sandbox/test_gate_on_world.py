"""The gate (pytester, a real pytest subprocess) against the REAL sandbox world: six anvil chains, the
reference indexer, Hasura-dialect servers. Healthy green passes in parity (blue's four chains) and in
expansion (4 -> 6 chains, exactly the demo's run); each data fault makes exactly its tests fail, with its
message.

Cost: two extra belts (one healthy on blue's chains, one carrying every data fault on its own chain or
entity) and four pytester runs. One test per belt, so under `pytest -n 2` no belt is built twice.

Fault belt (blue's chains 1, 10, 8453, 80094), why the faults do not interact:
- chain 1: drop:NftTransfer@1 and dup:Erc1155Transfer@1 (different entities);
- chain 8453: corrupt:Erc1155Transfer@8453:value and drop:NftTransfer@8453#1 + dup:NftTransfer@8453#3
  (count unchanged);
- chain 10: lag:10=<head-2>, at or above the golden events' block, so only progress fails there and reconciliation C
  (Loan, the current state, whose difference the two heights could explain) could not be checked; the rest
  compares at the lower block and passes;
- skip:80094 and extra:42161: whole chains, so nothing else is put on them; both are named by the one
  chain_set verdict;
- schema-remove:Action.context, schema-nullable:NftTransfer.tokenId, enum-remove:LoanStatus.DEFAULTED:
  schema-level, no data change.
Every faulted event is one of the first few of its chain (block 2-3), never a golden event (block 10).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from belt_gate.cli import demo_command
from belt_gate.envio import load_schema
from belt_gate.golden import load_golden
from belt_gate.plan import build_plan, entity_plans
from belt_gate.rules.golden import chains_needing_golden
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox.world import BeltInfo, WorldState, committed_golden
from tests.support.runs import failed, line_with, outcomes, run

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "schema.graphql")
ENTITIES = SCHEMA.entity_names
LAG_CHAIN, SKIP_CHAIN, EXTRA_CHAIN = 10, 80094, 42161
MISSING_CHAIN = 42161  # expected in expansion, not indexed by the healthy belt


# ---------------------------------------------------------------------------------------------
# helpers


def gql(url: str, query: str) -> dict[str, Any]:
    body = httpx.post(url, json={"query": query}, timeout=30).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def rows(url: str, entity: str, chain: int, cols: str) -> dict[str, dict[str, Any]]:
    q = f"{{ {entity}(where: {{chainId: {{_eq: {chain}}}}}, order_by: {{id: asc}}) {{ id {cols} }} }}"
    return {r["id"]: r for r in gql(url, q)[entity]}


def blocks(found: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(int(r["blockNumber"]) for r in found.values())


def plan_ids(
    chains: Iterable[int], golden: Path | None, *, expected: Sequence[int] = (), blue: Sequence[int] = ()
) -> set[str]:
    """Every item id the plan implies for these chains (and golden fixtures, and expansion coverage)."""
    golden_ids = list(load_golden(golden).ids) if golden is not None else []
    cases = build_plan(
        sorted(set(chains)),
        entity_plans(SCHEMA.entities, {}),
        golden_ids=golden_ids,
        coverage_chains=chains_needing_golden(expected, blue),
    )
    return {c.id for c in cases}


def golden_for(world: WorldState, chains: Iterable[int], into: Path) -> Path:
    """The project's committed golden fixtures (what the demo passes on the default world), for `chains`."""
    source = committed_golden(world)
    assert source is not None, "the shared world is the default one: the committed golden/ fixtures apply"
    into.mkdir(parents=True, exist_ok=True)
    for c in chains:
        shutil.copy(source / f"{c}.yaml", into / f"{c}.yaml")
    assert load_golden(into).chains == set(chains)
    return into


def gate_args(world: WorldState, green: BeltInfo, golden: Path | None) -> list[str]:
    """The demo's options, with this green (and its own Envio schema file) and this golden folder."""
    s = world.summary()
    args = [
        f"--belt-blue={s['blue']}",
        f"--belt-green={green.url}",
        f"--belt-blue-schema={s['blue_schema']}",
        f"--belt-green-schema={green.schema}",
        f"--belt-schema={s['blue_schema']}",
    ]
    args += [f"--belt-rpc={c}={u}" for c, u in s["rpc"].items()]
    return args + ([f"--belt-golden={golden}"] if golden is not None else [])


def verdicts(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    cert = json.loads((pytester.path / "cert.json").read_text())
    return {v["id"]: v for v in cert["verdicts"]}


def check(
    expected: Mapping[str, Sequence[str]], result: pytest.RunResult, got: Mapping[str, Mapping[str, Any]]
) -> None:
    """Exactly the expected ids fail, each with every expected fragment in its verdict and on its output line."""
    out = result.stdout.str()
    assert failed(result) == set(expected), (
        f"unexpected failures {sorted(failed(result) - set(expected))}, "
        f"missing failures {sorted(set(expected) - failed(result))}\n{out[-4000:]}"
    )
    problems = []
    for test_id, fragments in expected.items():
        message = got[test_id]["verdict"]
        problems += [f"{test_id}: {f!r} not in {message!r}" for f in fragments if f not in message]
        for f in fragments:
            try:
                result.stdout.fnmatch_lines(line_with(f"{test_id}: *{f}"))
            except pytest.fail.Exception:  # fnmatch_lines fails the test, it does not raise AssertionError
                problems.append(f"{test_id}: no output line with {f!r}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# healthy: parity on blue's chains, then an expected chain missing (expansion) on the same belt


@pytest.fixture(scope="module")
def blue_chains(world: WorldState) -> list[int]:
    return sorted(world.belts["blue"].chains)


def test_healthy_green_passes_in_parity_and_an_expected_chain_missing_fails_in_expansion(
    pytester: pytest.Pytester,
    world: WorldState,
    belt_factory: Callable[..., BeltInfo],
    blue_chains: list[int],
    tmp_path: Path,
) -> None:
    healthy = belt_factory(chains=blue_chains)
    golden = golden_for(world, blue_chains, tmp_path / "golden-parity")
    result = run(pytester, *gate_args(world, healthy, golden), "--belt-report=cert.json")
    got = outcomes(result)
    assert result.ret == 0, result.stdout.str()[-4000:]
    want = plan_ids(blue_chains, golden)
    assert set(got) == want and set(got.values()) == {"PASSED"}
    assert len(want) == 1 + 4 + len(ENTITIES) * 4 * 2 + len(ENTITIES) + 1 + 1 + 4 * 4  # 59
    assert len([k for k in got if k.startswith("golden[")]) == 16
    assert "CERTIFIED (passed 59 of 59 planned)" in result.stdout.str()

    # expansion, expecting a chain this belt does not index: the chain set names it; every test of that
    # chain fails (no progress row, nothing to compare, golden entities missing); nothing else fails.
    expected = [*blue_chains, MISSING_CHAIN]
    golden = golden_for(world, expected, tmp_path / "golden-expansion")
    result = run(
        pytester,
        *gate_args(world, healthy, golden),
        "--belt-mode=expansion",
        f"--belt-expected-chains={','.join(map(str, expected))}",
        "--belt-report=cert.json",
    )
    assert result.ret == 1
    assert set(outcomes(result)) == plan_ids(expected, golden, expected=expected, blue=blue_chains)
    m = MISSING_CHAIN
    nothing = f"green does not index expected chain {m} (no progress row, and blue lacks it too): nothing to compare"
    check(
        {
            "chain_set": [f"chain set (expansion): expected chain(s) [{m}] absent from green"],
            f"progress[{m}]": [f"chain {m}: green has no progress row (silent skip)"],
            **{f"{rule}[{e}@{m}]": [f"{e}@{m}: {nothing}"] for e in ENTITIES for rule in ("counts", "content")},
            **{
                f"golden[{g.id}]": [f"MISSING: green has no {g.entity} with id '{g.entity_id}'"]
                for g in load_golden(golden).by_chain(m)
            },
        },
        result,
        verdicts(pytester),
    )
    assert verdicts(pytester)[f"golden_coverage[{m}]"]["outcome"] == "passed"


# ---------------------------------------------------------------------------------------------
# healthy expansion 4 -> 6: the world's green, exactly the demo's run


def test_healthy_green_passes_in_expansion_as_the_demo_runs_it(
    pytester: pytest.Pytester, world: WorldState, blue_chains: list[int]
) -> None:
    argv = [a for a in demo_command(world) if a.startswith("--belt-")]
    golden = committed_golden(world)
    assert golden is not None
    green = sorted(world.belts["green"].chains)
    assert len(green) == 6 and set(blue_chains) < set(green)
    assert f"--belt-expected-chains={','.join(map(str, green))}" in argv and "--belt-mode=expansion" in argv
    result = run(pytester, *argv, f"--belt-golden={golden}")
    got = outcomes(result)
    assert result.ret == 0, result.stdout.str()[-4000:]
    want = plan_ids(green, golden, expected=green, blue=blue_chains)
    assert set(got) == want and set(got.values()) == {"PASSED"}
    assert len(want) == 1 + 6 + len(ENTITIES) * 6 * 2 + len(ENTITIES) + 1 + 1 + 6 * 4 + 2  # 87
    assert {"golden_coverage[42161]", "golden_coverage[7777777]"} <= set(got)
    assert "CERTIFIED (passed 87 of 87 planned)" in result.stdout.str()


# ---------------------------------------------------------------------------------------------
# every data fault at once, each on its own chain or entity: exactly its tests fail


def test_each_fault_fails_exactly_its_tests_with_its_message(
    pytester: pytest.Pytester,
    world: WorldState,
    belt_factory: Callable[..., BeltInfo],
    blue_chains: list[int],
    tmp_path: Path,
) -> None:
    heads = {c: chainlib.head(world.rpc_direct[c]) for c in world.rpc_direct}
    lag = heads[LAG_CHAIN] - 2
    golden = golden_for(world, blue_chains, tmp_path / "golden")
    assert max(e.block_number for e in load_golden(golden).by_chain(LAG_CHAIN)) <= lag  # golden is not lagged
    faults = (
        "drop:NftTransfer@1",
        "dup:Erc1155Transfer@1",
        "corrupt:Erc1155Transfer@8453:value",
        "drop:NftTransfer@8453#1",
        "dup:NftTransfer@8453#3",
        f"lag:{LAG_CHAIN}={lag}",
        f"skip:{SKIP_CHAIN}",
        f"extra:{EXTRA_CHAIN}",
        "schema-remove:Action.context",
        "schema-nullable:NftTransfer.tokenId",
        "enum-remove:LoanStatus.DEFAULTED",
    )
    bad = belt_factory(faults=faults, chains=blue_chains)
    blue = world.belts["blue"].url

    # what the faults did to the rows, read through both belts' GraphQL
    nft1_b, nft1_g = rows(blue, "NftTransfer", 1, ""), rows(bad.url, "NftTransfer", 1, "")
    (dropped1,) = set(nft1_b) - set(nft1_g)
    assert set(nft1_g) < set(nft1_b)
    erc1_b, erc1_g = rows(blue, "Erc1155Transfer", 1, ""), rows(bad.url, "Erc1155Transfer", 1, "")
    assert set(erc1_b) < set(erc1_g) and len(erc1_g) == len(erc1_b) + 1
    nft_b, nft_g = rows(blue, "NftTransfer", 8453, "blockNumber"), rows(bad.url, "NftTransfer", 8453, "blockNumber")
    (dropped8453,) = set(nft_b) - set(nft_g)  # drop plus dup on one slice compose: the count is unchanged
    (dup8453,) = set(nft_g) - set(nft_b)
    assert len(nft_b) == len(nft_g) and dup8453.endswith("-dup") and dup8453[:-4] in nft_b
    erc_b, erc_g = rows(blue, "Erc1155Transfer", 8453, "value"), rows(bad.url, "Erc1155Transfer", 8453, "value")
    (corrupted,) = [k for k in erc_b if erc_b[k] != erc_g[k]]
    assert erc_b.keys() == erc_g.keys()
    v = int(erc_b[corrupted]["value"])
    assert int(erc_g[corrupted]["value"]) == v + 1
    total = sum(int(r["value"]) for r in erc_b.values())

    # --belt-sample=50: slices of at most 2k = 100 rows are read whole, so every faulted row is compared
    result = run(
        pytester,
        *gate_args(world, bad, golden),
        "--belt-sample=50",
        "--belt-settle-timeout=0.5",
        "--belt-report=cert.json",
    )
    assert result.ret == 1
    got = verdicts(pytester)
    ran = [*blue_chains, EXTRA_CHAIN]
    assert set(outcomes(result)) == set(got) == plan_ids(ran, golden)
    cut = {c: heads[c] for c in ran} | {LAG_CHAIN: lag}
    cert = json.loads((pytester.path / "cert.json").read_text())
    assert {c: cert["cutoffs"][str(c)]["block"] for c in blue_chains if c != SKIP_CHAIN} == {
        c: cut[c] for c in blue_chains if c != SKIP_CHAIN
    }

    s, x, h = SKIP_CHAIN, EXTRA_CHAIN, heads[LAG_CHAIN]
    # reconciliation C at different heights: a difference the heights could explain is could-not-check
    apart = (
        f"but the belts stood at different heights (blue at block {h}, green at block {lag}), which could explain it"
    )
    table: dict[str, dict[str, list[str]]] = {
        "drop:NftTransfer@1": {
            "counts[NftTransfer@1]": [
                f"NftTransfer@1 at block <= {cut[1]}: count blue {len(nft1_b)} != green "
                f"{len(nft1_b) - 1} (delta -1, allowed 0)"
            ],
            "content[NftTransfer@1]": [f"NftTransfer@1: row {dropped1} is in blue but not in green (seed 0)"],
        },
        "dup:Erc1155Transfer@1": {  # every blue row is in green, unchanged: content passes
            "counts[Erc1155Transfer@1]": [
                f"Erc1155Transfer@1 at block <= {cut[1]}: count blue {len(erc1_b)} != "
                f"green {len(erc1_b) + 1} (delta +1, allowed 0)"
            ],
        },
        "corrupt:Erc1155Transfer@8453:value": {
            "counts[Erc1155Transfer@8453]": [
                f"Erc1155Transfer@8453 at block <= {cut[8453]}: fingerprint sum.value "
                f"differs: blue '{total}' != green '{total + 1}' (count {len(erc_b)} "
                "on both)"
            ],
            "content[Erc1155Transfer@8453]": [
                f"Erc1155Transfer@8453: row {corrupted} field value: blue '{v}' != green '{v + 1}' (seed 0)"
            ],
        },
        "drop:NftTransfer@8453#1 + dup:NftTransfer@8453#3": {
            "counts[NftTransfer@8453]": [
                f"NftTransfer@8453 at block <= {cut[8453]}: fingerprint sum.blockNumber "
                f"differs: blue '{blocks(nft_b)}' != green '{blocks(nft_g)}' (count "
                f"{len(nft_b)} on both)"
            ],
            "content[NftTransfer@8453]": [f"NftTransfer@8453: row {dropped8453} is in blue but not in green"],
        },
        f"lag:{LAG_CHAIN}={lag}": {
            f"progress[{LAG_CHAIN}]": [f"chain {LAG_CHAIN}: green processed {lag} < blue {h} (still backfilling)"],
            f"counts[Loan@{LAG_CHAIN}]": [f"Loan@{LAG_CHAIN} at the current state: cannot compare: count", apart],
            f"content[Loan@{LAG_CHAIN}]": [f"Loan@{LAG_CHAIN}: cannot compare: row", apart],
        },
        f"skip:{s}": {
            "chain_set": [f"green lacks blue's chain(s) [{s}] (silent skip)"],
            f"progress[{s}]": [f"chain {s}: green has no progress row (silent skip)"],
            **{
                f"counts[{e}@{s}]": [f"{e}@{s}: cannot compare: green does not index chain {s} (see chain_set)"]
                for e in ENTITIES
            },
            **{
                f"content[{e}@{s}]": [f"{e}@{s}: no sample (seed 0): green does not index chain {s} (see chain_set)"]
                for e in ENTITIES
            },
            **{
                f"golden[{g.id}]": [f"MISSING: green has no {g.entity} with id '{g.entity_id}'"]
                for g in load_golden(golden).by_chain(s)
            },
        },
        f"extra:{x}": {  # parity: green-only data on a chain blue lacks is not the same data
            "chain_set": [f"green-only chain(s) [{x}]: parity needs the same chains (use expansion)"],
            **{
                f"counts[{e}@{x}]": [f"{e}@{x}: cannot compare: blue does not index chain {x} (see chain_set)"]
                for e in ENTITIES
            },
            **{
                f"content[{e}@{x}]": [f"{e}@{x}: no sample (seed 0): blue does not index chain {x} (see chain_set)"]
                for e in ENTITIES
            },
        },
        "schema-remove:Action.context": {
            "schema[Action]": [
                "schema of Action: green is not a superset of blue: FIELD_REMOVED: Field Action.context was removed."
            ],
        },
        "schema-nullable:NftTransfer.tokenId": {
            "schema[NftTransfer]": [
                "schema of NftTransfer: green is not a superset of blue: FIELD_CHANGED_KIND: "
                "Field NftTransfer.tokenId changed type from numeric! to numeric."
            ],
        },
        "enum-remove:LoanStatus.DEFAULTED": {
            "enums": ["enums: enum LoanStatus lost value(s) DEFAULTED"],
        },
    }
    expected: dict[str, list[str]] = {}
    for per_fault in table.values():
        for test_id, fragments in per_fault.items():
            expected.setdefault(test_id, []).extend(fragments)
    shared = {t for t in expected if sum(t in f for f in table.values()) > 1}
    assert shared == {"chain_set"}  # skip and extra: one chain set verdict names both
    check(expected, result, got)

    # the lagging chain: everything but progress and reconciliation C compares at green's lower block, and passes
    for e in ("NftTransfer", "Erc1155Transfer"):
        n = sum(1 for r in rows(blue, e, LAG_CHAIN, "blockNumber").values() if int(r["blockNumber"]) <= lag)
        assert (
            got[f"counts[{e}@{LAG_CHAIN}]"]["verdict"]
            == f"{e}@{LAG_CHAIN} at block <= {lag}: {n} rows, fingerprints equal"
        )
        assert got[f"content[{e}@{LAG_CHAIN}]"]["verdict"] == f"{e}@{LAG_CHAIN}: {n} sampled rows equal (seed 0)"
    assert f"(block {lag}): " in got[f"counts[Action@{LAG_CHAIN}]"]["verdict"]  # B: that block's timestamp
    assert got[f"counts[Action@{LAG_CHAIN}]"]["outcome"] == "passed"
    assert (
        got[f"counts[Loan@{LAG_CHAIN}]"]["outcome"] == got[f"content[Loan@{LAG_CHAIN}]"]["outcome"] == "could-not-check"
    )
    assert got[f"progress[{LAG_CHAIN}]"]["outcome"] == "failed"
    assert "NOT CERTIFIED" in result.stdout.str()
