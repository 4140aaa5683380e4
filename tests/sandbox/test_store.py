"""The sandbox belt file: several connections opening a fresh file at once all get it in WAL mode."""

from __future__ import annotations

import threading
from pathlib import Path

from belt_gate.sandbox.store import connect


def test_connections_racing_on_a_fresh_file_all_open(tmp_path: Path) -> None:
    """Switching to WAL failed at once with "database is locked" for one of two racing connections (an
    indexer thread and a reader): the follower thread died and its belt never advanced."""
    errors: list[BaseException] = []
    for trial in range(20):
        path = tmp_path / f"belt{trial}.db"
        barrier = threading.Barrier(4)

        def open_it(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                db = connect(path)
                assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                db.close()
            except BaseException as exc:  # collected: an exception in a thread would not fail the test
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
