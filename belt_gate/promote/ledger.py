"""The ledger: an append-only JSONL record of every promotion, refusal and rollback.

One JSON object per line: `time` (UTC), `action` (promote, auto-rollback, rollback), `target` (which swap
target, redacted), `from`, `to` (what the target switched between: host:port for Caddy, redacted URLs for
a command), `certificate_sha256` (of the certificate as `--belt-report` writes it), `result` (done,
refused, failed, rolled-back), `reason`, and the `probe` / `verify` figures. Every line is redacted before
it is written. Lines are only ever appended (O_APPEND, flushed and fsynced): the file is never rewritten,
so an earlier line's bytes never change.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from belt_gate.errors import SwapError
from belt_gate.redact import redact_json

DONE = "done"
REFUSED = "refused"
FAILED = "failed"
ROLLED_BACK = "rolled-back"


def now_iso() -> str:
    """UTC with milliseconds, as every ledger line's `time`."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class Ledger:
    """The ledger file at `path` (created with its folder on the first append)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Add one line (with `time` and `by`), redacted; return what was written."""
        line: dict[str, Any] = {"time": now_iso(), **entry, "by": {"pid": os.getpid(), "host": socket.gethostname()}}
        text = json.dumps(redact_json(line), sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (text + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise SwapError(f"cannot append to the ledger {self.path} ({e.strerror})") from None
        written: dict[str, Any] = json.loads(text)
        return written

    def entries(self) -> list[dict[str, Any]]:
        """Every line, oldest first. A line that is not a JSON object fails closed, naming its number."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as e:
            raise SwapError(f"cannot read the ledger {self.path} ({e.strerror})") from None
        out = []
        for n, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            if not isinstance(entry, dict):
                raise SwapError(f"the ledger {self.path} line {n} is not a JSON object: it cannot be trusted")
            out.append(entry)
        return out

    def __len__(self) -> int:
        return len(self.entries())


def last_live_promotion(entries: list[dict[str, Any]], serving: str) -> dict[str, Any] | None:
    """The newest promotion that took effect and still stands: result done, and its `to` is what the alias
    serves now. `None` when the alias was moved some other way since (or never promoted)."""
    for entry in reversed(entries):
        if entry.get("action") == "promote" and entry.get("result") == DONE:
            return entry if entry.get("to") == serving else None
        if entry.get("action") in ("rollback", "auto-rollback") and entry.get("result") == DONE:
            return None  # the last change was a rollback: there is no promotion to undo
    return None
