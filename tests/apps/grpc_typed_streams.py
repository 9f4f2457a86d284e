"""The typed gRPC methods that stream their replies: async generators (see grpc_typed.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import Annotated

from covet import Depends, HTTPException
from grpc_typed import typed
from grpc_typed_deps import current_user, finished, session

sys.path.insert(0, os.environ["COVET_TEST_GRPC_GEN"])

import interop_pb2 as pb


@typed.method("ServerStream")
async def server_stream(request: pb.StreamingOutputCallRequest,
                        user: Annotated[str, Depends(current_user)]) -> AsyncIterator[pb.StreamingOutputCallResponse]:
    for params in request.response_parameters:
        if not params.size:
            raise HTTPException(409, "a size of 0, after what was sent")  # (mid-stream: the status ends it)
        yield pb.StreamingOutputCallResponse(payload=pb.Payload(body=user.encode() * params.size))


@typed.method("Bidi")
async def bidi(requests: AsyncIterator[pb.StreamingOutputCallRequest],
               held: Annotated[str, Depends(session)]) -> AsyncIterator[pb.StreamingOutputCallResponse]:
    try:
        async for request in requests:
            if request.payload.body == b"wrong":
                yield "not a message"  # type: ignore[misc]  # (the call fails: the handler ends before the session)
            for params in request.response_parameters:
                yield pb.StreamingOutputCallResponse(payload=pb.Payload(body=held.encode()[:params.size]))
    finally:
        finished.append(f"bidi of {held}")
