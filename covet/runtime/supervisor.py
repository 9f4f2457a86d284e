"""Several workers on one listening socket: start them, replace the ones that die, reload, stop.

The supervisor binds the socket once and every worker inherits it
(``--fd``), accepting from its one queue on its own event loop and ring.
Not a socket per worker under SO_REUSEPORT: closing one of those resets the
connections queued on it (unless ``net.ipv4.tcp_migrate_req=1``), and a
reload or a dying worker would lose them. With one queue, a worker that goes
away leaves what is queued to the others. The price: the kernel wakes
whichever worker waits, so load is not spread evenly (a busy worker takes
fewer; see docs/deployment.md for what was measured).

The supervisor never imports the application: a reload starts fresh
interpreters, which load the new code and the new build. One spare, loaded
with the code of the last (re)load, waits to replace a worker that dies
(see worker_link); a reload replaces it too.

Signals (to the supervisor):
    TERM, INT   drain every worker (``--graceful-timeout``) and exit; a second one stops waiting.
    HUP         reload: each worker in turn is replaced, the new one started first, the old one drained once the new
                one is serving. A new worker that fails to start leaves the old one serving.
    TTIN, TTOU  one worker more, one fewer.
    CHLD        a worker died: it is replaced at once, or after a backoff (up to ``MAX_BACKOFF``) when workers keep
                dying within ``QUICK_DEATH`` seconds of their start.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Final, final

from covet._native import Metrics
from covet.runtime.listener import refuse_new_connections, unlink_own
from covet.runtime.worker_link import (
    ARGS_ENV,
    GO,
    GO_ENV,
    MAX_REQUESTS_ENV,
    METRICS_FD_ENV,
    METRICS_SLOT_ENV,
    PARENT_ENV,
    PIPE_ENV,
    READY,
    RETIRE,
    STANDBY,
)

__all__ = ["Supervisor", "WorkerSpec", "cpu_count"]

log = logging.getLogger("covet.supervisor")

QUICK_DEATH: Final = 1.0  # a worker that dies this soon after its start is failing, not unlucky
MAX_BACKOFF: Final = 10.0
READY_TIMEOUT: Final = 120.0  # start-up (import, lifespan hooks) may be slow; a hung one is killed
KILL_GRACE: Final = 5.0  # past --graceful-timeout, before a draining worker is killed


def cpu_count() -> int:
    """The CPUs this process may run on (``--workers 0``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@final
class WorkerSpec:
    """How to start a worker: its command line, the options it is to run with, and the socket it inherits."""

    def __init__(self, argv: Sequence[str], options: dict[str, object], sock: socket.socket, max_requests: int,
                 jitter: int, graceful_timeout: float, uds: str | None = None) -> None:
        self.argv = list(argv)
        self.uds = uds  # the Unix socket file this supervisor made, removed when it exits
        self.options = options
        self.sock = sock
        self.max_requests = max_requests
        self.jitter = jitter
        self.graceful_timeout = graceful_timeout


@final
class Worker:
    """One worker process, from the supervisor's side."""

    def __init__(self, proc: subprocess.Popen[bytes], pipe: int, generation: int, go: int = -1) -> None:
        self.proc = proc
        self.go = go  # a spare's: write GO to make it serve, close to let it go
        self.standby = False  # a spare that has loaded the application
        self.spare = go >= 0
        self.pid = proc.pid
        self.pipe = pipe  # the read end: READY, RETIRE, or EOF when it exits
        self.generation = generation
        self.started = time.monotonic()
        self.ready = False
        self.draining = 0.0  # when it was told to drain; 0 while it serves
        self.replacement: Worker | None = None  # the worker started to take its place
        self.replaces: Worker | None = None
        self.killed = False  # sent SIGKILL for not draining in time (said once)
        self.reload = 0  # the HUPs seen when it was started
        self.slot = 0  # its slot in the metrics segment (0: none)


@final
class Supervisor:
    """Keeps ``count`` workers serving until told to stop; ``run`` returns the exit status."""

    def __init__(self, spec: WorkerSpec, count: int, spare: bool = True) -> None:
        self.spec = spec
        self.keep_spare = spare
        self.count = max(1, count)
        self.workers: dict[int, Worker] = {}
        self.generation = 0
        self.stopping = 0.0  # when the stop began
        self.forced = False
        self.backoff = 0.0
        self.next_start = 0.0  # no worker starts before this (backoff)
        self.ever_ready = False
        self.failed_boot = False
        self.reload_queue: list[Worker] = []
        self.reloads = 0  # HUPs seen
        self.signals: list[int] = []
        self.selector = selectors.DefaultSelector()
        self.restarts = 0
        # --metrics: the segment every worker counts into, one slot each (docs/metrics.md). Made before any worker,
        # passed by descriptor. Room for the workers, their replacements during a reload, and the spare, twice over.
        self.metrics: Metrics | None = None
        self.free_slots: list[int] = []
        if spec.options.get("metrics"):
            self.metrics = Metrics(slots=min(1024, 2 * self.count + 4), slot=0, shared=True)
            self.free_slots = list(range(1, self.metrics.slots + 1))

    # -- starting and replacing -------------------------------------------------

    def _spawn(self, replaces: Worker | None = None, spare: bool = False) -> Worker | None:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        go_read, go_write = os.pipe() if spare else (-1, -1)
        fd = self.spec.sock.fileno()
        limit = self.spec.max_requests
        if limit and self.spec.jitter:
            limit += random.randint(0, self.spec.jitter)
        env = dict(os.environ)
        env[PIPE_ENV] = str(write_end)
        env[ARGS_ENV] = json.dumps(self.spec.options)
        env[MAX_REQUESTS_ENV] = str(limit)
        env[PARENT_ENV] = str(os.getpid())
        passed: tuple[int, ...] = (fd, write_end)
        if spare:
            env[GO_ENV] = str(go_read)
            passed = (fd, write_end, go_read)
        slot = 0
        if self.metrics is not None and self.free_slots:
            slot = self.free_slots.pop(0)
            env[METRICS_FD_ENV] = str(self.metrics.fd)
            env[METRICS_SLOT_ENV] = str(slot)
            passed += (self.metrics.fd,)
        elif self.metrics is not None:  # (only with over 2N + 4 workers alive at once)
            log.error("no metrics slot left: this worker's counts are its own, not merged")
        try:
            # Its own process group: a Ctrl-C at the terminal reaches the supervisor only, which drains each worker
            # once (a worker that saw it too would take the supervisor's SIGTERM as its second signal, and stop).
            proc = subprocess.Popen([sys.executable, "-m", "covet", *self.spec.argv, "--fd", str(fd)],
                                    pass_fds=passed, env=env, process_group=0)
        except OSError as exc:
            os.close(read_end)
            if spare:
                os.close(go_write)
            log.error("could not start a worker: %s", exc)
            if slot:
                self.free_slots.insert(0, slot)
            return None
        finally:
            os.close(write_end)
            if spare:
                os.close(go_read)
        self.generation += 1
        worker = Worker(proc, read_end, self.generation, go_write)
        worker.slot = slot
        worker.reload = self.reloads
        worker.replaces = replaces
        if replaces is not None:
            replaces.replacement = worker
        self.workers[worker.pid] = worker
        self.selector.register(read_end, selectors.EVENT_READ, worker)
        log.info("started %s %d (pid %d)%s", "spare" if spare else "worker", worker.generation, worker.pid,
                 f" to replace pid {replaces.pid}" if replaces is not None else "")
        return worker

    def _spare(self) -> Worker | None:
        return next((w for w in self.workers.values() if w.go >= 0), None)

    def _promote(self, replaces: Worker | None = None) -> bool:
        """Make the spare, if it has loaded, a worker; False when there is none ready."""
        spare = self._spare()
        if spare is None or not spare.standby:
            return False
        try:
            os.write(spare.go, GO)
        except OSError:
            return False
        finally:
            os.close(spare.go)
            spare.go = -1
        spare.started = time.monotonic()
        spare.replaces = replaces
        if replaces is not None:
            replaces.replacement = spare
        log.info("spare %d (pid %d) takes over%s", spare.generation, spare.pid,
                 f" from pid {replaces.pid}" if replaces is not None else "")
        return True

    def _let_spare_go(self) -> None:
        spare = self._spare()
        if spare is not None:
            os.close(spare.go)  # it reads EOF and exits
            spare.go = -1
            spare.draining = time.monotonic()

    def _kill_spare(self) -> None:
        """Stopping: the spare goes first and at once. It holds the listening socket too, and while it does the kernel
        keeps completing handshakes that nobody will accept, then resets them when it exits (wrk counted one read
        error per connection). Killed and reaped before the workers drain, the socket closes with the last of them."""
        spare = self._spare()
        if spare is None:
            return
        self._let_spare_go()
        self._signal(spare, signal.SIGKILL)
        try:
            os.waitpid(spare.pid, 0)
        except ChildProcessError:
            pass
        self.workers.pop(spare.pid, None)
        if spare.pipe >= 0:
            self.selector.unregister(spare.pipe)
            os.close(spare.pipe)
            spare.pipe = -1

    def _serving(self) -> list[Worker]:
        """Workers that are not draining (starting ones included), spares not counted."""
        return [w for w in self.workers.values() if not w.draining and w.go < 0]

    def _counted(self) -> int:
        """Workers serving or starting, a worker and its replacement counted once."""
        return sum(1 for w in self._serving() if w.replaces is None)

    def _drain(self, worker: Worker, why: str) -> None:
        if worker.draining:
            return
        worker.draining = time.monotonic()
        log.info("draining worker pid %d (%s)", worker.pid, why)
        self._signal(worker, signal.SIGTERM)

    def _signal(self, worker: Worker, sig: int) -> None:
        try:
            os.kill(worker.pid, sig)
        except ProcessLookupError:
            pass

    def _replace(self, worker: Worker, fresh: bool = False) -> None:
        """Start ``worker``'s replacement (the spare, unless ``fresh`` code is wanted); it drains once that serves."""
        if worker.replacement is None and not worker.draining and (fresh or not self._promote(replaces=worker)):
            self._spawn(replaces=worker)

    def _on_ready(self, worker: Worker) -> None:
        worker.ready = True
        self.ever_ready = True
        self.backoff = 0.0
        old = worker.replaces
        worker.replaces = None
        if old is not None and old.pid in self.workers:
            self._drain(old, "replaced")
        if self._counted() > self.count:  # after a TTOU
            extra = max((w for w in self._serving() if w.ready and w.replacement is None),
                        key=lambda w: w.generation, default=None)
            if extra is not None:
                self._drain(extra, "fewer workers")

    # -- events -------------------------------------------------------------------

    def _read_pipe(self, worker: Worker) -> None:
        try:
            data = os.read(worker.pipe, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # it exited (or closed the pipe): the reaper says how
            self.selector.unregister(worker.pipe)
            os.close(worker.pipe)
            worker.pipe = -1
            return
        if STANDBY in data:
            worker.standby = True
        if READY in data and not worker.ready:
            self._on_ready(worker)
        if RETIRE in data and not self.stopping:
            log.info("worker pid %d served its --max-requests: replacing it", worker.pid)
            self._replace(worker)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            worker.proc.returncode = os.waitstatus_to_exitcode(status)
            if worker.pipe >= 0:
                self.selector.unregister(worker.pipe)
                os.close(worker.pipe)
                worker.pipe = -1
            if worker.slot and self.metrics is not None:
                # Its counts stay (counters never go back): folded into the past, and its slot free for another.
                self.metrics.fold(worker.slot)
                self.free_slots.append(worker.slot)
                self.free_slots.sort()
                worker.slot = 0
            self._exited(worker, worker.proc.returncode)

    def _exited(self, worker: Worker, code: int) -> None:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if worker.draining or self.stopping:
            log.info("worker pid %d %s", worker.pid, how)
            return
        if worker.go >= 0:
            os.close(worker.go)
            worker.go = -1
        lived = time.monotonic() - worker.started
        log.error("worker pid %d %s after %.1f s", worker.pid, how, lived)
        if worker.replacement is not None:
            worker.replacement.replaces = None
        old = worker.replaces
        if old is not None:
            # A replacement that never came up: the old one keeps serving, and the rest of a reload is called off.
            old.replacement = None
            # Only its own reload: a HUP since it started may bring code that works, and goes on.
            if self.reload_queue and worker.reload == self.reloads:
                log.error("reload stopped: a new worker failed to start; the old workers keep serving")
                self.reload_queue.clear()
        if not worker.ready and not self.ever_ready:
            self.failed_boot = True
            return
        if lived < QUICK_DEATH or not (worker.ready or worker.standby):
            self.backoff = min(MAX_BACKOFF, max(0.5, self.backoff * 2))
            self.next_start = time.monotonic() + self.backoff
            log.error("workers die at start: waiting %.1f s before the next one", self.backoff)
        self.restarts += 1
        if self.metrics is not None:
            self.metrics.restarted()

    def _on_signal(self, sig: int) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT):
            if self.stopping:
                if not self.forced:
                    log.info("second signal: stopping the workers now")
                    self.forced = True
                    for w in list(self.workers.values()):
                        self._signal(w, signal.SIGTERM)  # a worker's second signal stops its drain
                return
            self.stopping = time.monotonic()
            log.info("shutting down %d workers", len(self.workers))
            self.reload_queue.clear()
            self._kill_spare()
            # Refuse new connections first, for every process that holds the socket: from here the queue only
            # shrinks, and each worker takes what is in it as its drain starts (closing the socket would reset them,
            # requests written), as do clients sent to reconnect by the drain's `connection: close`. Closing our
            # descriptor alone would not do: the kernel listens until the last holder closes. A Unix socket's file
            # is removed instead; one passed in (--fd) that cannot filter stops listening at once, its queue reset.
            if not refuse_new_connections(self.spec.sock):
                try:
                    self.spec.sock.shutdown(socket.SHUT_RD)
                except OSError as exc:
                    log.debug("shutting the listening socket: %s", exc)
            self.spec.sock.close()
            for w in list(self.workers.values()):
                if not w.draining:
                    self._drain(w, "shutting down")
        elif sig == signal.SIGHUP and not self.stopping:
            queued = {w.pid for w in self.reload_queue}
            # A replacement still starting is queued too: it may have read the code before this HUP's change.
            fresh = [w for w in sorted(self._serving(), key=lambda w: w.generation) if w.pid not in queued]
            log.info("reloading: replacing %d workers one at a time", len(fresh))
            self.reloads += 1
            self._let_spare_go()  # it holds the old code
            self.reload_queue.extend(fresh)
        elif sig == signal.SIGTTIN and not self.stopping:
            self.count += 1
            log.info("one worker more: %d", self.count)
        elif sig == signal.SIGTTOU and not self.stopping and self.count > 1:
            self.count -= 1
            log.info("one worker fewer: %d", self.count)
            serving = [w for w in self._serving() if w.ready and w.replacement is None and w.replaces is None]
            if self._counted() > self.count and serving:
                self._drain(max(serving, key=lambda w: w.generation), "fewer workers")

    # -- the loop -----------------------------------------------------------------

    def _step(self) -> None:
        now = time.monotonic()
        if self.stopping or self.failed_boot:
            limit = self.spec.graceful_timeout + KILL_GRACE
            for w in list(self.workers.values()):
                if w.draining and now - w.draining > limit and not w.killed:
                    w.killed = True
                    log.error("worker pid %d did not drain in time: killed", w.pid)
                    self._signal(w, signal.SIGKILL)
            return
        for w in list(self.workers.values()):
            if not w.ready and not w.draining and now - w.started > READY_TIMEOUT:
                log.error("worker pid %d did not start serving in %.0f s: killed", w.pid, READY_TIMEOUT)
                self._signal(w, signal.SIGKILL)
            elif w.draining and now - w.draining > self.spec.graceful_timeout + KILL_GRACE and not w.killed:
                w.killed = True
                log.error("worker pid %d did not drain in time: killed", w.pid)
                self._signal(w, signal.SIGKILL)
        # One reload replacement at a time: the next starts once the last one is serving.
        if self.reload_queue and not any(w.replaces is not None for w in self.workers.values()):
            while self.reload_queue:
                old = self.reload_queue[0]
                if old.pid not in self.workers or old.draining:
                    self.reload_queue.pop(0)
                    continue
                if old.ready:
                    self.reload_queue.pop(0)
                    self._replace(old, fresh=True)
                break  # (one still starting is replaced once it serves)
        missing = self.count - self._counted()
        while missing > 0 and self._promote():
            missing -= 1
        if now < self.next_start:
            return
        for _ in range(missing):
            if self._spawn() is None:
                self.backoff = min(MAX_BACKOFF, max(0.5, self.backoff * 2))
                self.next_start = now + self.backoff
                return
        reloading = self.reload_queue or any(w.replaces is not None for w in self.workers.values())
        if self.keep_spare and not reloading and self.ever_ready and self._spare() is None:
            self._spawn(spare=True)

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD)
        previous = {sig: signal.getsignal(sig) for sig in handled}
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in handled:
            signal.signal(sig, self._queue_signal)
        self.selector.register(wake_r, selectors.EVENT_READ, None)
        try:
            for _ in range(self.count):
                self._spawn()
            while self.workers or (not self.stopping and not self.failed_boot):
                if self.failed_boot and not self.stopping:
                    print("covet: error: a worker failed to start (see above); stopping", file=sys.stderr,
                          flush=True)
                    self._on_signal(signal.SIGTERM)
                for key, _ in self.selector.select(timeout=0.5):
                    if key.data is None:
                        # One byte per signal delivered. (The kernel itself merges a signal sent again before the
                        # first was delivered: TTINs sent back to back may count once, as with any server.)
                        try:
                            while chunk := os.read(wake_r, 512):
                                self.signals.extend(chunk)
                        except BlockingIOError:
                            pass
                    else:
                        self._read_pipe(key.data)
                while self.signals:
                    got = self.signals.pop(0)
                    if got != signal.SIGCHLD:
                        self._on_signal(got)
                self._reap()
                self._step()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.selector.close()
            os.close(wake_r)
            os.close(wake_w)
            try:
                self.spec.sock.close()
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise
            if self.spec.uds is not None:
                unlink_own(self.spec.uds)
        return 3 if self.failed_boot else 0

    def _queue_signal(self, sig: int, frame: object) -> None:
        """Nothing to do here: the wake-up descriptor carries the signal's number to the loop."""
