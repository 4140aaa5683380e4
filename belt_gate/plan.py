"""Settings (+ what the controller discovered) -> a deterministic list of cases with stable ids.

No I/O. Every worker computes the same plan from the same options and the same shipped discovery, so
xdist sees identical item ids everywhere. A case the settings promise but an endpoint lacks stays in the
plan: it becomes a failing test, never a missing one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from belt_gate.envio import Entity, Reconciliation


@dataclass(frozen=True)
class Case:
    """One planned test case, the unit the controller ships to the workers and the certificate judges by id."""

    rule: str  # chain_set | progress | counts | content | schema | enums | golden | golden_coverage | audit
    chain: int | None = None
    entity: str | None = None
    key: str | None = None  # golden event id / audit window id

    @property
    def id(self) -> str:
        """The pytest id of the case (`counts[Entity@chain]`, `audit[Entity@chain#wI]`, `schema[Entity]`, ...), the key
        under which the certificate records its verdict."""
        if self.rule in ("chain_set", "enums"):
            return self.rule
        if self.rule == "schema":
            return f"schema[{self.entity}]"
        if self.rule == "audit" and self.key is not None and self.chain is not None:
            # "Entity#wI" -> audit[Entity@chain#wI]: one entity may be audited on several chains.
            entity, sep, window = self.key.rpartition("#w")
            return f"audit[{entity}@{self.chain}{sep}{window}]"
        if self.key is not None:
            return f"{self.rule}[{self.key}]"
        if self.entity is not None and self.chain is not None:
            return f"{self.rule}[{self.entity}@{self.chain}]"
        if self.entity is not None:
            return f"{self.rule}[{self.entity}]"
        return f"{self.rule}[{self.chain}]"

    def to_json(self) -> dict[str, Any]:
        """The case as plain JSON (for the xdist channel and recordings)."""
        return {"rule": self.rule, "chain": self.chain, "entity": self.entity, "key": self.key}


ROOT = "_root"  # schema changes that belong to no entity (root fields, shared helper types)
#: Case key of the single failing test an unreadable golden folder becomes (on chain 0).
INVALID_KEY = "invalid"


@dataclass(frozen=True)
class EntityPlan:
    """How one entity is compared: its reconciliation and the columns that carry its chain, block and timestamp (None
    where the schema has none)."""

    name: str
    reconciliation: Reconciliation
    chain_column: str | None
    block_column: str | None
    timestamp_column: str | None

    def to_json(self) -> dict[str, Any]:
        """The plan as plain JSON (the reconciliation by its value), the inverse of `from_json`."""
        return {
            "name": self.name,
            "reconciliation": self.reconciliation.value,
            "chain_column": self.chain_column,
            "block_column": self.block_column,
            "timestamp_column": self.timestamp_column,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> EntityPlan:
        """The plan `to_json` wrote; an unknown reconciliation raises ValueError."""
        return cls(
            d["name"], Reconciliation(d["reconciliation"]), d["chain_column"], d["block_column"], d["timestamp_column"]
        )


def entity_plans(models: Iterable[Entity], reconciliations: Mapping[str, Reconciliation]) -> list[EntityPlan]:
    """One EntityPlan per schema entity, sorted by name, with the reconciliation the settings give it or else the one
    its columns imply."""
    out = []
    for e in sorted(models, key=lambda e: e.name):
        out.append(
            EntityPlan(
                e.name,
                reconciliations.get(e.name, e.inferred_reconciliation),
                e.chain_column,
                e.block_column,
                e.timestamp_column,
            )
        )
    return out


def build_plan(
    chains: Sequence[int],
    entities: Sequence[EntityPlan],
    *,
    golden_ids: Sequence[tuple[int, str]] = (),
    coverage_chains: Sequence[int] = (),
    audit_ids: Sequence[tuple[int, str]] = (),
) -> list[Case]:
    """The ordered cases: chain set, progress per chain, counts and content per entity × chain,
    schema per entity (+ root), enums, then the L1 cases."""
    cases = [Case("chain_set")]
    cases += [Case("progress", chain=c) for c in sorted(chains)]
    for e in entities:
        targets: list[int | None] = list(sorted(chains)) if e.chain_column else [None]
        for rule in ("counts", "content"):
            cases += [Case(rule, chain=c, entity=e.name) for c in targets]
    cases += [Case("schema", entity=e.name) for e in entities]
    cases.append(Case("schema", entity=ROOT))
    cases.append(Case("enums"))
    cases += [Case("golden", chain=c, key=k) for c, k in golden_ids]
    cases += [Case("golden_coverage", chain=c) for c in sorted(coverage_chains)]
    cases += [Case("audit", chain=c, key=k) for c, k in audit_ids]
    return cases


def chains_needing_golden(expected: Iterable[int], blue: Iterable[int]) -> tuple[int, ...]:
    """Chains green must prove against L1 alone (expansion): expected, but not indexed by blue."""
    blue_set = set(blue)
    return tuple(sorted({c for c in expected if c not in blue_set}))
