"""Data the tests build: small belts written straight into SQLite (the sample schema), rows as a Hasura
belt serves them, schema text a test feeds the plugin."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from belt_gate.envio import EnvioSchema, load_schema
from belt_gate.sandbox.store import connect, create_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schema.graphql"
ZERO = "0x" + "0" * 40


@dataclass
class BeltData:
    """Deterministic rows of the sample schema: `per_chain` events of each entity on each chain."""

    chains: Sequence[int] = (1, 10)
    per_chain: int = 12
    processed: int = 40
    drop: set[str] = field(default_factory=set)  # ids left out
    extra_rows: int = 0  # rows appended past the others (same chain, new ids)
    corrupt: dict[str, int] = field(default_factory=dict)  # NftTransfer id -> tokenId delta
    lag: dict[int, int] = field(default_factory=dict)  # chain -> processed block instead

    def write(self, path: Path) -> Path:
        db = connect(path)
        create_schema(db, load_schema(SCHEMA))
        for chain in self.chains:
            n = self.per_chain
            for i in range(n + self.extra_rows):
                block = i + 1
                rid = f"{chain}_{block}_0"
                token = i + self.corrupt.get(rid, 0)
                if rid not in self.drop:
                    db.execute(
                        'INSERT INTO "NftTransfer" VALUES (?,?,?,?,?,?,?,?,?,?,?)',
                        (
                            rid,
                            chain,
                            "0xc0",
                            ZERO if i % 4 == 0 else "0xa1",
                            "0xb2",
                            token,
                            int(i % 4 == 0),
                            block,
                            1_700_000_000 + 12 * block,
                            f"0x{chain:08x}{i:056x}",
                            0,
                        ),
                    )
                db.execute(
                    'INSERT INTO "Erc1155Transfer" VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
                    (
                        f"{chain}_{block}_1",
                        chain,
                        "0xd0",
                        "0xo",
                        ZERO,
                        "0xb2",
                        i,
                        1 + i % 3,
                        block,
                        1_700_000_000 + 12 * block,
                        f"0x{chain:08x}{i:056x}",
                        1,
                    ),
                )
                db.execute(
                    'INSERT INTO "Action" VALUES (?,?,?,?,?,?,?,?)',
                    (
                        f"{chain}_0x{i:064x}_2",
                        chain,
                        "0xa1",
                        ["MINT", "BURN", "STAKE", "CLAIM"][i % 4],
                        i if i % 3 else None,
                        "ctx" if i % 2 else None,
                        1_700_000_000 + 12 * block,
                        f"0x{i:064x}",
                    ),
                )
            for j in range(3):
                db.execute(
                    'INSERT INTO "Loan" VALUES (?,?,?,?,?,?,?,?,?,?,?)',
                    (
                        f"{chain}_{j}",
                        chain,
                        j,
                        "0xb2",
                        100 * (j + 1),
                        999,
                        ["ACTIVE", "REPAID", "DEFAULTED"][j],
                        1_700_000_000,
                        1_700_000_100 if j == 1 else None,
                        1_700_000_200 if j == 2 else None,
                        f"0x{j:064x}",
                    ),
                )
            processed = self.lag.get(chain, self.processed)
            db.execute(
                "INSERT INTO chain_metadata VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (chain, 0, None, self.processed + 5, 1, processed, processed, 3, 4 * n, 0, None),
            )
        db.commit()
        db.close()
        return path


def hasura_rows(db: sqlite3.Connection, schema: EnvioSchema, entity: str) -> list[dict[str, Any]]:
    """Rows of an event entity as a Hasura belt serves them: Boolean as JSON bool, BigInt as a decimal
    string; in block and log order."""
    model = schema.entity(entity)
    assert model is not None
    kinds = {f.column: f.type_name for f in model.columns}
    cursor = db.cursor()
    cursor.row_factory = sqlite3.Row
    out = []
    for raw in cursor.execute(f'SELECT * FROM "{entity}" ORDER BY "blockNumber", "logIndex"'):
        row = dict(raw)
        for k, v in row.items():
            if kinds.get(k) == "Boolean" and v is not None:
                row[k] = bool(v)
            elif kinds.get(k) in ("BigInt", "BigDecimal") and v is not None:
                row[k] = str(v)
        out.append(row)
    return out


def expand_spreads(text: str) -> str:
    """The public-role input uses `...Interface` spreads (that repository's preprocessor, not GraphQL)."""
    text = re.sub(r"#[^\n]*", "", text)
    bodies = {m.group(1): m.group(2) for m in re.finditer(r"interface (\w+)\s*\{([^}]*)\}", text)}
    text = re.sub(r"interface \w+\s*\{[^}]*\}", "", text)
    text = re.sub(r"\s+implements\s+[\w\s&]+?(?=[@{])", " ", text)
    while "..." in text:
        text = re.sub(r"\.\.\.(\w+)", lambda m: bodies[m.group(1)], text)
    return text
