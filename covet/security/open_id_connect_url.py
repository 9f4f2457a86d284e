"""OpenID Connect: the scheme points clients at the provider's discovery document."""

from __future__ import annotations

from covet.security.base import WholeAuthorization

__all__ = ["OpenIdConnect"]


class OpenIdConnect(WholeAuthorization):
    """OpenID Connect with the discovery document at ``openIdConnectUrl``; the value is the ``Authorization``
    header, whole, for the application to check."""

    def __init__(self, *, openIdConnectUrl: str, scheme_name: str | None = None,
                 description: str | None = None, auto_error: bool = True) -> None:
        model = {"type": "openIdConnect", "openIdConnectUrl": openIdConnectUrl}
        self._describe(model, scheme_name, description, auto_error)
