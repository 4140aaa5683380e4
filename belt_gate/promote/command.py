"""A command as a swap target: `--belt-swap-command`, an argv template run without a shell.

Placeholders, replaced inside each argument: `{from}` / `{to}` (blue's and green's URLs as given),
`{from_addr}` / `{to_addr}` (their host:port), `{from_host}` / `{to_host}` (their host). The command
must exit 0. Its output (the last lines) is kept for the ledger and shown when it fails, masked by
`redact_output` (it is not our text). It cannot tell what the alias serves, so the guard and the
verification read the alias's own answers instead. Examples (README):

    # a platform variable the alias's proxy reads, as the origin system's BELT_UPSTREAM on Railway
    railway variables --service gateway --set BELT_UPSTREAM={to_addr}
    # a Kubernetes Service selector: the alias is Service `indexer`; each belt's pods are labelled
    # belt=<its own preview Service name>, e.g. blue at http://indexer-blue:8080, green at indexer-green
    kubectl patch service indexer --type merge -p {"spec":{"selector":{"belt":"{to_host}"}}}
    # an nginx upstream file, then a graceful reload
    sh -c 'printf "server %s;\\n" "$1" > /etc/nginx/belt_upstream.conf && nginx -s reload' _ {to_addr}
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from belt_gate.errors import SwapError
from belt_gate.promote.caddy import upstream_address
from belt_gate.promote.target import SwapPlan
from belt_gate.redact import redact_output, redact_text

OUTPUT_LINES = 20


def _addr(url: str) -> str:
    try:
        return upstream_address(url)
    except SwapError:
        return url


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


class CommandTarget:
    """Run `template` (with {from} {to} {from_addr} {to_addr} filled in) to switch the alias."""

    def __init__(self, template: Sequence[str], *, timeout: float = 120.0, cwd: Path | None = None) -> None:
        if not template:
            raise SwapError("--belt-swap-command is empty")
        self.template = tuple(template)
        self.timeout = timeout
        self.cwd = cwd
        self.output = ""  # the last run's output tail, redacted

    def describe(self) -> str:
        """The command as output and the ledger name it (redacted)."""
        return f"swap command {_shown(self.template)}"

    def current_upstream(self) -> str | None:
        """Always None: a command cannot be asked what the alias serves, so that is told by the alias's answers."""
        return None

    def lock_path(self, default: Path) -> Path:
        """`default` (beside the ledger): a command names no file of its own to lock beside."""
        return default

    def argv(self, expected: str, new: str) -> list[str]:
        """The command with its placeholders filled in (not redacted: this is what runs)."""
        values = {
            "{from_addr}": _addr(expected),
            "{to_addr}": _addr(new),
            "{from_host}": _host(expected),
            "{to_host}": _host(new),
            "{from}": expected,
            "{to}": new,
        }
        out = []
        for arg in self.template:
            for key, value in values.items():
                arg = arg.replace(key, value)
            out.append(arg)
        return out

    def plan(self, expected: str, new: str, *, allow_reload: bool = False) -> SwapPlan:
        """The argv that would run and what the guard checks around it; nothing runs yet."""
        argv = self.argv(expected, new)
        change = (
            f"change: run (no shell, timeout {self.timeout:g}s): {_shown(argv)}",
            "guard: the alias answers as blue right before it runs; it must exit 0; then the alias answers as green",
        )
        return SwapPlan("command", expected, new, change, argv)

    def apply(self, plan: SwapPlan) -> str:
        """Run the planned command (no shell, within the timeout); SwapError, saying what the alias may now serve, when
        it cannot start, times out or exits non-zero."""
        argv: list[str] = plan.state
        shown = _shown(argv)
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                cwd=self.cwd,
                check=False,
            )
        except FileNotFoundError:
            raise SwapError(f"swap command not found: {_shown(argv[:1])}; nothing changed") from None
        except PermissionError:
            raise SwapError(f"swap command not executable: {_shown(argv[:1])}; nothing changed") from None
        except subprocess.TimeoutExpired:
            raise SwapError(
                f"swap command did not finish in {self.timeout:g}s and was stopped ({shown}); "
                "what the alias serves now is unknown"
            ) from None
        self.output = _tail(done.stdout + done.stderr)
        if done.returncode != 0:
            said = f": {self.output.replace(chr(10), ' | ')}" if self.output else " (no output)"
            raise SwapError(
                f"swap command exited {done.returncode} ({shown}){said}; what the alias serves now is unknown"
            )
        return f"command exited 0 ({shown})"


def _shown(argv: Sequence[str]) -> str:
    """The command line as output names it: each argument redacted before it is quoted (quoting escapes a
    `'` inside a secret, which would then no longer be found)."""
    return shlex.join(redact_text(a) for a in argv)


def _tail(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return redact_output("\n".join(lines[-OUTPUT_LINES:]))[:2000]
