"""The sandbox world: chains, reference belts, RPC fault proxies and the Caddy alias, up and down.

    world = World(Path(".belt-sandbox"))
    state = world.up(WorldOptions(faults=("green:drop:NftTransfer@8453",)))
    extra = world.start_belt("green-2", faults=("lag:10=5",))   # another belt on the same chains
    world.down(state)

What `up` starts, all on 127.0.0.1 with OS-chosen free ports:
- one deterministic anvil per chain id (default 1, 10, 8453, 42161, 80094, 7777777), the four sandbox
  contracts deployed and `events` of deterministic traffic per entity (`belt_gate.sandbox.traffic`);
- belt `blue` indexing 1, 10, 8453, 80094 and belt `green` indexing every chain, each one process
  (`python -m belt_gate.sandbox.belt`: index, then serve Hasura-dialect GraphQL and follow new blocks);
- an RPC fault proxy per `rpc-empty:` / `rpc-5xx:` fault: the faulty belt indexes through it, and the
  world's published RPC URL for that chain becomes the proxy's (the anvil's own URL stays in `rpc_direct`);
- the alias (Caddy, admin API on loopback) pointing at blue.

Faults are `BELT:FAULT` (`green:drop:NftTransfer@8453`, grammar in `belt_gate.sandbox.faults`). skip and
extra change that belt's chain list; rpc-* put a proxy in front of the chain; enum-remove writes the
belt's own copy of schema.graphql without the value; the rest are handed to the belt process. Every belt
gets its own schema copy (`<run>/belts/<name>.schema.graphql`), published as blue_schema/green_schema.

`up` returns once every belt's chain_metadata (read from its SQLite file, so it works whatever faults
the GraphQL endpoint has) shows each of its chains processed up to that chain's head (or up to a lag
fault's block; a chain behind an `rpc-5xx` proxy is not waited for: it cannot make progress).

With `WorldOptions(indexer="envio")` (`belt-gate sandbox up --indexer envio`) the belts are real Envio
HyperIndex processes writing into a throwaway Postgres cluster, each served by the Hasura-dialect server
over its Postgres schema: blue Envio 2 on its four chains, green Envio 3 on all six (`green_envio="v2"`:
Envio 2 again, for parity). See `belt_gate.sandbox.envio.world`.

Everything started is recorded in `<state-dir>/state.json` (pids, ports, URLs, paths), written atomically
under a file lock, so `down` can run from another process and stops exactly those pids (after checking
each pid still runs the program recorded for it) and waits until every recorded port is closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from belt_gate.errors import SandboxError, SettingsError
from belt_gate.sandbox import procs
from belt_gate.sandbox.belt_info import BeltInfo
from belt_gate.sandbox.faults import Fault, parse_fault

DEFAULT_STATE_DIR = Path(".belt-sandbox")
STATE_FILE = "state.json"
DEFAULT_CHAINS: tuple[int, ...] = (1, 10, 8453, 42161, 80094, 7777777)
BLUE_CHAINS: tuple[int, ...] = (1, 10, 8453, 80094)
DEFAULT_EVENTS = 40
BELTS = ("blue", "green")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
#: what /proc/<pid>/cmdline must contain for a recorded pid to still be ours, per kind of process
_MARKERS = {
    "chain": "anvil",
    "belt": "belt_gate.sandbox.belt",
    "proxy": "belt_gate.sandbox.rpc_proxy",
    "alias": "caddy",
    "hasura": "belt_gate.sandbox.hasura",
    "envio": "envio",
    "postgres": "postgres",
}
INDEXERS = ("reference", "envio")
_children: dict[int, subprocess.Popen[bytes]] = {}  # Popen objects of belts this process started


# ---------------------------------------------------------------------------------------------
# options and state


@dataclass(frozen=True)
class WorldOptions:
    """What `World.up` builds. `faults` are `BELT:FAULT` strings (or (belt, Fault) pairs)."""

    chains: tuple[int, ...] = DEFAULT_CHAINS
    blue_chains: tuple[int, ...] | None = None  # default: BLUE_CHAINS that are in `chains`
    green_chains: tuple[int, ...] | None = None  # default: every chain
    events: int = DEFAULT_EVENTS
    faults: tuple[str, ...] = ()
    shape: str = "admin"
    alias: bool = True
    schema: Path | None = None  # the Envio schema.graphql (default: the checkout's)
    timeout: float = 60.0
    follow_interval: float = 0.5
    indexer: str = "reference"  # or "envio": real Envio HyperIndex belts in Postgres
    green_envio: str = "v3"  # with indexer envio: green's Envio ("v2" for a parity world)


@dataclass(frozen=True)
class ProxyInfo:
    """One running fault proxy: the chain it fronts, where it listens, its process, its mode and the belt it serves."""

    chain_id: int
    url: str
    port: int
    pid: int
    mode: str
    belt: str

    def to_json(self) -> dict[str, Any]:
        """The proxy as plain JSON for the world's state file."""
        return {
            "chain_id": self.chain_id,
            "url": self.url,
            "port": self.port,
            "pid": self.pid,
            "mode": self.mode,
            "belt": self.belt,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ProxyInfo:
        """The proxy `to_json` wrote."""
        return cls(int(d["chain_id"]), str(d["url"]), int(d["port"]), int(d["pid"]), str(d["mode"]), str(d["belt"]))


@dataclass
class WorldState:
    """Everything a running world is made of. `to_json()` is the state file's content."""

    state_dir: Path
    run_dir: Path
    chains: dict[int, Any]  # chain id -> belt_gate.sandbox.chains.Chain
    belts: dict[str, BeltInfo]
    proxies: list[ProxyInfo] = field(default_factory=list)
    alias: Any = None  # belt_gate.sandbox.alias.Alias | None
    rpc: dict[int, str] = field(default_factory=dict)  # published: a proxy's URL where a fault asks for one
    events: int = DEFAULT_EVENTS
    faults: tuple[str, ...] = ()
    schema: Path | None = None
    follow_interval: float = 0.5
    ready_seconds: float | None = None
    postgres: dict[str, Any] | None = None  # an Envio world's cluster (postgres.Cluster.to_dict())
    envio: dict[str, dict[str, Any]] = field(default_factory=dict)  # belt -> its Envio process (pid, port, ...)

    @property
    def state_file(self) -> Path:
        """Where the world's state is written."""
        return self.state_dir / STATE_FILE

    @property
    def rpc_direct(self) -> dict[int, str]:
        """Each chain's own anvil URL (never a proxy's)."""
        return {c: str(ch.rpc_url) for c, ch in self.chains.items()}

    def belt(self, name: str) -> BeltInfo:
        """The belt named `name`; SandboxError naming the belts there are."""
        try:
            return self.belts[name]
        except KeyError:
            raise SandboxError(f"no belt {name!r} in this world (belts: {', '.join(self.belts)})") from None

    def summary(self) -> dict[str, Any]:
        """What `sandbox up --json` prints: blue, green, alias, admin, rpc (+ schemas, pids, files)."""
        blue, green = self.belts.get("blue"), self.belts.get("green")
        return {
            "blue": blue.url if blue else None,
            "green": green.url if green else None,
            "alias": f"{self.alias.url}/v1/graphql" if self.alias else None,
            "admin": self.alias.admin_url if self.alias else None,
            "rpc": {str(c): u for c, u in sorted(self.rpc.items())},
            "rpc_direct": {str(c): u for c, u in sorted(self.rpc_direct.items())},
            "blue_schema": str(blue.schema) if blue else None,
            "green_schema": str(green.schema) if green else None,
            "blue_chains": sorted(blue.chains) if blue else [],
            "green_chains": sorted(green.chains) if green else [],
            "belts": {n: b.url for n, b in self.belts.items()},
            "faults": list(self.faults),
            "golden_events": golden_events(),
            "state_file": str(self.state_file),
            "pids": self.pids(),
            "ready_seconds": self.ready_seconds,
            "indexers": {
                n: {
                    "indexer": b.indexer,
                    "version": b.version or _reference_version(),
                    **({"ready_seconds": self.envio[n].get("ready_seconds")} if n in self.envio else {}),
                }
                for n, b in self.belts.items()
            },
        }

    def pids(self) -> list[int]:
        """Every process of the world (chains, belts, proxies, alias, Envio), to stop it."""
        out = [int(c.pid) for c in self.chains.values()] + [b.pid for b in self.belts.values()]
        out += [p.pid for p in self.proxies]
        if self.alias is not None:
            out.append(int(self.alias.pid))
        out += [int(e["pid"]) for e in self.envio.values()]
        if self.postgres:
            out.append(int(self.postgres["pid"]))
        return out

    def ports(self) -> list[int]:
        """Every port the world listens on."""
        out = [int(c.port) for c in self.chains.values()] + [b.port for b in self.belts.values()]
        out += [p.port for p in self.proxies]
        if self.alias is not None:
            out += [int(self.alias.port), int(self.alias.admin_port)]
        out += [int(e["port"]) for e in self.envio.values()]
        if self.postgres:
            out.append(int(self.postgres["port"]))
        return out

    def to_json(self) -> dict[str, Any]:
        """The world as its state file holds it (what `from_json` reads and what the CLI and the golden capture read as
        plain JSON)."""
        return {
            **self.summary(),
            "version": 1,
            "state_dir": str(self.state_dir),
            "run_dir": str(self.run_dir),
            "chains": {str(c): ch.to_dict() for c, ch in sorted(self.chains.items())},
            "belt_info": {n: b.to_json() for n, b in self.belts.items()},
            "proxies": [p.to_json() for p in self.proxies],
            "alias_info": self.alias.to_json() if self.alias else None,
            "events": self.events,
            "schema": str(self.schema) if self.schema else None,
            "follow_interval": self.follow_interval,
            "ports": self.ports(),
            "postgres": self.postgres,
            "envio": self.envio,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WorldState:
        """The world a state file describes; SandboxError when the file is damaged."""
        from belt_gate.sandbox.alias import Alias
        from belt_gate.sandbox.chains import Chain

        try:
            return cls(
                state_dir=Path(d["state_dir"]),
                run_dir=Path(d["run_dir"]),
                chains={int(c): Chain.from_dict(v) for c, v in d["chains"].items()},
                belts={n: BeltInfo.from_json(b) for n, b in d["belt_info"].items()},
                proxies=[ProxyInfo.from_json(p) for p in d.get("proxies", [])],
                alias=Alias.from_json(d["alias_info"]) if d.get("alias_info") else None,
                rpc={int(c): str(u) for c, u in d["rpc"].items()},
                events=int(d.get("events", DEFAULT_EVENTS)),
                faults=tuple(d.get("faults", ())),
                schema=Path(d["schema"]) if d.get("schema") else None,
                follow_interval=float(d.get("follow_interval", 0.5)),
                ready_seconds=d.get("ready_seconds"),
                postgres=d.get("postgres"),
                envio={str(k): dict(v) for k, v in (d.get("envio") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SandboxError(f"state file is damaged ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------
# faults


def parse_world_fault(text: str) -> tuple[str, Fault]:
    """`green:drop:NftTransfer@8453` -> ("green", Fault(drop...)). Bad text raises SettingsError."""
    belt, sep, rest = text.strip().partition(":")
    if not sep or belt not in BELTS:
        raise SettingsError(
            f"bad fault {text!r}: expected BELT:FAULT with BELT blue or green (e.g. green:drop:NftTransfer@8453)"
        )
    return belt, parse_fault(rest)


def _check_fault(f: Fault, schema: Any, chains: Sequence[int]) -> None:
    """Refuse a fault that names a chain, entity, field or enum value the world does not have."""
    if f.chain is not None and f.chain not in chains:
        raise SettingsError(f"fault {f}: chain {f.chain} is not in the world (chains: {', '.join(map(str, chains))})")
    if f.other_chain is not None and f.other_chain not in chains:
        raise SettingsError(f"fault {f}: chain {f.other_chain} is not in the world")
    if f.kind in ("drop", "dup", "corrupt", "rechain", "schema-remove", "schema-nullable", "table-remove"):
        entity = schema.entity(f.entity or "")
        if entity is None:
            raise SettingsError(f"fault {f}: no entity {f.entity} (entities: {', '.join(schema.entity_names)})")
        if f.field is not None and entity.field(f.field) is None:
            raise SettingsError(f"fault {f}: entity {f.entity} has no field {f.field}")
    if f.kind == "enum-remove":
        values = schema.enums.get(f.entity or "")
        if values is None:
            raise SettingsError(f"fault {f}: no enum {f.entity} (enums: {', '.join(schema.enums) or 'none'})")
        if f.field not in values:
            raise SettingsError(f"fault {f}: enum {f.entity} has no value {f.field}")


def remove_entity(sdl: str, entity: str) -> str:
    """The schema text without the `type ENTITY @entity { ... }` block (a table green does not have)."""
    block = re.compile(r"(?ms)^[ \t]*type\s+" + re.escape(entity) + r"\s+@entity\b.*?^\}[ \t]*\n?")
    if block.search(sdl) is None:  # up to the closing brace on a line of its own (comments hold braces)
        raise SettingsError(f"entity {entity} not found in the schema")
    return block.sub("", sdl, count=1)


def remove_enum_value(sdl: str, enum: str, value: str) -> str:
    """The schema text without `value` in `enum` (comments and layout elsewhere kept)."""
    block = re.compile(r"(\benum\s+" + re.escape(enum) + r"\s*\{)([^}]*)(\})")
    m = block.search(sdl)
    if m is None:
        raise SettingsError(f"enum {enum} not found in the schema")
    body = re.sub(r"(?m)^[ \t]*" + re.escape(value) + r"\b[^\n]*\n?", "", m.group(2))
    body = re.sub(r"\b" + re.escape(value) + r"\b", "", body)
    return sdl[: m.start()] + m.group(1) + body + m.group(3) + sdl[m.end() :]


# ---------------------------------------------------------------------------------------------
# state file helpers


def load_state(state_dir: Path = DEFAULT_STATE_DIR) -> WorldState | None:
    """The recorded world in `state_dir`, or None when there is no state file."""
    path = Path(state_dir) / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SandboxError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise SandboxError(f"{path} is not JSON: remove it if no sandbox runs") from None
    return WorldState.from_json(data)


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def is_ours(pid: int, kind: str) -> bool:
    """True when `pid` runs and (where /proc tells) still runs the program recorded for it."""
    if not procs.alive(pid):
        return False
    cmd = _cmdline(pid)
    return cmd is None or _MARKERS[kind] in cmd


def _processes(state: WorldState) -> list[tuple[str, int]]:
    out = [("hasura" if b.indexer == "envio" else "belt", b.pid) for b in state.belts.values()]
    out += [("envio", int(e["pid"])) for e in state.envio.values()]
    out += [("proxy", p.pid) for p in state.proxies]
    if state.alias is not None:
        out.append(("alias", int(state.alias.pid)))
    out += [("chain", int(c.pid)) for c in state.chains.values()]
    if state.postgres:
        out.append(("postgres", int(state.postgres["pid"])))
    return out


def _reference_version() -> str:
    from belt_gate import __version__

    return f"belt_gate {__version__}"


def running(state: WorldState) -> bool:
    """True when every recorded process of the world still runs."""
    return all(is_ours(pid, kind) for kind, pid in _processes(state))


def _write_state(state: WorldState) -> None:
    state.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state.state_file.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(state.to_json(), indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(state.state_file)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    from filelock import FileLock

    Path(state_dir).mkdir(parents=True, exist_ok=True)
    with FileLock(str(Path(state_dir) / "state.lock"), timeout=120):
        yield


# ---------------------------------------------------------------------------------------------
# readiness


def _targets(
    belt: BeltInfo, heads: Mapping[int, int], faults: Iterable[Fault], broken: Iterable[int]
) -> dict[int, int]:
    """Chain -> the block the belt must have processed to be ready (chains it cannot index: absent)."""
    out: dict[int, int] = {}
    dead = set(broken)
    for c in belt.chains:
        if c in dead:
            continue
        target = heads[c]
        for f in faults:
            if f.kind == "lag" and f.chain == c and f.block is not None:
                target = min(target, f.block)
        out[c] = target
    return out


def _processed(db: Path) -> dict[int, int]:
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = con.execute("SELECT chain_id, latest_processed_block FROM chain_metadata").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return {}
    return {int(c): int(b) for c, b in rows if b is not None}


def wait_ready(belt: BeltInfo, targets: Mapping[int, int], *, deadline: float) -> None:
    """Poll until the belt serves and its chain_metadata reaches `targets`; SandboxError at the deadline."""
    procs.wait_for_port(
        belt.port, pid=belt.pid, timeout=max(0.1, deadline - time.monotonic()), what=f"belt {belt.name}"
    )
    while True:
        done = _processed(belt.db)
        behind = {c: (done.get(c), t) for c, t in targets.items() if done.get(c, -1) < t}
        if not behind:
            return
        if not procs.alive(belt.pid):
            raise SandboxError(f"belt {belt.name} (pid {belt.pid}) died; see {belt.log}")
        if time.monotonic() > deadline:
            detail = ", ".join(f"chain {c} at {d} of {t}" for c, (d, t) in sorted(behind.items()))
            raise SandboxError(f"belt {belt.name} not caught up in time: {detail}; see {belt.log}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# the world


class World:
    """Bring a sandbox world up in `state_dir`, add belts to it, take it down."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.state: WorldState | None = None

    # -- up ------------------------------------------------------------------------------------

    def up(self, options: WorldOptions | None = None) -> WorldState:
        """Start everything, wait until every belt is caught up, write the state file, return the state."""
        from belt_gate.envio import load_schema
        from belt_gate.sandbox.tools import project_root

        opts = options or WorldOptions()
        began = time.monotonic()
        chain_ids = tuple(dict.fromkeys(opts.chains))
        if not chain_ids:
            raise SettingsError("the world needs at least one chain")
        if opts.events < 1 or opts.events > 1_000_000:
            raise SettingsError(f"--events must be between 1 and 1000000, not {opts.events}")
        if opts.shape not in ("admin", "public", "newer"):
            raise SettingsError(f"shape must be admin, public or newer, not {opts.shape!r}")
        if opts.indexer not in INDEXERS:
            raise SettingsError(f"--indexer must be one of {', '.join(INDEXERS)}, not {opts.indexer!r}")
        if opts.indexer == "envio" and opts.faults:
            raise SettingsError("faults apply to the reference indexer only (--indexer reference)")
        schema_path = (opts.schema or project_root() / "schema.graphql").absolute()
        schema = load_schema(schema_path)
        parsed = [parse_world_fault(f) for f in opts.faults]
        for _, f in parsed:
            _check_fault(f, schema, chain_ids)
        base = {
            "blue": [
                c
                for c in (opts.blue_chains if opts.blue_chains is not None else BLUE_CHAINS)
                if opts.blue_chains is not None or c in chain_ids
            ],
            "green": list(opts.green_chains if opts.green_chains is not None else chain_ids),
        }
        for name, cs in base.items():
            missing = [c for c in cs if c not in chain_ids]
            if missing:
                raise SettingsError(f"{name} chains {missing} are not in the world's chains {list(chain_ids)}")

        with _locked(self.state_dir):
            old = load_state(self.state_dir)
            if old is not None:
                if any(is_ours(pid, kind) for kind, pid in _processes(old)):
                    raise SandboxError(
                        f"a sandbox world already runs in {self.state_dir} "
                        "(`belt-gate sandbox status`; `belt-gate sandbox down` first)"
                    )
                self._stop_all(old)
                old.state_file.unlink(missing_ok=True)
            run_dir = self.state_dir / "run"
            shutil.rmtree(run_dir, ignore_errors=True)
            (run_dir / "belts").mkdir(parents=True)
            state = WorldState(
                self.state_dir,
                run_dir,
                {},
                {},
                events=opts.events,
                faults=tuple(f"{b}:{f}" for b, f in parsed),
                schema=schema_path,
                follow_interval=opts.follow_interval,
            )
            try:
                self._up(state, opts, schema_path, parsed, base, began)
            except BaseException:
                self._stop_all(state)
                raise
            state.ready_seconds = round(time.monotonic() - began, 3)
            _write_state(state)
        self.state = state
        return state

    def _up(
        self,
        state: WorldState,
        opts: WorldOptions,
        schema_path: Path,
        parsed: list[tuple[str, Fault]],
        base: dict[str, list[int]],
        began: float,
    ) -> None:
        from belt_gate.sandbox import chains as chainlib
        from belt_gate.sandbox import traffic

        deadline = began + opts.timeout

        def make(chain_id: int) -> Any:
            chain = chainlib.start_chain(chain_id, run_dir=state.run_dir)
            state.chains[chain_id] = chain  # recorded before anything else can fail
            chainlib.deploy(chain)
            traffic.traffic(chain, opts.events)
            return chain

        with ThreadPoolExecutor(max_workers=len(opts.chains)) as pool:
            futures = [pool.submit(make, c) for c in dict.fromkeys(opts.chains)]
            errors = [f.exception() for f in futures]
        for exc in errors:
            if exc is not None:
                raise exc
        state.rpc = state.rpc_direct
        _write_state(state)  # so `down` finds the chains even if what follows fails

        pending: list[tuple[BeltInfo, dict[int, int]]] = []
        envio_waiters: list[Any] = []
        if opts.indexer == "envio":
            from belt_gate.sandbox.envio.world import spawn_envio_belts

            envio_waiters = spawn_envio_belts(state, opts.green_envio, lambda: _write_state(state))
        for name in BELTS if opts.indexer == "reference" else ():
            faults = [f for b, f in parsed if b == name]
            belt, targets = self._spawn_belt(state, name, base[name], faults, shape=opts.shape, publish=True)
            pending.append((belt, targets))
        _write_state(state)
        if opts.alias:
            from belt_gate.sandbox.alias import start_alias

            state.alias = start_alias(state.run_dir, f"127.0.0.1:{state.belts['blue'].port}")
            _write_state(state)
        for belt, targets in pending:
            wait_ready(belt, targets, deadline=deadline)
        for wait in envio_waiters:
            wait(deadline)

    def _spawn_belt(
        self,
        state: WorldState,
        name: str,
        chain_list: Sequence[int],
        faults: Sequence[Fault],
        *,
        shape: str,
        publish: bool,
    ) -> tuple[BeltInfo, dict[int, int]]:
        """Start one belt process (and its RPC proxies) against the world's chains; does not wait."""
        from belt_gate.sandbox import chains as chainlib
        from belt_gate.sandbox.belt import belt_argv
        from belt_gate.sandbox.indexer import chain_set
        from belt_gate.sandbox.rpc_proxy import mode_for, start_rpc_proxy

        if not _NAME.match(name):
            raise SettingsError(f"bad belt name {name!r}: letters, digits, '.', '_' or '-' (at most 63)")
        if name in state.belts and procs.alive(state.belts[name].pid):
            raise SandboxError(f"belt {name!r} already runs (pid {state.belts[name].pid})")
        available = sorted(state.chains)
        chosen = chain_set(chain_list, faults, available)
        direct = state.rpc_direct
        urls: dict[int, str] = {}
        proxy_pids: list[int] = []
        broken: list[int] = []
        for c in chosen:
            mode = mode_for(c, faults)
            if mode == "pass":
                urls[c] = direct[c]
                continue
            url, pid = start_rpc_proxy(direct[c], mode, state.run_dir)
            port = int(url.rsplit(":", 1)[1])
            state.proxies.append(ProxyInfo(c, url, port, pid, mode, name))
            proxy_pids.append(pid)
            urls[c] = url
            if publish:
                state.rpc[c] = url
            if mode == "5xx":
                broken.append(c)
        # a rpc fault on a chain the belt does not index still publishes a faulty RPC for it
        for f in faults:
            if f.kind in ("rpc-empty", "rpc-5xx") and f.chain is not None and f.chain not in chosen:
                mode = mode_for(f.chain, faults)
                url, pid = start_rpc_proxy(direct[f.chain], mode, state.run_dir)
                state.proxies.append(ProxyInfo(f.chain, url, int(url.rsplit(":", 1)[1]), pid, mode, name))
                proxy_pids.append(pid)
                if publish:
                    state.rpc[f.chain] = url

        base_schema = state.schema or Path(__file__).resolve().parents[2] / "schema.graphql"
        sdl = base_schema.read_text(encoding="utf-8")
        for f in faults:
            if f.kind == "enum-remove":
                sdl = remove_enum_value(sdl, f.entity or "", f.field or "")
            if f.kind == "table-remove":
                sdl = remove_entity(sdl, f.entity or "")
        schema_file = state.run_dir / "belts" / f"{name}.schema.graphql"
        schema_file.write_text(sdl, encoding="utf-8")
        db = state.run_dir / "belts" / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        log = state.run_dir / "belts" / f"{name}.log"
        port = procs.free_port()
        passed = [
            f for f in faults if f.kind not in ("skip", "extra", "rpc-empty", "rpc-5xx", "enum-remove", "table-remove")
        ]
        argv = belt_argv(
            db=db,
            schema=schema_file,
            chains=urls,
            port=port,
            faults=passed,
            shape=shape,
            follow_interval=state.follow_interval,
        )
        proc = procs.spawn(argv, log)
        _children[proc.pid] = proc
        belt = BeltInfo(
            name,
            f"http://127.0.0.1:{port}/v1/graphql",
            port,
            proc.pid,
            db,
            schema_file,
            log,
            urls,
            tuple(str(f) for f in faults),
            shape,
            tuple(proxy_pids),
        )
        state.belts[name] = belt
        heads = dict(zip(chosen, [chainlib.head(direct[c]) for c in chosen], strict=True))
        return belt, _targets(belt, heads, faults, broken)

    # -- more belts ------------------------------------------------------------------------------

    def start_belt(
        self,
        name: str,
        chains: Sequence[int] | None = None,
        faults: Sequence[str | Fault] = (),
        *,
        shape: str = "admin",
        timeout: float = 60.0,
    ) -> BeltInfo:
        """Start one more belt on the running world's chains (default: all of them) and wait until ready.

        `faults` are plain fault strings (no `BELT:` prefix). RPC faults get their own proxy, used by
        this belt only (the world's published RPC URLs do not change). The belt is recorded in the
        state file, so `down` stops it too; `stop_belt` stops it earlier.
        """
        from belt_gate.envio import load_schema

        state = self._current()
        fs = [parse_fault(f) if isinstance(f, str) else f for f in faults]
        schema = load_schema(state.schema) if state.schema else None
        for f in fs:
            if schema is not None:
                _check_fault(f, schema, sorted(state.chains))
        chain_list = list(chains) if chains is not None else sorted(state.chains)
        missing = [c for c in chain_list if c not in state.chains]
        if missing:
            raise SettingsError(f"chains {missing} are not in the world's chains {sorted(state.chains)}")
        began = time.monotonic()
        with _locked(self.state_dir):
            fresh = load_state(self.state_dir) or state
            if name in fresh.belts and is_ours(fresh.belts[name].pid, "belt"):
                raise SandboxError(f"belt {name!r} already runs (pid {fresh.belts[name].pid})")
            try:
                belt, targets = self._spawn_belt(fresh, name, chain_list, fs, shape=shape, publish=False)
            except BaseException:
                self._stop_belt_procs(fresh.belts.get(name))
                raise
            _write_state(fresh)
        self.state = fresh
        try:
            wait_ready(belt, targets, deadline=began + timeout)
        except BaseException:
            self.stop_belt(name)
            raise
        return belt

    def stop_belt(self, name: str) -> None:
        """Stop one belt (and the RPC proxies started for it) and forget it in the state file."""
        with _locked(self.state_dir):
            state = load_state(self.state_dir) or self._current()
            belt = state.belts.pop(name, None)
            if belt is None:
                return
            self._stop_belt_procs(belt)
            state.proxies = [p for p in state.proxies if p.pid not in belt.proxies]
            _write_state(state)
        self.state = state

    def _stop_belt_procs(self, belt: BeltInfo | None) -> None:
        if belt is None:
            return
        _stop_pid(belt.pid, "belt")
        for pid in belt.proxies:
            _stop_pid(pid, "proxy")
        _wait_closed([belt.port], timeout=10)

    def _current(self) -> WorldState:
        state = self.state or load_state(self.state_dir)
        if state is None:
            raise SandboxError(f"no sandbox world runs in {self.state_dir} (`belt-gate sandbox up`)")
        self.state = state
        return state

    # -- down ------------------------------------------------------------------------------------

    def down(self, state: WorldState | None = None) -> list[int]:
        """Stop every recorded process (by pid), wait until every recorded port is closed, forget the state.

        Returns the pids that were stopped. Safe to call twice; processes already gone are skipped.
        """
        with _locked(self.state_dir):
            current = load_state(self.state_dir) or state or self.state
            if current is None:
                return []
            stopped = self._stop_all(current)
            current.state_file.unlink(missing_ok=True)
        self.state = None
        return stopped

    def _stop_all(self, state: WorldState) -> list[int]:
        stopped: list[int] = []
        for kind, pid in _processes(state):
            if kind == "alias" and state.alias is not None and is_ours(pid, kind):
                from belt_gate.sandbox.alias import stop_alias

                stop_alias(state.alias)
                stopped.append(pid)
            elif kind == "postgres":
                from belt_gate.sandbox.envio.world import stop_cluster_of

                if stop_cluster_of(state):
                    stopped.append(pid)
            elif _stop_pid(pid, kind):
                stopped.append(pid)
        _wait_closed(state.ports(), timeout=15)
        return stopped


def _stop_pid(pid: int, kind: str) -> bool:
    if not is_ours(pid, kind):
        return False
    procs.stop(pid)
    child = _children.pop(pid, None)
    if child is not None:
        child.poll()
    return True


def _wait_closed(ports: Iterable[int], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while procs.port_open(port):
            if time.monotonic() > deadline:
                raise SandboxError(f"port 127.0.0.1:{port} is still open after stopping the world")
            time.sleep(0.02)


#: Sandbox entities golden capture knows: entity -> (sandbox contract, event parameter -> entity field).
GOLDEN_ENTITIES: dict[str, tuple[str, dict[str, str]]] = {
    "NftTransfer": ("SandboxNFT", {}),
    "Erc1155Transfer": ("SandboxMulti", {"id": "tokenId"}),
}


def golden_events() -> dict[str, dict[str, Any]]:
    """The event each sandbox entity is made of, as `state.json` publishes it for `belt-gate golden capture`."""
    from belt_gate.sandbox.chains import CONTRACTS, EVENT_SIGNATURES

    return {
        name: {"event": EVENT_SIGNATURES[contract][0], "addresses": [CONTRACTS[contract].lower()], "params": params}
        for name, (contract, params) in GOLDEN_ENTITIES.items()
    }


def sandbox_event_map(entities: Sequence[str]) -> dict[str, Any]:
    """entity -> golden_capture.EntityEvent of the sandbox's own contracts."""
    from belt_gate.golden import parse_event
    from belt_gate.golden_capture import EntityEvent

    table = golden_events()
    unknown = [name for name in entities if name not in table]
    if unknown:
        raise SettingsError(f"no sandbox event mapping for {', '.join(unknown)}")
    return {
        name: EntityEvent(
            name,
            parse_event(table[name]["event"]),
            addresses=tuple(table[name]["addresses"]),
            params=table[name]["params"],
        )
        for name in entities
    }


def capture_golden(
    state: WorldState, out_dir: Path, chains: Iterable[int], *, belt: str = "green", per_chain: int = 2
) -> Path:
    """Golden fixtures for `chains`: `per_chain` NftTransfer rows of `belt`, each confirmed on the chain's
    own anvil (never a fault proxy); nothing is written that L1 does not confirm."""
    from belt_gate.envio import load_schema
    from belt_gate.golden_capture import capture_from_belt

    source = state.belt(belt)
    schema = load_schema(source.schema)
    for chain in chains:
        capture_from_belt(
            source.url,
            state.rpc_direct[chain],
            chain,
            sandbox_event_map(["NftTransfer"]),
            schema,
            out_dir,
            count=per_chain,
            note="captured by the sandbox",
        )
    return out_dir


def with_faults(options: WorldOptions, *faults: str) -> WorldOptions:
    """A copy of `options` with more `BELT:FAULT` faults."""
    return replace(options, faults=(*options.faults, *faults))


def committed_golden(state: WorldState) -> Path | None:
    """The project's golden/ fixtures, which fit only the default (deterministic, fault-free) world."""
    from belt_gate.sandbox.chains import DEFAULT_CHAIN_IDS
    from belt_gate.sandbox.tools import project_root

    golden = project_root() / "golden"
    default = state.events == DEFAULT_EVENTS and not state.faults and sorted(state.chains) == sorted(DEFAULT_CHAIN_IDS)
    return golden if default and golden.is_dir() else None


__all__ = [
    "BELTS",
    "BLUE_CHAINS",
    "DEFAULT_CHAINS",
    "DEFAULT_STATE_DIR",
    "BeltInfo",
    "ProxyInfo",
    "World",
    "WorldOptions",
    "WorldState",
    "capture_golden",
    "committed_golden",
    "golden_events",
    "is_ours",
    "load_state",
    "parse_world_fault",
    "remove_enum_value",
    "running",
    "sandbox_event_map",
    "wait_ready",
    "with_faults",
]
