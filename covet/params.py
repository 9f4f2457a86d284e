"""Parameter source markers for ``Annotated[T, ...]`` handler parameters.

A marker says where a value comes from and, optionally, what it must satisfy::

    limit: Annotated[int, Query(ge=1, le=100)] = 10

The constraints are ``annotated_types`` metadata (a marker is a
``GroupedMetadata``), so pydantic enforces them and writes them into the
OpenAPI schema, in interpreted and compiled mode alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Final, Literal, TypedDict, final

import annotated_types
import pydantic
from typing_extensions import Unpack

__all__ = ["Param", "Path", "Query", "Header", "Cookie", "Body", "Form", "File", "Depends", "Security", "PathParam",
           "QueryParam", "HeaderParam", "CookieParam", "BodyParam", "FormParam", "FileParam"]


class ParamOptions(TypedDict, total=False):
    """The keyword arguments every marker takes (see ``Param``)."""

    alias: str | None
    title: str | None
    description: str | None
    gt: float | None
    ge: float | None
    lt: float | None
    le: float | None
    multiple_of: float | None
    min_length: int | None
    max_length: int | None
    pattern: str | None
    regex: str | None
    deprecated: bool | None
    examples: list[Any] | None
    openapi_examples: dict[str, Any] | None
    include_in_schema: bool
    json_schema_extra: dict[str, Any] | None
    allow_inf_nan: bool | None
    discriminator: str | None


class _Required:
    """The default of a marker given none: the parameter is required."""

    def __repr__(self) -> str:
        return "Required"


REQUIRED: Final = _Required()


class Param(annotated_types.GroupedMetadata):
    """Where a handler parameter comes from, under which name, and its constraints.

    Used in ``Annotated[T, Query(...)]``, or as the parameter's default (FastAPI's older spelling):
    ``q: str | None = Query(default=None, max_length=50)``, where ``...`` (or no default) makes it required.

    Args:
        default: the value when the request does not give one (only when the marker is the parameter's default).
        alias: the name on the wire when it differs from the parameter's.
        title, description: shown in the OpenAPI document.
        gt, ge, lt, le, multiple_of: numeric bounds.
        min_length, max_length: bounds on the length of a string or list.
        pattern: a regular expression a string must match (``regex`` is its old name).
        deprecated: marks the parameter deprecated in the OpenAPI document.
        examples: example values for the OpenAPI document (in the schema, as JSON Schema's ``examples``).
        openapi_examples: named OpenAPI example objects (``{"name": {"summary": ..., "value": ...}}``).
        include_in_schema: False leaves the parameter out of the OpenAPI document.
        json_schema_extra: more keys for the parameter's schema.
        allow_inf_nan: whether a float may be inf or NaN; parameters refuse them unless this is True.
        discriminator: the field whose value picks the member of a union of models (pydantic's discriminator).
    """

    source: ClassVar[str] = ""

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        alias: str | None = None,
        title: str | None = None,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        multiple_of: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        regex: str | None = None,
        deprecated: bool | None = None,
        examples: list[Any] | None = None,
        openapi_examples: dict[str, Any] | None = None,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | None = None,
        allow_inf_nan: bool | None = None,
        discriminator: str | None = None,
    ) -> None:
        self.default = REQUIRED if default is Ellipsis else default
        self.alias = alias
        self.title = title
        self.description = description
        self.deprecated = bool(deprecated)
        self.examples = examples
        self.openapi_examples = openapi_examples
        self.include_in_schema = include_in_schema
        self.json_schema_extra = json_schema_extra
        if regex is not None:
            if pattern is not None and pattern != regex:
                raise TypeError("give pattern= only (regex= is its old name)")
            pattern = regex
        self.pattern = pattern
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
        self.discriminator = discriminator
        if discriminator is not None:
            found.append(pydantic.Discriminator(discriminator))
        self.constraints: tuple[Any, ...] = tuple(found)

    @property
    def has_default(self) -> bool:
        return self.default is not REQUIRED

    def __iter__(self) -> Iterator[object]:  # what pydantic applies to the value
        return iter(self.constraints)

    def __repr__(self) -> str:
        parts = [] if self.default is REQUIRED else [repr(self.default)]
        if self.alias:
            parts.append(f"alias={self.alias!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


@final
class PathParam(Param):
    """A ``{name}`` segment of the route's path template (``Path(...)`` makes one)."""

    source = "path"


@final
class QueryParam(Param):
    """A query-string parameter (``Query(...)`` makes one)."""

    source = "query"


@final
class HeaderParam(Param):
    """A request header (``Header(...)`` makes one)."""

    source = "header"

    def __init__(self, default: Any = REQUIRED, *, convert_underscores: bool = True,
                 **kw: Unpack[ParamOptions]) -> None:
        super().__init__(default, **kw)
        self.convert_underscores = convert_underscores


@final
class CookieParam(Param):
    """A cookie (``Cookie(...)`` makes one)."""

    source = "cookie"


@final
class FormParam(Param):
    """A field of a form body (``Form(...)`` makes one)."""

    source = "form"


@final
class FileParam(Param):
    """A file of a multipart form (``File(...)`` makes one)."""

    source = "file"


@final
class BodyParam(Param):
    """The JSON request body, or a key of it (``Body(...)`` makes one)."""

    source = "body"

    def __init__(self, default: Any = REQUIRED, *, embed: bool | None = None, media_type: str = "application/json",
                 **kw: Unpack[ParamOptions]) -> None:
        super().__init__(default, **kw)
        self.embed = bool(embed)
        self.media_type = media_type


# The markers are made by functions typed to return Any, as FastAPI's are: ``q: str | None = Query(None)`` then
# type-checks, the marker standing in for the default it holds.


def Path(default: Any = REQUIRED, **kw: Unpack[ParamOptions]) -> Any:
    """A ``{name}`` segment of the route's path template."""
    return PathParam(default, **kw)


def Query(default: Any = REQUIRED, **kw: Unpack[ParamOptions]) -> Any:
    """A query-string parameter; ``alias`` names the key when it differs."""
    return QueryParam(default, **kw)


def Header(default: Any = REQUIRED, *, convert_underscores: bool = True,
           **kw: Unpack[ParamOptions]) -> Any:
    """A request header; ``x_test`` reads ``x-test`` unless an alias is given or ``convert_underscores=False``."""
    return HeaderParam(default, convert_underscores=convert_underscores, **kw)


def Cookie(default: Any = REQUIRED, **kw: Unpack[ParamOptions]) -> Any:
    """A cookie sent in the ``Cookie`` request header."""
    return CookieParam(default, **kw)


def Form(default: Any = REQUIRED, **kw: Unpack[ParamOptions]) -> Any:
    """A field of a form body (``application/x-www-form-urlencoded`` or ``multipart/form-data``)."""
    return FormParam(default, **kw)


def File(default: Any = REQUIRED, **kw: Unpack[ParamOptions]) -> Any:
    """A file of a ``multipart/form-data`` body: an ``UploadFile`` or its content as ``bytes`` (or a list of
    either, for a repeated name)."""
    return FileParam(default, **kw)


def Body(default: Any = REQUIRED, *, embed: bool | None = None, media_type: str = "application/json",
         **kw: Unpack[ParamOptions]) -> Any:
    """The JSON request body, even for a scalar type. ``embed=True`` reads a lone body parameter from the key of
    the body object named after it (as several body parameters always are); ``media_type`` is the content type
    the OpenAPI document gives the body."""
    return BodyParam(default, embed=embed, media_type=media_type, **kw)


# A bare marker in Annotated (``Annotated[str, Query]``) is the function: these are what it makes.
MARKER_FUNCTIONS: Final[dict[Any, type[Param]]] = {
    Path: PathParam, Query: QueryParam, Header: HeaderParam, Cookie: CookieParam, Form: FormParam, File: FileParam,
    Body: BodyParam,
}


class Depends:
    """A parameter whose value a provider computes: ``Annotated[T, Depends(provider)]``.

    The provider is a function (sync or async, or a generator that yields the value once and cleans up after the
    response is sent), a class (its constructor's parameters are the dependency's, its instance the value) or a
    callable instance (its ``__call__``'s parameters, as ``covet.security``'s schemes are). Its own parameters are
    declared like a handler's, other dependencies included. Bare ``Depends()`` takes the parameter's annotated
    class. Within one request each provider runs once, however many parameters ask for it, unless
    ``use_cache=False``.

    ``scope`` is FastAPI's, for a generator provider: ``"request"`` (its default) finishes it once the response
    is sent; ``"function"`` as soon as the handler has returned and its result is encoded, before the response
    goes out (the handler's exception reaching it first). A ``"request"`` generator cannot depend on a
    ``"function"`` one, which would be finished before it.
    """

    def __init__(self, dependency: Callable[..., Any] | None = None, *, use_cache: bool = True,
                 scope: Literal["function", "request"] | None = None) -> None:
        if dependency is not None and not callable(dependency):
            raise TypeError(f"Depends() needs a function, a class or a callable instance, not {dependency!r}")
        if scope not in (None, "function", "request"):
            raise TypeError(f'Depends(scope=...) is "function" or "request", not {scope!r}')
        self.provider = dependency
        self.use_cache = use_cache
        self.scope = scope

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
                 use_cache: bool = True, scope: Literal["function", "request"] | None = None) -> None:
        super().__init__(dependency, use_cache=use_cache, scope=scope)
        if isinstance(scopes, str):
            raise TypeError(f"Security(scopes=...) takes a list of scopes, not the string {scopes!r}")
        self.scopes: list[str] = list(scopes or ())
