"""`belt-gate golden capture`: pick entities from a belt, confirm their logs on L1, write fixtures.

    belt-gate golden capture --chain 8453 [--belt URL] [--rpc URL] [--entity NftTransfer ...]
                             [--count 3] [--out golden] [--schema schema.graphql]

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

if TYPE_CHECKING:  # the CLI must start fast: web3 and friends load only when capturing
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
) -> CaptureResult:
    """The first `count` rows (by id) of each mapped entity on `chain`, confirmed on L1, into `out_dir`."""
    import httpx

    from belt_gate.golden_capture import capture
    from belt_gate.sources.rpc import RpcClient

    rows: dict[str, list[dict[str, Any]]] = {}
    with httpx.Client(timeout=30) as http:
        for name in event_map:
            entity = schema.entity(name)
            if entity is None:
                raise SettingsError(f"the schema has no entity {name}")
            cols = " ".join(f.column for f in entity.columns if not f.is_list)
            query = (
                f"{{ rows: {name}(where: {{{entity.chain_column or 'chainId'}: {{_eq: {chain}}}}}, "
                f"order_by: {{id: asc}}, limit: {count}) {{ {cols} }} }}"
            )
            try:
                body = http.post(belt_url, json={"query": query}).json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SettingsError(f"{redact_url(belt_url)}: cannot read {name}: {type(exc).__name__}") from None
            if not isinstance(body, dict) or body.get("errors") or not isinstance(body.get("data"), dict):
                errors = body.get("errors") if isinstance(body, dict) else body
                raise SettingsError(f"{redact_url(belt_url)}: cannot read {name}: {str(errors)[:200]}")
            rows[name] = body["data"]["rows"]
            if not rows[name]:
                raise SettingsError(f"{redact_url(belt_url)}: no {name} rows on chain {chain}")
    with RpcClient(chain, rpc_url) as rpc:
        return capture(rows, rpc, event_map, out_dir, note=note)


def add_parser(sub: Any) -> None:
    golden = sub.add_parser("golden", help="golden events: capture fixtures from a belt, confirmed on L1")
    gsub = golden.add_subparsers(dest="golden_command", metavar="COMMAND", required=True)
    cap = gsub.add_parser("capture", help="write fixtures for entities of one chain, confirmed on L1")
    cap.add_argument("--chain", type=int, required=True)
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
    from belt_gate.golden_capture import EntityEvent
    from belt_gate.sandbox.world import load_state

    if args.count < 1:
        raise SettingsError("--count must be at least 1")
    state = load_state(args.state_dir)
    belt = args.belt or (state.summary()["blue"] if state else None)
    rpc_url = (
        args.rpc or os.environ.get(f"BELT_RPC_{args.chain}") or (state.rpc_direct.get(args.chain) if state else None)
    )
    if not belt:
        raise SettingsError("no belt: give --belt URL (or start the sandbox)")
    if not rpc_url:
        raise SettingsError(f"no RPC for chain {args.chain}: give --rpc URL or set BELT_RPC_{args.chain}")
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
    result = capture_from_belt(
        belt, rpc_url, args.chain, event_map, load_schema(args.schema), args.out, count=args.count
    )
    print(
        f"wrote {len(result.events)} golden events for chain {args.chain} to {result.path} "
        f"({result.round_trips} JSON-RPC round trips)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return capture_command(args)
    except BeltGateError as exc:
        print(f"belt-gate golden capture: {redact_text(str(exc))}", file=sys.stderr)
        return 1
