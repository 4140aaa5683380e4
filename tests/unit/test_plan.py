"""plan.py's contract: the same inputs give the same cases in the same order with the same ids, whatever order
the chains, coverage chains and entity models arrive in; every id is unique; golden and audit cases keep the
order their caller gives (the snapshot ships them sorted); a case an endpoint lacks stays planned."""

from __future__ import annotations

import random
from typing import TypeVar

from hypothesis import given
from hypothesis import strategies as st

from belt_gate.envio import Entity, Field, Reconciliation
from belt_gate.plan import ROOT, Case, EntityPlan, build_plan, entity_plans


def scalar(name: str, type_name: str = "Int") -> Field:
    return Field(name, type_name, nullable=False, is_list=False, kind="scalar")


def entity(name: str, *fields: str) -> Entity:
    return Entity(name, (scalar("id", "String"), *(scalar(f) for f in fields)))


#: One entity of each kind: per chain at a block (A), per chain at a time (B), current state (C), no chain.
MODELS = (
    entity("Transfer", "chainId", "blockNumber"),
    entity("Action", "chainId", "timestamp"),
    entity("Loan", "chainId"),
    entity("Config"),
)


def ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def test_ids_and_order_are_the_documented_ones() -> None:
    plans = entity_plans(MODELS, {})
    cases = build_plan(
        [10, 1],
        plans,
        golden_ids=[(1, "1_5_0"), (10, "10_3_1")],
        coverage_chains=[42161, 8453],
        audit_ids=[(10, "Transfer#w0"), (1, "Transfer#w1")],
    )
    assert ids(cases) == [
        "chain_set",
        "progress[1]",
        "progress[10]",
        "counts[Action@1]",
        "counts[Action@10]",
        "content[Action@1]",
        "content[Action@10]",
        "counts[Config]",
        "content[Config]",
        "counts[Loan@1]",
        "counts[Loan@10]",
        "content[Loan@1]",
        "content[Loan@10]",
        "counts[Transfer@1]",
        "counts[Transfer@10]",
        "content[Transfer@1]",
        "content[Transfer@10]",
        "schema[Action]",
        "schema[Config]",
        "schema[Loan]",
        "schema[Transfer]",
        f"schema[{ROOT}]",
        "enums",
        "golden[1_5_0]",
        "golden[10_3_1]",
        "golden_coverage[8453]",
        "golden_coverage[42161]",
        "audit[Transfer@10#w0]",
        "audit[Transfer@1#w1]",
    ]


def test_modes_are_inferred_unless_named() -> None:
    plans = {p.name: p for p in entity_plans(MODELS, {"Transfer": Reconciliation.CONVERGED})}
    assert plans["Transfer"].reconciliation is Reconciliation.CONVERGED  # named: the option wins over the columns
    assert plans["Action"].reconciliation is Reconciliation.AT_TIMESTAMP
    assert plans["Loan"].reconciliation is Reconciliation.CONVERGED
    assert (plans["Transfer"].chain_column, plans["Transfer"].block_column) == ("chainId", "blockNumber")
    assert plans["Config"].chain_column is None


def test_an_entity_without_a_chain_column_is_one_case_per_rule_not_none() -> None:
    cases = build_plan([1, 10], entity_plans([entity("Config")], {}))
    assert [c for c in cases if c.entity == "Config" and c.rule in ("counts", "content")] == [
        Case("counts", entity="Config"),
        Case("content", entity="Config"),
    ]


def test_no_chains_still_plans_the_chain_set_schema_and_enums() -> None:
    """An endpoint that reports no chain is a failing chain_set case, never an empty plan."""
    assert ids(build_plan([], entity_plans(MODELS[:1], {}))) == [
        "chain_set",
        "schema[Transfer]",
        f"schema[{ROOT}]",
        "enums",
    ]


def test_the_same_entity_audited_on_two_chains_gives_two_ids() -> None:
    cases = build_plan([1, 10], [], audit_ids=[(1, "Transfer#w0"), (10, "Transfer#w0")])
    assert ids(cases)[-2:] == ["audit[Transfer@1#w0]", "audit[Transfer@10#w0]"]


def test_case_and_entity_plan_json_round_trip() -> None:
    for plan in entity_plans(MODELS, {"Loan": Reconciliation.AT_BLOCK}):
        assert EntityPlan.from_json(plan.to_json()) == plan
    for case in build_plan([1], entity_plans(MODELS, {}), golden_ids=[(1, "g")], audit_ids=[(1, "Loan#w2")]):
        assert Case(**case.to_json()) == case


T = TypeVar("T")


def shuffled(xs: list[T], rnd: random.Random) -> list[T]:
    out = list(xs)
    rnd.shuffle(out)
    return out


names = st.text(alphabet=st.characters(categories=("Lu", "Ll")), min_size=1, max_size=8)
chain_sets = st.sets(st.integers(min_value=1, max_value=2**40), max_size=6)
kinds = st.sampled_from([("chainId", "blockNumber"), ("chainId", "timestamp"), ("chainId",), ()])


@st.composite
def inputs(draw: st.DrawFn) -> tuple[list[int], list[Entity], list[tuple[int, str]], list[int], list[tuple[int, str]]]:
    chains = sorted(draw(chain_sets))
    models = [entity(n, *draw(kinds)) for n in sorted(draw(st.sets(names, max_size=5)))]
    golden = sorted(draw(st.sets(st.tuples(st.sampled_from(chains or [1]), names), max_size=4)))
    golden = list({key: (c, key) for c, key in golden}.values())  # a golden event id names one event
    coverage = sorted(draw(chain_sets))
    audited = [m.name for m in models] or ["E"]
    audit = sorted(
        draw(
            st.sets(st.tuples(st.sampled_from(chains or [1]), st.sampled_from(audited), st.integers(0, 3)), max_size=4)
        )
    )
    return chains, models, golden, coverage, [(c, f"{e}#w{w}") for c, e, w in audit]


@given(inputs(), st.randoms(use_true_random=False))
def test_ids_are_unique_and_stable_under_permuted_inputs(
    given_inputs: tuple[list[int], list[Entity], list[tuple[int, str]], list[int], list[tuple[int, str]]],
    rnd: random.Random,
) -> None:
    chains, models, golden, coverage, audit = given_inputs
    plan = build_plan(chains, entity_plans(models, {}), golden_ids=golden, coverage_chains=coverage, audit_ids=audit)
    planned = ids(plan)
    assert len(set(planned)) == len(planned), planned

    again = build_plan(
        shuffled(chains, rnd),
        entity_plans(shuffled(models, rnd), {}),
        golden_ids=golden,
        coverage_chains=shuffled(coverage, rnd),
        audit_ids=audit,
    )
    assert ids(again) == planned
    # every chain × chained entity has its counts and content case: nothing the settings promise goes missing
    for m in models:
        targets = chains if m.chain_column else [None]
        for rule in ("counts", "content"):
            assert all(Case(rule, chain=c, entity=m.name) in plan for c in targets)


@given(st.lists(st.tuples(st.integers(1, 5), names), unique_by=lambda t: t[1], max_size=6))
def test_golden_cases_keep_the_callers_order(golden: list[tuple[int, str]]) -> None:
    cases = [c for c in build_plan([1], [], golden_ids=golden) if c.rule == "golden"]
    assert [(c.chain, c.key) for c in cases] == golden
