"""``covet dev``: reload the workers when a Python source under the watched directories changes.

A thread of the supervisor watches with watchfiles (inotify, batched over
~50 ms so that a save of ten files is one reload) and sends the supervisor
its own SIGHUP: the reload is the same rolling one an operator's HUP does,
so a change that does not import leaves the running worker serving, with
the new worker's traceback on stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["WatchUnavailable", "start_watching"]

log = logging.getLogger("covet.supervisor")


class WatchUnavailable(RuntimeError):
    """watchfiles is not installed."""


def start_watching(dirs: Sequence[str], stop: threading.Event) -> threading.Thread:
    """Watch ``dirs`` for changes to ``*.py`` files until ``stop`` is set.

    Raises:
        WatchUnavailable: watchfiles is missing.
    """
    try:
        from watchfiles import PythonFilter, watch
    except ImportError as exc:
        raise WatchUnavailable("covet dev needs watchfiles: pip install 'covetpy[dev]'") from exc
    roots = [str(Path(d).resolve()) for d in dirs]
    pid = os.getpid()

    def run() -> None:
        for changes in watch(*roots, watch_filter=PythonFilter(), stop_event=stop, raise_interrupt=False):
            names = sorted({os.path.relpath(path) for _, path in changes})
            log.info("changed: %s; reloading", ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""))
            os.kill(pid, signal.SIGHUP)

    thread = threading.Thread(target=run, name="covet-watch", daemon=True)
    thread.start()
    return thread
