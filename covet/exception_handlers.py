"""The default answers to errors, for an exception handler that does something and then answers as usual."""

from __future__ import annotations

from covet.encoders import jsonable_encoder
from covet.exceptions import HTTPError, RequestValidationError
from covet.requests import Request
from covet.responses import JSONResponse, Response

__all__ = ["http_exception_handler", "request_validation_exception_handler"]


async def http_exception_handler(request: Request, exc: HTTPError) -> Response:
    """``{"detail": exc.detail}`` with the error's status and headers (no body for 1xx, 204 and 304)."""
    if exc.status < 200 or exc.status in (204, 304):
        return Response(b"", exc.status, exc.headers)
    return JSONResponse({"detail": exc.detail}, exc.status, exc.headers)


async def request_validation_exception_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with the problems as ``detail``."""
    return JSONResponse({"detail": jsonable_encoder(exc.errors())}, 422)
