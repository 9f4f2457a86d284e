"""TLS on `covet serve` (docs/tls.md): real servers, real clients (httpx, curl, Python's ssl, openssl s_client,
sslyze), interpreted and compiled, on io_uring (its own TLS layer in C), uvloop and asyncio."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography import x509

from conftest import APPS, Server, app_server, build_project, checkout_path, read_response_simple

TLS_TRANSPORTS = [f"{mode}-{loop}" for mode in ("interpreted", "compiled") for loop in ("uring", "uvloop", "asyncio")]
HANDSHAKE_TIMEOUT = 1.0  # --header-timeout, which bounds the TLS handshake too


@dataclasses.dataclass
class PKI:
    """A throwaway CA (RSA, so that RSA key-transport suites could be offered if the server allowed them), and
    files for the server and a client."""

    ca: trustme.CA
    where: Path
    ca_pem: Path
    cert: Path
    key: Path
    client: trustme.LeafCert

    def issue(self, stem: str) -> tuple[Path, Path, int]:
        """A new server certificate for 127.0.0.1 as ``stem``.pem and ``stem``.key, and its serial number."""
        leaf = self.ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
        cert, key = self.where / f"{stem}.pem", self.where / f"{stem}.key"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        return cert, key, x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number

    def trust(self, client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        ctx.set_alpn_protocols(["http/1.1"])
        if client_cert:
            self.client.configure_cert(ctx)
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    where = tmp_path_factory.mktemp("pki")
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    ca_pem = where / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    client = ca.issue_cert("client@example.com", key_type=trustme.KeyType.RSA)
    pki = PKI(ca, where, ca_pem, where / "server.pem", where / "server.key", client)
    pki.issue("server")
    return pki


@pytest.fixture(scope="session")
def built_tlsapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "tlsapp.py")


def tls_flags(pki: PKI, *extra: str) -> tuple[str, ...]:
    return ("--ssl-certfile", str(pki.cert), "--ssl-keyfile", str(pki.key), "--header-timeout",
            str(HANDSHAKE_TIMEOUT), *extra)


@pytest.fixture(scope="module", params=TLS_TRANSPORTS)
def tls_server(request: pytest.FixtureRequest, pki: PKI) -> Iterator[Server]:
    srv = app_server(request, request.param, "tlsapp", "built_tlsapp", *tls_flags(pki))
    yield srv
    code, log = srv.stop()
    assert code == 0, log


def tls_server_loop(srv: Server) -> str:
    """The loop a server of TLS_TRANSPORTS was asked for (``--loop`` is its argv's)."""
    argv = srv.proc.args
    assert isinstance(argv, list)
    return str(argv[argv.index("--loop") + 1])


def serial_of(tls: ssl.SSLSocket) -> int:
    der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def raw_get(tls: ssl.SSLSocket, buf: bytearray, path: str = "/whoami") -> bytes:
    tls.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    return read_response_simple(tls, buf)  # type: ignore[arg-type]


# -- real clients ------------------------------------------------------------------------------------------------


def test_the_server_says_https_and_a_route_sees_it(tls_server: Server, pki: PKI) -> None:
    assert tls_server.url.startswith("https://"), tls_server.log
    assert tls_server.loop == tls_server_loop(tls_server), tls_server.log
    with httpx.Client(base_url=tls_server.url, verify=pki.trust(), timeout=10) as client:
        r = client.get("/whoami")
        assert r.json() == {"scheme": "https", "http_version": "1.1"}
        assert r.http_version == "HTTP/1.1"


def test_websockets_over_tls(tls_server: Server, pki: PKI) -> None:
    """wss:// with the websockets client: the handler sees the scheme, and messages cross TLS records whole, split
    and large (on io_uring the core decrypts, then feeds the frame parser).

    The asyncio client, not the sync one: the sync client reads in a thread while its caller writes on the same
    SSLSocket; when TLS 1.3's session tickets arrived during its opening handshake, its request was sometimes never
    written (strace: no write after its Finished; under load, against io_uring and uvloop alike, about 1 connection
    in 300)."""
    from websockets.asyncio.client import connect

    async def talk() -> None:
        url = tls_server.url.replace("https://", "wss://") + "/ws"
        async with connect(url, ssl=pki.trust(), open_timeout=10, max_size=2**22) as ws:
            assert await asyncio.wait_for(ws.recv(), 10) == "wss"
            for text in ("hi", "é" * 40_000):
                await ws.send(text)
                assert await asyncio.wait_for(ws.recv(), 10) == text
            blob = os.urandom(1_000_000)
            await ws.send(blob)
            assert await asyncio.wait_for(ws.recv(), 10) == blob

    asyncio.run(talk())


def test_httpx_keep_alive_and_a_post_body(tls_server: Server, pki: PKI) -> None:
    body = b"covet-tls" + os.urandom(200_000)  # larger than one TLS record (16 KiB)
    with httpx.Client(base_url=tls_server.url, verify=pki.trust(), timeout=10) as client:
        ports = set()
        for _ in range(3):
            r = client.post("/echo", content=body)
            assert r.json() == {"size": str(len(body)), "head": "covet-tl"}
            ports.add(r.extensions["network_stream"].get_extra_info("client_addr")[1])
        assert len(ports) == 1  # one connection, kept alive


@pytest.mark.parametrize(("flag", "version"), [("--http1.1", "1.1"), ("--http2", "2")])
def test_curl_verifies_against_the_ca(tls_server: Server, pki: PKI, flag: str, version: str) -> None:
    out = subprocess.run(["curl", "-sS", flag, "--cacert", str(pki.ca_pem), "-w",
                          "\n%{http_version} %{ssl_verify_result}", f"{tls_server.url}/whoami"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f'{{"scheme":"https","http_version":"{version}"}}', f"{version} 0"]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_python_ssl_negotiates_tls12_and_13_with_alpn_http11(tls_server: Server, pki: PKI,
                                                             version: ssl.TLSVersion) -> None:
    ctx = pki.trust()
    ctx.minimum_version = ctx.maximum_version = version
    with ctx.wrap_socket(tls_server.connect(), server_hostname="127.0.0.1") as tls:
        assert tls.version() == version.name.replace("_", ".")
        assert tls.selected_alpn_protocol() == "http/1.1"
        cipher, _, _ = tls.cipher()
        if version == ssl.TLSVersion.TLSv1_2:
            assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
        buf = bytearray()
        for _ in range(2):  # keep-alive on the raw TLS socket
            assert raw_get(tls, buf).endswith(b'{"scheme":"https","http_version":"1.1"}')


def test_alpn_without_a_protocol_in_common_selects_nothing(tls_server: Server, pki: PKI) -> None:
    ctx = pki.trust()
    ctx.set_alpn_protocols(["spdy/3"])  # a protocol the server does not speak: no ALPN in its answer
    with ctx.wrap_socket(tls_server.connect(), server_hostname="127.0.0.1") as tls:
        assert tls.selected_alpn_protocol() is None
        assert raw_get(tls, bytearray()).startswith(b"HTTP/1.1 200")


def test_http2_over_tls_by_alpn(tls_server: Server, pki: PKI) -> None:
    """ALPN agrees on h2 with a client that offers it; the route sees HTTP/2 and https, bodies cross TLS records
    whole (httpx; curl: test_curl_verifies_against_the_ca)."""
    ctx = pki.trust()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with ctx.wrap_socket(tls_server.connect(), server_hostname="127.0.0.1") as tls:
        assert tls.selected_alpn_protocol() == "h2"
    with httpx.Client(base_url=tls_server.url, verify=ctx, http2=True, timeout=20) as client:
        r = client.get("/whoami")
        assert (r.http_version, r.json()) == ("HTTP/2", {"scheme": "https", "http_version": "2"})
        assert client.get("/plain").json() == {"plain": "yes"}  # (a route the io_uring core calls directly)
        data = os.urandom(3_000_000)  # past the in-memory limit: the body streams, with flow control
        assert client.post("/count", content=data).json()["sha256"] == hashlib.sha256(data).hexdigest()
        for path in ("/big", "/stream"):
            r = client.get(path, params={"n": 1_000_003})
            assert r.content == random.Random(1_000_003).randbytes(1_000_003)



# -- what is refused ---------------------------------------------------------------------------------------------


def legacy_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers only ``version`` (TLS 1.0 or 1.1), with OpenSSL's own refusal of them lifted."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = version
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_python_ssl_with_old_protocols_is_refused_by_the_server(tls_server: Server, version: ssl.TLSVersion) -> None:
    with pytest.raises(ssl.SSLError) as refused:
        legacy_client(version).wrap_socket(tls_server.connect()).close()
    # The server's refusal (asyncio's and uvloop's TLS close without sending OpenSSL's protocol_version alert),
    # not this client declining to send its hello (NO_PROTOCOLS_AVAILABLE, UNSUPPORTED_PROTOCOL).
    assert isinstance(refused.value, ssl.SSLEOFError) or "ALERT_PROTOCOL_VERSION" in str(refused.value), refused.value
    # The control: the same client, allowed TLS 1.2 as well, is served.
    control = legacy_client(version)
    control.maximum_version = ssl.TLSVersion.TLSv1_2
    with control.wrap_socket(tls_server.connect()) as tls:
        assert tls.version() == "TLSv1.2"


def s_client(server: Server, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "s_client", "-connect", f"{server.host}:{server.port}", *flags],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)


def assert_refused(out: subprocess.CompletedProcess[str], alert: str) -> None:
    """s_client sent its hello and the server refused it: with ``alert``, or by closing at once (asyncio's and
    uvloop's TLS drop a failed handshake without flushing OpenSSL's alert)."""
    said = out.stdout + out.stderr
    assert out.returncode != 0 and "Cipher is (NONE)" in said, said
    assert re.search(r"handshake has read \d+ bytes and written [1-9]\d* bytes", said), said
    assert alert in said or "handshake has read 0 bytes" in said, said


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_openssl_s_client_with_old_protocols_is_refused(tls_server: Server, flag: str) -> None:
    assert_refused(s_client(tls_server, flag, "-cipher", "DEFAULT:@SECLEVEL=0"), "alert protocol version")


# TLS 1.2 suites a client may offer that the server must not take: no forward secrecy (RSA key transport), or
# no AEAD (CBC with HMAC), or both. The first row is the control: a suite that must be taken.
TLS12_SUITES = [
    ("ECDHE-RSA-AES128-GCM-SHA256", True),
    ("ECDHE-RSA-CHACHA20-POLY1305", True),
    ("AES128-GCM-SHA256", False),
    ("AES256-SHA256", False),
    ("AES128-SHA", False),
    ("ECDHE-RSA-AES128-SHA", False),
    ("ECDHE-RSA-AES256-SHA384", False),
    ("DHE-RSA-AES128-SHA256", False),
]


@pytest.mark.parametrize(("suite", "taken"), TLS12_SUITES)
def test_tls12_takes_only_forward_secret_aead_suites(tls_server: Server, suite: str, taken: bool) -> None:
    out = s_client(tls_server, "-tls1_2", "-cipher", f"{suite}:@SECLEVEL=0")
    if taken:
        assert out.returncode == 0 and f"Cipher is {suite}" in out.stdout, out.stdout + out.stderr
    else:
        assert_refused(out, "alert handshake failure")


@pytest.mark.parametrize("transport", ["interpreted-uring", "interpreted-uvloop"])
def test_sslyze_finds_no_old_protocol_and_no_weak_suite(pki: PKI, request: pytest.FixtureRequest,
                                                        transport: str) -> None:
    """A scan with sslyze (its own OpenSSL builds, which still speak SSL 2/3): the context is the same on the
    asyncio loops, and the io_uring core builds its own in C, so one server of each is scanned."""
    from sslyze import ScanCommand, Scanner, ServerNetworkLocation, ServerScanRequest, ServerScanStatusEnum

    srv = app_server(request, transport, "tlsapp", "built_tlsapp", *tls_flags(pki))
    try:
        suites = {ScanCommand.SSL_2_0_CIPHER_SUITES: "ssl_2_0_cipher_suites",
                  ScanCommand.SSL_3_0_CIPHER_SUITES: "ssl_3_0_cipher_suites",
                  ScanCommand.TLS_1_0_CIPHER_SUITES: "tls_1_0_cipher_suites",
                  ScanCommand.TLS_1_1_CIPHER_SUITES: "tls_1_1_cipher_suites",
                  ScanCommand.TLS_1_2_CIPHER_SUITES: "tls_1_2_cipher_suites",
                  ScanCommand.TLS_1_3_CIPHER_SUITES: "tls_1_3_cipher_suites"}
        scanner = Scanner()
        where = ServerNetworkLocation(hostname="localhost", port=srv.port, ip_address=srv.host)
        scanner.queue_scans([ServerScanRequest(server_location=where, scan_commands=set(suites))])
        (result,) = list(scanner.get_results())
        assert result.scan_status == ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
        assert result.scan_result is not None
        accepted = {}
        for attr in suites.values():
            attempt = getattr(result.scan_result, attr)
            assert attempt.result is not None, (attr, attempt.error_trace)
            accepted[attr] = [s.cipher_suite.name for s in attempt.result.accepted_cipher_suites]
    finally:
        code, log = srv.stop()
        assert code == 0, log
    assert not any(accepted[k] for k in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
                                         "tls_1_1_cipher_suites")), accepted
    assert accepted["tls_1_2_cipher_suites"] and accepted["tls_1_3_cipher_suites"], accepted
    for name in accepted["tls_1_2_cipher_suites"]:
        assert name.startswith("TLS_ECDHE_") and ("_GCM_" in name or "CHACHA20_POLY1305" in name), name


# -- misbehaving clients -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello", b"\x00" * 600])
def test_garbage_instead_of_a_client_hello_is_dropped_quietly(tls_server: Server, pki: PKI, garbage: bytes) -> None:
    before = len(tls_server.lines)
    with tls_server.connect() as sock:
        sock.sendall(garbage)
        sock.settimeout(5)
        try:
            while sock.recv(4096):  # an alert at most, then the close
                pass
        except ConnectionResetError:
            pass
    with httpx.Client(base_url=tls_server.url, verify=pki.trust(), timeout=10) as client:
        assert client.get("/whoami").status_code == 200
    said = [line for line in tls_server.lines[before:] if not line.startswith("INFO:")]  # the access log's GET
    assert len(said) <= 1, said


def test_a_client_that_never_handshakes_is_closed_after_the_handshake_timeout(tls_server: Server, pki: PKI) -> None:
    with tls_server.connect(timeout=HANDSHAKE_TIMEOUT + 5) as idle:
        started = time.monotonic()
        # Others are served meanwhile.
        with httpx.Client(base_url=tls_server.url, verify=pki.trust(), timeout=10) as client:
            assert client.get("/whoami").status_code == 200
        try:
            assert idle.recv(4096) == b""
        except ConnectionResetError:
            pass
        waited = time.monotonic() - started
    assert HANDSHAKE_TIMEOUT * 0.8 <= waited < HANDSHAKE_TIMEOUT + 3, waited


@pytest.mark.parametrize("transport", TLS_TRANSPORTS)
def test_sigterm_does_not_wait_for_idle_tls_clients(request: pytest.FixtureRequest, pki: PKI, transport: str) -> None:
    """An idle keep-alive client never answers the server's close_notify, and one mid-handshake never finishes:
    neither holds up the exit (the graceful timeout is 10 s), and nothing is logged."""
    srv = app_server(request, transport, "tlsapp", "built_tlsapp", *tls_flags(pki))
    with pki.trust().wrap_socket(srv.connect(), server_hostname="127.0.0.1") as idle, srv.connect() as silent:
        assert raw_get(idle, bytearray()).startswith(b"HTTP/1.1 200")
        silent.sendall(b"\x16\x03\x01")  # a ClientHello's first bytes, and no more
        time.sleep(0.2)
        started = time.monotonic()
        code, log = srv.stop()
        # Well under the graceful timeout: io_uring closes an idle connection once it has been idle for a tick or
        # two (uring_http1.c, DRAIN_IDLE_TICKS), which with an ASan build's slower exit came to 3.05 s.
        assert code == 0 and time.monotonic() - started < 5, log
    quiet = ("INFO:", "covet: serving ", "covet: io_uring ring")  # the access log, and the start-up lines
    said = [line for line in log.splitlines() if not line.startswith(quiet)]
    assert said == ["covet: shutting down"], log


# -- client certificates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TLS_TRANSPORTS)
def test_client_certificate_required(request: pytest.FixtureRequest, pki: PKI, transport: str) -> None:
    srv = app_server(request, transport, "tlsapp", "built_tlsapp",
                     *tls_flags(pki, "--ssl-ca-certs", str(pki.ca_pem), "--ssl-cert-reqs", "required"))
    try:
        with httpx.Client(base_url=srv.url, verify=pki.trust(), timeout=10) as anonymous:
            with pytest.raises(httpx.TransportError):
                anonymous.get("/whoami")
        # A certificate from another CA is refused as well.
        stranger = trustme.CA().issue_cert("stranger@example.com")
        ctx = pki.trust()
        stranger.configure_cert(ctx)
        with httpx.Client(base_url=srv.url, verify=ctx, timeout=10) as strange:
            with pytest.raises(httpx.TransportError):
                strange.get("/whoami")
        with httpx.Client(base_url=srv.url, verify=pki.trust(client_cert=True), timeout=10) as known:
            assert known.get("/whoami").json()["scheme"] == "https"
    finally:
        code, log = srv.stop()
        assert code == 0, log


@pytest.mark.parametrize("transport", ["interpreted-uring", "interpreted-asyncio"])
def test_client_certificate_optional_serves_both(request: pytest.FixtureRequest, pki: PKI, transport: str) -> None:
    srv = app_server(request, transport, "tlsapp", "built_tlsapp",
                     *tls_flags(pki, "--ssl-ca-certs", str(pki.ca_pem), "--ssl-cert-reqs", "optional"))
    try:
        for with_cert in (False, True):
            with httpx.Client(base_url=srv.url, verify=pki.trust(client_cert=with_cert), timeout=10) as client:
                assert client.get("/whoami").status_code == 200
    finally:
        code, log = srv.stop()
        assert code == 0, log


# -- certificate reload on SIGHUP ---------------------------------------------------------------------------------


def wait_for(srv: Server, text: str, after: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in srv.lines[after:]):
        assert time.monotonic() < deadline, f"no {text!r} in:\n{srv.log}"
        time.sleep(0.02)


@pytest.mark.parametrize("transport", TLS_TRANSPORTS)
def test_sighup_reloads_the_certificate_for_new_connections(request: pytest.FixtureRequest, pki: PKI,
                                                           transport: str) -> None:
    cert, key, first = pki.issue(f"reload-{transport}")
    srv = app_server(request, transport, "tlsapp", "built_tlsapp", "--ssl-certfile", str(cert), "--ssl-keyfile",
                     str(key))
    ctx = pki.trust()
    try:
        with ctx.wrap_socket(srv.connect(), server_hostname="127.0.0.1") as old:
            buf = bytearray()
            assert serial_of(old) == first
            assert raw_get(old, buf).startswith(b"HTTP/1.1 200")

            # New files in place (as certbot's renewal does), then SIGHUP.
            new_cert, new_key, second = pki.issue("renewed")
            os.replace(new_cert, cert)
            os.replace(new_key, key)
            mark = len(srv.lines)
            srv.proc.send_signal(signal.SIGHUP)
            wait_for(srv, "TLS certificate reloaded", mark)
            with ctx.wrap_socket(srv.connect(), server_hostname="127.0.0.1") as fresh:
                assert serial_of(fresh) == second
                assert raw_get(fresh, bytearray()).startswith(b"HTTP/1.1 200")
            # The connection made before the reload goes on, on its own certificate.
            assert raw_get(old, buf).startswith(b"HTTP/1.1 200")

            # A bad renewal (a key that does not match) is refused; the certificate in service stays.
            _, other_key, _ = pki.issue("mismatched")
            os.replace(other_key, key)
            mark = len(srv.lines)
            srv.proc.send_signal(signal.SIGHUP)
            wait_for(srv, "TLS reload failed", mark)
            assert "does not match" in srv.log
            with ctx.wrap_socket(srv.connect(), server_hostname="127.0.0.1") as after_bad:
                assert serial_of(after_bad) == second
                assert raw_get(after_bad, bytearray()).startswith(b"HTTP/1.1 200")
            assert raw_get(old, buf).startswith(b"HTTP/1.1 200")
    finally:
        code, log = srv.stop()
        assert code == 0, log


@pytest.mark.parametrize("transport", TLS_TRANSPORTS)
def test_sighup_reloads_the_client_ca_too(request: pytest.FixtureRequest, pki: PKI, tmp_path: Path,
                                          transport: str) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    clients = tmp_path / "clients.pem"
    old_ca.cert_pem.write_to_path(str(clients))
    srv = app_server(request, transport, "tlsapp", "built_tlsapp",
                     *tls_flags(pki, "--ssl-ca-certs", str(clients), "--ssl-cert-reqs", "required"))

    def status(issuer: trustme.CA) -> int | str:
        ctx = pki.trust()
        issuer.issue_cert("client@example.com").configure_cert(ctx)
        try:
            with httpx.Client(verify=ctx, timeout=10) as client:
                return client.get(f"{srv.url}/whoami").status_code
        except httpx.TransportError:
            return "refused"

    try:
        assert (status(old_ca), status(new_ca)) == (200, "refused")
        new_ca.cert_pem.write_to_path(str(clients))
        mark = len(srv.lines)
        srv.proc.send_signal(signal.SIGHUP)
        wait_for(srv, "TLS certificate reloaded", mark)
        assert (status(old_ca), status(new_ca)) == ("refused", 200)
    finally:
        code, log = srv.stop()
        assert code == 0, log


# -- io_uring, the CLI's other forms, and bad input --------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=checkout_path(APPS))
    return subprocess.run([sys.executable, "-m", "covet", "serve", "tlsapp:app", "--port", "0", *args], cwd=APPS,
                          env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_loop_auto_with_tls_takes_io_uring(pki: PKI) -> None:
    srv = Server("tlsapp:app", "auto", *tls_flags(pki), cwd=APPS)
    try:
        assert srv.loop == "uring" and srv.url.startswith("https://"), srv.log
        assert not any("does not serve TLS" in line or "using uvloop" in line for line in srv.lines), srv.log
        with httpx.Client(base_url=srv.url, verify=pki.trust(), timeout=10) as client:
            assert client.get("/whoami").json()["scheme"] == "https"
    finally:
        code, log = srv.stop()
        assert code == 0, log


@pytest.mark.parametrize("loop", ["uring", "asyncio"])
@pytest.mark.parametrize("form", ["key in the certificate file", "encrypted key with its password"])
def test_other_forms_of_key(pki: PKI, bad_files: dict[str, Path], tmp_path: Path, form: str, loop: str) -> None:
    if form == "key in the certificate file":
        both = tmp_path / "both.pem"
        both.write_bytes(pki.cert.read_bytes() + pki.key.read_bytes())
        flags: tuple[str, ...] = ("--ssl-certfile", str(both))
    else:
        flags = ("--ssl-certfile", str(pki.cert), "--ssl-keyfile", str(bad_files["encrypted"]),
                 "--ssl-keyfile-password", "right")
    srv = Server("tlsapp:app", loop, *flags, cwd=APPS)
    try:
        with httpx.Client(base_url=srv.url, verify=pki.trust(), timeout=10) as client:
            assert client.get("/whoami").json()["scheme"] == "https"
    finally:
        code, log = srv.stop()
        assert code == 0, log


@pytest.fixture(scope="module")
def bad_files(pki: PKI) -> dict[str, Path]:
    from cryptography.hazmat.primitives import serialization

    where = pki.where
    _, other_key, _ = pki.issue("other")
    key = serialization.load_pem_private_key(pki.key.read_bytes(), None)
    encrypted = where / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"right")))
    junk = where / "junk.pem"
    junk.write_text("not a certificate\n")
    unreadable = where / "unreadable.pem"
    unreadable.write_bytes(pki.ca_pem.read_bytes())
    unreadable.chmod(0)
    return {"other_key": other_key, "encrypted": encrypted, "junk": junk, "unreadable": unreadable}


BAD_INPUT = {
    "missing certificate": (["--ssl-certfile", "{where}/missing.pem", "--ssl-keyfile", "{key}"],
                            "cannot read --ssl-certfile"),
    "key does not match": (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{other_key}"], "does not match"),
    "encrypted key, no password": (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{encrypted}"],
                                   "give --ssl-keyfile-password"),
    "wrong password": (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{encrypted}", "--ssl-keyfile-password",
                        "wrong"], "wrong --ssl-keyfile-password"),
    "missing CA file": (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-ca-certs",
                         "{where}/missing-ca.pem"], "cannot load --ssl-ca-certs"),
    "unreadable CA file": (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-ca-certs", "{unreadable}"],
                           "cannot load --ssl-ca-certs"),
    "CA file of junk": (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-ca-certs", "{junk}"],
                        "cannot load --ssl-ca-certs"),
    "certificate file of junk": (["--ssl-certfile", "{junk}", "--ssl-keyfile", "{key}"], "holds no PEM certificate"),
    "required without a CA": (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-cert-reqs", "required"],
                              "give --ssl-ca-certs"),
    "a key without a certificate": (["--ssl-keyfile", "{key}"], "--ssl-keyfile needs --ssl-certfile"),
    "ciphers that select nothing": (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-ciphers", "NOPE"],
                                    "selects no cipher"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_tls_input_is_one_line_and_exit_2(pki: PKI, bad_files: dict[str, Path], case: str) -> None:
    if case == "unreadable CA file" and os.geteuid() == 0 and os.access(bad_files["unreadable"], os.R_OK):
        # root reads a file of mode 000; a directory is as unreadable as a CA file, for root too.
        bad_files = {**bad_files, "unreadable": pki.where}
    args, expected = BAD_INPUT[case]
    names = {"where": pki.where, "cert": pki.cert, "key": pki.key, **bad_files}
    out = run_cli(*(a.format(**names) for a in args))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("covet: error: ") and expected in lines[0], out.stderr
    assert "Traceback" not in out.stderr

