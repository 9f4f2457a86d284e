"""``Depends()`` and ``Security()`` as the package exports them: typed to return ``Any``.

The markers themselves are classes (``covet.params``); these functions build them, typed ``Any`` as FastAPI's are,
so that the style ``commons: CommonQueryParams = Depends()`` type-checks (mypy would refuse a ``Depends`` as
the default of a ``CommonQueryParams``), which a build needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from covet import params

__all__ = ["Depends", "Security"]


def Depends(dependency: Callable[..., Any] | None = None, *, use_cache: bool = True,
            scope: Literal["function", "request"] | None = None) -> Any:
    """A parameter whose value a provider computes (see ``covet.params.Depends``)."""
    return params.Depends(dependency, use_cache=use_cache, scope=scope)


def Security(dependency: Callable[..., Any] | None = None, *, scopes: Sequence[str] | None = None,
             use_cache: bool = True, scope: Literal["function", "request"] | None = None) -> Any:
    """A dependency with the OAuth2 scopes it requires (see ``covet.params.Security``)."""
    return params.Security(dependency, scopes=scopes, use_cache=use_cache, scope=scope)
