"""gRPC benchmarks: CovetPy against grpclib's own server and grpcio's asyncio server, in one run (issue 18).

One service (perf/apps/bench.proto): ``Unary`` echoes a small message; ``Stream`` answers one with ten. CovetPy and
grpclib serve the same grpclib-generated class (perf/apps/grpc_bench_service.py), grpcio its own servicer; "CovetPy
typed" serves it as typed methods (perf/apps/covet_grpc_typed.py, covet.GrpcService). The
client is h2load for all of them, pinned to CPU 1 with each server on CPU 0: ``-c 10 -m 10`` POSTs of the framed
request with gRPC's fields, for a fixed time. Each target is checked first by grpcio's client (the right answers,
status OK). Rounds interleave the targets; medians are reported, with the server's CPU time per call.

    .venv/bin/python perf/grpc_bench.py               # 3 rounds of 10 s per target
    .venv/bin/python perf/grpc_bench.py --quick       # one round of 5 s
    .venv/bin/python perf/grpc_bench.py --docs        # and write the "grpc" section of docs/performance.md
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import h2_bench
from bench import COVET_PY, HERE, ROOT, Target
from docsection import replace_section

CALLS = {"unary": "/bench.Bench/Unary", "stream (10 replies)": "/bench.Bench/Stream"}


def generate(out: Path) -> None:
    plugin = Path(COVET_PY).parent / "protoc-gen-grpclib_python"
    subprocess.run([str(COVET_PY), "-m", "grpc_tools.protoc", f"-I{HERE / 'apps'}", f"--python_out={out}",
                    f"--grpc_python_out={out}", f"--grpclib_python_out={out}",
                    f"--plugin=protoc-gen-grpclib_python={plugin}", str(HERE / "apps" / "bench.proto")], check=True)


def targets(gen: Path) -> list[Target]:
    env = {"BENCH_GRPC_GEN": str(gen), "PYTHONPATH": f"{HERE / 'apps'}:{ROOT}"}
    covet = [str(COVET_PY), "-m", "covet", "serve", "covet_grpc:app", "--log-level", "warning", "--no-access-log",
             "--port", "{port}"]
    apps = HERE / "apps"
    return [
        Target("CovetPy (io_uring)", [*covet, "--loop", "uring"], apps, env=env),
        Target("CovetPy (uvloop)", [*covet, "--loop", "uvloop"], apps, env=env),
        Target("CovetPy typed (io_uring)", [*covet[:4], "covet_grpc_typed:app", *covet[5:], "--loop", "uring"], apps,
               env=env),
        Target("grpclib server (uvloop)", [str(COVET_PY), "grpclib_grpc.py", "{port}"], apps, env=env),
        Target("grpcio asyncio server", [str(COVET_PY), "grpcio_grpc.py", "{port}"], apps, env=env),
    ]


def check(t: Target, gen: Path) -> str | None:
    import grpc

    sys.path.insert(0, str(gen))
    import bench_pb2
    import bench_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{t.port}") as channel:
        stub = bench_pb2_grpc.BenchStub(channel)
        try:
            if stub.Unary(bench_pb2.Msg(text="hello"), timeout=10).text != "hello":
                return "wrong unary answer"
            if [m.text for m in stub.Stream(bench_pb2.Msg(text="hi"), timeout=10)] != ["hi"] * 10:
                return "wrong stream answer"
        except grpc.RpcError as exc:
            return f"gRPC error: {exc.code()} {exc.details()}"
    return None


def main() -> int:
    parsed = h2_bench.arguments(__doc__)
    if parsed is None:
        return 1
    args, rounds, seconds = parsed
    work = Path(tempfile.mkdtemp(prefix="covet-grpc-bench-"))
    generate(work)
    sys.path.insert(0, str(work))
    import bench_pb2

    message = bench_pb2.Msg(text="hello").SerializeToString()
    body = work / "request.bin"
    body.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    extra = ("-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers")
    ts = h2_bench.only(targets(work), args.only)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}

    def each(t: Target, r: int) -> None:
        wrong = check(t, work)
        if wrong:
            for name in CALLS:
                t.wrong[name] = wrong
            print(f"perf: {t.name}: {wrong}", file=sys.stderr)
            return
        for name, path in CALLS.items():
            got = h2_bench.run_h2load(t, path, seconds, extra)
            results.setdefault((t.name, name), []).append(got)
            print(f"round {r + 1} {t.name:24} {name:20} {got['rps']:9.0f} calls/s "
                  f"{got['cpu_us_per_req']:6.1f} us/call failed={got['failed']:.0f}", flush=True)

    h2_bench.interleaved(ts, rounds, 1.0, each)
    text = h2_bench.report(results, ts, rounds, seconds, tuple(CALLS), "gRPC calls of a 7-byte message")
    print(text)
    if args.docs:
        replace_section("grpc", "## gRPC (perf/grpc_bench.py)\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
