"""The ``Request`` object a handler receives when it asks for one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING

import pydantic_core

from covet.runtime.formdata import parse_cookies, parse_query

if TYPE_CHECKING:
    from covet.runtime.body import RequestBody
    from covet.runtime.connection import ConnectionInfo

__all__ = ["Request", "Headers", "QueryParams"]


class _MultiMap(Mapping[str, str]):
    """A read-only multi-valued mapping; ``[key]`` gives the first value."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._index: dict[str, str] | None = None

    def _key(self, key: str) -> str:
        return key

    def _first(self) -> dict[str, str]:
        if self._index is None:
            index: dict[str, str] = {}
            for name, value in self._items:
                index.setdefault(name, value)
            self._index = index
        return self._index

    def __getitem__(self, key: str) -> str:
        return self._first()[self._key(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._key(key) in self._first()

    def __iter__(self) -> Iterator[str]:
        return iter(self._first())

    def __len__(self) -> int:
        return len(self._first())

    def getall(self, key: str) -> list[str]:
        """Every value of ``key``, in the order received."""
        key = self._key(key)
        return [v for k, v in self._items if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """All pairs, repeated names included."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Headers(_MultiMap):
    """Request headers: case-insensitive names, repeated names kept."""

    __slots__ = ()

    def _key(self, key: str) -> str:
        return key.lower()


class QueryParams(_MultiMap):
    """Query-string parameters, repeated keys kept."""

    __slots__ = ()


class Request:
    """An HTTP request, independent of the protocol that carried it."""

    __slots__ = ("method", "path", "query_string", "_raw_headers", "_body", "_conn",
                 "path_params", "_headers", "_query", "_cookies")

    def __init__(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: list[tuple[str, str]],
        body: bytes | RequestBody,
        conn: ConnectionInfo,
        path_params: dict[str, str] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self._raw_headers = headers
        self._body = body
        self._conn = conn
        self.path_params: dict[str, str] = path_params or {}
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self._raw_headers)
        return self._headers

    @property
    def query(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(parse_query(self.query_string))
        return self._query

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for name, value in self._raw_headers:
                if name == "cookie":
                    for k, v in parse_cookies(value).items():
                        cookies.setdefault(k, v)
            self._cookies = cookies
        return self._cookies

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's ``(host, port)``, when the transport knows it."""
        return self._conn.client

    async def is_disconnected(self) -> bool:
        """Whether the client has closed or reset its connection: a long handler may ask, and stop early.

        A client that only half-closed (sent its request, then shut its sending side) is still there to read
        the answer.
        """
        return self._conn.disconnected()

    @property
    def scheme(self) -> str:
        return self._conn.scheme

    @property
    def http_version(self) -> str:
        return self._conn.http_version

    async def body(self) -> bytes:
        """The whole request body, within the server's in-memory limit (``--max-body``; 413 past it).

        A larger body (up to ``--max-upload``) can be read with ``stream()``.
        """
        body = self._body
        if isinstance(body, bytes):
            return body
        data = await body.read_all()
        self._body = data
        return data

    async def stream(self) -> AsyncIterator[bytes]:
        """The request body in pieces as they arrive, so a large one is never held whole.

        Raises ``ClientDisconnect`` when the client leaves before the body's end.
        """
        body = self._body
        if isinstance(body, bytes):
            if body:
                yield body
            return
        async for data in body.chunks():
            yield data

    async def json(self) -> object:
        """The body parsed as JSON; malformed JSON raises ``HTTPError(400)``."""
        from covet.exceptions import HTTPError

        data = await self.body()
        try:
            return pydantic_core.from_json(data)
        except ValueError as exc:
            raise HTTPError(400, f"Malformed JSON body: {exc}") from None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"
