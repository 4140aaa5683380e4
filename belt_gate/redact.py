"""The one place that knows what a secret looks like, and hides it.

Secrets: URL userinfo, query parameters whose name smells of a credential, path segments that look like
API keys (long random tokens, e.g. Alchemy/Infura `/v2/<key>`), and the values of environment variables
that hold secrets. Everything belt_gate prints, writes or attaches passes through `redact_text`.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAM = re.compile(r"secret|token|key|password|passwd|admin|sig|signature|auth|jwt|session", re.I)
_SECRET_ENV = re.compile(r"SECRET|TOKEN|KEY|PASSWORD|PASSWD|AUTH|JWT|CREDENTIAL", re.I)
# A path segment of 20+ chars mixing letters and digits, as provider API keys are.
_KEYLIKE_SEGMENT = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_\-]{20,}$")
# A URL ends before trailing punctuation: "<url>: HTTP 500" keeps its colon (a masked query value swallowed it).
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>)\]]*[^\s'\"<>)\].,:;!?]")

_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value (e.g. an admin secret read from env) so it is masked everywhere."""
    if value and len(value) >= 4:
        _registered.add(value)


def secret_values() -> tuple[str, ...]:
    """The secret values known now (registered, and those of secret-named environment variables), longest
    first. Reading the environment costs; a caller redacting many texts in a row takes this once."""
    values = [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 6]
    return tuple(sorted({*values, *_registered}, key=len, reverse=True))


def redact_url(url: str) -> str:
    """Mask userinfo, credential-like query values and key-like path segments of one URL."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        port = parts.port
    except ValueError:
        return re.sub(r"//[^@/\s]*@", f"//{MASK}@", url)
    netloc = hostname if ":" not in hostname else f"[{hostname}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"{MASK}@{netloc}"
    path = "/".join(MASK if _KEYLIKE_SEGMENT.match(seg) else seg for seg in parts.path.split("/"))
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact_text(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """Mask every URL's secrets and every known secret value (`secrets`, default: read now) in free text."""
    out = _URL.sub(lambda m: redact_url(m.group(0)), text)
    for value in secret_values() if secrets is None else secrets:
        out = out.replace(value, MASK)
    return out
