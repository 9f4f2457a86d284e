"""OAuth2: the bearer schemes, the password flow's form, and the scopes a route requires."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pydantic

from covet.params import Form
from covet.requests import Request
from covet.security.base import WholeAuthorization
from covet.security.utils import get_authorization_scheme_param

__all__ = ["OAuth2", "OAuth2AuthorizationCodeBearer", "OAuth2PasswordBearer", "OAuth2PasswordRequestForm",
           "OAuth2PasswordRequestFormStrict", "SecurityScopes"]


class OAuth2PasswordRequestForm:
    """The form a client posts to the token URL in OAuth2's password flow (RFC 6749 section 4.3.2).

    Use it as a class dependency: ``form: Annotated[OAuth2PasswordRequestForm, Depends()]``. ``scopes`` is
    ``scope`` split on spaces.
    """

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form()],
        password: Annotated[str, Form(), pydantic.Field(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(), pydantic.Field(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """``OAuth2PasswordRequestForm`` that requires ``grant_type=password``, as the RFC does."""

    def __init__(
        self,
        grant_type: Annotated[str, Form(pattern="^password$")],
        username: Annotated[str, Form()],
        password: Annotated[str, Form(), pydantic.Field(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(), pydantic.Field(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        super().__init__(grant_type=grant_type, username=username, password=password, scope=scope,
                         client_id=client_id, client_secret=client_secret)


class OAuth2(WholeAuthorization):
    """OAuth2 with the given ``flows`` (the OpenAPI OAuth Flows Object); the value is the ``Authorization``
    header, whole."""

    def __init__(self, *, flows: Mapping[str, Mapping[str, Any]] | None = None, scheme_name: str | None = None,
                 description: str | None = None, auto_error: bool = True) -> None:
        model = {"type": "oauth2", "flows": {k: dict(v) for k, v in (flows or {}).items()}}
        self._describe(model, scheme_name, description, auto_error)

    def _bearer(self, request: Request) -> str | None:
        header = request.headers.get("authorization")
        scheme, token = get_authorization_scheme_param(header)
        if not header or scheme.lower() != "bearer":
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return token


class OAuth2PasswordBearer(OAuth2):
    """OAuth2's password flow: clients get a token from ``tokenUrl`` and send it as ``Authorization: Bearer``;
    the value is the token."""

    def __init__(self, tokenUrl: str, scheme_name: str | None = None,
                 scopes: Mapping[str, str] | None = None, description: str | None = None, auto_error: bool = True,
                 refreshUrl: str | None = None) -> None:
        flow = {"tokenUrl": tokenUrl, "refreshUrl": refreshUrl, "scopes": dict(scopes or {})}
        super().__init__(flows={"password": flow}, scheme_name=scheme_name, description=description,
                         auto_error=auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self._bearer(request)


class OAuth2AuthorizationCodeBearer(OAuth2):
    """OAuth2's authorization code flow; the value is the bearer token."""

    def __init__(self, authorizationUrl: str, tokenUrl: str, refreshUrl: str | None = None,
                 scheme_name: str | None = None, scopes: Mapping[str, str] | None = None,
                 description: str | None = None, auto_error: bool = True) -> None:
        flow = {"authorizationUrl": authorizationUrl, "tokenUrl": tokenUrl, "refreshUrl": refreshUrl,
                "scopes": dict(scopes or {})}
        super().__init__(flows={"authorizationCode": flow}, scheme_name=scheme_name, description=description,
                         auto_error=auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self._bearer(request)


class SecurityScopes:
    """The OAuth2 scopes a dependency is required for: those of every ``Security(..., scopes=...)`` on the way
    from the route to it. Declare a parameter of this type to receive them."""

    def __init__(self, scopes: list[str] | None = None) -> None:
        self.scopes: list[str] = list(scopes or [])
        self.scope_str = " ".join(self.scopes)

    def __repr__(self) -> str:
        return f"SecurityScopes({self.scopes!r})"
