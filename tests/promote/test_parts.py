"""The promotion's parts one by one: the session guard (pure), telling belts apart, the ledger, the lock,
the command target's argv, and `belt-gate rollback` against a real Caddy alias."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from belt_gate.cli import main
from belt_gate.errors import SwapError
from belt_gate.promote.caddy import CaddyAlias, write_atomic
from belt_gate.promote.command import CommandTarget
from belt_gate.promote.guard import SessionFacts, certificate_sha256, same_address, session_refusals
from belt_gate.promote.ledger import Ledger, last_live_promotion
from belt_gate.promote.lock import LockHeld, PromotionLock
from belt_gate.promote.probe import BLUE, EITHER, GREEN, UNKNOWN, Reading, Span, classify
from belt_gate.sandbox import procs
from belt_gate.sandbox.alias import Alias, start_alias, stop_alias

B, G = "http://127.0.0.1:4001/v1/graphql", "http://127.0.0.1:4002/v1/graphql"


def certified(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "certified": True,
        "complete": True,
        "reasons": [],
        "planned": 3,
        "totals": {"passed": 3, "failed": 0, "could-not-check": 0, "not-run": 0},
        "other_tests": {"collected": 1, "passed": 1, "failed": 0, "could-not-check": 0, "not-run": 0},
        "interrupted": False,
    }
    doc.update(over)
    return doc


# -- the session guard ------------------------------------------------------------------------------


def test_a_certified_session_passes_the_guard() -> None:
    assert session_refusals(certified(), SessionFacts(exitstatus=0), blue=B, green=G) == []


@pytest.mark.parametrize(
    ("doc", "facts", "fragment"),
    [
        (certified(certified=None), SessionFacts(0), "does not say it is certified"),  # fail closed
        ({"planned": 3}, SessionFacts(0), "does not say it is certified"),
        (certified(certified=False, reasons=["2 planned cases failed"]), SessionFacts(0), "not certified (2 planned"),
        (certified(complete=False), SessionFacts(0), "certified but not complete"),
        (certified(), SessionFacts(1), "exit status is 1"),
        (certified(), SessionFacts(0, collect_only=True), "--collect-only"),
        (certified(), SessionFacts(0, selection=["-k 'x'"]), "a partial run (-k 'x')"),
        (certified(interrupted=True), SessionFacts(0), "interrupted"),
        (certified(totals={"passed": 2}), SessionFacts(0), "2 of 3 planned cases passed"),
        (certified(planned=0, totals={"passed": 0}), SessionFacts(0), "0 of 0 planned"),
        (certified(other_tests={"collected": 2, "passed": 1}), SessionFacts(0), "1 of 2 other tests did not pass"),
        (certified(other_tests=None), SessionFacts(0), "does not count the session's other tests"),
    ],
)
def test_every_unfit_session_is_refused(doc: dict[str, Any], facts: SessionFacts, fragment: str) -> None:
    reasons = session_refusals(doc, facts, blue=B, green=G)
    assert any(fragment in r for r in reasons), reasons


def test_green_is_blue_by_address_not_by_spelling() -> None:
    assert same_address("http://localhost:4001/v1/graphql", "http://127.0.0.1:4001/other") == "127.0.0.1:4001"
    assert same_address(B, G) is None
    assert any("green is blue" in r for r in session_refusals(certified(), SessionFacts(0), blue=B, green=B))


def test_certificate_sha256_is_the_written_files(tmp_path: Path) -> None:
    from belt_gate.report import write_certificate

    doc = certified(settings={"blue": B})
    write_certificate(tmp_path / "c.json", doc)
    import hashlib

    assert certificate_sha256(doc) == hashlib.sha256((tmp_path / "c.json").read_bytes()).hexdigest()


# -- telling the belts apart ------------------------------------------------------------------------


def span(*readings: dict[int, int]) -> Span:
    s = Span()
    for r in readings:
        s.add(Reading(r))
    return s


def test_chain_sets_decide_first() -> None:
    blue, green = span({1: 10, 10: 10}), span({1: 10, 10: 10, 42161: 5})
    assert classify(Reading({1: 10, 10: 10}), blue, green) == BLUE
    assert classify(Reading({1: 12, 10: 11, 42161: 6}), blue, green) == GREEN
    assert classify(Reading({1: 10}), blue, green) == UNKNOWN


def test_equal_chain_sets_are_told_by_progress_ranges() -> None:
    blue, green = span({1: 40, 10: 40}), span({1: 42, 10: 42}, {1: 44, 10: 43})
    assert classify(Reading({1: 40, 10: 40}), blue, green) == BLUE
    assert classify(Reading({1: 43, 10: 43}), blue, green) == GREEN
    same = span({1: 40, 10: 40})
    assert classify(Reading({1: 40, 10: 40}), same, span({1: 40, 10: 40})) == EITHER


def test_a_reading_needs_whole_numbers() -> None:
    with pytest.raises(ValueError, match="whole chain id"):
        Reading.from_rows([{"chain_id": 1, "processed": "1.5"}])
    with pytest.raises(ValueError, match="no chains"):
        Reading.from_rows([])


# -- the ledger and the lock ----------------------------------------------------------------------


def test_the_ledger_only_grows_and_is_redacted(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "deep" / "ledger.jsonl")
    book.append({"action": "promote", "result": "done", "from": "a:1", "to": "b:2", "alias": "http://u:pw1234@h:1/x"})
    first = book.path.read_bytes()
    book.append({"action": "rollback", "result": "done", "from": "b:2", "to": "a:1"})
    assert book.path.read_bytes().startswith(first)  # earlier bytes never change
    entries = book.entries()
    assert [e["action"] for e in entries] == ["promote", "rollback"]
    assert "pw1234" not in book.path.read_text() and entries[0]["by"]["pid"] == os.getpid()
    assert entries[0]["time"].endswith("Z")


def test_a_malformed_ledger_line_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"action": "promote"}\n[1, 2]\n')
    with pytest.raises(SwapError, match="line 2 is not a JSON object"):
        Ledger(path).entries()


def test_the_standing_promotion_is_the_newest_still_served() -> None:
    done = {"action": "promote", "result": "done", "from": "a:1", "to": "b:2"}
    assert last_live_promotion([done], "b:2") == done
    assert last_live_promotion([done], "c:3") is None  # moved some other way since
    assert last_live_promotion([done, {"action": "rollback", "result": "done", "to": "a:1"}], "a:1") is None
    refused = {"action": "promote", "result": "refused"}
    assert last_live_promotion([done, refused], "b:2") == done


def test_the_lock_names_its_holder(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    code = (
        "import sys, time; from pathlib import Path; from belt_gate.promote.lock import PromotionLock\n"
        "with PromotionLock(Path(sys.argv[1]), 'rollback'):\n    print('held', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(LockHeld, match=rf"holds {lock} \(rollback by pid {holder.pid} on .* since .*Z\)"),
            PromotionLock(lock, "promote"),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with PromotionLock(lock, "promote"):  # a holder that died released it
        assert json.loads(lock.with_name("x.lock.holder").read_text())["action"] == "promote"
    assert not lock.with_name("x.lock.holder").exists()


# -- the command target -----------------------------------------------------------------------------


def test_command_placeholders_and_no_shell(tmp_path: Path) -> None:
    target = CommandTarget(["echo", "{from}", "{to_addr}", "{to_host}", "x{to}y", "$HOME;rm"])
    plan = target.plan("http://blue.internal:8080/v1/graphql", "http://green.internal:8081/v1/graphql")
    assert plan.state == [
        "echo",
        "http://blue.internal:8080/v1/graphql",
        "green.internal:8081",
        "green.internal",
        "xhttp://green.internal:8081/v1/graphqly",
        "$HOME;rm",
    ]
    assert "no shell" in plan.change[0]
    assert "$HOME;rm" in target.apply(plan)  # passed as one argument, never expanded
    with pytest.raises(SwapError, match="not found"):
        CommandTarget(["/no/such/program", "{to}"]).apply(CommandTarget(["/no/such/program", "{to}"]).plan("a", "b"))


# -- belt-gate rollback against a real Caddy ----------------------------------------------------------


@pytest.fixture
def caddy(tmp_path: Path) -> Iterator[Alias]:
    alias = start_alias(tmp_path, "127.0.0.1:4002")
    try:
        yield alias
    finally:
        with contextlib.suppress(Exception):
            stop_alias(alias)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """`belt-gate ...` in this process (its main(), as the console script calls it), in folder `cwd`."""

    def run(*args: str, cwd: Path) -> Ran:
        monkeypatch.chdir(cwd)
        code = main(list(args))
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


@pytest.mark.sandbox
def test_rollback_undoes_the_standing_promotion(caddy: Alias, tmp_path: Path, cli: Callable[..., Ran]) -> None:
    book = Ledger(tmp_path / "belt-ledger.jsonl")
    book.append({"action": "promote", "result": "done", "from": "127.0.0.1:4001", "to": "127.0.0.1:4002"})
    admin = f"--alias-admin={caddy.admin_url}"
    dry = cli("rollback", admin, "--dry-run", cwd=tmp_path)
    assert (
        dry.returncode == 0 and "DRY RUN: would swap the alias from 127.0.0.1:4002 back to 127.0.0.1:4001" in dry.stdout
    )
    assert caddy.upstream_file.read_text() == "127.0.0.1:4002" and len(book.entries()) == 1
    done = cli("rollback", admin, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ROLLED BACK: the alias serves 127.0.0.1:4001 (was 127.0.0.1:4002" in done.stdout
    with CaddyAlias(caddy.admin_url) as alias:
        assert alias.current_upstream() == "127.0.0.1:4001"
    assert [(e["action"], e["result"], e["to"]) for e in book.entries()][-1] == ("rollback", "done", "127.0.0.1:4001")
    again = cli("rollback", admin, cwd=tmp_path)  # nothing standing to undo: refused, unchanged
    assert again.returncode == 1 and "holds no standing promotion to 127.0.0.1:4001" in again.stdout
    chosen = cli("rollback", admin, "--to=http://127.0.0.1:4003/v1/graphql", cwd=tmp_path)
    assert chosen.returncode == 0 and caddy.upstream_file.read_text() == "127.0.0.1:4003"


@pytest.mark.sandbox
def test_rollback_is_a_compare_and_swap_and_bad_input_is_one_line(
    caddy: Alias, tmp_path: Path, cli: Callable[..., Ran]
) -> None:
    Ledger(tmp_path / "belt-ledger.jsonl").append(
        {"action": "promote", "result": "done", "from": "127.0.0.1:4001", "to": "127.0.0.1:4002"}
    )
    write_atomic(caddy.upstream_file, "127.0.0.1:4009")  # someone moved it meanwhile
    moved = cli("rollback", f"--alias-admin={caddy.admin_url}", cwd=tmp_path)
    assert moved.returncode == 1 and "no standing promotion to 127.0.0.1:4009" in moved.stdout
    assert caddy.upstream_file.read_text() == "127.0.0.1:4009"
    dead = cli("rollback", f"--alias-admin=http://127.0.0.1:{procs.free_port()}", cwd=tmp_path)
    assert dead.returncode == 1 and "unreachable" in dead.stdout and "Traceback" not in dead.stdout + dead.stderr
    for bad in (["--alias-admin=ftp://x"], ["--alias-admin=http://127.0.0.1:1", "--to=https://x:1/"], []):
        r = cli("rollback", *bad, cwd=tmp_path)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (bad, r.stderr)


@pytest.mark.sandbox
def test_a_plain_dial_alias_is_refused_for_promotion_and_its_dry_run_is_the_guarded_patch(caddy: Alias) -> None:
    import httpx

    r = httpx.patch(f"{caddy.admin_url}/id/belt_upstream/upstreams", json=[{"dial": "127.0.0.1:4002"}])
    assert r.status_code == 200, r.text
    with CaddyAlias(caddy.admin_url) as alias:
        with pytest.raises(SwapError, match="would reload Caddy and reset keep-alive connections"):
            alias.plan("127.0.0.1:4002", "127.0.0.1:4001")
        plan = alias.plan("127.0.0.1:4002", "127.0.0.1:4001", allow_reload=True)  # what a rollback may do
        assert plan.kind == "caddy-dial"
        assert plan.change[1] == f"change: PATCH {caddy.admin_url}/id/belt_upstream/upstreams"
        assert plan.change[2].startswith('guard: If-Match: "/config/') and '"dial": "127.0.0.1:4001"' in plan.change[3]
        # someone changes the config but not the dial: the compare passes, the plan's ETag does not
        other = [{"dial": "127.0.0.1:4002", "max_requests": 7}]
        assert httpx.patch(f"{caddy.admin_url}/id/belt_upstream/upstreams", json=other).status_code == 200
        with pytest.raises(SwapError, match=r"changed concurrently \(412"):
            alias.apply(plan)
        # someone moves the dial: the compare refuses before any PATCH
        httpx.patch(f"{caddy.admin_url}/id/belt_upstream/upstreams", json=[{"dial": "127.0.0.1:4003"}])
        with pytest.raises(SwapError, match=re.escape("serves 127.0.0.1:4003, not the expected 127.0.0.1:4002")):
            alias.apply(plan)
        assert alias.current_upstream() == "127.0.0.1:4003"


def test_a_ledger_line_hides_a_secret_json_would_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redacted as values, before serialising: in the JSON text the quote is escaped and the secret not found."""
    from belt_gate import redact

    monkeypatch.setattr(redact, "_used", redact.Secrets.of('led"ger-s3cret-61'))
    path = tmp_path / "belt-ledger.jsonl"
    written = Ledger(path).append({"action": "promote", "reason": 'swap said led"ger-s3cret-61', "at": tmp_path})
    assert written["reason"] == "swap said ***" and written["at"] == str(tmp_path)
    assert "s3cret-61" not in path.read_text()


def test_a_rollback_error_line_is_redacted_where_it_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    from belt_gate import redact

    before = redact.use(None)
    try:
        assert main(["rollback", "--alias-admin=ftp://ops:pw-cli-31337@127.0.0.1:1"]) == 2
        assert redact.use(None) is None  # main put back the set in use before it
    finally:
        redact.use(before)
    err = capsys.readouterr().err
    assert "pw-cli-31337" not in err and "ftp://***@127.0.0.1:1" in err, err


def test_a_command_line_hides_a_secret_quoting_would_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    from belt_gate import redact

    secret = "it's-a-s3cret-62"  # shlex quotes it as 'it'"'"'s-a-s3cret-62'
    monkeypatch.setattr(redact, "_used", redact.Secrets.of(secret))
    target = CommandTarget(["railway", "variables", f"--token={secret}", "--set", "UP={to}"])
    plan = target.plan("127.0.0.1:1", "127.0.0.1:2")
    for text in (target.describe(), *plan.change):
        assert "s3cret-62" not in text, text
    assert "UP=127.0.0.1:2" in plan.change[0] and plan.state[2] == f"--token={secret}"  # what runs is unredacted
