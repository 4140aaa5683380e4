"""`belt-gate golden capture`: pick entities from a belt, confirm their logs on L1, write fixtures.

    belt-gate golden capture --chain 8453 [--belt URL] [--rpc URL] [--entity NftTransfer ...]
                             [--count 3] [--out golden] [--schema schema.graphql]
    belt-gate golden capture --newer N [--chain 8453 ...] [--depth K] ...   (grow golden/ with the chains)

`--newer N` adds, per chain, the N oldest events newer than the newest golden event the chain's fixture
already holds, and only confirmed ones: at or below the chain's finalized block (the RPC's `finalized`
tag), or with `--depth K` at least K blocks below its head instead; without `--chain`, every chain with a
fixture in `--out`.
It is a reviewed change (commit the fixture diff), never something the nightly does by itself.

Defaults come from a running sandbox (`.belt-sandbox/state.json`): the belt is blue (what consumers see),
the RPC is the chain's own anvil (never a fault proxy). Entities the sandbox knows (NftTransfer,
Erc1155Transfer) need no mapping; for others give `--event SIGNATURE --address ADDR` once per entity.
Nothing is written unless L1 confirms every picked row.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from belt_gate.errors import BeltGateError, SettingsError
from belt_gate.redact import redact_text, redact_url

if TYPE_CHECKING:  # the CLI must start fast: the sources (httpx) and eth-abi load only when capturing
    from belt_gate.envio import EnvioSchema
    from belt_gate.golden_capture import CaptureResult, EntityEvent

#: Sandbox entities golden capture knows: entity -> (sandbox contract, event parameter -> entity field).
SANDBOX_ENTITIES: dict[str, tuple[str, dict[str, str]]] = {
    "NftTransfer": ("SandboxNFT", {}),
    "Erc1155Transfer": ("SandboxMulti", {"id": "tokenId"}),
}


def sandbox_event_map(entities: Sequence[str]) -> dict[str, EntityEvent]:
    """The event each sandbox entity is made of, from the sandbox's own contract table."""
    from belt_gate.golden import parse_event
    from belt_gate.golden_capture import EntityEvent
    from belt_gate.sandbox.chains import CONTRACTS, EVENT_SIGNATURES

    out = {}
    for name in entities:
        if name not in SANDBOX_ENTITIES:
            raise SettingsError(f"no event mapping for {name}: give --event SIGNATURE --address ADDR")
        contract, params = SANDBOX_ENTITIES[name]
        out[name] = EntityEvent(
            name, parse_event(EVENT_SIGNATURES[contract][0]), addresses=(CONTRACTS[contract].lower(),), params=params
        )
    return out


def capture_from_belt(
    belt_url: str,
    rpc_url: str,
    chain: int,
    event_map: Mapping[str, EntityEvent],
    schema: EnvioSchema,
    out_dir: Path,
    *,
    count: int,
    note: str = "",
    blocks: tuple[tuple[int, int], int] | None = None,
) -> CaptureResult:
    """The first `count` rows (by id) of each mapped entity on `chain`, confirmed on L1, into `out_dir`.
    `blocks` ((block, log index) after, block up to): instead, the `count` oldest rows of all mapped
    entities together that come after that log and stand at or below that block, in block and log order."""
    import httpx

    from belt_gate.golden_capture import capture
    from belt_gate.sources.graphql import Numeric, where_literal
    from belt_gate.sources.rpc import RpcClient

    rows: dict[str, list[dict[str, Any]]] = {}
    with httpx.Client(timeout=30) as http:
        for name, mapping in event_map.items():
            entity = schema.entity(name)
            if entity is None:
                raise SettingsError(f"the schema has no entity {name}")
            cols = " ".join(f.column for f in entity.columns if not f.is_list)
            conds: list[tuple[str, str, Any]] = [(entity.chain_column or "chainId", "_eq", chain)]
            later: list[list[tuple[str, str, Any]]] = []
            order = "{id: asc}"
            if blocks is not None:
                block = entity.block_column or mapping.block_field
                if block is None:
                    raise SettingsError(f"--newer needs a block number field on {name}")
                (after_block, after_log), top = blocks
                conds.append((block, "_lte", Numeric(top)))
                later = [
                    [(block, "_gt", Numeric(after_block))],
                    [(block, "_eq", Numeric(after_block)), (mapping.log_index_field, "_gt", after_log)],
                ]
                order = f"[{{{block}: asc}}, {{{mapping.log_index_field}: asc}}]"
            where = where_literal(conds, later)
            query = f"{{ rows: {name}({where}, order_by: {order}, limit: {count}) {{ {cols} }} }}"
            try:
                body = http.post(belt_url, json={"query": query}).json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SettingsError(f"{redact_url(belt_url)}: cannot read {name}: {type(exc).__name__}") from None
            if not isinstance(body, dict) or body.get("errors") or not isinstance(body.get("data"), dict):
                errors = body.get("errors") if isinstance(body, dict) else body
                raise SettingsError(f"{redact_url(belt_url)}: cannot read {name}: {str(errors)[:200]}")
            rows[name] = body["data"]["rows"]
            if not rows[name] and blocks is None:
                raise SettingsError(f"{redact_url(belt_url)}: no {name} rows on chain {chain}")
    if blocks is not None:
        rows = _oldest(rows, event_map, count)
    with RpcClient(chain, rpc_url) as rpc:
        return capture(rows, rpc, event_map, out_dir, note=note)


def _oldest(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], event_map: Mapping[str, EntityEvent], count: int
) -> dict[str, list[dict[str, Any]]]:
    """The `count` oldest rows of all entities together, by (block, log index), kept per entity."""

    def order(item: tuple[str, Mapping[str, Any]]) -> tuple[int, int]:
        name, row = item
        m = event_map[name]
        return int(str(row.get(m.block_field or "blockNumber"))), int(str(row.get(m.log_index_field)))

    picked = sorted(((n, r) for n, rs in rows.items() for r in rs), key=order)[:count]
    out: dict[str, list[dict[str, Any]]] = {}
    for name, row in picked:
        out.setdefault(name, []).append(dict(row))
    return out


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
    from belt_gate.envio import load_schema
    from belt_gate.golden import parse_event
    from belt_gate.golden_capture import NOTHING, CaptureRefused, EntityEvent
    from belt_gate.sandbox.world import load_state

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
    state = load_state(args.state_dir)
    belt = args.belt or (state.summary()["blue"] if state else None)
    if not belt:
        raise SettingsError("no belt: give --belt URL (or start the sandbox)")
    rpcs = {}
    for chain in chains:
        rpc_url = args.rpc or os.environ.get(f"BELT_RPC_{chain}") or (state.rpc_direct.get(chain) if state else None)
        if not rpc_url:
            raise SettingsError(f"no RPC for chain {chain}: give --rpc URL or set BELT_RPC_{chain}")
        rpcs[chain] = rpc_url
    entities = args.entity or sorted(SANDBOX_ENTITIES)
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
        event_map = sandbox_event_map(entities)
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
    try:
        return capture_command(args)
    except BeltGateError as exc:
        print(f"belt-gate golden capture: {redact_text(str(exc))}", file=sys.stderr)
        return 1
