"""Declaring routes: the decorators an application and a ``Router`` share, and what they record."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypedDict, TypeVar, final

from typing_extensions import Unpack

from covet.exceptions import RouteDefinitionError
from covet.limits import FormLimits, check_form_limits, check_max_body_size, innermost
from covet.middleware import Middleware, check_middleware
from covet.params import Depends
from covet.runtime.pathtrie import parse_template
from covet.runtime.signature import UNSET, ResultOptions

__all__ = ["APIRoute", "APIRouter", "NoMatchFound", "RouteDef", "RouteOptions", "Routes", "Router", "Webhooks"]

F = TypeVar("F", bound=Callable[..., Any])

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


ResponseDoc = str | Mapping[str, Any]


class RouteOptions(TypedDict, total=False):
    """Keyword arguments of every route decorator.

    status: the status of a successful plain (non-``Response``) result; ``status_code`` is the same, as FastAPI
        spells it.
    inline: run the route's sync code (a ``def`` handler, ``def`` dependencies) on the event loop instead of in
        the thread pool, as FastAPI does. Only for code known never to block: it saves the thread's hand-off
        (tens of microseconds) but holds up every other request while it runs.
    blocking: the old spelling: ``blocking=True`` is the default now; ``blocking=False`` is ``inline=True``.
    tags, summary, description, deprecated, operation_id: for the OpenAPI document; as in FastAPI, the summary
        defaults to the handler's name, title-cased, and the description to its docstring, cut at a form feed.
    responses: other statuses the handler answers with: for each, a description (of the ``HTTPError`` it raises,
        documented with the error's JSON shape) or an OpenAPI response object as a dict.
    include_in_schema: list the route in the OpenAPI document.
    dependencies: ``Depends(...)`` to run before the handler for their effect (an authentication check that
        raises ``HTTPError``); their values are not passed to it.
    timeout: seconds an async (or blocking) handler may take once it has suspended; past it, the handler is
        cancelled and the client gets 504. Overrides the application's ``handler_timeout``.
    cancel_on_disconnect: cancel the handler when its client goes away (the default keeps it running to the
        end: a handler halfway through a write must not be cut off). Overrides the application's setting.
    response_model: the type the result is validated and filtered as, instead of the return annotation (None:
        neither, even with an annotation), as in FastAPI.
    response_model_include, response_model_exclude: the fields to keep or leave out (a set, or a dict for nested
        fields); response_model_exclude_unset, _exclude_defaults, _exclude_none: leave out the fields the result
        did not set, that hold their default, or that are None; response_model_by_alias: write fields under their
        alias (the default).
    response_class: the response class a result that is not a response is sent as (``HTMLResponse``,
        ``PlainTextResponse``, ``RedirectResponse``...); the OpenAPI document gives its media type.
    name: the route's name for ``app.url_path_for`` and ``request.url_for``; the handler's name by default.
    response_description: the description of the successful response in the OpenAPI document ("Successful
        Response").
    openapi_extra: merged into the route's OpenAPI operation, last (dicts key by key, lists appended), as
        FastAPI's ``openapi_extra``: for what the signature cannot say (a body the handler reads itself).
    callbacks: the requests this operation makes to a URL its client gave (OpenAPI callbacks, FastAPI's option):
        the routes of a router whose paths are OpenAPI runtime expressions (``{$callback_url}/invoices``).
    generate_unique_id_function: ``function(route) -> str``, the route's id in the OpenAPI document (its
        ``operationId`` unless it has an ``operation_id``, and the name of its ``Body_``/``Response_`` schemas), as
        FastAPI's option: given the ``RouteDef`` (``APIRoute``), with its ``name``, ``path``, ``methods``, ``tags``.
        None: its router's, else the application's, else FastAPI's default (name, path and method).
    max_body_size: the largest request body the route takes, in bytes: past it, 413 (FastAPI's option; see
        ``covet.limits``). None: its router's, else the application's.
    form_limits: ``max_fields``, ``max_files``, ``max_part_size`` of its form (400 past them), over its routers'
        and the application's, key by key (FastAPI's option; see ``covet.limits``).
    """

    status: int
    status_code: int
    inline: bool
    blocking: bool
    tags: list[str]
    summary: str | None
    description: str | None
    deprecated: bool
    operation_id: str | None
    responses: Mapping[int, ResponseDoc]
    include_in_schema: bool
    dependencies: Sequence[Depends]
    timeout: float | None
    cancel_on_disconnect: bool | None
    name: str | None
    response_model: Any
    response_model_include: Any
    response_model_exclude: Any
    response_model_by_alias: bool
    response_model_exclude_unset: bool
    response_model_exclude_defaults: bool
    response_model_exclude_none: bool
    response_class: type[Any]
    response_description: str
    openapi_extra: dict[str, Any] | None
    callbacks: Sequence[RouteDef]
    max_body_size: int | None
    form_limits: FormLimits | None
    generate_unique_id_function: Callable[[RouteDef], str] | None


@final
class RouteDef:
    """A route as the user declared it."""

    __slots__ = ("path", "methods", "handler", "status", "blocking", "name", "tags", "summary", "description",
                 "deprecated", "operation_id", "responses", "include_in_schema", "dependencies", "middleware",
                 "timeout", "cancel_on_disconnect", "result", "response_description", "openapi_extra", "callbacks",
                 "max_body_size", "form_limits", "generate_unique_id_function", "websocket")

    def __init__(self, path: str, methods: list[str], handler: Callable[..., Any], status: int, blocking: bool,
                 *, tags: Iterable[str] = (), summary: str | None = None, description: str | None = None,
                 deprecated: bool = False, operation_id: str | None = None,
                 responses: Mapping[int, ResponseDoc] | None = None, include_in_schema: bool = True,
                 dependencies: Iterable[Depends] = (), middleware: Iterable[Middleware] = (),
                 timeout: float | None = None, cancel_on_disconnect: bool | None = None,
                 name: str | None = None, result: ResultOptions | None = None,
                 response_description: str = "Successful Response",
                 openapi_extra: Mapping[str, Any] | None = None, callbacks: Iterable[RouteDef] = (),
                 max_body_size: int | None = None, form_limits: Mapping[str, int] | None = None,
                 generate_unique_id_function: Callable[[RouteDef], str] | None = None) -> None:
        self.path = path
        self.methods = methods
        self.handler = handler
        self.status = status
        self.blocking = blocking
        self.name: str = name if name is not None else getattr(handler, "__name__", "handler")
        self.tags = list(tags)
        self.summary = summary
        self.description = description
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.responses = dict(responses or {})
        self.include_in_schema = include_in_schema
        self.dependencies = list(dependencies)
        self.middleware = list(middleware)
        self.timeout = timeout
        self.cancel_on_disconnect = cancel_on_disconnect
        self.result = result or ResultOptions()
        self.response_description = response_description
        self.openapi_extra = dict(openapi_extra) if openapi_extra else None
        self.callbacks = list(callbacks)
        self.max_body_size = max_body_size
        self.form_limits = dict(form_limits or {})
        self.generate_unique_id_function = generate_unique_id_function
        self.websocket = False  # a WebSocket route (``methods`` is empty then)

    @property
    def served_as(self) -> list[str]:
        """The methods its plans are keyed by: its HTTP methods, or "WEBSOCKET" for a WebSocket route."""
        return ["WEBSOCKET"] if self.websocket else self.methods

    @property
    def endpoint(self) -> Callable[..., Any]:
        """The handler, under FastAPI's name for it (``APIRoute.endpoint``)."""
        return self.handler

    def moved(self, prefix: str, tags: Iterable[str], dependencies: Iterable[Depends] = (),
              middleware: Iterable[Middleware] = (), responses: Mapping[int, ResponseDoc] | None = None,
              deprecated: bool = False, include_in_schema: bool = True, max_body_size: int | None = None,
              form_limits: Mapping[str, int] | None = None,
              generate_unique_id_function: Callable[[RouteDef], str] | None = None) -> RouteDef:
        """This route under ``prefix``, with ``tags``, ``dependencies``, ``middleware`` and ``responses`` before its
        own; ``deprecated`` or left out of the OpenAPI document when the router says so; the router's body limits
        where the route sets none."""
        tags = list(tags)
        merged = [*tags, *(t for t in self.tags if t not in tags)]
        moved = RouteDef(prefix + self.path, self.methods, self.handler, self.status, self.blocking, tags=merged,
                        summary=self.summary, description=self.description,
                        deprecated=self.deprecated or deprecated,
                        operation_id=self.operation_id, responses={**(responses or {}), **self.responses},
                        include_in_schema=self.include_in_schema and include_in_schema,
                        dependencies=[*dependencies, *self.dependencies],
                        middleware=[*middleware, *self.middleware], timeout=self.timeout,
                        cancel_on_disconnect=self.cancel_on_disconnect, name=self.name,
                        result=self.result, response_description=self.response_description,
                        openapi_extra=self.openapi_extra, callbacks=self.callbacks,
                        max_body_size=innermost(self.max_body_size, max_body_size),
                        form_limits={**(form_limits or {}), **self.form_limits},
                        generate_unique_id_function=self.generate_unique_id_function or generate_unique_id_function)
        moved.websocket = self.websocket
        return moved


class NoMatchFound(Exception):
    """``url_path_for``: no route has that name and those parameters (Starlette's exception of the same name)."""

    def __init__(self, name: str, path_params: Mapping[str, object]) -> None:
        params = ", ".join(path_params)
        super().__init__(f'No route exists for name "{name}" and params "{params}".')


def _caller() -> str:
    """file:line of the application code that called into covet (for a RouteDefinitionError)."""
    frame = inspect.currentframe()
    while frame is not None and frame.f_code.co_filename.startswith(_COVET_DIR):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "<unknown>"


_COVET_DIR = __file__.rsplit("/", 1)[0] + "/"

_NO_ROUTE_CLASS: Final = ("custom route classes are not supported: time a route or change its response in a "
                           "middleware (@app.middleware('http')); a RequestValidationError handler has the body as "
                           "exc.body")

# FastAPI's options CovetPy has no counterpart for yet, and what to do instead.
_UNSUPPORTED = {
    "route_class": _NO_ROUTE_CLASS,
    "callbacks": "give callbacks= to each route that makes them",
    "routes": "declare the routes with the router's decorators",
    "on_startup": "use the application's on_startup / lifespan",
    "on_shutdown": "use the application's on_shutdown / lifespan",
    "lifespan": "give the lifespan to Covet(lifespan=...)",
    "redirect_slashes": "set it on the application: Covet(redirect_slashes=...)",
    "default": "the application answers 404 itself (register @app.exception_handler(404))",
    "dependency_overrides_provider": "override dependencies on the application",
}


def _refuse(what: str, unsupported: Mapping[str, object]) -> None:
    for name in unsupported:
        fix = _UNSUPPORTED.get(name, "it is not an option CovetPy knows")
        raise RouteDefinitionError(f"{_caller()}: {what}({name}=...): {fix}")


def is_callback_path(path: str) -> bool:
    """``path`` is an OpenAPI runtime expression (``{$callback_url}/invoices/{$request.body.id}``): the path of a
    callback, which a router may declare but never serve."""
    return path.startswith("{$")


def _check_prefix(prefix: str) -> str:
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise RouteDefinitionError(f"prefix {prefix!r} must start with '/' and not end with one")
    if prefix:
        parse_template(prefix)
    return prefix


def _check_unique_id(where: str, fn: Callable[[RouteDef], str] | None) -> Callable[[RouteDef], str] | None:
    if fn is not None and not callable(fn):
        raise RouteDefinitionError(f"{where}: generate_unique_id_function must be a function of the route, "
                                   f"not {fn!r}")
    return fn


def _check_middleware(mw: Middleware) -> Middleware:
    return check_middleware(mw)


def _result_options(path: str, options: RouteOptions) -> ResultOptions:
    cls = options.get("response_class")
    if cls is not None:
        check_response_class(f"route {path!r}: response_class", cls)
    for name in ("response_model_include", "response_model_exclude"):
        value = options.get(name)
        if value is not None and not isinstance(value, (set, frozenset, dict, list, tuple)):
            raise RouteDefinitionError(f"route {path!r}: {name} must be a set of field names (or a dict), "
                                       f"not {value!r}")
    return ResultOptions(
        model=options.get("response_model", UNSET),
        include=_fields(options.get("response_model_include")),
        exclude=_fields(options.get("response_model_exclude")),
        by_alias=options.get("response_model_by_alias", True),
        exclude_unset=options.get("response_model_exclude_unset", False),
        exclude_defaults=options.get("response_model_exclude_defaults", False),
        exclude_none=options.get("response_model_exclude_none", False),
        response_class=cls,
        status_given="status" in options or "status_code" in options,
    )


def check_response_class(what: str, cls: Any) -> Any:
    """``cls``, a Response class (``response_class=``, ``default_response_class=``), or a start-up error."""
    from covet.responses import Response, StreamingResponse

    if not (isinstance(cls, type) and issubclass(cls, (Response, StreamingResponse))):
        raise RouteDefinitionError(f"{_caller()}: {what} must be a Response class, not {cls!r}")
    return cls


def _with_class(result: ResultOptions, cls: type[Any] | None) -> ResultOptions:
    """``result`` with ``cls`` as its response class when it names none (FastAPI's ``default_response_class``)."""
    if cls is None or result.response_class is not None:
        return result
    return dataclasses.replace(result, response_class=cls)


def _fields(value: Any) -> Any:
    """A list or tuple of field names as the set pydantic takes."""
    return set(value) if isinstance(value, (list, tuple)) else value


def check_timeout(what: str, seconds: float) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < 1e9:
        raise RouteDefinitionError(f"{what} must be a positive number of seconds, not {seconds!r}")


def check_dependencies(where: str, deps: Iterable[Depends]) -> list[Depends]:
    found = list(deps)
    for d in found:
        if not isinstance(d, Depends):
            raise RouteDefinitionError(f"{where}: dependencies must be Depends(...), not {d!r}")
        if d.provider is None:
            raise RouteDefinitionError(f"{where}: dependencies must name their provider: Depends(provider)")
    return found


class Routes:
    """The route decorators of an application or a router."""

    serves_paths: bool = True  # False for webhooks: their "path" is an event's name, never served
    holds_callbacks: bool = False  # a router may declare callbacks (for a route's callbacks=), an application not

    def __init__(self, default_response_class: type[Any] | None = None) -> None:
        self.routes: list[RouteDef] = []
        # The OpenAPI id of the routes declared here that set none (FastAPI's generate_unique_id_function).
        self.generate_unique_id_function: Callable[[RouteDef], str] | None = None
        # The response class of the routes that name none, FastAPI's ``default_response_class``.
        self.default_response_class = (None if default_response_class is None else
                                       check_response_class("default_response_class", default_response_class))

    def _changed(self) -> None:
        """Called whenever a route is added."""

    @property
    def route_class(self) -> type[RouteDef]:
        """FastAPI's ``router.route_class``: always ``RouteDef``; setting another is refused, saying what to do."""
        return RouteDef

    @route_class.setter
    def route_class(self, cls: type[Any]) -> None:
        if cls is not RouteDef:
            raise RouteDefinitionError(f"{_caller()}: route_class = {getattr(cls, '__name__', cls)}: {_NO_ROUTE_CLASS}")

    def route(self, path: str, methods: Iterable[str] = ("GET",), **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register the decorated function for ``path`` (a template such as ``/users/{user_id}``) and ``methods``.

        A GET route also answers HEAD. The keyword options are those of ``RouteOptions``.
        """
        if self.serves_paths and not (self.holds_callbacks and is_callback_path(path)):
            parse_template(path)  # fail at declaration, with the path in the message
        wanted = [m.upper() for m in methods]
        if not wanted:
            raise RouteDefinitionError(f"route {path!r}: methods is empty (a WebSocket is declared with websocket())")
        for m in wanted:
            if m not in _METHODS:
                raise RouteDefinitionError(f"route {path!r}: unknown method {m!r}")
        unknown = set(options) - set(RouteOptions.__annotations__)
        if unknown:
            raise RouteDefinitionError(f"route {path!r}: unknown option {sorted(unknown)[0]!r}")
        if "status" in options and "status_code" in options and options["status"] != options["status_code"]:
            raise RouteDefinitionError(f"route {path!r}: status={options['status']} and "
                                       f"status_code={options['status_code']} disagree; give one")
        status = options.get("status", options.get("status_code", 200))
        if "inline" in options and "blocking" in options and options["inline"] == options["blocking"]:
            raise RouteDefinitionError(f"route {path!r}: inline={options['inline']} and "
                                       f"blocking={options['blocking']} disagree; give inline= only")
        # ``blocking``: the route's sync code runs in the thread pool (FastAPI's default for ``def``).
        blocking = not options.get("inline", not options.get("blocking", True))
        if type(status) is not int or not 200 <= status <= 599:
            # 1xx are interim answers: sent as a route's final one, the client would pair the next with this request.
            raise RouteDefinitionError(f"route {path!r}: status {status!r} is not a final HTTP status (200-599)")
        for code in options.get("responses", {}):
            if not 100 <= code <= 599:
                raise RouteDefinitionError(f"route {path!r}: responses has {code}, which is not an HTTP status")
        dependencies = check_dependencies(f"route {path!r}", options.get("dependencies", ()))
        timeout = options.get("timeout")
        if timeout is not None:
            check_timeout(f"route {path!r}: timeout", timeout)
        extra = options.get("openapi_extra")
        if extra is not None and not isinstance(extra, Mapping):
            raise RouteDefinitionError(f"route {path!r}: openapi_extra must be a dict (merged into the operation), "
                                       f"not {extra!r}")
        callbacks = list(options.get("callbacks", ()))
        for cb in callbacks:
            if not isinstance(cb, RouteDef):
                raise RouteDefinitionError(f"route {path!r}: callbacks must be a router's routes "
                                           f"(callbacks=router.routes), not {cb!r}")
        description = options.get("response_description", "Successful Response")
        if not isinstance(description, str):
            raise RouteDefinitionError(f"route {path!r}: response_description must be a string, not {description!r}")

        result = _with_class(_result_options(path, options), self.default_response_class)
        max_body_size = check_max_body_size(f"route {path!r}", options.get("max_body_size"))
        form_limits = check_form_limits(f"route {path!r}", options.get("form_limits"))
        unique_id = _check_unique_id(f"route {path!r}", options.get("generate_unique_id_function"))

        def register(handler: F) -> F:
            self.routes.append(RouteDef(
                path, wanted, handler, status, blocking, tags=options.get("tags", ()),
                summary=options.get("summary"), description=options.get("description"),
                deprecated=options.get("deprecated", False), operation_id=options.get("operation_id"),
                responses=options.get("responses"), include_in_schema=options.get("include_in_schema", True),
                dependencies=dependencies, timeout=timeout,
                cancel_on_disconnect=options.get("cancel_on_disconnect"), name=options.get("name"), result=result,
                response_description=description, openapi_extra=extra, callbacks=callbacks,
                max_body_size=max_body_size, form_limits=form_limits,
                generate_unique_id_function=unique_id or self.generate_unique_id_function))
            self._changed()
            return handler

        return register

    def get(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("GET",), **options)

    def websocket(self, path: str, name: str | None = None, *,
                  dependencies: Iterable[Depends] | None = None) -> Callable[[F], F]:
        """Register the decorated ``async def`` as the WebSocket handler of ``path`` (docs/websockets.md). It takes
        a ``WebSocket`` parameter, and path, query, header and cookie parameters and dependencies as an HTTP
        route does; those are resolved before the handshake is answered."""
        parse_template(path)
        deps = check_dependencies(f"websocket {path!r}", dependencies or ())
        where = _caller()

        def register(handler: F) -> F:
            if not inspect.iscoroutinefunction(handler):
                raise RouteDefinitionError(f"{where}: websocket {path!r}: the handler must be an async def")
            rd = RouteDef(path, [], handler, 200, False, name=name, dependencies=deps, include_in_schema=False)
            rd.websocket = True
            self.routes.append(rd)
            self._changed()
            return handler

        return register

    def add_api_websocket_route(self, path: str, endpoint: Callable[..., Any], name: str | None = None, *,
                                dependencies: Iterable[Depends] | None = None) -> None:
        """``websocket(path)`` without the decorator (FastAPI's name)."""
        self.websocket(path, name, dependencies=dependencies)(endpoint)

    def websocket_route(self, path: str, name: str | None = None) -> Callable[[F], F]:
        """Starlette's spelling of ``websocket``."""
        return self.websocket(path, name)

    def post(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("POST",), **options)

    def put(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("PUT",), **options)

    def patch(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("PATCH",), **options)

    def delete(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("DELETE",), **options)

    def head(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("HEAD",), **options)

    def options(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("OPTIONS",), **options)

    def include_router(self, router: Router, *, prefix: str = "", tags: Iterable[str] = (),
                       dependencies: Iterable[Depends] = (), middleware: Iterable[Middleware] = (),
                       responses: Mapping[int, ResponseDoc] | None = None, deprecated: bool = False,
                       include_in_schema: bool = True, default_response_class: type[Any] | None = None,
                       max_body_size: int | None = None, form_limits: FormLimits | None = None,
                       generate_unique_id_function: Callable[[RouteDef], str] | None = None,
                       **unsupported: object) -> None:
        """Add every route ``router`` has now, under ``prefix`` + the router's own prefix, with ``tags``,
        ``dependencies``, ``middleware`` and ``responses`` added before (outside) the router's own. A route
        that names no response class (nor its router) gets ``default_response_class``, else this one's. The body
        limits apply where neither the route nor the router sets its own."""
        _refuse("include_router", unsupported)
        max_body_size = innermost(router.max_body_size, check_max_body_size("include_router", max_body_size))
        limits = {**check_form_limits("include_router", form_limits), **router.form_limits}
        unique_id = (router.generate_unique_id_function
                     or _check_unique_id("include_router", generate_unique_id_function)
                     or self.generate_unique_id_function)
        if default_response_class is not None:
            check_response_class("include_router: default_response_class", default_response_class)
        fallback = default_response_class or self.default_response_class
        _check_prefix(prefix)
        tags = list(tags)
        for t in router.tags:
            if t not in tags:
                tags.append(t)
        deps = [*check_dependencies(prefix or "include_router", dependencies), *router.dependencies]
        mws = [*(_check_middleware(m) for m in middleware), *router.middleware]
        for rd in router.routes:
            if is_callback_path(rd.path):
                raise RouteDefinitionError(
                    f"{_caller()}: include_router: route {rd.path!r} is a callback's path (an OpenAPI runtime "
                    "expression), which cannot be served: give the router's routes to a route's callbacks= instead")
        docs = {**(responses or {}), **router.responses}
        for rd in router.routes:
            moved = rd.moved(prefix + router.prefix, tags, deps, mws, docs, deprecated or router.deprecated,
                             include_in_schema and router.include_in_schema, max_body_size, limits, unique_id)
            moved.result = _with_class(moved.result, fallback)
            self.routes.append(moved)
        self._changed()


class Router(Routes):
    """A group of routes with a common path prefix and tags, for ``app.include_router`` (FastAPI's ``APIRouter``).

    Args:
        prefix: put before every route's path, e.g. ``/users``.
        tags: OpenAPI tags given to every route.
        dependencies: ``Depends(...)`` every route runs first, for their effect.
        middleware: around every route of the router, inside the application's (see ``covet.middleware``).
        responses: other responses every route documents (see ``RouteOptions``).
        deprecated: mark every route deprecated in the OpenAPI document.
        include_in_schema: ``False`` leaves every route out of the OpenAPI document.
        default_response_class: the ``response_class`` of the router's routes that name none.
        max_body_size, form_limits: the body limits of its routes that set none (see ``RouteOptions``).
        generate_unique_id_function: the OpenAPI id of its routes that set none (see ``RouteOptions``).

    A router may also hold OpenAPI callbacks, routes whose path is a runtime expression
    (``{$callback_url}/invoices``): they are given to a route's ``callbacks=``, never included.
    """

    holds_callbacks = True

    def __init__(self, *, prefix: str = "", tags: Iterable[str] = (), dependencies: Iterable[Depends] = (),
                 middleware: Iterable[Middleware] = (), responses: Mapping[int, ResponseDoc] | None = None,
                 deprecated: bool = False, include_in_schema: bool = True,
                 default_response_class: type[Any] | None = None, max_body_size: int | None = None,
                 form_limits: FormLimits | None = None,
                 generate_unique_id_function: Callable[[RouteDef], str] | None = None, **unsupported: object) -> None:
        super().__init__(default_response_class)
        self.generate_unique_id_function = _check_unique_id(type(self).__name__, generate_unique_id_function)
        _refuse(type(self).__name__, unsupported)
        self.max_body_size = check_max_body_size(type(self).__name__, max_body_size)
        self.form_limits = check_form_limits(type(self).__name__, form_limits)
        self.prefix = _check_prefix(prefix)
        self.tags = list(tags)
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.dependencies = check_dependencies(prefix or "Router", dependencies)
        self.middleware: list[Middleware] = []
        for mw in middleware:
            self.add_middleware(mw)

    def add_middleware(self, mw: Middleware) -> Middleware:
        """Add ``mw`` around this router's routes, inside those added before; usable as a decorator."""
        self.middleware.append(_check_middleware(mw))
        return mw


APIRouter = Router
APIRoute = RouteDef  # FastAPI's name, for generate_unique_id_function's argument and isinstance()


class Webhooks(Routes):
    """``app.webhooks`` (FastAPI's): the requests the API sends to the URLs its users register, declared as routes
    named by their event (``@app.webhooks.post("new-subscription")``). Documented under the OpenAPI document's
    ``webhooks``, never served."""

    serves_paths = False

    def __init__(self, changed: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._on_change = changed  # the application's: its document is written again

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
"""FastAPI's name for ``Router``."""
