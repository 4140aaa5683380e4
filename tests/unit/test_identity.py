"""endpoint_identity: green is blue when they reach the same endpoint, however the URLs are spelled."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from belt_gate.endpoint_identity import InvalidEndpoint, location, resolve, same_endpoint

BLUE = "http://127.0.0.1:9/v1/graphql"


@pytest.mark.parametrize(
    "green",
    [
        BLUE,
        "http://127.1:9/v1/graphql",  # inet_aton's short form
        "http://localhost:9/v1/graphql",
        "http://LOCALHOST:9/v1/graphql/",
        "HTTP://127.0.0.1:9/v1/graphql",
        "http://2130706433:9/v1/graphql",  # the address as one number
        "http://0x7f.1:9/v1/graphql",
        "http://[::ffff:127.0.0.1]:9/v1/graphql",  # IPv4-mapped IPv6
        "http://0.0.0.0:9/v1/graphql",  # "this host": connecting reaches the local listeners
        f"{BLUE}?x=1",
        f"{BLUE}#frag",
        "http://user:pw@127.0.0.1:9/v1/graphql",
        "http://127.0.0.1:9//v1//graphql",
        "http://127.0.0.1:9/v1/./graphql/.",
        "http://127.0.0.1:9/v1/x/../graphql",
        "http://127.0.0.1:9/v1/%67raphql",  # percent-encoded 'g'
    ],
)
def test_spellings_of_one_endpoint_are_the_same(green: str) -> None:
    assert same_endpoint(BLUE, green)
    assert same_endpoint(green, BLUE)


def test_default_ports_are_filled_in() -> None:
    assert same_endpoint("http://127.0.0.1/v1/graphql", "http://127.0.0.1:80/v1/graphql")
    assert same_endpoint("https://127.0.0.1/v1/graphql", "https://127.0.0.1:443/v1/graphql/")
    assert location("https://h.example/x").port == 443


@pytest.mark.parametrize(
    "green",
    [
        "https://127.0.0.1:9/v1/graphql",  # another scheme
        "http://127.0.0.1:10/v1/graphql",  # another port
        "http://127.0.0.1:9/v2/graphql",  # another path
        "http://127.0.0.1:9/v1/GraphQL",  # paths are case-sensitive
        "http://127.0.0.2:9/v1/graphql",  # another loopback address is another listener
        "http://127.0.0.1:9/v1/a%2Fgraphql",  # an encoded '/' is not a separator
        "http://[::1]:9/v1/graphql",  # IPv6 loopback is another socket than 127.0.0.1
    ],
)
def test_other_endpoints_differ(green: str) -> None:
    assert not same_endpoint(BLUE, green)


def fake_resolver(table: dict[str, set[str]], calls: list[str]) -> Callable[[str], frozenset[str]]:
    def resolver(host: str) -> frozenset[str]:
        calls.append(host)
        return frozenset(table.get(host, {host}))

    return resolver


def test_a_host_name_and_its_address_are_the_same() -> None:
    calls: list[str] = []
    resolver = fake_resolver({"blue.internal": {"10.0.0.5"}}, calls)
    assert same_endpoint("http://blue.internal/v1/graphql", "http://10.0.0.5/v1/graphql", resolver)
    assert same_endpoint("http://10.0.0.5:80/v1/graphql", "http://blue.internal/v1/graphql", resolver)
    assert not same_endpoint("http://blue.internal/v1/graphql", "http://10.0.0.6/v1/graphql", resolver)
    assert calls


def test_names_resolving_to_one_loopback_address_are_the_same() -> None:
    resolver = fake_resolver({"blue.test": {"127.0.0.1"}, "green.test": {"127.0.0.1", "::1"}}, [])
    assert same_endpoint("http://blue.test:9/v1/graphql", "http://green.test:9/v1/graphql", resolver)


def test_two_names_sharing_a_public_address_are_two_virtual_hosts() -> None:
    """One ingress (or CDN) serves blue.example and green.example on one address, told apart by Host."""
    resolver = fake_resolver({"blue.example": {"203.0.113.7"}, "green.example": {"203.0.113.7", "203.0.113.8"}}, [])
    assert not same_endpoint("https://blue.example/v1/graphql", "https://green.example/v1/graphql", resolver)


def test_the_resolver_runs_only_when_everything_else_agrees() -> None:
    def refuse(host: str) -> frozenset[str]:
        raise AssertionError(f"resolved {host} although the ports differ")

    assert not same_endpoint("http://a.example:1/x", "http://b.example:2/x", refuse)
    assert not same_endpoint("http://a.example/x", "http://b.example/y", refuse)
    assert same_endpoint("http://a.example/x", "http://A.example./x/", refuse)  # one name: no resolution


def test_real_resolver_canonicalises_addresses_and_keeps_unknown_names() -> None:
    assert resolve("localhost") & {"127.0.0.1", "::1"}
    assert resolve("127.1") == {"127.0.0.1"}
    assert resolve("::ffff:127.0.0.1") == {"127.0.0.1"}
    assert resolve("no-such-host.invalid") == {"no-such-host.invalid"}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:99999/x", "not a valid URL"),
        ("http://127.0.0.1:port/x", "not a valid URL"),
        ("http:///v1/graphql", "not a valid URL (no host)"),
        ("ftp://127.0.0.1/x", "not a valid URL (not http(s))"),
    ],
)
def test_urls_naming_no_endpoint_are_refused_without_echoing_them(url: str, why: str) -> None:
    with pytest.raises(InvalidEndpoint, match=re.escape(why)) as info:
        location(url)
    assert "127.0.0.1" not in str(info.value)


_TEXT = st.text(alphabet="abcXYZ019-_.~", min_size=1, max_size=12)


@given(user=_TEXT, password=_TEXT, query=_TEXT, fragment=_TEXT, slash=st.sampled_from(["", "/", "//"]))
def test_userinfo_query_fragment_and_trailing_slashes_never_change_identity(
    user: str, password: str, query: str, fragment: str, slash: str
) -> None:
    green = f"http://{user}:{password}@127.0.0.1:9/v1/graphql{slash}?q={query}#{fragment}"
    assert same_endpoint(BLUE, green, lambda h: frozenset({h}))
