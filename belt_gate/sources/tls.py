"""One TLS context for every HTTP client belt_gate builds: making one (the CA bundle) costs tens of ms,
and hundreds under load, each time; the context is the same as httpx's own default (certifi's bundle,
SSL_CERT_FILE / SSL_CERT_DIR honoured)."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def shared_context() -> ssl.SSLContext:
    """The process's TLS context (verification on), built once."""
    return httpx.create_ssl_context()
