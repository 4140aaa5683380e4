"""What the nightly's tests share: the replay's socket guard, audit tables on the sandbox contracts, golden
fixtures for a set of chains, verdict rows to compare."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from belt_gate.sandbox import chains as chainlib
from belt_gate.sandbox.world import WorldState, committed_golden

#: A conftest for the replaying process: every connect is refused and written down next to it, and a
#: marker says it loaded (the tests assert the marker, and that nothing was tried).
GUARD = """
import socket
from pathlib import Path

LOG = Path(__file__).with_name("connect-attempts.log")
Path(__file__).with_name("guard-loaded").write_text("yes")


def _refuse(self, address, *args):
    with LOG.open("a") as f:
        f.write(f"{address!r}\\n")
    raise ConnectionRefusedError(f"network blocked for the replay: {address!r}")


socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
"""

_AUDITS = """
[[audit]]
chain = {nft_chain}
address = "{nft}"
event = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
entity = "NftTransfer"
windows = 2
width = 4

[[audit]]
chain = 1
address = "{multi}"
event = "TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)"
entity = "Erc1155Transfer"
windows = 2
width = 4
"""


def audit_toml(nft_chain: int) -> str:
    """belt.toml with window audits: NftTransfer on `nft_chain`, Erc1155Transfer on chain 1 (one entity
    per table; audit ids name the entity, the chain and the window)."""
    return _AUDITS.format(
        nft_chain=nft_chain,
        nft=chainlib.CONTRACTS["SandboxNFT"].lower(),
        multi=chainlib.CONTRACTS["SandboxMulti"].lower(),
    )


def golden_for(world: WorldState, chains: Iterable[int], into: Path) -> Path:
    """The project's committed golden fixtures (they fit the default world) for `chains`."""
    source = committed_golden(world)
    assert source is not None, "the shared world is the default one: the committed golden/ fixtures apply"
    into.mkdir(parents=True, exist_ok=True)
    for c in chains:
        shutil.copy(source / f"{c}.yaml", into / f"{c}.yaml")
    return into


def rows(cert: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Verdict rows without their timing (the one thing a replay may change)."""
    return {v["id"]: {k: x for k, x in v.items() if k != "seconds"} for v in cert["verdicts"]}
