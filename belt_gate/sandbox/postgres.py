"""A throwaway PostgreSQL cluster on loopback for the sandbox: initdb, start, create databases, stop.

    cluster = start_cluster()              # a fresh cluster in its own temp dir, on a free port
    create_database(cluster, "belts")
    dsn = cluster.dsn("belts")             # postgresql://postgres@127.0.0.1:PORT/belts (trust auth)
    stop_cluster(cluster)                  # stops it and removes its directory

The binaries are Debian's (`postgresql` package: /usr/lib/postgresql/<major>/bin), or whatever
`initdb`/`pg_ctl` PATH has. initdb refuses to run as root, so as root every server command runs as the
`postgres` user (`runuser -u postgres --`, the Debian package creates that user). Because
pytest's temp dirs are private to root (mode 0700), the cluster never lives there: its data directory
is a fresh directory under the system temp dir, owned by `postgres`. The server listens on 127.0.0.1
only (`listen_addresses`), its unix socket in the data directory, and runs with fsync off (throwaway
data: speed over durability) and JIT off (a fingerprint's one-shot aggregates paid ~20 % for
compiling). Text collates as C (bytes: the same order as C.UTF-8's code points, and as SQLite's),
which makes a text min/max about a quarter cheaper than through strcoll. Authentication is `trust`
for local connections, so DSNs carry no password - there is no secret to leak.
"""

from __future__ import annotations

import contextlib
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

INSTALL_HINT = "install PostgreSQL: `apt-get install -y postgresql` (Debian; .ci/run does it when missing)"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster. Plain data, so a state file can record it and `stop_cluster` it later."""

    root: Path  # the temp dir holding data/ and server.log (removed by stop_cluster)
    port: int
    pid: int  # the postmaster's pid

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL for `database` (no password: trust authentication on loopback)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "port": self.port, "pid": self.pid}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cluster:
        return cls(Path(d["root"]), int(d["port"]), int(d["pid"]))


def binary(name: str) -> Path:
    """A PostgreSQL server program (initdb, pg_ctl, postgres): Debian's newest major first, then PATH."""
    majors = sorted(
        (p for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}") if p.parent.parent.name.isdigit()),
        key=lambda p: int(p.parent.parent.name),
    )
    if majors:
        return majors[-1]
    found = shutil.which(name)
    if found:
        return Path(found)
    raise SandboxError(f"PostgreSQL's {name} not found: {INSTALL_HINT}")


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise SandboxError("running as root needs `runuser` (util-linux) to start PostgreSQL as user postgres")
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise SandboxError(f"user {SUPERUSER!r} does not exist: {INSTALL_HINT}") from None
    return [runuser, "-u", SUPERUSER, "--", *argv]


def _run(argv: list[str], what: str, *, timeout: float = 60.0) -> None:
    try:
        done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"PostgreSQL {what} did not finish within {timeout:g}s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SandboxError(f"PostgreSQL {what} failed ({done.returncode}): {tail[0]}")


def start_cluster(*, port: int | None = None, timeout: float = 30.0) -> Cluster:
    """initdb a fresh cluster in a new temp dir and start it on 127.0.0.1 (a free port unless given)."""
    root = Path(tempfile.mkdtemp(prefix="belt-pg-"))
    try:
        os.chmod(root, 0o755)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SUPERUSER)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        _run(
            [
                str(binary("initdb")),
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
        )
        for attempt in range(5):
            chosen = port if port is not None else procs.free_port()
            try:
                return _start(root, chosen, timeout)
            except SandboxError:
                if port is not None or attempt == 4:
                    raise
        raise AssertionError("unreachable")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _start(root: Path, port: int, timeout: float) -> Cluster:
    options = (
        f"-p {port} -k {root / 'data'} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
        "-c shared_buffers=128MB -c max_locks_per_transaction=256 -c jit=off"
    )
    _run(
        [
            str(binary("pg_ctl")),
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
                [str(binary("pg_ctl")), "-D", str(cluster.data_dir), "-m", "fast", "-w", "stop"],
                "stop",
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
    "binary",
    "connect",
    "create_database",
    "running",
    "start_cluster",
    "stop_cluster",
]
