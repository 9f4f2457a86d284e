"""The in-process request path of two CovetPy trees, alternating: nanoseconds per request, best of 7.

One plaintext request through the asyncio connection (``full``: what ``data_received`` does), through the C
parser alone (``parse``) and through everything after it (``run``), with no socket: far less noisy on a shared
machine than a server's CPU per request, so it can tell a 2% change from noise. Each tree runs in its own
process (``--child``), pinned to CPU 0; the trees take turns.

Usage: python perf/inprocess_ab.py TREE_A TREE_B [--rounds 3]   (a tree: a checkout with its extensions built,
e.g. perf/.rev-<rev> as perf/seam.py leaves them)
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RAW = b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\n\r\n"


class _Sink:
    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def _child() -> None:
    from covet_app import app  # type: ignore[import-not-found]

    from covet._native import Parser
    from covet.runtime.config import Config
    try:
        from covet.runtime.asyncio_http1 import AsyncioHTTP1 as Conn
        from covet.runtime.state import ServerState
    except ImportError:  # before issue 14
        from covet.runtime.http1 import (
            HTTP1Connection as Conn,  # type: ignore[no-redef]
            ServerState,  # type: ignore[no-redef]
        )
    state = ServerState(app.dispatcher(), Config())
    conn = Conn(state)
    conn.connection_made(_Sink())  # type: ignore[arg-type]
    parser = Parser()
    events = parser.feed(RAW)
    n = 200_000

    def best(fn: Any, arg: Any) -> float:
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            for _ in range(n):
                fn(arg)
            times.append((time.perf_counter() - t0) / n * 1e9)
        return min(times)

    print(f"full={best(conn.data_received, RAW):.0f} parse={best(parser.feed, RAW):.0f} "
          f"run={best(conn._run, events):.0f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("trees", nargs="*")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        asyncio.run(_child())
        return 0
    for rnd in range(args.rounds):
        for tree in args.trees:
            env_path = f"{Path(tree).resolve()}:{HERE / 'apps'}"
            out = subprocess.run(["taskset", "-c", "0", sys.executable, __file__, "--child"], capture_output=True,
                                 text=True, check=True, cwd="/", env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
            print(f"round {rnd + 1} {tree}: {out.stdout.strip()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
