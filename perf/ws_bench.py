"""WebSocket benchmarks: CovetPy against its peers, one server at a time, in one run.

Three measurements, each server pinned to CPU 0 (one worker) and the load generator to CPU 1:

- echo: N client connections (16 and 256 by default), each sending a 32-byte text message and waiting for its
  echo before sending the next, for a fixed time. Reported: messages/s and the server's CPU time (user + system,
  from /proc/<pid>/stat) per message, with the CPU shares of the server and of the load generator over the timed
  window (the load generator must not be the bottleneck: its share of CPU 1 is shown; ``--client-procs 2`` splits
  the connections over two load generator processes);
- broadcast: 1,000 connections subscribed to one channel and one publisher; the publisher keeps ``--window``
  messages (32 bytes) in flight across all subscribers. Reported: deliveries/s and server CPU per delivery;
- idle memory: the server's resident memory (the process and its children) with ``--idle-warm`` connections open,
  then with ``--idle`` more, each after its handshake (no permessage-deflate offered) and one echoed message; the
  growth divided by ``--idle`` is the figure.

Two load generators run every load, one after the other: picows (a Cython WebSocket client on uvloop, in the
peers' venv perf/.venv-ws-peers, from perf/requirements-ws-peers.txt) and perf/ws_load.c (epoll, compiled here
with cc at run time), which costs CPU 1 less where picows comes near its limit. The idle connections are plain
sockets of this process.

Every server restarts for each round (memory is measured first, on the fresh server); rounds interleave the
servers; medians of the rounds are reported, and ratios against CovetPy (io_uring) from the same run.

    python3 -m venv perf/.venv-ws-peers && perf/.venv-ws-peers/bin/pip install -r perf/requirements-ws-peers.txt
    .venv/bin/python perf/ws_bench.py                    # everything, 3 rounds (about 25 minutes)
    .venv/bin/python perf/ws_bench.py --quick            # one short round
    .venv/bin/python perf/ws_bench.py --targets "CovetPy (io_uring),socketify" --only echo --client-procs 2
    .venv/bin/python perf/ws_bench.py --docs             # and write the "websocket" section of docs/performance.md
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_PY = HERE / ".venv-ws-peers" / "bin" / "python"
# CovetPy's Python: $COVET_PYTHON, else this tree's .venv, else the Python running this script.
COVET_PY = Path(os.environ.get("COVET_PYTHON", "")) if os.environ.get("COVET_PYTHON") else (
    ROOT / ".venv" / "bin" / "python" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.executable))
TICK = os.sysconf("SC_CLK_TCK")

MESSAGE = b"covet-ws-bench-32-byte-message.."  # 32 bytes of text
assert len(MESSAGE) == 32
SERVER_CPU, CLIENT_CPU = "0", "1"


# -- /proc ------------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in bench.tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


# -- the load generator (run by the peers' Python, pinned to CPU 1) ------------------------------------------------


def client_main(argv: list[str]) -> int:
    """``ws_bench.py client echo|broadcast --url ws://... --conns N``: connects, prints "ready", reads "t0 t1" on
    stdin, loads the server from then on, counts what arrives between t0 and t1 (wall clock), and prints one JSON
    line."""
    import asyncio

    import picows
    import uvloop

    ap = argparse.ArgumentParser(prog="ws_bench.py client")
    ap.add_argument("kind", choices=["echo", "broadcast"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--window", type=int, default=8)
    args = ap.parse_args(argv)
    text, close = picows.WSMsgType.TEXT, picows.WSMsgType.CLOSE
    n = args.conns

    class State:
        running = False
        count = 0  # echoes received, or deliveries
        bad = 0  # wrong payloads
        outstanding = 0  # echo: connections whose message is in flight
        joined = 0  # broadcast: subscribers that heard "joined"
        sent = 0  # broadcast: messages published
        need = 0  # broadcast: deliveries before the next publish
        pub: picows.WSTransport | None = None

    st = State()

    class Echo(picows.WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.checked = 0

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            kind = frame.msg_type
            if kind == text:
                if self.checked < 64:  # compared in full at first, then by size (cheaper for the client)
                    self.checked += 1
                    if frame.get_payload_as_bytes() != MESSAGE:
                        st.bad += 1
                elif frame.payload_size != 32:
                    st.bad += 1
                st.count += 1
                if st.running:
                    transport.send(text, MESSAGE)
                else:
                    st.outstanding -= 1
            elif kind == close:
                transport.disconnect()

    class Sub(picows.WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.joined = False

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            kind = frame.msg_type
            if kind == text:
                if not self.joined:
                    self.joined = True
                    st.joined += 1
                    if frame.get_payload_as_bytes() != b"joined":
                        st.bad += 1
                    return
                if frame.payload_size != 32:
                    st.bad += 1
                st.count += 1
                if st.running and st.count >= st.need:
                    assert st.pub is not None
                    st.pub.send(text, MESSAGE)
                    st.sent += 1
                    st.need += n
            elif kind == close:
                transport.disconnect()

    class Quiet(picows.WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type == close:
                transport.disconnect()

    def usage() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    async def connect(factory: type, url: str, count: int) -> list[picows.WSTransport]:
        out: list[picows.WSTransport] = []
        while len(out) < count:
            batch = min(100, count - len(out))
            pairs = await asyncio.gather(*(picows.ws_connect(factory, url) for _ in range(batch)))
            out += [t for t, _ in pairs]
        return out

    async def settle(until: object, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not until():  # type: ignore[operator]
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def run() -> dict[str, object]:
        loop = asyncio.get_running_loop()
        pub: list[picows.WSTransport] = []
        if args.kind == "echo":
            conns = await connect(Echo, args.url + "/echo", n)
        else:
            conns = await connect(Sub, args.url + "/sub", n)
            if not await settle(lambda: st.joined == n, 30):
                return {"error": f"only {st.joined} of {n} subscribers joined"}
            pub = await connect(Quiet, args.url + "/pub", 1)
            st.pub = pub[0]
        print("ready", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        t0, t1 = (float(x) for x in line.split())
        st.running = True
        if args.kind == "echo":
            st.outstanding = n
            for t in conns:
                t.send(text, MESSAGE)
        else:
            st.need = n
            for _ in range(args.window):
                st.pub.send(text, MESSAGE)
                st.sent += 1
        await asyncio.sleep(max(0.0, t0 - time.time()))
        c0, u0, w0 = st.count, usage(), time.time()
        await asyncio.sleep(max(0.0, t1 - time.time()))
        c1, u1, w1 = st.count, usage(), time.time()
        st.running = False
        if args.kind == "echo":
            drained = await settle(lambda: st.outstanding == 0, 10)
            lost = st.outstanding
        else:
            drained = await settle(lambda: st.count >= st.sent * n, 10)
            lost = st.sent * n - st.count
        for t in conns + pub:
            t.send_close(picows.WSCloseCode.OK)
        try:
            await asyncio.wait_for(asyncio.gather(*(t.wait_disconnected() for t in conns + pub)), 5)
        except TimeoutError:
            for t in conns + pub:
                t.disconnect(False)
        return {"count": c1 - c0, "seconds": w1 - w0, "client_cpu": u1 - u0, "bad": st.bad,
                "lost": lost if not drained else 0, "sent": st.sent}

    result = uvloop.run(run())
    print(json.dumps(result), flush=True)
    return 0


# -- a blocking WebSocket client in a few lines: checks and idle connections ------------------------------------------


def handshake(port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def masked(payload: bytes, opcode: int = 1) -> bytes:
    """A client frame (FIN, masked) of a payload under 126 bytes."""
    mask = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """One unmasked server frame (short payloads only); ``buf`` holds what was read past it."""
    while True:
        if len(buf) >= 2:
            size = buf[1] & 0x7F
            head = 2 + (2 if size == 126 else 8 if size == 127 else 0)
            if len(buf) >= head:
                if size >= 126:
                    size = int.from_bytes(buf[2:head], "big")
                if len(buf) >= head + size:
                    op, payload = buf[0] & 0x0F, bytes(buf[head:head + size])
                    del buf[:head + size]
                    return op, payload
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        buf += data


def open_ws(port: int, path: str, timeout: float = 10.0) -> tuple[socket.socket, bytearray]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(handshake(port, path))
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed during the handshake")
        buf += data
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise ConnectionError(f"no 101: {head[:80]!r}")
    if b"sec-websocket-extensions" in head.lower():
        raise ConnectionError("the server agreed to an extension nobody offered")
    return sock, bytearray(rest)


def check(port: int) -> str | None:
    """The echo and the broadcast answer right: None, or what went wrong."""
    try:
        sock, buf = open_ws(port, "/echo")
        with sock:
            sock.sendall(masked(MESSAGE))
            op, payload = read_frame(sock, buf)
            if (op, payload) != (1, MESSAGE):
                return f"echo answered {op} {payload!r}"
        sub, sbuf = open_ws(port, "/sub")
        with sub:
            op, payload = read_frame(sub, sbuf)
            if payload != b"joined":
                return f"/sub said {payload!r}"
            pub, _ = open_ws(port, "/pub")
            with pub:
                pub.sendall(masked(MESSAGE))
                op, payload = read_frame(sub, sbuf)
                if (op, payload) != (1, MESSAGE):
                    return f"broadcast delivered {op} {payload!r}"
    except (OSError, ConnectionError) as exc:
        return f"error: {exc}"
    return None


def open_idle(port: int, count: int, into: list[socket.socket], net: int) -> None:
    """``count`` more connections, each upgraded (no extension offered) and with one message echoed, left idle."""
    frame = masked(MESSAGE)
    expect = bytes([0x81, 32]) + MESSAGE
    give_up = time.monotonic() + 120
    done = 0
    while done < count:
        if time.monotonic() > give_up:
            raise RuntimeError(f"only {done} of {count} idle connections opened in 120 s")
        batch: dict[socket.socket, bytearray] = {}
        for _ in range(min(250, count - done)):
            s = socket.socket()
            s.bind((f"127.0.{net}.{1 + len(into) // 20000}", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(handshake(port, "/echo"))
            s.setblocking(False)
            batch[s] = bytearray()
            into.append(s)
        sel = selectors.DefaultSelector()
        for s in batch:
            sel.register(s, selectors.EVENT_READ)
        upgraded: set[socket.socket] = set()
        deadline = time.monotonic() + 30
        while batch and time.monotonic() < deadline:
            for key, _ in sel.select(1):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                data = s.recv(65536)
                if not data:
                    raise RuntimeError("the server closed a connection being opened")
                buf = batch[s]
                buf += data
                if s not in upgraded and b"\r\n\r\n" in buf:
                    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
                    if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
                        raise RuntimeError(f"no 101: {head[:80]!r}")
                    if b"sec-websocket-extensions" in head.lower():
                        raise RuntimeError("an extension was agreed that nobody offered")
                    upgraded.add(s)
                    buf[:] = rest
                    s.setblocking(True)
                    s.sendall(frame)
                    s.setblocking(False)
                if s in upgraded and len(buf) >= len(expect):
                    if bytes(buf[:len(expect)]) != expect:
                        raise RuntimeError(f"wrong echo on an idle connection: {bytes(buf)!r}")
                    sel.unregister(s)
                    del batch[s]
        sel.close()
        if batch:
            raise RuntimeError(f"{len(batch)} connections got no answer in 30 s")
        done += min(250, count - done)


def still_open(conns: list[socket.socket]) -> tuple[int, int]:
    """(closed by the server, sent something since) among idle connections."""
    closed = spoke = 0
    for s in conns:
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            closed += 1
            continue
        if not data:
            closed += 1
        else:
            spoke += 1
    return closed, spoke


# -- the servers ----------------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    cmd: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    why_not: str | None = None  # set when it cannot run or answers wrong


def covet(loop: str) -> Target:
    return Target(f"CovetPy ({'io_uring' if loop == 'uring' else loop})",
                  [str(COVET_PY), "-m", "covet", "serve", "perf.apps.covet_ws_app:app", "--loop", loop,
                   "--no-access-log", "--ws-ping-interval", "0", "--log-level", "warning", "--port", "{port}"],
                  ROOT, {"PYTHONPATH": str(ROOT)})


def uvicorn(ws: str) -> Target:
    return Target(f"uvicorn ({ws})",
                  [str(PEERS_PY), "-m", "uvicorn", "apps.ws_uvicorn_app:app", "--ws", ws, "--http", "httptools",
                   "--loop", "uvloop", "--no-access-log", "--log-level", "warning", "--port", "{port}"], HERE)


def all_targets() -> list[Target]:
    return [
        covet("uring"),
        covet("uvloop"),
        uvicorn("websockets"),
        uvicorn("websockets-sansio"),  # uvicorn's default when websockets is installed
        uvicorn("wsproto"),
        # One worker, one single-threaded runtime; the backlog and backpressure (default 1024) raised so that
        # thousands of open connections are let in.
        Target("Granian RSGI",
               [str(PEERS_PY), "-m", "granian", "--interface", "rsgi", "--http", "1", "--ws", "--workers", "1",
                "--runtime-mode", "st", "--runtime-threads", "1", "--blocking-threads", "1", "--loop", "uvloop",
                "--backlog", "16384", "--backpressure", "16384", "--no-access-log", "--log-level", "warning",
                "--port", "{port}", "apps.ws_granian_rsgi:app"], HERE),
        Target("socketify", [str(PEERS_PY), "apps/ws_socketify_app.py", "--port", "{port}"], HERE),
        Target("websockets server (uvloop)", [str(PEERS_PY), "apps/ws_websockets_server.py", "--port", "{port}"],
               HERE),
    ]


def start(t: Target) -> None:
    """Start ``t`` pinned to the server's CPU, once it accepts (perf/bench.py's, which reads the same fields)."""
    bench.start(t)  # type: ignore[arg-type]


def stop(t: Target) -> None:
    proc = t.proc
    if proc is None:
        return
    t.proc = None
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            for p in reversed(bench.tree(proc.pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            proc.wait(5)
    if proc.stderr:
        err = proc.stderr.read().decode(errors="replace").strip()
        if err:
            print(f"ws_bench: {t.name} said on stderr: {err[-600:]}", file=sys.stderr)


# -- the measurements -------------------------------------------------------------------------------------------------


C_SOURCE = HERE / "ws_load.c"
C_CLIENT = HERE / ".ws-load" / "ws_load"


def build_c_client() -> None:
    """Compile perf/ws_load.c (when it changed) into perf/.ws-load/."""
    if C_CLIENT.exists() and C_CLIENT.stat().st_mtime >= C_SOURCE.stat().st_mtime:
        return
    C_CLIENT.parent.mkdir(exist_ok=True)
    (C_CLIENT.parent / ".gitignore").write_text("*\n")
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", "-Wextra", "-o", str(C_CLIENT), str(C_SOURCE)],
                   check=True)


def load(t: Target, client: str, kind: str, conns: int, seconds: float, warmup: float, procs: int = 1,
         window: int = 8) -> dict[str, float]:
    """Run ``procs`` load generators on CPU 1 against ``t``; the timed window starts once all are connected."""
    assert t.proc is not None
    split = [conns // procs + (1 if i < conns % procs else 0) for i in range(procs)]

    def command(n: int) -> list[str]:
        if client == "c":
            return [str(C_CLIENT), kind, str(t.port), str(n), str(window)]
        return [str(PEERS_PY), __file__, "client", kind, "--url", f"ws://127.0.0.1:{t.port}", "--conns", str(n),
                "--window", str(window)]

    clients = [subprocess.Popen(["taskset", "-c", CLIENT_CPU, *command(n)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for n in split]
    try:
        for c in clients:
            assert c.stdout is not None
            line = c.stdout.readline().strip()
            if line != "ready":
                rest = c.stdout.read()
                raise RuntimeError(f"{t.name} {kind}: the load generator said {line!r} {rest[-400:]}")
        t0 = time.time() + warmup
        t1 = t0 + seconds
        for c in clients:
            assert c.stdin is not None
            c.stdin.write(f"{t0} {t1}\n")
            c.stdin.flush()
        time.sleep(max(0.0, t0 - time.time()))
        s0, w0 = cpu_seconds(t.proc.pid), time.time()
        time.sleep(max(0.0, t1 - time.time()))
        s1, w1 = cpu_seconds(t.proc.pid), time.time()
        outs = []
        for c in clients:
            out, _ = c.communicate(timeout=60)
            if c.returncode != 0 or not out.strip():
                raise RuntimeError(f"{t.name} {kind}: the load generator failed ({c.returncode}): {out[-400:]}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
    for o in outs:
        if "error" in o:
            raise RuntimeError(f"{t.name} {kind}: {o['error']}")
    count = sum(o["count"] for o in outs)
    wall = w1 - w0
    return {
        "rate": sum(o["count"] / o["seconds"] for o in outs),
        "cpu_us": (s1 - s0) / count * 1e6 if count else 0.0,
        "server_share": (s1 - s0) / wall,
        "client_share": sum(o["client_cpu"] / o["seconds"] for o in outs),
        "bad": float(sum(o["bad"] for o in outs)),
        "lost": float(sum(o["lost"] for o in outs)),
    }


NET = [0]


def idle_memory(t: Target, warm: int, count: int) -> dict[str, float]:
    assert t.proc is not None
    NET[0] = NET[0] % 250 + 1  # each measurement from its own 127.0.N.x: no port left in TIME_WAIT collides
    conns: list[socket.socket] = []
    try:
        open_idle(t.port, warm, conns, NET[0])
        time.sleep(1.0)
        before = bench.rss(t.proc.pid)
        open_idle(t.port, count, conns, NET[0])
        time.sleep(1.0)
        after = bench.rss(t.proc.pid)
        closed, spoke = still_open(conns)
    finally:
        for s in conns:
            s.close()
    return {"per_conn": (after - before) / count, "before": float(before), "after": float(after),
            "closed": float(closed), "spoke": float(spoke)}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        return client_main(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one round of 2 s, fewer idle connections")
    ap.add_argument("--seconds", type=float, default=None, help="timed window of each load (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="load before the timed window starts")
    ap.add_argument("--rounds", type=int, default=None, help="default 3")
    ap.add_argument("--conns", default="16,256", help="echo connection counts")
    ap.add_argument("--subs", type=int, default=1000, help="broadcast subscribers")
    ap.add_argument("--window", type=int, default=8, help="broadcast messages in flight")
    ap.add_argument("--idle", type=int, default=None, help="idle connections measured (default 5000)")
    ap.add_argument("--idle-warm", type=int, default=500, help="idle connections opened before the first reading")
    ap.add_argument("--client", default="c,picows",
                    help="the load generators, comma-separated, each running every load: picows (Cython, on uvloop) "
                         "and/or c (perf/ws_load.c, epoll); the first is the one the targets are judged on")
    ap.add_argument("--client-procs", type=int, default=1, help="echo load generator processes, all on CPU 1")
    ap.add_argument("--only", default="memory,echo,broadcast", help="which measurements, comma-separated")
    ap.add_argument("--targets", default="", help="comma-separated target names (default: all)")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--docs", action="store_true", help="write the websocket section of docs/performance.md")
    args = ap.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 3)
    idle = args.idle or (1000 if args.quick else 5000)
    only = set(args.only.split(","))
    conn_counts = [int(c) for c in args.conns.split(",") if c]
    if not PEERS_PY.exists():
        print("ws_bench: perf/.venv-ws-peers is missing: python3 -m venv perf/.venv-ws-peers && "
              "perf/.venv-ws-peers/bin/pip install -r perf/requirements-ws-peers.txt", file=sys.stderr)
        return 2
    clients = [c for c in args.client.split(",") if c]
    if set(clients) - {"picows", "c"}:
        print("ws_bench: --client takes picows and/or c", file=sys.stderr)
        return 2
    if "c" in clients:
        build_c_client()
    # This process (the idle connections' client, and the parent of the load generators) stays off the server's CPU.
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wanted = [n.strip() for n in args.targets.split(",") if n.strip()]
    ts = [t for t in all_targets() if not wanted or t.name in wanted]
    unknown = set(wanted) - {t.name for t in ts}
    if unknown:
        print(f"ws_bench: no such target: {', '.join(sorted(unknown))}; the targets are: "
              f"{', '.join(t.name for t in all_targets())}", file=sys.stderr)
        return 2
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(rounds):
        for t in ts:
            if t.why_not:
                continue
            try:
                start(t)
                wrong = check(t.port)
                if wrong:
                    t.why_not = f"answered wrong: {wrong}"
                    print(f"ws_bench: {t.name}: {t.why_not}: left out", file=sys.stderr)
                    continue
                if "memory" in only:
                    res = idle_memory(t, args.idle_warm, idle)
                    results.setdefault((t.name, "memory"), []).append(res)
                    print(f"round {r + 1} {t.name:38} idle {res['per_conn']:8.0f} B/conn "
                          f"(closed {res['closed']:.0f}, spoke {res['spoke']:.0f})", file=sys.stderr, flush=True)
                    time.sleep(1.0)
                for client in clients:
                    if "echo" in only:
                        for n in conn_counts:
                            res = load(t, client, "echo", n, seconds, args.warmup, args.client_procs)
                            results.setdefault((t.name, f"{client}/echo{n}"), []).append(res)
                            print(f"round {r + 1} {t.name:36} {client:6} echo x{n:<4} {res['rate']:8.0f} msg/s "
                                  f"{res['cpu_us']:6.2f} us CPU/msg  server {res['server_share']:.0%} "
                                  f"client {res['client_share']:.0%}  bad {res['bad']:.0f} lost {res['lost']:.0f}",
                                  file=sys.stderr, flush=True)
                    if "broadcast" in only:
                        res = load(t, client, "broadcast", args.subs, seconds, args.warmup, 1, args.window)
                        results.setdefault((t.name, f"{client}/broadcast"), []).append(res)
                        print(f"round {r + 1} {t.name:36} {client:6} broadcast {res['rate']:8.0f} deliveries/s "
                              f"{res['cpu_us']:6.2f} us CPU/delivery  server {res['server_share']:.0%} "
                              f"client {res['client_share']:.0%}  bad {res['bad']:.0f} lost {res['lost']:.0f}",
                              file=sys.stderr, flush=True)
            except RuntimeError as exc:
                t.why_not = str(exc)
                print(f"ws_bench: {t.name}: {exc}: left out", file=sys.stderr, flush=True)
            finally:
                stop(t)
                time.sleep(0.5)
    info = bench.machine()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    with open(Path(args.out) / "ws_runs.jsonl", "a") as f:
        for (tname, what), runs in results.items():
            f.write(json.dumps({"machine": info, "target": tname, "measure": what, "runs": runs}) + "\n")
    summary = {key: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for key, runs in results.items()}
    text = report(summary, ts, clients, conn_counts, info, seconds, rounds, args, idle)
    print(text)
    if args.docs:
        sys.path.insert(0, str(HERE))
        from docsection import replace_section

        replace_section("websocket", DOC_INTRO + "\n\n" + text + "\n\n" + DOC_METHOD)
    return 0


BASE = "CovetPy (io_uring)"
PEER_SERVERS = ("uvicorn", "Granian")  # "the best Python-server peer"


CLIENT_NAMES = {"picows": "picows", "c": "perf/ws_load.c"}


def report(summary: dict[tuple[str, str], dict[str, float]], ts: list[Target], clients: list[str],
           conn_counts: list[int], info: dict[str, str], seconds: float, rounds: int, args: argparse.Namespace,
           idle: int) -> str:
    lines = [(f"Machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}, Python {info['python']}, "
              f"{info['date']}. One server at a time, one worker, pinned to CPU 0; the load generator pinned to "
              f"CPU 1; {seconds:g} s timed (after {args.warmup:g} s of load) x {rounds} rounds, medians."), ""]
    ran = [t for t in ts if any(k[0] == t.name for k in summary)]

    def ratio(name: str, what: str) -> str:
        r, b = summary.get((name, what)), summary.get((BASE, what))
        if r is None or b is None or not r["rate"] or not b["rate"]:
            return "-"
        return f"{b['rate'] / r['rate']:.2f}x"

    def shares(r: dict[str, float] | None) -> str:
        return "-" if r is None else f"{r['server_share']:.0%} / {r['client_share']:.0%}"

    for client in clients:
        gen = CLIENT_NAMES[client]
        echo = [f"{client}/echo{n}" for n in conn_counts]
        if any((t.name, e) in summary for t in ran for e in echo):
            procs = f", {args.client_procs} processes" if args.client_procs > 1 else ""
            lines += [(f"**Echo: 32-byte text messages, one in flight per connection** (load generator: "
                       f"{gen}{procs})"), "",
                      ("| Server | " + " | ".join(f"msg/s, {n} conns" for n in conn_counts) + " | "
                       + " | ".join(f"server CPU/msg, {n}" for n in conn_counts) + " | "
                       + f"CovetPy io_uring ÷ this, msg/s ({' / '.join(map(str, conn_counts))}) | "
                       + f"CPU share, server / load generator ({'; '.join(map(str, conn_counts))}) |"),
                      "|---" * (3 + 2 * len(conn_counts)) + "|"]
            for t in ran:
                got = [summary.get((t.name, e)) for e in echo]
                row = [t.name]
                row += ["-" if r is None else f"{r['rate'] / 1000:.1f}k" for r in got]
                row += ["-" if r is None else f"{r['cpu_us']:.2f} µs" for r in got]
                row.append(" / ".join(ratio(t.name, e) for e in echo))
                row.append("; ".join(shares(r) for r in got))
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
        what = f"{client}/broadcast"
        if any((t.name, what) in summary for t in ran):
            lines += [(f"**Broadcast: one publisher, {args.subs:,} subscribers of one channel, {args.window} "
                       f"messages of 32 bytes in flight** (load generator: {gen})"), "",
                      ("| Server | deliveries/s | server CPU/delivery | CovetPy io_uring ÷ this, deliveries/s | "
                       "CPU share, server / load generator |"), "|---|---|---|---|---|"]
            for t in ran:
                r = summary.get((t.name, what))
                if r is None:
                    lines.append(f"| {t.name} | - | - | - | - |")
                    continue
                lines.append(f"| {t.name} | {r['rate'] / 1000:.1f}k | {r['cpu_us']:.2f} µs | {ratio(t.name, what)} | "
                             f"{shares(r)} |")
            lines.append("")
    if any((t.name, "memory") in summary for t in ran):
        lines += [(f"**Idle memory: {idle:,} WebSocket connections (no permessage-deflate offered), each with one "
                   f"message echoed; growth of the server's RSS past the first {args.idle_warm}**"), "",
                  "| Server | per connection | RSS before → after | closed / pinged by the server meanwhile |",
                  "|---|---|---|---|"]
        for t in ran:
            r = summary.get((t.name, "memory"))
            if r is None:
                lines.append(f"| {t.name} | - | - | - |")
                continue
            lines.append(f"| {t.name} | {fmt_bytes(r['per_conn'])} | {r['before'] / 2**20:.1f} → "
                         f"{r['after'] / 2**20:.1f} MiB | {r['closed']:.0f} / {r['spoke']:.0f} |")
        lines.append("")
    left = [t for t in ts if t.why_not]
    if left:
        lines += ["Left out: " + "; ".join(f"{t.name}: {t.why_not}" for t in left) + ".", ""]
    lines += targets_verdict(summary, clients, conn_counts)
    return "\n".join(lines).rstrip()


def fmt_bytes(n: float) -> str:
    return f"{n:,.0f} B" if abs(n) < 10_000 else f"{n / 1000:.1f} KB"


def targets_verdict(summary: dict[tuple[str, str], dict[str, float]], clients: list[str],
                    conn_counts: list[int]) -> list[str]:
    """CovetPy's targets, judged on this run: echo at least 2x the best of uvicorn and Granian; server CPU per echoed
    message within 1.3x socketify's; an idle connection at most 1 KB."""
    out: list[str] = []
    for name in (BASE, "CovetPy (uvloop)"):
        rows: list[str] = []
        for client in clients:
            gen = CLIENT_NAMES[client]
            for n in conn_counts:
                what = f"{client}/echo{n}"
                me = summary.get((name, what))
                if me is None:
                    continue
                peers = {k[0]: v["rate"] for k, v in summary.items() if k[1] == what and k[0].startswith(PEER_SERVERS)}
                if peers:
                    best = max(peers, key=lambda k: peers[k])
                    x = me["rate"] / peers[best]
                    rows.append(f"| echo msg/s, {n} conns ({gen}) ÷ the best of uvicorn and Granian ({best}) | ≥ 2x | "
                                f"{x:.2f}x | {'met' if x >= 2 else 'not met'} |")
                sock = summary.get(("socketify", what))
                if sock is not None and sock["cpu_us"]:
                    x = me["cpu_us"] / sock["cpu_us"]
                    rows.append(f"| server CPU per echoed message, {n} conns ({gen}) ÷ socketify's | ≤ 1.3x | "
                                f"{x:.2f}x | {'met' if x <= 1.3 else 'not met'} |")
        mem = summary.get((name, "memory"))
        if mem is not None:
            rows.append(f"| idle connection, no permessage-deflate | ≤ 1 KB | {fmt_bytes(mem['per_conn'])} | "
                        f"{'met' if mem['per_conn'] <= 1000 else 'not met'} |")
        if rows:
            out += [f"**{name} against its targets (this run)**", "", "| Target | Goal | Measured | |",
                    "|---|---|---|---|", *rows, ""]
    return out


DOC_INTRO = """## WebSocket

Measured by `perf/ws_bench.py`: echo, broadcast to 1,000 subscribers, and idle memory per connection, CovetPy
against uvicorn (three WebSocket implementations), Granian, socketify and the `websockets` package's own server."""

DOC_METHOD = """**How it was measured.** Each server runs alone (never two at once), one worker, pinned to CPU 0 with
`taskset`; the load generator is pinned to CPU 1. Every server restarts for each round and the rounds interleave
the servers; medians are shown, and ratios are CovetPy (io_uring) ÷ the other, from the same run. CovetPy serves
`perf/apps/covet_ws_app.py` with `covet serve --no-access-log --ws-ping-interval 0`, its runtime modules compiled
(`setup.py build_ext --inplace`, the WebSocket session and its transports among them; the app itself is not
`covet build`-compiled). The peers' apps are in `perf/apps/ws_*.py`, each written for the server's own API (raw ASGI for
uvicorn, raw RSGI for Granian, uWebSockets' native callbacks for socketify), with their default WebSocket settings
(uvicorn's and `websockets`' keep-alive pings every 20 s stay on; Granian's backlog and backpressure are raised to
16,384 so that thousands of connections are let in; socketify's idle timeout is 960 s, compression off).
uvicorn runs with httptools and uvloop; `--ws websockets` is the implementation uvicorn now marks deprecated,
`websockets-sansio` the one it picks by default. Versions: `perf/requirements-ws-peers.txt`.

- *Load generators*: every load runs twice, once with `perf/ws_load.c` (one thread, epoll, compiled at run time)
  and once with picows (a Cython WebSocket client on uvloop), each in one process on CPU 1; a table each. The last
  column gives the CPU each side used over the timed window, in shares of one core: a load generator near 100% is
  the bottleneck, and that row's rate a floor. Server CPU per message is the figure to compare there. The targets
  are judged on `perf/ws_load.c`: picows tops out near 100k messages/s on this machine (about 90% of CPU 1 against
  CovetPy), so it measures itself rather than the fastest servers.
- *Echo*: every connection sends a 32-byte text message and sends the next when its echo arrives. Messages are
  counted over the timed window, after a second of load; server CPU is user + system time from `/proc/<pid>/stat`
  (with its children's) over the same window, divided by the messages.
- *Broadcast*: 1,000 connections subscribe (CovetPy: `covet.broadcast` with `memory://`; the peers: a set of
  connections and a loop awaiting a send to each, as their docs write a chat room), one more publishes; the
  publisher keeps 8 messages in flight across all subscribers (it sends the next when the deliveries reach
  1,000 × (sent - 7)). Deliveries are the messages the subscribers received.
- *Idle memory*: 500 connections are opened first, then the server's RSS (process and children, `/proc/<pid>/status`)
  is read, 5,000 more are opened, and it is read again a second later; each connection is upgraded without
  offering permessage-deflate and echoes one message, then stays idle. The figure is the growth ÷ 5,000.

**What this does not measure.** Latency; large messages, binary messages, fragmentation; permessage-deflate (no
client offers it here: neither its CPU nor its memory is in these figures); TLS; more than one worker or core; a
slow subscriber, backpressure; broadcast across workers (Redis); socketify's and `websockets`' own broadcast helpers
(uWebSockets' topics, `websockets.broadcast()`), which skip the per-connection send loop written here. On two cores
a load generator fast enough for the fastest servers is the hard part: where its share is high, read the CPU per
message rather than the rate."""


if __name__ == "__main__":
    sys.exit(main())
