"""Refuse requests for hosts the application does not serve (Host header attacks, DNS rebinding).

``app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com", "*.example.com"])``, as in FastAPI:
a request whose ``Host`` is missing, malformed or not allowed is answered 400 ``Invalid host header``. With
``www_redirect`` (the default), a request for ``example.com`` when only ``www.example.com`` is allowed is
redirected there (307).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final

from covet.exceptions import RouteDefinitionError
from covet.middleware import AnyResponse, CallNext
from covet.requests import Request
from covet.responses import PlainTextResponse, RedirectResponse

__all__ = ["TrustedHostMiddleware", "host_of"]

ENFORCE_DOMAIN_WILDCARD: Final = "Domain wildcard patterns must be like '*.example.com'."
# RFC 3986 host: a reg-name (unreserved, pct-encoded and sub-delims characters) or a bracketed IPv6 literal;
# then an optional port.
_HOST: Final = re.compile(r"([A-Za-z0-9._~%!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?")


def host_of(value: str | None) -> str | None:
    """The host of a ``Host`` header, lower-cased and without its port; None when it is not one."""
    if value is None or _HOST.fullmatch(value) is None:
        return None
    if value.startswith("["):
        literal = value[1:value.index("]")]
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return None
        return value[:value.index("]") + 1].lower()
    return value.partition(":")[0].lower()


class TrustedHostMiddleware:
    """Answers 400 ``Invalid host header`` unless the request's ``Host`` is one of ``allowed_hosts``.

    Args:
        allowed_hosts: host names, or ``*.example.com`` for any subdomain of example.com; ``["*"]`` (the default)
            allows every host.
        www_redirect: redirect ``example.com`` to ``www.example.com`` when only the latter is allowed.
    """

    def __init__(self, *, allowed_hosts: Sequence[str] | None = None, www_redirect: bool = True) -> None:
        hosts = ["*"] if allowed_hosts is None else allowed_hosts
        if isinstance(hosts, (str, bytes)):
            raise RouteDefinitionError(f"TrustedHostMiddleware(allowed_hosts=...) takes a list of host names, "
                                       f"not {hosts!r}")
        for pattern in hosts:
            if not isinstance(pattern, str) or "*" in pattern[1:] or (
                    pattern.startswith("*") and pattern != "*" and not pattern.startswith("*.")):
                raise RouteDefinitionError(f"TrustedHostMiddleware: {pattern!r}: {ENFORCE_DOMAIN_WILDCARD}")
        self.allowed_hosts = [p.lower() for p in hosts]
        self.allow_any = "*" in self.allowed_hosts
        self.www_redirect = www_redirect

    async def __call__(self, request: Request, call_next: CallNext) -> AnyResponse:
        if self.allow_any:
            return await call_next(request)
        host = host_of(request.headers.get("host"))
        if host is None:
            return PlainTextResponse("Invalid host header", status=400)
        www = False
        for pattern in self.allowed_hosts:
            if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return await call_next(request)
            if pattern == "www." + host:
                www = True
        if www and self.www_redirect:
            url = request.url
            return RedirectResponse(str(url.replace(netloc="www." + url.netloc)))
        return PlainTextResponse("Invalid host header", status=400)
