"""Localisation against the real sandbox world (anvil chains, the reference indexer, Hasura-dialect servers):
a belt carrying the sandbox's own data faults, and the snapshot (what the plugin takes on the controller)
names each faulted row: a dropped event with its block, a corrupted field with both values, and a drop
plus a duplicate on one slice whose count is unchanged, both rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from belt_gate.plan import Case
from belt_gate.rules import evaluate
from belt_gate.sandbox.world import BeltInfo, WorldState
from belt_gate.settings import build_settings
from belt_gate.snapshot import take

pytestmark = pytest.mark.sandbox

FAULTS = (
    "drop:NftTransfer@1",
    "corrupt:Erc1155Transfer@8453:value",
    "drop:NftTransfer@8453#1",
    "dup:NftTransfer@8453#3",
)


def rows(url: str, entity: str, chain: int) -> dict[str, dict[str, Any]]:
    value = "value" if entity == "Erc1155Transfer" else "value: tokenId"
    q = f"{{ {entity}(where: {{chainId: {{_eq: {chain}}}}}, order_by: {{id: asc}}) {{ id blockNumber {value} }} }}"
    body = httpx.post(url, json={"query": q}, timeout=30).json()
    assert "errors" not in body, body
    return {r["id"]: r for r in body["data"][entity]}


def test_the_snapshot_names_every_faulted_row(
    world: WorldState, belt_factory: Callable[..., BeltInfo], tmp_path: Path
) -> None:
    s = world.summary()
    bad = belt_factory(faults=FAULTS, chains=sorted(world.belts["blue"].chains))
    blue = s["blue"]
    # what the faults did, read through both belts' GraphQL
    nft1_b, nft1_g = rows(blue, "NftTransfer", 1), rows(bad.url, "NftTransfer", 1)
    (dropped1,) = set(nft1_b) - set(nft1_g)
    nft_b, nft_g = rows(blue, "NftTransfer", 8453), rows(bad.url, "NftTransfer", 8453)
    (dropped, dup) = (*(set(nft_b) - set(nft_g)), *(set(nft_g) - set(nft_b)))
    assert len(nft_b) == len(nft_g)  # drop + dup: the count is unchanged
    erc_b, erc_g = rows(blue, "Erc1155Transfer", 8453), rows(bad.url, "Erc1155Transfer", 8453)
    (corrupted,) = [k for k in erc_b if erc_b[k] != erc_g[k]]

    cli = {"blue": blue, "green": bad.url, "schema": s["blue_schema"], "rpc": [f"{c}={u}" for c, u in s["rpc"].items()]}
    settings = build_settings(cli, {}, cwd=tmp_path)
    snap = asyncio.run(take(settings))
    found = snap["localised"]
    assert set(found) == {"NftTransfer@1", "NftTransfer@8453", "Erc1155Transfer@8453"}
    assert all(e["status"] == "located" and e["axis"] == "blockNumber" for e in found.values()), found

    e = found["NftTransfer@1"]
    assert [r["id"] for r in e["only_blue"]] == [dropped1] and e["only_green"] == e["changed"] == []
    assert e["only_blue"][0]["blockNumber"] == nft1_b[dropped1]["blockNumber"]  # located to its block
    (w,) = e["windows"]
    assert int(w["lo"]) <= int(nft1_b[dropped1]["blockNumber"]) <= int(w["hi"])

    e = found["Erc1155Transfer@8453"]
    assert e["only_blue"] == e["only_green"] == []
    v = erc_b[corrupted]["value"]
    assert e["changed"] == [{"id": corrupted, "field": "value", "blue": v, "green": str(int(v) + 1)}]

    e = found["NftTransfer@8453"]
    assert [r["id"] for r in e["only_blue"]] == [dropped] and [r["id"] for r in e["only_green"]] == [dup]
    assert dup.endswith("-dup") and dup[: -len("-dup")] in nft_b

    # the counts verdicts carry the first rows; the requests stay one per belt per round (+ the page round)
    text = evaluate(Case("counts", chain=8453, entity="NftTransfer"), snap).message
    assert f"only in blue: {dropped} (blockNumber {nft_b[dropped]['blockNumber']})" in text
    assert f"only in green: {dup} (blockNumber {nft_g[dup]['blockNumber']})" in text
    text = evaluate(Case("counts", chain=8453, entity="Erc1155Transfer"), snap).message
    assert f"{corrupted} field value: blue '{v}' != green '{int(v) + 1}'" in text
    rounds = max(x["rounds"] + x["pages"] for x in found.values())
    assert e["requests"] == {"blue": rounds, "green": rounds}
