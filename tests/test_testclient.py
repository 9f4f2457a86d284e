"""covet.testclient.TestClient: httpx's API, answered in process by the server's own HTTP/1.1 code.

The apps are real (tests/apps/forms.py for forms and uploads, and a small one here); the client is httpx's, so
what is under test is the transport: requests as bytes, responses parsed back, the loop in its thread, the
lifespan, after-response work, and exceptions raised in the test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest

from covet import (
    BackgroundTasks,
    Covet,
    Depends,
    Header,
    HTTPError,
    PlainTextResponse,
    RedirectResponse,
    Request,
    StreamingResponse,
)
from covet._inprocess import HIGH_WATER
from covet.runtime.config import Config
from covet.testclient import TestClient

APPS = Path(__file__).resolve().parent / "apps"

app = Covet()
events: list[str] = []
arrivals: list[int] = []
all_here = asyncio.Event()
stream_closed: list[str] = []


@app.on_startup
async def started() -> None:
    events.append("startup")


@app.on_shutdown
def stopped() -> None:
    events.append("shutdown")


@app.get("/echo")
async def echo(request: Request, q: list[str] | None = None) -> dict[str, object]:
    return {
        "q": q or [],
        "host": request.headers.get("host"),
        "user_agent": request.headers.get("user-agent"),
        "client": list(request.client or ()),
        "url": str(request.url),
        "scheme": request.scheme,
        "root_path": request.root_path,
        "x": request.headers.get("x-thing"),
    }


@app.post("/json")
def post_json(item: dict[str, int]) -> dict[str, int]:
    return {k: v * 2 for k, v in item.items()}


@app.put("/body")
async def put_body(request: Request) -> dict[str, object]:
    body = await request.body()
    return {"size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "chunked": request.headers.get("transfer-encoding")}


@app.get("/whoami")
def whoami(authorization: Annotated[str, Header()] = "") -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise HTTPError(401, "basic auth, please", headers={"www-authenticate": "Basic"})
    user, _, _password = base64.b64decode(token).decode().partition(":")
    return user


@app.get("/cookies/set")
def set_cookies() -> PlainTextResponse:
    resp = PlainTextResponse("set")
    resp.set_cookie("a", "1")
    resp.set_cookie("b", "two words")
    return resp


@app.get("/cookies/read")
def read_cookies(request: Request) -> dict[str, str]:
    return request.cookies


@app.get("/cookies/drop")
def drop_cookie() -> PlainTextResponse:
    resp = PlainTextResponse("dropped")
    resp.delete_cookie("a")
    return resp


@app.get("/old")
def old() -> RedirectResponse:
    return RedirectResponse("/echo?q=moved")


@app.get("/later")
def later(tasks: BackgroundTasks, what: str) -> str:
    tasks.add_task(slow_sync, what)
    tasks.add_task(slow_async, what)
    return "answered"


def slow_sync(what: str) -> None:
    time.sleep(0.2)  # in the loop's thread pool
    events.append(f"sync {what}")


async def slow_async(what: str) -> None:
    await asyncio.sleep(0.2)
    events.append(f"async {what}")


async def held() -> AsyncIterator[str]:
    try:
        yield "held"
    finally:
        await asyncio.sleep(0.2)
        events.append("released")


@app.get("/held")
async def with_held(h: Annotated[str, Depends(held)]) -> str:
    return h


@app.get("/later/fails")
def later_fails(tasks: BackgroundTasks) -> str:
    tasks.add_task(failing_task)
    return "answered"


def failing_task() -> None:
    raise LookupError("the background task failed")


class Count:
    """``n`` chunks of text, or endless with ``n`` < 0 (noting when it is closed)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.i = 0

    def __aiter__(self) -> Count:
        return self

    async def __anext__(self) -> bytes:
        if self.i == self.n:
            raise StopAsyncIteration
        self.i += 1
        await asyncio.sleep(0)
        return b"chunk %d\n" % self.i

    async def aclose(self) -> None:
        stream_closed.append(f"closed after {self.i}")


async def endless() -> AsyncIterator[bytes]:
    i = 0
    try:
        while True:
            i += 1
            yield b"x" * 1000
            await asyncio.sleep(0)
    finally:
        stream_closed.append(f"closed after {i}")


@app.get("/stream")
def stream(n: int = 3) -> StreamingResponse:
    return StreamingResponse(Count(n), media_type="text/plain")


@app.get("/endless")
def endless_stream() -> StreamingResponse:
    return StreamingResponse(endless(), media_type="application/octet-stream")


async def breaking() -> AsyncIterator[bytes]:
    yield b"first\n"
    await asyncio.sleep(0)
    raise OSError("the stream broke")


@app.get("/breaks")
def breaks() -> StreamingResponse:
    return StreamingResponse(breaking(), media_type="text/plain")


@app.get("/boom")
def boom() -> str:
    raise ValueError("sync failure on purpose")


@app.get("/aboom")
async def aboom() -> str:
    await asyncio.sleep(0)
    raise KeyError("async failure on purpose")


@app.get("/teapot")
def teapot() -> str:
    raise HTTPError(418, "an HTTPError is an answer, not a failure")


@app.get("/gather")
async def gather(n: int) -> int:
    """Answers once ``n`` requests are here at once: proof that they run concurrently."""
    arrivals.append(1)
    if len(arrivals) >= n:
        all_here.set()
    await asyncio.wait_for(all_here.wait(), 10)
    return len(arrivals)


@app.get("/slow")
async def slow() -> str:
    await asyncio.sleep(0.1)
    return "slow"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_query_headers_and_what_the_app_sees(client: TestClient) -> None:
    r = client.get("/echo", params=[("q", "a"), ("q", "b c")], headers={"x-thing": "yes"})
    assert r.status_code == 200
    assert r.json() == {
        "q": ["a", "b c"], "host": "testserver", "user_agent": "testclient", "client": ["testclient", 50000],
        "url": "http://testserver/echo?q=a&q=b+c", "scheme": "http", "root_path": "", "x": "yes",
    }
    assert r.headers["server"] == "covet" and r.headers["content-type"] == "application/json"
    assert r.http_version == "HTTP/1.1" and r.reason_phrase == "OK"


def test_json_body_and_validation(client: TestClient) -> None:
    assert client.post("/json", json={"a": 1, "b": 2}).json() == {"a": 2, "b": 4}
    r = client.post("/json", json={"a": "not a number"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "a"]


def test_content_bytes_and_a_chunked_request_body(client: TestClient) -> None:
    body = bytes(range(256)) * 1000  # more than one piece: fed to the server in several reads
    r = client.put("/body", content=body)
    assert r.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest(), "chunked": None}

    def pieces() -> Iterator[bytes]:  # no length: httpx sends it chunked
        yield b"abc"
        yield b""
        yield b"def" * 1000

    r = client.put("/body", content=pieces())
    assert r.json() == {"size": 3003, "sha256": hashlib.sha256(b"abc" + b"def" * 1000).hexdigest(),
                        "chunked": "chunked"}


@pytest.fixture(scope="module")
def forms_client() -> Iterator[TestClient]:
    sys.path.insert(0, str(APPS))
    try:
        from forms import app as forms_app
    finally:
        sys.path.remove(str(APPS))
    with TestClient(forms_app) as c:
        yield c


def test_form_data(forms_client: TestClient) -> None:
    r = forms_client.post("/login", data={"username": "ada", "age": "36", "tag": ["x", "y"]})
    assert r.json() == {"username": "ada", "age": 36, "tags": ["x", "y"]}
    r = forms_client.post("/login", data={"username": "a"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]


def test_file_uploads(forms_client: TestClient) -> None:
    doc = b"%PDF-1.7 " + bytes(range(256)) * 100
    r = forms_client.post(
        "/upload",
        files=[("doc", ("report.pdf", doc, "application/pdf")), ("extra", ("a.txt", b"a")), ("extra", ("b.txt", b"b"))],
        data={"note": "quarterly"},
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["filename"], got["content_type"], got["size"], got["sha256"], got["note"], got["extra"]) == (
        "report.pdf", "application/pdf", len(doc), hashlib.sha256(doc).hexdigest(), "quarterly", ["a.txt", "b.txt"])


def test_an_upload_larger_than_memory_streams_in(forms_client: TestClient) -> None:
    """Past max_body the route reads the body as it arrives, and the server pauses reading while it has enough
    unread: the client feeds it in pieces and waits, as a socket would."""
    big = b"0123456789abcdef" * (6 << 16)  # 6 MiB
    r = forms_client.post("/slow", content=big)
    assert r.json() == {"size": len(big)}
    r = forms_client.post("/raw", content=big)
    assert r.json()["size"] == len(big) and r.json()["sha256"] == hashlib.sha256(big).hexdigest()
    assert r.json()["pieces"] > 1


def test_basic_auth(client: TestClient) -> None:
    assert client.get("/whoami", auth=("ada", "secret")).text == "ada"
    r = client.get("/whoami")
    assert (r.status_code, r.headers["www-authenticate"]) == (401, "Basic")
    with TestClient(app, base_url="http://testserver") as c:
        c.auth = ("grace", "pw")  # the client's own auth, for every request
        assert c.get("/whoami").text == "grace"


def test_cookies_the_app_sets_are_kept_in_the_jar(client: TestClient) -> None:
    r = client.get("/cookies/set")
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/; SameSite=Lax", 'b="two words"; Path=/; SameSite=Lax']
    assert dict(client.cookies) == {"a": "1", "b": '"two words"'}
    assert client.get("/cookies/read").json() == {"a": "1", "b": "two words"}
    client.get("/cookies/drop")
    assert client.get("/cookies/read").json() == {"b": "two words"}
    with TestClient(app, cookies={"c": "given"}) as c:
        assert c.get("/cookies/read").json() == {"c": "given"}


def test_redirects_are_followed_unless_asked_not_to(client: TestClient) -> None:
    r = client.get("/old")
    assert r.status_code == 200 and r.json()["q"] == ["moved"]
    assert [h.status_code for h in r.history] == [307] and r.url == "http://testserver/echo?q=moved"
    r = client.get("/old", follow_redirects=False)
    assert (r.status_code, r.headers["location"], r.is_redirect) == (307, "/echo?q=moved", True)
    with TestClient(app, follow_redirects=False) as c:
        assert c.get("/old").status_code == 307


def test_base_url_sets_host_scheme_and_prefix() -> None:
    with TestClient(app, base_url="https://example.org:8443") as c:
        got = c.get("/echo").json()
        assert (got["host"], got["scheme"], got["url"]) == ("example.org:8443", "https", "https://example.org:8443/echo")
        # The client may be relative to a path, as httpx's is.
        c.base_url = httpx.URL("https://example.org:8443/ec")
        assert c.get("ho").status_code == 404  # (/ec/ho)


def test_root_path_and_client_address() -> None:
    with TestClient(app, root_path="/v1", client=("10.1.2.3", 4567)) as c:
        got = c.get("/echo").json()
        assert (got["root_path"], got["client"], got["url"]) == ("/v1", ["10.1.2.3", 4567], "http://testserver/v1/echo")


def test_lifespan_runs_under_with_and_not_without() -> None:
    events.clear()
    plain = TestClient(app)
    assert plain.get("/echo").status_code == 200
    plain.close()
    assert events == []  # Starlette's behaviour: no lifespan without `with`
    with TestClient(app) as c:
        assert events == ["startup"]
        c.get("/echo")
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]


def test_a_failing_start_up_hook_fails_the_with() -> None:
    broken = Covet()

    @broken.on_startup
    def cannot_start() -> None:
        raise RuntimeError("no database")

    c = TestClient(broken)
    with pytest.raises(RuntimeError, match="no database"):
        c.__enter__()
    assert c._server.portal is None  # its loop was stopped


def test_background_tasks_are_done_when_the_request_returns(client: TestClient) -> None:
    events.clear()
    assert client.get("/later", params={"what": "x"}).text == "answered"
    assert events == ["sync x", "async x"]


def test_dependency_clean_up_is_done_when_the_request_returns(client: TestClient) -> None:
    events.clear()
    assert client.get("/held").text == "held"
    assert events == ["released"]


def test_a_streaming_response_is_read_as_it_comes(client: TestClient) -> None:
    with client.stream("GET", "/stream", params={"n": 4}) as r:
        assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked"
        assert list(r.iter_lines()) == ["chunk 1", "chunk 2", "chunk 3", "chunk 4"]
    assert client.get("/stream").text == "chunk 1\nchunk 2\nchunk 3\n"


def test_an_endless_stream_is_closed_when_the_test_stops_reading(client: TestClient) -> None:
    stream_closed.clear()
    with client.stream("GET", "/endless") as r:
        # While the test does not read, the server is paused: what waits unread stays bounded.
        time.sleep(0.3)
        transport = getattr(r.stream, "_stream", r.stream).transport  # (httpx wraps the transport's stream)
        assert transport.paused and transport.written - transport.taken < 2 * HIGH_WATER
        got = 0
        for piece in r.iter_raw():
            got += len(piece)
            if got > 1 << 20:  # past what the server may write ahead unread
                break
    deadline = time.monotonic() + 5
    while not stream_closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream_closed and stream_closed[0].startswith("closed after")
    assert client.get("/echo").status_code == 200  # the client goes on


def test_head_answers_the_head_alone(client: TestClient) -> None:
    r = client.head("/echo")
    assert (r.status_code, r.content) == (200, b"")
    assert int(r.headers["content-length"]) == len(client.get("/echo").content)
    r = client.head("/stream")
    assert (r.status_code, r.content) == (200, b"")


def test_server_exceptions_are_raised_in_the_test(client: TestClient) -> None:
    with pytest.raises(ValueError, match="sync failure on purpose"):
        client.get("/boom")
    with pytest.raises(KeyError, match="async failure on purpose"):
        client.get("/aboom")
    with pytest.raises(LookupError, match="the background task failed"):
        client.get("/later/fails")
    r = client.get("/teapot")  # an HTTPError is the app's answer
    assert (r.status_code, r.json()) == (418, {"detail": "an HTTPError is an answer, not a failure"})
    assert client.get("/echo").status_code == 200


def test_a_stream_that_fails_midway(client: TestClient) -> None:
    """Its head is sent: the test sees the app's exception (Starlette's client too), or else a response cut short,
    never one that looks complete."""
    with pytest.raises(OSError, match="the stream broke"):
        client.get("/breaks")
    with TestClient(app, raise_server_exceptions=False) as c, c.stream("GET", "/breaks") as r:
        assert r.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            r.read()


def test_server_exceptions_are_raised_after_a_logging_configuration(client: TestClient) -> None:
    """An app's logging set-up that replaces the covet logger's handlers does not silence the client."""
    import logging.config

    covet_logger = logging.getLogger("covet")
    saved = covet_logger.handlers[:]
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,
                               "handlers": {"null": {"class": "logging.NullHandler"}},
                               "loggers": {"covet": {"handlers": ["null"], "level": "INFO"}}})
    try:
        with pytest.raises(ValueError, match="sync failure on purpose"):
            client.get("/boom")
    finally:
        covet_logger.handlers[:] = saved
        covet_logger.setLevel(logging.NOTSET)


def test_server_exceptions_answer_500_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
        assert (r.status_code, r.text) == (500, "Internal Server Error")
        assert c.get("/aboom").status_code == 500
        assert c.get("/later/fails").text == "answered"
    assert "sync failure on purpose" in caplog.text  # logged as a server logs it
    assert "the background task failed" in caplog.text


def test_on_uvloop() -> None:
    events.clear()
    with TestClient(app, backend_options={"use_uvloop": True}) as c:
        assert type(c._server.portal.loop).__module__.startswith("uvloop")  # type: ignore[union-attr]
        assert c.get("/later", params={"what": "u"}).text == "answered"
        assert events[-2:] == ["sync u", "async u"]
        with pytest.raises(KeyError):
            c.get("/aboom")
        assert c.get("/stream").text == "chunk 1\nchunk 2\nchunk 3\n"


def test_backends_other_than_asyncio_are_refused() -> None:
    with pytest.raises(ValueError, match="asyncio only"):
        TestClient(app, backend="trio")
    with pytest.raises(ValueError, match="use_uvloop"):
        TestClient(app, backend_options={"loop_factory": None})


def test_several_clients_at_once() -> None:
    other = Covet()

    @other.get("/echo")
    def other_echo() -> str:
        return "other"

    with TestClient(app) as a, TestClient(other) as b, TestClient(app, base_url="http://second") as c:
        for _ in range(3):
            assert a.get("/echo").json()["host"] == "testserver"
            assert b.get("/echo").text == "other"
            assert c.get("/echo").json()["host"] == "second"
        threads = {x._server.portal.thread for x in (a, b, c) if x._server.portal is not None}
        assert len(threads) == 3  # a loop each


def test_a_client_used_from_several_threads(client: TestClient) -> None:
    """Requests from 8 threads run on the client's loop at once: each waits until all 8 have arrived."""
    global all_here
    arrivals.clear()
    all_here = asyncio.Event()  # (an Event is bound to the first loop that waits on it)
    results: list[object] = []

    def one() -> None:
        try:
            results.append(client.get("/gather", params={"n": 8}).json())
        except Exception as exc:  # (reported by the assert below)
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == [8] * 8


def test_timeouts_are_ignored_as_starlette_does(client: TestClient) -> None:
    assert client.get("/slow", timeout=0.001).text == "slow"


def test_a_header_with_a_line_break_is_refused_before_it_is_sent(client: TestClient) -> None:
    with pytest.raises(httpx.LocalProtocolError):
        client.get("/echo", headers={"x-thing": "a\r\nset-cookie: evil=1"})


def test_close_stops_the_loop_and_its_thread() -> None:
    c = TestClient(app)
    c.get("/echo")
    portal = c._server.portal
    assert portal is not None and portal.thread.is_alive()
    c.close()
    assert not portal.thread.is_alive() and portal.loop.is_closed()


def test_a_client_dropped_without_close_stops_its_loop() -> None:
    import gc

    c = TestClient(app)
    c.get("/echo")
    portal = c._server.portal
    assert portal is not None
    del c
    gc.collect()
    portal.thread.join(5)
    assert not portal.thread.is_alive()


def test_the_client_cannot_be_called_from_its_own_loop() -> None:
    inner = Covet()
    holder: list[TestClient] = []

    @inner.get("/self", inline=True)  # on the loop: a def handler in the pool may call the client
    def call_self() -> str:
        holder[0].get("/self")
        return "unreachable"

    with TestClient(inner) as c:
        holder.append(c)
        with pytest.raises(RuntimeError, match="its application's own event loop"):
            c.get("/self")


def test_raw_bytes_reach_the_parser_as_sent(client: TestClient) -> None:
    [r] = client.raw(b"GET /echo/../echo HTTP/1.1\r\nhost: testserver\r\n\r\n")
    assert r.status_code == 400
    [r1, r2] = client.raw(b"GET /echo HTTP/1.1\r\nhost: a\r\n\r\nGET /echo?q=2 HTTP/1.1\r\nhost: b\r\n\r\n",
                          responses=2)
    assert (r1.json()["host"], r2.json()["q"]) == ("a", ["2"])


def test_the_servers_timeouts_run_on_its_ticker() -> None:
    """config= sets the server's limits; its one-second ticker runs in process too (timeouts, the Date header)."""
    with TestClient(app, config=Config(body_timeout=1.0, max_body=100)) as c:
        started = time.monotonic()
        [r] = c.raw(b'POST /json HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n{"a"', timeout=10)
        assert r.status_code == 408 and time.monotonic() - started < 5
        assert c.post("/json", json={"a": "1" * 200}).status_code == 413
        first = c.get("/echo").headers["date"]
        time.sleep(1.1)
        assert c.get("/echo").headers["date"] != first


def test_the_old_import_path_still_works() -> None:
    from covet import testclient, testing

    assert testing.TestClient is testclient.TestClient
