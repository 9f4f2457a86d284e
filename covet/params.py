"""Parameter source markers for ``Annotated[T, ...]`` handler parameters."""

from __future__ import annotations

from typing import ClassVar, final

__all__ = ["Param", "Path", "Query", "Header", "Cookie", "Body"]


class Param:
    """Where a handler parameter comes from, and under which name."""

    source: ClassVar[str] = ""

    def __init__(self, alias: str | None = None, *, description: str | None = None) -> None:
        self.alias = alias
        self.description = description

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
    """A request header; ``x_test`` reads ``x-test`` unless an alias is given.

    Args:
        alias: the header name to read.
        convert_underscores: map ``_`` in the parameter name to ``-``.
    """

    source = "header"

    def __init__(
        self,
        alias: str | None = None,
        *,
        convert_underscores: bool = True,
        description: str | None = None,
    ) -> None:
        super().__init__(alias, description=description)
        self.convert_underscores = convert_underscores


@final
class Cookie(Param):
    """A cookie sent in the ``Cookie`` request header."""

    source = "cookie"


@final
class Body(Param):
    """The JSON request body, even for a scalar type."""

    source = "body"
