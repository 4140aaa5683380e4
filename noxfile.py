"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s typecheck`, `nox -s bench`; `nox -s parity` (nightly);
`nox -s promote` (certify green, then swap the alias)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, as CI runs it (README's second command): `nox -s tests -- -k counts`."""
    session.install("-e", ".[dev]")
    session.run("npm", "ci", external=True)
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and the formatter's check over the product, tests and benchmarks."""
    session.install("ruff")
    session.run("ruff", "check", "belt_gate", "tests", "bench", "noxfile.py", "conftest.py")
    session.run("ruff", "format", "--check", "belt_gate", "tests", "bench", "noxfile.py", "conftest.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy strict over belt_gate/."""
    session.install("-e", ".[dev]")
    session.run("mypy", "belt_gate")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark under bench/; each prints its figures (BENCHMARKS.md records them)."""
    session.install("-e", ".[dev]")
    session.run("npm", "ci", external=True)
    for script in (
        "bench_sandbox_ready.py",
        "bench_bulk.py",
        "bench_aggregate.py",
        "bench_certify.py",
        "bench_localise.py",
        "bench_golden_rpc.py",
        "bench_rpc_client.py",
        "bench_alias_switch.py",
        "bench_promote.py",
    ):
        session.run("python", f"bench/{script}", *session.posargs)


@nox.session(python=False)
def parity(session: nox.Session) -> None:
    """Nightly parity: the live belt through the alias (as green) against the standby (as blue), plus L1
    (golden events in ./golden, window audits from belt.toml), every answer recorded; it fails unless the
    certificate says `certified`. Runs in the environment nox runs in (the README's .venv: `.venv/bin/nox
    -s parity`), so nothing is installed here.

    Environment (endpoints never go on a command line, where logs would show them):
      BELT_ALIAS, BELT_STANDBY     GraphQL URLs of the alias (live belt) and the standby (required)
      BELT_GREEN_ADMIN_SECRET      Hasura admin secret of the alias's belt; BELT_BLUE_ADMIN_SECRET the
                                   standby's (or BELT_ADMIN_SECRET for both)
      BELT_RPC_<CHAIN>             JSON-RPC URL per chain (heads, cutoffs, golden events, audits)
      BELT_CONFIG                  belt.toml to use (default ./belt.toml when present)
      BELT_PARITY_OUT              output folder (default parity-out): certificate.json, junit.xml,
                                   recording/{blue,green}.json, REPLAY.txt (the offline replay command)
      BELT_PARITY_TESTS            the team's own gate checks (paths; default none)
    `nox -s parity -- ARGS` hands ARGS to pytest.
    """
    import os
    import shlex
    import shutil
    import sys
    from pathlib import Path

    missing = [v for v in ("BELT_ALIAS", "BELT_STANDBY") if not os.environ.get(v, "").strip()]
    if missing:
        session.error(
            f"parity needs {' and '.join(missing)} in the environment (GraphQL URLs of the alias and the standby)"
        )
    out = Path(os.environ.get("BELT_PARITY_OUT") or "parity-out")
    shutil.rmtree(out / "recording", ignore_errors=True)  # last night's answers must never be replayed as tonight's
    for stale in ("certificate.json", "junit.xml", "REPLAY.txt"):
        (out / stale).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    settings = ["--belt-mode=parity"]
    config = os.environ.get("BELT_CONFIG") or ("belt.toml" if Path("belt.toml").is_file() else "")
    if config:
        settings.append(f"--belt-config={config}")
    tests = shlex.split(os.environ.get("BELT_PARITY_TESTS", ""))
    if not tests:  # an empty folder: pytest collects the belt cases only (not this project's own test suite)
        (out / "no-team-checks").mkdir(exist_ok=True)
        tests = [str(out / "no-team-checks")]
    recording, certificate = out / "recording", out / "certificate.json"
    replay = [
        "pytest",
        "-c",
        "pyproject.toml",
        f"--belt-blue={recording}/blue.json",
        f"--belt-green={recording}/green.json",
    ]
    (out / "REPLAY.txt").write_text(
        "Replay this run offline (same checkout; no network needed):\n  "
        + shlex.join([*replay, *settings, *tests, *session.posargs])
        + "\n"
    )
    session.run(
        sys.executable,
        "-m",
        "pytest",
        "-c",
        "pyproject.toml",
        "-p",
        "no:cacheprovider",
        *settings,
        f"--belt-record={recording}",
        f"--belt-report={certificate}",
        f"--junitxml={out / 'junit.xml'}",
        *tests,
        *session.posargs,
        env={"BELT_BLUE": os.environ["BELT_STANDBY"], "BELT_GREEN": os.environ["BELT_ALIAS"]},
        external=True,
        success_codes=[0, 1, 2, 3, 4, 5],  # the certificate decides, below
    )
    session.run(sys.executable, "-m", "belt_gate.cli", "summary", str(certificate), external=True)


@nox.session(python=False)
def promote(session: nox.Session) -> None:
    """Certify green with the project's settings and, only if the whole session is certified, swap the alias
    (compare-and-swap, watched, verified, rolled back by itself if green does not hold; ledgered).

    Settings as for any belt_gate run: belt.toml (BELT_CONFIG, default ./belt.toml when present), the
    `belt_*` keys of pyproject's [tool.pytest.ini_options], the Envio project (./config.yaml,
    ./schema.graphql); they must name blue, green, the alias and one swap target (alias_admin or
    swap_command). The team's own checks are the top-level conftest.py (and any paths given as
    BELT_PROMOTE_TESTS): part of the gate. Runs in the environment nox runs in (`.venv/bin/nox -s
    promote`). `nox -s promote -- ARGS` hands ARGS to pytest, e.g. `-- --belt-dry-run` or
    `-- --belt-verify-window=30`; `belt-gate wait --synced` first waits for green to reach the heads
    (BELT_WAIT_SYNCED=SECONDS runs it here first: not synced by then, nothing is certified or swapped).
    """
    import os
    import shlex
    import sys
    from pathlib import Path

    settings = ["--belt-promote"]
    config = os.environ.get("BELT_CONFIG") or ("belt.toml" if Path("belt.toml").is_file() else "")
    if config:
        settings.append(f"--belt-config={config}")
    wait = os.environ.get("BELT_WAIT_SYNCED")  # seconds: first wait (that long at most) for green to be synced
    if wait:
        cfg = [f"--config={config}"] if config else []
        session.run(
            sys.executable,
            "-m",
            "belt_gate.cli",
            "wait",
            "--synced",
            "--belt=green",
            f"--timeout={wait}",
            *cfg,
            external=True,
        )
    tests = shlex.split(os.environ.get("BELT_PROMOTE_TESTS", ""))
    if Path("conftest.py").is_file():
        tests.insert(0, "conftest.py")
    if not tests:  # an empty folder: pytest collects the belt cases only (not this project's own test suite)
        Path(".belt-no-team-checks").mkdir(exist_ok=True)
        tests = [".belt-no-team-checks"]
    session.run(
        sys.executable,
        "-m",
        "pytest",
        "-c",
        "pyproject.toml",
        "-p",
        "no:cacheprovider",
        *settings,
        *tests,
        *session.posargs,
        external=True,
    )
