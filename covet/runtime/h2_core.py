"""HTTP/2 server connections, sans-IO: bytes in, events out (RFC 9113, HPACK per RFC 7541).

The framing is ``h2``'s, the portable path (a native core built on nghttp2 is to join it with the same events). This
module adds what a server needs on top, the same whatever carries the bytes:

- requests as events a transport answers through the exchange seam, bodies held up to ``max_body`` and streamed past
  it, with flow-control credit given back as the application consumes a streamed body, not as it arrives;
- responses sent as the peer's windows allow, the rest held per stream until a WINDOW_UPDATE;
- a guard in front of ``h2`` that reads every frame's header and ends a connection that abuses the protocol:
  rapid reset (CVE-2023-44487), CONTINUATION floods (CVE-2024-27316), PING/SETTINGS floods, empty frames; HPACK bombs
  stop at ``h2``'s header-list limit, which the guard sets from ``max_header_bytes``.

Events, each a tuple whose first item is its kind:

    (H2_REQUEST, sid, method, path, query, headers, body)   a complete request, its body at most max_body
    (H2_STREAM, sid, method, path, query, headers)          a request head; its body follows (H2_DATA..., H2_END)
    (H2_DATA, sid, data)                                    a piece of a streamed body: ``consume(sid, n)`` it
    (H2_END, sid)                                           the end of a streamed body
    (H2_RESET, sid, code)                                   the stream is gone (reset by the peer, or by us)
    (H2_WINDOW, sid)                                        what was held for sid has gone out (0: all streams)
    (H2_GOAWAY, code, why)                                  the connection is over: send ``data_to_send()``, close

``headers`` are (lower-case name, value) str pairs without pseudo-headers; ``:authority`` becomes ``host`` when the
request has none, so routes see what HTTP/1.1 would give them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, final

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import DenialOfServiceError, ProtocolError
from h2.settings import SettingCodes, Settings
from hpack import HPACKError
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import GoAwayFrame

from covet.responses import check_field

__all__ = ["H2Core", "H2Limits", "H2_DATA", "H2_END", "H2_GOAWAY", "H2_REQUEST", "H2_RESET", "H2_STREAM",
           "H2_WINDOW", "PREFACE", "is_grpc"]

H2_REQUEST: Final = 0
H2_STREAM: Final = 3
H2_DATA: Final = 4
H2_END: Final = 5
H2_RESET: Final = 7
H2_WINDOW: Final = 8
H2_GOAWAY: Final = 9

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""What a client with prior knowledge sends first (RFC 9113 section 3.4)."""


# Frame types the guard reads (RFC 9113 section 6).
_DATA: Final = 0x0
_HEADERS: Final = 0x1
_PRIORITY: Final = 0x2
_RST_STREAM: Final = 0x3
_SETTINGS: Final = 0x4
_PING: Final = 0x6
_WINDOW_UPDATE: Final = 0x8
_CONTINUATION: Final = 0x9
_END_STREAM: Final = 0x1
_END_HEADERS: Final = 0x4
_ACK: Final = 0x1

PROTOCOL_ERROR: Final = int(ErrorCodes.PROTOCOL_ERROR)
INTERNAL_ERROR: Final = int(ErrorCodes.INTERNAL_ERROR)
COMPRESSION_ERROR: Final = int(ErrorCodes.COMPRESSION_ERROR)
ENHANCE_YOUR_CALM: Final = int(ErrorCodes.ENHANCE_YOUR_CALM)
FRAME_SIZE_ERROR: Final = int(ErrorCodes.FRAME_SIZE_ERROR)
CANCEL: Final = int(ErrorCodes.CANCEL)
REFUSED_STREAM: Final = int(ErrorCodes.REFUSED_STREAM)
ENCODER_TABLE: Final = 4096  # the most HPACK table we keep for our responses, whatever the client offers
KNOWN_SETTINGS: Final = frozenset(range(1, 10))
MAX_UNKNOWN_SETTINGS: Final = 16  # distinct unknown SETTINGS ids a connection may send (h2 keeps each)
SMALL_WINDOW_UPDATE: Final = 1024  # increments below this, unearned, are charged to the empty-frame bucket


@dataclass(frozen=True)
class H2Limits:
    """What one HTTP/2 connection may hold and do; the defaults are nghttp2's and h2o's order of magnitude."""

    max_concurrent_streams: int = 100
    max_header_bytes: int = 65536  # a header block, compressed (HEADERS + CONTINUATION) and decoded alike
    max_body: int = 1024 * 1024  # a request body held whole; past it the body streams
    # Bodies held whole, all streams of the connection together: a stream whose DATA would pass it is refused
    # (REFUSED_STREAM: nothing of it was processed, so its client retries it), or a connection could hold
    # max_concurrent_streams x max_body.
    max_held: int = 8 * 1024 * 1024
    window: int = 1024 * 1024  # the receive window each stream (and the connection) is opened to
    max_frame_size: int = 16384
    # Token buckets, refilled per second: a burst, then a rate. Past them the connection ends with ENHANCE_YOUR_CALM.
    resets_burst: int = 1000  # streams the client resets (rapid reset)
    resets_rate: int = 100
    control_burst: int = 1000  # PING and SETTINGS frames, each of which makes us write an ACK
    control_rate: int = 100
    empty_burst: int = 1000  # frames that carry nothing: empty or padding-only DATA, PRIORITY, tiny WINDOW_UPDATEs
    empty_rate: int = 100


@final
class _Bucket:
    """A token bucket on the caller's clock (``now``, in seconds)."""

    __slots__ = ("tokens", "burst", "rate", "at")

    def __init__(self, burst: int, rate: int) -> None:
        self.tokens = float(burst)
        self.burst = burst
        self.rate = rate
        self.at = 0.0

    def take(self, now: float) -> bool:
        if now > self.at:
            self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
            self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@final
class _Stream:
    """A request stream's state the core keeps beside ``h2``'s."""

    __slots__ = ("head", "body", "streaming", "pending", "off", "held", "headed", "end_after", "sent_end", "ended",
                 "progress", "heard", "trailers")

    def __init__(self, head: tuple[str, str, str, list[tuple[str, str]]], now: float) -> None:
        self.head = head  # method, path, query, headers
        self.body = bytearray()
        self.streaming = False  # past max_body: pieces go out as H2_DATA, credit comes back with consume()
        self.pending: list[bytes] = []  # response data the peer's windows did not let out yet
        self.off = 0  # how much of pending[0] went out already
        self.held = 0  # bytes in pending, less off
        self.headed = False  # the response head went out
        self.end_after = False  # the response ends once ``pending`` is out
        self.sent_end = False  # END_STREAM went out
        self.ended = False  # the request's body is complete
        self.progress = now  # when held output last moved (or was first held)
        self.heard = now  # when the request's last piece arrived
        self.trailers: list[tuple[bytes, bytes]] | None = None  # the response ends with these (gRPC's status)


class _Guard:
    """Reads the 9-byte header of every frame before ``h2`` does, across any split of the input, and says whether
    the peer abuses the protocol (``why`` then names how)."""

    __slots__ = ("limits", "head", "skip", "block", "resets", "control", "empty", "why", "code", "kind", "want",
                 "payload", "unknown", "owed_conn", "owed_streams", "sid")

    def __init__(self, limits: H2Limits) -> None:
        self.limits = limits
        self.head = bytearray()  # a frame header still arriving
        self.skip = len(PREFACE)  # bytes still to pass: the client's preface first (h2 checks it), then payloads
        self.block = -1  # bytes of the header block being received (-1: none open)
        self.resets = _Bucket(limits.resets_burst, limits.resets_rate)
        self.control = _Bucket(limits.control_burst, limits.control_rate)
        self.empty = _Bucket(limits.empty_burst, limits.empty_rate)
        self.why = ""
        self.code = ENHANCE_YOUR_CALM  # the GOAWAY's error code once ``why`` is said
        self.kind = -1  # the frame whose payload is being gathered (SETTINGS, WINDOW_UPDATE), -1: none
        self.want = 0  # its payload bytes still to gather
        self.payload = bytearray()
        self.unknown: set[int] = set()  # unknown SETTINGS ids seen
        # DATA bytes sent and not yet given back, by the connection's window and by streams' (all together): a tiny
        # WINDOW_UPDATE that gives back no more is a client acknowledging what it read (grpcio sends one for each
        # small message), not a flood.
        self.owed_conn = 0
        self.owed_streams = 0
        self.sid = 0  # the stream of the frame whose payload is being gathered

    def sent(self, n: int) -> None:
        """``n`` bytes of DATA went out."""
        self.owed_conn += n
        self.owed_streams += n

    def charge(self, bucket: _Bucket, now: float, why: str) -> bool:
        """Take a token from ``bucket``; False (and ``why`` said) when it is empty."""
        if bucket.take(now):
            return True
        self.why = why
        return False

    def scan(self, data: bytes, now: float) -> bool:
        """False when a frame in ``data`` breaks a limit (``why`` says which)."""
        i = 0
        n = len(data)
        while i < n:
            if self.want:
                step = min(self.want, n - i)
                self.payload += data[i:i + step]
                self.want -= step
                i += step
                if not self.want and not self._payload(now):
                    return False
                continue
            if self.skip:
                step = min(self.skip, n - i)
                self.skip -= step
                i += step
                continue
            need = 9 - len(self.head)
            self.head += data[i:i + need]
            i += min(need, n - i)
            if len(self.head) < 9:
                break
            h = self.head
            length = (h[0] << 16) | (h[1] << 8) | h[2]
            kind = h[3]
            flags = h[4]
            self.head = bytearray()
            if not self._frame(kind, flags, length, now):
                return False
            if (kind == _SETTINGS or kind == _WINDOW_UPDATE) and 0 < length <= 16384:
                self.kind, self.want = kind, length  # read below, as it arrives
                self.payload = bytearray()
                self.sid = ((h[5] & 0x7F) << 24) | (h[6] << 16) | (h[7] << 8) | h[8]
            else:
                self.skip = length
        return True

    def _payload(self, now: float) -> bool:
        """A gathered SETTINGS or WINDOW_UPDATE payload (h2 judges its validity; this judges its cost)."""
        p = self.payload
        if self.kind == _SETTINGS:
            for j in range(0, len(p) - 5, 6):
                ident = (p[j] << 8) | p[j + 1]
                if ident not in KNOWN_SETTINGS:
                    self.unknown.add(ident)
            if len(self.unknown) > MAX_UNKNOWN_SETTINGS:
                self.why = f"more than {MAX_UNKNOWN_SETTINGS} unknown SETTINGS identifiers"
                return False
        elif len(p) == 4:
            increment = int.from_bytes(p, "big") & 0x7FFFFFFF
            if self.sid == 0:
                earned = increment <= self.owed_conn
                self.owed_conn = self.owed_conn - increment if earned else 0
            else:
                earned = increment <= self.owed_streams
                self.owed_streams = self.owed_streams - increment if earned else 0
            if 0 < increment < SMALL_WINDOW_UPDATE and not earned:
                return self.charge(self.empty, now, "too many tiny WINDOW_UPDATE frames")
        return True

    def _frame(self, kind: int, flags: int, length: int, now: float) -> bool:
        limits = self.limits
        if kind == _HEADERS or kind == _CONTINUATION:
            self.block = (self.block if kind == _CONTINUATION and self.block >= 0 else 0) + length
            if self.block > limits.max_header_bytes:
                self.why = f"a header block over {limits.max_header_bytes} bytes (CONTINUATION flood)"
                return False
            if flags & _END_HEADERS:
                self.block = -1
            elif length == 0:
                return self.charge(self.empty, now, "too many empty CONTINUATION frames")
        elif kind == _RST_STREAM:
            return self.charge(self.resets, now, "too many streams reset (rapid reset)")
        elif kind == _PING or kind == _SETTINGS:
            if kind == _SETTINGS and flags & _ACK and length:
                # RFC 9113 section 6.5 names the error: h2 would say PROTOCOL_ERROR.
                self.why, self.code = "a SETTINGS acknowledgement with a payload", FRAME_SIZE_ERROR
                return False
            if not flags & _ACK:
                return self.charge(self.control, now, "too many PING or SETTINGS frames")
        elif (kind == _DATA and length == 0 and not flags & _END_STREAM) or kind == _PRIORITY:
            return self.charge(self.empty, now, "too many frames that carry nothing")
        return True


@final
class _Connection(H2Connection):
    """h2's connection, except past max_concurrent_streams: h2 would end the connection before it decodes the
    stream's header block; the core refuses that stream alone (REFUSED_STREAM, RFC 9113 section 5.1.2) once the
    block is decoded, so HPACK stays in step."""

    @property
    def open_inbound_streams(self) -> int:
        H2Connection.open_inbound_streams.fget(self)  # type: ignore[attr-defined]  # (it forgets closed streams)
        return 0


@final
class H2Core:
    """One server-side HTTP/2 connection: ``feed`` what arrives, answer with ``respond``/``send``, write out
    ``data_to_send()``. A transport stops reading while its own write buffer is full (as for HTTP/1.1): what the
    peer provokes (ACKs, resets) then waits in the peer's send buffer, not in ours."""

    def __init__(self, limits: H2Limits | None = None, upgrade: bytes | None = None) -> None:
        """``upgrade``: the ``HTTP2-Settings`` of an HTTP/1.1 request that asked for ``h2c`` (``h2c.settings_of``),
        answered 101: that request is stream 1 (``upgraded``). ValueError when those settings are not valid."""
        self.limits = limits = limits if limits is not None else H2Limits()
        # h2's own checks of our response fields are off: respond() checks every one (the HTTP/1.1 writer's check,
        # which refuses what h2 would reject or strip) and lower-cases names. ~7% of a small request's CPU.
        self.h2 = h2 = _Connection(H2Configuration(client_side=False, header_encoding=None,
                                                   validate_outbound_headers=False,
                                                   normalize_outbound_headers=False))
        # Our limits hold from the first byte, not only once the client acknowledged our SETTINGS: h2 enforces its
        # local settings, and these are what its preface announces.
        h2.local_settings = Settings(client=False, initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
            SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_bytes,
            SettingCodes.INITIAL_WINDOW_SIZE: limits.window,
            SettingCodes.MAX_FRAME_SIZE: limits.max_frame_size,
            SettingCodes.ENABLE_PUSH: 0,
        })
        h2.max_inbound_frame_size = limits.max_frame_size
        h2.decoder.max_header_list_size = limits.max_header_bytes  # an HPACK bomb stops there
        if upgrade is None:
            h2.initiate_connection()
        else:
            try:
                # (sent without base64's padding, which Python's decoder wants back)
                h2.initiate_upgrade_connection(upgrade + b"=" * (-len(upgrade) % 4))
            except (HyperframeError, ProtocolError, ValueError) as exc:  # (binascii.Error is a ValueError)
                raise ValueError(f"HTTP2-Settings not valid: {exc}") from exc
        grow = limits.window - 65535  # (RFC 9113's initial window)
        if grow > 0:
            h2.increment_flow_control_window(grow)  # the connection window, which SETTINGS cannot open
        self.guard = _Guard(limits)
        self.streams: dict[int, _Stream] = {}
        # Credit given back before a body streamed: consume() does not give it twice. (Its consumer gives back all it
        # was handed, the first piece included, even once the stream is gone: the entry goes then.)
        self.ahead: dict[int, int] = {}
        self.blocked: set[int] = set()  # streams holding output for the peer's windows
        self.closed = False
        self.now = 0.0
        self.out = bytearray()  # frames of ours to go out before h2's next ones (a graceful GOAWAY)
        self.last_sid = -1  # after a graceful GOAWAY: the last stream taken (newer ones are refused)

    def upgraded(self, method: str, path: str, query: str, headers: list[tuple[str, str]]) -> tuple[Any, ...]:
        """The HTTP/1.1 request that upgraded the connection, as stream 1's H2_REQUEST (answered like any other)."""
        fields = [(k, v) for k, v in headers if k not in _UPGRADE_FIELDS]
        stream = _Stream((method, path, query, fields), self.now)
        stream.ended = True
        self.streams[1] = stream
        return (H2_REQUEST, 1, method, path, query, fields, b"")

    def data_to_send(self) -> bytes:
        if self.out:
            data = bytes(self.out) + self.h2.data_to_send()
            self.out.clear()
            return data
        return self.h2.data_to_send()

    # -- input ------------------------------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> list[tuple[Any, ...]]:
        """What ``data`` (any piece of the input) says, as events; ``now`` is the transport's clock, in seconds."""
        if self.closed:
            return []
        self.now = now
        guard = self.guard
        if not guard.scan(data, now):
            return self._goaway(guard.code, guard.why)
        try:
            h2_events = self.h2.receive_data(data)
        except ProtocolError as exc:
            # h2 wrote its GOAWAY, with the code the error calls for; except that a header block that does not
            # decode is a COMPRESSION_ERROR (RFC 9113 section 4.3), which h2 calls a PROTOCOL_ERROR.
            code = int(exc.error_code)
            if not isinstance(exc, DenialOfServiceError) and isinstance(
                    exc.__cause__, (HPACKError, IndexError, TypeError, UnicodeDecodeError)):
                code = COMPRESSION_ERROR
            return self._goaway(code, str(exc) or type(exc).__name__, written=True)
        out: list[tuple[Any, ...]] = []
        for ev in h2_events:
            if isinstance(ev, DataReceived):
                if not self._data(ev, out):
                    return out + self._goaway(ENHANCE_YOUR_CALM, guard.why)
            elif isinstance(ev, RequestReceived):
                if not self._request(ev, out):
                    return out + self._goaway(ENHANCE_YOUR_CALM, guard.why)
            elif isinstance(ev, StreamEnded):
                self._ended(ev.stream_id, out)
            elif isinstance(ev, StreamReset):
                sid = ev.stream_id
                self.blocked.discard(sid)
                if self.streams.pop(sid, None) is not None:
                    out.append((H2_RESET, sid, int(ev.error_code or 0)))
                # A stream h2 reset for the client's error costs as much as one the client reset (MadeYouReset,
                # CVE-2025-8671): both go to the same bucket.
                if not ev.remote_reset and not guard.charge(guard.resets, now, "too many streams reset for errors"):
                    return out + self._goaway(ENHANCE_YOUR_CALM, guard.why)
            elif isinstance(ev, WindowUpdated):
                self._flush_window(ev.stream_id, out)
            elif isinstance(ev, RemoteSettingsChanged):
                changed = ev.changed_settings
                if SettingCodes.HEADER_TABLE_SIZE in changed:
                    # The client's decoder may allow up to 4 GiB; our encoder keeps at most ENCODER_TABLE.
                    self.h2.encoder.header_table_size = min(changed[SettingCodes.HEADER_TABLE_SIZE].new_value,
                                                            ENCODER_TABLE)
                if SettingCodes.INITIAL_WINDOW_SIZE in changed:
                    self._flush_window(0, out)  # a larger window opens every stream's
            elif isinstance(ev, TrailersReceived):
                pass  # request trailers are read and dropped, as over HTTP/1.1
            elif isinstance(ev, ConnectionTerminated):
                out += self._end(int(ev.error_code or 0), "the client sent GOAWAY")
        return out

    def _request(self, ev: RequestReceived, out: list[tuple[Any, ...]]) -> bool:
        """False when the stream was one refusal too many."""
        sid = ev.stream_id
        method = path = authority = ""
        headers: list[tuple[str, str]] = []
        has_host = False
        for name_b, value_b in ev.headers or ():
            name = bytes(name_b).decode("latin-1")
            value = bytes(value_b).decode("latin-1")
            if name[:1] == ":":
                if name == ":method":
                    method = value
                elif name == ":path":
                    path = value
                elif name == ":authority":
                    authority = value
                continue
            if name == "host":
                has_host = True
            headers.append((name, value))
        if 0 <= self.last_sid < sid or len(self.streams) >= self.limits.max_concurrent_streams:
            # Opened after our graceful GOAWAY, or past max_concurrent_streams: refused, so the client may retry it.
            # It costs as a reset does (a client that keeps opening streams it knows are refused is flooding).
            self._reset_h2(sid, REFUSED_STREAM)
            guard = self.guard
            return guard.charge(guard.resets, self.now, "too many streams refused")
        if not (path[:1] == "/" or (path == "*" and method == "OPTIONS")):
            self._reset_h2(sid, PROTOCOL_ERROR)  # malformed (RFC 9113 section 8.3.1): a stream error
            return True
        if authority and not has_host:
            headers.insert(0, ("host", authority))
        target, _, query = path.partition("?")
        stream = _Stream((method, target, query, headers), self.now)
        self.streams[sid] = stream
        if ev.stream_ended is not None:
            stream.ended = True
            out.append((H2_REQUEST, sid, method, target, query, headers, b""))
        elif _declared(headers) > self.limits.max_body or is_grpc(headers):
            # It cannot be held whole: its route starts now, and may refuse it before any of it arrives. (A gRPC
            # call's messages stream whatever their size: its handler reads each as it comes.)
            stream.streaming = True
            out.append((H2_STREAM, sid, method, target, query, headers))
        return True

    def _data(self, ev: DataReceived, out: list[tuple[Any, ...]]) -> bool:
        """False when the frame was one too many that carried nothing."""
        sid = ev.stream_id
        data = bytes(ev.data or b"")
        flow = ev.flow_controlled_length or 0
        pad = flow - len(data)
        if pad > 0:
            self.h2.acknowledge_received_data(pad, sid)  # padding is nobody's to consume
        stream = self.streams.get(sid)
        if stream is not None:
            stream.heard = self.now
        if not data:
            # A DATA frame of padding alone (or empty) that does not end its stream carries nothing.
            guard = self.guard
            ends = ev.stream_ended is not None
            # (An empty frame was charged by the guard already: padding alone is charged here.)
            return ends or flow == 0 or guard.charge(guard.empty, self.now, "too many DATA frames that carry nothing")
        if stream is None:  # a stream answered or reset meanwhile: its credit comes back, for the connection
            self.h2.acknowledge_received_data(len(data), sid)
            return True
        if stream.streaming:
            out.append((H2_DATA, sid, data))
            return True
        body = stream.body
        limits = self.limits
        if len(body) + len(data) <= limits.max_body and len(data) + sum(
                len(other.body) for other in self.streams.values()) > limits.max_held:
            self.h2.acknowledge_received_data(len(data), sid)  # (what it held was acknowledged as it came)
            del self.streams[sid]
            self._reset_h2(sid, REFUSED_STREAM)
            return True
        if len(body) + len(data) > limits.max_body:
            stream.streaming = True
            method, path, query, headers = stream.head
            out.append((H2_STREAM, sid, method, path, query, headers))
            if body:
                self.ahead[sid] = len(body)
                out.append((H2_DATA, sid, bytes(body) + data))
            else:
                out.append((H2_DATA, sid, data))
            stream.body = bytearray()
            return True
        body += data
        # Held whole up to max_body: the credit comes back at once, or a body larger than the window would wait
        # forever. (What one connection holds so is max_concurrent_streams x max_body at most.)
        self.h2.acknowledge_received_data(len(data), sid)
        return True

    def _ended(self, sid: int, out: list[tuple[Any, ...]]) -> None:
        stream = self.streams.get(sid)
        if stream is None or stream.ended:
            return
        stream.ended = True
        if stream.streaming:
            out.append((H2_END, sid))
            return
        method, path, query, headers = stream.head
        body = bytes(stream.body)
        stream.body = bytearray()
        out.append((H2_REQUEST, sid, method, path, query, headers, body))

    def consume(self, sid: int, n: int) -> None:
        """The application took ``n`` bytes of a streamed body: the client may send that much more."""
        if sid <= 0 or n <= 0 or self.closed:
            return
        ahead = self.ahead.get(sid)
        if ahead:
            taken = min(ahead, n)
            n -= taken
            if ahead == taken:
                del self.ahead[sid]
            else:
                self.ahead[sid] = ahead - taken
        if n > 0:
            try:
                self.h2.acknowledge_received_data(n, sid)  # (a closed stream's credit is the connection's)
            except ProtocolError:
                pass

    # -- output -----------------------------------------------------------------------------------------------

    def respond(self, sid: int, status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes = b"",
                end: bool = True, length: int = -1) -> bool:
        """Send a response head (and, with ``end``, its whole body); False when the stream is gone. ``length``
        (-1: none) is its content-length; the framing fields in ``headers`` are dropped, as over HTTP/1.1.

        Raises ValueError, sending nothing, for a status outside 200-599 or a field no peer may receive (the HTTP/1.1
        writer's check: a token name, no CR, LF or NUL in the value)."""
        stream = self.streams.get(sid)
        if self.closed or stream is None or stream.headed:
            return False
        if not 200 <= status <= 599:
            raise ValueError(f"invalid response status {status!r}: a response's status must be 200-599")
        fields: list[tuple[bytes, bytes]] = [(b":status", b"%d" % status)]
        for name, value in headers:
            name = name.lower()
            if name in _FRAMING:
                continue  # the server frames the message; connection-specific fields are malformed in HTTP/2
            check_field(name, value)
            fields.append((name, value))
        if length >= 0:
            fields.append((b"content-length", b"%d" % length))
        try:
            self.h2.send_headers(sid, fields, end_stream=end and not body)
        except ProtocolError:
            self.reset(sid, INTERNAL_ERROR)
            return False
        stream.headed = True
        if end and not body:
            stream.sent_end = True
            self._done(sid)
            return True
        if body or end:
            self.send(sid, body, end)
        return True

    def send(self, sid: int, data: bytes, end: bool = False) -> int:
        """Body data for ``sid``, after ``respond(..., end=False)``: how many bytes stay held for the peer's window
        (-1: the stream is gone)."""
        stream = self.streams.get(sid)
        if stream is None or self.closed:
            return -1
        if not stream.headed:
            raise RuntimeError("send() before respond(): DATA cannot precede the response head")
        if data:
            if not stream.held:
                stream.progress = self.now
            stream.pending.append(data)
            stream.held += len(data)
        stream.end_after = stream.end_after or end
        return self._push(sid, stream)

    def trailers(self, sid: int, fields: Iterable[tuple[bytes, bytes]]) -> bool:
        """End a response begun with ``respond(..., end=False)`` with trailer fields, once what was sent goes out;
        False when the stream is gone. ValueError, sending nothing, for a field no peer may receive."""
        stream = self.streams.get(sid)
        if stream is None or self.closed:
            return False
        if not stream.headed:
            raise RuntimeError("trailers() before respond(): they end a response")
        checked: list[tuple[bytes, bytes]] = []
        for name, value in fields:
            name = name.lower()
            if name in _FRAMING:
                continue
            check_field(name, value)
            checked.append((name, value))
        stream.trailers = checked
        stream.end_after = True
        return self._push(sid, stream) >= 0

    def reset(self, sid: int, code: int = CANCEL) -> None:
        """End the stream abruptly (a response cut short): the client must not take it for complete."""
        self.blocked.discard(sid)
        if self.streams.pop(sid, None) is None or self.closed:
            return
        self._reset_h2(sid, code if 0 <= code <= 0xFFFFFFFF else INTERNAL_ERROR)

    def _reset_h2(self, sid: int, code: int) -> None:
        try:
            self.h2.reset_stream(sid, code)
        except ProtocolError:  # closed meanwhile (the same read reset it, or the client went away)
            pass

    def shutdown(self) -> None:
        """Graceful GOAWAY (NO_ERROR): streams already open finish, newer ones are refused. (Written by us: h2's
        close_connection() would end the streams still answering.)"""
        if self.closed or self.last_sid >= 0:
            return
        self.last_sid = self.h2.highest_inbound_stream_id
        self.out += self.h2.data_to_send()
        self.out += GoAwayFrame(0, last_stream_id=self.last_sid, error_code=0).serialize()

    def finished(self) -> bool:
        """After a graceful GOAWAY: every stream it let finish has."""
        return self.closed or (self.last_sid >= 0 and not self.streams)

    def held_out(self) -> int:
        """Response bytes held for the peer's windows, all streams together."""
        streams = self.streams
        return sum(streams[sid].held for sid in self.blocked if sid in streams)

    def unfinished(self, now: float, timeout: float) -> list[int]:
        """Requests held whole whose next piece has not come for ``timeout`` seconds (a client that stopped sending
        them): the transport answers 408."""
        return [sid for sid, st in self.streams.items()
                if not st.ended and not st.streaming and not st.headed and now - st.heard >= timeout]

    def lost(self) -> None:
        """The connection is gone: nothing more is read or sent."""
        self.closed = True

    def busy(self) -> bool:
        """Some stream is open (a request arriving, or a response not all sent)."""
        return bool(self.streams)

    def open_streams(self) -> list[int]:
        """The streams open (a request arriving, or a response not all sent), in no order."""
        return list(self.streams)

    def request_head(self, sid: int) -> tuple[str, str, str, list[tuple[str, str]]]:
        """An open stream's request: method, path, query, headers."""
        return self.streams[sid].head

    def held(self, sid: int) -> int:
        stream = self.streams.get(sid)
        return -1 if stream is None else stream.held

    def stalled(self, now: float, timeout: float) -> list[int]:
        """Streams whose held output has not moved for ``timeout`` seconds (a peer that keeps its window shut):
        the transport resets them (and ends the connection if that is all it carries)."""
        streams = self.streams
        return [sid for sid in self.blocked if sid in streams and now - streams[sid].progress >= timeout]

    def _push(self, sid: int, stream: _Stream) -> int:
        h2 = self.h2
        pending = stream.pending
        moved = False
        try:
            while pending:
                room = min(h2.local_flow_control_window(sid), h2.max_outbound_frame_size)
                if room <= 0:
                    break
                piece = pending[0]
                off = stream.off
                left = len(piece) - off
                take = min(left, room)
                last = take == left and len(pending) == 1 and stream.end_after and stream.trailers is None
                h2.send_data(sid, piece[off:off + take] if off or take < left else piece, end_stream=last)
                self.guard.sent(take)
                stream.held -= take
                moved = True
                if take == left:
                    pending.pop(0)
                    stream.off = 0
                else:
                    stream.off = off + take
                stream.sent_end = last
            if moved:
                stream.progress = self.now
            if not pending and stream.end_after:
                if not stream.sent_end:
                    if stream.trailers is not None:
                        h2.send_headers(sid, stream.trailers, end_stream=True)
                    else:
                        h2.end_stream(sid)
                    stream.sent_end = True
                self.blocked.discard(sid)
                self._done(sid)
                return 0
        except ProtocolError:
            self.streams.pop(sid, None)
            self.blocked.discard(sid)
            return -1
        if pending:
            self.blocked.add(sid)
        else:
            self.blocked.discard(sid)
        return stream.held

    def _done(self, sid: int) -> None:
        stream = self.streams.pop(sid, None)
        if stream is not None and not stream.ended:
            # Answered before its body ended: the rest of the body is not wanted (RFC 9113 section 8.1).
            self._reset_h2(sid, int(ErrorCodes.NO_ERROR))

    def _flush_window(self, sid: int, out: list[tuple[Any, ...]]) -> None:
        for tsid in (list(self.blocked) if sid == 0 else [sid] if sid in self.blocked else []):
            stream = self.streams.get(tsid)
            if stream is not None and self._push(tsid, stream) == 0:
                out.append((H2_WINDOW, tsid))

    def _goaway(self, code: int, why: str, written: bool = False) -> list[tuple[Any, ...]]:
        """We end the connection: our GOAWAY (or h2's, ``written``, amended), and the events of the end."""
        if not self.closed:
            if written:
                self._amend_goaway(code)
            else:
                try:
                    self.h2.close_connection(code, additional_data=why.encode("latin-1", "replace")[:256],
                                             last_stream_id=self.last_sid if self.last_sid >= 0 else None)
                except ProtocolError:
                    pass
        return self._end(code, why)

    def _end(self, code: int, why: str) -> list[tuple[Any, ...]]:
        """The connection is over: every open stream is reset, then H2_GOAWAY."""
        out: list[tuple[Any, ...]] = [(H2_RESET, sid, CANCEL) for sid in self.streams]
        self.streams.clear()
        self.blocked.clear()
        self.closed = True
        out.append((H2_GOAWAY, code, why))
        return out

    def _amend_goaway(self, code: int) -> None:
        """The GOAWAY h2 just queued (its last frame) with ``code``, and, after our graceful GOAWAY, that one's
        last stream id: it may not grow (RFC 9113 section 6.8)."""
        buf = bytearray(self.h2.data_to_send())
        pos = last = 0
        while pos + 9 <= len(buf):
            last = pos
            pos += 9 + int.from_bytes(buf[pos:pos + 3], "big")
        if pos == len(buf) and len(buf) >= last + 17 and buf[last + 3] == 0x7:
            payload = last + 9
            if self.last_sid >= 0:
                buf[payload:payload + 4] = self.last_sid.to_bytes(4, "big")
            buf[payload + 4:payload + 8] = code.to_bytes(4, "big")
        self.out += buf


def is_grpc(headers: list[tuple[str, str]]) -> bool:
    """A gRPC call's request (content-type application/grpc...): its messages stream, and it goes to gRPC."""
    for name, value in headers:
        if name == "content-type":
            return value[:16].lower() == "application/grpc"  # (a media type's case is not significant)
    return False


def _declared(headers: list[tuple[str, str]]) -> int:
    """A request's content-length, -1 when it declares none (h2 checks that the DATA agrees with it)."""
    for name, value in headers:
        if name == "content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return -1


# The HTTP/1.1 fields of an upgrade to h2c, which its request no longer carries as stream 1.
_UPGRADE_FIELDS: Final = frozenset({"connection", "upgrade", "http2-settings"})


# Fields a response's handler may set that the server writes (content-length) or HTTP/2 forbids (RFC 9113 8.2.2).
_FRAMING: Final = frozenset({b"content-length", b"connection", b"keep-alive", b"proxy-connection",
                             b"transfer-encoding", b"upgrade"})
