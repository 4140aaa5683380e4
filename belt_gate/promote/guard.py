"""The promotion guard's session half: may this session's certificate move traffic at all? No I/O.

Reads the certificate (never pytest's exit status alone) and what the plugin knows of the session; a
missing or malformed field is a refusal (fail closed). The live half (the alias serves blue, green
answers) is in `flow.py`. Reasons are plain text: `flow.py` redacts them where it prints them and the
ledger where it writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from belt_gate.endpoint_identity import InvalidEndpoint, location, resolve


@dataclass(frozen=True)
class SessionFacts:
    """What the plugin knows of the session that the certificate may not say."""

    exitstatus: int
    collect_only: bool = False
    selection: Sequence[str] = ()
    last_test_end: float | None = None  # time.time() when the session's last test report was made
    progress_sources: Mapping[str, str] = field(default_factory=dict)


def certificate_sha256(doc: Mapping[str, Any]) -> str:
    """sha256 of the certificate exactly as `--belt-report` writes it (so `sha256sum cert.json` agrees)."""
    return hashlib.sha256(json.dumps(doc, indent=2, sort_keys=True).encode("utf-8")).hexdigest()


def session_refusals(doc: Mapping[str, Any], facts: SessionFacts, *, blue: str, green: str) -> list[str]:
    """Every reason this session may not promote; empty means the session half of the guard passed."""
    reasons: list[str] = []
    if facts.collect_only:
        reasons.append("--collect-only ran nothing")
    if facts.selection:
        reasons.append("a partial run (" + ", ".join(facts.selection) + ")")
    if facts.exitstatus != 0:
        reasons.append(f"the session's exit status is {facts.exitstatus}")
    certified = doc.get("certified")
    if certified is not True:
        why = [str(r) for r in doc.get("reasons") or []] if isinstance(doc.get("reasons"), list) else []
        if certified is None:
            reasons.append("the certificate does not say it is certified")
        else:
            reasons.append("not certified" + (f" ({'; '.join(why)})" if why else ""))
    elif doc.get("complete") is not True:
        reasons.append("the certificate is certified but not complete")
    if doc.get("interrupted"):
        reasons.append("the session was interrupted")
    planned, totals = doc.get("planned"), doc.get("totals")
    passed = totals.get("passed") if isinstance(totals, Mapping) else None
    if not isinstance(planned, int) or planned < 1 or passed != planned:
        reasons.append(f"{passed} of {planned} planned cases passed")
    other = doc.get("other_tests")
    if not isinstance(other, Mapping) or not isinstance(other.get("collected"), int):
        reasons.append("the certificate does not count the session's other tests")
    elif other.get("passed") != other["collected"]:
        n = other["collected"] - (other.get("passed") or 0)
        reasons.append(
            f"{n} of {other['collected']} other tests did not pass (the team's own checks are part of the gate)"
        )
    same = same_address(blue, green)
    if same:
        reasons.append(f"green is blue ({same})")
    return list(dict.fromkeys(reasons))


def same_address(blue: str, green: str) -> str | None:
    """The address both dial, when blue and green are one server (resolved host and port); else None.

    Unlike settings' green-is-blue check the path is ignored: a swap target switches what the alias dials
    (host and port), so two paths on one server are one upstream to it."""
    a, b = _endpoint(blue), _endpoint(green)
    if a is None or b is None:
        return None
    if a[1] == b[1] and a[0] & b[0]:
        return f"{sorted(a[0] & b[0])[0]}:{a[1]}"
    return None


def _endpoint(url: str) -> tuple[frozenset[str], int] | None:
    try:
        where = location(url)
    except InvalidEndpoint:
        return None
    return resolve(where.host) | {where.host}, where.port
