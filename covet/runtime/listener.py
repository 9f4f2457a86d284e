"""The listening socket: bound to a host and port, to a Unix socket path, or inherited as a descriptor.

One process opens it: ``covet serve`` on its own, or the supervisor, whose
workers inherit it (``--fd``) and all accept from its one queue.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import socket
import stat
import struct
import sys
from typing import Final, final

__all__ = ["Listen", "ListenError", "close_listener", "open_listener", "describe", "refuse_new_connections",
           "unlink_own"]

_SO_ATTACH_FILTER: Final = 26  # (Linux; the socket module does not name it)


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


# A classic BPF socket filter that drops a TCP segment with SYN set and ACK clear, a client's first, and lets every
# other through. The kernel runs a listener's filter with the data at the TCP header: byte 13 holds the flags.
_DROP_SYN: Final = b"".join((
    _bpf(0x30, 0, 0, 13),  # ldb [13]
    _bpf(0x54, 0, 0, 0x12),  # and #(SYN|ACK)
    _bpf(0x15, 0, 1, 0x02),  # jeq #SYN, next, skip one
    _bpf(0x06, 0, 0, 0),  # ret #0: dropped
    _bpf(0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: the whole segment kept
))


class ListenError(OSError):
    """The socket cannot be opened as asked; the message is one line, for the command line."""


@final
@dataclasses.dataclass(frozen=True)
class Listen:
    """Where to listen: ``fd`` if set, else ``uds`` if set, else ``host``:``port``."""

    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    backlog: int = 2048


def open_listener(spec: Listen) -> socket.socket:
    """A listening, non-blocking socket as ``spec`` says.

    Raises:
        ListenError: the address is in use, the path is taken by something that is not a socket, the descriptor
            is not a listening stream socket, ...
    """
    if spec.fd is not None:
        return _inherited(spec.fd)
    if spec.uds is not None:
        return _unix(spec.uds, spec.backlog)
    return _tcp(spec.host, spec.port, spec.backlog)


def _inherited(fd: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ListenError(exc.errno, f"--fd {fd}: not a socket ({exc.strerror or exc})") from exc
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        raise ListenError(0, f"--fd {fd}: not a listening stream socket")
    sock.setblocking(False)
    return sock


def _unix(path: str, backlog: int) -> socket.socket:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ListenError(exc.errno, f"--uds {path}: {exc.strerror}") from exc
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise ListenError(0, f"--uds {path}: exists and is not a socket")
        # A socket file left by a server that is gone: taken over, as uvicorn and gunicorn do; one still answered
        # is somebody else's.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except ConnectionRefusedError:  # nobody listens: taken over
            os.unlink(path)
        except OSError as exc:  # EACCES and the like: whether a server is there is not known, so it is not taken
            raise ListenError(exc.errno, f"--uds {path}: cannot tell whether a server listens on it "
                                         f"({exc.strerror}); remove it if none does") from exc
        else:
            raise ListenError(0, f"--uds {path}: another server is listening on it")
        finally:
            probe.close()
    sock = _listening(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), path, backlog, path)
    st = os.stat(path)
    _made[path] = (st.st_dev, st.st_ino)
    return sock


# The socket files this process made (path -> device and inode): it removes a file only while the path still names
# its own, never one a server started since has made there.
_made: dict[str, tuple[int, int]] = {}


def unlink_own(path: str) -> bool:
    """Remove the socket file at ``path`` if this process made it and it is still there; whether it did."""
    made = _made.get(path)
    try:
        st = os.stat(path)
        if made is None or (st.st_dev, st.st_ino) != made:
            return False
        os.unlink(path)
    except OSError:
        return False
    del _made[path]
    return True


def _tcp(host: str, port: int, backlog: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(0, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    # Accepted sockets inherit it from the listener on Linux: no setsockopt per connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return _listening(sock, addr, backlog, f"{host}:{port}")


def _listening(sock: socket.socket, addr: str | tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes],
               backlog: int, where: str) -> socket.socket:
    try:
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ListenError(exc.errno, f"cannot listen on {where}: {exc.strerror or exc}") from exc
    return sock


def refuse_new_connections(sock: socket.socket) -> bool:
    """Let no new client reach ``sock`` from now on: on Linux over TCP, drop every new client's SYN; on a Unix
    socket this process made, remove its file. False where neither can be done (nothing done).

    Before a graceful stop closes a listening socket: whatever the kernel has queued would be reset by the close,
    requests already written. With no new client let in, the queue can only shrink, so the connections taken from it
    are all there are. Over TCP, handshakes under way still complete (their ACKs pass), and a refused client's retry
    meets the closed socket, refused at once; connections accepted later inherit the filter, which passes all they
    send. A Unix socket's client connects by its path: once the file is gone, a new one fails at once (no such
    file), and the queued ones are accepted as before.
    """
    if sock.family == socket.AF_UNIX:
        name = sock.getsockname()
        return isinstance(name, str) and bool(name) and unlink_own(name)
    if sys.platform != "linux" or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    program = ctypes.create_string_buffer(_DROP_SYN, len(_DROP_SYN))
    # struct sock_fprog: the instruction count, then a pointer to them (the kernel copies them at once).
    fprog = struct.pack("HP", len(_DROP_SYN) // 8, ctypes.addressof(program))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def close_listener(sock: socket.socket, spec: Listen) -> None:
    """Close the socket; a Unix socket's file goes too, when this process made it (not an inherited one)."""
    sock.close()
    if spec.uds is not None and spec.fd is None:
        unlink_own(spec.uds)


def describe(sock: socket.socket, scheme: str = "http") -> str:
    """The address a client uses: ``http://127.0.0.1:8000``, ``http://[::1]:8000`` or ``unix:/run/app.sock``."""
    if sock.family == socket.AF_UNIX:
        return f"unix:{sock.getsockname()}"
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return f"{scheme}://{shown}:{bound[1]}"
