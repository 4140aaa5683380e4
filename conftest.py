"""The sample belt's own checks: what a team adds to belt_gate's gate, as plain pytest tests.

belt_gate runs these beside its generated tests whenever a `--belt-*` option is given (this file is the
rootdir's conftest.py: belt_gate collects its tests; `nox -s promote` and the demo also name it). Each
is part of the gate: if one fails, or is skipped, the certificate is NOT CERTIFIED and `--belt-promote`
refuses to move the alias. Fixtures (belt_gate's plugin):

- `belt_green`, `belt_blue`: the belts' GraphQL endpoints; `.rows(entity, fields=[...], where={...})` and
  `.query(graphql, variables)` answer or fail the test (HTTP errors, GraphQL errors and missing data
  fail closed, naming the belt with its URL redacted).
- `belt_snapshot`: what belt_gate read once for this run (chains, progress, cutoffs, entities).
- `belt_rpc`: chain id -> JSON-RPC client of each configured chain (`.head_block()`, `.call(...)`).

Without belt_gate active (the project's own test suite) nothing here runs.
"""

from __future__ import annotations

from typing import Any

ZERO_ADDRESS = "0x" + "0" * 40


def test_repaid_loans_have_a_repay_time(belt_green: Any) -> None:
    """A loan the sample schema calls REPAID was repaid at some time, and never defaulted."""
    loans = belt_green.rows("Loan", fields=["id", "repaidAt", "defaultedAt"], where={"status": {"_eq": "REPAID"}})
    wrong = [loan["id"] for loan in loans if loan["repaidAt"] is None or loan["defaultedAt"] is not None]
    assert not wrong, f"repaid loans without a repay time (or with a default time) on green: {wrong[:5]}"


def test_mints_come_from_the_zero_address(belt_green: Any) -> None:
    """An NFT transfer marked as a mint has the zero address as its sender."""
    mints = belt_green.rows("NftTransfer", fields=["id", "from"], where={"isMint": {"_eq": True}}, limit=5000)
    wrong = [m["id"] for m in mints if m["from"].lower() != ZERO_ADDRESS]
    assert not wrong, f"mints not sent from the zero address on green: {wrong[:5]}"


def test_green_is_not_behind_blue_anywhere(belt_snapshot: dict[str, Any]) -> None:
    """Green has processed at least as far as blue on every chain they share (read once, by the gate)."""
    belts = belt_snapshot.get("belts", {})
    blue, green = (
        {int(chain): int(p["processed"]) for chain, p in (belts.get(name, {}).get("progress") or {}).items()}
        for name in ("blue", "green")
    )
    assert blue and green, "the snapshot holds no progress for blue or green"
    behind = {c: (green.get(c), b) for c, b in blue.items() if c in green and green[c] < b}
    assert not behind, f"green behind blue (green, blue) per chain: {behind}"
