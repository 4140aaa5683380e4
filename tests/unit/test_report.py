"""report.judge: certified only when complete and every planned case and every other test passed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from belt_gate import redact
from belt_gate.report import OUTCOMES, CaseResult, RunRecord, certificate, judge, verdict_line, write_certificate

IDS = [f"counts[E{i}@1]" for i in range(6)]


def record(**kw: object) -> RunRecord:
    base: dict[str, object] = {
        "planned": list(IDS),
        "belt": {i: CaseResult("passed") for i in IDS},
        "other": {"tests/test_team.py::test_ok": CaseResult("passed")},
        "exitstatus": 0,
    }
    base.update(kw)
    return RunRecord(**base)  # type: ignore[arg-type]


def test_a_whole_passing_run_is_certified() -> None:
    complete, certified, reasons, verdicts = judge(record())
    assert (complete, certified, reasons) == (True, True, [])
    assert [v["outcome"] for v in verdicts.values()] == ["passed"] * len(IDS)


def test_an_empty_plan_is_never_certified() -> None:
    complete, certified, reasons, _ = judge(record(planned=[], belt={}))
    assert not complete and not certified and reasons == ["partial run (0 of 0 planned cases ran)"]


def test_a_case_the_plan_lacks_is_not_evidence() -> None:
    belt = {i: CaseResult("passed") for i in IDS[:-1]} | {"counts[Other@9]": CaseResult("passed")}
    _, certified, reasons, verdicts = judge(record(belt=belt))
    assert not certified and verdicts["counts[Other@9]"]["outcome"] == "not-run"
    assert "partial run (5 of 6 planned cases ran)" in reasons


def test_the_rules_own_outcome_property_never_overrides_the_run() -> None:
    belt = {i: CaseResult("passed") for i in IDS}
    belt[IDS[0]] = CaseResult("not-run", why="xfailed", properties={"outcome": "passed"})
    _, certified, _, verdicts = judge(record(belt=belt))
    assert not certified and verdicts[IDS[0]]["outcome"] == "not-run"


def test_the_verdict_line_names_why() -> None:
    doc = {"certified": False, "reasons": ["partial run (1 of 6 planned cases ran)"], "totals": {}, "planned": 6}
    assert verdict_line(doc) == "belt_gate: NOT CERTIFIED: partial run (1 of 6 planned cases ran)"


class _Settings:
    """What `certificate` reads of the settings (their own redaction is settings' business)."""

    def describe(self) -> dict[str, Any]:
        return {"mode": "parity", "blue": "http://blue", "green": "http://green"}


def test_a_secret_json_escapes_is_masked_in_the_written_certificate(tmp_path: Path) -> None:
    secret = 'pa"ss\\wörd-0123'  # a quote, a backslash and a non-ASCII letter: each escaped in JSON text
    belt = {i: CaseResult("passed") for i in IDS}
    belt[IDS[0]] = CaseResult("failed", why=f"belt answered {secret}", properties={"verdict": f"saw {secret}"})
    previous = redact.use(redact.Secrets.of(secret))
    try:
        doc = certificate(_Settings(), None, record(belt=belt))  # type: ignore[arg-type]
    finally:
        redact.use(previous)
    path = tmp_path / "certificate.json"
    write_certificate(path, doc)
    text = path.read_text(encoding="utf-8")
    assert secret not in text and json.dumps(secret)[1:-1] not in text  # as JSON escapes it
    (row,) = [v for v in json.loads(text)["verdicts"] if v["id"] == IDS[0]]
    assert (row["why"], row["verdict"]) == ("belt answered ***", "saw ***")


outcome = st.sampled_from(OUTCOMES)


@given(
    belt=st.lists(outcome, min_size=len(IDS), max_size=len(IDS)),
    other=st.lists(outcome, max_size=3),
    selection=st.lists(st.sampled_from(["-k 'x'", "-m 'y'", "--lf"]), max_size=1),
    interrupted=st.booleans(),
    crashed=st.booleans(),
    exitstatus=st.sampled_from([0, 1, 2, 3]),
)
def test_law_certified_iff_everything_ran_and_passed(
    belt: list[str], other: list[str], selection: list[str], interrupted: bool, crashed: bool, exitstatus: int
) -> None:
    run = record(
        belt={i: CaseResult(o) for i, o in zip(IDS, belt, strict=True)},
        other={f"t::{n}": CaseResult(o) for n, o in enumerate(other)},
        selection=selection,
        interrupted=interrupted,
        crashed=["x"] if crashed else [],
        exitstatus=exitstatus,
    )
    complete, certified, reasons, _ = judge(run)
    everything_passed = all(o == "passed" for o in belt + other)
    expected = everything_passed and not selection and not interrupted and not crashed and exitstatus == 0
    assert certified is expected
    assert certified or reasons  # never NOT CERTIFIED without a reason
    if certified:
        assert complete
