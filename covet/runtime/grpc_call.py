"""One gRPC call over an HTTP/2 stream: a grpclib service's handler, served unchanged, on the app's own port.

The stream is the session's (``H2Channel``): its request head names the method, its body streams in as the client
sends messages (the framing streams every ``application/grpc`` request), and the call answers with a head, messages
and trailers, or with trailers alone when it fails before any message. The handler gets a ``CallStream``, which
offers what grpclib's ``server.Stream`` offers a handler: ``recv_message``, ``send_message``, async iteration,
``send_initial_metadata``, ``send_trailing_metadata``, ``cancel``, ``metadata``, ``deadline``, ``peer``,
``user_agent``. Status codes and messages are gRPC's (``grpclib.const.Status``); a handler that raises
``GRPCError`` answers its status, any other exception ``UNKNOWN``.

Rules:
1. A message is a 5-byte prefix (compressed flag, length) and its bytes; one over ``MAX_MESSAGE`` is refused
   (``RESOURCE_EXHAUSTED``); a compressed one is decompressed when the call says ``grpc-encoding: gzip``, and then
   the replies are gzipped too (as grpclib's server does).
2. ``grpc-timeout`` sets the call's deadline: the handler is cancelled there and the call ends
   ``DEADLINE_EXCEEDED``.
3. A client that cancels (RST_STREAM) or goes away cancels the handler; nothing more is sent.
4. A ``GRPCError``'s ``details`` (protobuf messages) go out as ``grpc-status-details-bin``, a google.rpc.Status, as
   grpclib sends them (``googleapis-common-protos`` encodes it).
5. With ``--metrics``, each call's status code is counted on its method (covet/metrics.py).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec, ProtoStatusDetailsCodec
from grpclib.exceptions import GRPCError, ProtocolError
from grpclib.metadata import Deadline, decode_metadata, decode_timeout, encode_grpc_message, encode_metadata
from grpclib.protocol import Peer
from grpclib.server import Stream

from covet._native import Metrics
from covet.exceptions import ClientDisconnect, HTTPError
from covet.metrics import GRPC_CODE_BASE
from covet.runtime.body import RequestBody
from covet.runtime.connection import ConnectionInfo

__all__ = ["CallStream", "GrpcCall", "MAX_MESSAGE", "unimplemented"]

log = logging.getLogger("covet.grpc")

MAX_MESSAGE: Final = 4 * 1024 * 1024  # gRPC's default receive limit
# A status's message and details, as sent: grpcio's clients refuse a call's trailers past 8 KiB (its soft limit;
# some past it, all past 16 KiB), losing the status itself. The message is cut, the details dropped (and logged).
MAX_STATUS_MESSAGE: Final = 1024
MAX_STATUS_DETAILS: Final = 6 * 1024
_CODEC: Final = ProtoCodec()
_DETAILS: Final = ProtoStatusDetailsCodec()
_CONTENT_TYPES: Final = frozenset({"application/grpc", "application/grpc+proto"})
_CONTENT_TYPE: Final = (b"content-type", b"application/grpc+proto")
_ACCEPT_ENCODING: Final = (b"grpc-accept-encoding", b"gzip,identity")


def _status_fields(status: Status, message: str | None, metadata: Any = None,
                   details: Any = None) -> list[tuple[bytes, bytes]]:
    fields = [(b"grpc-status", b"%d" % status.value)]
    if message:
        encoded = encode_grpc_message(message).encode("ascii")
        while len(encoded) > MAX_STATUS_MESSAGE:  # cut as text, so that no character is cut in two
            message = message[:len(message) * MAX_STATUS_MESSAGE // len(encoded)]
            encoded = encode_grpc_message(message).encode("ascii")
        fields.append((b"grpc-message", encoded))
    if details:
        try:
            data = _DETAILS.encode(status, message, details)
        except ImportError:
            log.error("gRPC error details not sent: they need google.rpc's Status (pip install covetpy[grpc])")
        except Exception as exc:  # (a detail that is not a protobuf message)
            log.error("gRPC error details not sent: %r", exc)
        else:
            value = base64.b64encode(data).rstrip(b"=")
            if len(value) > MAX_STATUS_DETAILS:
                log.error("gRPC error details not sent: %d bytes encoded, past %d (a client's header limit is 8 KiB "
                          "for all of a call's trailers)", len(value), MAX_STATUS_DETAILS)
            else:
                fields.append((b"grpc-status-details-bin", value))
    if metadata:
        fields += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in encode_metadata(metadata)]
    return fields


def _gzip(data: bytes) -> bytes:
    deflater = zlib.compressobj(6, zlib.DEFLATED, 31)  # (wbits 31: the gzip format gRPC's "gzip" names)
    return deflater.compress(data) + deflater.flush()


def _timeout_of(value: str) -> float:
    """``grpc-timeout`` in seconds: at most 8 digits and a unit (PROTOCOL-HTTP2.md), INVALID_ARGUMENT otherwise."""
    digits = value[:-1]
    if not (0 < len(digits) <= 8 and digits.isdigit() and digits.isascii()):
        raise GRPCError(Status.INVALID_ARGUMENT, f"Invalid grpc-timeout: {value[:20]!r}")
    try:
        return decode_timeout(value)
    except ValueError:
        raise GRPCError(Status.INVALID_ARGUMENT, f"Invalid grpc-timeout: {value[:20]!r}") from None


def unimplemented(path: str) -> list[tuple[bytes, bytes]]:
    """A trailers-only answer's fields for a method no service serves."""
    return [_CONTENT_TYPE, _ACCEPT_ENCODING, *_status_fields(Status.UNIMPLEMENTED, f"Method not found: {path}")]


class _Peer(Peer):
    """``stream.peer``: grpclib's Peer offers ``addr()``; a route's client address is all there is here (grpclib's
    ``__init__``, which wants its transport, is not run)."""

    def __init__(self, client: tuple[str, int] | None) -> None:
        self._client = client

    def addr(self) -> tuple[str, int] | None:
        return self._client

    def cert(self) -> None:
        return None


class CallStream(Stream[Any, Any]):
    """What a grpclib handler is given (grpclib.server.Stream's methods): see the module's docstring.

    A ``Stream`` for ``isinstance``: a method compiled by ``covet build`` checks that its ``stream`` is the one its
    annotation names. Every method is this class's own; grpclib's ``__init__`` is not run (it wants grpclib's
    protocol objects)."""

    def __init__(self, call: GrpcCall, recv_type: Any, send_type: Any, cardinality: Any,
                 deadline: Deadline | None, user_agent: str | None, client: tuple[str, int] | None) -> None:
        self._call = call
        self._recv_type = recv_type
        self._send_type = send_type
        self._server_streaming: bool = cardinality.server_streaming
        self._client_streaming: bool = cardinality.client_streaming
        self._received = 0
        self._metadata: Any = None
        self.deadline = deadline
        self.user_agent = user_agent
        self.peer = _Peer(client)
        self._headed = False
        self._sent = 0
        self._trailed = False
        self._pending = bytearray()
        self._done = call.body is None

    @property
    def metadata(self) -> Any:
        """The request's metadata (a multidict; ``-bin`` values decoded), made when first asked for."""
        if self._metadata is None:
            try:
                self._metadata = decode_metadata(self._call.headers)
            except ValueError as exc:  # (a -bin value that is not base64, or not ASCII)
                raise GRPCError(Status.INTERNAL, f"Metadata that does not decode: {exc}") from None
        return self._metadata

    @metadata.setter
    def metadata(self, value: Any) -> None:
        self._metadata = value

    # -- receiving -----------------------------------------------------------------------------------------------

    async def recv_message(self) -> Any:
        """The next message, None once the client ended its stream."""
        data = await self._read_message()
        received = self._received
        if data is None:
            if not received and not self._client_streaming:
                raise GRPCError(Status.INTERNAL, "The request ended without its message")
            return None
        if received and not self._client_streaming:
            raise GRPCError(Status.INTERNAL, "More than one request message for a unary request")
        self._received = received + 1
        try:
            return _CODEC.decode(data, self._recv_type)
        except Exception as exc:  # (protobuf's DecodeError, and whatever a message class raises)
            raise GRPCError(Status.INTERNAL, f"Could not decode the request message: {exc}") from None

    def __aiter__(self) -> CallStream:
        return self

    async def __anext__(self) -> Any:
        message = await self.recv_message()
        if message is None:
            raise StopAsyncIteration
        return message

    async def _read_message(self) -> bytes | None:
        pending = self._pending
        while True:
            if len(pending) >= 5:
                length = int.from_bytes(pending[1:5], "big")
                if length > MAX_MESSAGE:
                    raise GRPCError(Status.RESOURCE_EXHAUSTED,
                                    f"Received message larger than max ({length} vs. {MAX_MESSAGE})")
                if pending[0] > 1:
                    raise GRPCError(Status.INTERNAL, f"Invalid message flag {pending[0]} (0 or 1)")
                if len(pending) >= 5 + length:
                    compressed = pending[0]
                    data = bytes(pending[5:5 + length])
                    del pending[:5 + length]
                    return self._call.decompress(data) if compressed else data
            body = self._call.body
            if self._done or body is None:
                if pending:
                    raise GRPCError(Status.INTERNAL, "Incomplete message")
                return None
            try:
                chunk = await body.read()
            except (HTTPError, ClientDisconnect) as exc:
                raise GRPCError(Status.CANCELLED if isinstance(exc, ClientDisconnect) else Status.INTERNAL,
                                f"The request's messages stopped: {exc}") from None
            if chunk:
                pending += chunk
            else:
                self._done = True

    # -- sending -------------------------------------------------------------------------------------------------

    async def send_initial_metadata(self, *, metadata: Any = None) -> None:
        if self._headed:
            raise ProtocolError("Initial metadata was already sent")
        fields = [_CONTENT_TYPE, _ACCEPT_ENCODING]
        if self._call.gzips:
            fields.append((b"grpc-encoding", b"gzip"))
        if metadata:
            fields += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in encode_metadata(metadata)]
        self._headed = True
        if not self._call.head(fields):
            raise asyncio.CancelledError

    async def send_message(self, message: Any) -> None:
        if self._call.gone:
            raise asyncio.CancelledError
        if self._trailed:
            raise ProtocolError("Trailing metadata was already sent")
        if not self._headed:
            await self.send_initial_metadata()
        if not self._server_streaming and self._sent:
            raise ProtocolError("Message was already sent")
        data = _CODEC.encode(message, self._send_type)
        self._sent += 1
        flag = b"\x00"
        if self._call.gzips:
            data = _gzip(data)
            flag = b"\x01"
        await self._call.send(flag + len(data).to_bytes(4, "big") + data)

    async def send_trailing_metadata(self, *, status: Status = Status.OK, status_message: str | None = None,
                                     status_details: Any = None, metadata: Any = None) -> None:
        if self._trailed:
            raise ProtocolError("Trailing metadata was already sent")
        if not self._server_streaming and status is Status.OK and not self._sent:
            raise ProtocolError(f"Unary response with OK status requires a single message to be sent: "
                                f"{self._call.path}")
        # (raises for metadata that cannot be sent)
        fields = _status_fields(status, status_message, metadata, status_details)
        self._trailed = True
        if self._headed:
            self._call.trail(fields, status)
        else:  # trailers-only: the whole answer is one HEADERS frame
            self._call.trail_only([_CONTENT_TYPE, _ACCEPT_ENCODING, *fields], status)

    async def cancel(self) -> None:
        """End the call at once: the stream is reset (CANCEL)."""
        self._trailed = True
        self._call.cancel()

    async def __aenter__(self) -> CallStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


# The after-work of typed methods' calls still running (a task the loop holds only weakly would be collected).
_AFTER: set[asyncio.Task[None]] = set()


class GrpcCall:
    """A call's life: its handler run as a Task, its answer through the stream's channel."""

    def __init__(self, channel: Any, handler: Any, path: str, headers: list[tuple[str, str]],
                 body: RequestBody | None, client: tuple[str, int] | None, metrics: Metrics | None = None,
                 route: int = -1, info: Callable[[], ConnectionInfo] | None = None) -> None:
        self.channel = channel
        self.handler = handler
        self.path = path
        self.headers = headers
        self.body = body
        self.client = client
        # The connection as a route's glue gets it, made when asked (a typed method's Request reads it).
        self.info_of = info
        self.task: asyncio.Task[None] | None = None
        self.gone = False
        self.encoding = ""
        self.gzips = False  # the replies are compressed: the request was
        self.stream: CallStream | None = None
        self.finished = False  # its status went out
        self.metrics = metrics
        self.route = route  # its method's route id in the metrics
        self.code = Status.CANCELLED  # the status it ended with
        # A typed method's after-work (covet.runtime.grpc_method): its generator dependencies' ends and background
        # tasks, run once the status has gone out.
        self.after: Callable[[], Awaitable[None]] | None = None

    @property
    def info(self) -> ConnectionInfo:
        made = self.info_of
        return made() if made is not None else ConnectionInfo(self.client, None, "http", "2")

    def start(self) -> None:
        task = self.task = asyncio.get_running_loop().create_task(self._run())
        if self.metrics is not None:
            # (A callback, not the handler's finally: a call cancelled before its task ran is counted too.)
            task.add_done_callback(self._count)

    def _count(self, task: asyncio.Task[None]) -> None:
        metrics = self.metrics
        if metrics is not None:
            metrics.count(self.route, "POST", GRPC_CODE_BASE + self.code.value, 0, 0, -1)

    def lost(self) -> None:
        """The client reset the stream (a cancellation) or went away: the handler is cancelled."""
        self.gone = True
        task = self.task
        if task is not None and not task.done():
            task.cancel()

    # -- the channel's side --------------------------------------------------------------------------------------

    def head(self, fields: list[tuple[bytes, bytes]]) -> bool:
        return not self.gone and self.channel.grpc_head(fields)

    async def send(self, frame: bytes) -> None:
        if self.gone:
            raise asyncio.CancelledError
        if self.channel.send(frame) < 0:
            raise asyncio.CancelledError
        await self.channel.drained()

    def trail(self, fields: list[tuple[bytes, bytes]], status: Status) -> None:
        if not self.gone:
            self.finished = True
            self.code = status
            self.channel.grpc_trail(fields)

    def trail_only(self, fields: list[tuple[bytes, bytes]], status: Status) -> None:
        if not self.gone:
            self.finished = True
            self.code = status
            self.channel.grpc_trail_only(fields)

    def cancel(self) -> None:
        if not self.gone:
            self.gone = True
            self.channel.close()

    def decompress(self, data: bytes) -> bytes:
        if self.encoding != "gzip":
            raise GRPCError(Status.UNIMPLEMENTED, f"Compressed message, grpc-encoding {self.encoding or 'identity'}")
        # Bounded as it inflates: a small message may decompress to gigabytes (a gzip bomb).
        inflater = zlib.decompressobj(wbits=31)
        try:
            out = inflater.decompress(data, MAX_MESSAGE + 1)
        except zlib.error as exc:
            raise GRPCError(Status.INTERNAL, f"Could not decompress a message: {exc}") from None
        if len(out) > MAX_MESSAGE or inflater.unconsumed_tail:
            raise GRPCError(Status.RESOURCE_EXHAUSTED, f"Decompressed message larger than max ({MAX_MESSAGE})")
        if not inflater.eof or inflater.unused_data:
            raise GRPCError(Status.INTERNAL, "Could not decompress a message: not one whole gzip member")
        return out

    # -- the handler -----------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        handler = self.handler
        content_type = user_agent = ""
        accepts = None
        timeout = None
        for name, value in self.headers:
            if name == "content-type":
                content_type = value
            elif name == "grpc-encoding":
                self.encoding = value
            elif name == "grpc-accept-encoding":
                accepts = value
            elif name == "user-agent":
                user_agent = value
            elif name == "grpc-timeout":
                timeout = value
        # Replies are gzipped when the request was, unless the client says it does not take gzip.
        self.gzips = self.encoding == "gzip" and (accepts is None or "gzip" in {
            e.strip() for e in accepts.split(",")})
        stream = CallStream(self, handler.request_type, handler.reply_type, handler.cardinality, None,
                            user_agent or None, self.client)
        self.stream = stream
        try:
            if content_type.partition(";")[0].strip().lower() not in _CONTENT_TYPES:
                raise GRPCError(Status.UNIMPLEMENTED, f"Content-type {content_type!r} is not supported")
            if timeout is not None:
                stream.deadline = Deadline.from_timeout(_timeout_of(timeout))
            if stream.deadline is None:
                await handler.func(stream)
            else:
                scope = asyncio.timeout(stream.deadline.time_remaining())
                try:
                    async with scope:
                        await handler.func(stream)
                except TimeoutError:
                    if not scope.expired():
                        raise  # the handler's own
                    raise GRPCError(Status.DEADLINE_EXCEEDED, "Deadline exceeded") from None
            if not stream._trailed:
                await stream.send_trailing_metadata()
        except GRPCError as exc:
            await self._fail(stream, exc.status, exc.message, exc.details)
        except asyncio.CancelledError:
            if not self.gone:
                raise
        except Exception:
            log.exception("gRPC handler %s raised", self.path)
            await self._fail(stream, Status.UNKNOWN, "Internal Server Error")
        finally:
            body = self.body
            if body is not None and not body.done:
                body.discard()
            if not self.gone and not self.finished:  # (nothing final went out: the stream is reset, not left open)
                self.cancel()
            after = self.after
            if after is not None:
                self.after = None
                # Its own task: neither the deadline nor the call's cancellation cuts a dependency's clean-up short.
                done = asyncio.ensure_future(after())
                _AFTER.add(done)
                done.add_done_callback(_AFTER.discard)
                try:
                    await asyncio.shield(done)
                except Exception:
                    log.exception("gRPC handler %s: its dependencies' clean-up failed", self.path)

    async def _fail(self, stream: CallStream, status: Status, message: str | None, details: Any = None) -> None:
        if self.gone or self.finished:
            return
        stream._trailed = True
        fields = _status_fields(status, message, None, details)
        if stream._headed:
            self.trail(fields, status)
        else:
            self.trail_only([_CONTENT_TYPE, _ACCEPT_ENCODING, *fields], status)
