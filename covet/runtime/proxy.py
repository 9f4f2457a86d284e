"""Behind a proxy: which peers are believed, and what their forwarding headers say.

Rules, in the order a request meets them:

1. Only a direct peer in ``--forwarded-allow-ips`` is believed (``*``: every peer, a Unix socket's too);
   from any other peer the forwarding headers are ignored, whatever they say.
2. ``X-Forwarded-For``/``-Proto``/``-Host`` come first: nginx and the cloud load balancers send them. A field
   they do not give is taken from RFC 7239 ``Forwarded`` (``for=``, ``proto=``, ``host=``).
3. The client is the right-most address of the list that is not trusted: each trusted proxy appended the peer
   it saw, and what lies left of the first untrusted hop is whatever the client chose to send. When every hop
   is trusted, the left-most is the client (as uvicorn does).
4. A malformed value (a bad address or port, control bytes, a broken quoted string) is ignored, never an
   error: the field keeps the connection's own value.
5. Nothing here runs until a route reads ``request.client``, ``scheme`` or ``url``
   (``ConnectionInfo`` asks on first use); a route that does not look pays nothing.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Final, final

__all__ = ["Front", "Trust", "Forwarded", "forwarded", "DEFAULT_ALLOW_IPS"]

DEFAULT_ALLOW_IPS: Final = "127.0.0.1"

# RFC 9110 token, quoted-string (with quoted-pair) and the OWS around RFC 7239's separators.
_TCHAR: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_QUOTED: Final = r"\"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*\""
_PAIR: Final = re.compile(r"[ \t]*(" + _TCHAR + r"+)=(" + _TCHAR + r"+|" + _QUOTED + r")[ \t]*([;,]|$)")
_QUOTED_PAIR: Final = re.compile(r"\\(.)")
_OBF: Final = re.compile(r"_[A-Za-z0-9._-]+")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_HOST: Final = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+;=%-]+)(?::[0-9]{1,5})?")
_SCHEMES: Final = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_LONGEST_IP: Final = 45  # an IPv4-mapped IPv6 address written out in full


def _ip(text: str) -> str | None:
    """``text`` as a canonical IP address, or None."""
    if not text or len(text) > _LONGEST_IP or "%" in text:  # a zone index names a local interface: not a client
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _port(text: str) -> int | None:
    if _PORT.fullmatch(text) is None:
        return None
    n = int(text)
    return n if n <= 65535 else None


@final
class Trust:
    """The peers whose forwarding headers are believed: ``--forwarded-allow-ips``.

    Comma-separated IP addresses, CIDR networks, ``*`` for every peer, or other literal names (a proxy's
    obfuscated RFC 7239 identifier). Raises ValueError for a network that does not parse.
    """

    __slots__ = ("everyone", "addresses", "networks", "names")

    def __init__(self, spec: str) -> None:
        self.everyone = False
        self.addresses: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.names: set[str] = set()
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if item == "*":
                self.everyone = True
            elif "/" in item:
                try:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"--forwarded-allow-ips: {item!r} is not an IP network") from None
            else:
                ip = _ip(item)
                if ip is not None:
                    self.addresses.add(ip)
                else:
                    self.names.add(item)

    def __contains__(self, host: object) -> bool:
        if self.everyone:
            return True
        if not isinstance(host, str) or not host:
            return False
        if host in self.addresses or host in self.names:
            return True
        if not self.networks and ":" not in host:
            return False
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        # An IPv4 peer on a dual-stack listener shows as ::ffff:a.b.c.d; "127.0.0.1" still names it.
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        if mapped is not None and str(mapped) in self.addresses:
            return True
        return any(ip in net or (mapped is not None and mapped in net) for net in self.networks)

    def peer_trusted(self, peer: tuple[str, int] | None) -> bool:
        """Whether the direct peer is believed (a peer without an address, a Unix socket's, only under ``*``)."""
        return self.everyone if peer is None else peer[0] in self

    @staticmethod
    def from_option(value: str | None) -> Trust:
        """``--forwarded-allow-ips``, else ``$FORWARDED_ALLOW_IPS``, else 127.0.0.1 (uvicorn's rule)."""
        if value is None:
            value = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_ALLOW_IPS)
        return Trust(value)


@final
class Front:
    """How one server sits behind its proxy: the peers believed (None: proxy headers off) and the root path."""

    __slots__ = ("trust", "root_path")

    def __init__(self, trust: Trust | None, root_path: str = "") -> None:
        self.trust = trust
        self.root_path = root_path


@final
class Forwarded:
    """What a trusted peer's headers say; None in a field that was absent or malformed."""

    __slots__ = ("client", "scheme", "host")

    def __init__(self, client: tuple[str, int] | None, scheme: str | None, host: str | None) -> None:
        self.client = client
        self.scheme = scheme
        self.host = host


def _joined(headers: list[tuple[str, str]], name: str) -> str | None:
    """Every line of header ``name``, joined as one list (RFC 9110 5.3), or None when absent."""
    found: list[str] = [v for k, v in headers if k == name]
    if not found:
        return None
    return found[0] if len(found) == 1 else ",".join(found)


def _xff_node(text: str) -> tuple[str, int] | None:
    """One X-Forwarded-For entry: an address, with a port if the proxy wrote one (``a.b.c.d:p``, ``[v6]:p``)."""
    item = text.strip(" \t")
    port = 0
    if item.startswith("["):
        end = item.find("]")
        if end < 0:
            return None
        host, rest = item[1:end], item[end + 1:]
        if rest:
            if rest[0] != ":":
                return None
            p = _port(rest[1:])
            if p is None:
                return None
            port = p
        ip = _ip(host)
        return (ip, port) if ip is not None and ":" in ip else None
    if item.count(":") == 1:
        host, _, rest = item.partition(":")
        p = _port(rest)
        if p is None:
            return None
        port = p
        item = host
    ip = _ip(item)
    return None if ip is None else (ip, port)


def _fwd_node(value: str) -> tuple[str, int] | None:
    """An RFC 7239 node (section 6): an address, ``unknown`` or an obfuscated ``_name``, with an optional port."""
    port = 0
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        ip = _ip(value[1:end])
        if ip is None or ":" not in ip:
            return None
        name, rest = ip, value[end + 1:]
    else:
        name, sep, rest = value.partition(":")
        rest = sep + rest
        if name == "unknown" or _OBF.fullmatch(name) is not None:
            pass
        else:
            ip = _ip(name)
            if ip is None or ":" in ip:  # an IPv6 address must be in brackets (and quoted)
                return None
            name = ip
    if rest:
        if rest[0] != ":":
            return None
        p = _port(rest[1:])
        if p is None:
            if _OBF.fullmatch(rest[1:]) is None:
                return None
        else:
            port = p
    return name, port


def _fwd_elements(value: str) -> list[dict[str, str]] | None:
    """The elements of a ``Forwarded`` value, each its pairs by lower-cased name; None when it does not parse."""
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    pos, end = 0, len(value)
    while pos < end:
        m = _PAIR.match(value, pos)
        if m is None:
            # An empty element (``a=b, , c=d``) is allowed; anything else is malformed.
            rest = value[pos:].lstrip(" \t")
            if rest.startswith(","):
                if current:
                    elements.append(current)
                    current = {}
                pos = end - len(rest) + 1
                continue
            if not rest:
                break
            return None
        name, raw, sep = m.group(1).lower(), m.group(2), m.group(3)
        if raw.startswith('"'):
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
        if name in current:  # RFC 7239 4: a parameter appears at most once per element
            return None
        current[name] = raw
        pos = m.end()
        if sep != ";":
            elements.append(current)
            current = {}
    if current:
        elements.append(current)
    return elements


def _scheme(value: str | None) -> str | None:
    return None if value is None else _SCHEMES.get(value.strip(" \t").lower())


def _host(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip(" \t")
    if len(value) > 261 or _HOST.fullmatch(value) is None:  # 255 for the name, 6 for ":port"
        return None
    if value.startswith("["):
        end = value.index("]")
        ip = _ip(value[1:end])
        if ip is None or ":" not in ip:
            return None
    _, sep, port = value.rpartition(":") if not value.endswith("]") else ("", "", "")
    if sep and "]" not in port and _port(port) is None:
        return None
    return value


def _pick(values: list[str], index: int, hops: int) -> str:
    """The entry of a per-hop list for the hop the client was found at, when the lists line up; else the
    right-most (what the trusted peer itself says)."""
    return values[index] if len(values) == hops else values[-1]


def forwarded(trust: Trust, headers: list[tuple[str, str]]) -> Forwarded:
    """What the forwarding headers in ``headers`` say, read as ``trust`` says; the caller has checked that the
    direct peer is trusted."""
    client: tuple[str, int] | None = None
    scheme: str | None = None
    host: str | None = None
    index, hops = -1, 0
    xff = _joined(headers, "x-forwarded-for")
    if xff is not None:
        entries = xff.split(",")
        hops = len(entries)
        for i in range(hops - 1, -1, -1):
            node = _xff_node(entries[i])
            if node is None:
                break  # malformed where the client should be: believe none of it
            if i == 0 or node[0] not in trust:
                client, index = node, i
                break
    xfp = _joined(headers, "x-forwarded-proto")
    if xfp is not None:
        scheme = _scheme(_pick(xfp.split(","), index, hops))
    xfh = _joined(headers, "x-forwarded-host")
    if xfh is not None:
        host = _host(_pick(xfh.split(","), index, hops))
    if (client is None and xff is None) or (scheme is None and xfp is None) or (host is None and xfh is None):
        fwd = _joined(headers, "forwarded")
        if fwd is not None:
            elements = _fwd_elements(fwd)
            if elements:
                chosen = _fwd_choose(trust, elements)
                if chosen is not None:
                    element, node = chosen
                    if xff is None:
                        client = node
                    if xfp is None:
                        scheme = _scheme(element.get("proto"))
                    if xfh is None:
                        host = _host(element.get("host"))
    return Forwarded(client, scheme, host)


def _fwd_choose(trust: Trust, elements: list[dict[str, str]]) -> tuple[dict[str, str], tuple[str, int] | None] | None:
    """The ``Forwarded`` element of the client's hop (rule 3) and its ``for=`` node (None without one)."""
    for i in range(len(elements) - 1, -1, -1):
        element = elements[i]
        value = element.get("for")
        if value is None:
            if i == 0:
                return element, None
            continue
        node = _fwd_node(value)
        if node is None:
            return None
        if i == 0 or node[0] not in trust:
            return element, node
    return None
