"""The io_uring core's own TLS layer (native/uring_tls.c) against hostile clients: records split byte by byte, bodies
and responses of megabytes, requests pipelined inside one record, clients that vanish mid-handshake and mid-response,
a thousand handshakes at once. tests/test_tls.py runs every TLS test on io_uring too; these are its extra cases.
Every server here exits with the core's counters back at zero (COVET_RING_COUNTERS)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import socket
import ssl
import struct
import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import Server, app_server, read_response_simple
from test_tls import PKI, built_tlsapp, pki, tls_flags  # noqa: F401  (fixtures used by name)

URING = ["interpreted-uring", "compiled-uring"]
COUNTERS = {"COVET_RING_COUNTERS": "1"}


def stop_clean(srv: Server) -> str:
    """Stops ``srv``; it exits 0, with every connection, queue and TLS session of the core given back, and nothing
    logged but its own lines and the access log."""
    code, log = srv.stop()
    assert code == 0, log
    counters = re.search(r"covet: io_uring counters at exit: (.*)", log)
    assert counters is not None, log
    held = {k: v for k, v in (kv.split("=") for kv in counters.group(1).split()) if v != "0"}
    assert not held, log
    quiet = ("INFO:", "covet: serving ", "covet: io_uring ", "covet: shutting down")
    assert [line for line in log.splitlines() if not line.startswith(quiet)] == [], log
    return log


@pytest.fixture(scope="module", params=URING)
def ring_tls(request: pytest.FixtureRequest, pki: PKI) -> Iterator[Server]:  # noqa: F811
    # (--keepalive-timeout 60: a thousand handshakes take a loaded machine more than the default 5 s, and the first
    # connections, idle until the last is open, must not be closed as idle keep-alive ones meanwhile.
    # --loop-watchdog 5: under ASan (native/tests/asan_server.sh) one pass of the core over a thousand handshakes
    # held the loop 0.66 s once; these tests count resources, and a stall warning would fail stop_clean.)
    srv = app_server(request, request.param, "tlsapp", "built_tlsapp",
                     *tls_flags(pki, "--header-timeout", "10", "--keepalive-timeout", "60", "--loop-watchdog", "5"),
                     env=COUNTERS)
    assert srv.loop == "uring", srv.log
    yield srv
    stop_clean(srv)


def payload(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def still_serves(srv: Server, pki: PKI) -> None:  # noqa: F811
    with httpx.Client(base_url=srv.url, verify=pki.trust(), timeout=10) as client:
        assert client.get("/whoami").json() == {"scheme": "https", "http_version": "1.1"}


class Drip:
    """A TLS client over a socket through memory BIOs, which sends every byte it writes in a send() of its own."""

    def __init__(self, srv: Server, ctx: ssl.SSLContext, drip: bool = True) -> None:
        self.sock = srv.connect(timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="127.0.0.1")
        self.drip = drip
        self.sends = 0

    def push(self) -> None:
        data = self.out.read()
        if not self.drip:
            self.sock.sendall(data)
            return
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            self.sends += 1
            time.sleep(0.0002)  # each byte its own segment, and (mostly) its own receive on the server

    def pull(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.inc.write(data)

    def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                self.push()
                return
            except ssl.SSLWantReadError:
                self.push()
                self.pull()

    def write(self, data: bytes) -> None:
        self.tls.write(data)
        self.push()

    def read_response(self, buf: bytearray) -> bytes:
        while True:
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", bytes(buf))
            end = buf.find(b"\r\n\r\n")
            if m is not None and end >= 0 and len(buf) >= end + 4 + int(m.group(1)):
                stop = end + 4 + int(m.group(1))
                out = bytes(buf[:stop])
                del buf[:stop]
                return out
            try:
                buf += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.pull()


# -- records split and joined -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_handshake_and_request_one_byte_per_send(ring_tls: Server, pki: PKI, version: ssl.TLSVersion) -> None:  # noqa: F811
    ctx = pki.trust()
    ctx.minimum_version = ctx.maximum_version = version
    client = Drip(ring_tls, ctx)
    try:
        client.handshake()
        assert client.tls.version() == version.name.replace("_", ".")
        buf = bytearray()
        client.write(b"GET /whoami HTTP/1.1\r\nhost: x\r\n\r\n")
        assert client.read_response(buf).endswith(b'{"scheme":"https","http_version":"1.1"}')
        body = b"dripped " * 40
        client.write(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        assert client.read_response(buf).endswith(b'{"size":"320","head":"dripped "}')
        assert client.sends > 500  # the ClientHello, the Finished and both requests, each byte apart
    finally:
        client.sock.close()


def test_requests_pipelined_inside_one_record(ring_tls: Server, pki: PKI) -> None:  # noqa: F811
    body = b"pipelined"
    one_record = (b"GET /whoami HTTP/1.1\r\nhost: x\r\n\r\n"
                  b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n"
                  b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s"
                  b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n" % (len(body), body))
    assert len(one_record) < 16384  # one SSL_write of it is one record
    client = Drip(ring_tls, pki.trust(), drip=False)
    try:
        client.handshake()
        client.write(one_record)
        buf = bytearray()
        answers = [client.read_response(buf) for _ in range(4)]
    finally:
        client.sock.close()
    assert answers[0].endswith(b'{"scheme":"https","http_version":"1.1"}')
    assert answers[1].endswith(b'{"plain":"yes"}') and answers[3].endswith(b'{"plain":"yes"}')
    assert answers[2].endswith(b'{"size":"9","head":"pipeline"}')
    assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), answers


def test_a_direct_route_over_tls_on_a_raw_socket(ring_tls: Server, pki: PKI) -> None:  # noqa: F811
    with pki.trust().wrap_socket(ring_tls.connect(), server_hostname="127.0.0.1") as tls:
        buf = bytearray()
        for _ in range(3):
            tls.sendall(b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
            assert read_response_simple(tls, buf).endswith(b'{"plain":"yes"}')  # type: ignore[arg-type]


# -- closing -------------------------------------------------------------------------------------------------------


def test_a_closing_response_ends_with_close_notify(ring_tls: Server, pki: PKI) -> None:  # noqa: F811
    client = Drip(ring_tls, pki.trust(), drip=False)
    try:
        client.handshake()
        client.write(b"GET /plain HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        buf = bytearray()
        assert client.read_response(buf).endswith(b'{"plain":"yes"}')
        # b"" from the TLS layer is the server's close_notify; a bare FIN would be pull()'s ConnectionError first.
        while True:
            try:
                if client.tls.read(65536) == b"":
                    break
            except ssl.SSLWantReadError:
                client.pull()
    finally:
        client.sock.close()


def test_the_clients_close_notify_is_answered_with_the_servers(ring_tls: Server, pki: PKI) -> None:  # noqa: F811
    with pki.trust().wrap_socket(ring_tls.connect(), server_hostname="127.0.0.1") as tls:
        buf = bytearray()
        tls.sendall(b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
        assert read_response_simple(tls, buf).endswith(b'{"plain":"yes"}')  # type: ignore[arg-type]
        plain = tls.unwrap()  # sends ours and waits for the server's
        assert plain.recv(100) == b""  # then the server closes
        plain.close()


def test_records_after_a_closing_error_are_dropped_undecrypted(ring_tls: Server, pki: PKI) -> None:  # noqa: F811
    """A head that breaks the parser gets its 400 and a lingering close: what the client still sends meanwhile
    is read and dropped without being decrypted, and the 400 and the close_notify still reach it."""
    client = Drip(ring_tls, pki.trust(), drip=False)
    try:
        client.handshake()
        client.write(b"GET /plain HTTP/1.1\r\nno colon here\r\n\r\n")
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            try:
                buf += client.tls.read(65536)
            except ssl.SSLWantReadError:
                client.pull()
        assert buf.startswith(b"HTTP/1.1 400 "), buf
        client.write(b"more of a head that will never be read\r\n" * 100)  # arrives while the server lingers
        while True:
            try:
                if client.tls.read(65536) == b"":  # the close_notify
                    break
            except ssl.SSLWantReadError:
                client.pull()
    finally:
        client.sock.close()
    still_serves(ring_tls, pki)


def test_sigterm_closes_a_stalled_handshake_without_its_timeout(request: pytest.FixtureRequest,
                                                              pki: PKI) -> None:  # noqa: F811
    """With the default 10 s header timeout, a client stuck mid-handshake does not hold up a drain."""
    srv = app_server(request, "interpreted-uring", "tlsapp", "built_tlsapp", "--ssl-certfile", str(pki.cert),
                     "--ssl-keyfile", str(pki.key), env=COUNTERS)
    with srv.connect() as silent:
        silent.sendall(b"\x16\x03\x01")
        time.sleep(0.2)
        started = time.monotonic()
        stop_clean(srv)
        assert time.monotonic() - started < 5


# -- megabytes each way -------------------------------------------------------------------------------------------


def test_a_large_request_body_over_tls(ring_tls: Server, pki: PKI) -> None:  # noqa: F811
    body = payload(2_000_003)  # streamed: past --max-body
    with httpx.Client(base_url=ring_tls.url, verify=pki.trust(), timeout=30) as client:
        for _ in range(2):  # and again on the same connection
            r = client.post("/count", content=body)
            assert r.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


@pytest.mark.parametrize("path", ["/big", "/stream"])
def test_a_large_response_over_tls(ring_tls: Server, pki: PKI, path: str) -> None:  # noqa: F811
    n = 6_000_011
    with httpx.Client(base_url=ring_tls.url, verify=pki.trust(), timeout=30) as client:
        for _ in range(2):
            r = client.get(path, params={"n": n})
            assert r.status_code == 200 and r.content == payload(n)


def test_a_body_refused_midway_is_answered_413_and_the_rest_read_and_dropped(ring_tls: Server,
                                                                            pki: PKI) -> None:  # noqa: F811
    """/echo holds its body whole: past --max-body it answers 413 while the body still arrives; the rest is read
    and dropped, and the connection serves the next request."""
    body = payload(3_000_017)
    with httpx.Client(base_url=ring_tls.url, verify=pki.trust(), timeout=30) as client:
        r = client.post("/echo", content=body)
        assert r.status_code == 413 and "too large" in r.text, r.text
        assert client.get("/plain").json() == {"plain": "yes"}
    still_serves(ring_tls, pki)


def test_a_record_that_does_not_decrypt_ends_the_connection(ring_tls: Server, pki: PKI) -> None:  # noqa: F811
    client = Drip(ring_tls, pki.trust(), drip=False)
    try:
        client.handshake()
        client.write(b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
        assert client.read_response(bytearray()).endswith(b'{"plain":"yes"}')
        client.sock.sendall(b"\x17\x03\x03\x00\x40" + bytes(64))  # application data, forged
        client.sock.settimeout(5)
        with pytest.raises((ssl.SSLError, ConnectionError)):  # the alert (bad record MAC), or the reset
            while True:
                try:
                    client.tls.read(65536)
                except ssl.SSLWantReadError:
                    client.pull()
    finally:
        client.sock.close()
    still_serves(ring_tls, pki)


# -- clients that vanish ------------------------------------------------------------------------------------------


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_client_that_vanishes_mid_handshake(ring_tls: Server, pki: PKI, how: str) -> None:  # noqa: F811
    for stage in ("part of the hello", "after the server's flight"):
        client = Drip(ring_tls, pki.trust(), drip=False)
        try:
            client.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = client.out.read()
        if stage == "part of the hello":
            client.sock.sendall(hello[:len(hello) // 2])
        else:
            client.sock.sendall(hello)
            client.pull()  # the ServerHello and what follows it; the client's answer is never sent
        time.sleep(0.05)
        if how == "reset":
            reset(client.sock)
        else:
            client.sock.close()
    still_serves(ring_tls, pki)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_client_that_vanishes_mid_response(ring_tls: Server, pki: PKI, how: str) -> None:  # noqa: F811
    for path in ("/big", "/stream"):
        tls = pki.trust().wrap_socket(ring_tls.connect(), server_hostname="127.0.0.1")
        tls.sendall(f"GET {path}?n=30000000 HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        got = 0
        while got < 200_000:
            got += len(tls.recv(65536))
        if how == "reset":
            reset(tls)
        else:
            tls.close()
    still_serves(ring_tls, pki)


# -- many at once -------------------------------------------------------------------------------------------------


async def one_request(url: str, ctx: ssl.SSLContext, opened: asyncio.Event, counter: list[int],
                      total: int) -> bytes:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx, server_hostname="127.0.0.1",
                                                   ssl_handshake_timeout=60)
    try:
        counter[0] += 1
        if counter[0] == total:
            opened.set()
        await opened.wait()  # every connection's handshake is done before any of them asks
        writer.write(b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length: *(\d+)", head)
        assert m is not None, head
        return head + await reader.readexactly(int(m.group(1)))
    finally:
        writer.close()


async def crowd(url: str, ctx: ssl.SSLContext, n: int) -> list[bytes]:
    opened = asyncio.Event()
    counter = [0]
    sem = asyncio.Semaphore(100)  # handshakes in flight at once; all n connections stay open together

    async def start(i: int) -> bytes:
        async with sem:
            task = asyncio.ensure_future(one_request(url, ctx, opened, counter, n))
            while counter[0] <= i and not task.done():
                await asyncio.sleep(0.001)
        return await task

    return await asyncio.wait_for(asyncio.gather(*(start(i) for i in range(n))), 120)


def test_a_thousand_concurrent_tls_connections(ring_tls: Server, pki: PKI) -> None:  # noqa: F811
    answers = asyncio.run(crowd(ring_tls.url, pki.trust(), 1000))
    assert len(answers) == 1000
    assert all(a.startswith(b"HTTP/1.1 200 ") and a.endswith(b'{"plain":"yes"}') for a in answers)
    still_serves(ring_tls, pki)


# -- the settings the core is given ---------------------------------------------------------------------------------


def test_a_context_the_core_refuses_on_reload_keeps_the_one_in_service(pki: PKI,  # noqa: F811
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    from covet.runtime.tls import ServerTLS, TLSSettings

    class Core:
        def __init__(self) -> None:
            self.given: list[tuple[object, ...]] = []
            self.refuse = False

        def set_tls(self, *args: object) -> None:
            if self.refuse:
                raise ssl.SSLError(1, "set_tls(): cannot load the certificate x: no start line")
            self.given.append(args)

    tls = ServerTLS(TLSSettings(str(pki.cert), str(pki.key)))
    core = Core()
    tls.attach(core)
    assert core.given == [(str(pki.cert), str(pki.key), None, None, 0, tls.settings.ciphers, b"\x02h2\x08http/1.1")]
    core.refuse = True
    assert tls.reload() is False
    assert "TLS reload failed, still serving the previous certificate: set_tls(): cannot load" in caplog.text
    core.refuse = False
    assert tls.reload() is True and len(core.given) == 2


def test_set_tls_refuses_bad_files_with_ssl_error(pki: PKI) -> None:  # noqa: F811
    from covet._native import UringServer
    from covet.runtime.tls import ALPN_PROTOCOLS, DEFAULT_CIPHERS
    from direct_core import Half, listener

    sock = listener()
    core: UringServer = Half().core(sock)
    try:
        alpn = b"".join(bytes([len(p)]) + p.encode() for p in ALPN_PROTOCOLS)
        good = (str(pki.cert), str(pki.key), None, None, 0, DEFAULT_CIPHERS, alpn)
        core.set_tls(*good)
        with pytest.raises(ssl.SSLError, match="cannot load the certificate"):
            core.set_tls(str(pki.where / "missing.pem"), *good[1:])
        with pytest.raises(ssl.SSLError, match="selects no cipher"):
            core.set_tls(*good[:5], "NOPE", alpn)
        with pytest.raises(ssl.SSLError, match="does not match"):
            core.set_tls(str(pki.cert), str(pki.issue("stray")[1]), *good[2:])
        with pytest.raises(ssl.SSLError, match="cannot load the key"):  # encrypted, and no password: no prompt
            encrypted = pki.where / "set_tls_encrypted.key"
            from cryptography.hazmat.primitives import serialization

            key = serialization.load_pem_private_key(pki.key.read_bytes(), None)
            encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.BestAvailableEncryption(b"pw")))
            core.set_tls(str(pki.cert), str(encrypted), None, *good[3:])
        core.set_tls(str(pki.cert), str(encrypted), b"pw", *good[3:])
        with pytest.raises(ssl.SSLError, match="cannot load the CA certificates"):
            core.set_tls(*good[:3], str(pki.where / "missing-ca.pem"), 2, *good[5:])
        with pytest.raises(TypeError):
            core.set_tls(*good[:6])
        with pytest.raises(TypeError):
            core.set_tls(b"/cert.pem", *good[1:])
        with pytest.raises(TypeError, match="paths must be str"):
            core.set_tls(str(pki.cert), 3, *good[2:])
        with pytest.raises(ValueError, match="cert_reqs"):
            core.set_tls(*good[:4], 3, *good[5:])
        with pytest.raises(OverflowError):
            core.set_tls(*good[:4], 1 << 70, *good[5:])
        with pytest.raises(UnicodeEncodeError):
            core.set_tls(*good[:5], "ECDHE+AESGCM\udc80", alpn)
        core.set_tls(*good[:3], str(pki.ca_pem), 2, *good[5:])  # the last good context stays in service
        assert core.stats()["tls_sessions"] == 0
    finally:
        core.close()
        sock.close()


def test_an_idle_tls_connection_gives_its_record_buffers_back(pki: PKI) -> None:  # noqa: F811
    """Busy, a TLS connection keeps OpenSSL's record buffers (about 34 KB; freeing and allocating them around every
    record cost 0.3 us a request); idle for a whole tick of the core's clock (a second), it gives them back, and its
    next record gets them again. Thousands of idle keep-alive clients hold no buffers."""
    import threading

    from covet._native import UringServer
    from covet.runtime.tls import ALPN_PROTOCOLS, DEFAULT_CIPHERS
    from direct_core import Half, listener, pump

    class Answering(Half):
        def request(self, cid: int, ev: tuple[object, ...]) -> bytes | None:
            self.cids.append(cid)
            return b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"

    sock = listener()
    half = Answering()
    core: UringServer = half.core(sock)
    answers: list[bytes] = []
    go = threading.Event()
    failed: list[BaseException] = []

    def client() -> None:
        try:
            with socket.create_connection(sock.getsockname(), timeout=10) as raw, \
                    pki.trust().wrap_socket(raw, server_hostname="localhost") as tls:
                for _ in range(2):
                    tls.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                    answers.append(read_response_simple(tls, bytearray()))
                    go.wait(10)
                    go.clear()
        except BaseException as exc:  # (said by the test's thread)
            failed.append(exc)

    try:
        alpn = b"".join(bytes([len(p)]) + p.encode() for p in ALPN_PROTOCOLS)
        core.set_tls(str(pki.cert), str(pki.key), None, None, 0, DEFAULT_CIPHERS, alpn)
        thread = threading.Thread(target=client)
        thread.start()
        pump(core, lambda: len(answers) == 1 or bool(failed))
        assert not failed, failed
        assert core.stats()["tls_buffered"] == 1
        core.tick(b"")  # the tick it was busy in has just ended: kept
        pump(core, lambda: True)
        assert core.stats()["tls_buffered"] == 1
        core.tick(b"")
        pump(core, lambda: core.stats()["tls_buffered"] == 0)
        go.set()
        pump(core, lambda: len(answers) == 2 or bool(failed))
        assert not failed, failed
        assert core.stats()["tls_buffered"] == 1 and answers == [answers[0]] * 2
        assert answers[0].endswith(b"\r\n\r\nok")
        go.set()
        pump(core, lambda: not thread.is_alive())
        thread.join(5)
        pump(core, lambda: core.stats()["tls_sessions"] == 0)
    finally:
        core.close()
        sock.close()


def test_set_tls_comes_before_the_first_connection() -> None:
    """A cleartext server does not turn TLS on under connections it has accepted in cleartext."""
    from covet._native import UringServer
    from direct_core import Half, listener, pump

    sock = listener()
    half = Half()
    core: UringServer = half.core(sock)
    try:
        with socket.create_connection(sock.getsockname()) as client:
            client.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            pump(core, lambda: bool(half.cids))
            with pytest.raises(RuntimeError, match="after connections were accepted"):
                core.set_tls("cert.pem", None, None, None, 0, "DEFAULT", b"")
    finally:
        core.close()
        sock.close()
