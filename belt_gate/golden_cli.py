"""`belt-gate golden capture`: pick entities from a belt, confirm their logs on L1, write fixtures.

    belt-gate golden capture --chain 8453 [--belt URL] [--rpc URL] [--entity NftTransfer ...]
                             [--count 3] [--out golden] [--schema schema.graphql]
    belt-gate golden capture --newer N [--chain 8453 ...] [--depth K] ...   (grow golden/ with the chains)

`--newer N` adds, per chain, the N oldest events newer than the newest golden event the chain's fixture
already holds, and only confirmed ones: at or below the chain's finalized block (the RPC's `finalized`
tag), or with `--depth K` at least K blocks below its head instead; without `--chain`, every chain with a
fixture in `--out`.
It is a reviewed change (commit the fixture diff), never something the nightly does by itself.

Defaults come from a running sandbox (`.belt-sandbox/state.json`, read as JSON): the belt is blue (what
consumers see), the RPC is the chain's own anvil (never a fault proxy), and the entities the sandbox
publishes (NftTransfer, Erc1155Transfer) need no mapping. Without one, `--newer` grows the fixtures with
the events they already hold; otherwise give `--event SIGNATURE --address ADDR` once per entity.
Nothing is written unless L1 confirms every picked row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from belt_gate.errors import BeltGateError, SettingsError
from belt_gate.redact import redact_text

if TYPE_CHECKING:  # the CLI must start fast: the sources (httpx) and eth-abi load only when capturing
    from belt_gate.golden_capture import EntityEvent


def _sandbox_state(state_dir: Path) -> dict[str, Any]:
    """What a running sandbox published in `<state-dir>/state.json` (blue, the chains' own RPCs, the
    events its entities are made of), read as plain JSON: the CLI imports nothing of the sandbox."""
    path = state_dir / "state.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read the sandbox state {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise SettingsError(f"the sandbox state {path} is not a JSON object")
    return doc


def _events_from(table: Mapping[str, Any], entities: Sequence[str], where: str) -> dict[str, EntityEvent]:
    """entity -> EntityEvent from a table {entity: {event, addresses, params}} (the sandbox state's)."""
    from belt_gate.golden import parse_event
    from belt_gate.golden_capture import EntityEvent

    out = {}
    for name in entities:
        entry = table.get(name)
        if not isinstance(entry, Mapping):
            raise SettingsError(f"no event mapping for {name}: give --event SIGNATURE --address ADDR")
        try:
            event = parse_event(entry["event"])
            addresses = tuple(str(a).lower() for a in entry.get("addresses", ()))
            params = {str(k): str(v) for k, v in dict(entry.get("params") or {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"{where}: the event mapping of {name} is malformed: {exc}") from None
        out[name] = EntityEvent(name, event, addresses=addresses, params=params)
    return out


def _fixture_events(out_dir: Path, chains: Sequence[int]) -> dict[str, Any]:
    """{entity: {event, addresses, params}} of the golden events `out_dir` holds for `chains`: what
    `--newer` grows the fixtures with when no mapping is given."""
    from belt_gate.golden import parse_fixture

    table: dict[str, Any] = {}
    for chain in chains:
        path = out_dir / f"{chain}.yaml"
        if not path.is_file():
            continue
        for e in parse_fixture(path.read_text(), str(path)):
            entry = table.setdefault(e.entity, {"event": e.event.describe(), "addresses": [], "params": dict(e.params)})
            if e.address not in entry["addresses"]:
                entry["addresses"].append(e.address)
    return table


def newest_golden_log(out_dir: Path, chain: int) -> tuple[int, int] | None:
    """(block, log index) of the newest golden event `out_dir/<chain>.yaml` holds (None: none)."""
    from belt_gate.golden import parse_fixture

    path = out_dir / f"{chain}.yaml"
    if not path.is_file():
        return None
    events = [e for e in parse_fixture(path.read_text(), str(path)) if e.chain == chain]
    return max(((e.block_number, e.log_index) for e in events), default=None)


def confirmed_limit(rpc_url: str, chain: int, depth: int | None) -> tuple[int, int, str]:
    """(head, highest confirmed block, how it was chosen): head - depth when a depth is given, else the
    chain's finalized block (SettingsError when its RPC does not know the tag)."""
    from belt_gate.sources.rpc import RpcClient

    with RpcClient(chain, rpc_url) as rpc:
        heads = rpc.heads()
    if depth is not None:
        return heads.head, heads.head - depth, f"head {heads.head} - depth {depth}"
    if heads.finalized is None:
        raise SettingsError(f"chain {chain}: the RPC does not know the finalized block: give --depth K")
    return heads.head, heads.finalized, f"finalized, head {heads.head}"


def add_parser(sub: Any) -> None:
    """Add `golden capture` and its options to the `belt-gate` command's subparsers."""
    golden = sub.add_parser("golden", help="golden events: capture fixtures from a belt, confirmed on L1")
    gsub = golden.add_subparsers(dest="golden_command", metavar="COMMAND", required=True)
    cap = gsub.add_parser("capture", help="write fixtures for entities of one chain, confirmed on L1")
    cap.add_argument("--chain", type=int, action="append", default=[], help="chain id (repeatable with --newer)")
    cap.add_argument(
        "--newer",
        type=int,
        metavar="N",
        help="add N confirmed events per chain newer than its newest golden event (default: all fixture chains)",
    )
    cap.add_argument(
        "--depth", type=int, help="with --newer: blocks below the head an event must be (default: finalized)"
    )
    cap.add_argument("--belt", help="GraphQL URL to pick rows from (default: the sandbox's blue)")
    cap.add_argument("--rpc", help="the chain's JSON-RPC URL (default: BELT_RPC_<CHAIN>, or the sandbox's)")
    cap.add_argument("--entity", action="append", default=[], help="entity to capture (repeatable)")
    cap.add_argument("--event", action="append", default=[], help="event signature, one per --entity")
    cap.add_argument("--address", action="append", default=[], help="contract address, one per --entity")
    cap.add_argument("--count", type=int, default=3, help="rows per entity (default 3)")
    cap.add_argument("--out", type=Path, default=Path("golden"))
    cap.add_argument("--schema", type=Path, default=Path("schema.graphql"))
    cap.add_argument("--state-dir", type=Path, default=Path(".belt-sandbox"))


def capture_command(args: argparse.Namespace) -> int:
    """Capture golden events as `args` say (one chain, or with `--newer` every chain's newer confirmed events) and print
    what was written; SettingsError on a usage problem, CaptureRefused when L1 does not confirm the rows."""
    from belt_gate.envio import load_schema
    from belt_gate.golden import parse_event
    from belt_gate.golden_capture import NOTHING, CaptureRefused, EntityEvent, capture_from_belt

    if args.count < 1:
        raise SettingsError("--count must be at least 1")
    if args.newer is not None and args.newer < 1:
        raise SettingsError("--newer must be at least 1")
    if args.depth is not None and args.depth < 0:
        raise SettingsError("--depth must not be negative")
    chains: list[int] = list(dict.fromkeys(args.chain))
    if args.newer is None and len(chains) != 1:
        raise SettingsError("give one --chain (several only with --newer)")
    if args.newer is not None and not chains:
        chains = sorted(int(p.stem) for p in args.out.glob("*.yaml") if p.stem.isdigit())
        if not chains:
            raise SettingsError(f"--newer: no golden fixtures in {args.out} to grow (give --chain)")
    if args.rpc and len(chains) > 1:
        raise SettingsError("--rpc names one chain's RPC: with several chains use BELT_RPC_<CHAIN>")
    state = _sandbox_state(args.state_dir)
    belt = args.belt or state.get("blue")
    if not belt:
        raise SettingsError("no belt: give --belt URL (or start the sandbox)")
    rpcs = {}
    for chain in chains:
        rpc_url = args.rpc or os.environ.get(f"BELT_RPC_{chain}") or (state.get("rpc_direct") or {}).get(str(chain))
        if not rpc_url:
            raise SettingsError(f"no RPC for chain {chain}: give --rpc URL or set BELT_RPC_{chain}")
        rpcs[chain] = rpc_url
    known: Mapping[str, Any] = state.get("golden_events") or {}
    where = str(args.state_dir / "state.json")
    if not known and args.newer is not None and not args.event:
        known, where = _fixture_events(args.out, chains), str(args.out)
    entities = args.entity or sorted(known)
    if not entities:
        raise SettingsError("no entity to capture: give --entity NAME --event SIGNATURE --address ADDR")
    if args.event:
        if len(args.event) != len(entities):
            raise SettingsError("give one --event per --entity")
        event_map = {}
        for i, name in enumerate(entities):
            try:
                abi = parse_event(args.event[i])
            except ValueError as exc:
                raise SettingsError(f"--event {args.event[i]!r}: {exc}") from None
            address = args.address[i].lower() if i < len(args.address) else ""
            event_map[name] = EntityEvent(name, abi, addresses=(address,) if address else ())
    else:
        event_map = _events_from(known, entities, where)
    schema = load_schema(args.schema)
    if args.newer is None:
        (chain,) = chains
        result = capture_from_belt(belt, rpcs[chain], chain, event_map, schema, args.out, count=args.count)
        print(
            f"wrote {len(result.events)} golden events for chain {chain} to {result.path} "
            f"({result.round_trips} JSON-RPC round trips)"
        )
        return 0
    for chain in chains:  # every chain's candidates are confirmed before the next chain is read
        newest = newest_golden_log(args.out, chain)
        after = (-1, -1) if newest is None else newest
        _, top, how = confirmed_limit(rpcs[chain], chain, args.depth)
        since = "the chain's start" if newest is None else f"block {newest[0]} log {newest[1]}"
        if top < after[0]:
            print(f"chain {chain}: no confirmed block after {since} yet (confirmed up to {top}: {how})")
            continue
        try:
            result = capture_from_belt(
                belt, rpcs[chain], chain, event_map, schema, args.out, count=args.newer, blocks=(after, top)
            )
        except CaptureRefused as exc:
            if exc.problems == [NOTHING]:
                print(f"chain {chain}: no event after {since} up to confirmed block {top} ({how})")
                continue
            raise
        print(
            f"chain {chain}: added {len(result.events)} golden events after {since}, confirmed up to block "
            f"{top} ({how}), to {result.path}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Run `belt-gate golden capture`: the environment's secrets and the `--belt` and `--rpc` URLs given are
    hidden in its output (the set it replaces is put back at the end); a refusal is one line and exit 1."""
    from belt_gate import redact
    from belt_gate.settings import environment_secrets

    previous = redact.use(environment_secrets() | redact.Secrets.of(args.belt, args.rpc))
    try:
        return capture_command(args)
    except BeltGateError as exc:
        print(f"belt-gate golden capture: {redact_text(str(exc))}", file=sys.stderr)
        return 1
    finally:
        redact.use(previous)
