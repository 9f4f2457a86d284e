"""API keys sent in a header, the query string or a cookie."""

from __future__ import annotations

from covet.requests import Request
from covet.security.base import SecurityBase, not_authenticated

__all__ = ["APIKeyBase", "APIKeyCookie", "APIKeyHeader", "APIKeyQuery"]


class APIKeyBase(SecurityBase):
    """An API key under ``name`` in ``location`` (header, query or cookie); the value is the key as sent."""

    def __init__(self, location: str, name: str, scheme_name: str | None, description: str | None,
                 auto_error: bool) -> None:
        self._describe({"type": "apiKey", "in": location, "name": name}, scheme_name, description, auto_error)
        self.name = name

    def check_api_key(self, api_key: str | None) -> str | None:
        if not api_key:
            if self.auto_error:
                # No standard challenge exists for API keys, but a 401 must carry one (RFC 9110 section 15.5.2).
                raise not_authenticated("APIKey")
            return None
        return api_key


class APIKeyQuery(APIKeyBase):
    """An API key in the query parameter ``name``."""

    def __init__(self, *, name: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        super().__init__("query", name, scheme_name, description, auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.query.get(self.name))


class APIKeyHeader(APIKeyBase):
    """An API key in the request header ``name``."""

    def __init__(self, *, name: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        super().__init__("header", name, scheme_name, description, auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.headers.get(self.name))


class APIKeyCookie(APIKeyBase):
    """An API key in the cookie ``name``."""

    def __init__(self, *, name: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True) -> None:
        super().__init__("cookie", name, scheme_name, description, auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.cookies.get(self.name))
