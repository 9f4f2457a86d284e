"""CovetPy serving perf/grpc_bench.py's service as typed methods (covet.GrpcService), beside a REST route: the
same answers as grpc_bench_service.py's class, written as routes are."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator

from covet import Covet, GrpcService

sys.path.insert(0, os.environ["BENCH_GRPC_GEN"])

from bench_pb2 import Msg

app = Covet()
bench = GrpcService("bench.Bench")


@bench.method("Unary")
async def unary(request: Msg) -> Msg:
    return Msg(text=request.text)


@bench.method("Stream")
async def stream(request: Msg) -> AsyncIterator[Msg]:
    for _ in range(10):
        yield Msg(text=request.text)


app.include_grpc(bench)


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"
