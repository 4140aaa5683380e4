"""The sync progress model (belt_gate.status) on hand-made reads: no I/O."""

from __future__ import annotations

import pytest

from belt_gate import redact
from belt_gate.sources.progress import BeltRead, ChainRow, HeadRead, ReadFailure, parse_rows
from belt_gate.status import Rates, Report, Tracker, eta_seconds


def row(
    chain: int = 1, processed: int | None = 100, fetched: int | None = None, head: int | None = 1000, **kw: int | None
) -> ChainRow:
    return ChainRow(
        chain,
        processed,
        processed if fetched is None else fetched,
        head,
        kw.get("start", 0),
        kw.get("end"),
        kw.get("events", 5),
    )


def read(at: float, *rows: ChainRow, name: str = "green") -> BeltRead:
    return BeltRead(name, "http://127.0.0.1:1/v1/graphql", at, "chain_metadata", tuple(rows))


def rpc(head: int | None, at: float = 0.0, fail: str | None = None) -> dict[int, HeadRead]:
    failure = ReadFailure("dead", fail) if fail else None
    return {1: HeadRead(1, "http://127.0.0.1:2", at, head, failure)}


def test_one_read_has_no_rate_two_reads_do_and_eta_is_remaining_over_rate() -> None:
    t = Tracker(within=10)
    first = t.observe(read(0.0, row(processed=100)), {}).chains[0]
    assert first.rate is None and first.eta is None and first.state == "waiting"
    assert first.remaining == 900 and first.percent == 10.0 and first.head_source == "belt"
    second = t.observe(read(10.0, row(processed=200)), {}).chains[0]
    assert second.rate == 10.0 and second.committed_rate == 10.0
    assert second.remaining == 800 and second.eta == 80.0 and second.state == "syncing"


def test_a_belt_that_commits_in_batches_moves_by_its_leading_edge() -> None:
    t = Tracker()
    t.observe(read(0.0, row(processed=100, fetched=100)), {})
    s = t.observe(read(5.0, row(processed=100, fetched=600)), {}).chains[0]
    assert s.rate == 100.0 and s.committed_rate == 0.0
    assert s.state == "syncing", "fetching ahead is moving, not stalled"
    assert s.fetched_ahead == 500 and s.fetched_percent == 60.0 and s.percent == 10.0
    assert s.eta == 9.0, "nothing committed inside the window: the leading edge closes the gap"


def test_the_heads_own_growth_is_subtracted_and_a_chain_outrunning_its_belt_has_no_eta() -> None:
    t = Tracker()
    t.observe(read(0.0, row(processed=100)), rpc(1000))
    s = t.observe(read(10.0, row(processed=300)), rpc(1100)).chains[0]
    assert s.head_source == "rpc" and s.remaining == 800
    assert s.eta == 800 / (20 - 10)
    t2 = Tracker()
    t2.observe(read(0.0, row(processed=100)), rpc(1000))
    s2 = t2.observe(read(10.0, row(processed=200)), rpc(1200)).chains[0]
    assert s2.eta is None and s2.rate == 10.0


def test_eta_laws() -> None:
    assert eta_seconds(0, Rates(None, None, None)) == 0.0
    assert eta_seconds(10, Rates(None, None, None)) is None
    assert eta_seconds(10, Rates(0.0, 0.0, 0.0)) is None
    for remaining, committed, head in ((100, 5.0, 1.0), (7, 0.5, 0.0), (10**9, 3000.0, 0.25)):
        eta = eta_seconds(remaining, Rates(committed, committed, head))
        assert eta is not None and abs(eta * (committed - head) - remaining) < 1e-6 * remaining


def test_synced_within_n_end_block_and_bounds() -> None:
    t = Tracker(within=10)
    assert t.observe(read(0.0, row(processed=995)), {}).chains[0].state == "synced"
    ended = Tracker().observe(read(0.0, row(processed=500, end=500)), {}).chains[0]
    assert ended.target == 500 and ended.remaining == 0 and ended.percent == 100.0 and ended.state == "synced"
    above = Tracker().observe(read(0.0, row(processed=1200)), rpc(1000)).chains[0]
    assert above.state == "error" and "above the chain head 1000" in (above.note or "")
    seeded = Tracker().observe(read(0.0, row(processed=-1)), {}).chains[0]
    assert seeded.state == "unknown" and seeded.processed is None and seeded.percent is None


def test_a_failing_rpc_gives_no_head_never_the_belts_instead() -> None:
    s = Tracker().observe(read(0.0, row(processed=100, head=100)), rpc(None, fail="connection failed")).chains[0]
    assert s.head is None and s.head_source == "rpc" and s.remaining is None
    assert s.state == "unknown" and "connection failed" in (s.note or "") and not s.within(10**9)


def test_no_movement_for_stall_after_seconds_is_stalled() -> None:
    t = Tracker(stall_after=5.0)
    states = [t.observe(read(at, row(processed=100)), {}).chains[0].state for at in (0.0, 3.0, 6.0)]
    assert states == ["waiting", "waiting", "stalled"]
    s = t.observe(read(7.0, row(processed=101)), {}).chains[0]
    assert s.state == "syncing"
    s = t.observe(read(13.0, row(processed=101)), {}).chains[0]
    assert s.state == "stalled" and s.eta is None


def test_a_failed_read_keeps_the_last_numbers_but_stale_and_never_ready() -> None:
    t = Tracker(within=10)
    t.observe(read(0.0, row(processed=1000)), {})
    ok = t.observe(read(1.0, row(processed=1000)), {})
    assert ok.ready(10)
    dead = t.observe(BeltRead("green", "http://x", 2.0, failure=ReadFailure("dead", "refused")), {})
    assert dead.state == "dead" and dead.message == "refused" and dead.last_good_at == 1.0
    assert [c.stale for c in dead.chains] == [True] and dead.chains[0].rate is None
    assert not dead.ready(10) and not dead.chains[0].within(10)
    never = Tracker().observe(BeltRead("x", "http://x", 0.0, failure=ReadFailure("error", "HTTP 503")), {})
    assert never.chains == () and never.state == "error" and not never.ready(10)


def test_old_points_leave_the_window() -> None:
    t = Tracker(window=10.0)
    t.observe(read(0.0, row(processed=0)), {})
    t.observe(read(1.0, row(processed=500)), {})  # a burst long ago
    for at in (20.0, 25.0):
        s = t.observe(read(at, row(processed=500 + int(at))), {}).chains[0]
    assert s.rate == 1.0


def test_parse_rows_reads_both_sources_exactly_and_refuses_what_is_not_progress() -> None:
    present = frozenset({"chainId", "progressBlock", "bufferBlock", "sourceBlock"})
    rows = parse_rows(
        "_meta",
        present,
        [{"chainId": 10, "progressBlock": "12345678901234567890", "bufferBlock": None, "sourceBlock": 5}],
    )
    assert rows == (ChainRow(10, 12345678901234567890, None, 5, None, None, None),)
    cm = frozenset({"chain_id", "latest_processed_block", "block_height", "num_events_processed"})
    assert (
        parse_rows(
            "chain_metadata",
            cm,
            [{"chain_id": 2, "latest_processed_block": 1, "block_height": 3, "num_events_processed": "7"}],
        )[0].events
        == 7
    )
    for bad, why in (
        ({"chain_id": 1, "latest_processed_block": "1.5"}, "not a whole number"),
        ({"chain_id": 1, "latest_processed_block": "x"}, "not a number"),
        ({"latest_processed_block": 1}, "no chain id"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_rows("chain_metadata", cm, [bad])
    with pytest.raises(ValueError, match="twice"):
        parse_rows("chain_metadata", cm, [{"chain_id": 1}, {"chain_id": 1}])
    with pytest.raises(ValueError, match="not a list"):
        parse_rows("chain_metadata", cm, None)


def test_report_json_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_used", redact.Secrets.of("model-secret-8080"))
    t = Tracker()
    failing = t.observe(
        BeltRead(
            "g",
            "http://127.0.0.1:1/v1/graphql?admin_secret=***",
            0.0,
            failure=ReadFailure("error", "echo model-secret-8080 http://u:pw@h:1/x"),
        ),
        {},
    )
    doc = Report(1.0, 10, (failing,)).to_json()
    text = str(doc)
    assert "model-secret-8080" not in text and "pw@" not in text
    assert doc["format"] == "belt-gate-status/1" and doc["belts"][0]["state"] == "error"


def test_the_terminal_table_is_redacted_where_it_is_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure texts of reads are shown as they came (sources/ redact their own errors); the table is
    where they become the terminal's, and it hides what the set in use holds."""
    from rich.console import Console

    from belt_gate.watch_cli import table

    monkeypatch.setattr(redact, "_used", redact.Secrets.of("table-s3cret-41"))
    t = Tracker()
    failing = t.observe(
        BeltRead("g", "http://127.0.0.1:1/v1/graphql", 0.0, failure=ReadFailure("error", "echo table-s3cret-41")), {}
    )
    noted = t.observe(read(0.0, row(processed=100)), rpc(None, fail="rpc said table-s3cret-41"))
    assert failing.message is not None and "table-s3cret-41" in failing.message  # the model keeps what it got
    console = Console(record=True, width=250)
    console.print(table(Report(1.0, 10, (failing, noted))))
    shown = console.export_text()
    assert "table-s3cret-41" not in shown and shown.count("***") == 2, shown
