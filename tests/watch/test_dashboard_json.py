"""The dashboard's JSON is redacted where it is served (dashboard/app.py), the alias, certificate and ledger
views included: they are not redacted where they are read (dashboard/extras.py)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from belt_gate import redact
from belt_gate.dashboard import DashboardConfig
from belt_gate.dashboard.app import create_app
from belt_gate.sandbox import procs

QUOTED = 'dash"board-s3cret-52'  # a secret with a quote: escaped in the JSON text, so found only before


def test_api_status_hides_secrets_in_every_view(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(redact, "_used", redact.Secrets.of(QUOTED))
    cert = tmp_path / "cert.json"
    cert.write_text(json.dumps({"certified": False, "complete": True, "reasons": [f"blue said {QUOTED}"]}))
    admin = f"http://ops:pw-dash-4242@127.0.0.1:{procs.free_port()}"  # nothing listens: the view is an error
    config = DashboardConfig(belts=[], alias_admin=admin, certificate=cert, interval=0.2, timeout=1.0)
    port = procs.free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config), port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        while True:
            text = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).text
            doc = json.loads(text)
            if doc["poller"]["rounds"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert doc["poller"]["rounds"] >= 1, doc
    assert doc["alias"]["state"] == "error" and doc["alias"]["admin"].startswith("http://***@127.0.0.1:")
    assert doc["certificate"]["reasons"] == ["blue said ***"]
    assert "pw-dash-4242" not in text and "s3cret-52" not in text
