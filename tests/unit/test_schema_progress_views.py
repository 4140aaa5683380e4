"""The schema rule and Envio's progress views: Envio 3 types `_meta.eventsProcessed` and
`chain_metadata.num_events_processed` as float4 where Envio 2 has Int (measured on real Envio belts,
tests/envio). That is reported by name in the root verdict, not failed; the same change on an entity fails."""

from __future__ import annotations

from graphql import build_schema

from belt_gate.plan import ROOT
from belt_gate.rules.schema import progress_view, schema, schema_changes

BLUE = """
type Query { _meta: [_meta!]! chain_metadata: [chain_metadata!]! Loan: [Loan!]! }
type _meta { chainId: Int progressBlock: Int eventsProcessed: Int }
type chain_metadata { chain_id: Int latest_processed_block: Int num_events_processed: Int }
type Loan { id: String! amount: Int! }
"""


def test_envio3_progress_view_types_are_reported_not_failed() -> None:
    green = BLUE.replace("eventsProcessed: Int", "eventsProcessed: float4").replace(
        "num_events_processed: Int", "num_events_processed: float4"
    )
    changes = schema_changes(build_schema(BLUE), build_schema(green + "\nscalar float4"), ["Loan"])
    assert {c["description"] for c in changes if c["breaking"]} == {
        "Field _meta.eventsProcessed changed type from Int to float4.",
        "Field chain_metadata.num_events_processed changed type from Int to float4.",
    }
    v = schema(ROOT, changes, None)
    assert v.passed
    assert "Envio's progress views changed (not the data contract)" in v.message
    assert "_meta.eventsProcessed changed type from Int to float4" in v.message
    assert "chain_metadata.num_events_processed changed type from Int to float4" in v.message
    assert schema("Loan", changes, None).passed


def test_the_same_change_on_an_entity_still_fails() -> None:
    green = BLUE.replace("amount: Int!", "amount: float4!") + "\nscalar float4"
    changes = schema_changes(build_schema(BLUE), build_schema(green), ["Loan"])
    v = schema("Loan", changes, None)
    assert not v.passed and "Loan.amount changed type from Int! to float4!" in v.message
    assert schema(ROOT, changes, None).passed


def test_which_descriptions_are_progress_views() -> None:
    assert progress_view("Field _meta.eventsProcessed changed type from Int to float4.")
    assert progress_view("Type _meta_bool_exp was removed.")
    assert progress_view("chain_metadata_bool_exp.num_events_processed changed type.")
    assert not progress_view("Loan.amount changed type from Int! to float4!.")
    assert not progress_view("query_root.chain_metadata_by_pk was removed.")


def _root(green: str, entities: list[str] | None = None) -> tuple[bool, str]:
    changes = schema_changes(build_schema(BLUE), build_schema(green + "\nscalar float4"), entities or ["Loan"])
    v = schema(ROOT, changes, None)
    return v.passed, v.message


def test_only_the_counters_numeric_type_change_is_exempt() -> None:
    removed = BLUE.replace(" progressBlock: Int", "")
    passed, message = _root(removed)
    assert not passed and "_meta.progressBlock was removed" in message
    counter_gone = BLUE.replace(" num_events_processed: Int", "")
    passed, message = _root(counter_gone)
    assert not passed and "chain_metadata.num_events_processed was removed" in message
    to_text = BLUE.replace("eventsProcessed: Int", "eventsProcessed: String")
    passed, message = _root(to_text)
    assert not passed and "_meta.eventsProcessed changed type from Int to String" in message
    other_numeric = BLUE.replace("progressBlock: Int", "progressBlock: float4")
    passed, message = _root(other_numeric)
    assert not passed and "_meta.progressBlock changed type from Int to float4" in message


def test_an_entity_named_like_a_view_prefix_does_not_claim_the_views() -> None:
    blue = BLUE.replace("Loan: [Loan!]!", "Loan: [Loan!]! chain: [chain!]!") + "\ntype chain { id: String! }"
    green = blue.replace(" latest_processed_block: Int", "")
    changes = schema_changes(build_schema(blue), build_schema(green), ["Loan", "chain"])
    assert schema("chain", changes, None).passed
    v = schema(ROOT, changes, None)
    assert not v.passed and "chain_metadata.latest_processed_block was removed" in v.message
