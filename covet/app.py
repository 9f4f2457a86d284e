"""The application object: routes, lifespan hooks and settings."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, final

from covet.exceptions import RouteDefinitionError
from covet.runtime.dispatch import Dispatcher, Endpoint
from covet.runtime.glue import RoutePlan, build_plan
from covet.runtime.router import Router, parse_template
from covet.runtime.signature import analyse

__all__ = ["Covet", "RouteDef"]

F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[[], "Awaitable[None] | None"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


@final
class RouteDef:
    """A route as the user declared it."""

    __slots__ = ("path", "methods", "handler", "status", "blocking", "name")

    def __init__(self, path: str, methods: list[str], handler: Callable[..., Any], status: int, blocking: bool) -> None:
        self.path = path
        self.methods = methods
        self.handler = handler
        self.status = status
        self.blocking = blocking
        self.name = getattr(handler, "__name__", "handler")


class Covet:
    """A CovetPy application.

    Args:
        server_header: the ``Server`` response header; ``None`` sends none.
    """

    def __init__(self, *, server_header: str | None = "covet") -> None:
        self.routes: list[RouteDef] = []
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.server_header = server_header
        self._dispatcher: Dispatcher | None = None
        self._plans: list[RoutePlan] = []
        self._compiled: dict[tuple[str, str], RoutePlan] = {}

    # -- declaring routes -------------------------------------------------

    def route(
        self, path: str, methods: Iterable[str] = ("GET",), *, status: int = 200, blocking: bool = False
    ) -> Callable[[F], F]:
        """Register the decorated function for ``path`` and ``methods``.

        Args:
            path: a template such as ``/users/{user_id}`` or ``/files/{rest:path}``.
            methods: HTTP methods; a GET route also answers HEAD.
            status: the status of a successful plain (non-``Response``) result.
            blocking: run a sync handler in a thread pool instead of on the event loop.
        """
        parse_template(path)  # fail at declaration, with the path in the message
        wanted = [m.upper() for m in methods]
        for m in wanted:
            if m not in _METHODS:
                raise RouteDefinitionError(f"route {path!r}: unknown method {m!r}")
        if not 100 <= status <= 599:
            raise RouteDefinitionError(f"route {path!r}: status {status} is not an HTTP status")

        def register(handler: F) -> F:
            if blocking and inspect.iscoroutinefunction(handler):
                raise RouteDefinitionError(f"route {path!r}: blocking=True is for sync handlers; {handler.__name__} is async")
            self.routes.append(RouteDef(path, wanted, handler, status, blocking))
            self._dispatcher = None
            return handler

        return register

    def get(self, path: str, *, status: int = 200, blocking: bool = False) -> Callable[[F], F]:
        return self.route(path, ("GET",), status=status, blocking=blocking)

    def post(self, path: str, *, status: int = 200, blocking: bool = False) -> Callable[[F], F]:
        return self.route(path, ("POST",), status=status, blocking=blocking)

    def put(self, path: str, *, status: int = 200, blocking: bool = False) -> Callable[[F], F]:
        return self.route(path, ("PUT",), status=status, blocking=blocking)

    def patch(self, path: str, *, status: int = 200, blocking: bool = False) -> Callable[[F], F]:
        return self.route(path, ("PATCH",), status=status, blocking=blocking)

    def delete(self, path: str, *, status: int = 200, blocking: bool = False) -> Callable[[F], F]:
        return self.route(path, ("DELETE",), status=status, blocking=blocking)

    def head(self, path: str, *, status: int = 200, blocking: bool = False) -> Callable[[F], F]:
        return self.route(path, ("HEAD",), status=status, blocking=blocking)

    def options(self, path: str, *, status: int = 200, blocking: bool = False) -> Callable[[F], F]:
        return self.route(path, ("OPTIONS",), status=status, blocking=blocking)

    # -- lifespan ---------------------------------------------------------

    def on_startup(self, hook: Hook) -> Hook:
        """Run ``hook`` (sync or async) before the server accepts connections."""
        self.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Run ``hook`` (sync or async) after the server has drained."""
        self.shutdown_hooks.append(hook)
        return hook

    # -- planning ---------------------------------------------------------

    def dispatcher(self) -> Dispatcher:
        """The routing table, planned once: every handler analysed, every glue built."""
        if self._dispatcher is None:
            self._dispatcher = self._plan()
        return self._dispatcher

    @property
    def plans(self) -> list[RoutePlan]:
        self.dispatcher()
        return self._plans

    def use_compiled(self, table: list[tuple[Any, ...]]) -> int:
        """Serve routes from build-time glue instead of planning them now; returns how many.

        Each row is (method, path, glue, is_async, label, uses_conn, reads_headers).
        """
        known = {(m, rd.path) for rd in self.routes for m in rd.methods}
        compiled: dict[tuple[str, str], RoutePlan] = {}
        for method, path, glue, is_async, label, uses_conn, reads in table:
            if (method, path) not in known:
                raise RouteDefinitionError(f"the build has {method} {path}, which the application no longer declares")
            plan = RoutePlan(glue, is_async, label, "", None)
            plan.compiled = True
            plan.uses_conn = uses_conn
            plan.reads_headers = reads
            compiled[(method, path)] = plan
        self._compiled = compiled
        self._dispatcher = None
        return len(compiled)

    def _plan(self) -> Dispatcher:
        router: Router[Endpoint] = Router()
        endpoints: dict[str, Endpoint] = {}
        plans: list[RoutePlan] = []
        for rd in self.routes:
            names = [p.param for p in parse_template(rd.path) if p.param is not None]
            endpoint = endpoints.get(rd.path)
            if endpoint is None:
                endpoint = endpoints[rd.path] = Endpoint(rd.path)
                router.add(rd.path, endpoint)
            for method in rd.methods:
                if method in endpoint.methods:
                    other = endpoint.methods[method].label
                    raise RouteDefinitionError(f"{method} {rd.path} is declared twice; the other is {other}")
                plan = self._compiled.get((method, rd.path)) or build_plan(
                    analyse(method, rd.path, rd.handler, names, rd.status, rd.blocking), names
                )
                endpoint.methods[method] = plan
                plans.append(plan)
        for endpoint in endpoints.values():
            endpoint.finish()
        self._plans = plans
        return Dispatcher(router)
