"""One running sandbox belt as the world's state file records it (its own module, so the reference world
(`sandbox/world.py`) and the Envio world (`sandbox/envio/world.py`) both build it without importing each other)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BeltInfo:
    """One running belt: its GraphQL URL, pid, port, files, chains (id -> the RPC URL it indexes)."""

    name: str
    url: str
    port: int
    pid: int
    db: Path
    schema: Path
    log: Path
    chains: dict[int, str]
    faults: tuple[str, ...] = ()
    shape: str = "admin"
    proxies: tuple[int, ...] = ()  # pids of the RPC proxies started for this belt only
    indexer: str = "reference"  # "envio": pid is the Hasura-dialect server, the indexer is WorldState.envio
    version: str = ""  # the indexer's version (Envio's npm version; the reference indexer's is belt_gate's)

    def to_json(self) -> dict[str, Any]:
        """The belt process as plain JSON for the world's state file."""
        return {
            "name": self.name,
            "url": self.url,
            "port": self.port,
            "pid": self.pid,
            "db": str(self.db),
            "schema": str(self.schema),
            "log": str(self.log),
            "chains": {str(c): u for c, u in self.chains.items()},
            "faults": list(self.faults),
            "shape": self.shape,
            "proxies": list(self.proxies),
            "indexer": self.indexer,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BeltInfo:
        """The belt `to_json` wrote."""
        return cls(
            str(d["name"]),
            str(d["url"]),
            int(d["port"]),
            int(d["pid"]),
            Path(d["db"]),
            Path(d["schema"]),
            Path(d["log"]),
            {int(c): str(u) for c, u in d["chains"].items()},
            tuple(d.get("faults", ())),
            str(d.get("shape", "admin")),
            tuple(int(p) for p in d.get("proxies", ())),
            str(d.get("indexer", "reference")),
            str(d.get("version", "")),
        )


__all__ = ["BeltInfo"]
