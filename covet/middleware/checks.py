"""Checks of declared middleware, at start-up: what may be added, and the error that says how to fix the rest."""

from __future__ import annotations

import inspect
import os
import sys
from typing import TYPE_CHECKING, Any, cast

from covet.exceptions import RouteDefinitionError

if TYPE_CHECKING:
    from covet.middleware import Middleware

__all__ = ["call_site", "check_middleware", "build_middleware"]

_COVET: str = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ASGI_HELP = ("CovetPy does not run pure ASGI middleware classes yet (a later issue). Write it as an async function "
              "(request, call_next) -> response, added with @app.middleware(\"http\"), or use CovetPy's own: "
              "covet.middleware.cors.CORSMiddleware, .trustedhost.TrustedHostMiddleware, .gzip.GZipMiddleware, "
              ".httpsredirect.HTTPSRedirectMiddleware, covet.SessionMiddleware")


def call_site() -> str:
    """``file:line`` of the application code that called into covet, for definition errors."""
    frame = sys._getframe(1)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_COVET + os.sep):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _params(func: object) -> list[str]:
    try:
        return list(inspect.signature(func).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []


def _is_asgi(obj: object) -> bool:
    """Whether ``obj`` is an ASGI middleware: a class built with the app it wraps, or a ``(scope, receive, send)``
    callable."""
    call = getattr(obj, "__call__", None)  # noqa: B004 (the method, not whether there is one)
    names = _params(call)
    if isinstance(obj, type):
        names = names[1:]  # the class's function, with self
        init = _params(obj.__init__)  # type: ignore[misc]
        if init[1:2] == ["app"]:
            return True
    return names[:3] == ["scope", "receive", "send"]


def check_middleware(mw: object, where: str | None = None) -> Middleware:
    """``mw`` if it is a middleware covet can run; else a RouteDefinitionError that says how to fix it."""
    where = where or call_site()
    if _is_asgi(mw):
        name = getattr(mw, "__qualname__", type(mw).__qualname__)
        raise RouteDefinitionError(f"{where}: {name} is an ASGI middleware. {_ASGI_HELP}.")
    if isinstance(mw, type):
        raise RouteDefinitionError(f"{where}: middleware {mw.__qualname__} is a class: give an instance, "
                                   f"{mw.__qualname__}(...), or add it with app.add_middleware({mw.__qualname__}, "
                                   "**options)")
    # An instance whose __call__ is async also qualifies; callable() cannot tell (hence the noqa).
    if not inspect.iscoroutinefunction(mw) and not inspect.iscoroutinefunction(getattr(mw, "__call__", None)):  # noqa: B004
        raise RouteDefinitionError(f"{where}: middleware {mw!r} must be an async function (request, call_next) -> "
                                   "response")
    return cast("Middleware", mw)


def build_middleware(cls: type, args: tuple[Any, ...], options: dict[str, Any], where: str) -> Middleware:
    """An instance of middleware class ``cls`` made with ``options`` (FastAPI's ``add_middleware(cls, **options)``)."""
    if _is_asgi(cls):
        raise RouteDefinitionError(f"{where}: {cls.__qualname__} is an ASGI middleware class. {_ASGI_HELP}.")
    try:
        mw = cls(*args, **options)
    except RouteDefinitionError as exc:
        raise RouteDefinitionError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise RouteDefinitionError(f"{where}: {cls.__qualname__}(...): {exc}") from None
    return check_middleware(mw, where)
