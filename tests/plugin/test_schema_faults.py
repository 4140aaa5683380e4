"""Schema and chain-set faults as belt_gate verdicts, end to end with pytester against served belts.

A field removed or made nullable in green's live schema (the sandbox server's schema faults), an enum value
removed from green's Envio schema file, no enum source at all, an expected chain green lacks and a chain
green adds unexpectedly: exactly the right tests fail, each naming what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belts
from tests.support.runs import failed, line_with, outcomes
from tests.support.runs import run as run_plugin

pytest_plugins = ["pytester"]
ENTITIES = ("Action", "Erc1155Transfer", "Loan", "NftTransfer")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return run_plugin(pytester, *args, lean=True)


def data_tests(chain: int) -> set[str]:
    return {f"{rule}[{e}@{chain}]" for rule in ("counts", "content") for e in ENTITIES}


@pytest.fixture(scope="module")
def belts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    d = tmp_path_factory.mktemp("schema_faults")
    faults = ("schema-remove:NftTransfer.tokenId", "schema-nullable:Loan.amount")
    specs = {
        "blue": (BeltData().write(d / "blue.db"), {}),
        "green": (BeltData().write(d / "green.db"), {}),
        "faulty": (BeltData().write(d / "faulty.db"), {"faults": faults}),
        "wide": (BeltData(chains=(1, 10, 42161)).write(d / "wide.db"), {}),
    }
    with serve_belts(specs) as served:
        yield served


@pytest.fixture(scope="module")
def schema_without_enum_value(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Green's Envio schema: the sample schema with LoanStatus.DEFAULTED deleted."""
    text = SCHEMA.read_text()
    assert text.count("  DEFAULTED\n") == 1
    path = tmp_path_factory.mktemp("green_schema") / "schema.graphql"
    path.write_text(text.replace("  DEFAULTED\n", ""))
    return path


def test_removed_field_nullability_change_and_enum_value_fail_exactly_their_tests(
    pytester: pytest.Pytester, belts: dict[str, Served], schema_without_enum_value: Path
) -> None:
    """Three faults, each on its own test: schema[NftTransfer] (tokenId removed), schema[Loan] (amount made
    nullable), enums (LoanStatus lost DEFAULTED). Nothing else fails: counts and content compare the fields
    both belts serve."""
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['faulty'].url}",
        f"--belt-schema={SCHEMA}",
        f"--belt-blue-schema={SCHEMA}",
        f"--belt-green-schema={schema_without_enum_value}",
        "--belt-sample=50",
    )
    assert failed(result) == {"schema[NftTransfer]", "schema[Loan]", "enums"}, result.stdout.str()
    assert len(outcomes(result)) == 25
    result.stdout.fnmatch_lines(
        line_with(
            "schema[NftTransfer]: schema of NftTransfer: green is not a superset of blue: "
            "FIELD_REMOVED: Field NftTransfer.tokenId was removed."
        )
    )
    result.stdout.fnmatch_lines(
        line_with(
            "schema[Loan]: schema of Loan: green is not a superset of blue: "
            "FIELD_CHANGED_KIND: Field Loan.amount changed type from numeric! to numeric."
        )
    )
    result.stdout.fnmatch_lines(line_with("enums: enums: enum LoanStatus lost value(s) DEFAULTED"))
    lines = {x.split(": ", 1)[0]: x for x in result.outlines if x.startswith(("schema[", "enums: "))}
    assert "amount" not in lines["schema[NftTransfer]"] and "tokenId" not in lines["schema[Loan]"]


def test_enums_without_schema_files_fail_saying_there_is_no_source(
    pytester: pytest.Pytester, belts: dict[str, Served]
) -> None:
    result = run(
        pytester, f"--belt-blue={belts['blue'].url}", f"--belt-green={belts['green'].url}", f"--belt-schema={SCHEMA}"
    )
    assert failed(result) == {"enums"}, result.stdout.str()
    result.stdout.fnmatch_lines(
        line_with(
            "enums: enums: no source to compare actiontype, loanstatus: Hasura shows Envio enums as "
            "scalars, so give both Envio schemas (--belt-blue-schema and --belt-green-schema)"
        )
    )


def test_expected_chain_missing_from_green_fails(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['green'].url}",
        f"--belt-schema={SCHEMA}",
        f"--belt-blue-schema={SCHEMA}",
        f"--belt-green-schema={SCHEMA}",
        "--belt-mode=expansion",
        "--belt-expected-chains=1,10,42161",
    )
    # the chain set; the missing chain's progress and data (nothing to compare is no pass); and its golden
    # coverage (a new chain with no golden event fails closed, here as anywhere)
    assert failed(result) == {"chain_set", "progress[42161]", "golden_coverage[42161]", *data_tests(42161)}, (
        result.stdout.str()
    )
    result.stdout.fnmatch_lines(
        line_with("chain_set: chain set (expansion): expected chain(s) [42161] absent from green")
    )
    result.stdout.fnmatch_lines(line_with("progress[42161]: chain 42161: green has no progress row (silent skip)"))
    result.stdout.fnmatch_lines(line_with("counts[Loan@42161]: Loan@42161: green does not index expected chain 42161"))
    assert outcomes(result)["counts[NftTransfer@10]"] == "PASSED"


def test_unexpected_extra_chain_in_expansion_fails(pytester: pytest.Pytester, belts: dict[str, Served]) -> None:
    result = run(
        pytester,
        f"--belt-blue={belts['blue'].url}",
        f"--belt-green={belts['wide'].url}",
        f"--belt-schema={SCHEMA}",
        f"--belt-blue-schema={SCHEMA}",
        f"--belt-green-schema={SCHEMA}",
        "--belt-mode=expansion",
        "--belt-expected-chains=1,10",
    )
    # the chain set; and the extra chain's progress and data: no baseline, not expected, so never a pass
    assert failed(result) == {"chain_set", "progress[42161]", *data_tests(42161)}, result.stdout.str()
    result.stdout.fnmatch_lines(
        line_with("chain_set: chain set (expansion): green-only chain(s) [42161] not in the expected chains")
    )
    result.stdout.fnmatch_lines(
        line_with("counts[NftTransfer@42161]: *cannot compare: blue does not index chain 42161 (see chain_set)")
    )
    assert outcomes(result)["counts[NftTransfer@10]"] == "PASSED"
