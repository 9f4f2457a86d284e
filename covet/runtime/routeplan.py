"""A route ready to run, and what the request path reads of it.

Compiled (setup.py), so that the fields the request path reads on every
request (``uses_conn``, ``route_id``, ``glue``...) are struct reads in the
compiled transports rather than attribute lookups (~15 ns each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

from covet.runtime.signature import RouteSpec, all_params

__all__ = ["RoutePlan", "reads_content_type", "reads_headers", "reads_stream", "uses_connection"]


@final
class RoutePlan:
    """A route ready to run: its glue and what the server needs to know of it."""

    # (interpreted, a misspelt field is an AttributeError too, as it is compiled)
    __slots__ = ("glue", "is_async", "label", "source", "spec", "compiled", "uses_conn", "reads_headers",
                 "reads_content_type", "streams_body", "timeout", "cancel_on_disconnect", "route_id", "max_body")

    glue: Callable[..., Any]
    is_async: bool
    label: str
    source: str
    spec: RouteSpec | None
    compiled: bool
    uses_conn: bool
    reads_headers: bool
    reads_content_type: bool
    streams_body: bool
    timeout: float
    cancel_on_disconnect: bool
    route_id: int
    max_body: int

    def __init__(
        self, glue: Callable[..., Any], is_async: bool, label: str, source: str, spec: RouteSpec | None
    ) -> None:
        self.glue = glue
        self.is_async = is_async
        self.label = label
        self.source = source
        self.spec = spec
        self.compiled = False
        # Whether the glue reads its connection argument: a backend that builds that per request may skip it.
        self.uses_conn = spec is None or uses_connection(spec)
        # Whether the glue reads the request's header list; a backend may hand an empty one to those that do not.
        self.reads_headers = spec is None or reads_headers(spec)
        # Whether it reads the Content-Type header (of a JSON body) even when no other.
        self.reads_content_type = spec is None or reads_content_type(spec)
        # Whether the glue takes a body over the in-memory limit as a RequestBody; other routes answer 413.
        self.streams_body = spec is not None and reads_stream(spec)
        # Seconds the handler may run once suspended (0: no limit), and whether its client leaving cancels it.
        self.timeout = 0.0
        self.cancel_on_disconnect = False
        # The largest body the route takes (its max_body_size, covet/limits.py), 413 past it; -1: the server's.
        self.max_body = -1
        # What the metrics count it under (set when the dispatcher is planned): ``route_id(template)``; -1 for none
        # (not found, a bad path).
        self.route_id = -1


def reads_headers(spec: RouteSpec) -> bool:
    """Whether a route's glue reads the request headers (a header, cookie or ``Request`` parameter)."""
    return any(p.source in ("header", "cookie", "request", "form", "file", "websocket") for p in all_params(spec))


def reads_content_type(spec: RouteSpec) -> bool:
    """Whether a route's glue reads the request's ``Content-Type``: it takes a JSON body."""
    return any(p.source == "body" for p in all_params(spec))


def reads_stream(spec: RouteSpec) -> bool:
    """Whether a route can read its body as a stream: it has form or file parameters, or takes the ``Request``
    (and no JSON body, which is validated from memory)."""
    sources = {p.source for p in all_params(spec)}
    return "body" not in sources and bool(sources & {"form", "file", "request"})


def uses_connection(spec: RouteSpec) -> bool:
    """Whether a route's glue reads the connection (a ``Request`` or ``ConnectionInfo`` parameter)."""
    return any(p.source in ("request", "connection", "websocket") for p in all_params(spec))
