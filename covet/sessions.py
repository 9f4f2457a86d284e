"""Signed cookie sessions: a small dict kept in a cookie the client cannot forge.

``SessionMiddleware`` reads the cookie before the route runs and writes it
back when the route changed the session; a handler or dependency gets the
session with ``Annotated[Session, Depends(session)]``. The cookie is signed
(and timestamped) with ``itsdangerous``: a client can read it but not change
it, so keep secrets out of it.
"""

from __future__ import annotations

import base64
import contextvars
import logging
from typing import Any, Final, Literal

import itsdangerous
import pydantic_core

from covet.middleware import AnyResponse, CallNext
from covet.requests import Request

__all__ = ["Session", "SessionMiddleware", "session"]

log = logging.getLogger("covet.error")
_current: contextvars.ContextVar[Session] = contextvars.ContextVar("covet_session")
_MAX_COOKIE: Final = 4096  # what browsers keep of one cookie


class Session(dict[str, Any]):
    """The session's data: a dict of JSON values that knows whether it was changed."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self.modified = True
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)


def session() -> Session:
    """The current request's session, for ``Annotated[Session, Depends(session)]``."""
    found = _current.get(None)
    if found is None:
        raise RuntimeError("no session here: add SessionMiddleware to the application or to this route's router")
    return found


class SessionMiddleware:
    """Keeps ``Session`` data in a signed cookie.

    Args:
        secret_key: signs the cookie; anyone who has it can forge sessions. Rotating it signs everyone out.
        cookie_name: the cookie's name.
        max_age: seconds a session lives after it was last written; older cookies are ignored.
        path, domain, same_site, https_only: the cookie's attributes (``https_only`` sets ``Secure``).
    """

    def __init__(self, secret_key: str | bytes, *, cookie_name: str = "session", max_age: int = 14 * 24 * 3600,
                 path: str = "/", domain: str | None = None, same_site: Literal["lax", "strict", "none"] = "lax",
                 https_only: bool = False) -> None:
        if not secret_key:
            raise ValueError("SessionMiddleware needs a secret_key")
        self.signer = itsdangerous.TimestampSigner(secret_key, salt="covet.session")
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.path = path
        self.domain = domain
        self.same_site: Literal["lax", "strict", "none"] = same_site
        self.https_only = https_only

    def load(self, cookie: str | None) -> Session:
        if not cookie:
            return Session()
        try:
            raw = self.signer.unsign(cookie, max_age=self.max_age)
            data = pydantic_core.from_json(base64.urlsafe_b64decode(raw))
        except (itsdangerous.BadSignature, ValueError):  # forged, expired or garbled: a fresh session
            return Session()
        return Session(data) if isinstance(data, dict) else Session()

    def dump(self, data: Session) -> str:
        payload = base64.urlsafe_b64encode(pydantic_core.to_json(dict(data)))
        return self.signer.sign(payload).decode("ascii")

    async def __call__(self, request: Request, call_next: CallNext) -> AnyResponse:
        current = self.load(request.cookies.get(self.cookie_name))
        # Each request's middleware runs in a context of its own (covet.middleware.InContext): no reset needed.
        _current.set(current)
        response = await call_next(request)
        if current.modified:
            if current:
                value = self.dump(current)
                if len(value) + len(self.cookie_name) > _MAX_COOKIE:
                    raise ValueError(f"the session is {len(value)} bytes signed, more than a cookie holds: "
                                     "keep large data elsewhere and an id in the session")
                response.set_cookie(self.cookie_name, value, max_age=self.max_age, path=self.path,
                                    domain=self.domain, secure=self.https_only, httponly=True,
                                    samesite=self.same_site)
            else:
                response.delete_cookie(self.cookie_name, path=self.path, domain=self.domain,
                                       secure=self.https_only, httponly=True, samesite=self.same_site)
        return response
