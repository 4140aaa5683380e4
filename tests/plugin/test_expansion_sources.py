"""Expansion on shared chains: exact where green reads the same sources as blue (rows it adds there are
duplicates); allowed to grow, never to shrink, where green's config.yaml reads more than blue's."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belts
from tests.support.runs import failed, line_with, outcomes, run

pytest_plugins = ["pytester"]
SCHEMAS = [f"--belt-schema={SCHEMA}", f"--belt-blue-schema={SCHEMA}", f"--belt-green-schema={SCHEMA}"]
NFT = "0x00000000000000000000000000000000000000a1"
CONFIG = """name: demo
contracts:
  - name: Nft
    events: [{{event: "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"}}]
networks:
  - id: 1
    start_block: 0
    contracts: [{{name: Nft, address: ["{one}"]}}]
  - id: 10
    start_block: 0
    contracts: [{{name: Nft, address: [{ten}]}}]
"""


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("belts")
    variants = {"blue": BeltData(), "grown": BeltData(extra_rows=1)}  # one more row of each entity per chain
    with serve_belts({name: (data.write(d / f"{name}.db"), {}) for name, data in variants.items()}) as served:
        yield served


def test_rows_added_on_a_chain_with_the_same_sources_fail(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    pytester.makefile(".yaml", config=CONFIG.format(one=NFT, ten=f'"{NFT}"'))
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['grown'].url}",
        *SCHEMAS,
        "--belt-mode=expansion",
        "-k",
        "counts and not Loan",
    )
    assert failed(result) == {
        f"counts[{e}@{c}]" for e in ("NftTransfer", "Erc1155Transfer", "Action") for c in (1, 10)
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        line_with(
            "NftTransfer@10 at block <= 40: count blue 12 != green 13 (delta +1, allowed 0) - expansion "
            "compares exactly*--belt-blue-envio-config"
        )
    )


def test_a_chain_where_green_reads_a_new_contract_may_grow(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    """Green's config.yaml adds a contract address on chain 10 only: chain 10 may grow, chain 1 stays exact."""
    pytester.makefile(".yaml", config=CONFIG.format(one=NFT, ten=f'"{NFT}", "0x{"b" * 40}"'))
    blue = pytester.mkdir("blue") / "config.yaml"
    blue.write_text(CONFIG.format(one=NFT, ten=f'"{NFT}"'))
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['grown'].url}",
        *SCHEMAS,
        "--belt-mode=expansion",
        "--belt-blue-envio-config=blue/config.yaml",
        "-k",
        "counts and not Loan",
        "--belt-report=cert.json",
    )
    got = outcomes(result)
    assert failed(result) == {f"counts[{e}@1]" for e in ("NftTransfer", "Erc1155Transfer", "Action")}
    assert got["counts[NftTransfer@10]"] == "PASSED"
    doc = json.loads((pytester.path / "cert.json").read_text())
    verdicts = {v["id"]: v for v in doc["verdicts"]}
    assert verdicts["counts[NftTransfer@10]"]["verdict"] == (
        "NftTransfer@10 at block <= 40: green 13 >= blue 12 (green reads more sources here)"
    )
    # reconciliation B without an RPC compares the current state: on chain 10 it may grow there too
    assert verdicts["counts[Action@10]"]["outcome"] == "passed"
    assert verdicts["counts[Action@10]"]["verdict"].endswith(": green 13 >= blue 12 (green reads more sources here)")
    assert doc["settings"]["growing_chains"] == [10]
    # the certificate is the plan: what -k left out is listed as not run, and a partial run is not certified
    ran = {f"counts[{e}@{c}]" for e in ("NftTransfer", "Erc1155Transfer", "Action") for c in (1, 10)}
    assert {i for i, v in verdicts.items() if v["outcome"] != "not-run"} == ran
    assert doc["planned"] == len(verdicts) > len(ran) == doc["ran"]
    assert doc["certified"] is False and doc["complete"] is False
    assert f"partial run ({len(ran)} of {doc['planned']} planned cases ran)" in doc["reasons"]
