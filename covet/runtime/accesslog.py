"""The access log: records made on the request path, lines written by a thread of their own.

A transport records each response with one call into ``covet._native.AccessLog``
(the io_uring core records the responses it sends itself, in C): a few fields
copied into a C array, nothing formatted, nothing written. ``AccessLogWriter``
runs a thread that wakes every ``FLUSH_SECONDS`` (or as soon as 1,024
records wait), drains the buffer into text (formatted in C) and hands it
to the ``covet.access`` logger. ``close`` drains what is left, so a graceful
shutdown (SIGTERM) loses no line; a crash loses at most what was recorded
since the last drain. See docs/logging.md.

Not compiled: nothing here runs per request.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import select
import sys
import threading
from typing import Final, TextIO

from covet._native import AccessLog, Metrics

__all__ = ["ACCESS_LOGGER", "AccessFormatter", "AccessLogWriter", "default_handler"]

ACCESS_LOGGER: Final = "covet.access"
FLUSH_SECONDS: Final = 0.5
# uvicorn's level prefix: "INFO:" padded to nine columns, then a space.
_PREFIX: Final = "INFO:     "


class AccessFormatter(logging.Formatter):
    """The default formatter of ``covet.access``: uvicorn's ``INFO:     `` prefix, then the line."""

    def __init__(self) -> None:
        super().__init__("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname + ':':<9} {super().format(record)}"


class _AccessHandler(logging.StreamHandler[TextIO]):
    """The handler ``covet serve`` gives ``covet.access`` when no --log-config does: the writer sees it and writes
    a whole drained batch in one ``write``, instead of one LogRecord a line."""


def default_handler(json: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """``covet.access``'s handler when no --log-config replaces it: stderr, uvicorn's prefix on lines, JSON bare."""
    handler = _AccessHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s") if json else AccessFormatter())
    return handler


class AccessLogWriter:
    """The access log of one server: ``log`` is what the request path records into; a thread writes it out."""

    def __init__(self, json: bool = False, capacity: int = 65536, echo: bool = False, enabled: bool = True,
                 metrics: Metrics | None = None) -> None:
        self._wake = threading.Event()
        self.log = AccessLog(json=json, on_full=self._wake.set, capacity=capacity, echo=echo, metrics=metrics)
        self.enabled = enabled  # False: records are drained and dropped (ids echoed with no access log)
        self.prefix = "" if json else _PREFIX  # what the default handler's formatter would put before a line
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self._stop = False
        self._write_failed = False  # said once: a closed stderr would say it at every drain
        self._lock = threading.Lock()  # one drain and write at a time: the thread's, or close()'s
        self._thread = threading.Thread(target=self._run, name="covet-access-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Drain what was recorded so far and write it."""
        with self._lock:
            logger = self.logger
            wanted = self.enabled and logger.isEnabledFor(logging.INFO)
            fast = _fast_handler(logger) if wanted else None
            text = ""
            if fast is not None:
                fast.acquire()  # (its stream is read under its lock: setStream() may replace it)
                try:
                    lines, dropped = self._write(fast)
                finally:
                    fast.release()
            else:
                text, lines, dropped = self.log.drain("")
            if dropped:
                logging.getLogger("covet.server").warning(
                    "access log: %d records dropped (the writer fell behind the buffer's capacity)", dropped)
            if lines and wanted and text:
                for line in text.splitlines():
                    logger.info(line)

    def _write(self, fast: _AccessHandler) -> tuple[int, int]:
        """Drain into the default handler's stream, holding its lock: lines and records dropped."""
        fd = _raw_fd(fast.stream)
        if fd < 0:
            text, lines, dropped = self.log.drain(self.prefix)
            # PERF: one write for the batch; a LogRecord a line costs ~5 us each.
            _write_whole_lines(fast.stream, text)
            return lines, dropped
        # PERF: formatted and written in C without the GIL, a pipe's buffer a write; writing the text from Python
        # took the GIL back from the event loop at every write (+0.08 us a request at full load).
        fast.flush()  # what the stream holds was logged before these
        lines, dropped, err = self.log.drain_to(self.prefix, fd)
        if err and not self._write_failed:
            self._write_failed = True
            logging.getLogger("covet.server").error("access log: writing failed: %s", os.strerror(err))
        return lines, dropped

    def close(self) -> None:
        """Stop the thread and write every line recorded so far (graceful shutdown)."""
        self._stop = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.flush()


def _write_whole_lines(stream: TextIO, text: str) -> None:
    """Write ``text`` (ASCII lines) in writes of whole lines of at most PIPE_BUF bytes: the workers of a supervisor
    share stderr, and the kernel keeps a write to a pipe in one piece only up to that size, so a larger one could
    interleave with another worker's in the middle of a line."""
    start, n = 0, len(text)
    while start < n:
        end = start + _PIPE_BUF
        if end < n:
            cut = text.rfind("\n", start, end)
            end = cut + 1 if cut >= start else (text.find("\n", end) + 1 or n)  # a line longer than that: whole
        stream.write(text[start:end])
        stream.flush()
        start = end


_PIPE_BUF: Final = select.PIPE_BUF


def _raw_fd(stream: TextIO) -> int:
    """The descriptor under ``stream`` when its text may go there as bytes, else -1: the process's own stderr or
    stdout (a TextIOWrapper that translates no newline on POSIX) in an ASCII-compatible encoding. A stand-in that
    exposes the same descriptor (a tee, a capture) gets its text through its own write()."""
    if (stream is not sys.__stderr__ and stream is not sys.__stdout__) or type(stream) is not io.TextIOWrapper:
        return -1
    try:
        fd = stream.fileno()
        encoding = codecs.lookup(stream.encoding).name
    except (OSError, ValueError, LookupError):  # a closed or detached stream
        return -1
    return fd if encoding in _ASCII_SUPERSETS else -1


_ASCII_SUPERSETS: Final = frozenset({"utf-8", "ascii", "iso8859-1", "iso8859-15", "cp1252"})


def _fast_handler(logger: logging.Logger) -> _AccessHandler | None:
    """The default handler, when it is the only place ``covet.access`` lines go."""
    handlers = logger.handlers
    if len(handlers) == 1 and not logger.propagate and not logger.filters:
        handler = handlers[0]
        if type(handler) is _AccessHandler and not handler.filters and handler.level <= logging.INFO:
            return handler
    return None
