"""`belt-gate dashboard` in real headless Chromium, against sandbox belts (one synced, one still indexing,
one that dies between two loads, one answering HTTP 503), a real Caddy alias, a certificate and a ledger.

The screenshot is kept as a test artifact: its path is printed (pytest -s, or the captured output).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from belt_gate.sandbox import procs
from belt_gate.sandbox.alias import start_alias, stop_alias
from belt_gate.sandbox.chains import Chain
from tests.watch import browser, cdp
from tests.watch.conftest import rpc_of
from tests.watch.crawl import crawling_belt

CANARY_URL = "CanaryUrlSecret4242"  # in green's URL (a query parameter named like a credential)
CANARY_ENV = "CanaryAdminSecret9191"  # green's admin secret, from the environment
CANARY_LEDGER = "CanaryLedgerPw7373"  # a password inside a URL written in the ledger

pytestmark = pytest.mark.browser
#: the page has rendered an answer of the dashboard (every belt card), and says it is fresh
READY = "document.body.dataset.fresh === 'true' && document.querySelectorAll('section.belt').length === 4"


@contextlib.contextmanager
def dashboard(argv: list[str], log: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """`belt-gate dashboard ARGV` in its own process: yields (its URL, its pid)."""
    port = procs.free_port()
    proc = procs.spawn(
        [sys.executable, "-m", "belt_gate.cli", "dashboard", f"--port={port}", *argv], log, env={**os.environ, **env}
    )
    try:
        procs.wait_for_port(port, pid=proc.pid, timeout=30, what="the dashboard")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        procs.stop(proc.pid)
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)


def _api(base: str, rounds: int, timeout: float = 30) -> dict[str, object]:
    """/api/status once the poller has done `rounds` rounds (polled, within a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = httpx.get(f"{base}/api/status", timeout=5).json()
        if doc["poller"]["rounds"] >= rounds:
            return doc  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"the dashboard did {doc['poller']} rounds in {timeout} s"
        time.sleep(0.1)


def _chains(root: browser.Node, belt: str) -> dict[int, dict[str, str]]:
    sections = browser.find(root, data_belt=belt)
    assert len(sections) == 1, f"belt {belt} not on the page once"
    return {int(c.attrs["data-chain"]): c.attrs for c in browser.find(sections[0], data_chain="*")}


def test_dashboard_in_headless_chromium(
    synced_belt: str, crawling_belt_url: str, long_chains: dict[int, Chain], tmp_path: Path
) -> None:
    browser.chromium()
    alias = start_alias(tmp_path, synced_belt)
    cert = tmp_path / "certificate.json"
    cert.write_text(
        json.dumps(
            {
                "format": "belt-gate-certificate/2",
                "certified": False,
                "complete": True,
                "reasons": ["counts[NftTransfer@8453] failed"],
                "totals": {"passed": 40, "failed": 1, "could-not-check": 0, "not-run": 0},
                "created": "2026-12-01T10:00:00Z",
            }
        )
    )
    ledger = tmp_path / "belt-ledger.jsonl"
    ledger.write_text(
        json.dumps(
            {
                "time": "2026-12-01T09:00:00Z",
                "action": "promote",
                "from": "127.0.0.1:1111",
                "to": f"http://ops:{CANARY_LEDGER}@127.0.0.1:2222/v1/graphql",
                "result": "ok",
            }
        )
        + "\n"
    )
    rpc = [f"--rpc={c}={u}" for c, u in rpc_of(long_chains).items()]
    try:
        with (
            crawling_belt(tmp_path / "gone.db", rpc_of(long_chains, 1), step=None) as (gone_url, gone),
            crawling_belt(tmp_path / "broken.db", rpc_of(long_chains, 1), step=None, faults=["http5xx"]) as (
                broken_url,
                _,
            ),
            dashboard(
                [
                    f"--belt=blue={synced_belt}",
                    f"--belt=green={crawling_belt_url}?admin_secret={CANARY_URL}",
                    f"--belt=gone={gone_url}",
                    f"--belt=broken={broken_url}",
                    *rpc,
                    "--interval=0.5",
                    "--within=5",
                    f"--alias-admin={alias.admin_url}",
                    f"--certificate={cert}",
                    f"--ledger={ledger}",
                ],
                tmp_path / "dashboard.log",
                {"BELT_GREEN_ADMIN_SECRET": CANARY_ENV},
            ) as (base, _),
        ):
            first_api = _api(base, rounds=2)
            with cdp.page(f"{base}/") as page:
                page.wait_for(READY)
                first_html = page.html()
                # "gone" dies now: the next load must show it dead, its last numbers stale, never fresh
                assert gone.server_pid is not None
                procs.stop(gone.server_pid)
                second_api = _api(base, rounds=int(first_api["poller"]["rounds"]) + 3)  # type: ignore[index]
                page.reload()  # a second load of the page, from nothing
                page.wait_for(READY + " && document.querySelector('[data-belt=gone]').dataset.state === 'dead'")
                second_html = page.html()
                shot = page.screenshot(tmp_path / "dashboard.png")
            first, second = browser.parse(first_html), browser.parse(second_html)
    finally:
        stop_alias(alias)
    print(f"\ndashboard screenshot: {shot}")

    for page in (first, second):
        # every chain of both belts, once each
        blue, green = _chains(page, "blue"), _chains(page, "green")
        assert sorted(blue) == [1, 10] and sorted(green) == [1, 10, 8453]
        assert all(c["data-state"] == "synced" for c in blue.values())
        assert all(c["data-state"] == "syncing" for c in green.values())
        assert browser.find(page, data_belt="broken")[0].attrs["data-state"] == "error"
        assert "HTTP 503" in browser.text(browser.find(page, data_belt="broken")[0])
        # what the alias serves now: blue
        assert [n.attrs["data-alias"] for n in browser.find(page, data_alias="*")] == ["blue"]
        assert "NOT CERTIFIED" in browser.text(page) and "promote" in browser.text(page)
        assert "ready to certify" in browser.text(browser.find(page, data_belt="blue")[0])
        assert page.children and browser.find(page, data_fresh="true"), "a fresh page says so"
    # the numbers move between two loads
    g1, g2 = _chains(first, "green"), _chains(second, "green")
    for chain in (1, 10, 8453):
        assert int(g2[chain]["data-processed"]) > int(g1[chain]["data-processed"])
        assert float(g1[chain]["data-rate"]) > 0 and float(g1[chain]["data-eta"]) > 0
    # a dead endpoint shows as dead, its last numbers stale (first load: alive and synced)
    assert browser.find(first, data_belt="gone")[0].attrs["data-state"] == "ok"
    gone = browser.find(second, data_belt="gone")[0]
    assert gone.attrs["data-state"] == "dead" and "no answer" in browser.text(gone)
    assert [c.attrs["data-stale"] for c in browser.find(gone, data_chain="*")] == ["true"]
    assert [c.attrs["data-state"] for c in browser.find(gone, data_chain="*")] == ["stale"]
    # no secret anywhere: the DOM, the JSON, the dashboard's own output
    everything = "\n".join(
        [
            first_html,
            second_html,
            json.dumps(first_api),
            json.dumps(second_api),
            (tmp_path / "dashboard.log").read_text(),
        ]
    )
    for canary in (CANARY_URL, CANARY_ENV, CANARY_LEDGER):
        assert canary not in everything
    assert "admin_secret=***" in second_html or "admin_secret=***" in json.dumps(second_api)
    assert shot.stat().st_size > 10_000


def test_an_open_page_goes_stale_when_its_server_dies(synced_belt: str, tmp_path: Path) -> None:
    """One page over real time: fresh numbers while the dashboard answers; once it is gone, the same numbers
    stay on screen only marked stale ("offline since ..."), never as current."""
    with (
        dashboard([f"--belt=blue={synced_belt}", "--interval=0.3"], tmp_path / "dashboard.log", {}) as (base, pid),
        cdp.page(f"{base}/") as page,
    ):
        page.wait_for(
            "document.body.dataset.fresh === 'true' && document.querySelectorAll('[data-chain]').length === 2"
        )
        assert page.eval("document.querySelector('[data-belt=blue]').dataset.state") == "ok"
        procs.stop(pid)
        page.wait_for("document.getElementById('freshness').className === 'offline'")
        assert page.eval("document.body.dataset.fresh") == "false"
        assert "offline since" in page.eval("document.getElementById('freshness').textContent")
        assert page.eval("[...document.querySelectorAll('[data-chain]')].map(c => c.dataset.stale)") == ["true", "true"]
        assert page.eval("document.querySelectorAll('.chain.stale').length") == 2


def test_a_missing_browser_fails_saying_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        browser.chromium()
