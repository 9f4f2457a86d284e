"""gRPC's interop TestService (tests/grpc/interop.proto, as grpclib generates it) beside REST routes, on one app.

The generated modules are compiled at test time into the folder COVET_TEST_GRPC_GEN names (tests/test_grpc.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.health.service import Health
from grpclib.reflection.service import ServerReflection

from covet import Covet, Depends

sys.path.insert(0, os.environ["COVET_TEST_GRPC_GEN"])

import interop_pb2 as pb
from interop_grpc import TestServiceBase

app = Covet()
cancelled = {"count": 0}  # handlers cancelled by a deadline or by their client


def echo_status(status: pb.EchoStatus) -> None:
    if status.code:
        raise GRPCError(Status(status.code), status.message)


class TestService(TestServiceBase):
    async def EmptyCall(self, stream):  # type: ignore[no-untyped-def]
        await stream.recv_message()
        await stream.send_message(pb.Empty())

    async def UnaryCall(self, stream):  # type: ignore[no-untyped-def]
        request = await stream.recv_message()
        await echo_metadata(stream)
        if request.sleep:
            try:
                await asyncio.sleep(request.sleep)
            except asyncio.CancelledError:
                cancelled["count"] += 1
                raise
        echo_status(request.response_status)
        await stream.send_message(pb.SimpleResponse(payload=pb.Payload(body=b"\0" * request.response_size)))
        await echo_trailing(stream)

    async def StreamingOutputCall(self, stream):  # type: ignore[no-untyped-def]
        request = await stream.recv_message()
        for params in request.response_parameters:
            await stream.send_message(pb.StreamingOutputCallResponse(payload=pb.Payload(body=b"\0" * params.size)))
        echo_status(request.response_status)

    async def StreamingInputCall(self, stream):  # type: ignore[no-untyped-def]
        total = 0
        try:
            async for request in stream:
                total += len(request.payload.body)
        except asyncio.CancelledError:
            cancelled["count"] += 1
            raise
        await stream.send_message(pb.StreamingInputCallResponse(aggregated_payload_size=total))

    async def FullDuplexCall(self, stream):  # type: ignore[no-untyped-def]
        await echo_metadata(stream)
        try:
            async for request in stream:
                echo_status(request.response_status)
                for params in request.response_parameters:
                    await stream.send_message(
                        pb.StreamingOutputCallResponse(payload=pb.Payload(body=b"\0" * params.size)))
        except asyncio.CancelledError:
            cancelled["count"] += 1
            raise
        await echo_trailing(stream)

    async def UnimplementedCall(self, stream):  # type: ignore[no-untyped-def]
        raise GRPCError(Status.UNIMPLEMENTED)


async def echo_metadata(stream) -> None:  # type: ignore[no-untyped-def]
    """The custom_metadata case: x-grpc-test-echo-initial comes back in the initial metadata."""
    initial = stream.metadata.get("x-grpc-test-echo-initial")
    if initial is not None:
        await stream.send_initial_metadata(metadata={"x-grpc-test-echo-initial": initial})


async def echo_trailing(stream) -> None:  # type: ignore[no-untyped-def]
    trailing = stream.metadata.get("x-grpc-test-echo-trailing-bin")
    if trailing is not None:
        await stream.send_trailing_metadata(metadata={"x-grpc-test-echo-trailing-bin": trailing})


class Misbehaving:
    """Handlers that get the protocol wrong (no .proto: grpclib's mapping, by hand)."""

    async def bad_trailer(self, stream):  # type: ignore[no-untyped-def]
        await stream.recv_message()
        await stream.send_message(pb.Empty())
        await stream.send_trailing_metadata(metadata={"x-bad": "a\r\nb"})  # (metadata no peer may receive)

    async def detailed(self, stream):  # type: ignore[no-untyped-def]
        """Fails with rich error details (google.rpc's error_details)."""
        from google.rpc.error_details_pb2 import BadRequest

        await stream.recv_message()
        violation = BadRequest.FieldViolation(field="name", description="must not be empty")
        raise GRPCError(Status.INVALID_ARGUMENT, "bad request", [BadRequest(field_violations=[violation])])

    async def huge_details(self, stream):  # type: ignore[no-untyped-def]
        """Details past what a client takes in its trailers: the status goes without them."""
        from google.rpc.error_details_pb2 import DebugInfo

        await stream.recv_message()
        raise GRPCError(Status.INVALID_ARGUMENT, "bad request", [DebugInfo(detail="x" * 20_000)])

    def __mapping__(self) -> dict[str, Handler]:
        return {
            "/covet.interop.Misbehaving/HugeDetails": Handler(self.huge_details, Cardinality.UNARY_UNARY, pb.Empty,
                                                              pb.Empty),
            "/covet.interop.Misbehaving/BadTrailer": Handler(self.bad_trailer, Cardinality.UNARY_UNARY, pb.Empty,
                                                             pb.Empty),
            "/covet.interop.Misbehaving/Detailed": Handler(self.detailed, Cardinality.UNARY_UNARY, pb.Empty, pb.Empty),
        }


import grpc_typed_streams  # noqa: E402, F401  (its methods join grpc_typed's service)
from grpc_typed import typed  # noqa: E402
from grpc_typed_deps import current_user, finished  # noqa: E402

app.include_grpc(*ServerReflection.extend([TestService(), Health()]), Misbehaving(), typed)


@app.get("/whoami")
async def whoami(user: Annotated[str, Depends(current_user)]) -> dict[str, str]:
    """The dependency the typed gRPC methods use, on a REST route."""
    return {"user": user}


@app.get("/finished")
def finished_sessions() -> list[str]:
    return finished


@app.get("/rest")
def rest() -> dict[str, str]:
    return {"served": "rest"}


@app.get("/cancelled")
def cancelled_count() -> dict[str, int]:
    return cancelled
