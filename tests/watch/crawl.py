"""A sandbox belt that is still indexing: the reference indexer, paced on purpose.

`Crawl` runs the sandbox's own indexer (`index_chain` with `to_block`) in a thread, `step` blocks per
chain every `tick` seconds, into a SQLite belt that the sandbox's Hasura-dialect server serves over real
HTTP. Like Envio it fetches ahead of what it commits: `latest_fetched_block_number` is `ahead` blocks past
the processed block (capped at the head), set by a trigger inside the indexer's own transaction. Chains
are private anvils with many empty blocks (`long_chain`), so a crawl takes long enough to watch and the
shared world is untouched.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from belt_gate.envio import load_schema
from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox.chains import Chain
from belt_gate.sandbox.indexer import index_chain
from belt_gate.sandbox.store import connect, create_schema
from tests.support.builders import SCHEMA
from tests.support.launchers import serve_belt


def long_chain(chain_id: int, run_dir: Path, blocks: int) -> Chain:
    """A private anvil for `chain_id` with `blocks` empty blocks mined (one anvil_mine call)."""
    chain = chainlib.start_chain(chain_id, run_dir=run_dir)
    chainlib.rpc(chain.rpc_url, "anvil_mine", hex(blocks))
    return chain


@dataclass
class Crawl:
    """The reference indexer paced to `step` blocks per chain per `tick` (step None: straight to the head)."""

    db: Path
    chains: Mapping[int, str]  # chain id -> RPC URL
    step: int | None = 40
    ahead: int = 0
    tick: float = 0.25
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _paused: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    server_pid: int | None = None  # the belt server's, once served

    def __post_init__(self) -> None:
        db = connect(self.db)
        create_schema(db, load_schema(SCHEMA))
        if self.ahead:
            # in the indexer's own transaction, so no read ever sees the row without its fetched edge
            with db:
                db.execute(
                    "CREATE TRIGGER IF NOT EXISTS crawl_fetch_ahead AFTER INSERT ON chain_metadata BEGIN "
                    "UPDATE chain_metadata SET latest_fetched_block_number = "
                    f"MIN(NEW.block_height, NEW.latest_processed_block + {int(self.ahead)}) "
                    "WHERE chain_id = NEW.chain_id; END"
                )
        db.close()

    def step_once(self) -> None:
        schema = load_schema(SCHEMA)
        db = connect(self.db)
        try:
            for chain_id, url in self.chains.items():
                row = db.execute("SELECT latest_processed_block FROM chain_metadata WHERE chain_id = ?", (chain_id,))
                got = row.fetchone()
                processed = -1 if got is None or got[0] is None else int(got[0])
                to = None if self.step is None else processed + self.step
                index_chain(db, schema, chain_id=chain_id, rpc_url=url, to_block=to)
        finally:
            db.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._paused.is_set():
                try:
                    self.step_once()
                except Exception as exc:  # a crawl that dies silently would read as a stalled belt
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.tick)

    def start(self) -> Crawl:
        self._thread = threading.Thread(target=self._run, name="crawl", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextlib.contextmanager
def crawling_belt(db: Path, chains: Mapping[int, str], **options: object) -> Iterator[tuple[str, Crawl]]:
    """A served belt being crawled: yields (GraphQL URL, Crawl). Options go to `Crawl`, and `faults` to
    the server."""
    faults = options.pop("faults", ())
    crawl = Crawl(db, chains, **options)  # type: ignore[arg-type]
    crawl.step_once()
    with serve_belt(db, faults=faults) as served:
        crawl.server_pid = served.pid
        crawl.start()
        try:
            yield served.url, crawl
        finally:
            crawl.stop()
