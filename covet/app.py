"""The application object: routes, lifespan hooks and settings."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, overload
from urllib.parse import quote

import pydantic_core

from covet import docsui
from covet.datastructures import State
from covet.exceptions import HTTPError, RouteDefinitionError
from covet.health import ReadinessCheck
from covet.limits import FormLimits, check_form_limits, check_max_body_size, form_limits_tuple, innermost
from covet.manifest import GRPC_METHOD, RouteRow
from covet.middleware import Middleware, build_middleware, call_site, check_middleware, wrap_plan
from covet.params import Depends
from covet.requests import Request, set_serving
from covet.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from covet.routing import (
    NoMatchFound,
    RouteDef,
    Routes,
    Webhooks,
    _caller,
    _check_unique_id,
    check_dependencies,
    check_timeout,
)
from covet.runtime.dispatch import NOT_FOUND_PLAN, Dispatcher, Endpoint, route_id
from covet.runtime.encode import set_debug
from covet.runtime.glue import WS_METHOD, RoutePlan, build_plan
from covet.runtime.pathtrie import PathTrie, parse_template
from covet.runtime.signature import analyse, location

if TYPE_CHECKING:
    from covet.runtime.grpc_method import GrpcMethod

__all__ = ["Covet", "RouteDef", "http_error_by_status"]

Hook = Callable[[], "Awaitable[None] | None"]
Lifespan: TypeAlias = Callable[["Covet"], AbstractAsyncContextManager[Mapping[str, Any] | None]]
_log = logging.getLogger("covet.server")
E = TypeVar("E", bound=BaseException)
M = TypeVar("M", bound=Middleware)
ErrorHandler: TypeAlias = Callable[
    [Request, E], "Response | StreamingResponse | Awaitable[Response | StreamingResponse]"
]


def _check_root_path(value: str) -> str:
    """A root path is ``""`` or starts with ``/``; a trailing ``/`` is dropped (``/api/`` mounts at ``/api``)."""
    if value and (not value.startswith("/") or any(c in value for c in "?#{} \t\r\n")):
        raise RouteDefinitionError(f"root_path {value!r} must be a path starting with '/'")
    return value.rstrip("/")


def _check_lifespan(lifespan: object) -> Lifespan:
    if inspect.isasyncgenfunction(lifespan):  # FastAPI takes the undecorated generator too
        return contextlib.asynccontextmanager(lifespan)
    if not callable(lifespan) or inspect.isgeneratorfunction(lifespan):
        raise RouteDefinitionError(
            f"{_caller()}: Covet(lifespan={lifespan!r}): the lifespan is a function of the app that gives an async "
            "context manager: decorate an `async def lifespan(app): ... yield ...` with "
            "@contextlib.asynccontextmanager")
    return lifespan


def _is_starlette_http_exception(cls: type) -> bool:
    return any(c.__module__ == "starlette.exceptions" and c.__name__ == "HTTPException" for c in cls.__mro__)


def http_error_by_status(request: Request, exc: HTTPError) -> Any:
    """The application's answer to ``exc``: its handler for that status, else for ``HTTPError``, else the usual
    ``{"detail": ...}`` (what a route's glue calls once the application has status handlers)."""
    app = request.app
    handler = app.http_error_handler(exc.status) if isinstance(app, Covet) else None
    if handler is None:
        return JSONResponse({"detail": exc.detail}, exc.status, exc.headers)
    return handler(request, exc)


def _raising(status: int, headers: dict[str, str] | None = None) -> Callable[[], None]:
    def router_error() -> None:
        raise HTTPError(status, headers=headers)

    return router_error


async def _other_slash(request: Request) -> Response:
    path = request.url.path
    other = path[:-1] if path.endswith("/") else path + "/"
    return RedirectResponse(str(request.url.replace(path=other)))


class Covet(Routes):
    """A CovetPy application.

    Args:
        debug: a handler's unhandled exception is answered with its traceback (text/plain) instead of a bare 500,
            as FastAPI's ``debug=True`` does; ``covet dev`` turns it on. Never in production.
        server_header: the ``Server`` response header; ``None`` sends none.
        title, version, description: the API's name, version and Markdown description in the OpenAPI document.
        summary, terms_of_service, contact, license_info: the rest of the document's ``info`` (``contact`` and
            ``license_info`` as OpenAPI's Contact and License objects), as in FastAPI.
        openapi_tags: the document's ``tags``: each tag's description and external docs, in the order the docs
            pages list them.
        servers: the document's ``servers`` (``[{"url": ..., "description": ...}]``).
        separate_input_output_schemas: ``False`` documents results with the same schema as inputs, one
            component per model, as FastAPI's option of that name does.
        openapi_url: where the OpenAPI document is served; ``None`` serves none (and no docs page).
        docs_url: where the interactive docs page is served; ``None`` serves none.
        redoc_url: where the ReDoc page is served (FastAPI's, from ReDoc's CDN); ``None`` serves none.
        swagger_ui_parameters: Swagger UI configuration for the docs page (``{"deepLinking": False}``...), over
            FastAPI's defaults, written as JSON into its ``SwaggerUIBundle`` call.
        default_response_class: the ``response_class`` of every route that names none (its router's
            ``default_response_class`` first), as in FastAPI: ``HTMLResponse`` makes a returned ``str`` a page.
        handler_timeout: seconds a handler may run once it has suspended; past it, it is cancelled and the
            client gets 504. ``None`` (the default) sets no limit; a route's ``timeout=`` overrides it.
        cancel_on_disconnect: cancel a handler when its client goes away; by default it runs to its end.
        root_path: where the application is mounted behind a proxy that strips that prefix (``covet serve
            --root-path`` overrides it): request URLs, the docs page and the OpenAPI ``servers`` include it.
        root_path_in_servers: list ``root_path`` in the OpenAPI document's ``servers``, as FastAPI does.
        lifespan: ``lifespan(app)`` gives an async context manager (FastAPI's): entered before the server accepts
            connections, left once it has drained. A mapping it yields is copied into each ``request.state``.
        on_startup, on_shutdown: hooks, as ``app.on_startup(hook)`` adds them.
        redirect_slashes: a request for ``/items`` when only ``/items/`` is declared (or the other way round) is
            answered 307 to the other, its query kept, as FastAPI does.
        dependencies: ``Depends(...)`` every route runs first (before its routers' and its own), for their effect.
        strict_content_type: a JSON body is read as JSON only when its ``Content-Type`` says JSON
            (``application/json``, ``application/*+json``); off, a body without one is read as JSON too. Any other
            body is validated as the text it is, as FastAPI does (a model then fails with 422).
        max_body_size: the largest request body a route takes, in bytes (413 past it), where neither the route
            nor its router sets one; as FastAPI's option. None: only the server's limits.
        form_limits: ``max_fields``, ``max_files`` and ``max_part_size`` of forms (400 past them), under those
            of routers and routes; FastAPI's option, with its defaults (1000, 1000, 1 MiB). See ``covet.limits``.
        generate_unique_id_function: ``function(route) -> str``, each route's id in the OpenAPI document where
            neither it nor its routers give one (FastAPI's option; see ``covet.routing.RouteOptions``).

    ``dependency_overrides`` maps a provider to the one to call instead (in tests, say); a change takes effect
    when the application next plans its routes: at once for ``TestClient``, at start-up for a server, which also
    serves routes interpreted rather than from a build while any override is set.
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        server_header: str | None = "covet",
        title: str = "CovetPy",
        version: str = "0.1.0",
        description: str | None = None,
        summary: str | None = None,
        terms_of_service: str | None = None,
        contact: dict[str, Any] | None = None,
        license_info: dict[str, Any] | None = None,
        # (Any: a FastAPI app's list of tag dicts of several shapes is inferred as list[object]; checked below.)
        openapi_tags: Sequence[Any] | None = None,
        servers: list[dict[str, Any]] | None = None,
        separate_input_output_schemas: bool = True,
        openapi_url: str | None = "/openapi.json",
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        handler_timeout: float | None = None,
        cancel_on_disconnect: bool = False,
        root_path: str = "",
        root_path_in_servers: bool = True,
        lifespan: Lifespan | None = None,
        on_startup: list[Hook] | None = None,
        on_shutdown: list[Hook] | None = None,
        redirect_slashes: bool = True,
        dependencies: Iterable[Depends] | None = None,
        strict_content_type: bool = True,
        swagger_ui_parameters: Mapping[str, Any] | None = None,
        default_response_class: type[Any] | None = None,
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
        generate_unique_id_function: Callable[[RouteDef], str] | None = None,
        websocket_origins: Iterable[str] | None = None,
    ) -> None:
        super().__init__(default_response_class=default_response_class)
        # The Origin values a WebSocket handshake may carry ("*": any, the default None: no check); a browser sends
        # its page's origin, so this keeps other sites' pages from opening WebSockets with the user's cookies.
        self.websocket_origins = None if websocket_origins is None else frozenset(websocket_origins)
        # gRPC methods served beside the routes, on the same port (include_grpc): path -> grpclib's Handler; and the
        # typed methods of covet.GrpcService, planned as routes are (grpc_table() has both).
        self.grpc_handlers: dict[str, Any] = {}
        self.grpc_methods: dict[str, GrpcMethod] = {}
        self._grpc_types: dict[str, tuple[Any, Any]] = {}  # a build's record of its typed methods' messages
        self.swagger_ui_parameters = docsui.check_swagger_ui_parameters(swagger_ui_parameters)
        tags = list(openapi_tags or ())
        for tag in tags:
            if not isinstance(tag, Mapping) or not isinstance(tag.get("name"), str):
                raise RouteDefinitionError(
                    f"{_caller()}: openapi_tags holds dicts with a 'name' ({{'name': 'users', 'description': ...}}), "
                    f"not {tag!r}")
        self.openapi_tags = [dict(tag) for tag in tags] or None
        self.strict_content_type = strict_content_type
        self.max_body_size = check_max_body_size("Covet", max_body_size)
        self.form_limits = check_form_limits("Covet", form_limits)
        self.generate_unique_id_function = _check_unique_id("Covet", generate_unique_id_function)
        self.dependencies = check_dependencies("Covet", dependencies or ())
        self._overrides = _Overrides(self._changed)
        # id() of the routes that do not run the application's dependencies: a mounted StaticFiles', and those
        # CovetPy serves itself (a probe must not need the application's token).
        self._apart: set[int] = set()
        self.state = State()
        self.redirect_slashes = redirect_slashes
        self._root_path = _check_root_path(root_path)
        self.root_path_in_servers = root_path_in_servers
        if handler_timeout is not None:
            check_timeout("handler_timeout", handler_timeout)
        self.handler_timeout = handler_timeout
        self.cancel_on_disconnect = cancel_on_disconnect
        for what, url in (("openapi_url", openapi_url), ("docs_url", docs_url), ("redoc_url", redoc_url)):
            if url is not None and (not url.startswith("/") or "{" in url):
                raise RouteDefinitionError(f"{what} {url!r} must be a path starting with '/', without parameters")
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.lifespan_state: dict[str, Any] | None = None  # what the lifespan yielded: each request.state's start
        self._lifespan: AbstractAsyncContextManager[Mapping[str, Any] | None] | None = None
        self._lifespan_factory = _check_lifespan(lifespan) if lifespan is not None else None
        if self._lifespan_factory is not None:
            self.startup_hooks.append(self._enter_lifespan)
            self.shutdown_hooks.append(self._exit_lifespan)
        for hook in on_startup or ():
            self.on_startup(hook)
        for hook in on_shutdown or ():
            self.on_shutdown(hook)
        self.readiness_checks: list[ReadinessCheck] = []
        self.server_header = server_header
        self.debug = debug
        # Set by covet.tracing.instrument(app): wraps each route's plan in a span. (A callable here rather than an
        # import, so that the runtime's build never type-checks the optional OpenTelemetry.)
        self.traced: Callable[[RoutePlan, str, str], RoutePlan] | None = None
        self.title = title
        self.version = version
        self.description = description
        self.summary = summary
        self.terms_of_service = terms_of_service
        self.contact = contact
        self.license_info = license_info
        self.servers = servers
        self.separate_input_output_schemas = separate_input_output_schemas
        self.webhooks = Webhooks(self._changed)
        self.openapi_url = openapi_url
        self.docs_url = docs_url if openapi_url is not None else None
        self.redoc_url = redoc_url if openapi_url is not None else None
        self._dispatcher: Dispatcher | None = None
        self._plans: list[RoutePlan] = []
        self._compiled: dict[tuple[str, str], RoutePlan] = {}
        self._openapi: bytes | None = None
        self.openapi_schema: dict[str, Any] | None = None  # FastAPI's name: the document, once built
        self.middleware_stack: list[Middleware] = []
        # What the routes' glue catches (built from the two below: the compiler reads it too).
        self.exception_handlers: list[tuple[type[BaseException], Callable[..., Any]]] = []
        self.class_handlers: list[tuple[type[BaseException], Callable[..., Any]]] = []
        self.status_handlers: dict[int, Callable[..., Any]] = {}

    # -- middleware and exception handlers ------------------------------------

    @overload
    def add_middleware(self, middleware: M, /) -> M: ...

    @overload
    def add_middleware(self, middleware: type[Any], /, *args: Any, **options: Any) -> Middleware: ...

    def add_middleware(self, middleware: Any, /, *args: Any, **options: Any) -> Any:
        """Add middleware around every route (and the 404 and 405 answers, and the docs).

        ``add_middleware(mw)``, with ``mw`` an async function ``(request, call_next) -> response`` or an instance
        with such a ``__call__``, puts it inside the middleware added before it; usable as a decorator.

        ``add_middleware(SomeMiddleware, **options)``, FastAPI's spelling, makes ``SomeMiddleware(**options)`` and
        puts it outside the middleware added before it, as Starlette does (the last added is the outermost).
        """
        where = call_site()
        if isinstance(middleware, type):
            mw = build_middleware(middleware, args, options, where)
            self.middleware_stack.insert(0, mw)
            self._changed()
            return mw
        if args or options:
            raise RouteDefinitionError(f"{where}: add_middleware({middleware!r}, ...) takes options only with a "
                                       "middleware class")
        self.middleware_stack.append(check_middleware(middleware, where))
        self._changed()
        return middleware

    @overload
    def middleware(self, middleware_type: str, /) -> Callable[[M], M]: ...

    @overload
    def middleware(self, middleware_type: M, /) -> M: ...

    def middleware(self, middleware_type: Any, /) -> Any:
        """``@app.middleware("http")``, FastAPI's decorator: the function goes outside the middleware added before
        it (the last added is the outermost, as in Starlette).

        ``@app.middleware`` without ``"http"`` is ``add_middleware(mw)``: inside those added before.
        """
        if not isinstance(middleware_type, str):
            return self.add_middleware(middleware_type)
        where = call_site()
        if middleware_type != "http":
            raise RouteDefinitionError(f"{where}: app.middleware({middleware_type!r}): the only middleware type is "
                                       "\"http\"")

        def register(func: M) -> M:
            self.middleware_stack.insert(0, check_middleware(func, call_site()))
            self._changed()
            return func

        return register

    def exception_handler(self, cls: type[E] | int) -> Callable[[ErrorHandler[E]], ErrorHandler[E]]:
        """Answer exceptions of class ``cls`` (raised by a handler or a dependency) with the decorated function.

        It takes ``(request, exc)`` and returns a response; it may be async. The most specific class registered
        wins. An ``HTTPError`` keeps its own answer unless ``HTTPError`` itself is registered; a handler of
        ``HTTPError`` also answers the router's own 404 and 405.

        ``cls`` may be a status instead, as in FastAPI: ``@app.exception_handler(404)`` answers every
        ``HTTPError`` of that status, the router's 404 included; ``500`` is the same as ``Exception``.
        """
        status: int | None = None
        klass: type[BaseException] = Exception
        if isinstance(cls, int) and not isinstance(cls, bool):
            if not 400 <= cls <= 599:
                raise RouteDefinitionError(f"{_caller()}: exception_handler({cls}) needs an exception class, or an "
                                           "error status (400-599)")
            status = cls
        elif isinstance(cls, type) and _is_starlette_http_exception(cls):
            klass = HTTPError  # the router's 404 and 405 are what a Starlette app's handler of it catches
        elif isinstance(cls, type) and issubclass(cls, BaseException):
            klass = cls
        else:
            raise RouteDefinitionError(
                f"{_caller()}: exception_handler needs an exception class or a status, not {cls!r}")

        def register(handler: ErrorHandler[E]) -> ErrorHandler[E]:
            if not callable(handler):
                raise RouteDefinitionError(f"exception_handler: {handler!r} is not a function (request, exc)")
            if status == 500:
                self._add_class_handler(Exception, handler)
            elif status is not None:
                self.status_handlers[status] = handler
            else:
                self._add_class_handler(klass, handler)
            self._errors_changed()
            return handler

        return register

    def add_exception_handler(self, cls: type[BaseException] | int, handler: Callable[..., Any]) -> None:
        """``exception_handler(cls)(handler)``, as Starlette spells it."""
        self.exception_handler(cls)(handler)

    def _add_class_handler(self, cls: type[BaseException], handler: Callable[..., Any]) -> None:
        self.class_handlers = [(c, h) for c, h in self.class_handlers if c is not cls]
        self.class_handlers.append((cls, handler))

    def _errors_changed(self) -> None:
        # With status handlers, HTTPError goes through http_error_by_status, which picks the handler of its status
        # (or the one of HTTPError, or the usual answer) when it is raised.
        handlers = self.class_handlers
        if self.status_handlers:
            handlers = [(c, h) for c, h in handlers if c is not HTTPError] + [(HTTPError, http_error_by_status)]
        self.exception_handlers = list(handlers)
        self._changed()

    def http_error_handler(self, status: int) -> Callable[..., Any] | None:
        """The handler that answers an ``HTTPError`` of ``status``: of that status, else of ``HTTPError``."""
        found = self.status_handlers.get(status)
        if found is None:
            found = next((h for c, h in self.class_handlers if c is HTTPError), None)
        return found

    def route_dependencies(self, rd: RouteDef) -> list[Depends]:
        """What ``rd`` runs first: the application's dependencies, then its own (a mounted application, as in
        FastAPI, and CovetPy's own routes run only their own)."""
        if not self.dependencies or id(rd) in self._apart:
            return rd.dependencies
        return [*self.dependencies, *rd.dependencies]

    @property
    def router(self) -> Covet:
        """FastAPI's ``app.router``: the application's routes are its own (``app.router.routes``)."""
        return self

    def url_path_for(self, name: str, /, **path_params: object) -> str:
        """The path of the route called ``name`` (its handler's name, or its ``name=``), its parameters filled in
        from ``path_params``; ``NoMatchFound`` when no route has that name and those parameters. A mounted
        ``StaticFiles`` is named by ``mount``'s ``name``: ``url_path_for("static", path="/app.css")``."""
        for rd in self.routes:
            if rd.name != name:
                continue
            parts = parse_template(rd.path)
            wanted = {p.param for p in parts if p.param is not None}
            if wanted != set(path_params):
                continue
            out = []
            for p in parts:
                if p.param is None:
                    out.append(p.text)
                    continue
                value = str(path_params[p.param])
                if p.catchall:
                    value = value.lstrip("/")
                elif "/" in value or not value:
                    raise NoMatchFound(name, path_params)
                # Escaped, so that a value cannot end the path ("?", "#") or make another one (CR, LF, spaces).
                out.append(quote(value, safe="/!$&'()*+,;=:@~" if p.catchall else "!$&'()*+,;=:@~"))
            return "/" + "/".join(out)
        raise NoMatchFound(name, path_params)

    # -- gRPC ----------------------------------------------------------------

    def include_grpc(self, *services: object) -> None:
        """Serve gRPC services on the application's port, beside its routes (docs/grpc.md): an HTTP/2 request whose
        content-type is ``application/grpc`` goes to the service's method, every other request to the routes.

        A service is a ``covet.GrpcService`` of typed methods, or what grpclib's protoc plugin generates (a subclass
        of its ``...Base`` class), or anything with grpclib's ``__mapping__()``: grpclib's ``Health`` and
        ``ServerReflection`` are served the same way. protobuf's messages need ``pip install covetpy[grpc]``."""
        from covet.grpc import GrpcService

        for service in services:
            if isinstance(service, GrpcService):
                for method in service.methods.values():
                    self._grpc_path_free(method.path)
                    self.grpc_methods[method.path] = method
                self._dispatcher = None
                continue
            mapping = getattr(service, "__mapping__", None)
            if mapping is None:
                raise TypeError(f"include_grpc(): {service!r} is not a gRPC service (it has no __mapping__(), as "
                                f"grpclib's generated ...Base classes do)")
            for path, handler in mapping().items():
                self._grpc_path_free(path)
                self.grpc_handlers[path] = handler

    def _grpc_path_free(self, path: str) -> None:
        if path in self.grpc_handlers or path in self.grpc_methods:
            raise ValueError(f"include_grpc(): {path} is served twice")

    def grpc_table(self) -> dict[str, Any]:
        """Every gRPC method served, path -> grpclib's ``Handler``: the typed methods' once planned."""
        if self.grpc_methods:
            self.dispatcher()
        return {**self.grpc_handlers, **{path: m.grpc_handler() for path, m in self.grpc_methods.items()}}

    # -- mounting -------------------------------------------------------------

    def mount(self, path: str, app: object, name: str | None = None) -> None:
        """Serve ``app`` under ``path``: a ``StaticFiles`` (``app.mount("/static", StaticFiles(directory="static"),
        name="static")``), or a ``Router``. Other ASGI applications cannot be mounted."""
        from covet.routing import Router, _check_prefix
        from covet.staticfiles import StaticFiles

        path = path.rstrip("/")
        where = _caller()
        try:
            _check_prefix(path)
        except RouteDefinitionError as exc:
            raise RouteDefinitionError(f"{where}: app.mount({path!r}): {exc}") from None
        if isinstance(app, StaticFiles):
            before = len(self.routes)
            self.include_router(app, prefix=path)
            for rd in self.routes[before:]:
                self._apart.add(id(rd))
                if name is not None and "{" in rd.path:
                    rd.name = name
            return
        if isinstance(app, Router):
            self.include_router(app, prefix=path)
            return
        raise RouteDefinitionError(
            f"{where}: app.mount({path!r}, {type(app).__name__}): CovetPy mounts StaticFiles and Routers only; "
            "another ASGI application (or a second Covet app) cannot be mounted yet: use app.include_router(router, "
            "prefix=...) for routes, or serve it as its own process behind the same proxy")

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
        self.openapi_schema = None

    @property
    def dependency_overrides(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        """Providers to call instead of others: ``app.dependency_overrides[get_db] = get_test_db``."""
        return self._overrides

    @dependency_overrides.setter
    def dependency_overrides(self, value: dict[Callable[..., Any], Callable[..., Any]]) -> None:
        self._overrides = _Overrides(self._changed, value)
        self._changed()

    # -- lifespan ---------------------------------------------------------

    def on_startup(self, hook: Hook) -> Hook:
        """Run ``hook`` (sync or async) before the server accepts connections (after entering the lifespan)."""
        self.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Run ``hook`` (sync or async) after the server has drained (before leaving the lifespan)."""
        if self._lifespan_factory is not None:
            self.shutdown_hooks.insert(len(self.shutdown_hooks) - 1, hook)
        else:
            self.shutdown_hooks.append(hook)
        return hook

    def on_event(self, event: str) -> Callable[[Hook], Hook]:
        """FastAPI's ``@app.on_event("startup")`` and ``("shutdown")``: ``on_startup`` and ``on_shutdown``."""
        if event == "startup":
            return self.on_startup
        if event == "shutdown":
            return self.on_shutdown
        raise RouteDefinitionError(f"{_caller()}: on_event({event!r}): the events are 'startup' and 'shutdown'")

    def add_event_handler(self, event: str, hook: Hook) -> None:
        """``on_event(event)(hook)``, as Starlette spells it."""
        self.on_event(event)(hook)

    async def _enter_lifespan(self) -> None:
        assert self._lifespan_factory is not None
        context = self._lifespan_factory(self)
        state = await context.__aenter__()
        self._lifespan = context
        if state is not None:
            if not isinstance(state, Mapping):
                await context.__aexit__(None, None, None)
                raise RouteDefinitionError(f"the lifespan yielded {state!r}: it may yield a dict (of what each "
                                           "request.state starts with), or nothing")
            self.lifespan_state = dict(state)

    async def _exit_lifespan(self) -> None:
        context, self._lifespan = self._lifespan, None
        self.lifespan_state = None
        if context is not None:
            await context.__aexit__(None, None, None)

    def add_server_route(self, path: str, handler: Callable[..., Any], what: str) -> bool:
        """A route CovetPy itself serves (a probe, the metrics) at ``path``, out of the OpenAPI document; not when
        the application declares that path itself, whose route wins. Returns whether it was added."""
        if any(rd.path == path for rd in self.routes):
            _log.info("%s is the application's own route: covet serves no %s there", path, what)
            return False
        self.get(path, include_in_schema=False, inline=True)(handler)  # (they never block)
        self._apart.add(id(self.routes[-1]))
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
        set_serving(self)  # request.app
        return self._dispatcher

    @property
    def plans(self) -> list[RoutePlan]:
        self.dispatcher()
        return self._plans

    def use_compiled(self, table: list[RouteRow]) -> int:
        """Serve routes from build-time glue (its ``ROUTES``, of a checked schema) instead of planning them now;
        returns how many."""
        known = {(m, rd.path) for rd in self.routes for m in rd.served_as}
        known.update((GRPC_METHOD, path) for path in self.grpc_methods)
        compiled: dict[tuple[str, str], RoutePlan] = {}
        self._grpc_types = {}
        for row in table:
            if row.grpc_types is not None:
                self._grpc_types[row.path] = row.grpc_types
            if (row.method, row.path) not in known:
                raise RouteDefinitionError(
                    f"the build has {row.method} {row.path}, which the application no longer declares")
            plan = RoutePlan(row.glue, row.is_async, row.label, "", None)
            plan.compiled = True
            plan.uses_conn = row.uses_conn
            plan.reads_headers = row.reads_headers
            plan.reads_content_type = row.reads_content_type
            plan.streams_body = row.streams_body
            compiled[(row.method, row.path)] = plan
        self._compiled = compiled
        self._dispatcher = None
        return sum(1 for method, _ in compiled if method != GRPC_METHOD)  # (typed gRPC methods count apart)

    # -- OpenAPI ----------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the application (built once, kept in ``openapi_schema``; a build ships its
        own). As in FastAPI, an application may replace this method (``app.openapi = custom_openapi``, a function
        returning the document): ``/openapi.json`` serves what it returns, called once at start-up."""
        if self.openapi_schema is None:
            if self._openapi is not None:
                self.openapi_schema = json.loads(self._openapi)
            else:
                from covet.openapi import openapi_document

                self.openapi_schema = openapi_document(self)
        return self.openapi_schema

    def openapi_json(self) -> bytes:
        """The document ``/openapi.json`` serves, as JSON: the build's, or what ``openapi()`` returns."""
        if self._openapi is None:
            self._openapi = pydantic_core.to_json(self.openapi())
        return self._openapi

    def use_openapi(self, document: bytes) -> None:
        """Serve ``document`` (from a build) as the OpenAPI document instead of building it from the handlers."""
        self._openapi = document
        self.openapi_schema = None
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
                    "move the docs with Covet(openapi_url=..., docs_url=..., redoc_url=...), or set them to None")
            docs = endpoints[path] = Endpoint(path)
            paths.add(path, docs)
            docs.methods["GET"] = plan
        websockets: PathTrie[tuple[RoutePlan, list[str]]] | None = None
        ws_paths: set[str] = set()
        for rd in self.routes:
            names = [p.param for p in parse_template(rd.path) if p.param is not None]
            if rd.websocket:
                # No middleware, timeout or tracing: those are HTTP's, and a WebSocket lives as long as its peer.
                compiled = None if self._overrides else self._compiled.get((WS_METHOD, rd.path))
                if compiled is not None:
                    plan = compiled
                else:
                    spec = analyse(WS_METHOD, rd.path, rd.handler, names, 200, False, self.route_dependencies(rd),
                                   self._overrides, rd.result)
                    plan = build_plan(spec, names, self.exception_handlers, self.strict_content_type)
                plans.append(plan)
                plan.route_id = route_id(rd.path)
                if websockets is None:
                    websockets = PathTrie()
                if rd.path in ws_paths:
                    _log.warning("WebSocket %s is declared twice: the first answers it; %s is never called", rd.path,
                                 location(rd.handler))
                    continue
                ws_paths.add(rd.path)
                websockets.add(rd.path, (plan, names))
                continue
            endpoint = endpoints.get(rd.path)
            if endpoint is None:
                endpoint = endpoints[rd.path] = Endpoint(rd.path)
                paths.add(rd.path, endpoint)
            for method in rd.methods:
                if method in endpoint.methods:
                    # FastAPI matches routes in order, so the first declaration answers; a FastAPI app that
                    # relies on it (docs_src/path_params/tutorial003b) runs, and the shadowed one is named.
                    _log.warning("%s %s is declared twice: the first, %s, answers it; %s is never called",
                                 method, rd.path, endpoint.methods[method].label, location(rd.handler))
                    continue
                # A build's glue calls the providers it was built with: overridden, the routes are planned here.
                compiled = None if self._overrides else self._compiled.get((method, rd.path))
                if compiled is not None:
                    plan = compiled
                else:
                    spec = analyse(method, rd.path, rd.handler, names, rd.status, rd.blocking,
                                   self.route_dependencies(rd), self._overrides, rd.result,
                                   form_limits_tuple(self.form_limits, rd.form_limits))
                    plan = build_plan(spec, names, self.exception_handlers, self.strict_content_type)
                plans.append(plan)
                chain = [*self.middleware_stack, *rd.middleware]
                served = wrap_plan(plan, chain, names) if chain else plan
                timeout = rd.timeout if rd.timeout is not None else self.handler_timeout
                served.timeout = plan.timeout = float(timeout or 0.0)
                largest = innermost(rd.max_body_size, self.max_body_size)
                served.max_body = plan.max_body = -1 if largest is None else largest
                cancel = rd.cancel_on_disconnect
                # (bool(): the plan is a compiled class, and a truthy 1 or numpy.bool_ must still mean yes)
                served.cancel_on_disconnect = plan.cancel_on_disconnect = bool(
                    self.cancel_on_disconnect if cancel is None else cancel)
                if self.traced is not None:
                    served = self.traced(served, method, rd.path)
                endpoint.methods[method] = served
        app_mw = self.middleware_stack
        handled_405 = self.http_error_handler(405) is not None
        for path, endpoint in endpoints.items():
            if app_mw and path in docs_paths:
                endpoint.methods["GET"] = wrap_plan(endpoint.methods["GET"], app_mw, [])
            endpoint.finish((lambda p: wrap_plan(p, app_mw, [])) if app_mw else None)
            if handled_405:  # the application's handler answers it, as a route's HTTPError
                allow = ", ".join(sorted(endpoint.methods))
                plan = self._router_plan(_raising(405, {"allow": allow}), f"[405 {path}]")
                endpoint.not_allowed = wrap_plan(plan, app_mw, []) if app_mw else plan
        templates = list(endpoints)
        for path, endpoint in endpoints.items():  # the metrics' route label (covet/metrics.py)
            rid = route_id(path)
            for plan in endpoint.methods.values():
                plan.route_id = rid
            endpoint.not_allowed.route_id = rid
        for path, rpc in self.grpc_methods.items():
            # Planned as a route is (covet/runtime/grpc_method.py): its dependencies are the application's, its
            # service's and its own.
            compiled = None if self._overrides else self._compiled.get((GRPC_METHOD, path))
            if compiled is not None:
                rpc.resolve(self._grpc_types.get(path))
                plan = compiled
            else:
                rpc.resolve(None)
                spec = analyse(GRPC_METHOD, path, rpc.handler, [], 200, rpc.blocking,
                               [*self.dependencies, *rpc.dependencies], self._overrides)
                plan = build_plan(spec, [], self.exception_handlers, self.strict_content_type)
            plan.route_id = route_id(path)
            rpc.plan = plan
            plans.append(plan)
        self._plans = plans
        not_found = NOT_FOUND_PLAN
        if self.http_error_handler(404) is not None:
            not_found = self._router_plan(_raising(404), "[not found]")
        other_slash = self._router_plan(_other_slash, "[other slash]") if self.redirect_slashes else None
        if app_mw:
            not_found = wrap_plan(not_found, app_mw, [])
            other_slash = wrap_plan(other_slash, app_mw, []) if other_slash is not None else None
        return Dispatcher(paths, not_found, templates, other_slash, websockets)

    def _router_plan(self, handler: Callable[..., Any], label: str) -> RoutePlan:
        """A plan of the router's own (a 404, a 405, a redirect), run as routes are: through the application's
        exception handlers."""
        plan = build_plan(analyse("GET", "/", handler, [], 200, False, []), [], self.exception_handlers)
        plan.label = label
        return plan


class _Overrides(dict[Callable[..., Any], Callable[..., Any]]):
    """``dependency_overrides``: a dict whose every change has the application plan its routes again."""

    def __init__(self, changed: Callable[[], None], *args: Any) -> None:
        super().__init__(*args)
        self._on_change = changed

    def __setitem__(self, key: Callable[..., Any], value: Callable[..., Any]) -> None:
        super().__setitem__(key, value)
        self._on_change()

    def __delitem__(self, key: Callable[..., Any]) -> None:
        super().__delitem__(key)
        self._on_change()

    def clear(self) -> None:
        super().clear()
        self._on_change()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._on_change()

    def pop(self, *args: Any) -> Any:
        found = super().pop(*args)
        self._on_change()
        return found

    def popitem(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        found = super().popitem()
        self._on_change()
        return found

    def setdefault(self, key: Callable[..., Any], default: Any = None) -> Any:
        found = super().setdefault(key, default)
        self._on_change()
        return found
