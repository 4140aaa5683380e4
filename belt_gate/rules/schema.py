"""Schema rules: green's live schema must be a superset of blue's; Envio enums from the schema files.

graphql-core's change finder explains each change. Hasura's generated helper types
(`X_bool_exp`, `X_aggregate_fields`, `X_order_by`, ...) and root fields (`X_by_pk`, `X_aggregate`)
belong to entity X; anything else belongs to the root bucket.

Envio's own progress views (`_meta`, `chain_metadata`, and their helper types) are not the data
contract: they change between Envio majors (Envio 3 types `_meta.eventsProcessed` and
`chain_metadata.num_events_processed` as float4 where Envio 2 has Int). Exactly that change, a numeric
type for another on those two event counters (their helper types included), is reported by name in the
root verdict ("Envio's progress views changed: ..."), and does not fail it. Any other change of the
progress views (a field removed, a nullability or non-numeric type change) fails like any other.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from graphql import GraphQLSchema
from graphql.utilities import BreakingChange, SafeChange, SafeChangeType, find_schema_changes

from belt_gate.plan import ROOT
from belt_gate.rules.verdict import Verdict

_FAILING_SAFE = {SafeChangeType.FIELD_CHANGED_KIND_SAFE, SafeChangeType.ARG_CHANGED_KIND_SAFE}
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ROOT_TYPES = ("query_root", "subscription_root", "mutation_root")
_PROGRESS_VIEWS = ("_meta", "chain_metadata")
_DOTTED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\.[A-Za-z_]")
_KIND_WORDS = frozenset({"Field", "Type", "Argument", "Enum", "Input", "Interface", "Directive", "Union"})


#: The progress views' event counters, whose numeric type Envio 3 changed (Int -> float4).
_COUNTERS = frozenset({"eventsProcessed", "num_events_processed"})
_NUMERIC = frozenset({"Int", "Float", "float4", "float8", "numeric", "bigint", "smallint", "BigInt", "BigDecimal"})
_KIND_CHANGE = re.compile(r"^Field (?P<type>\w+)\.(?P<field>\w+) changed type from (?P<old>\S+) to (?P<new>\S+)\.$")
_COUNTER_KINDS = frozenset({"FIELD_CHANGED_KIND", "FIELD_CHANGED_KIND_SAFE"})


def _is_view(type_name: str) -> bool:
    return any(type_name == v or type_name.startswith(v + "_") for v in _PROGRESS_VIEWS)


def progress_view(description: str) -> bool:
    """Whether a change description is about Envio's progress views (`_meta.x`, `chain_metadata_bool_exp`)."""
    return _is_view(_view_name(description))


def _numeric(type_ref: str) -> bool:
    """`Int`, `float4!`, `[Int!]`, `Int_comparison_exp`: a numeric scalar (or its comparison input)."""
    name = type_ref.strip("[]!").removesuffix("_comparison_exp")
    return name in _NUMERIC


def counter_type_change(kind: str, description: str) -> bool:
    """The one progress-view change that is not the data contract: an event counter (`_meta.eventsProcessed`,
    `chain_metadata.num_events_processed`, or the same field of their helper types) changing from one numeric
    type to another, with the same wrapping (nullability and list-ness kept)."""
    m = _KIND_CHANGE.match(description)
    if kind not in _COUNTER_KINDS or not m or not _is_view(m["type"]) or m["field"] not in _COUNTERS:
        return False
    old, new = m["old"], m["new"]
    same_wrapping = old.replace(old.strip("[]!"), "") == new.replace(new.strip("[]!"), "")
    return same_wrapping and _numeric(old) and _numeric(new)


def _view_name(description: str) -> str:
    """The type a change description is about: `_meta` in "Field _meta.eventsProcessed changed ..."."""
    dotted = _DOTTED.search(description)
    words = [t for t in _TOKEN.findall(description) if t not in _KIND_WORDS]
    return dotted.group(1) if dotted else next(iter(words), "")


def owner(description: str, entities: Collection[str]) -> str:
    """The entity a change description is about (longest matching prefix), else ROOT."""
    # Envio's progress views take part in the longest-prefix match, so an entity `chain` does not claim
    # `chain_metadata_bool_exp`; they belong to the root bucket.
    by_length = sorted({*entities, *_PROGRESS_VIEWS}, key=len, reverse=True)
    tokens = _TOKEN.findall(description)
    for i, token in enumerate(tokens):
        name = tokens[i + 1] if token in _ROOT_TYPES and i + 1 < len(tokens) else token
        for e in by_length:
            if name == e or name.startswith(e + "_"):
                return ROOT if e in _PROGRESS_VIEWS and e not in entities else e
        if token in _ROOT_TYPES:
            return ROOT
    return ROOT


def schema_changes(blue: GraphQLSchema, green: GraphQLSchema, entities: Collection[str]) -> list[dict[str, Any]]:
    """Every change from blue to green, as JSON-able dicts {owner, kind, breaking, description}."""
    out = []
    for change in find_schema_changes(blue, green):
        failing = isinstance(change, BreakingChange) or (
            isinstance(change, SafeChange) and change.type in _FAILING_SAFE
        )
        out.append(
            {
                "owner": owner(change.description, entities),
                "kind": change.type.name,
                "breaking": failing,
                "description": change.description,
                "progress_view": counter_type_change(change.type.name, change.description),
            }
        )
    return out


def schema(entity: str, changes: Sequence[Mapping[str, Any]] | None, error: str | None) -> Verdict:
    """The schema verdict of one entity (or of the root and shared types): failed on a breaking change outside Envio's
    progress views, could-not-check when an endpoint was not introspected, else passed with the additive changes counted
    and the progress views' changes noted."""
    label = "the root and shared types" if entity == ROOT else entity
    if error:  # an endpoint not introspected: nothing was compared, so could-not-check (blocks like a failure)
        return Verdict.unknown(f"schema of {label}: cannot compare: {error}", entity=entity)
    assert changes is not None
    mine = [c for c in changes if c["owner"] == entity]
    views = [c for c in mine if c["breaking"] and c.get("progress_view")]
    bad = [c for c in mine if c["breaking"] and not c.get("progress_view")]
    if bad:
        shown = "; ".join(f"{c['kind']}: {c['description']}" for c in bad[:5])
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        return Verdict.fail(
            f"schema of {label}: green is not a superset of blue: {shown}{more}", entity=entity, changes=len(bad)
        )
    added = len(mine) - len(views)
    note = ""
    if views:
        main = [c for c in views if _view_name(c["description"]) in _PROGRESS_VIEWS]
        helpers = len(views) - len(main)
        note = "; Envio's progress views changed (not the data contract): " + "; ".join(
            c["description"].removeprefix("Field ").rstrip(".") for c in (main or views)[:5]
        )
        if helpers and main:
            note += f" (and {helpers} change(s) of their helper types)"
    return Verdict.ok(f"schema of {label}: green is a superset of blue ({added} additive changes){note}", entity=entity)


def enums(
    blue: Mapping[str, Sequence[str]] | None,
    green: Mapping[str, Sequence[str]] | None,
    live_enum_scalars: Sequence[str] | None,
) -> Verdict:
    """Enum value sets from the Envio schema files (Hasura shows enums as opaque scalars).
    `live_enum_scalars` None: an endpoint could not be introspected, so its enum columns are unknown."""
    if blue is None or green is None:
        if live_enum_scalars is None:
            return Verdict.fail(
                "enums: no source to compare, and an endpoint could not be introspected, so whether it has enum "
                "columns is unknown: give both Envio schemas (--belt-blue-schema and --belt-green-schema)"
            )
        if not live_enum_scalars:
            return Verdict.ok("enums: neither endpoint exposes an enum column; no enum source needed")
        return Verdict.fail(
            f"enums: no source to compare {', '.join(live_enum_scalars)}: Hasura shows Envio enums as "
            "scalars, so give both Envio schemas (--belt-blue-schema and --belt-green-schema)"
        )
    problems = []
    for name, values in sorted(blue.items()):
        if name not in green:
            problems.append(f"enum {name} removed")
            continue
        gone = [v for v in values if v not in green[name]]
        if gone:
            problems.append(f"enum {name} lost value(s) {', '.join(gone)}")
    if problems:
        return Verdict.fail("enums: " + "; ".join(problems))
    return Verdict.ok(f"enums: green keeps every value of {len(blue)} enum(s)")
