"""OpenID Connect: the scheme points clients at the provider's discovery document."""

from __future__ import annotations

from covet.exceptions import HTTPError
from covet.requests import Request
from covet.security.base import SecurityBase, not_authenticated

__all__ = ["OpenIdConnect"]


class OpenIdConnect(SecurityBase):
    """OpenID Connect with the discovery document at ``openIdConnectUrl``; the value is the ``Authorization``
    header, whole, for the application to check."""

    def __init__(self, *, openIdConnectUrl: str, scheme_name: str | None = None,
                 description: str | None = None, auto_error: bool = True) -> None:
        model = {"type": "openIdConnect", "openIdConnectUrl": openIdConnectUrl}
        self._describe(model, scheme_name, description, auto_error)

    def make_not_authenticated_error(self) -> HTTPError:
        return not_authenticated("Bearer")

    async def __call__(self, request: Request) -> str | None:
        header = request.headers.get("authorization")
        if not header:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return header
