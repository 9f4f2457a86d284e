"""gRPC beside REST on one port (issue 18): grpclib services served by CovetPy, called by grpcio's Python client,
through gRPC's interop cases (doc/interop-test-descriptions.md in gRPC's repository), on every loop, with the server's
runtime interpreted and compiled.

The .proto (tests/grpc/interop.proto) is compiled at test time by grpcio-tools: grpclib's stubs for the server
(tests/apps/grpc_app.py), grpcio's for the client.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import grpc
from conftest import APPS, TRANSPORTS, Server, built_once, checkout_path
from covet import Response

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("grpcgen")
    plugin = Path(sys.executable).parent / "protoc-gen-grpclib_python"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE / 'grpc'}", f"--python_out={out}",
                    f"--grpc_python_out={out}", f"--grpclib_python_out={out}",
                    f"--plugin=protoc-gen-grpclib_python={plugin}", str(HERE / "grpc" / "interop.proto")],
                   check=True, capture_output=True, timeout=60)
    return out


@pytest.fixture(scope="session")
def built_grpc(tmp_path_factory: pytest.TempPathFactory, gen: Path) -> Path:
    """tests/apps/grpc_app.py and its generated modules as a project, compiled with `covet build`. The modules have
    no .pyi (protoc's --pyi_out): the build reads their messages as Any, and says so."""

    def make(proj: Path) -> None:
        for app in ("grpc_app.py", "grpc_typed.py", "grpc_typed_deps.py", "grpc_typed_streams.py"):
            shutil.copy(APPS / app, proj)
        for path in gen.glob("*.py"):
            shutil.copy(path, proj)
        env = dict(os.environ, PYTHONPATH=checkout_path(proj), COVET_TEST_GRPC_GEN=str(proj))
        out = subprocess.run([sys.executable, "-m", "covet", "build", "grpc_app:app"], cwd=proj, env=env,
                             capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "note: interop_pb2 has no type stubs" in out.stderr, out.stderr
        # (grpc_typed's 3 typed methods and grpc_typed_streams' 2: async generators, lifted out and interpreted.)
        assert "built 4 routes and 14 gRPC methods" in out.stderr, out.stderr

    return built_once(tmp_path_factory, "built-grpc", make)


@pytest.fixture(scope="module", params=TRANSPORTS)
def srv(request: pytest.FixtureRequest, gen: Path) -> Iterator[Server]:
    mode, loop = request.param.split("-")
    if mode == "compiled":  # the app's services compiled by `covet build`, on the compiled runtime
        built = request.getfixturevalue("built_grpc")
        server = Server("grpc_app:app", loop, "--body-timeout", "2", "--metrics", "--compiled", "require",
                        cwd=built, env_extra={"COVET_TEST_GRPC_GEN": str(built)})
        # (TestService's 6 methods, Misbehaving's 3 and 5 typed ones, 2 of them async generators lifted out of their
        # compiled module; grpclib's Health and reflection are a library's.)
        assert "14/18 gRPC methods compiled" in server.log and server.mode == "compiled", server.log
    else:
        server = Server("grpc_app:app", loop, "--body-timeout", "2", "--metrics", cwd=APPS, pure=True,
                        env_extra={"COVET_TEST_GRPC_GEN": str(gen)})
    assert server.runtime == mode and server.framing == "nghttp2", server.lines[:3]
    yield server
    code, log = server.stop()
    assert code == 0, log


@pytest.fixture(scope="module")
def pb(gen: Path) -> tuple[Any, Any]:
    sys.path.insert(0, str(gen))
    import interop_pb2
    import interop_pb2_grpc

    return interop_pb2, interop_pb2_grpc


@pytest.fixture
def stub(srv: Server, pb: tuple[Any, Any]) -> Iterator[Any]:
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
    yield pb[1].TestServiceStub(channel)
    channel.close()


def payload(pb: tuple[Any, Any], n: int) -> Any:
    return pb[0].Payload(body=b"\0" * n)


# -- same port, same app ----------------------------------------------------------------------------------------


def test_rest_and_grpc_share_the_port(srv: Server, stub: Any, pb: tuple[Any, Any]) -> None:
    assert stub.EmptyCall(pb[0].Empty(), timeout=10) == pb[0].Empty()
    assert httpx.get(srv.url + "/rest", timeout=10).json() == {"served": "rest"}  # HTTP/1.1
    with httpx.Client(http1=False, http2=True) as client:  # HTTP/2 (prior knowledge), beside the gRPC calls
        r = client.get(srv.url + "/rest", timeout=10)
        assert (r.http_version, r.json()) == ("HTTP/2", {"served": "rest"})
    # A gRPC call goes through the access log as a route does.
    deadline = time.monotonic() + 5
    while not any("/covet.interop.TestService/EmptyCall HTTP/2" in line for line in srv.lines):
        assert time.monotonic() < deadline, srv.lines[-5:]
        time.sleep(0.05)


# -- typed methods (covet.GrpcService), sharing dependencies with REST ---------------------------------------------


@pytest.fixture
def typed(srv: Server, pb: tuple[Any, Any]) -> Iterator[Any]:
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
    yield pb[1].TypedServiceStub(channel)
    channel.close()


def test_a_typed_method_resolves_its_parameters_as_a_route_does(srv: Server, typed: Any, pb: tuple[Any, Any]) -> None:
    """Depends (reading a Header from the call's metadata), Request and an int Header, as in REST; the dependency
    answers a REST route of the same app too."""
    reply = typed.Unary(pb[0].SimpleRequest(), metadata=[("x-user", "ann"), ("repeat", "2")], timeout=10)
    assert reply.payload.body == b"ann /covet.interop.TypedService/Unary ann b''|" * 2
    assert httpx.get(srv.url + "/whoami", headers={"x-user": "bob"}, timeout=10).json() == {"user": "bob"}
    assert httpx.get(srv.url + "/whoami", timeout=10).status_code == 401
    # A def runs in the thread pool, as a route's does.
    body = typed.Blocking(pb[0].SimpleRequest(), metadata=[("x-user", "ann")], timeout=10).payload.body.decode()
    assert body.startswith("ann in ") and "MainThread" not in body, body


@pytest.mark.parametrize(("metadata", "code", "detail"), [
    ([], grpc.StatusCode.UNAUTHENTICATED, "who are you?"),  # the dependency's HTTPException(401)
    ([("x-user", "mallory")], grpc.StatusCode.PERMISSION_DENIED, "not you"),  # 403
    ([("x-user", "ann"), ("repeat", "many")], grpc.StatusCode.INVALID_ARGUMENT, '"loc": ["header", "repeat"]'),
])
def test_a_typed_method_answers_http_errors_with_their_grpc_status(typed: Any, pb: tuple[Any, Any],
                                                                    metadata: list[tuple[str, str]],
                                                                    code: grpc.StatusCode, detail: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        typed.Unary(pb[0].SimpleRequest(), metadata=metadata, timeout=10)
    assert err.value.code() == code and detail in err.value.details(), err.value


def test_a_typed_method_raises_grpc_errors_as_they_are(typed: Any, pb: tuple[Any, Any]) -> None:
    with pytest.raises(grpc.RpcError) as err:
        typed.Unary(pb[0].SimpleRequest(response_status=pb[0].EchoStatus(code=5, message="gone")),
                    metadata=[("x-user", "ann")], timeout=10)
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.NOT_FOUND, "gone")


def test_typed_methods_of_every_shape(srv: Server, typed: Any, pb: tuple[Any, Any]) -> None:
    """Client streaming, server streaming and bidi; a generator dependency finishes once its call has."""
    m = pb[0]
    chunks = [m.StreamingInputCallRequest(payload=payload(pb, n)) for n in (3, 0, 70_000)]
    got = typed.ClientStream(iter(chunks), metadata=[("x-user", "cy")], timeout=10)
    assert got.aggregated_payload_size == 70_003
    asked = m.StreamingOutputCallRequest(response_parameters=[m.ResponseParameters(size=n) for n in (1, 3)])
    assert [r.payload.body for r in typed.ServerStream(asked, metadata=[("x-user", "di")], timeout=10)] == [
        b"di", b"dididi"]
    replies = typed.Bidi(iter([asked, asked]), metadata=[("x-user", "eve")], timeout=10)
    assert [r.payload.body for r in replies] == [b"s", b"ses", b"s", b"ses"]
    finished = httpx.get(srv.url + "/finished", timeout=10).json()
    assert finished[-3:] == ["cy", "bidi of session of eve", "eve"], finished
    with pytest.raises(grpc.RpcError) as err:  # the dependency refuses before any message is read
        list(typed.Bidi(iter([asked]), timeout=10))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    got = []
    cut = m.StreamingOutputCallRequest(response_parameters=[m.ResponseParameters(size=n) for n in (1, 0)])
    with pytest.raises(grpc.RpcError) as err:  # an HTTPException as the handler streams
        for reply in typed.ServerStream(cut, metadata=[("x-user", "fy")], timeout=10):
            got.append(reply.payload.body)
    assert got == [b"fy"] and err.value.code() == grpc.StatusCode.ABORTED, err.value
    assert "ERROR" not in srv.log, srv.log


def test_a_typed_method_ends_before_its_dependencies_and_they_outlive_the_deadline(srv: Server, typed: Any,
                                                                                   pb: tuple[Any, Any]) -> None:
    """A streaming handler's own ``finally`` runs before the dependencies it uses finish, even when the call fails
    outside its code (it yielded what is not a message); and a dependency's clean-up runs whole once the status has
    gone out, however little of the deadline is left (review of stop 30: it ran inside the deadline, which cut it and
    turned the call's OK into DEADLINE_EXCEEDED)."""
    m = pb[0]
    wrong = m.StreamingOutputCallRequest(payload=payload(pb, 0))
    wrong.payload.body = b"wrong"
    with pytest.raises(grpc.RpcError):
        list(typed.Bidi(iter([wrong]), metadata=[("x-user", "gil")], timeout=10))
    deadline = time.monotonic() + 5
    while "gil" not in (finished := httpx.get(srv.url + "/finished", timeout=10).json()):
        assert time.monotonic() < deadline, finished
        time.sleep(0.05)
    assert finished[-2:] == ["bidi of session of gil", "gil"], finished
    chunk = m.StreamingInputCallRequest(payload=payload(pb, 4))
    reply = typed.ClientStream(iter([chunk]), metadata=[("x-user", "hal"), ("x-cleanup", "0.6")], timeout=0.4)
    assert reply.aggregated_payload_size == 4
    time.sleep(0.3)
    assert "hal" not in httpx.get(srv.url + "/finished", timeout=10).json()  # (still cleaning up)
    deadline = time.monotonic() + 5
    while "hal" not in httpx.get(srv.url + "/finished", timeout=10).json():
        assert time.monotonic() < deadline
        time.sleep(0.05)


class GrpcItem(BaseModel):
    """A body model, which a gRPC method cannot take (test_typed_methods_are_declared_as_grpc_shapes_them)."""

    name: str


def test_typed_methods_are_declared_as_grpc_shapes_them(pb: tuple[Any, Any]) -> None:
    """What cannot be a gRPC method is refused where it is declared, saying what to write."""
    from covet import GrpcService
    from covet.exceptions import RouteDefinitionError

    global interop_pb2  # (annotations are strings here, resolved in this module's globals)
    import interop_pb2

    m = pb[0]
    svc = GrpcService("t.S")

    def reads_a_stream(requests: AsyncIterator[interop_pb2.Empty]) -> interop_pb2.Empty:
        return m.Empty()

    def sync_generator(request: interop_pb2.Empty) -> Iterator[interop_pb2.Empty]:
        yield request

    async def untyped(request):  # type: ignore[no-untyped-def]
        return request

    async def not_a_message(request: dict[str, int]) -> interop_pb2.Empty:
        return m.Empty()

    async def streams_without_yield(request: interop_pb2.Empty) -> AsyncIterator[interop_pb2.Empty]:
        return request  # type: ignore[no-any-return]

    async def ok(request: interop_pb2.Empty) -> interop_pb2.Empty:
        return request

    for fn, says in ((reads_a_stream, "thread pool"), (sync_generator, "async generator"), (untyped, "annotated"),
                     (not_a_message, "protobuf message"),
                     (streams_without_yield, "async generator")):
        with pytest.raises(RouteDefinitionError, match=says):
            svc.method(fn)
    svc.method("Ok")(ok)
    with pytest.raises(RouteDefinitionError, match="declared twice"):
        svc.method("Ok")(ok)
    for bad in ("", "a/b", "has space"):
        with pytest.raises(RouteDefinitionError):
            GrpcService(bad)

    # What a call cannot fill is refused when the app plans its routes, naming the method.
    from covet import Covet, Depends

    async def by_query(request: interop_pb2.Empty, item_id: int) -> interop_pb2.Empty:
        return request

    async def with_body(request: interop_pb2.Empty, item: GrpcItem) -> interop_pb2.Empty:
        return request

    async def with_response(request: interop_pb2.Empty, response: Response) -> interop_pb2.Empty:
        return request

    async def needs_query(q: str) -> str:
        return q

    async def dep_query(request: interop_pb2.Empty, q: str = Depends(needs_query)) -> interop_pb2.Empty:
        return request

    for fn, says in ((by_query, "'item_id' reads a query string"), (with_body, "'item' reads a body"),
                     (with_response, "'response' reads an HTTP response"),
                     (dep_query, "'q' (of a dependency, ")):
        one = GrpcService("t.One")
        one.method("M")(fn)
        app = Covet()
        app.include_grpc(one)
        with pytest.raises(RouteDefinitionError, match=re.escape(says)) as err:
            app.dispatcher()
        assert "[GRPC /t.One/M -> " in str(err.value) and "test_grpc.py:" in str(err.value), err.value


# -- gRPC's interop cases -----------------------------------------------------------------------------------------


def test_empty_unary(stub: Any, pb: tuple[Any, Any]) -> None:
    assert stub.EmptyCall(pb[0].Empty(), timeout=10) == pb[0].Empty()


def test_large_unary(stub: Any, pb: tuple[Any, Any]) -> None:
    reply = stub.UnaryCall(pb[0].SimpleRequest(response_size=314159, payload=payload(pb, 271828)), timeout=10)
    assert reply.payload.body == b"\0" * 314159


def test_client_streaming(stub: Any, pb: tuple[Any, Any]) -> None:
    requests = [pb[0].StreamingInputCallRequest(payload=payload(pb, n)) for n in (27182, 8, 1828, 45904)]
    assert stub.StreamingInputCall(iter(requests), timeout=10).aggregated_payload_size == 74922


def test_server_streaming(stub: Any, pb: tuple[Any, Any]) -> None:
    sizes = (31415, 9, 2653, 58979)
    request = pb[0].StreamingOutputCallRequest(response_parameters=[pb[0].ResponseParameters(size=n) for n in sizes])
    assert [len(r.payload.body) for r in stub.StreamingOutputCall(request, timeout=10)] == list(sizes)


def test_ping_pong(stub: Any, pb: tuple[Any, Any]) -> None:
    import queue

    requests: queue.Queue[Any] = queue.Queue()
    call = stub.FullDuplexCall(iter(requests.get, None), timeout=10)
    for size, body in ((31415, 27182), (9, 8), (2653, 1828), (58979, 45904)):
        requests.put(pb[0].StreamingOutputCallRequest(response_parameters=[pb[0].ResponseParameters(size=size)],
                                                      payload=payload(pb, body)))
        assert len(next(call).payload.body) == size  # each answer before the next request goes
    requests.put(None)
    assert list(call) == [] and call.code() == grpc.StatusCode.OK


def test_empty_stream(stub: Any, pb: tuple[Any, Any]) -> None:
    call = stub.FullDuplexCall(iter([]), timeout=10)
    assert list(call) == [] and call.code() == grpc.StatusCode.OK


def test_cancel_after_begin(stub: Any, pb: tuple[Any, Any], srv: Server) -> None:
    before = httpx.get(srv.url + "/cancelled", timeout=10).json()["count"]
    gate = threading.Event()

    def requests() -> Iterator[Any]:
        gate.wait(10)
        return
        yield  # (a generator that sends nothing until cancelled)

    future = stub.StreamingInputCall.future(requests(), timeout=10)
    time.sleep(0.3)  # the call has begun: its handler waits for the first message
    future.cancel()
    gate.set()
    with pytest.raises(grpc.FutureCancelledError):
        future.result()
    wait_for_cancelled(srv, before + 1)  # RST_STREAM cancelled the handler


def test_cancel_after_first_response(stub: Any, pb: tuple[Any, Any], srv: Server) -> None:
    import queue

    before = httpx.get(srv.url + "/cancelled", timeout=10).json()["count"]
    requests: queue.Queue[Any] = queue.Queue()
    call = stub.FullDuplexCall(iter(requests.get, None), timeout=10)
    requests.put(pb[0].StreamingOutputCallRequest(response_parameters=[pb[0].ResponseParameters(size=31415)],
                                                  payload=payload(pb, 27182)))
    assert len(next(call).payload.body) == 31415
    call.cancel()
    with pytest.raises(grpc.RpcError) as err:
        next(call)
    assert err.value.code() == grpc.StatusCode.CANCELLED
    requests.put(None)
    wait_for_cancelled(srv, before + 1)


def test_timeout_on_sleeping_server(stub: Any, pb: tuple[Any, Any], srv: Server) -> None:
    """grpc-timeout ends the call DEADLINE_EXCEEDED, and the server cancels its handler (it sleeps 30 s)."""
    before = httpx.get(srv.url + "/cancelled", timeout=10).json()["count"]
    with pytest.raises(grpc.RpcError) as err:
        stub.UnaryCall(pb[0].SimpleRequest(sleep=30), timeout=0.5)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for_cancelled(srv, before + 1)


def test_status_code_and_message(stub: Any, pb: tuple[Any, Any]) -> None:
    status = pb[0].EchoStatus(code=2, message="test status message")
    with pytest.raises(grpc.RpcError) as err:
        stub.UnaryCall(pb[0].SimpleRequest(response_status=status), timeout=10)
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.UNKNOWN, "test status message")
    call = stub.FullDuplexCall(iter([pb[0].StreamingOutputCallRequest(response_status=status)]), timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        list(call)
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.UNKNOWN, "test status message")


def test_special_status_message(stub: Any, pb: tuple[Any, Any]) -> None:
    message = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
    with pytest.raises(grpc.RpcError) as err:
        stub.UnaryCall(pb[0].SimpleRequest(response_status=pb[0].EchoStatus(code=2, message=message)), timeout=10)
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.UNKNOWN, message)


def test_custom_metadata(stub: Any, pb: tuple[Any, Any]) -> None:
    metadata = [("x-grpc-test-echo-initial", "test_initial_metadata_value"),
                ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")]
    _, call = stub.UnaryCall.with_call(pb[0].SimpleRequest(response_size=314159, payload=payload(pb, 271828)),
                                       metadata=metadata, timeout=10)
    assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in list(call.initial_metadata())
    assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in list(call.trailing_metadata())
    stream = stub.FullDuplexCall(iter([pb[0].StreamingOutputCallRequest(
        response_parameters=[pb[0].ResponseParameters(size=314159)], payload=payload(pb, 271828))]),
        metadata=metadata, timeout=10)
    assert [len(r.payload.body) for r in stream] == [314159]
    assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in list(stream.initial_metadata())
    assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in list(stream.trailing_metadata())


def test_unimplemented_method(srv: Server, stub: Any, pb: tuple[Any, Any]) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stub.UnimplementedCall(pb[0].Empty(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # A method no service has (unimplemented_service): the same status, and the connection serves on.
    assert untyped_call(srv, "/covet.interop.NoService/Call") == grpc.StatusCode.UNIMPLEMENTED
    assert stub.EmptyCall(pb[0].Empty(), timeout=10) == pb[0].Empty()


# -- beyond the interop cases -------------------------------------------------------------------------------------


def test_gzip_compressed_messages(srv: Server, stub: Any, pb: tuple[Any, Any]) -> None:
    reply = stub.UnaryCall(pb[0].SimpleRequest(response_size=1000, payload=payload(pb, 100_000)), timeout=10,
                           compression=grpc.Compression.Gzip)
    assert len(reply.payload.body) == 1000
    # A gzipped request gets gzipped replies (grpclib's way), said in the head.
    import gzip

    request = pb[0].SimpleRequest(response_size=5000).SerializeToString()
    got = raw_call(srv, "/covet.interop.TestService/UnaryCall", message(gzip.compress(request), True),
                   (("grpc-encoding", "gzip"),))
    assert got["grpc-status"] == "0" and got["grpc-encoding"] == "gzip", got
    assert "gzip" in got["grpc-accept-encoding"]
    data = got[":data"].encode("latin-1")
    assert data[0] == 1 and int.from_bytes(data[1:5], "big") == len(data) - 5 < 200, data[:5]
    assert len(pb[0].SimpleResponse.FromString(gzip.decompress(data[5:])).payload.body) == 5000
    # An uncompressed request gets uncompressed replies.
    plain = raw_call(srv, "/covet.interop.TestService/UnaryCall", message(request))
    assert "grpc-encoding" not in plain and plain[":data"].encode("latin-1")[0] == 0, plain.keys()


def misbehaving_error(srv: Server, pb: tuple[Any, Any], method: str) -> Any:
    """The error a call of Misbehaving's ``method`` (Empty -> Empty) ends with, for a grpcio client."""
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
        call = channel.unary_unary(f"/covet.interop.Misbehaving/{method}",
                                   request_serializer=pb[0].Empty.SerializeToString,
                                   response_deserializer=pb[0].Empty.FromString)
        with pytest.raises(grpc.RpcError) as err:
            call(pb[0].Empty(), timeout=10)
    return err


def test_rich_error_details(srv: Server, pb: tuple[Any, Any]) -> None:
    """A GRPCError's details reach a grpcio client as google.rpc.Status (grpcio-status reads them)."""
    from google.rpc.error_details_pb2 import BadRequest
    from grpc_status import rpc_status

    err = misbehaving_error(srv, pb, "Detailed")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details() == "bad request"
    status = rpc_status.from_call(err.value)
    assert status is not None and status.message == "bad request" and len(status.details) == 1
    detail = BadRequest()
    assert status.details[0].Unpack(detail)
    assert [(v.field, v.description) for v in detail.field_violations] == [("name", "must not be empty")]


def test_a_status_too_large_for_a_client_still_reaches_it(srv: Server, stub: Any, pb: tuple[Any, Any]) -> None:
    """grpcio refuses a call's trailers past 8 KiB, and with them the status: the message is cut, large details are
    dropped (and logged), so the status and the start of the message arrive."""
    from grpc_status import rpc_status

    with pytest.raises(grpc.RpcError) as err:
        stub.UnaryCall(pb[0].SimpleRequest(response_status=pb[0].EchoStatus(code=3, message="é" * 20_000)),
                       timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 100 < len(err.value.details()) <= 1024 and set(err.value.details()) == {"é"}
    err = misbehaving_error(srv, pb, "HugeDetails")
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "bad request")
    assert rpc_status.from_call(err.value) is None
    assert srv.logged("gRPC error details not sent")


def test_message_framing_and_encodings_a_client_may_get_wrong(srv: Server, pb: tuple[Any, Any]) -> None:
    import gzip

    path = "/covet.interop.TestService/UnaryCall"
    request = pb[0].SimpleRequest(response_size=10).SerializeToString()
    bad_flag = raw_call(srv, path, b"\x02" + len(request).to_bytes(4, "big") + request)
    assert bad_flag.get("grpc-status") == "13", bad_flag  # (a reserved flag: INTERNAL, not a compression)
    # A gzipped request from a client that takes identity only: its replies are not compressed.
    plain = raw_call(srv, path, message(gzip.compress(request), True),
                     (("grpc-encoding", "gzip"), ("grpc-accept-encoding", "identity")))
    assert plain["grpc-status"] == "0" and "grpc-encoding" not in plain, plain
    assert plain[":data"].encode("latin-1")[0] == 0
    unknown = raw_call(srv, "/covet.interop.NoService/Call", message(b""))
    assert unknown["grpc-status"] == "12" and unknown["grpc-accept-encoding"] == "gzip,identity", unknown


def test_content_type_is_matched_whatever_its_case(srv: Server, pb: tuple[Any, Any]) -> None:
    got = raw_call(srv, "/covet.interop.TestService/EmptyCall", message(b""), content_type="Application/GRPC+proto")
    assert got.get("grpc-status") == "0", got


def test_calls_are_counted_per_method_and_status(srv: Server, stub: Any, pb: tuple[Any, Any]) -> None:
    def scrape() -> str:
        return httpx.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=10).text

    def count(text: str, series: str) -> int:
        for line in text.splitlines():
            if line.startswith(series + " "):
                return int(line.rsplit(" ", 1)[1])
        return 0

    ok = 'covet_grpc_calls_total{route="/covet.interop.TestService/EmptyCall",code="OK"}'
    bad = 'covet_grpc_calls_total{route="/covet.interop.TestService/UnaryCall",code="INVALID_ARGUMENT"}'
    http = 'covet_requests_total{route="/covet.interop.TestService/EmptyCall",method="POST",status="200"}'
    before = scrape()
    for _ in range(3):
        stub.EmptyCall(pb[0].Empty(), timeout=10)
    with pytest.raises(grpc.RpcError):
        stub.UnaryCall(pb[0].SimpleRequest(response_status=pb[0].EchoStatus(code=3, message="x")), timeout=10)
    after = scrape()
    assert count(after, ok) - count(before, ok) == 3, after
    assert count(after, bad) - count(before, bad) == 1, after
    assert count(after, http) - count(before, http) == 3
    assert 'covet_request_duration_seconds_count{route="/covet.interop.TestService/EmptyCall",method="POST"}' in after


def test_a_message_over_the_limit_is_refused(stub: Any, pb: tuple[Any, Any]) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stub.UnaryCall(pb[0].SimpleRequest(payload=payload(pb, 5 * 1024 * 1024)), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.EmptyCall(pb[0].Empty(), timeout=10) == pb[0].Empty()


def test_grpclib_health_and_reflection_are_served(srv: Server) -> None:
    from grpclib.health.v1 import health_pb2
    from grpclib.reflection.v1 import reflection_pb2

    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                    response_deserializer=health_pb2.HealthCheckResponse.FromString)
        assert check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
        info = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                     request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        replies = list(info(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"covet.interop.TestService", "grpc.health.v1.Health"} <= names


def test_many_calls_at_once_on_one_connection(stub: Any, pb: tuple[Any, Any]) -> None:
    futures = [stub.UnaryCall.future(pb[0].SimpleRequest(response_size=i), timeout=20) for i in range(150)]
    assert [len(f.result().payload.body) for f in futures] == list(range(150))  # (past the 100 streams at once)


def test_a_busy_client_is_not_taken_for_a_flood(stub: Any, pb: tuple[Any, Any]) -> None:
    """grpcio gives back the bytes of each small reply it reads in a WINDOW_UPDATE of its own: thousands of tiny
    ones, which the flood guard took for an empty-frame flood (GOAWAY ENHANCE_YOUR_CALM: 500 of 4,000 calls failed
    UNAVAILABLE, review of stop 30). A tiny update that gives back what was sent is not charged."""
    from concurrent.futures import ThreadPoolExecutor

    m = pb[0]

    def call(i: int) -> int:
        chunks = [m.StreamingInputCallRequest(payload=payload(pb, n)) for n in (1, 2, i % 5)]
        return int(stub.StreamingInputCall(iter(chunks), timeout=30).aggregated_payload_size)

    with ThreadPoolExecutor(64) as pool:
        sizes = list(pool.map(call, range(4000)))
    assert sizes == [3 + i % 5 for i in range(4000)]


# -- a hostile client's calls (raw HTTP/2, the h2 library's client) ----------------------------------------------


def raw_call(srv: Server, path: str, body: bytes = b"", fields: tuple[tuple[str, str], ...] = (),
             shut: bool = False, content_type: str = "application/grpc") -> dict[str, str]:
    """One call's response head and trailers, as a name -> value dict, and its DATA as ":data" (latin-1);
    ``shut``: the client shuts its side (FIN) after sending, and waits for the connection's end."""
    import socket

    import h2.config
    import h2.connection
    import h2.events

    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    c.initiate_connection()
    c.send_headers(1, [(":method", "POST"), (":path", path), (":scheme", "http"), (":authority", "x"),
                       ("content-type", content_type), ("te", "trailers"), *fields], end_stream=not body)
    for at in range(0, len(body), 16384):
        c.send_data(1, body[at:at + 16384], end_stream=at + 16384 >= len(body))
    sock.sendall(c.data_to_send())
    if shut:
        time.sleep(0.5)  # (its handler runs by then: a call cancelled before it starts never runs at all)
        sock.shutdown(socket.SHUT_WR)
    got: dict[str, str] = {":data": ""}
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return got
            for ev in c.receive_data(data):
                if isinstance(ev, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    got.update(dict(ev.headers))
                elif isinstance(ev, h2.events.StreamReset):
                    got["reset"] = str(ev.error_code)
                elif isinstance(ev, h2.events.DataReceived):
                    got[":data"] += ev.data.decode("latin-1")
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and not shut:
                    return got
            try:
                sock.sendall(c.data_to_send())
            except OSError:  # (the server closed: what it said is all there is)
                return got
    finally:
        sock.close()


def message(data: bytes, compressed: bool = False) -> bytes:
    return bytes([compressed]) + len(data).to_bytes(4, "big") + data


def test_a_gzip_bomb_is_refused_as_it_inflates(srv: Server, pb: tuple[Any, Any]) -> None:
    """20 KB that would inflate to 20 MB: RESOURCE_EXHAUSTED at 4 MiB, without inflating the rest."""
    import gzip

    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024), 9)
    assert len(bomb) < 65_000
    got = raw_call(srv, "/covet.interop.TestService/UnaryCall", message(bomb, True), (("grpc-encoding", "gzip"),))
    assert got.get("grpc-status") == "8", got
    garbage = raw_call(srv, "/covet.interop.TestService/UnaryCall", message(b"not gzip", True),
                       (("grpc-encoding", "gzip"),))
    assert garbage.get("grpc-status") == "13", garbage


def test_what_a_unary_call_must_carry(srv: Server, pb: tuple[Any, Any]) -> None:
    path = "/covet.interop.TestService/UnaryCall"
    assert raw_call(srv, path).get("grpc-status") == "13"  # no message: INTERNAL
    assert raw_call(srv, path, message(b"\xff\xff\xff")).get("grpc-status") == "13"  # not a message
    for timeout in ("123456789S", "1x", "S", "\u0661S"):
        got = raw_call(srv, path, message(b""), (("grpc-timeout", timeout),))
        assert got.get("grpc-status") == "3", (timeout, got)  # INVALID_ARGUMENT
    assert raw_call(srv, path, message(b""), (("grpc-timeout", "5S"),)).get("grpc-status") == "0"


def test_an_idle_stream_outlives_the_body_timeout(stub: Any, pb: tuple[Any, Any]) -> None:
    """(The server's --body-timeout is 2 s: it bounds request bodies that stop arriving, not a call's messages.)"""
    import queue

    requests: queue.Queue[Any] = queue.Queue()
    call = stub.FullDuplexCall(iter(requests.get, None), timeout=20)
    for _ in range(2):
        requests.put(pb[0].StreamingOutputCallRequest(response_parameters=[pb[0].ResponseParameters(size=1)]))
        assert len(next(call).payload.body) == 1
        time.sleep(3)
    requests.put(None)
    assert list(call) == [] and call.code() == grpc.StatusCode.OK


def test_trailing_metadata_that_cannot_be_sent_still_ends_the_call(srv: Server) -> None:
    assert untyped_call(srv, "/covet.interop.Misbehaving/BadTrailer") == grpc.StatusCode.UNKNOWN


def test_a_client_that_shuts_its_side_cancels_its_calls(srv: Server, pb: tuple[Any, Any]) -> None:
    before = httpx.get(srv.url + "/cancelled", timeout=10).json()["count"]
    request = pb[0].SimpleRequest(sleep=30).SerializeToString()
    got = raw_call(srv, "/covet.interop.TestService/UnaryCall", message(request), shut=True)
    assert "grpc-status" not in got  # (the connection ends; nothing answers a call whose client went away)
    wait_for_cancelled(srv, before + 1)


def untyped_call(srv: Server, path: str) -> grpc.StatusCode:
    """The status of a unary call to ``path`` with an empty message, which must fail."""
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
        call = channel.unary_unary(path, request_serializer=bytes, response_deserializer=bytes)
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=10)
    code: grpc.StatusCode = err.value.code()
    return code


def wait_for_cancelled(srv: Server, count: int) -> None:
    deadline = time.monotonic() + 10
    while httpx.get(srv.url + "/cancelled", timeout=10).json()["count"] < count:
        assert time.monotonic() < deadline, "the handler was not cancelled"
        time.sleep(0.05)
