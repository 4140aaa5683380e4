"""redact.py, the one judge of secrets: what it hides in URLs, free text and log records, and what it keeps
(the host and port a failure must name, and the punctuation after a URL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from belt_gate import redact
from belt_gate.redact import (
    MASK,
    RedactingFilter,
    Secrets,
    active,
    install_log_filter,
    redact_text,
    redact_url,
    use,
)


@pytest.fixture(autouse=True)
def _clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees only the secrets it puts in use (the set in use is process-wide)."""
    monkeypatch.setattr(redact, "_used", None)
    for name in [k for k in __import__("os").environ if k.startswith("BELT_RPC_")]:
        monkeypatch.delenv(name)
    yield


@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        ("http://user:hunter22@h.io:8080/v1", "http://***@h.io:8080/v1", "hunter22"),
        # a '/' (or '?', '#') inside a password: urlsplit would read the rest as the path
        ("http://user:pa/ss99word@h.io:8080/v1/graphql", "http://***@h.io:8080/v1/graphql", "ss99word"),
        ("http://user:pa?ss99word@h.io/v1", "http://***@h.io/v1", "ss99word"),
        ("http://user:pa#ss99word@h.io/v1", "http://***@h.io/v1", "ss99word"),
        ("http://user:1234/ss99word@h.io:8545/v1", "http://***@h.io:8545/v1", "ss99word"),  # digits, then '/'
        ("https://h.io/rpc?credential=c4nary1", "https://h.io/rpc?credential=***", "c4nary1"),
        ("https://h.io/rpc?pass=c4nary2&x=1", "https://h.io/rpc?pass=***&x=1", "c4nary2"),
        ("https://h.io/rpc?pwd=c4nary3", "https://h.io/rpc?pwd=***", "c4nary3"),
        ("https://h.io/rpc?apikey=c4nary4", "https://h.io/rpc?apikey=***", "c4nary4"),
        ("https://h.io/rpc?x=1;apikey=c4nary5", "https://h.io/rpc?x=1;apikey=***", "c4nary5"),
        # matrix parameters inside the path
        ("https://h.io/v1;apikey=c4nary6/graphql", "https://h.io/v1;apikey=***/graphql", "c4nary6"),
        ("https://h.io/v1;token=c4nary7", "https://h.io/v1;token=***", "c4nary7"),
        # a provider key in the path, and a key-like value under an innocent name
        ("https://eth.g.alchemy.com/v2/AbCdEf0123456789AbCdEf0123", "https://eth.g.alchemy.com/v2/***", "AbCdEf0123"),
        ("https://h.io/rpc?q=AbCdEf0123456789AbCdEf0123", "https://h.io/rpc?q=***", "AbCdEf0123"),
        ("https://h.io/v1/graphql#tok3nfrag", "https://h.io/v1/graphql", "tok3nfrag"),
    ],
)
def test_redact_url_hides_the_secret_and_keeps_the_endpoint(url: str, shown: str, hidden: str) -> None:
    assert redact_url(url) == shown
    assert hidden not in redact_text(f"POST {url}: HTTP 500")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1/graphql",
        "http://127.0.0.1:8080/users/@me",  # an '@' in a path after a port is not userinfo
        "https://h.io/v1/graphql?chain=1&limit=10",
        "http://[::1]:8545/",
    ],
)
def test_a_url_without_secrets_is_kept(url: str) -> None:
    assert redact_url(url) == url


def test_punctuation_after_a_url_is_kept() -> None:
    text = "green http://h.io:1/v1/graphql?apikey=s3cr3t9: HTTP 500; see http://h.io:2/x."
    assert redact_text(text) == "green http://h.io:1/v1/graphql?apikey=***: HTTP 500; see http://h.io:2/x."


def test_a_registered_value_is_secret_as_a_whole() -> None:
    use(Secrets.of("adm1n-c4nary"))
    assert redact_text("header x-hasura-admin-secret: adm1n-c4nary.") == f"header x-hasura-admin-secret: {MASK}."


def test_a_registered_url_shows_only_scheme_host_and_port() -> None:
    """A short path key (`/v2/<key>`, fewer than 20 chars) is no key by its looks: registered, it is hidden,
    wherever it shows, whole or as a path."""
    url = "https://rpc.example.org:8443/v2/k3yshort"
    assert "k3yshort" in redact_url(url)  # not key-like by looks alone
    use(Secrets.of(url))
    assert redact_url(url) == f"https://rpc.example.org:8443/{MASK}"
    text = redact_text(f"chain 1 RPC {url}: HTTP 502 (path /v2/k3yshort)")
    assert "k3yshort" not in text and "https://rpc.example.org:8443/" in text


def test_a_registered_url_with_a_query_is_hidden_before_the_query_is_rewritten() -> None:
    url = "http://127.0.0.1:8545/v2/k3yshort?apikey=abc123"
    use(Secrets.of(url))
    for text in (redact_text(f"x {url} y"), redact_text(f"GET {url.replace('apikey=abc123', 'apikey=zz')}")):
        assert "k3yshort" not in text and "abc123" not in text, text


def test_belt_rpc_environment_values_are_secret_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELT_RPC_42161", "http://127.0.0.1:9545/v2/sh0rt")
    assert "http://127.0.0.1:9545/v2/sh0rt" in active().ordered
    assert redact_url("http://127.0.0.1:9545/v2/sh0rt") == f"http://127.0.0.1:9545/{MASK}"
    assert "sh0rt" not in redact_text("error: http://127.0.0.1:9545/v2/sh0rt/ timed out")


def test_a_registered_url_without_path_shows_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELT_RPC_10", "http://127.0.0.1:8545")
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert redact_url("http://127.0.0.1:8545/") == "http://127.0.0.1:8545"
    monkeypatch.setenv("BELT_RPC_10", "http://u:pw1234@127.0.0.1:8545")
    assert redact_text("at http://u:pw1234@127.0.0.1:8545 now") == "at http://***@127.0.0.1:8545 now"


def test_secret_named_environment_values_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELT_GREEN_ADMIN_SECRET", "gr33n-adm1n")
    assert redact_text("secret gr33n-adm1n used") == f"secret {MASK} used"


def test_a_short_value_is_not_registered() -> None:
    use(Secrets.of("abc"))
    assert redact_text("abc abc") == "abc abc"


@given(
    user=st.text("abcdefghij", min_size=1, max_size=6),
    password=st.text("abcdefgh123/?#:!", min_size=1, max_size=12).filter(lambda p: p[0] not in "/?#"),
    path=st.sampled_from(["", "/", "/v1/graphql", "/rpc"]),
)
def test_userinfo_never_survives(user: str, password: str, path: str) -> None:
    url = f"http://{user}:{password}Z9@rpc.example.org:8545{path}"
    shown = redact_url(url)
    assert f"{password}Z9" not in shown and f"{password}Z9" not in redact_text(f"at {url} now")
    assert "rpc.example.org:8545" in shown


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("httpx", logging.INFO, __file__, 1, msg, args, None)


def test_filter_redacts_message_and_args() -> None:
    record = _record('HTTP Request: %s %s "%s"', "POST", "http://u:pw99@h.io/x?apikey=s3cr3t9", "HTTP/1.1 200 OK")
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == 'HTTP Request: POST http://***@h.io/x?apikey=*** "HTTP/1.1 200 OK"'


def test_filter_redacts_a_traceback() -> None:
    try:
        raise RuntimeError("failed http://h.io/x?token=s3cr3t9")
    except RuntimeError:
        import sys

        record = logging.LogRecord("belt_gate", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_text and "s3cr3t9" not in record.exc_text and "token=***" in record.exc_text


def test_installed_filter_covers_httpx_httpcore_and_belt_gate_loggers(caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger("belt_gate.sources.test_child")
    install_log_filter()
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore.connection", "httpcore.http11", "belt_gate", "belt_gate.sources.test_child"):
        logging.getLogger(name).debug("connect to http://127.0.0.1:1/v1?apikey=%s", "s3cr3t9")
    assert len(caplog.records) == 5
    assert "s3cr3t9" not in caplog.text and caplog.text.count("apikey=***") == 5


# -- the secret set: a value built from settings, put in use explicitly -----------------------------------


def test_building_settings_registers_nothing_and_the_set_they_hold_hides_what_it_must(tmp_path: Path) -> None:
    from belt_gate.settings import build_settings, build_watch_settings

    rpc = "http://127.0.0.1:8545/v2/k3yInPath"  # a short path key: no key by its looks, secret by its source
    green = "http://127.0.0.1:9/sh0rtpath/v1/graphql"
    env = {"BELT_RPC_10": rpc, "BELT_GREEN": green, "BELT_ADMIN_SECRET": "adm1n", "BELT_X_ADMIN_SECRET": "xadm1n"}
    text = f"asked {rpc} and {green} with adm1n / xadm1n; a log line shows /v2/k3yInPath"
    settings = build_settings({"blue": "http://127.0.0.1:8/v1/graphql"}, {}, cwd=tmp_path, env=env)
    watch = build_watch_settings(["x=http://127.0.0.1:7/v1/graphql"], [], cwd=tmp_path, env=env)
    assert redact._used is None  # nothing was put in use by building either
    assert redact_text(text) == text  # the process's environment holds none of them
    assert settings.secrets.values == {rpc, green, "adm1n", "xadm1n"} <= watch.secrets.values
    assert "adm1n" not in repr(settings.secrets) and repr(settings.secrets) == "Secrets(<4 values>)"

    assert use(settings.secrets) is None
    shown = redact_text(text)
    for secret in ("k3yInPath", "sh0rtpath", "adm1n"):
        assert secret not in shown, shown
    assert "http://127.0.0.1:8545/***" in shown and "http://127.0.0.1:9/***" in shown and "/***" in shown
    assert redact_url(green) == "http://127.0.0.1:9/***"
    assert use(None) == settings.secrets  # use gives back the set it replaces
    assert redact_text(text) == text


def test_the_environment_applies_until_a_set_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELT_RPC_5", "http://127.0.0.1:1/v2/envk3y")
    monkeypatch.setenv("MY_API_TOKEN", "t0ken-value")
    assert "envk3y" not in redact_text("at http://127.0.0.1:1/v2/envk3y") and active() == Secrets.from_environment(
        __import__("os").environ
    )
    use(Secrets.of("other-s3cret"))  # a set in use is the whole set: the environment is read no more
    assert redact_text("t0ken-value other-s3cret") == f"t0ken-value {MASK}"


def test_secrets_of_leaves_out_what_cannot_be_hidden() -> None:
    assert Secrets.of(None, "", "abc", "abcd").values == {"abcd"}
    assert (Secrets.of("abcd") | Secrets.of("efgh")).values == {"abcd", "efgh"}
    assert Secrets.of("http://h.io:1/v2/k3y").ordered == ("http://h.io:1/v2/k3y", "/v2/k3y")
