"""CovetPy serving perf/grpc_bench.py's service (beside a REST route, as an app would)."""

from grpc_bench_service import Bench

from covet import Covet

app = Covet()
app.include_grpc(Bench())


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"
