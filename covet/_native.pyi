"""Type stub of the C extension built from native/ (HTTP/1.1 request parser)."""

from typing import Any, Final

EV_REQUEST: Final[int]
EV_CONTINUE: Final[int]
EV_ERROR: Final[int]

class Parser:
    def __init__(
        self,
        *,
        max_target: int = 8192,
        max_header_bytes: int = 65536,
        max_headers: int = 100,
        max_body: int = 1048576,
    ) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[Any, ...]]: ...
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

def uring_probe() -> tuple[str, int, int, list[str], int]: ...  # Linux only
