"""Autobahn|Testsuite's fuzzingclient against CovetPy's WebSockets: one echo server (tests/autobahn/echo.py) per loop
and runtime mode, one wstest run against it, and a summary of the reports.

    python tests/autobahn/run.py                       # every loop, compiled runtime, 9.* (the slow cases) left out
    python tests/autobahn/run.py --full                # every case, 9.* included (`make conformance-ws`)
    python tests/autobahn/run.py --loop uring --mode interpreted --cases 5.* --cases 6.4.*

wstest comes from tests/autobahn/setup.sh (a Python 2.7 virtualenv in .cache/autobahn-venv). Each run writes its spec,
the server's log, wstest's output and Autobahn's reports (reports/servers/index.json and a JSON and an HTML page per
case) under .cache/autobahn/<mode>-<loop>/. The summary counts Autobahn's verdict (a case's "behavior") per run; a case
whose closing behaviour is FAILED or UNCLEAN counts as failed too, though Autobahn's own table still shows it as a
pass (with a red close cell). permessage-deflate's groups (12.*, 13.*) take wstest 30 s to 2 min each (it compresses
up to 128 MiB a case itself): the default run keeps the first two cases of each (its small messages), `--full` all of
them. An UNIMPLEMENTED case is
counted, not failed. Exit status: 0 when no case failed, 1 when one did, 2 when a server or wstest did not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WSTEST = ROOT / ".cache" / "autobahn-venv" / "bin" / "wstest"
OUTDIR = ROOT / ".cache" / "autobahn"
LOOPS = ["uring", "uvloop", "asyncio"]
MODES = ["compiled", "interpreted"]
VERDICTS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
SLOW = ["9.*"]  # limits and performance: messages up to 16 MiB, a few minutes of the run
# What runs by default: everything but 9.*, and of permessage-deflate's 14 groups (12.1-12.5, 13.1-13.7; ~10 min for
# wstest whole), the first two cases of each.
DEFLATE_SAMPLE = [f"{group}.{n}" for group in [*(f"12.{g}" for g in range(1, 6)), *(f"13.{g}" for g in range(1, 8))]
                  for n in (1, 2)]
FAST = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*", *DEFLATE_SAMPLE]
SERVER_ARGS = ["--ws-max-size", str(16 << 20), "--ws-ping-interval", "0", "--no-access-log"]
_SERVING = re.compile(r"covet: serving http://([^ ]+):(\d+) \(handlers=\w+, loop=(\w+), server runtime=(\w+)[^)]*\)")


class RunError(Exception):
    """A server that did not start, or a wstest that did not finish: no verdict at all."""


@dataclass
class Case:
    id: str
    behavior: str
    behavior_close: str
    description: str = ""
    expectation: str = ""
    result: str = ""
    result_close: str = ""
    remote_close: str = ""
    received: str = ""  # the events Autobahn saw (messages, pongs), cut short
    wanted: str = ""  # the events of the outcome it calls OK

    @property
    def failed(self) -> bool:
        return self.behavior == "FAILED" or self.behavior_close in ("FAILED", "UNCLEAN")

    def explain(self) -> str:
        lines = [f"{self.id}  behavior={self.behavior}  behaviorClose={self.behavior_close}",
                 f"    case:     {self.description}",
                 f"    expected: {self.expectation}",
                 f"    result:   {self.result}",
                 f"    close:    {self.result_close}"]
        if self.behavior != "OK" and (self.received or self.wanted):
            lines.append(f"    received: {self.received}   (OK would be: {self.wanted})")
        if self.remote_close:
            lines.append(f"    the server's Close frame: {self.remote_close}")
        return "\n".join(lines)


@dataclass
class Summary:
    loop: str
    mode: str
    seconds: float
    cases: list[Case]
    outdir: Path
    server_log: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = dict.fromkeys(VERDICTS, 0)
        for case in self.cases:
            self.counts[case.behavior] = self.counts.get(case.behavior, 0) + 1

    @property
    def failed(self) -> list[Case]:
        return [c for c in self.cases if c.failed]

    @property
    def non_strict(self) -> list[Case]:
        return [c for c in self.cases if c.behavior == "NON-STRICT" and not c.failed]

    @property
    def close_notes(self) -> list[Case]:
        """Passed cases whose close Autobahn marks (WRONG_CODE, FAILED BY CLIENT): shown, not failed."""
        return [c for c in self.cases if not c.failed and c.behavior_close not in ("OK", "INFORMATIONAL")
                and c.behavior != "UNIMPLEMENTED"]

    def report(self) -> str:
        counts = "  ".join(f"{v} {n}" for v, n in self.counts.items() if n or v in VERDICTS)
        unimpl = sorted({c.id.split(".")[0] + ".*" for c in self.cases if c.behavior == "UNIMPLEMENTED"},
                        key=_case_key)
        out = [f"== {self.mode}-{self.loop}: {len(self.cases)} cases in {self.seconds:.0f} s: {counts}"
               + (f" (unimplemented: {', '.join(unimpl)})" if unimpl else "")]
        close_only = [c for c in self.failed if c.behavior != "FAILED"]
        if close_only:
            out.append(f"   of which {len(close_only)} passed by Autobahn's verdict but FAILED/UNCLEAN in closing")
        info = [c.id for c in self.cases if c.behavior == "INFORMATIONAL"]
        if info:
            out.append(f"   informational (Autobahn records, judges nothing): {', '.join(info)}")
        for title, cases in (("FAILED", self.failed), ("NON-STRICT", self.non_strict),
                             ("closing noted by Autobahn (not failed)", self.close_notes)):
            if cases:
                out.append(f"-- {title}:")
                out.extend(c.explain() for c in cases)
        tracebacks = self.server_log.count("Traceback")
        if tracebacks:
            out.append(f"-- the server logged {tracebacks} traceback(s): {self.outdir / 'server.log'}")
        out.append(f"   reports: {self.outdir / 'reports' / 'servers' / 'index.html'}")
        return "\n".join(out)


def _case_key(case_id: str) -> list[int]:
    return [int(p) if p.isdigit() else 0 for p in case_id.rstrip(".*").split(".")]


def _short(events: object, limit: int = 160) -> str:
    text = json.dumps(events)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def parse_reports(reports: Path) -> list[Case]:
    """Every case of reports/servers/index.json (one agent), each with the details of its own JSON report."""
    index = json.loads((reports / "index.json").read_text())
    cases: list[Case] = []
    for agent_cases in index.values():
        for case_id, entry in agent_cases.items():
            case = Case(case_id, entry["behavior"], entry["behaviorClose"])
            detail_file = reports / entry["reportfile"]
            if detail_file.exists():
                detail = json.loads(detail_file.read_text())
                case.description = detail.get("description", "")
                case.expectation = detail.get("expectation", "")
                case.result = detail.get("result", "")
                case.result_close = detail.get("resultClose", "")
                case.received = _short(detail.get("received"))
                case.wanted = _short((detail.get("expected") or {}).get("OK"))
                if detail.get("remoteCloseCode") is not None:
                    case.remote_close = f"{detail['remoteCloseCode']} ({detail.get('remoteCloseReason') or ''})"
            cases.append(case)
    cases.sort(key=lambda c: _case_key(c.id))
    return cases


class EchoServer:
    """`covet serve echo:app` on a free port, its log in a file; a context manager that stops it (SIGTERM)."""

    def __init__(self, loop: str, mode: str, log: Path) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("COVET_PURE_RUNTIME", None)
        if mode == "interpreted":
            env["COVET_PURE_RUNTIME"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), str(ROOT), env.get("PYTHONPATH")]))
        self.log_path = log
        self._log = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "covet", "serve", "echo:app", "--port", "0",
                                      "--loop", loop, *SERVER_ARGS],
                                     cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            m = _SERVING.search(log.read_text())
            if m:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RunError(f"the {mode}-{loop} echo server did not start:\n{log.read_text()}")
            time.sleep(0.05)
        self.host, self.port = m.group(1), int(m.group(2))
        if (m.group(3), m.group(4)) != (loop, mode):
            self.stop()
            raise RunError(f"asked for {mode}-{loop}, the server runs loop={m.group(3)} runtime={m.group(4)} "
                           f"(compiled runtime modules missing? build them with setup.py build_ext --inplace)")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_one(loop: str, mode: str, cases: list[str], exclude: list[str], wstest: Path = WSTEST,
            outdir: Path = OUTDIR, timeout: float = 3600) -> Summary:
    """One server, one wstest run, its reports parsed."""
    if not wstest.exists():
        raise RunError(f"{wstest} is missing: run tests/autobahn/setup.sh first")
    where = outdir / f"{mode}-{loop}"
    reports = where / "reports" / "servers"
    where.mkdir(parents=True, exist_ok=True)
    for old in reports.glob("*"):
        old.unlink()
    started = time.monotonic()
    with EchoServer(loop, mode, where / "server.log") as server:
        spec = {
            "outdir": str(reports),
            "servers": [{"agent": f"covet-{mode}-{loop}", "url": f"ws://{server.host}:{server.port}/"}],
            "cases": cases,
            "exclude-cases": exclude,
            "exclude-agent-cases": {},
        }
        (where / "fuzzingclient.json").write_text(json.dumps(spec, indent=2) + "\n")
        with open(where / "wstest.log", "w") as out:
            try:
                done = subprocess.run([str(wstest), "-m", "fuzzingclient", "-s", "fuzzingclient.json"], cwd=where,
                                      stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RunError(f"wstest did not finish in {timeout:.0f} s: {where / 'wstest.log'}") from None
        if done.returncode != 0 or not (reports / "index.json").exists():
            tail = "".join((where / "wstest.log").read_text().splitlines(keepends=True)[-20:])
            raise RunError(f"wstest failed (exit {done.returncode}), no reports:\n{tail}")
    seconds = time.monotonic() - started
    return Summary(loop, mode, seconds, parse_reports(reports), where, server_log=(where / "server.log").read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loop", action="append", choices=LOOPS, help="repeatable (default: every loop)")
    p.add_argument("--mode", action="append", choices=MODES,
                   help="the server runtime: compiled (mypyc modules) or interpreted (COVET_PURE_RUNTIME=1); "
                        "repeatable (default: compiled)")
    p.add_argument("--full", action="store_true", help="every case: 9.* (limits and performance) included")
    p.add_argument("--cases", action="append", metavar="PATTERN", help="cases to run, repeatable (default: *)")
    p.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                   help="more cases to leave out, repeatable")
    p.add_argument("--wstest", type=Path, default=WSTEST)
    p.add_argument("--outdir", type=Path, default=OUTDIR)
    args = p.parse_args(argv)
    exclude = ([] if args.full else list(SLOW)) + args.exclude
    summaries: list[Summary] = []
    status = 0
    for mode in args.mode or ["compiled"]:
        for loop in args.loop or LOOPS:
            print(f"autobahn: {mode}-{loop}: cases {args.cases or ('*' if args.full else 'FAST')}, excluding "
                  f"{exclude or 'none'} ...", flush=True)
            try:
                cases = args.cases or (["*"] if args.full else FAST)
                summary = run_one(loop, mode, cases, exclude, args.wstest, args.outdir)
            except RunError as exc:
                print(f"autobahn: {mode}-{loop}: NO RESULT: {exc}", flush=True)
                status = 2
                continue
            summaries.append(summary)
            print(summary.report(), flush=True)
            if summary.failed and status == 0:
                status = 1
    if len(summaries) > 1:
        print("\n== summary")
        for s in summaries:
            counts = "  ".join(f"{v} {n}" for v, n in s.counts.items())
            print(f"{s.mode + '-' + s.loop:20} {s.seconds:5.0f} s  {counts}  (failed: {len(s.failed)})")
    return status


if __name__ == "__main__":
    sys.exit(main())
