"""Reading the ``Authorization`` header, under FastAPI's name for it."""

from __future__ import annotations

__all__ = ["get_authorization_scheme_param"]


def get_authorization_scheme_param(authorization_header_value: str | None) -> tuple[str, str]:
    """``Authorization: <scheme> <credentials>`` as (scheme, credentials); ("", "") when absent."""
    if not authorization_header_value:
        return "", ""
    scheme, _, rest = authorization_header_value.partition(" ")
    return scheme, rest.strip()
