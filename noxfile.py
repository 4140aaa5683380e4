"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s typecheck`, `nox -s bench`."""

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
    session.run("ruff", "check", "belt_gate", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "belt_gate", "tests", "bench", "noxfile.py")


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
        "bench_alias_switch.py",
    ):
        session.run("python", f"bench/{script}", *session.posargs)
