"""What every security scheme has: its OpenAPI description, its name there, and its 401."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from covet.exceptions import HTTPError
from covet.requests import Request

__all__ = ["SecurityBase", "WholeAuthorization", "not_authenticated"]


class SecurityBase:
    """A security scheme.

    ``model`` is its OpenAPI Security Scheme Object (plain data, ``None`` values left out of the document);
    ``scheme_name`` its key under ``components.securitySchemes`` (the class's name unless given).
    """

    model: dict[str, Any]
    scheme_name: str
    auto_error: bool

    def _describe(self, model: dict[str, Any], scheme_name: str | None, description: str | None,
                  auto_error: bool) -> None:
        if description is not None:
            model["description"] = description
        self.model = model
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def openapi_scheme(self) -> dict[str, Any]:
        """The Security Scheme Object for the OpenAPI document."""
        described: dict[str, Any] = _without_none(self.model)
        return described


def _without_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def not_authenticated(challenge: str) -> HTTPError:
    """The 401 every scheme answers, with the challenge RFC 9110 requires of a 401."""
    return HTTPError(401, "Not authenticated", headers={"WWW-Authenticate": challenge})


class WholeAuthorization(SecurityBase):
    """A scheme whose value is the ``Authorization`` header, whole, for the application to check (OAuth2 with
    custom flows, OpenID Connect); without one, 401 with a ``Bearer`` challenge."""

    def make_not_authenticated_error(self) -> HTTPError:
        return not_authenticated("Bearer")

    async def __call__(self, request: Request) -> str | None:
        header = request.headers.get("authorization")
        if not header:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return header
