"""Send every plain-HTTP request to the same URL over HTTPS.

``app.add_middleware(HTTPSRedirectMiddleware)``, as in FastAPI: a request that came over ``http`` is answered
307 (the method and body are kept) with ``Location: https://`` and the same host, path and query; the port is
kept unless it is 80 or 443. Behind a proxy that ends TLS, the scheme is the one the proxy reports
(``X-Forwarded-Proto`` or ``Forwarded: proto=``, from a peer in ``--forwarded-allow-ips``), so requests the
client sent over HTTPS are not redirected in a loop.
"""

from __future__ import annotations

from typing import Final

from covet.middleware import AnyResponse, CallNext
from covet.middleware.trustedhost import host_of
from covet.requests import Request
from covet.responses import PlainTextResponse, RedirectResponse

__all__ = ["HTTPSRedirectMiddleware"]

_SECURE: Final = {"http": "https", "ws": "wss"}


class HTTPSRedirectMiddleware:
    """Redirects ``http`` requests to ``https`` (307); others go on to the route."""

    def __init__(self) -> None:
        pass

    async def __call__(self, request: Request, call_next: CallNext) -> AnyResponse:
        secure = _SECURE.get(request.scheme)
        if secure is None:
            return await call_next(request)
        url = request.url
        if host_of(url.netloc) is None:  # nothing sane to redirect to
            return PlainTextResponse("Invalid host header", status=400)
        netloc = url.netloc
        if url.port in (80, 443):
            netloc = netloc[:netloc.rindex(":")]
        return RedirectResponse(str(url.replace(scheme=secure, netloc=netloc)), status=307)
