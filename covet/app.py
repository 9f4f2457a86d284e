"""The application object: routes, lifespan hooks and settings."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

from covet import docsui
from covet.exceptions import RouteDefinitionError
from covet.health import ReadinessCheck
from covet.manifest import RouteRow
from covet.middleware import Middleware, wrap_plan
from covet.requests import Request
from covet.responses import Response, StreamingResponse
from covet.routing import RouteDef, Routes, _check_middleware, check_timeout
from covet.runtime.dispatch import NOT_FOUND_PLAN, Dispatcher, Endpoint, route_id
from covet.runtime.encode import set_debug
from covet.runtime.glue import RoutePlan, build_plan
from covet.runtime.pathtrie import PathTrie, parse_template
from covet.runtime.signature import analyse

__all__ = ["Covet", "RouteDef"]

Hook = Callable[[], "Awaitable[None] | None"]
_log = logging.getLogger("covet.server")
E = TypeVar("E", bound=BaseException)
ErrorHandler: TypeAlias = Callable[
    [Request, E], "Response | StreamingResponse | Awaitable[Response | StreamingResponse]"
]


def _check_root_path(value: str) -> str:
    """A root path is ``""`` or starts with ``/``; a trailing ``/`` is dropped (``/api/`` mounts at ``/api``)."""
    if value and (not value.startswith("/") or any(c in value for c in "?#{} \t\r\n")):
        raise RouteDefinitionError(f"root_path {value!r} must be a path starting with '/'")
    return value.rstrip("/")


class Covet(Routes):
    """A CovetPy application.

    Args:
        debug: a handler's unhandled exception is answered with its traceback (text/plain) instead of a bare 500,
            as FastAPI's ``debug=True`` does; ``covet dev`` turns it on. Never in production.
        server_header: the ``Server`` response header; ``None`` sends none.
        title, version, description: the API's name, version and Markdown description in the OpenAPI document.
        openapi_url: where the OpenAPI document is served; ``None`` serves none (and no docs page).
        docs_url: where the interactive docs page is served; ``None`` serves none.
        handler_timeout: seconds a handler may run once it has suspended; past it, it is cancelled and the
            client gets 504. ``None`` (the default) sets no limit; a route's ``timeout=`` overrides it.
        cancel_on_disconnect: cancel a handler when its client goes away; by default it runs to its end.
        root_path: where the application is mounted behind a proxy that strips that prefix (``covet serve
            --root-path`` overrides it): request URLs, the docs page and the OpenAPI ``servers`` include it.
        root_path_in_servers: list ``root_path`` in the OpenAPI document's ``servers``, as FastAPI does.
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        server_header: str | None = "covet",
        title: str = "CovetPy",
        version: str = "0.1.0",
        description: str | None = None,
        openapi_url: str | None = "/openapi.json",
        docs_url: str | None = "/docs",
        handler_timeout: float | None = None,
        cancel_on_disconnect: bool = False,
        root_path: str = "",
        root_path_in_servers: bool = True,
    ) -> None:
        super().__init__()
        self._root_path = _check_root_path(root_path)
        self.root_path_in_servers = root_path_in_servers
        if handler_timeout is not None:
            check_timeout("handler_timeout", handler_timeout)
        self.handler_timeout = handler_timeout
        self.cancel_on_disconnect = cancel_on_disconnect
        for what, url in (("openapi_url", openapi_url), ("docs_url", docs_url)):
            if url is not None and (not url.startswith("/") or "{" in url):
                raise RouteDefinitionError(f"{what} {url!r} must be a path starting with '/', without parameters")
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.readiness_checks: list[ReadinessCheck] = []
        self.server_header = server_header
        self.debug = debug
        # Set by covet.tracing.instrument(app): wraps each route's plan in a span. (A callable here rather than an
        # import, so that the runtime's build never type-checks the optional OpenTelemetry.)
        self.traced: Callable[[RoutePlan, str, str], RoutePlan] | None = None
        self.title = title
        self.version = version
        self.description = description
        self.openapi_url = openapi_url
        self.docs_url = docs_url if openapi_url is not None else None
        self._dispatcher: Dispatcher | None = None
        self._plans: list[RoutePlan] = []
        self._compiled: dict[tuple[str, str], RoutePlan] = {}
        self._openapi: bytes | None = None
        self.middleware_stack: list[Middleware] = []
        self.exception_handlers: list[tuple[type[BaseException], Callable[..., Any]]] = []

    # -- middleware and exception handlers ------------------------------------

    def add_middleware(self, mw: Middleware) -> Middleware:
        """Add ``mw`` around every route (and the 404 and 405 answers), inside the middleware added before it.

        Usable as a decorator: ``@app.add_middleware``.
        """
        self.middleware_stack.append(_check_middleware(mw))
        self._changed()
        return mw

    middleware = add_middleware

    def exception_handler(self, cls: type[E]) -> Callable[[ErrorHandler[E]], ErrorHandler[E]]:
        """Answer exceptions of class ``cls`` (raised by a handler or a dependency) with the decorated function.

        It takes ``(request, exc)`` and returns a response; it may be async. The most specific class registered
        wins. An ``HTTPError`` keeps its own answer unless ``HTTPError`` itself is registered.
        """
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise RouteDefinitionError(f"exception_handler needs an exception class, not {cls!r}")

        def register(handler: ErrorHandler[E]) -> ErrorHandler[E]:
            self.exception_handlers = [(c, h) for c, h in self.exception_handlers if c is not cls]
            self.exception_handlers.append((cls, handler))
            self._changed()
            return handler

        return register

    @property
    def root_path(self) -> str:
        return self._root_path

    @root_path.setter
    def root_path(self, value: str) -> None:
        # The docs routes are constant replies that include it: plan them again (the OpenAPI document is kept).
        self._root_path = _check_root_path(value)
        self._dispatcher = None

    def _changed(self) -> None:
        self._dispatcher = None
        self._openapi = None

    # -- lifespan ---------------------------------------------------------

    def on_startup(self, hook: Hook) -> Hook:
        """Run ``hook`` (sync or async) before the server accepts connections."""
        self.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Run ``hook`` (sync or async) after the server has drained."""
        self.shutdown_hooks.append(hook)
        return hook

    def add_server_route(self, path: str, handler: Callable[..., Any], what: str) -> bool:
        """A route CovetPy itself serves (a probe, the metrics) at ``path``, out of the OpenAPI document; not when
        the application declares that path itself, whose route wins. Returns whether it was added."""
        if any(rd.path == path for rd in self.routes):
            _log.info("%s is the application's own route: covet serves no %s there", path, what)
            return False
        self.get(path, include_in_schema=False, inline=True)(handler)  # (they never block)
        return True

    def readiness_check(self, check: ReadinessCheck) -> ReadinessCheck:
        """``/readyz`` answers 200 only while ``check`` (sync or async) passes: returns anything but False, raises
        nothing, within ``covet.health.CHECK_TIMEOUT`` seconds (a database ping, say)."""
        self.readiness_checks.append(check)
        return check

    # -- planning ---------------------------------------------------------

    def dispatcher(self) -> Dispatcher:
        """The routing table, planned once: every handler analysed, every glue built."""
        if self._dispatcher is None:
            self._dispatcher = self._plan()
        set_debug(self.debug)  # one switch per process: the app being served is the one that sets it
        return self._dispatcher

    @property
    def plans(self) -> list[RoutePlan]:
        self.dispatcher()
        return self._plans

    def use_compiled(self, table: list[RouteRow]) -> int:
        """Serve routes from build-time glue (its ``ROUTES``, of a checked schema) instead of planning them now;
        returns how many."""
        known = {(m, rd.path) for rd in self.routes for m in rd.methods}
        compiled: dict[tuple[str, str], RoutePlan] = {}
        for row in table:
            if (row.method, row.path) not in known:
                raise RouteDefinitionError(
                    f"the build has {row.method} {row.path}, which the application no longer declares")
            plan = RoutePlan(row.glue, row.is_async, row.label, "", None)
            plan.compiled = True
            plan.uses_conn = row.uses_conn
            plan.reads_headers = row.reads_headers
            plan.streams_body = row.streams_body
            compiled[(row.method, row.path)] = plan
        self._compiled = compiled
        self._dispatcher = None
        return len(compiled)

    # -- OpenAPI ----------------------------------------------------------

    def openapi(self) -> bytes:
        """The OpenAPI 3.1 document of the application, as JSON (built once; a build ships its own)."""
        if self._openapi is None:
            from covet.openapi import openapi_json

            self._openapi = openapi_json(self)
        return self._openapi

    def use_openapi(self, document: bytes) -> None:
        """Serve ``document`` (from a build) as the OpenAPI document instead of building it from the handlers."""
        self._openapi = document
        self._dispatcher = None

    def _plan(self) -> Dispatcher:
        paths: PathTrie[Endpoint] = PathTrie()
        endpoints: dict[str, Endpoint] = {}
        plans: list[RoutePlan] = []
        docs_paths: set[str] = set()
        for path, plan in docsui.plans(self):
            docs_paths.add(path)
            if any(rd.path == path for rd in self.routes):
                raise RouteDefinitionError(
                    f"{path} is declared by the application and is also where CovetPy serves its API docs; "
                    "move the docs with Covet(openapi_url=..., docs_url=...), or set them to None")
            docs = endpoints[path] = Endpoint(path)
            paths.add(path, docs)
            docs.methods["GET"] = plan
        for rd in self.routes:
            names = [p.param for p in parse_template(rd.path) if p.param is not None]
            endpoint = endpoints.get(rd.path)
            if endpoint is None:
                endpoint = endpoints[rd.path] = Endpoint(rd.path)
                paths.add(rd.path, endpoint)
            for method in rd.methods:
                if method in endpoint.methods:
                    other = endpoint.methods[method].label
                    raise RouteDefinitionError(f"{method} {rd.path} is declared twice; the other is {other}")
                plan = self._compiled.get((method, rd.path)) or build_plan(
                    analyse(method, rd.path, rd.handler, names, rd.status, rd.blocking, rd.dependencies, rd.result),
                    names,
                    self.exception_handlers,
                )
                plans.append(plan)
                chain = [*self.middleware_stack, *rd.middleware]
                served = wrap_plan(plan, chain, names) if chain else plan
                timeout = rd.timeout if rd.timeout is not None else self.handler_timeout
                served.timeout = plan.timeout = float(timeout or 0.0)
                cancel = rd.cancel_on_disconnect
                served.cancel_on_disconnect = plan.cancel_on_disconnect = (
                    self.cancel_on_disconnect if cancel is None else cancel)
                if self.traced is not None:
                    served = self.traced(served, method, rd.path)
                endpoint.methods[method] = served
        app_mw = self.middleware_stack
        for path, endpoint in endpoints.items():
            if app_mw and path in docs_paths:
                endpoint.methods["GET"] = wrap_plan(endpoint.methods["GET"], app_mw, [])
            endpoint.finish((lambda p: wrap_plan(p, app_mw, [])) if app_mw else None)
        templates = list(endpoints)
        for path, endpoint in endpoints.items():  # the metrics' route label (covet/metrics.py)
            rid = route_id(path)
            for plan in endpoint.methods.values():
                plan.route_id = rid
            endpoint.not_allowed.route_id = rid
        self._plans = plans
        return Dispatcher(paths, wrap_plan(NOT_FOUND_PLAN, app_mw, []) if app_mw else NOT_FOUND_PLAN, templates)
