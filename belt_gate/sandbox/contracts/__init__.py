"""The sandbox's Solidity contracts: sources here, compiled artifacts committed in `artifacts.json`.

Running the sandbox only reads `artifacts.json` (no node needed); `python -m
belt_gate.sandbox.contracts.build` rebuilds it with the npm `solc` through node.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts.json"
#: Deployment order (account 0, nonces 0..3): this order fixes the contracts' addresses.
NAMES: tuple[str, ...] = ("SandboxNFT", "SandboxMulti", "SandboxActions", "SandboxLending")


@cache
def load_artifacts() -> dict[str, dict[str, Any]]:
    """name -> {"abi": [...], "bytecode": "0x..."} from the committed artifacts file."""
    data: dict[str, Any] = json.loads(ARTIFACTS.read_text())
    contracts: dict[str, dict[str, Any]] = data["contracts"]
    return contracts


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of one sandbox contract, from the committed artifacts."""
    result: list[dict[str, Any]] = load_artifacts()[name]["abi"]
    return result


def bytecode(name: str) -> str:
    """The deployment bytecode of one sandbox contract, from the committed artifacts."""
    return str(load_artifacts()[name]["bytecode"])


__all__ = ["ARTIFACTS", "NAMES", "abi", "bytecode", "load_artifacts"]
