"""The io_uring core (``covet._native.UringServer``) driven directly, without the server around it: for what needs
control of the core's clock or of the garbage collector.

tests/test_uring_server.py runs each scenario in a subprocess (``python direct_core.py NAME``), so that a crash
fails its test instead of ending the run; a scenario prints ``ok`` when it holds and exits non-zero when not.
"""

from __future__ import annotations

import gc
import select
import socket
import sys
import threading
import time
from collections.abc import Callable

from covet._native import UringServer

GIB = 1 << 30


class Half:
    """A Python half that keeps every request and records what the core tells it."""

    def __init__(self) -> None:
        self.cids: list[int] = []
        self.pieces: list[object] = []

    def request(self, cid: int, ev: tuple[object, ...]) -> bytes | None:
        self.cids.append(cid)
        return None  # keeps the connection: a streamed body's head, or an answer to write later

    def error(self, status: int, message: str) -> bytes:
        return b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"

    def wake(self) -> None:
        pass  # the server calls flush() on the loop's next turn: pump() and passes() call it every turn

    def drained(self, cid: int) -> None:
        pass

    def body(self, cid: int, item: object) -> bool:
        self.pieces.append(item)
        return False

    def reply_for(self, cid: int, reply: object, keep_alive: bool, is_head: bool, minor: int) -> bytes | None:
        return None  # no direct routes here

    def failed(self, cid: int, plan: object, exc: BaseException, keep_alive: bool, is_head: bool,
               minor: int) -> bytes | None:
        return None

    def core(self, listener: socket.socket, **kw: object) -> UringServer:
        return UringServer(listener.fileno(), self, **kw)


def listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def pump(core: UringServer, until: Callable[[], bool], timeout: float = 5.0) -> None:
    """Runs the core's passes until ``until()`` or the timeout."""
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        select.select([core.fd], [], [], 0.02)
        core.process()
        core.flush()
    assert until(), "timed out"


def passes(core: UringServer, seconds: float) -> None:
    """Runs the core's passes for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        select.select([core.fd], [], [], 0.01)
        core.process()
        core.flush()


def collected_mid_upload() -> None:
    """The last reference to a core goes while a streamed body arrives, and only the GC can free it: it clears the
    core's callbacks first, then the core's release tells Python of the body it was streaming (it called the cleared
    on_body: a NULL pointer)."""
    half = Half()
    lsock = listener()
    core = half.core(lsock, max_body=1024, max_stream_body=1 << 20)
    client = socket.create_connection(lsock.getsockname())
    client.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
    pump(core, lambda: sum(len(b) for b in half.pieces if isinstance(b, bytes)) >= 5000)
    # A cycle through objects the GC cannot clear (a tuple), so that it breaks the cycle by clearing the core itself.
    core.set_direct(type, (core,))
    del core
    gc.collect()
    try:
        client.sendall(b"y" * 5000)
    except OSError:
        pass  # the core released the connection: a reset
    client.close()
    print("ok")


def send_over_4gib() -> None:
    """A response of 4 GiB or more: its send length is 32 bits in the SQE, and must not wrap (4 GiB + 100 went out as
    100 bytes, then sends of 0 bytes, which counted as progress, forever). ``bytes(n)`` is calloc'd: the pages are
    never touched, so this holds no memory to speak of."""
    half = Half()
    lsock = listener()
    core = half.core(lsock, write_timeout=2)
    reader = socket.create_connection(lsock.getsockname())
    stuck = socket.create_connection(lsock.getsockname())  # never reads
    reader.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    pump(core, lambda: len(half.cids) == 1)
    stuck.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    pump(core, lambda: len(half.cids) == 2)
    huge = bytes(4 * GIB + 100)
    for cid in half.cids:
        core.write(cid, huge)
    del huge

    got = [0]

    def read() -> None:
        reader.settimeout(10)
        buf = bytearray(1 << 20)
        try:
            while got[0] < 64 << 20:
                n = reader.recv_into(buf)
                if not n:
                    break
                got[0] += n
        except OSError:
            pass

    thread = threading.Thread(target=read)
    thread.start()
    deadline = time.monotonic() + 15
    while thread.is_alive() and time.monotonic() < deadline:
        passes(core, 0.05)
    reader.close()  # a reset: the core drops that connection at once
    # The one that reads nothing is dropped after the write timeout (2 ticks of the core's clock), as any other.
    for _ in range(3):
        core.tick(b"")
        passes(core, 0.05)
    left = core.connections
    assert got[0] >= 64 << 20 and left == 0, f"the reader got {got[0]} bytes; {left} connections after the timeout"
    core.close()
    stats = core.stats()
    assert all(stats[k] == 0 for k in ("connections", "operations", "output_queues", "output_items")), stats
    print("ok")


if __name__ == "__main__":
    {"collected-mid-upload": collected_mid_upload, "send-over-4gib": send_over_4gib}[sys.argv[1]]()
