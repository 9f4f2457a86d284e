"""perf/grpc_bench.py's service on grpclib's generated base: served by CovetPy (covet_grpc.py) and by grpclib's own
server (grpclib_grpc.py) alike. The generated modules are in the folder BENCH_GRPC_GEN names."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ["BENCH_GRPC_GEN"])

from bench_grpc import BenchBase
from bench_pb2 import Msg


class Bench(BenchBase):
    async def Unary(self, stream):  # type: ignore[no-untyped-def]
        request = await stream.recv_message()
        await stream.send_message(Msg(text=request.text))

    async def Stream(self, stream):  # type: ignore[no-untyped-def]
        request = await stream.recv_message()
        for _ in range(10):
            await stream.send_message(Msg(text=request.text))
