"""Exceptions a handler raises to answer with an HTTP error."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

__all__ = ["ClientDisconnect", "FastAPIError", "HTTPError", "HTTPException", "RequestValidationError",
           "ResponseValidationError", "RouteDefinitionError"]


class HTTPError(Exception):
    """Answer the request with ``status`` and a JSON body ``{"detail": detail}``.

    Args:
        status: the HTTP status code; ``status_code=`` is the same, as FastAPI's ``HTTPException`` spells it.
        detail: any JSON-serialisable value; defaults to the status phrase.
        headers: extra response headers.
    """

    def __init__(
        self,
        status: int | None = None,
        detail: object = None,
        headers: Mapping[str, str] | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        if status is None:
            if status_code is None:
                raise TypeError("HTTPError needs a status: HTTPError(404) or HTTPError(status_code=404)")
            status = status_code
        elif status_code is not None and status_code != status:
            raise TypeError(f"HTTPError got status={status} and status_code={status_code}; give one")
        if detail is None:
            try:
                detail = HTTPStatus(status).phrase
            except ValueError:
                detail = "Error"
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers) if headers else {}

    @property
    def status_code(self) -> int:
        """``status``, as FastAPI and Starlette spell it."""
        return self.status

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.detail!r})"


HTTPException = HTTPError
"""FastAPI's name for ``HTTPError``: ``HTTPException(status_code, detail=None, headers=None)``."""


class RequestValidationError(Exception):
    """A request's parameters or body did not validate: what is answered with 422.

    It is raised only in routes of an application that registered an exception handler for it (to answer
    differently); otherwise the 422 is answered directly. ``errors()`` lists the problems, each a dict with
    ``type``, ``loc``, ``msg`` and ``input``, as in the 422 body's ``detail``.
    """

    def __init__(self, errors: list[dict[str, Any]], *, body: Any = None) -> None:
        super().__init__(errors)
        self._errors = errors
        # FastAPI's ``exc.body``: a JSON body as it decoded (its text if it did not), else None.
        self.body = body

    def errors(self) -> list[dict[str, Any]]:
        # FastAPI's locations are tuples (pydantic's); the 422 written without this exception keeps lists
        return [{**e, "loc": tuple(e["loc"])} if isinstance(e.get("loc"), list) else e for e in self._errors]


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


class FastAPIError(RuntimeError):
    """Application code that CovetPy cannot serve a request for (FastAPI's name): a dependency with ``yield`` that
    swallowed the handler's exception, leaving no response to send."""


class RouteDefinitionError(TypeError):
    """A route or handler signature that CovetPy cannot serve, found at start-up."""
