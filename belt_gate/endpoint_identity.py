"""Whether two endpoint URLs reach the same server: identity, not spelling.

Scheme, resolved address, port (the scheme's default filled in) and normalised path decide; query,
fragment and userinfo do not (`?x=1` or a user name reaches no other server). `localhost`, `127.1` and
`127.0.0.1` are one address. Two DNS names that share only a public address are virtual hosts of one
ingress, so two endpoints; names that resolve to the same loopback address are one. The only I/O is the
host name resolver (injectable), and it runs only when everything else already agrees.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
#: "This host" as a destination: connecting to it reaches the machine's own (loopback) listeners.
_THIS_HOST = {"0.0.0.0": "127.0.0.1", "::": "::1"}

Resolver = Callable[[str], frozenset[str]]


class InvalidEndpoint(ValueError):
    """A URL that does not name an endpoint (no host, a bad port, not http(s)); the text holds no URL.
    `reason`: what is wrong, without the "not a valid URL" preamble."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"not a valid URL ({reason})")


@dataclass(frozen=True)
class Location:
    """A URL without what does not change the server it reaches (userinfo, query, fragment)."""

    scheme: str
    host: str  # lower-cased, as written (IPv6 without brackets)
    port: int
    segments: tuple[str, ...]  # the path: no empty or `.` segments, `..` applied, percent-decoded

    @property
    def path(self) -> str:
        """The normalised path, always starting with `/`."""
        return "/" + "/".join(self.segments)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def location(url: str) -> Location:
    """Parse `url` (no I/O). Raises InvalidEndpoint saying what is wrong, never echoing the URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidEndpoint(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidEndpoint("not http(s)")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise InvalidEndpoint("no host")
    segments: list[str] = []
    for raw in parts.path.split("/"):
        segment = unquote(raw)
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return Location(scheme, host, port if port is not None else DEFAULT_PORTS[scheme], tuple(segments))


def _canonical(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    text = str(ip)
    return _THIS_HOST.get(text, text)


def resolve(host: str) -> frozenset[str]:
    """The addresses `host` resolves to (socket.getaddrinfo), canonical; the name itself if it does not resolve
    (two unresolvable names are then the same only when spelled the same)."""
    try:
        return frozenset({_canonical(host)})
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return frozenset({host})
    found = set()
    for info in infos:
        try:
            found.add(_canonical(str(info[4][0])))
        except ValueError:
            continue
    return frozenset(found) or frozenset({host})


def written_as_address(host: str) -> bool:
    """`host` is an address however written (`127.0.0.1`, `127.1`, `2130706433`, `::1`) or `localhost`,
    which always names the loopback address (RFC 6761)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(host)  # the short and numeric IPv4 forms getaddrinfo accepts too
    except OSError:
        return False
    return True


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def same_endpoint(a: str, b: str, resolver: Resolver = resolve) -> bool:
    """True when URLs `a` and `b` reach the same endpoint: same scheme, port and path, and hosts that share
    an address. Two different DNS names sharing only a non-loopback address are two endpoints: one ingress or
    CDN serves many virtual hosts, told apart by the Host header. Raises InvalidEndpoint for a URL that
    names none."""
    la, lb = location(a), location(b)
    if (la.scheme, la.port, la.segments) != (lb.scheme, lb.port, lb.segments):
        return False
    if la.host == lb.host:
        return True
    shared = resolver(la.host) & resolver(lb.host)
    if written_as_address(la.host) or written_as_address(lb.host):
        return bool(shared)
    return any(_loopback(address) for address in shared)


__all__ = ["InvalidEndpoint", "Location", "location", "resolve", "same_endpoint", "written_as_address"]
