"""The transport seam holds: the asyncio HTTP/1.1 connection runs unchanged over a TLS transport.

Nothing in ``asyncio_http1`` or the exchange knows about TLS: asyncio's SSL transport decrypts below the
protocol, as a ``MemoryBIO`` layer will below the io_uring core's bytes (docs/internals/architecture.md). A real
client (httpx, verifying the certificate) gets a plain answer, a suspended handler's and a stream's.
"""

from __future__ import annotations

import ast
import asyncio
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvloop

from covet import Covet, StreamingResponse
from covet.runtime.asyncio_http1 import AsyncioHTTP1
from covet.runtime.config import Config
from covet.runtime.state import ServerState


def make_app() -> Covet:
    app = Covet()

    @app.get("/hello")
    def hello() -> str:
        return "hello over TLS"

    @app.get("/later")
    async def later() -> dict[str, str]:
        await asyncio.sleep(0.01)
        return {"at": "later"}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def source() -> AsyncIterator[bytes]:
            for i in range(3):
                await asyncio.sleep(0)
                yield b"part %d;" % i
        return StreamingResponse(source(), media_type="text/plain")

    return app


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    return cert, key


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"uvloop": uvloop.new_event_loop,
                                                             "asyncio": asyncio.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def tls_port(request: pytest.FixtureRequest, certificate: tuple[Path, Path]) -> Iterator[int]:
    """An in-process server of ``AsyncioHTTP1`` connections behind asyncio's TLS, on its own thread and loop."""
    loop = LOOPS[request.param]()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    state = ServerState(make_app().dispatcher(), Config())
    server = loop.run_until_complete(
        loop.create_server(lambda: AsyncioHTTP1(state), "127.0.0.1", 0, ssl=context))
    port: int = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


def test_http1_runs_unchanged_over_tls(tls_port: int, certificate: tuple[Path, Path]) -> None:
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    with httpx.Client(base_url=f"https://127.0.0.1:{tls_port}", verify=trust, timeout=5) as client:
        for _ in range(2):  # the second time on the same kept-alive TLS connection
            r = client.get("/hello")
            assert (r.status_code, r.text, r.http_version) == (200, "hello over TLS", "HTTP/1.1")
        assert client.get("/later").json() == {"at": "later"}
        r = client.get("/stream")
        assert (r.text, r.headers["transfer-encoding"]) == ("part 0;part 1;part 2;", "chunked")


# Who may import whom on the request path. Transports sit at the bottom and are imported only by what starts
# them; the exchange knows no protocol and no transport; a protocol's channel knows no transport. So a request's
# path reads forward (transport, exchange, channel) and the only way back down is the channel's own methods,
# which each transport implements: the seam.
RUNTIME = Path(__file__).resolve().parent.parent / "covet" / "runtime"
TRANSPORTS = {"asyncio_http1", "uring_http1", "asyncio_ws", "uring_ws", "uring_link", "asyncio_h2", "uring_h2",
              "asyncio_conn"}
LAYERS: dict[str, set[str]] = {
    # A WebSocket's life after its 101 knows no transport, no exchange and no HTTP/1.1; its upgrade no transport.
    "ws_session": TRANSPORTS | {"exchange", "h1_response", "server", "ws_upgrade", "state"},
    "ws_upgrade": TRANSPORTS | {"server"},
    # HTTP/2's life knows no transport and no HTTP/1.1; its sans-IO core not even the exchange.
    "h2_session": TRANSPORTS | {"h1_response", "server", "ws_session", "ws_upgrade"},
    "h2_core": TRANSPORTS | {"exchange", "h1_response", "h2_session", "server", "state"},
    "access_record": TRANSPORTS | {"exchange", "h1_response", "h2_session", "server"},
    "exchange": TRANSPORTS | {"h1_response", "server"},
    "h1_response": TRANSPORTS | {"exchange", "server"},
    "state": TRANSPORTS | {"exchange", "h1_response", "server"},
    "streaming": TRANSPORTS | {"exchange", "h1_response", "server"},
    "asyncio_http1": {"uring_http1", "server"},
    "uring_http1": {"asyncio_http1", "server"},
}


def runtime_imports(module: str) -> set[str]:
    """The covet.runtime modules ``module`` imports, at any level (TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse((RUNTIME / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("covet.runtime."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("covet.runtime."))
    return found


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_the_request_path_is_layered(module: str) -> None:
    assert not runtime_imports(module) & LAYERS[module], f"{module} imports a layer above it"


def test_only_the_server_and_the_test_client_start_a_transport() -> None:
    importers = {p.stem for p in RUNTIME.glob("*.py") if runtime_imports(p.stem) & TRANSPORTS} - TRANSPORTS
    assert importers == {"server"}


class _StuckTransport:
    """A transport whose peer reads nothing: close() would wait for it for ever."""

    def __init__(self) -> None:
        self.closed = self.aborted = False

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def test_a_lingering_close_whose_peer_reads_nothing_is_reset_after_the_write_timeout() -> None:
    state = ServerState(make_app().dispatcher(), Config(write_timeout=5))
    conn = AsyncioHTTP1(state)
    stuck = _StuckTransport()
    conn.transport = stuck  # type: ignore[assignment]
    conn.lingering = True
    conn.pause_mark = 100.0
    conn.tick(103.0)
    assert (stuck.closed, stuck.aborted) == (True, False)  # past the linger: closed once the answer is read
    conn.tick(107.5)
    assert stuck.aborted  # the answer was never read: reset, so the descriptor is not held for ever
