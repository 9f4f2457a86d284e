"""CovetPy serving perf/grpc_bench.py's service (beside a REST route, as an app would)."""

from covet import Covet
from grpc_bench_service import Bench

app = Covet()
app.include_grpc(Bench())


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"
