"""Schema rules: green's live schema must be a superset of blue's; Envio enums from the schema files.

graphql-core's change finder explains each change. Hasura's generated helper types
(`X_bool_exp`, `X_aggregate_fields`, `X_order_by`, ...) and root fields (`X_by_pk`, `X_aggregate`)
belong to entity X; anything else belongs to the root bucket.
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


def owner(description: str, entities: Collection[str]) -> str:
    """The entity a change description is about (longest matching prefix), else ROOT."""
    by_length = sorted(entities, key=len, reverse=True)
    tokens = _TOKEN.findall(description)
    for i, token in enumerate(tokens):
        name = tokens[i + 1] if token in _ROOT_TYPES and i + 1 < len(tokens) else token
        for e in by_length:
            if name == e or name.startswith(e + "_"):
                return e
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
            }
        )
    return out


def schema(entity: str, changes: Sequence[Mapping[str, Any]] | None, error: str | None) -> Verdict:
    label = "the root and shared types" if entity == ROOT else entity
    if error:
        return Verdict.fail(f"schema of {label}: cannot compare: {error}", entity=entity)
    assert changes is not None
    mine = [c for c in changes if c["owner"] == entity]
    bad = [c for c in mine if c["breaking"]]
    if bad:
        shown = "; ".join(f"{c['kind']}: {c['description']}" for c in bad[:5])
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        return Verdict.fail(
            f"schema of {label}: green is not a superset of blue: {shown}{more}", entity=entity, changes=len(bad)
        )
    added = len(mine)
    return Verdict.ok(f"schema of {label}: green is a superset of blue ({added} additive changes)", entity=entity)


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
