"""One promotion (or rollback) of an alias at a time, across processes: a file lock plus who holds it.

The lock is an OS file lock (filelock), so a holder that dies releases it. Next to it a small JSON file
names the holder (pid, host, action, since); a second promotion that finds the lock taken reads it and
says who holds it, and gives up at once (it never waits: a promotion decided on a certificate must not
act minutes later on a world that moved).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from belt_gate.errors import SwapError
from belt_gate.promote.ledger import now_iso


class LockHeld(SwapError):
    """Another promotion or rollback holds the lock; the message says who."""


class PromotionLock:
    """`with PromotionLock(path, "promote"):` or raise LockHeld naming the holder."""

    def __init__(self, path: Path, action: str) -> None:
        self.path = Path(path)
        self.holder = self.path.with_name(self.path.name + ".holder")
        self.action = action
        self._lock = FileLock(str(self.path), timeout=0)

    def __enter__(self) -> PromotionLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except Timeout:
            raise LockHeld(
                f"another promotion or rollback holds {self.path} ({self._who()}): nothing changed"
            ) from None
        except OSError as e:
            raise SwapError(f"cannot take the promotion lock {self.path} ({e.strerror}): nothing changed") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "action": self.action, "since": now_iso()}
        tmp = self.holder.with_name(self.holder.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, self.holder)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.holder.unlink(missing_ok=True)
        self._lock.release()

    def _who(self) -> str:
        try:
            info = json.loads(self.holder.read_text(encoding="utf-8"))
            return f"{info['action']} by pid {info['pid']} on {info['host']} since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"
