"""HTTP authentication schemes (RFC 9110 section 11): Basic, Bearer, Digest, or any other."""

from __future__ import annotations

import binascii
from base64 import b64decode

import pydantic

from covet.exceptions import HTTPError
from covet.requests import Request
from covet.security.base import SecurityBase
from covet.security.utils import get_authorization_scheme_param

__all__ = ["HTTPAuthorizationCredentials", "HTTPBase", "HTTPBasic", "HTTPBasicCredentials", "HTTPBearer",
           "HTTPDigest"]


class HTTPBasicCredentials(pydantic.BaseModel):
    """The user name and password of an ``Authorization: Basic`` header."""

    username: str
    password: str


class HTTPAuthorizationCredentials(pydantic.BaseModel):
    """An ``Authorization`` header's scheme (``Bearer``, as sent) and credentials (the token)."""

    scheme: str
    credentials: str


class _HTTPScheme(SecurityBase):
    """What the HTTP schemes share: the description, and the 401 with the scheme's challenge."""

    def __init__(self, *, scheme: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        self._describe({"type": "http", "scheme": scheme}, scheme_name, description, auto_error)
        self.scheme = scheme

    def make_authenticate_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.scheme.title()}

    def make_not_authenticated_error(self) -> HTTPError:
        return HTTPError(401, "Not authenticated", headers=self.make_authenticate_headers())

    def _credentials(self, request: Request, wanted: str | None) -> HTTPAuthorizationCredentials | None:
        scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
        if not (scheme and credentials) or (wanted is not None and scheme.lower() != wanted):
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)



class HTTPBase(_HTTPScheme):
    """Any HTTP authentication scheme: the value is the ``Authorization`` header's scheme and credentials."""

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, None)


class HTTPBasic(_HTTPScheme):
    """``Authorization: Basic <base64 of user:password>``; the value is an ``HTTPBasicCredentials``.

    Credentials that are not base64 of ASCII text holding a ``:`` are answered 401 even when ``auto_error`` is
    False: the client did try to authenticate, and failed.
    """

    def __init__(self, *, scheme_name: str | None = None, realm: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        if realm is not None and any(c in realm for c in '"\\\r\n\0'):
            # It is written into the WWW-Authenticate header, as a quoted string.
            raise ValueError(f"HTTPBasic(realm=...) cannot hold quotes, backslashes or line breaks: {realm!r}")
        super().__init__(scheme="basic", scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.realm = realm

    def make_authenticate_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Basic realm="{self.realm}"' if self.realm else "Basic"}

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:
        header = request.headers.get("authorization")
        scheme, encoded = get_authorization_scheme_param(header)
        if not header or scheme.lower() != "basic":
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        try:
            text = b64decode(encoded).decode("ascii")
        except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
            raise self.make_not_authenticated_error() from exc
        username, colon, password = text.partition(":")
        if not colon:
            raise self.make_not_authenticated_error()
        return HTTPBasicCredentials(username=username, password=password)


class HTTPBearer(HTTPBase):
    """``Authorization: Bearer <token>``; the value is an ``HTTPAuthorizationCredentials``."""

    def __init__(self, *, bearerFormat: str | None = None, scheme_name: str | None = None,
                 description: str | None = None, auto_error: bool = True) -> None:
        super().__init__(scheme="bearer", scheme_name=scheme_name, description=description, auto_error=auto_error)
        if bearerFormat is not None:
            self.model["bearerFormat"] = bearerFormat

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, "bearer")


class HTTPDigest(HTTPBase):
    """``Authorization: Digest ...``; the value is an ``HTTPAuthorizationCredentials`` for the application to
    check."""

    def __init__(self, *, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        super().__init__(scheme="digest", scheme_name=scheme_name, description=description, auto_error=auto_error)

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, "digest")

