"""What the dashboard shows beside progress: what the alias serves now, the last certificate, the ledger.

Read-only. The alias is read through `belt_gate.promote` (Caddy's admin API, never changed here); the
certificate and the ledger are files. Every failure is a value (`{"state": "error", "message": ...}`),
never an exception: the page shows it as such. Not redacted here: `app.py` redacts the whole JSON where
it is served.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from belt_gate.errors import BeltGateError

LEDGER_ENTRIES = 5
_LEDGER_KEYS = ("time", "action", "target", "from", "to", "result", "reason", "certificate_sha256")


def alias_view(admin_url: str | None, belts: Mapping[str, str]) -> dict[str, Any]:
    """What the alias serves now (host:port) and which watched belt that is (`belts`: name -> URL)."""
    if not admin_url:
        return {"state": "unknown", "message": "alias admin API not given (--alias-admin URL)"}
    from belt_gate.promote import CaddyAlias, upstream_address

    try:
        with CaddyAlias(admin_url, timeout=3.0) as alias:
            upstream = alias.current_upstream()
    except BeltGateError as exc:
        return {"state": "error", "admin": admin_url, "message": str(exc)}
    serves = None
    for name, url in belts.items():
        try:
            if upstream_address(url) == upstream:
                serves = name
                break
        except BeltGateError:
            continue
    return {"state": "ok", "admin": admin_url, "upstream": upstream, "belt": serves}


def certificate_view(path: Path | None) -> dict[str, Any] | None:
    """The certificate's verdict in brief (certified, complete, reasons, totals, created)."""
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return {"state": "error", "path": str(path), "message": f"cannot read {path}: {exc.strerror}"}
    except ValueError:
        return {"state": "error", "path": str(path), "message": f"{path} is not JSON"}
    if not isinstance(doc, dict) or "certified" not in doc:
        return {"state": "error", "path": str(path), "message": f"{path} is not a belt_gate certificate"}
    return {
        "state": "ok",
        "path": str(path),
        "certified": doc.get("certified") is True,
        "complete": doc.get("complete") is True,
        "reasons": [str(r) for r in doc.get("reasons", [])][:5] if isinstance(doc.get("reasons"), list) else [],
        "totals": doc.get("totals") if isinstance(doc.get("totals"), dict) else {},
        "created": doc.get("created"),
        "format": doc.get("format"),
    }


def ledger_view(path: Path | None, entries: int = LEDGER_ENTRIES) -> dict[str, Any] | None:
    """The last `entries` lines of the promotion ledger (JSONL), newest first; unreadable lines say so."""
    if path is None:
        return None
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        return {"state": "error", "path": str(path), "message": f"cannot read {path}: {exc.strerror}"}
    out: list[dict[str, Any]] = []
    for line in reversed(lines[-entries:]):
        try:
            entry = json.loads(line)
        except ValueError:
            out.append({"error": "not a JSON line"})
            continue
        if not isinstance(entry, dict):
            out.append({"error": "not a JSON object"})
            continue
        out.append({k: entry[k] for k in _LEDGER_KEYS if k in entry})
    return {"state": "ok", "path": str(path), "total": len(lines), "entries": out}
