"""Cross-origin resource sharing: which other sites' pages may call the API from a browser.

``app.add_middleware(CORSMiddleware, allow_origins=[...], ...)`` as in FastAPI, with Starlette's options,
defaults and answers:

1. A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered here, whatever
   the route: 200 ``OK`` when the origin, method and headers asked for are allowed, else 400 ``Disallowed CORS
   origin, method, headers`` (the failures listed). The route is not run. Added as application middleware, it
   also answers paths and methods that have no route (it wraps the 404 and 405 answers).
2. Any other request runs the route; when it came with an ``Origin``, the answer gets
   ``Access-Control-Allow-Credentials`` and ``-Expose-Headers`` as configured, and ``Access-Control-Allow-Origin``:
   ``*`` when every origin is allowed without credentials, else the request's own origin if it is allowed.
3. ``Vary: Origin`` is added whenever the answer depends on the origin, so caches keep them apart; with
   credentials, ``*`` is never sent (browsers refuse it): the origin is echoed instead.
4. An origin is allowed if it is in ``allow_origins`` (or that holds ``"*"``), or if ``allow_origin_regex``
   matches all of it. An origin that could not be sent back as a header (control bytes) or is longer than any
   real origin is never allowed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final

from covet.exceptions import RouteDefinitionError
from covet.headers import MutableHeaders
from covet.middleware import AnyResponse, CallNext
from covet.requests import Request
from covet.responses import PlainTextResponse, check_field

__all__ = ["CORSMiddleware", "ALL_METHODS", "SAFELISTED_HEADERS"]

ALL_METHODS: Final = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY")
# Request headers a browser sends without asking (the CORS-safelisted ones), always allowed.
SAFELISTED_HEADERS: Final = frozenset({"Accept", "Accept-Language", "Content-Language", "Content-Type"})
_PREFLIGHT_VARY: Final = ("Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
                          "Access-Control-Request-Private-Network")
# scheme "://" host (253) ":" port: anything much longer is not an origin a browser sends.
_LONGEST_ORIGIN: Final = 2048


def _names(option: str, value: Collection[str]) -> list[str]:
    if isinstance(value, (str, bytes)) or not all(isinstance(v, str) for v in value):
        raise RouteDefinitionError(f"CORSMiddleware({option}=...) takes a list of strings, not {value!r}")
    return list(value)


def _header_text(option: str, value: str) -> str:
    try:
        check_field(b"x", value.encode("latin-1"))
    except (ValueError, UnicodeEncodeError):
        raise RouteDefinitionError(f"CORSMiddleware({option}=...) gives {value!r}, which cannot be sent in a "
                                   "header") from None
    return value


def _sendable(value: str) -> bool:
    try:
        check_field(b"x", value.encode("latin-1"))
    except (ValueError, UnicodeEncodeError):
        return False
    return True


class CORSMiddleware:
    """Answers CORS preflights and adds the CORS headers (rules in the module's docstring).

    Args:
        allow_origins: origins allowed, e.g. ``["https://example.com"]``; ``["*"]`` allows all.
        allow_methods: methods a preflight may ask for; ``["*"]`` allows all.
        allow_headers: request headers a preflight may ask for (the safelisted ones always are); ``["*"]`` allows
            whatever is asked.
        allow_credentials: let the browser send cookies and credentials.
        allow_origin_regex: a regular expression an allowed origin matches in full.
        allow_private_network: answer Private Network Access preflights with consent.
        expose_headers: response headers the page's script may read.
        max_age: seconds a browser may keep a preflight's answer.
    """

    def __init__(
        self,
        *,
        allow_origins: Collection[str] = (),
        allow_methods: Collection[str] = ("GET",),
        allow_headers: Collection[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        allow_private_network: bool = False,
        expose_headers: Collection[str] = (),
        max_age: int = 600,
    ) -> None:
        origins = _names("allow_origins", allow_origins)
        methods = _names("allow_methods", allow_methods)
        headers = _names("allow_headers", allow_headers)
        exposed = [_header_text("expose_headers", h) for h in _names("expose_headers", expose_headers)]
        if "*" in methods:
            methods = list(ALL_METHODS)
        for m in methods:
            _header_text("allow_methods", m)
        for h in headers:
            _header_text("allow_headers", h)
        self.regex: re.Pattern[str] | None = None
        if allow_origin_regex is not None:
            try:
                self.regex = re.compile(allow_origin_regex)
            except re.error as exc:
                raise RouteDefinitionError(
                    f"CORSMiddleware(allow_origin_regex={allow_origin_regex!r}) is not a regular expression: {exc}"
                ) from None
        if isinstance(max_age, bool) or not isinstance(max_age, int):
            raise RouteDefinitionError(f"CORSMiddleware(max_age=...) takes whole seconds, not {max_age!r}")
        self.allow_origins = frozenset(origins)
        self.allow_methods = frozenset(methods)
        self.any_origin = "*" in origins
        self.any_header = "*" in headers
        self.allow_credentials = allow_credentials
        self.allow_private_network = allow_private_network
        # Answered with the origin itself rather than "*": browsers refuse "*" on a request with credentials.
        self.echo_origin = not self.any_origin or allow_credentials
        listed = sorted(SAFELISTED_HEADERS | set(headers))
        self.allow_headers = frozenset(h.lower() for h in listed)

        # The headers of every answer, worked out once.
        self.simple: list[tuple[str, str]] = []
        if self.any_origin:
            self.simple.append(("access-control-allow-origin", "*"))
        if allow_credentials:
            self.simple.append(("access-control-allow-credentials", "true"))
        if exposed:
            self.simple.append(("access-control-expose-headers", ", ".join(exposed)))
        preflight = [("vary", _PREFLIGHT_VARY)]
        if not self.echo_origin:
            preflight.append(("access-control-allow-origin", "*"))
        preflight.append(("access-control-allow-methods", ", ".join(methods)))
        preflight.append(("access-control-max-age", str(max_age)))
        if not self.any_header:
            preflight.append(("access-control-allow-headers", ", ".join(listed)))
        if allow_credentials:
            preflight.append(("access-control-allow-credentials", "true"))
        self.preflight = preflight

    def is_allowed_origin(self, origin: str) -> bool:
        if len(origin) > _LONGEST_ORIGIN or not _sendable(origin):
            return False
        if self.any_origin or origin in self.allow_origins:
            return True
        return self.regex is not None and self.regex.fullmatch(origin) is not None

    async def __call__(self, request: Request, call_next: CallNext) -> AnyResponse:
        headers = request.headers
        origin = headers.get("origin")
        if origin is not None and request.method == "OPTIONS" and "access-control-request-method" in headers:
            return self.preflight_response(origin, headers["access-control-request-method"],
                                           headers.get("access-control-request-headers"),
                                           headers.get("access-control-request-private-network"))
        response = await call_next(request)
        out = response.headers
        if origin is None:
            out["vary"] = ", ".join([*out.getlist("vary"), "Origin"])
            return response
        for name, value in self.simple:
            out[name] = value
        if self.echo_origin and self.is_allowed_origin(origin):
            out["access-control-allow-origin"] = origin
        out["vary"] = ", ".join([*out.getlist("vary"), "Origin"])
        return response

    def preflight_response(self, origin: str, method: str, asked_headers: str | None,
                           private_network: str | None) -> PlainTextResponse:
        """The answer to a preflight from ``origin`` asking for ``method`` and ``asked_headers``."""
        answer = PlainTextResponse("OK")
        out = MutableHeaders(raw=answer.raw_headers)
        for name, value in self.preflight:
            out[name] = value
        failures: list[str] = []
        if self.is_allowed_origin(origin):
            if self.echo_origin:
                out["access-control-allow-origin"] = origin
        else:
            failures.append("origin")
        if method not in self.allow_methods:
            failures.append("method")
        if asked_headers is not None:
            if self.any_header:
                if _sendable(asked_headers):
                    out["access-control-allow-headers"] = asked_headers  # whatever was asked for is allowed
                else:
                    failures.append("headers")
            elif any(h.strip().lower() not in self.allow_headers for h in asked_headers.split(",")):
                failures.append("headers")
        if private_network is not None:
            if self.allow_private_network:
                out["access-control-allow-private-network"] = "true"
            else:
                failures.append("private-network")
        if failures:
            # Browsers enforce CORS on any answer; a 400 with the reason helps whoever reads it.
            answer.status = 400
            answer.body = ("Disallowed CORS " + ", ".join(failures)).encode()
        return answer
