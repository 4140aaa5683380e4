"""The seed-scale bulk world of the detection matrix: the 3,000,000-row footprint belt (12 entities, 6
chains; belt_gate/sandbox/bulk.py) as blue, greens copied from it with one defect class each, and a real
anvil per bulk chain so the L1 rules run at seed scale too.

- The belt is built once per test session (`seed_belt`): under a file lock in the session's shared
  temporary folder, so two xdist workers build it once between them. `BELT_PROOF_SEED_DIR=<folder>` keeps
  it across sessions (for working on the matrix; CI builds it fresh).
- Each chain's anvil carries the bulk chain's id and starts `GENESIS_BELOW` blocks below the height the
  belt says it processed, with the bulk generator's own block times (`sandbox.bulk.CHAINS`), so its head
  lies above every processed block, the cutoff blocks exist and carry the timestamps the rows were
  written with (mode B at the cutoff's timestamp compares every row).
- On the golden chains, the sandbox contracts are deployed and one real NFT `Transfer` is sent; blue (and
  every green copied from it) holds the `MiberaTransfer` that event makes, and `golden/<chain>.yaml`
  names it. A chain can be started again from nothing (`replay_chain`): the same transactions in the same
  blocks give the same block hashes (sandbox/chains.py determinism), which `replay_chain` checks.
- A green is a copy of blue's file (`green_copy`: about half a second for 1 GB from the page cache, on
  ext4 without reflinks) with the defect written into it by SQL; nothing is shared between two greens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox import procs, rpc_proxy
from belt_gate.sandbox.bulk import CHAINS as BULK_CHAINS
from belt_gate.sandbox.bulk import FOOTPRINT, VARIANTS, build_belt
from belt_gate.sandbox.traffic import encode_nft
from tests.support.launchers import Served, serve_belts

SEED_ROWS = 3_000_000
SEED = 0
CHAINS = VARIANTS["green"]  # all six bulk chains: blue and green index the same six (parity)
GOLDEN_CHAINS = (1, 10)
GENESIS_BELOW = 8  # an anvil's genesis lies this many blocks below the belt's processed block
ABOVE = 4  # and its head this many above
NFT_EVENT = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
GOLDEN_TO = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
GOLDEN_TOKEN = 424_242


def _source_key() -> str:
    """What the built file depends on: the generator, the footprint schema, the row count and the seed."""
    h = hashlib.sha256()
    for p in (Path(chainlib.__file__).with_name("bulk.py"), FOOTPRINT):
        h.update(p.read_bytes())
    h.update(f"{SEED_ROWS}:{SEED}".encode())
    return h.hexdigest()[:16]


def build_seed_belt(root: Path) -> tuple[Path, dict[str, Any]]:
    """The seed-scale belt under `root` (built unless a finished one with the same key is there), and what
    its build reported. Safe to call from several processes at once."""
    root.mkdir(parents=True, exist_ok=True)
    out = root / f"seed-{_source_key()}"
    done = out / "built.json"
    with FileLock(str(root / f"{out.name}.lock")):
        if not done.exists():
            began = time.perf_counter()
            result = build_belt(out, rows=SEED_ROWS, variant="green", seed=SEED)
            info = {"rows": result.total, "seconds": round(time.perf_counter() - began, 1), "reused": False}
            info["counts"] = {e: {str(c): n for c, n in cs.items()} for e, cs in result.counts.items()}
            done.write_text(json.dumps(info))
            return out, info
    return out, {**json.loads(done.read_text()), "reused": True}


@pytest.fixture(scope="session")
def seed_belt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    kept = os.environ.get("BELT_PROOF_SEED_DIR")
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # every worker's basetemp lies in one folder of this session
    return build_seed_belt(Path(kept) if kept else shared / "seed-belt")


# ---------------------------------------------------------------------------------------------------
# chains


def processed(chain: int) -> int:
    """The block the bulk belt says it processed on `chain` (its chain_metadata)."""
    return BULK_CHAINS[chain][2]


def block_time(chain: int, block: int) -> int:
    """The timestamp the bulk generator gives `block` of `chain`."""
    _share, start, _head, seconds, genesis = BULK_CHAINS[chain]
    return genesis + (block - start) * seconds


@dataclass
class GoldenLog:
    chain: int
    block: int
    block_hash: str
    tx_hash: str
    log_index: int
    address: str

    @property
    def entity_id(self) -> str:
        return f"{self.chain}_{self.block}_{self.log_index}"


def start_bulk_chain(chain: int, run_dir: Path) -> tuple[chainlib.Chain, GoldenLog | None]:
    """An anvil for bulk chain `chain` from `processed - GENESIS_BELOW` to `processed + ABOVE`; on a golden
    chain the contracts are deployed (first block) and one NFT Transfer sent (second block)."""
    genesis = processed(chain) - GENESIS_BELOW
    seconds = BULK_CHAINS[chain][3]
    c = chainlib.start_chain(
        chain, run_dir=run_dir, number=genesis, timestamp=block_time(chain, genesis), interval=seconds
    )
    try:
        log = None
        if chain in GOLDEN_CHAINS:
            contracts = chainlib.deploy(c)
            data = encode_nft([(chainlib.DEPLOYER, GOLDEN_TO, GOLDEN_TOKEN)])
            nonce = chainlib.nonce(c)
            (tx,) = chainlib.send_block(c, [chainlib.tx(c, contracts["SandboxNFT"], data, nonce=nonce, gas=200_000)])
            receipt = chainlib.rpc(c.rpc_url, "eth_getTransactionReceipt", tx)
            (entry,) = receipt["logs"]
            log = GoldenLog(
                chain,
                int(receipt["blockNumber"], 16),
                str(receipt["blockHash"]),
                str(tx),
                int(entry["logIndex"], 16),
                str(entry["address"]).lower(),
            )
        chainlib.mine(c, processed(chain) + ABOVE - chainlib.head(c))
        assert chainlib.head(c) == processed(chain) + ABOVE
        top = chainlib.block(c, processed(chain))
        assert int(top["timestamp"], 16) == block_time(chain, processed(chain)), (chain, top["timestamp"])
    except BaseException:
        chainlib.stop_chain(c)
        raise
    return c, log


def golden_yaml(log: GoldenLog) -> str:
    return (
        f"chain: {log.chain}\n"
        "events:\n"
        f'  - tx_hash: "{log.tx_hash}"\n'
        f"    log_index: {log.log_index}\n"
        f"    block_number: {log.block}\n"
        f'    block_hash: "{log.block_hash}"\n'
        f'    address: "{log.address}"\n'
        f'    event: "{NFT_EVENT}"\n'
        "    entity: MiberaTransfer\n"
        f'    entity_id: "{log.entity_id}"\n'
        "    fields:\n"
        f'      from: "{chainlib.DEPLOYER.lower()}"\n'
        f'      to: "{GOLDEN_TO}"\n'
        f"      tokenId: {GOLDEN_TOKEN}\n"
    )


def add_golden_row(db: Path, log: GoldenLog) -> None:
    """The MiberaTransfer an indexer makes of the golden log (the bulk rows of that chain lie below it)."""
    row = {
        "id": log.entity_id,
        "chainId": log.chain,
        "from": chainlib.DEPLOYER.lower(),
        "to": GOLDEN_TO,
        "tokenId": GOLDEN_TOKEN,
        "isMint": 0,
        "blockNumber": log.block,
        "timestamp": block_time(log.chain, log.block),
        "transactionHash": log.tx_hash,
        "logIndex": log.log_index,
    }
    with contextlib.closing(sqlite3.connect(db)) as c, c:
        cols = [r[1] for r in c.execute('PRAGMA table_info("MiberaTransfer")')]
        assert set(cols) == set(row), cols
        names = ", ".join(f'"{k}"' for k in row)
        c.execute(f'INSERT INTO "MiberaTransfer" ({names}) VALUES ({", ".join("?" for _ in row)})', list(row.values()))


# ---------------------------------------------------------------------------------------------------
# the world


@dataclass
class SeedWorld:
    dir: Path
    blue_db: Path
    blue: Served
    schema: Path
    chains: dict[int, chainlib.Chain]
    golden: dict[int, GoldenLog]
    build: dict[str, Any]
    _stack: contextlib.ExitStack = field(repr=False)
    _greens: int = 0

    def rpc(self, **override: str) -> list[str]:
        """`--belt-rpc` values for every chain (`override`: chain -> URL, keyed "c<chain>")."""
        return [f"{c}={override.get(f'c{c}', chain.rpc_url)}" for c, chain in self.chains.items()]

    def golden_dir(self, name: str, chains: tuple[int, ...] = GOLDEN_CHAINS, **hashes: str) -> Path:
        """A golden folder with the fixtures of `chains` (`hashes`: "c<chain>" -> another block hash)."""
        d = self.dir / f"golden-{name}"
        d.mkdir()
        for c in chains:
            (d / f"{c}.yaml").write_text(golden_yaml(self.golden[c]))
        return d

    def green_copy(self) -> Path:
        self._greens += 1
        path = self.dir / f"green-{self._greens}.sqlite"
        shutil.copyfile(self.blue_db, path)
        return path

    def serve(self, db: Path, **options: Any) -> Served:
        served = self._stack.enter_context(serve_belts({"green": (db, {"schema": self.schema, **options})}))
        return served["green"]

    def proxy(self, chain: int, mode: str) -> str:
        url, pid = rpc_proxy.start_rpc_proxy(self.chains[chain].rpc_url, mode, self.dir)
        self._stack.callback(procs.stop, pid)
        return url

    def replay_chain(self, chain: int) -> chainlib.Chain:
        """A second anvil for `chain` built the same way; its golden block must be the fixture's."""
        d = self.dir / f"replay-{chain}"
        d.mkdir(exist_ok=True)
        c, log = start_bulk_chain(chain, d)
        self._stack.callback(chainlib.stop_chain, c)
        assert log == self.golden[chain], ("anvil did not replay the golden block", log, self.golden[chain])
        return c

    def options(self, green: str, green_schema: Path | None = None, **extra: Any) -> dict[str, Any]:
        cli: dict[str, Any] = {
            "blue": self.blue.url,
            "green": green,
            "schema": str(self.schema),
            "blue_schema": str(self.schema),
            "green_schema": str(green_schema or self.schema),
            "rpc": self.rpc(),
            "settle_timeout": "0.5",
        }
        cli.update(extra)
        return cli


@contextlib.contextmanager
def seed_world(seed: tuple[Path, Mapping[str, Any]], run_dir: Path) -> Iterator[SeedWorld]:
    built, info = seed
    with contextlib.ExitStack() as stack:
        chains: dict[int, chainlib.Chain] = {}
        golden: dict[int, GoldenLog] = {}
        for chain in CHAINS:
            c, log = start_bulk_chain(chain, run_dir)
            stack.callback(chainlib.stop_chain, c)
            chains[chain] = c
            if log is not None:
                golden[chain] = log
        blue_db = run_dir / "blue.sqlite"
        shutil.copyfile(built / "belt.sqlite", blue_db)
        for log in golden.values():
            add_golden_row(blue_db, log)
        # the copies (1 GB each) go when the servers have stopped: pytest keeps the last sessions' folders
        stack.callback(_remove_copies, run_dir)
        schema = built / "schema.graphql"
        served = stack.enter_context(serve_belts({"blue": (blue_db, {"schema": schema})}))
        yield SeedWorld(run_dir, blue_db, served["blue"], schema, chains, golden, dict(info), stack)


def _remove_copies(run_dir: Path) -> None:
    for path in run_dir.glob("*.sqlite*"):
        path.unlink(missing_ok=True)
