"""Parameter source markers for ``Annotated[T, ...]`` handler parameters.

A marker says where a value comes from and, optionally, what it must satisfy::

    limit: Annotated[int, Query(ge=1, le=100)] = 10

The constraints are ``annotated_types`` metadata (a marker is a
``GroupedMetadata``), so pydantic enforces them and writes them into the
OpenAPI schema, in interpreted and compiled mode alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, TypedDict, final

import annotated_types
import pydantic
from typing_extensions import Unpack

__all__ = ["Param", "Path", "Query", "Header", "Cookie", "Body", "Form", "File", "Depends", "Security"]


class ParamOptions(TypedDict, total=False):
    """The keyword arguments every marker takes (see ``Param``)."""

    description: str | None
    gt: float | None
    ge: float | None
    lt: float | None
    le: float | None
    multiple_of: float | None
    min_length: int | None
    max_length: int | None
    pattern: str | None
    deprecated: bool
    examples: list[Any] | None
    allow_inf_nan: bool | None


class Param(annotated_types.GroupedMetadata):
    """Where a handler parameter comes from, under which name, and its constraints.

    Args:
        alias: the name on the wire when it differs from the parameter's.
        description: shown in the OpenAPI document.
        gt, ge, lt, le, multiple_of: numeric bounds.
        min_length, max_length: bounds on the length of a string or list.
        pattern: a regular expression a string must match.
        deprecated: marks the parameter deprecated in the OpenAPI document.
        examples: example values for the OpenAPI document.
        allow_inf_nan: whether a float may be inf or NaN; parameters refuse them unless this is True.
    """

    source: ClassVar[str] = ""

    def __init__(
        self,
        alias: str | None = None,
        *,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        multiple_of: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        deprecated: bool = False,
        examples: list[Any] | None = None,
        allow_inf_nan: bool | None = None,
    ) -> None:
        self.alias = alias
        self.description = description
        self.deprecated = deprecated
        self.examples = examples
        found: list[Any] = []
        bounds: tuple[tuple[float | None, Any], ...] = (
            (gt, annotated_types.Gt), (ge, annotated_types.Ge), (lt, annotated_types.Lt), (le, annotated_types.Le),
            (multiple_of, annotated_types.MultipleOf), (min_length, annotated_types.MinLen),
            (max_length, annotated_types.MaxLen))
        for value, make in bounds:
            if value is not None:
                found.append(make(value))
        if pattern is not None:
            found.append(pydantic.StringConstraints(pattern=pattern))
        if allow_inf_nan is not None:
            found.append(pydantic.AllowInfNan(allow_inf_nan))
        self.constraints: tuple[Any, ...] = tuple(found)

    def __iter__(self) -> Iterator[object]:  # what pydantic applies to the value
        return iter(self.constraints)

    def __repr__(self) -> str:
        alias = f"alias={self.alias!r}" if self.alias else ""
        return f"{type(self).__name__}({alias})"


@final
class Path(Param):
    """A ``{name}`` segment of the route's path template."""

    source = "path"


@final
class Query(Param):
    """A query-string parameter; ``alias`` names the key when it differs."""

    source = "query"


@final
class Header(Param):
    """A request header; ``x_test`` reads ``x-test`` unless an alias is given or ``convert_underscores=False``."""

    source = "header"

    def __init__(self, alias: str | None = None, *, convert_underscores: bool = True,
                 **kw: Unpack[ParamOptions]) -> None:
        super().__init__(alias, **kw)
        self.convert_underscores = convert_underscores


@final
class Cookie(Param):
    """A cookie sent in the ``Cookie`` request header."""

    source = "cookie"


@final
class Form(Param):
    """A field of a form body (``application/x-www-form-urlencoded`` or ``multipart/form-data``)."""

    source = "form"


@final
class File(Param):
    """A file of a ``multipart/form-data`` body: an ``UploadFile`` (or a list of them, for a repeated name)."""

    source = "file"


@final
class Body(Param):
    """The JSON request body, even for a scalar type."""

    source = "body"


class Depends:
    """A parameter whose value a provider computes: ``Annotated[T, Depends(provider)]``.

    The provider is a function (sync or async, or a generator that yields the value once and cleans up after the
    response is sent), a class (its constructor's parameters are the dependency's, its instance the value) or a
    callable instance (its ``__call__``'s parameters, as ``covet.security``'s schemes are). Its own parameters are
    declared like a handler's, other dependencies included. Bare ``Depends()`` takes the parameter's annotated
    class. Within one request each provider runs once, however many parameters ask for it, unless
    ``use_cache=False``.
    """

    def __init__(self, dependency: Callable[..., Any] | None = None, *, use_cache: bool = True) -> None:
        if dependency is not None and not callable(dependency):
            raise TypeError(f"Depends() needs a function, a class or a callable instance, not {dependency!r}")
        self.provider = dependency
        self.use_cache = use_cache

    @property
    def dependency(self) -> Callable[..., Any] | None:
        """The provider, under FastAPI's name for it."""
        return self.provider

    def __repr__(self) -> str:
        what = "" if self.provider is None else repr(getattr(self.provider, "__qualname__", self.provider))
        return f"{type(self).__name__}({what})"


@final
class Security(Depends):
    """A dependency with the OAuth2 scopes it requires: ``Annotated[User, Security(current_user, scopes=["me"])]``.

    The scopes of every ``Security`` along a chain of dependencies add up; a provider reads them with a
    ``SecurityScopes`` parameter, and the OpenAPI document lists them in the operation's ``security``.
    """

    def __init__(self, dependency: Callable[..., Any] | None = None, *, scopes: Sequence[str] | None = None,
                 use_cache: bool = True) -> None:
        super().__init__(dependency, use_cache=use_cache)
        if isinstance(scopes, str):
            raise TypeError(f"Security(scopes=...) takes a list of scopes, not the string {scopes!r}")
        self.scopes: list[str] = list(scopes or ())
