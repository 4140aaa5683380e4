"""`belt-gate golden capture`: pick entities from a belt, confirm their logs on L1, write fixtures.

    belt-gate golden capture --chain 8453 [--belt URL] [--rpc URL] [--entity NftTransfer ...]
                             [--count 3] [--out golden] [--schema schema.graphql]

Defaults come from a running sandbox (`.belt-sandbox/state.json`): the belt is blue (what consumers see),
the RPC is the chain's. Entities the sandbox knows (NftTransfer, Erc1155Transfer) need no mapping; for
others give `--event SIGNATURE --address ADDR` once per entity. Nothing is written unless L1 confirms
every picked row.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from belt_gate.errors import BeltGateError, SettingsError
from belt_gate.redact import redact_text, redact_url

SANDBOX_EVENTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "NftTransfer": ("Transfer(address indexed from, address indexed to, uint256 indexed tokenId)",
                    "0x5fbdb2315678afecb367f032d93f642f64180aa3", {}),
    "Erc1155Transfer": ("TransferSingle(address indexed operator, address indexed from, address indexed to, "
                        "uint256 id, uint256 value)", "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512",
                        {"id": "tokenId"}),
}


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


def _sandbox_state(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "state.json"
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _find(doc: Any, key: str) -> Any:
    """The first value under `key` anywhere in a nested state document."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        for v in doc.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def capture_command(args: argparse.Namespace) -> int:
    import httpx

    from belt_gate.envio import load_schema
    from belt_gate.golden import parse_event
    from belt_gate.golden_capture import EntityEvent, capture
    from belt_gate.sources.rpc import RpcClient

    if args.count < 1:
        raise SettingsError("--count must be at least 1")
    state = _sandbox_state(args.state_dir)
    belt = args.belt or _find(state, "blue")
    rpc_map = _find(state, "rpc") or {}
    rpc_url = args.rpc or os.environ.get(f"BELT_RPC_{args.chain}") or rpc_map.get(str(args.chain))
    if not belt:
        raise SettingsError("no belt: give --belt URL (or start the sandbox)")
    if not rpc_url:
        raise SettingsError(f"no RPC for chain {args.chain}: give --rpc URL or set BELT_RPC_{args.chain}")
    entities = args.entity or sorted(SANDBOX_EVENTS)
    if args.event and len(args.event) != len(entities):
        raise SettingsError("give one --event per --entity")
    schema = load_schema(args.schema)
    event_map: dict[str, EntityEvent] = {}
    for i, name in enumerate(entities):
        params: dict[str, str]
        if args.event:
            sig, address, params = args.event[i], (args.address[i] if i < len(args.address) else ""), {}
        elif name in SANDBOX_EVENTS:
            sig, address, params = SANDBOX_EVENTS[name]
        else:
            raise SettingsError(f"no event mapping for {name}: give --event SIGNATURE --address ADDR")
        try:
            abi = parse_event(sig)
        except ValueError as exc:
            raise SettingsError(f"--event {sig!r}: {exc}") from None
        event_map[name] = EntityEvent(name, abi, addresses=(address.lower(),) if address else (), params=params)
    rows: dict[str, list[dict[str, Any]]] = {}
    with httpx.Client(timeout=30) as http:
        for name in entities:
            entity = schema.entity(name)
            if entity is None:
                raise SettingsError(f"{args.schema}: no entity {name}")
            cols = " ".join(f.column for f in entity.columns if not f.is_list)
            query = (f"{{ rows: {name}(where: {{{entity.chain_column or 'chainId'}: {{_eq: {args.chain}}}}}, "
                     f"order_by: {{id: asc}}, limit: {args.count}) {{ {cols} }} }}")
            try:
                body = http.post(belt, json={"query": query}).json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SettingsError(f"{redact_url(belt)}: cannot read {name}: {type(exc).__name__}") from None
            if body.get("errors") or not isinstance(body.get("data"), dict):
                raise SettingsError(f"{redact_url(belt)}: cannot read {name}: {str(body.get('errors'))[:200]}")
            rows[name] = body["data"]["rows"]
            if not rows[name]:
                raise SettingsError(f"{redact_url(belt)}: no {name} rows on chain {args.chain}")
    with RpcClient(args.chain, rpc_url) as rpc:
        result = capture(rows, rpc, event_map, args.out)
    print(f"wrote {len(result.events)} golden events for chain {args.chain} to {result.path} "
          f"({result.round_trips} JSON-RPC round trips)")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return capture_command(args)
    except BeltGateError as exc:
        print(f"belt-gate golden capture: {redact_text(str(exc))}", file=__import__("sys").stderr)
        return 1
