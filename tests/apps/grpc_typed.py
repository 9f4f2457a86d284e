"""Typed gRPC methods (covet.GrpcService) sharing their dependencies with REST routes (tests/test_grpc.py).

The methods that stream replies are async generators, which mypyc does not compile: they live in
grpc_typed_streams.py (and the generator dependency in grpc_typed_deps.py), so that `covet build` compiles these.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import Annotated

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from covet import Depends, GrpcService, Header, Request
from grpc_typed_deps import current_user, session

sys.path.insert(0, os.environ["COVET_TEST_GRPC_GEN"])

import interop_pb2 as pb

typed = GrpcService("covet.interop.TypedService")


@typed.method("Unary")
async def unary(request: pb.SimpleRequest, user: Annotated[str, Depends(current_user)], http: Request,
                repeat: Annotated[int, Header()] = 1) -> pb.SimpleResponse:
    if request.response_status.code:
        raise GRPCError(Status(request.response_status.code), request.response_status.message)
    body = await http.body()  # (b"": a call's Request has no body, its message is the first parameter)
    text = f"{user} {http.url.path} {http.headers.get('x-user')} {body!r}|" * repeat
    return pb.SimpleResponse(payload=pb.Payload(body=text.encode()))


@typed.method("ClientStream")
async def client_stream(requests: AsyncIterator[pb.StreamingInputCallRequest],
                        held: Annotated[str, Depends(session)]) -> pb.StreamingInputCallResponse:
    total = 0
    async for request in requests:
        total += len(request.payload.body)
    if not held.startswith("session of "):
        raise GRPCError(Status.INTERNAL, held)
    return pb.StreamingInputCallResponse(aggregated_payload_size=total)


@typed.method("Blocking")
def blocking(request: pb.SimpleRequest, user: Annotated[str, Depends(current_user)]) -> pb.SimpleResponse:
    """A def: it runs in the thread pool, as a route's does."""
    return pb.SimpleResponse(payload=pb.Payload(body=f"{user} in {threading.current_thread().name}".encode()))
