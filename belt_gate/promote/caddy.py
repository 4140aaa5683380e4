"""Caddy as a swap target: read the alias's upstream and move it with a compare-and-swap.

The alias's reverse_proxy handler is found by its `@id` in the live config (admin API). Two shapes:

- **file dial** (`"dial": "{file.<path>}"`, Caddy >= 2.8): Caddy reads the file on every request, so a
  switch is an atomic rename of that file and never reloads Caddy (no keep-alive connection is reset;
  reference/environment.md §11). Compare-and-swap = file lock next to the file, check the file holds the
  expected upstream, write a temp file + `os.replace`, read it back, confirm through the admin API.
- **plain dial** (`"dial": "host:port"`): fallback. A PATCH of the handler's upstreams guarded by the
  server's ETag in `If-Match` (412 = someone changed the config in between). This reloads Caddy, which
  resets some keep-alive connections; `install_file_switch` converts such an alias once, so that every
  later switch is reload-free.

Every `SwapError` says which upstream the alias serves now (or that it cannot be known). Admin URLs are
only ever shown redacted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from filelock import FileLock, Timeout

from belt_gate.errors import SwapError
from belt_gate.promote.target import SwapPlan
from belt_gate.redact import redact_text, redact_url
from belt_gate.sources.tls import shared_context

log = logging.getLogger(__name__)

UPSTREAM_ID = "belt_upstream"
_FILE_DIAL = re.compile(r"^\{file\.(?P<path>[^{}]+)\}$")
_HOSTPORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(?P<port>\d{1,5})$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def upstream_address(upstream: str) -> str:
    """Normalise an upstream to what Caddy dials: `host:port` stays, `http://host:port/path` -> `host:port`.

    Raises SwapError for anything Caddy would accept but could not dial (Caddy stores invalid dials with
    200 and then answers 502), and for https:// (the alias dials plain HTTP).
    """
    value = upstream.strip()
    if "://" in value:
        try:
            parts = urlsplit(value)
            host, port = parts.hostname, parts.port
        except ValueError as e:
            raise SwapError(f"not an upstream URL: {redact_url(value)} ({e})") from None
        if parts.scheme != "http":
            raise SwapError(f"the alias dials plain HTTP upstreams, not {parts.scheme}:// ({redact_url(value)})")
        if not host or port is None:
            raise SwapError(f"upstream URL needs an explicit host and port: {redact_url(value)}")
        value = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    m = _HOSTPORT.match(value)
    if not m or not 0 < int(m.group("port")) < 65536:
        raise SwapError(f"not a host:port upstream: {redact_text(value)!r}")
    return value


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` by one rename: readers see the old or the new content, never a gap."""
    os.replace(stage_file(path, text), path)


def stage_file(path: Path, text: str) -> Path:
    """A temp file beside `path` holding `text`, flushed to disk, with `path`'s mode: what a rename commits.

    Same directory (same filesystem, so the rename is atomic); the old file's mode is kept, so a Caddy
    running as another user can still read it. Staging (the fsync is most of a switch's cost) happens
    before the swap lock is taken, so the switch itself is a compare and a rename.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        os.chmod(tmp, mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def fnv1a32(data: bytes) -> str:
    """Caddy 2.6's config hash (ETag sent as a trailer there, which httpx cannot read)."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


@dataclass(frozen=True)
class UpstreamState:
    """What the alias serves now and how it is wired: `file` names the upstream file in file mode."""

    upstream: str
    mode: Literal["file", "dial"]
    file: Path | None
    etag: str
    upstream_entry: dict[str, Any]


class CaddyAlias:
    """The alias as Caddy's admin API shows it: one reverse_proxy handler with `@id` `upstream_id`."""

    def __init__(
        self, admin_url: str, upstream_id: str = UPSTREAM_ID, *, timeout: float = 5.0, lock_timeout: float = 10.0
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.upstream_id = upstream_id
        self.timeout = timeout
        self.lock_timeout = lock_timeout
        parts = urlsplit(self.admin_url)
        self._origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self._trust_env = (parts.hostname or "") not in _LOOPBACK
        self._http: httpx.Client | None = None
        self._warned_reload = False
        #: ms the last file switch held its lock: compare, rename, read back (staging and confirming excluded)
        self.last_switch_ms: float | None = None

    def close(self) -> None:
        """Close the admin API connection (reopened on the next call)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> CaddyAlias:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CaddyAlias({redact_url(self.admin_url)!r}, upstream_id={self.upstream_id!r})"

    # -- reading ----------------------------------------------------------------------------------

    def current_upstream(self) -> str:
        """The host:port the alias serves now (the upstream file's content in file mode)."""
        return self.state().upstream

    def state(self) -> UpstreamState:
        """What the alias serves now and how it is wired: the admin API's config (and, in file mode, the upstream
        file); SwapError when either cannot be read, since what the alias serves is then unknown."""
        with self._client() as client:
            return self._state(client)

    def describe(self) -> str:
        """The alias as output and the ledger name it (admin URL redacted)."""
        return f"Caddy admin API at {redact_url(self.admin_url)} (@id {self.upstream_id})"

    def lock_path(self, default: Path) -> Path:
        """Beside the upstream file in file mode (one lock per alias, whoever's ledger); else `default`."""
        state = self.state()
        if state.mode == "file" and state.file is not None:
            return state.file.with_name(state.file.name + ".promote.lock")
        return default

    # -- switching --------------------------------------------------------------------------------

    def swap(self, expected: str, new: str) -> None:
        """Compare-and-swap: point the alias at `new` only if it serves `expected` now.

        `expected` and `new` are host:port or http URLs (only host:port is kept). Same expected and new,
        and the alias already serving it: nothing to do. Raises SwapError, saying what it serves now.
        """
        expected_addr = upstream_address(expected)
        new_addr = upstream_address(new)
        with self._client() as client:
            state = self._state(client)
            if state.mode == "file" and state.file is not None:
                self._swap_file(client, state.file, expected_addr, new_addr)
            else:
                self._swap_dial(client, state, expected_addr, new_addr)

    def plan(self, expected: str, new: str, *, allow_reload: bool = False) -> SwapPlan:
        """The swap `expected` -> `new` as it would be made, checked now (the alias must serve `expected`).

        A plain-dial alias would be switched by an admin-API PATCH, which reloads Caddy and resets
        keep-alive connections: refused unless `allow_reload` (a rollback may accept that).
        """
        expected_addr, new_addr = upstream_address(expected), upstream_address(new)
        state = self.state()
        if state.upstream != expected_addr:
            raise SwapError(f"the alias serves {state.upstream}, not the expected {expected_addr}; not switched")
        if state.mode == "file" and state.file is not None:
            f = state.file
            change = (
                f"{self.describe()}: reverse_proxy dials {{file.{f}}} (read on every request: no reload)",
                f"change: replace {f}: {expected_addr!r} -> {new_addr!r} (temp file in {f.parent}, fsync, rename)",
                f"guard: under the lock {f}.lock, only if {f} still reads {expected_addr!r}; "
                f"then read it back, and GET {redact_url(self.admin_url)}/config/ must resolve to {new_addr!r}",
                "no admin-API change (Caddy is not reloaded)",
            )
            return SwapPlan("caddy-file", expected_addr, new_addr, change, state)
        if not allow_reload:
            raise SwapError(
                f"the alias dials {state.upstream} directly: switching it would reload Caddy and reset keep-alive "
                f"connections; install the reload-free file switch once (CaddyAlias.install_file_switch) first"
            )
        body = json.dumps([{**state.upstream_entry, "dial": new_addr}])
        change = (
            f"{self.describe()}: reverse_proxy dials {expected_addr} (a switch reloads Caddy)",
            f"change: PATCH {redact_url(self.admin_url)}/id/{self.upstream_id}/upstreams",
            f"guard: If-Match: {state.etag}",
            f"body: {redact_text(body)}",
        )
        return SwapPlan("caddy-dial", expected_addr, new_addr, change, state)

    def apply(self, plan: SwapPlan) -> str:
        """Make a planned swap (compare-and-swap again at the moment of the change)."""
        state: UpstreamState = plan.state
        with self._client() as client:
            if plan.kind == "caddy-file" and state.file is not None:
                self._swap_file(client, state.file, plan.expected, plan.new)
                return "reload-free file dial, atomic rename"
            self._swap_dial(client, self._state(client), plan.expected, plan.new, etag=state.etag)
            return "admin-API PATCH with If-Match (Caddy reloaded)"

    def install_file_switch(self, upstream_file: Path) -> None:
        """Set up once: make the alias dial `{file.<upstream_file>}`, holding what it serves now.

        This is one admin-API change (one reload, guarded with ETag/If-Match); every swap after it is
        a reload-free file rename. Nothing changes for consumers: the file gets the current upstream.
        """
        path = Path(upstream_file).resolve()
        if "{" in str(path) or "}" in str(path):
            raise SwapError(f"upstream file path must not contain braces: {path}")
        with self._client() as client:
            state = self._state(client)
            if state.mode == "file" and state.file == path:
                return
            lock = self._acquire(path)
            try:
                write_atomic(path, state.upstream)
                entry = {**state.upstream_entry, "dial": f"{{file.{path}}}"}
                self._patch_upstreams(client, state, entry)
            finally:
                lock.release()
            after = self._state(client)
            if after.mode != "file" or after.file != path or after.upstream != state.upstream:
                raise SwapError(
                    f"file switch not in place after setup (dial mode {after.mode}); {_serves(after.upstream)}"
                )

    # -- internals --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _client(self) -> Iterator[httpx.Client]:
        """One kept-alive admin client (the TLS context is the process's shared one)."""
        if self._http is None:
            self._http = httpx.Client(
                timeout=self.timeout,
                trust_env=self._trust_env,
                headers={"Origin": self._origin},
                verify=shared_context(),
            )
        yield self._http

    def _where(self) -> str:
        return f"Caddy admin API at {redact_url(self.admin_url)}"

    def _state(self, client: httpx.Client) -> UpstreamState:
        try:
            r = client.get(f"{self.admin_url}/config/")
        except httpx.HTTPError as e:
            raise SwapError(
                f"{self._where()} unreachable ({type(e).__name__}: {redact_text(str(e))}); "
                "what the alias serves now is unknown"
            ) from None
        if r.status_code != 200:
            raise SwapError(
                f"{self._where()} answered {r.status_code} to GET /config/ "
                f"({redact_text(r.text)[:200]}); what the alias serves now is unknown"
            )
        etag = r.headers.get("etag") or f'"/config/ {fnv1a32(r.content)}"'
        try:
            config = json.loads(r.content or b"null")
        except ValueError:
            raise SwapError(
                f"{self._where()} sent a config that is not JSON; what the alias serves now is unknown"
            ) from None
        handler = _find_id(config, self.upstream_id)
        if handler is None:
            raise SwapError(
                f"no object with @id {self.upstream_id!r} in the config of {self._where()}; "
                "what the alias serves now is unknown"
            )
        ups = handler.get("upstreams")
        if (
            not isinstance(ups, list)
            or len(ups) != 1
            or not isinstance(ups[0], dict)
            or not isinstance(ups[0].get("dial"), str)
        ):
            raise SwapError(
                f"@id {self.upstream_id!r} must have exactly one upstream with a dial, has "
                f"{redact_text(json.dumps(ups))[:200]}; not a belt_gate alias"
            )
        entry: dict[str, Any] = ups[0]
        dial: str = entry["dial"]
        m = _FILE_DIAL.match(dial)
        if m:
            path = Path(m.group("path"))
            return UpstreamState(_read_upstream_file(path), "file", path, etag, entry)
        return UpstreamState(dial, "dial", None, etag, entry)

    def _acquire(self, path: Path) -> FileLock:
        """Take the swap lock next to the upstream file (one switch at a time, across processes)."""
        lock = FileLock(str(path.with_name(path.name + ".lock")), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise SwapError(
                f"another switch holds {lock.lock_file} for over {self.lock_timeout:g}s; "
                f"{_serves(_read_or_unknown(path))}"
            ) from None
        except OSError as e:
            raise SwapError(
                f"cannot take the lock {lock.lock_file} ({e.strerror}); {_serves(_read_or_unknown(path))}"
            ) from None
        return lock

    def _swap_file(self, client: httpx.Client, path: Path, expected: str, new: str) -> None:
        try:
            staged = stage_file(path, new)
        except OSError as e:
            raise SwapError(f"cannot write beside {path} ({e.strerror}); {_serves(_read_or_unknown(path))}") from None
        try:
            lock = self._acquire(path)
            began = time.perf_counter()
            try:
                current = _read_upstream_file(path)
                if current != expected:
                    raise SwapError(f"the alias serves {current}, not the expected {expected}; not switched to {new}")
                if current == new:
                    return
                try:
                    os.replace(staged, path)
                except OSError as e:
                    raise SwapError(
                        f"cannot replace {path} ({e.strerror}); {_serves(_read_or_unknown(path))}"
                    ) from None
                back = _read_upstream_file(path)
                if back != new:
                    raise SwapError(f"{path} reads {back} after writing {new}; {_serves(back)}")
                self.last_switch_ms = (time.perf_counter() - began) * 1000
            finally:
                lock.release()
        finally:
            staged.unlink(missing_ok=True)  # gone after a rename; left over after a refused compare
        after = self._state(client)
        if after.upstream != new:
            raise SwapError(
                f"after the switch Caddy's config resolves to {after.upstream} "
                f"(mode {after.mode}), not {new}; {_serves(after.upstream)}"
            )

    def _swap_dial(
        self, client: httpx.Client, state: UpstreamState, expected: str, new: str, *, etag: str | None = None
    ) -> None:
        if etag is not None:  # the guard of a plan: the config must still be the one it was made on
            state = UpstreamState(state.upstream, state.mode, state.file, etag, state.upstream_entry)
        if state.upstream != expected:
            raise SwapError(f"the alias serves {state.upstream}, not the expected {expected}; not switched to {new}")
        if state.upstream == new:
            return
        if not self._warned_reload:
            self._warned_reload = True
            log.warning(
                "%s: plain dial, switching reloads Caddy and may reset keep-alive connections; "
                "install_file_switch() makes switches reload-free",
                self._where(),
            )
        self._patch_upstreams(client, state, {**state.upstream_entry, "dial": new})
        after = self._state(client)
        if after.upstream != new:
            raise SwapError(f"after the switch the alias serves {after.upstream}, not {new}")

    def _patch_upstreams(self, client: httpx.Client, state: UpstreamState, entry: dict[str, Any]) -> None:
        url = f"{self.admin_url}/id/{self.upstream_id}/upstreams"
        try:
            r = client.patch(url, json=[entry], headers={"If-Match": state.etag})
        except httpx.HTTPError as e:
            raise SwapError(
                f"{self._where()} failed during the switch ({type(e).__name__}); {self._serves_now(client)}"
            ) from None
        if r.status_code == 412:
            raise SwapError(
                f"the alias config changed concurrently (412 from {self._where()}); not "
                f"switched; {self._serves_now(client)}"
            )
        if r.status_code != 200:
            raise SwapError(
                f"{self._where()} answered {r.status_code} to the switch "
                f"({redact_text(r.text)[:200]}); {self._serves_now(client)}"
            )

    def _serves_now(self, client: httpx.Client) -> str:
        try:
            return _serves(self._state(client).upstream)
        except SwapError as e:
            return f"what the alias serves now is unknown ({e})"


def _serves(upstream: str) -> str:
    return f"the alias serves {upstream} now"


def _read_upstream_file(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise SwapError(
            f"cannot read the alias's upstream file {path} ({e.strerror}): belt_gate must run "
            "where Caddy reads that file; if it is gone, the alias answers 502 now"
        ) from None
    if not value:
        raise SwapError(f"the alias's upstream file {path} is empty; the alias answers 502 now")
    return value


def _read_or_unknown(path: Path) -> str:
    try:
        return _read_upstream_file(path)
    except SwapError:
        return "an unknown upstream"


def _find_id(node: Any, wanted: str) -> dict[str, Any] | None:
    """The config object whose `@id` is `wanted` (depth-first, as Caddy indexes them)."""
    if isinstance(node, dict):
        if node.get("@id") == wanted:
            return node
        children: Any = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_id(child, wanted)
        if found is not None:
            return found
    return None
