"""Helpers for plugin tests: small belts written straight into SQLite, served by the real sandbox
Hasura-dialect server in its own process (real HTTP, no mocks)."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from belt_gate.envio import EnvioSchema, load_schema
from belt_gate.sandbox import procs
from belt_gate.sandbox.store import connect, create_schema
from belt_gate.sandbox.world import WorldState

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schema.graphql"
ZERO = "0x" + "0" * 40


@dataclass
class BeltData:
    """Deterministic rows of the sample schema: `per_chain` events of each entity on each chain."""

    chains: Sequence[int] = (1, 10)
    per_chain: int = 12
    processed: int = 40
    drop: set[str] = field(default_factory=set)  # ids left out
    extra_rows: int = 0  # rows appended past the others (same chain, new ids)
    corrupt: dict[str, int] = field(default_factory=dict)  # NftTransfer id -> tokenId delta
    lag: dict[int, int] = field(default_factory=dict)  # chain -> processed block instead

    def write(self, path: Path) -> Path:
        db = connect(path)
        create_schema(db, load_schema(SCHEMA))
        for chain in self.chains:
            n = self.per_chain
            for i in range(n + self.extra_rows):
                block = i + 1
                rid = f"{chain}_{block}_0"
                token = i + self.corrupt.get(rid, 0)
                if rid not in self.drop:
                    db.execute(
                        'INSERT INTO "NftTransfer" VALUES (?,?,?,?,?,?,?,?,?,?,?)',
                        (
                            rid,
                            chain,
                            "0xc0",
                            ZERO if i % 4 == 0 else "0xa1",
                            "0xb2",
                            token,
                            int(i % 4 == 0),
                            block,
                            1_700_000_000 + 12 * block,
                            f"0x{chain:08x}{i:056x}",
                            0,
                        ),
                    )
                db.execute(
                    'INSERT INTO "Erc1155Transfer" VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
                    (
                        f"{chain}_{block}_1",
                        chain,
                        "0xd0",
                        "0xo",
                        ZERO,
                        "0xb2",
                        i,
                        1 + i % 3,
                        block,
                        1_700_000_000 + 12 * block,
                        f"0x{chain:08x}{i:056x}",
                        1,
                    ),
                )
                db.execute(
                    'INSERT INTO "Action" VALUES (?,?,?,?,?,?,?,?)',
                    (
                        f"{chain}_0x{i:064x}_2",
                        chain,
                        "0xa1",
                        ["MINT", "BURN", "STAKE", "CLAIM"][i % 4],
                        i if i % 3 else None,
                        "ctx" if i % 2 else None,
                        1_700_000_000 + 12 * block,
                        f"0x{i:064x}",
                    ),
                )
            for j in range(3):
                db.execute(
                    'INSERT INTO "Loan" VALUES (?,?,?,?,?,?,?,?,?,?,?)',
                    (
                        f"{chain}_{j}",
                        chain,
                        j,
                        "0xb2",
                        100 * (j + 1),
                        999,
                        ["ACTIVE", "REPAID", "DEFAULTED"][j],
                        1_700_000_000,
                        1_700_000_100 if j == 1 else None,
                        1_700_000_200 if j == 2 else None,
                        f"0x{j:064x}",
                    ),
                )
            processed = self.lag.get(chain, self.processed)
            db.execute(
                "INSERT INTO chain_metadata VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (chain, 0, None, self.processed + 5, 1, processed, processed, 3, 4 * n, 0, None),
            )
        db.commit()
        db.close()
        return path


@dataclass
class Served:
    url: str
    pid: int
    port: int


def _start(
    db: Path,
    *,
    shape: str = "admin",
    faults: Sequence[str] = (),
    schema: Path = SCHEMA,
    aggregate_tables: str | None = None,
    secret_env: str | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    port = procs.free_port()
    argv = [
        sys.executable,
        "-m",
        "belt_gate.sandbox.hasura",
        "--db",
        str(db),
        "--schema",
        str(schema),
        "--port",
        str(port),
        "--shape",
        shape,
    ]
    for f in faults:
        argv += ["--fault", f]
    if aggregate_tables is not None:
        argv += ["--aggregate-tables", aggregate_tables]
    if secret_env:
        argv += ["--admin-secret-env", secret_env]
    return procs.spawn(argv, log or db.with_suffix(".log"), env={**os.environ, **(env or {})}), port


def _healthy(proc: subprocess.Popen[bytes], port: int) -> Served:
    procs.wait_for_port(port, pid=proc.pid, timeout=30, what="belt server")
    deadline = time.monotonic() + 30
    while True:  # listening is not yet serving: poll /healthz until it answers, within a deadline
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        assert time.monotonic() < deadline and procs.alive(proc.pid), "belt server never became healthy"
        time.sleep(0.02)
    return Served(f"http://127.0.0.1:{port}/v1/graphql", proc.pid, port)


@contextlib.contextmanager
def serve_belts(belts: Mapping[str, tuple[Path, Mapping[str, Any]]]) -> Iterator[dict[str, Served]]:
    """Several belt servers, name -> (db, options of `serve_belt`), all started before any is waited for."""
    started: list[tuple[str, subprocess.Popen[bytes], int]] = []
    try:
        for name, (db, options) in belts.items():
            started.append((name, *_start(db, **options)))
        yield {name: _healthy(proc, port) for name, proc, port in started}
    finally:
        for _, proc, _ in started:
            procs.stop(proc.pid)
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)


@contextlib.contextmanager
def serve_belt(db: Path, **options: Any) -> Iterator[Served]:
    """One belt server: `shape`, `faults`, `schema`, `aggregate_tables`, `secret_env`, `env` (added to
    the server's environment, e.g. the variable `secret_env` names), `log`."""
    with serve_belts({"belt": (db, options)}) as served:
        yield served["belt"]


# -- pytester runs of the plugin ----------------------------------------------------------------


#: Installed plugins a belt_gate run does not use; blocking them saves ~1.5 s of start-up per run
#: (hypothesis and anyio are slow to import). belt_gate still loads through its entry point.
LEAN = (
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:anyio",
    "-p",
    "no:xdist",
    "-p",
    "no:xdist.looponfail",
    "-p",
    "no:platformdirs",
)


def run(pytester: pytest.Pytester, *args: str, lean: bool | None = None) -> pytest.RunResult:
    """`lean` (default: unless the run uses xdist's `-n` or names xdist): without the plugins of LEAN."""
    if lean is None:
        lean = not any(a == "-n" or (a.startswith("-n") and a[2:].isdigit()) or "xdist" in a for a in args)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *(LEAN if lean else ()), "-rA", *args)


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """nodeid -> PASSED/FAILED from `-rA` short summary lines."""
    out = {}
    for line in result.outlines:
        m = re.match(r"^(PASSED|FAILED) belt_gate::(\S+)", line)
        if m:
            out[m.group(2)] = m.group(1)
    return out


def failed(result: pytest.RunResult) -> set[str]:
    return {k for k, v in outcomes(result).items() if v == "FAILED"}


def assert_out(result: pytest.RunResult, *parts: str) -> None:
    """Every part (a `*` separates parts that must appear in order) is on one output line."""
    for wanted in parts:
        pieces = wanted.split("*")
        for line in result.outlines:
            pos = 0
            for piece in pieces:
                pos = line.find(piece, pos)
                if pos < 0:
                    break
                pos += len(piece)
            else:
                break
        else:
            raise AssertionError(f"no output line matches {wanted!r}:\n{result.stdout.str()}")


# -- belt contents and schema files ------------------------------------------------------------


def hasura_rows(db: sqlite3.Connection, schema: EnvioSchema, entity: str) -> list[dict[str, Any]]:
    """Rows of an event entity as a Hasura belt serves them: Boolean as JSON bool, BigInt as a decimal
    string; in block and log order."""
    model = schema.entity(entity)
    assert model is not None
    kinds = {f.column: f.type_name for f in model.columns}
    cursor = db.cursor()
    cursor.row_factory = sqlite3.Row
    out = []
    for raw in cursor.execute(f'SELECT * FROM "{entity}" ORDER BY "blockNumber", "logIndex"'):
        row = dict(raw)
        for k, v in row.items():
            if kinds.get(k) == "Boolean" and v is not None:
                row[k] = bool(v)
            elif kinds.get(k) in ("BigInt", "BigDecimal") and v is not None:
                row[k] = str(v)
        out.append(row)
    return out


def expand_spreads(text: str) -> str:
    """The public-role input uses `...Interface` spreads (that repository's preprocessor, not GraphQL)."""
    text = re.sub(r"#[^\n]*", "", text)
    bodies = {m.group(1): m.group(2) for m in re.finditer(r"interface (\w+)\s*\{([^}]*)\}", text)}
    text = re.sub(r"interface \w+\s*\{[^}]*\}", "", text)
    text = re.sub(r"\s+implements\s+[\w\s&]+?(?=[@{])", " ", text)
    while "..." in text:
        text = re.sub(r"\.\.\.(\w+)", lambda m: bodies[m.group(1)], text)
    return text


# -- the shared sandbox world -------------------------------------------------------------------


def core(state: WorldState) -> tuple[list[int], list[int]]:
    """Pids and ports of the world `sandbox up` started (chains, blue, green, their proxies, the alias):
    not the belts `belt_factory` adds, which another xdist worker may stop at any moment."""
    extra = [b for name, b in state.belts.items() if name not in ("blue", "green")]
    extra_proxies = {pid for b in extra for pid in b.proxies}
    extra_pids = {b.pid for b in extra} | extra_proxies
    extra_ports = {b.port for b in extra} | {p.port for p in state.proxies if p.pid in extra_proxies}
    return (
        [pid for pid in state.pids() if pid not in extra_pids],
        [port for port in state.ports() if port not in extra_ports],
    )
