"""Localisation through the plugin (issue 14), pytester against small real belts (SQLite served by the
sandbox GraphQL server over HTTP): the failure text names the differing rows of reconciliations A (blocks), B
(timestamps) and C (ids), `--belt-store-failures` writes one JSONL per failing test, and
`--belt-localise-budget` bounds it (0 turns it off). The seed-scale and world cases: tests/localise/."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belt
from tests.support.runs import failed, line_with, run

pytest_plugins = ["pytester"]
SCHEMAS = [f"--belt-schema={SCHEMA}", f"--belt-blue-schema={SCHEMA}", f"--belt-green-schema={SCHEMA}"]
ROWS = 36
ACTION = f"1_0x{20:064x}_2"  # the Action row green lacks (reconciliation B: bisected on its timestamp)


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("localise")
    blue = BeltData(per_chain=ROWS).write(d / "blue.db")
    green = BeltData(per_chain=ROWS, drop={"1_5_0"}, corrupt={"1_9_0": 1}).write(d / "green.db")
    with sqlite3.connect(green) as db:
        db.execute('DELETE FROM "Action" WHERE id = ?', (ACTION,))
        db.execute('UPDATE "Loan" SET amount = amount + 7 WHERE id = ?', ("10_1",))
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(serve_belt(db)) for name, db in (("blue", blue), ("green", green))}


def _args(belts: dict[str, Served], *more: str) -> list[str]:
    return [f"--belt-blue={belts['blue'].url}", f"--belt-green={belts['green'].url}", *SCHEMAS, *more]


def test_failure_text_and_store_failures_name_the_rows(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    # under xdist: the controller localises once, the workers' verdicts read it from the shipped snapshot
    result = run(pytester, *_args(belts, "--belt-store-failures=failures", "--belt-report=cert.json", "-n", "2"))
    assert result.ret == 1
    assert {"counts[NftTransfer@1]", "counts[Action@1]", "counts[Loan@10]"} <= failed(result)
    result.stdout.fnmatch_lines(
        line_with(
            "counts[NftTransfer@1]: NftTransfer@1 at block <= 40: count blue 36 != green 35*"
            "; localised (blockNumber, 0 rounds): only in blue: 1_5_0 (blockNumber 5)*"
            "1_9_0 field tokenId: blue '8' != green '9'"
        )
    )
    result.stdout.fnmatch_lines(
        line_with(f"counts[Action@1]: *localised (timestamp, 0 rounds): only in blue: {ACTION} (timestamp 1700000252)")
    )
    result.stdout.fnmatch_lines(
        line_with("counts[Loan@10]: *localised (id, 0 rounds): 10_1 field amount: blue '200' != green '207'")
    )

    folder = pytester.path / "failures"
    lines = [json.loads(x) for x in (folder / "counts[NftTransfer@1].jsonl").read_text().splitlines()]
    assert [(x["kind"], x["id"]) for x in lines] == [("only_blue", "1_5_0"), ("changed", "1_9_0")]
    assert lines[0]["blockNumber"] == "5" and lines[0]["row"]["tokenId"] == "4"
    assert lines[1] == {"test": "counts[NftTransfer@1]", "kind": "changed", "id": "1_9_0", "field": "tokenId",
                        "blue": "8", "green": "9"}  # fmt: skip
    written = {p.name for p in folder.iterdir()}
    cert = json.loads((pytester.path / "cert.json").read_text())
    failing = {v["id"] for v in cert["verdicts"] if v["outcome"] in ("failed", "could-not-check")}
    assert written == {f"{t}.jsonl" for t in failing}  # one file per failing test, no other


def test_budget_zero_turns_localisation_off_and_the_folder_is_relative_to_the_invocation(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    (pytester.path / "deep").mkdir()
    out = Path("deep") / "out"
    result = run(pytester, *_args(belts, "--belt-localise-budget=0", f"--belt-store-failures={out}", "-k", "counts"))
    assert "counts[NftTransfer@1]" in failed(result)
    assert "localised (" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        line_with("counts[NftTransfer@1]: NftTransfer@1 at block <= 40: count blue 36 != green 35 (delta -1")
    )
    lines = [json.loads(x) for x in (pytester.path / out / "counts[Loan@10].jsonl").read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["verdict"] and lines[0]["verdict"].startswith("Loan@10 at ")


def test_a_bad_budget_is_one_line_and_exit_4(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--belt-blue=http://127.0.0.1:8/v1/graphql", "--belt-green=http://127.0.0.1:9/v1/graphql",
                 "--belt-localise-budget=lots")  # fmt: skip
    assert result.ret == 4
    err = [line for line in result.errlines if "localise-budget" in line]
    assert len(err) == 1 and "'lots' is not REQUESTS or SECONDSs" in err[0]
