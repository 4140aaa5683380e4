"""Accessors a rule reads its inputs through: absence is an outcome (could-not-check), never a default.

`need(doc, "key", "what")` returns the value or raises `Missing`, whose text says what was missing and
where; `evaluate` turns a `Missing` into `Verdict.unknown`. A rule never writes `doc.get(key, default)` for
something it must have: a default would let a missing answer compare as if it had been given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Missing(Exception):
    """An input a rule needs is absent or malformed: the case could not be checked."""


def need(doc: object, key: str, what: str) -> Any:
    """`doc[key]`; `what` names `doc` in the message (e.g. "green's fingerprint of Loan@1")."""
    if not isinstance(doc, Mapping):
        raise Missing(f"{what} is {_shown(doc)}, not an object")
    if key not in doc:
        raise Missing(f"{what} has no {key!r}")
    return doc[key]


def need_map(doc: object, key: str, what: str) -> Mapping[str, Any]:
    """`doc[key]`, which must itself be an object."""
    value = need(doc, key, what)
    if not isinstance(value, Mapping):
        raise Missing(f"{what}: {key} is {_shown(value)}, not an object")
    return value


def need_list(doc: object, key: str, what: str) -> list[Any]:
    """`doc[key]` when it is a list; Missing (could-not-check) otherwise, `what` naming `doc`."""
    value = need(doc, key, what)
    if not isinstance(value, list):
        raise Missing(f"{what}: {key} is {_shown(value)}, not a list")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["Missing", "need", "need_list", "need_map"]
