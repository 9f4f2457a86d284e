"""grpclib's own server with perf/grpc_bench.py's service, on uvloop: python grpclib_grpc.py PORT."""

import asyncio
import sys

import uvloop
from grpc_bench_service import Bench
from grpclib.server import Server


async def main(port: int) -> None:
    server = Server([Bench()])
    await server.start("127.0.0.1", port)
    await server.wait_closed()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1])))
