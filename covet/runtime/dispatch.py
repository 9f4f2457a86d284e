"""Protocol-neutral dispatch: from (method, path) to a route's plan or an error reply.

Every transport (``asyncio_http1`` on asyncio or uvloop, ``uring_http1`` on
io_uring) calls ``Dispatcher.resolve`` and then ``exchange.answer_now`` with
the same arguments, so a route never knows which one carried its request.
Nothing here is HTTP/1.1-specific, so another protocol calls it the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Final, final

from covet.runtime.encode import error_reply
from covet.runtime.glue import RoutePlan, constant_plan
from covet.runtime.pathtrie import BadPath, PathTrie

__all__ = ["Endpoint", "Dispatcher", "NOT_FOUND", "NOT_FOUND_PLAN", "route_id"]

NOT_FOUND: Final = error_reply(404, "Not Found")
_NOT_FOUND_PLAN: Final = constant_plan(NOT_FOUND, "[not found]")
NOT_FOUND_PLAN: Final = _NOT_FOUND_PLAN
_NO_PARAMS: Final[list[str]] = []


def route_id(template: str) -> int:
    """A path template's id in the metrics: 31 bits of its CRC-32. The same in every worker, and across a reload
    that adds or removes other routes, so the counts of the workers (and of those that exited) merge by template.
    (Two templates of one application with the same id would share their counts: 1 in 10^6 for 50 routes.)"""
    return zlib.crc32(template.encode()) & 0x7FFFFFFF


@final
class Endpoint:
    """One path template and the plan of each method it answers."""

    __slots__ = ("template", "methods", "not_allowed")

    def __init__(self, template: str) -> None:
        self.template = template
        self.methods: dict[str, RoutePlan] = {}
        self.not_allowed: RoutePlan = _NOT_FOUND_PLAN

    def finish(self, wrap: Callable[[RoutePlan], RoutePlan] | None = None) -> None:
        """Fill in HEAD from GET and the 405 reply once all methods are known; ``wrap`` (the application's
        middleware) goes around the 405."""
        if "GET" in self.methods and "HEAD" not in self.methods:
            self.methods["HEAD"] = self.methods["GET"]
        allow = ", ".join(sorted(self.methods)).encode()
        self.not_allowed = constant_plan(
            error_reply(405, "Method Not Allowed", ((b"allow", allow),)), f"[405 {self.template}]"
        )
        if wrap is not None:
            self.not_allowed = wrap(self.not_allowed)


@final
class Dispatcher:
    """The routing table of one application, built once at start-up."""

    __slots__ = ("paths", "not_found", "templates", "other_slash", "websockets")

    def __init__(self, paths: PathTrie[Endpoint], not_found: RoutePlan = _NOT_FOUND_PLAN,
                 templates: list[str] | None = None, other_slash: RoutePlan | None = None,
                 websockets: PathTrie[tuple[RoutePlan, list[str]]] | None = None) -> None:
        self.paths = paths
        # The WebSocket routes: (plan, the names of the path's parameters) by template. Apart from the HTTP ones, so
        # that a GET to a WebSocket's path is a 404 (as in FastAPI), and HTTP dispatch never looks at them.
        self.websockets = websockets
        self.not_found = not_found
        # redirect_slashes: what answers a path that only matches with its trailing "/" added or removed.
        self.other_slash = other_slash
        # The path templates, by their ``route_id`` (the metrics' route label: covet/metrics.py).
        self.templates: dict[int, str] = {route_id(t): t for t in templates or ()}

    def static_plans(self) -> list[tuple[str, str, RoutePlan]]:
        """(method, path, plan) of every route whose path has no parameters, HEAD included where GET answers it."""
        return [(m, path, plan) for path, ep in self.paths.static_items() for m, plan in ep.methods.items()]

    def resolve(self, method: str, path: str) -> tuple[RoutePlan, list[str]]:
        """The plan to run and the path's captured parameters; errors are plans too."""
        try:
            hit = self.paths.match(path)
        except BadPath as exc:
            return constant_plan(error_reply(400, str(exc)), "[bad path]"), _NO_PARAMS
        if hit is None:
            other = self.other_slash
            if other is not None and path != "/":
                try:
                    again = self.paths.match(path[:-1] if path.endswith("/") else path + "/")
                except BadPath:
                    again = None
                if again is not None:
                    return other, _NO_PARAMS
            return self.not_found, _NO_PARAMS
        endpoint, params = hit
        plan = endpoint.methods.get(method)
        if plan is None:
            return endpoint.not_allowed, _NO_PARAMS
        return plan, params

    def resolve_ws(self, path: str) -> tuple[RoutePlan, list[str], list[str]] | None:
        """The WebSocket route of ``path``: its plan, its parameters' names and their values; None when none."""
        table = self.websockets
        if table is None:
            return None
        try:
            hit = table.match(path)
        except BadPath:
            return None
        if hit is None:
            return None
        (plan, names), params = hit
        return plan, names, params
