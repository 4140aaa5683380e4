"""Start, wait for and stop the sandbox's background processes, by pid, on loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from belt_gate.errors import SandboxError


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on the port (0.2 s to answer)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def spawn(
    argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a detached process (own session, survives the caller), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )


def alive(pid: int) -> bool:
    """True while the process exists (also when it is another user's); a zombie child of ours is reaped and reported
    dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    # A zombie of another parent (exited, not yet reaped) is not alive either; killing it is a no-op.
    with contextlib.suppress(OSError, IndexError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies waiting for another parent do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(group) == pgid and state != "Z" and alive(int(stat.parent.name)):
                return True
    return False


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    return inodes


def group_listens(pid: int, port: int) -> bool:
    """Whether `pid` (or, when it leads a process group as `spawn` makes it, a process of its group: a
    wrapper's child) holds the socket listening on `port` - not another process that took the same free
    port a moment earlier."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return False
    try:
        leads = os.getpgid(pid) == pid
    except OSError:
        return False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.parent.name) != pid and not (
                leads and int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pid
            ):
                continue
            for fd in (stat.parent / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return True
    return False


def wait_for_port(port: int, *, pid: int | None = None, timeout: float = 30.0, what: str = "") -> None:
    """Block until something listens on `port`; with `pid` (a process spawned in its own session), until
    that process's group does: a free port can be taken by another process between choosing and binding,
    and a client would then talk to the wrong server. Fails early if `pid` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) and (pid is None or group_listens(pid, port)):
            return
        if pid is not None and not alive(pid):
            raise SandboxError(f"{what or 'process'} (pid {pid}) exited before listening on port {port}")
        time.sleep(0.02)
    raise SandboxError(f"{what or 'process'} did not listen on 127.0.0.1:{port} within {timeout:g}s")


def stop(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM the process group of `pid`, then SIGKILL whatever is left after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid) and not group_alive(pid):  # the leader and whatever it started
                return
            time.sleep(0.02)
    if alive(pid) or group_alive(pid):
        raise SandboxError(f"process {pid} (or its process group) did not stop")
