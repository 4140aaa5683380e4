"""The dashboard's server: one starlette app, one background poller, a static page that refreshes itself.

    GET /             the page (static/index.html; it fetches /api/status every `interval` seconds)
    GET /api/status   the latest round as JSON (`belt-gate-status/1` + alias, certificate, ledger, poller)
    GET /healthz      "ok"

Belts are read by one background task every `interval` seconds, not per page load: any number of open
pages cost the belts nothing more, and every rate comes from one consistent history. Each answer says
when its numbers were read (`at`, per belt `read_at`) and when it was served (`served_at`), so the page
can tell fresh from stale itself; a poller that stopped or hangs shows as stale, never as fresh. The whole
JSON passes through `redact_json` on the way out (the one place the alias, certificate and ledger views
are redacted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from belt_gate.dashboard.extras import alias_view, certificate_view, ledger_view
from belt_gate.redact import redact_json, redact_text
from belt_gate.status import BeltSpec, Watcher

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class DashboardConfig:
    """What the dashboard watches and shows."""

    belts: Sequence[BeltSpec]
    rpc: Mapping[int, str] = field(default_factory=dict)
    within: int = 10
    interval: float = 2.0
    timeout: float = 5.0
    window: float = 60.0
    alias_admin: str | None = None
    certificate: Path | None = None
    ledger: Path | None = None
    ready_belt: str = "green"


class _State:
    def __init__(self) -> None:
        self.doc: dict[str, Any] | None = None
        self.rounds = 0
        self.error: str | None = None
        self.started = time.time()


async def _round(config: DashboardConfig, watcher: Watcher) -> dict[str, Any]:
    report = await watcher.poll()
    doc = report.to_json()
    urls = {b.name: b.url for b in config.belts}
    doc["alias"] = await asyncio.to_thread(alias_view, config.alias_admin, urls)
    doc["certificate"] = certificate_view(config.certificate)
    doc["ledger"] = ledger_view(config.ledger)
    ready = report.belt(config.ready_belt)
    doc["ready_belt"] = config.ready_belt
    doc["ready_to_certify"] = bool(ready and ready.ready(report.within))
    return doc


async def _poll_forever(config: DashboardConfig, state: _State) -> None:
    watcher = Watcher(config.belts, config.rpc, within=config.within, window=config.window, timeout=config.timeout)
    try:
        while True:
            began = time.monotonic()
            try:
                state.doc = await _round(config, watcher)
                state.rounds += 1
                state.error = None
            except Exception as exc:  # the page must say the poller is failing, not freeze on old numbers
                state.error = redact_text(f"{type(exc).__name__}: {exc}")[:300]  # redacted before it is cut
                log.warning("dashboard round failed: %s", state.error)
            await asyncio.sleep(max(config.interval - (time.monotonic() - began), 0.05))
    finally:
        await watcher.aclose()


def create_app(config: DashboardConfig) -> Starlette:
    """The app; its lifespan runs the poller (so run it with lifespan on)."""
    state = _State()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_poll_forever(config, state))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def api(request: Request) -> Response:
        now = time.time()
        doc: dict[str, Any] = dict(state.doc) if state.doc is not None else {"belts": [], "at": None}
        doc["served_at"] = now
        doc["interval"] = config.interval
        doc["poller"] = {"rounds": state.rounds, "error": state.error, "started": state.started}
        text = json.dumps(redact_json(doc), sort_keys=True)
        return Response(text, media_type="application/json", headers={"cache-control": "no-store"})

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "not found"}, status_code=404)

    return Starlette(
        routes=[Route("/", page), Route("/api/status", api), Route("/healthz", health)],
        lifespan=lifespan,
        exception_handlers={404: not_found},
    )


def serve(config: DashboardConfig, *, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Serve until interrupted (uvicorn's own SIGINT/SIGTERM handling)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    )
    server.run()
