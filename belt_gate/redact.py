"""The one place that knows what a secret looks like, and hides it.

What is hidden: URL userinfo (a `/`, `?` or `#` inside a password included), query and matrix (`;k=v`)
parameters whose name smells of a credential, path segments and parameter values that look like API keys
(long random tokens, e.g. Alchemy/Infura `/v2/<key>`), and every value of a `Secrets` set as a whole (a URL
also by its path-and-query).

The API, all of it:

- `Secrets`: a frozen set of secret values. `Secrets.of(*values)` (values shorter than `MIN_LENGTH` cannot
  be hidden and are left out), `Secrets.from_environment(env)` (the values of variables whose name says
  secret, token, key, ... and every `BELT_RPC_<CHAIN>` value as a whole), `a | b`. Its repr says how many,
  never which. Settings build one (`Settings.secrets`, `WatchSettings.secrets`); parsing activates nothing.
- `use(secrets)`: the set this process hides by default from now on; it returns the set it replaces, so a
  caller can put that back. Called where a process starts its work: the plugin's `pytest_configure`
  (xdist workers get the controller's set in their `workerinput` too), each `belt-gate` command's entry.
  Until a set is used, `active()` is the environment's own (`Secrets.from_environment(os.environ)`), so
  code that runs before any settings exist still hides what the environment holds.
- `redact_text(text, secrets=None)`: free text with every secret hidden; `redact_url(url, secrets=None)`:
  one URL; `redact_json(value, secrets=None)`: every string of a JSON document, before it is serialised
  (an escaped secret is not found in the serialised text); `redact_output(text)`: another program's
  output (also `name=value` and `Bearer` tokens).
- `RedactingFilter` / `install_log_filter()`: log records of belt_gate's, httpx's and httpcore's loggers.

They are called where a value becomes text that leaves the process or is kept (the sinks): the terminal,
report and summary writers, the certificate, ledger, recordings and store-failures files, JUnit user
properties and failure texts, log records, the dashboard's JSON, one-line CLI and usage errors, and the
reprs of objects that hold secrets (`--showlocals`). A text cut short is redacted before it is cut (half a
secret is no longer recognised).

A secret value that is a URL is shown as `scheme://host:port/***` (its path, query and userinfo hidden; a
URL with nothing after host and port as it is), so a failure can still name the endpoint it concerns; any
other secret value is shown as `***`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
#: A secret shorter than this cannot be hidden without hiding ordinary words: `Secrets.of` leaves it out
#: (settings refuse such an admin secret).
MIN_LENGTH = 4
_SECRET_PARAM = re.compile(
    r"secret|token|key|pass|pwd|admin|sig|signature|auth|jwt|session|credential|private|bearer", re.I
)
_SECRET_ENV = re.compile(r"SECRET|TOKEN|KEY|PASSWORD|PASSWD|AUTH|JWT|CREDENTIAL", re.I)
#: A secret-named variable's value shorter than this is taken for a flag or a name, not a secret.
_SECRET_ENV_MIN = 6
#: Environment variables whose values are secret as a whole whatever they look like (an RPC URL's path may
#: carry a provider key of any length).
_WHOLE_SECRET_ENV = re.compile(r"^BELT_RPC_")
# A path segment or parameter value of 20+ chars mixing letters and digits, as provider API keys are.
_KEYLIKE = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_\-]{20,}$")
# A URL ends before trailing punctuation: "<url>: HTTP 500" keeps its colon (a masked query value swallowed it).
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>)\]]*[^\s'\"<>)\].,:;!?]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*://)(.*)$", re.S)
_PARAM = re.compile(r"(^|[;&])([^=;&]*)=([^;&]*)")


@dataclass(frozen=True)
class Secrets:
    """Secret values, each hidden as a whole wherever it shows; a URL's path-and-query too (a log line may
    show it without the host). Its repr says how many values it holds, never which."""

    values: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *values: str | None) -> Secrets:
        """The values given, less empty ones and those shorter than `MIN_LENGTH`."""
        return cls(frozenset(v for v in values if v and len(v) >= MIN_LENGTH))

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Secrets:
        """What an environment holds that is secret by its name: the values of variables named like a
        secret, token, key, password, ... (6 characters or more), and every `BELT_RPC_<CHAIN>` value as a
        whole (as set and stripped)."""
        named = (v for k, v in env.items() if _SECRET_ENV.search(k) and len(v) >= _SECRET_ENV_MIN)
        whole = (w for k, v in env.items() if _WHOLE_SECRET_ENV.match(k) for w in (v, v.strip()))
        return cls.of(*named, *whole)

    def __or__(self, other: Secrets) -> Secrets:
        return Secrets(self.values | other.values)

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Secrets(<{len(self.values)} values>)"

    @cached_property
    def ordered(self) -> tuple[str, ...]:
        """Every value and the path-and-query of each that is a URL, longest first (a longer value is
        replaced before a shorter one inside it)."""
        values = set(self.values) | {t for v in self.values for t in _url_tails(v)}
        return tuple(sorted(values, key=lambda v: (-len(v), v)))

    @cached_property
    def whole(self) -> frozenset[str]:
        """`ordered` as a set, for membership."""
        return frozenset(self.ordered)


_used: Secrets | None = None


def use(secrets: Secrets | None) -> Secrets | None:
    """Make `secrets` the set `redact_text`, `redact_url` and the log filter hide by default in this
    process; return the set it replaces (None: none was used yet, the environment's applied)."""
    global _used
    previous, _used = _used, secrets
    return previous


def active() -> Secrets:
    """The set in use, or before any `use`, the environment's own (read now)."""
    return _used if _used is not None else Secrets.from_environment(os.environ)


def _url_tails(value: str) -> set[str]:
    """The parts of a URL after its authority: path-and-query (`/v2/key?x=1`) and path alone (`/v2/key`),
    those long enough to mean something (a bare `/` does not)."""
    m = _SCHEME.match(value)
    if not m or not m.group(2):
        return set()
    rest = m.group(2)
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=-1)
    if cut < 0:
        return set()
    tail = rest[cut:]
    path = re.split(r"[?#]", tail, maxsplit=1)[0]
    return {t for t in (tail, path) if len(t.strip("/")) >= 3 and t.startswith("/")}


def _safe_form(value: str) -> str:
    """How a secret value is shown: a URL as scheme://host:port/*** , a URL tail as /*** , else ***."""
    if value.startswith("/"):
        return "/" + MASK
    m = _SCHEME.match(value)
    if not m:
        return MASK
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return MASK
    if not host:
        return MASK
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if "@" in value:
        netloc = f"{MASK}@{netloc}"
    if not _url_tails(value) and not parts.query and not parts.fragment:
        return f"{parts.scheme}://{netloc}"  # nothing after host and port: nothing to hide there
    return f"{parts.scheme}://{netloc}/{MASK}"


def _secret_param(name: str) -> bool:
    return bool(_SECRET_PARAM.search(unquote(name)))


def _mask_params(text: str) -> str:
    """`k=v` pairs (separated by `&` or `;`) with the value masked where the name smells of a credential or
    the value looks like a key; the rest kept exactly as written."""

    def one(m: re.Match[str]) -> str:
        sep, name, value = m.group(1), m.group(2), m.group(3)
        hidden = _secret_param(name) or bool(_KEYLIKE.match(unquote(value)))
        return f"{sep}{name}={MASK if hidden and value else value}"

    return _PARAM.sub(one, text)


_HOSTLIKE = re.compile(
    r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?|\[[0-9a-fA-F:.]+\](?::\d+)?|[A-Za-z0-9-]+:\d+|localhost)(?:[/?#]|$)"
)


def _split_userinfo(url: str) -> tuple[str, bool]:
    """(url without userinfo, had userinfo). Handles a password holding `/`, `?` or `#`, which `urlsplit`
    reads as the start of the path: `user:pa/ss@host` is userinfo; `host:8080/users/@me` is not, but
    `u:8080/x@h.io` is taken as userinfo too (ambiguous: hiding too much is the safe side)."""
    m = _SCHEME.match(url)
    if not m:
        return url, False
    scheme, rest = m.groups()
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:cut]
    if "@" in authority:
        return scheme + rest[authority.rfind("@") + 1 :], True
    if "@" in rest and ":" in authority:
        after_at = rest[rest.rfind("@") + 1 :]
        if not authority.split(":", 1)[1].isdigit() or _HOSTLIKE.match(after_at):
            return scheme + after_at, True
    return url, False


def redact_url(url: str, secrets: Secrets | None = None) -> str:
    """Mask userinfo, credential-like query and matrix parameters and key-like path segments of one URL;
    a URL that is one of the `secrets` (default: `active()`) shows only its scheme, host and port."""
    whole = (active() if secrets is None else secrets).whole
    if url in whole or url.rstrip("/") in whole:
        return _safe_form(url)
    return _redact_url(url)


def _redact_url(url: str) -> str:
    bare, had_userinfo = _split_userinfo(url)
    try:
        parts = urlsplit(bare)
        hostname = parts.hostname or ""
        port = parts.port
    except ValueError:
        return re.sub(r"//[^\s]*@", f"//{MASK}@", url) if "@" in url else f"{url.split('://')[0]}://{MASK}"
    netloc = hostname if ":" not in hostname else f"[{hostname}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if had_userinfo:
        netloc = f"{MASK}@{netloc}"
    segments = []
    for seg in parts.path.split("/"):
        name, semi, params = seg.partition(";")
        name = MASK if _KEYLIKE.match(unquote(name)) else name
        segments.append(name + semi + (_mask_params(params) if semi else ""))
    query = _mask_params(parts.query) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, "/".join(segments), query, ""))


def redact_text(text: str, secrets: Secrets | None = None) -> str:
    """Mask every value of `secrets` (default: `active()`) and every URL's secrets in free text. The
    values go first: a URL secret as a whole must be found before its query is rewritten."""
    out = text
    for value in (active() if secrets is None else secrets).ordered:
        if value in out:
            safe = _safe_form(value)
            if safe.startswith(value):  # scheme://host:port: leave it where it is already shown safely
                out = re.sub(re.escape(value) + f"(?!{re.escape(safe[len(value) :])})", safe, out)
            else:
                out = out.replace(value, safe)
    return _URL.sub(lambda m: _redact_url(m.group(0)), out)


def redact_json(value: Any, secrets: Secrets | None = None) -> Any:
    """A JSON-able value with every string in it (keys too) passed through `redact_text`, before it is
    serialised: the serialised text escapes a `"`, a `\\` or a non-ASCII character inside a secret, and an
    escaped secret is no longer found. Tuples become lists; a value JSON does not know is shown as its
    `str`, redacted (as `json.dumps(..., default=str)` would show it)."""
    secrets = active() if secrets is None else secrets
    if isinstance(value, str):
        return redact_text(value, secrets)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {
            (redact_text(k, secrets) if isinstance(k, str) else k): redact_json(v, secrets) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_json(v, secrets) for v in value]
    return redact_text(str(value), secrets)


class RedactingFilter(logging.Filter):
    """A log filter that rewrites each record's message (and its formatted traceback) through
    `redact_text`; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (its arguments applied) and traceback and stack through redact_text, in place;
        the record is always kept."""
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit its format: show the format alone, redacted
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


_FILTER = RedactingFilter()
#: Loggers whose records may carry URLs or headers: a logger filter sees only records logged on that very
#: logger (not its children's), so each one is named.
LOGGERS = (
    "belt_gate",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def install_log_filter() -> None:
    """Put `RedactingFilter` on belt_gate's, httpx's and httpcore's loggers (idempotent; call it again
    after new `belt_gate.*` loggers were created)."""
    names = set(LOGGERS) | {n for n in list(logging.root.manager.loggerDict) if n.startswith("belt_gate.")}
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


# Installed on import: settings import this module before anything is fetched or logged, so httpx's first
# "HTTP Request: POST <url>" line of any client (sources, promote, watch) is already filtered.
install_log_filter()

__all__ = [
    "MASK",
    "MIN_LENGTH",
    "RedactingFilter",
    "Secrets",
    "active",
    "install_log_filter",
    "redact_json",
    "redact_output",
    "redact_text",
    "redact_url",
    "use",
]


# `name=value` / `name: value` in free text (a program's output), and `Bearer <token>`.
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][\w.\-]*)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)")
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=\-]{8,}", re.I)


def redact_output(text: str) -> str:
    """Free text another program wrote (a swap command's output): `redact_text`, and also the values of
    `name=value` / `name: value` pairs whose name smells of a credential or whose value looks like a key,
    and `Bearer <token>`. Such output is not ours, so nothing in it is assumed harmless."""

    def one(m: re.Match[str]) -> str:
        name, sep, value = m.group(1), m.group(2), m.group(3)
        bare = value.strip("\"'")
        hidden = _secret_param(name) or bool(_KEYLIKE.match(bare))
        return f"{name}{sep}{MASK}" if hidden and bare else m.group(0)

    out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", redact_text(text))
    out = _ASSIGNMENT.sub(one, out)
    return " ".join(MASK if _KEYLIKE.match(w) else w for w in out.split(" "))
