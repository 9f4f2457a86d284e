"""Exceptions a handler raises to answer with an HTTP error."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

__all__ = ["ClientDisconnect", "HTTPError", "RequestValidationError", "ResponseValidationError", "RouteDefinitionError"]


class HTTPError(Exception):
    """Answer the request with ``status`` and a JSON body ``{"detail": detail}``.

    Args:
        status: the HTTP status code.
        detail: any JSON-serialisable value; defaults to the status phrase.
        headers: extra response headers.
    """

    def __init__(
        self,
        status: int,
        detail: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if detail is None:
            try:
                detail = HTTPStatus(status).phrase
            except ValueError:
                detail = "Error"
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers) if headers else {}

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.detail!r})"


class RequestValidationError(Exception):
    """A request's parameters or body did not validate: what is answered with 422.

    It is raised only in routes of an application that registered an exception handler for it (to answer
    differently); otherwise the 422 is answered directly. ``errors()`` lists the problems, each a dict with
    ``type``, ``loc``, ``msg`` and ``input``, as in the 422 body's ``detail``.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self._errors = errors

    def errors(self) -> list[dict[str, Any]]:
        return self._errors


class ResponseValidationError(Exception):
    """A handler's result does not fit its declared return type: a bug in the application, answered 500.

    ``errors()`` lists the problems as ``RequestValidationError`` does; the message names the declared type.
    """

    def __init__(self, errors: list[dict[str, Any]], declared: str = "") -> None:
        lines = [f"  {'.'.join(str(x) for x in e.get('loc', ())) or '(result)'}: {e.get('msg', '')}" for e in errors]
        super().__init__(f"the result does not fit the declared type {declared}:\n" + "\n".join(lines))
        self._errors = errors

    def errors(self) -> list[dict[str, Any]]:
        return self._errors


class ClientDisconnect(Exception):
    """The client went away while its request body was being read; there is nobody left to answer."""


class RouteDefinitionError(TypeError):
    """A route or handler signature that CovetPy cannot serve, found at start-up."""
