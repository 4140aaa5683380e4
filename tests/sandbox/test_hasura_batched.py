"""Over Postgres the sandbox server answers many root `_aggregate` fields of one table with one statement
(grouped by the chain each selects, else a UNION ALL) and builds their JSON itself: the answers must be
exactly those of each field asked alone, in the same order, whatever the shape of the fields."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from belt_gate.sandbox.postgres import Cluster, create_database
from tests.sandbox.test_hasura_server import Belt, Server, write_belt, write_pg_belt

FULL = "count sum { tokenId blockNumber } min { blockNumber id from } max { blockNumber id from }"


def nft(where: str, selection: str = f"aggregate {{ {FULL} }}") -> str:
    args = f"(where: {where})" if where else ""
    return f"NftTransfer_aggregate{args} {{ {selection} }}"


INLINE = "aggregate { ... on NftTransfer_aggregate_fields { n: count sum { __typename t: tokenId } } __typename }"

FIELDS = {
    # one field per chain, each with its own cutoff: one grouped scan (chain 10 has no rows)
    "f1": nft('{chainId: {_eq: 1}, blockNumber: {_lte: "7"}}'),
    "f8453": nft('{chainId: {_eq: 8453}, blockNumber: {_lte: "9"}}'),
    "f10": nft('{chainId: {_eq: 10}, blockNumber: {_lte: "9"}}'),
    # the same chain twice with other conditions, and fields with no chain equality: UNION ALL
    "again1": nft('{chainId: {_eq: 1}, id: {_gt: "1_5"}}'),
    "anyof": nft("{_or: [{chainId: {_eq: 1}}, {isMint: {_eq: true}}]}"),
    "all": nft(""),
    # the same aggregates spelt otherwise: fragments, inline fragments, aliases, __typename
    "frag1": nft("{chainId: {_eq: 1}}", "__typename aggregate { ...F }"),
    "frag10": nft("{chainId: {_eq: 10}}", "__typename aggregate { ...F }"),
    "frag8453": nft("{chainId: {_eq: 8453}}", INLINE),
    "inline1": nft("{chainId: {_eq: 1}}", INLINE),
    # counts of columns, distinct; exact numeric sums past 2**63
    "distinct1": nft(
        "{chainId: {_eq: 1}}", "aggregate { count(columns: [from], distinct: true) c: count(columns: [tokenId]) }"
    ),
    "distinct8453": nft(
        "{chainId: {_eq: 8453}}", "aggregate { count(columns: [from], distinct: true) c: count(columns: [tokenId]) }"
    ),
    "loans": "Loan_aggregate(where: {chainId: {_eq: 1}}) { aggregate { count sum { amount } max { amount status } } }",
    "noloans": "Loan_aggregate(where: {chainId: {_eq: 8453}}) { aggregate { count sum { amount } max { amount } } }",
    "noloans2": "Loan_aggregate(where: {chainId: {_eq: 10}}) { aggregate { count sum { amount } max { amount } } }",
    # not answered ahead: nodes, a page, a list, the progress table
    "withnodes": "NftTransfer_aggregate(where: {chainId: {_eq: 1}}, order_by: {id: asc}) "
    "{ aggregate { count } nodes { id } }",
    "paged": "NftTransfer_aggregate(where: {chainId: {_eq: 8453}}, limit: 3, order_by: {id: desc}) "
    "{ aggregate { count } }",
    # lists (answered ahead over Postgres too, each alone): every kind of column, nulls, __typename, aliases
    "rows": "NftTransfer(where: {chainId: {_eq: 8453}}, order_by: {id: asc}, limit: 3) "
    "{ __typename id chainId from isMint tokenId b: blockNumber timestamp logIndex }",
    "loanrows": "Loan(order_by: {id: desc}) { id amount status repaidAt defaultedAt ...L }",
    "meta": "chain_metadata(order_by: {chain_id: asc}) { chain_id block_height }",
}
FRAGMENTS = {
    "...F": "fragment F on NftTransfer_aggregate_fields { count max { blockNumber } }",
    "...L": "fragment L on Loan { expiry createdAt }",
}


@pytest.fixture(scope="module")
def pg_server(pg_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    dsn = create_database(pg_cluster, "hasura_batched")
    write_pg_belt(dsn, "belt_batched")
    belt = Belt(tmp_path_factory.mktemp("batched") / "unused.sqlite", dsn, "belt_batched")
    with Server(belt.config()) as s:
        yield s


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("batched") / "belt.sqlite"
    write_belt(path)
    with Server(Belt(path).config()) as s:
        yield s


def _document(names: list[str]) -> str:
    body = " ".join(f"{n}: {FIELDS[n]}" for n in names)
    used = [text for spread, text in FRAGMENTS.items() if any(spread in FIELDS[n] for n in names)]
    return " ".join([f"query Q {{ {body} }}", *used])


def test_batched_answers_equal_each_field_asked_alone(pg_server: Server, sqlite_server: Server) -> None:
    alone = {}
    for name in FIELDS:
        answer = pg_server.query(_document([name]))
        assert "errors" not in answer, answer
        alone[name] = answer["data"][name]
    together = pg_server.query(_document(list(FIELDS)))
    assert "errors" not in together, together
    assert list(together["data"]) == list(FIELDS)  # the document's order
    assert together["data"] == alone
    # and what graphql-core executes field by field over the same belt in SQLite
    assert sqlite_server.query(_document(list(FIELDS)))["data"] == together["data"]
    # what the grouped scan gives a chain without rows, and exactness, as Postgres gives them
    assert alone["f10"] == {
        "aggregate": {
            "count": 0,
            "sum": {"tokenId": None, "blockNumber": None},
            "min": {"blockNumber": None, "id": None, "from": None},
            "max": {"blockNumber": None, "id": None, "from": None},
        }
    }
    assert alone["f1"]["aggregate"]["count"] == 14
    assert alone["loans"]["aggregate"]["sum"] == {"amount": str(2 * 2**62)}
    assert alone["frag8453"]["aggregate"]["sum"] == {"__typename": "NftTransfer_sum_fields", "t": "1110"}


def test_a_field_failing_in_a_batch_fails_as_it_does_alone(pg_server: Server) -> None:
    bad = 'NftTransfer_aggregate(where: {chainId: {_eq: 8453}, from: {_regex: "("}}) { aggregate { count } }'
    good = "NftTransfer_aggregate(where: {chainId: {_eq: 1}}) { aggregate { count } }"
    alone = pg_server.query(f"{{ bad: {bad} }}")
    together = pg_server.query(f"{{ good: {good} bad: {bad} }}")
    assert alone["errors"][0]["extensions"] == {"path": "$.bad", "code": "postgres-error"}
    assert "regular expression" in alone["errors"][0]["message"]
    assert together["errors"][0] == alone["errors"][0]
    assert "data" not in together
