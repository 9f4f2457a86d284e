"""The ``Request`` object a handler receives when it asks for one."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import pydantic_core

from covet.runtime.formdata import parse_cookies, parse_query

if TYPE_CHECKING:
    from covet.datastructures import State
    from covet.runtime.body import RequestBody
    from covet.runtime.connection import ConnectionInfo

__all__ = ["Request", "Headers", "QueryParams", "URL", "Address", "set_serving", "hand_on_state"]

# The application this process serves (request.app): set when its routes are planned (Covet.dispatcher) and by
# the TestClient before each exchange.
_serving: Any = None


def set_serving(app: object) -> None:
    global _serving
    _serving = app


# A middleware's Request and the route's are two objects for one request: the state the first one made is handed
# to the second through this variable, set in the request's own context (covet/middleware.py, `hand_on_state`).
_HANDED_STATE: contextvars.ContextVar[State | None] = contextvars.ContextVar("covet_request_state", default=None)


def hand_on_state(request: Request) -> None:
    """Let the route's ``Request`` share the ``state`` this one has made (call it in the request's own context)."""
    if request._state is not None:
        _HANDED_STATE.set(request._state)


class Address(NamedTuple):
    """A peer's address, as Starlette gives it: ``request.client.host``, ``request.client.port``."""

    host: str
    port: int


class URL:
    """A request's URL, as the client asked for it (behind a trusted proxy: the scheme and host it was sent to).

    Compares equal to its string form.
    """

    __slots__ = ("scheme", "netloc", "path", "query", "fragment")

    def __init__(self, scheme: str, netloc: str, path: str, query: str = "", fragment: str = "") -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.path = path
        self.query = query
        self.fragment = fragment

    @property
    def hostname(self) -> str:
        """The host, without port or IPv6 brackets."""
        netloc = self.netloc
        if netloc.startswith("["):
            return netloc[1:netloc.find("]")]
        return netloc.rpartition(":")[0] if ":" in netloc else netloc

    @property
    def port(self) -> int | None:
        """The port written in the URL, or None."""
        netloc = self.netloc
        tail = netloc[netloc.rfind("]") + 1:] if netloc.startswith("[") else netloc
        _, sep, port = tail.rpartition(":")
        return int(port) if sep and port.isdigit() else None

    def replace(self, **parts: str) -> URL:
        """A copy with some of ``scheme``, ``netloc``, ``path``, ``query``, ``fragment`` replaced."""
        values = {name: getattr(self, name) for name in self.__slots__}
        for name, value in parts.items():
            if name not in values:
                raise TypeError(f"URL has no part {name!r}")
            values[name] = value
        return URL(**values)

    def __str__(self) -> str:
        out = f"{self.scheme}://{self.netloc}{self.path}"
        if self.query:
            out += "?" + self.query
        if self.fragment:
            out += "#" + self.fragment
        return out

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other) if isinstance(other, (str, URL)) else NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"


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
                 "path_params", "_headers", "_query", "_cookies", "_state")

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
        self._state: State | None = None

    @property
    def app(self) -> Any:
        """The application serving this request (its ``app.state``, its ``url_path_for``)."""
        return _serving

    @property
    def state(self) -> State:
        """This request's own attribute bag (``request.state.user = ...``), made on first use; it starts with
        what the application's lifespan yielded."""
        state = self._state
        if state is None:
            state = _HANDED_STATE.get()
            if state is None:
                from covet.datastructures import State

                start = getattr(_serving, "lifespan_state", None)
                state = State(dict(start) if start else None)
            self._state = state
        return state

    def url_for(self, name: str, /, **path_params: object) -> URL:
        """The whole URL (scheme, host, root path) of the route called ``name``, its parameters filled in:
        ``request.url_for("read_item", item_id=3)``; a mounted ``StaticFiles``:
        ``request.url_for("static", path="/app.css")``."""
        if _serving is None:
            raise RuntimeError("request.url_for: no application is being served")
        path: str = _serving.url_path_for(name, **path_params)
        return URL(self._conn.scheme, self._netloc(), str(_serving.root_path) + path)

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
    def query_params(self) -> QueryParams:
        """``query``, under FastAPI's (Starlette's) name."""
        return self.query

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
    def client(self) -> Address | None:
        """The peer's ``(host, port)``, when the transport knows it: a tuple with ``.host`` and ``.port``."""
        peer = self._conn.client
        return None if peer is None else Address(peer[0], peer[1])

    async def is_disconnected(self) -> bool:
        """Whether the client has closed or reset its connection: a long handler may ask, and stop early.

        A client that only half-closed (sent its request, then shut its sending side) is still there to read
        the answer.
        """
        return self._conn.disconnected()

    @property
    def scheme(self) -> str:
        """``http`` or ``https``; behind a trusted proxy, the scheme the client used (``X-Forwarded-Proto``)."""
        return self._conn.scheme

    @property
    def root_path(self) -> str:
        """Where the application is mounted behind its proxy (``--root-path``), or ``""``: ASGI's ``root_path``."""
        return self._conn.root_path

    def _netloc(self) -> str:
        conn = self._conn
        host = conn.forwarded_host
        if host is None:
            for name, value in self._raw_headers:
                if name == "host":
                    host = value
                    break
        if host:
            return host
        server = conn.server
        if server is None:
            return "localhost"
        addr = f"[{server[0]}]" if ":" in server[0] else server[0]
        default = 443 if conn.scheme == "https" else 80
        return addr if server[1] == default else f"{addr}:{server[1]}"

    @property
    def url(self) -> URL:
        """The URL the client asked for: scheme and host (a trusted proxy's word for them), the root path, the
        path and the query string."""
        conn = self._conn
        return URL(conn.scheme, self._netloc(), conn.root_path + self.path, self.query_string)

    @property
    def base_url(self) -> URL:
        """The application's own URL: scheme, host and root path, ending in ``/``."""
        conn = self._conn
        return URL(conn.scheme, self._netloc(), conn.root_path.rstrip("/") + "/")

    @property
    def scope(self) -> dict[str, object]:
        """An ASGI-like view of the request (``type``, ``scheme``, ``path`` with the root path, ``root_path``,
        ``query_string``, ``headers``, ``client``, ``server``), for code written against Starlette's ``scope``.
        Built on each read: nothing written to it reaches the request."""
        conn = self._conn
        root = conn.root_path
        return {
            "type": "http",
            "http_version": conn.http_version,
            "method": self.method,
            "scheme": conn.scheme,
            "path": root + self.path,
            "raw_path": (root + self.path).encode("latin-1", "replace"),
            "root_path": root,
            "query_string": self.query_string.encode("latin-1", "replace"),
            "headers": [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in self._raw_headers],
            "client": conn.client,
            "server": conn.server,
            "path_params": self.path_params,
        }

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
