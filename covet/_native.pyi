"""Type stub of the C extension built from native/ (HTTP/1.1 request parser)."""

from collections.abc import Sequence
from typing import Any, ClassVar, Final, final

from _typeshed import structseq

from covet.runtime.uring_contract import UringHandler

# The kinds of events (native/events.h, covet/runtime/events.py).
EV_REQUEST: Final[int]
EV_CONTINUE: Final[int]
EV_ERROR: Final[int]
EV_STREAM: Final[int]
EV_DATA: Final[int]
EV_END: Final[int]

@final
class Request(structseq[Any], tuple[int, str, str, str, int, list[tuple[str, str]], bool, bytes | None]):
    """A request head, and its body once complete: built once, never changed (see covet.runtime.events)."""

    __match_args__: Final = ("kind", "method", "path", "query", "minor", "headers", "keep_alive", "body")

    @property
    def kind(self) -> int: ...  # EV_REQUEST, or EV_STREAM for a head whose body follows in pieces
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...  # percent-encoded as sent, without the query
    @property
    def query(self) -> str: ...  # without its "?"; "" when none
    @property
    def minor(self) -> int: ...  # 1 for HTTP/1.1, 0 for HTTP/1.0
    @property
    def headers(self) -> list[tuple[str, str]]: ...  # (lower-case name, value), in order
    @property
    def keep_alive(self) -> bool: ...
    @property
    def body(self) -> bytes | None: ...  # None for EV_STREAM

@final
class Parser:
    def __init__(
        self,
        *,
        max_target: int = 8192,
        max_header_bytes: int = 65536,
        max_headers: int = 100,
        max_body: int = 1048576,
        max_stream_body: int = 0,
    ) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[Any, ...]]: ...  # Request, or a plain tuple
    def reset(self) -> None: ...
    @property
    def state(self) -> int: ...
    @property
    def buffered(self) -> int: ...

STATE_IDLE: Final[int]
STATE_HEAD: Final[int]
STATE_BODY: Final[int]
STATE_DEAD: Final[int]

def render(prefix: bytes, head_lines: bytes, body: bytes, tail: bytes, with_body: bool, /) -> bytes: ...
def render_reply(
    prefix: bytes, status: int, head_lines: bytes, body: bytes, keep_alive: bool, is_head: bool, minor: int, /
) -> bytes: ...
def render_fields(headers: Sequence[tuple[bytes, bytes]], /) -> tuple[bytes, bool]: ...
def check_field(name: bytes, value: bytes, /) -> None: ...
def parse_urlencoded(body: bytes, max_fields: int, /) -> list[tuple[bytes, bytes]]: ...

def uring_probe() -> tuple[str, int, int, list[str], int]: ...  # Linux only

@final
class UringServer:  # Linux only
    HANDLER_METHODS: ClassVar[tuple[str, ...]]  # the methods of the handler it calls (uring_contract.UringHandler)
    def __init__(
        self,
        listen_fd: int,
        handler: UringHandler,
        *,
        max_target: int = 8192,
        max_header_bytes: int = 65536,
        max_headers: int = 100,
        max_body: int = 1048576,
        keepalive_timeout: float = 5.0,
        header_timeout: float = 10.0,
        body_timeout: float = 60.0,
        write_timeout: float = 60.0,
        entries: int = 1024,
        buffers: int = 512,
        buffer_size: int = 16384,
        max_stream_body: int = 0,
        max_connections: int = 0,
    ) -> None: ...
    @property
    def fd(self) -> int: ...
    @property
    def mode(self) -> str: ...
    @property
    def connections(self) -> int: ...
    @property
    def busy(self) -> int: ...
    def process(self) -> None: ...
    def flush(self) -> None: ...
    def reply(self, cid: int, data: bytes, keep_alive: bool, /) -> bool: ...
    def write(self, cid: int, data: bytes, /) -> int: ...
    def finish(self, cid: int, keep_alive: bool, /) -> bool: ...
    def resume_body(self, cid: int, /) -> None: ...
    def close_after(self, cid: int, /) -> None: ...
    def abort(self, cid: int, /) -> None: ...
    def peer(self, cid: int, /) -> tuple[str, int] | None: ...
    def gone(self, cid: int, /) -> bool: ...
    def closed(self, cid: int, /) -> bool: ...
    def sockname(self, cid: int, /) -> tuple[str, int] | None: ...
    def tick(self, timeout_response: bytes, /) -> None: ...
    def shutdown(self) -> None: ...
    def close(self) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def add_route(self, method: str, path: str, glue: Any, plan: Any, reads_headers: bool, /) -> bool: ...
    def set_direct(self, header_set_type: type, unused_conn: Any, /) -> None: ...
    def set_head_lines(self, lines: bytes, /) -> None: ...
