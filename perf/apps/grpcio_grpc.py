"""grpcio's asyncio server with perf/grpc_bench.py's service: python grpcio_grpc.py PORT."""

import asyncio
import os
import sys

import grpc

sys.path.insert(0, os.environ["BENCH_GRPC_GEN"])

import bench_pb2
import bench_pb2_grpc


class Bench(bench_pb2_grpc.BenchServicer):
    async def Unary(self, request, context):  # type: ignore[no-untyped-def]
        return bench_pb2.Msg(text=request.text)

    async def Stream(self, request, context):  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield bench_pb2.Msg(text=request.text)


async def main(port: int) -> None:
    server = grpc.aio.server()
    bench_pb2_grpc.add_BenchServicer_to_server(Bench(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
