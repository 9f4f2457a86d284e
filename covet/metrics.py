"""Prometheus metrics: ``covet serve --metrics`` answers ``/metrics`` in the text format (version 0.0.4).

The counts live in native code (``covet._native.Metrics``, native/metrics.c):
one slot per worker in a shared memory segment the supervisor makes before it
starts any worker, and a slot for the past (the workers that exited, folded in
by the supervisor). A transport counts each response in its worker's slot in
the same C call that records it in the access log (with the log on or off); the
io_uring core counts the responses it sends itself in C. A scrape, whichever
worker answers it, sums every slot here. See docs/metrics.md.

Not compiled: nothing here runs per request.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Final

from covet._native import Metrics
from covet.responses import Response
from covet.runtime.worker_link import METRICS_FD_ENV, METRICS_SLOT_ENV

if TYPE_CHECKING:
    from covet.app import Covet

__all__ = ["CONTENT_TYPE", "install", "open_metrics", "process_metrics", "render"]

log = logging.getLogger("covet.metrics")

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED: Final = "<unmatched>"  # the route label of responses to paths no route declares, and errors before one
OVERFLOW: Final = "<overflow>"  # series past a worker's tables (native/metrics.h)
RETIRED: Final = "<retired>"  # a route id this process does not serve: a route a reload removed
METHODS: Final = ("other", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
# A gRPC call's status is counted as this plus its code, on its method's route and with no duration
# (covet.runtime.grpc_call): rendered as covet_grpc_calls_total, not as an HTTP status.
GRPC_CODE_BASE: Final = 1000
GRPC_CODES: Final = ("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                     "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
                     "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED")


class _Process:
    metrics: Metrics | None = None


_PROCESS: Final = _Process()


def open_metrics(fresh: bool = False) -> Metrics:
    """This process's metrics: its slot in the supervisor's segment when it is a worker, else a private one
    (``fresh``: a new private one, for the TestClient)."""
    if fresh:
        _PROCESS.metrics = Metrics(slots=1, slot=1)
    if _PROCESS.metrics is None:
        fd = os.environ.get(METRICS_FD_ENV)
        if fd is not None:  # a supervised worker: its slot of the supervisor's segment
            _PROCESS.metrics = Metrics(fd=int(fd), slot=int(os.environ[METRICS_SLOT_ENV]))
            os.close(int(fd))  # mapped: the descriptor is not needed, and no subprocess of the app inherits it
            del os.environ[METRICS_FD_ENV]
        else:
            _PROCESS.metrics = Metrics(slots=1, slot=1)
    return _PROCESS.metrics


def process_metrics() -> Metrics | None:
    """The metrics this process counts into, once ``open_metrics`` made them."""
    return _PROCESS.metrics


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _seconds(ns: int) -> str:
    return repr(ns / 1e9)


def render(metrics: Metrics, templates: dict[int, str]) -> str:
    """The text exposition of every worker's counts, summed; ``templates`` names the route ids
    (``Dispatcher.templates``)."""
    restarts, in_flight, conns, bytes_in, bytes_out, series, hists = metrics.snapshot()

    def route(i: int) -> str:
        if i == -2:
            return OVERFLOW
        if i == -1:
            return UNMATCHED
        name = templates.get(i)
        return RETIRED if name is None else _label(name)

    out: list[str] = [
        "# HELP covet_requests_total Responses sent, by route template, method and status (0: none sent).",
        "# TYPE covet_requests_total counter",
    ]
    calls: list[str] = []
    for r, m, status, count in sorted(series, key=lambda s: (route(s[0]), s[1], s[2])):
        if status < GRPC_CODE_BASE:
            out.append(f'covet_requests_total{{route="{route(r)}",method="{METHODS[m]}",status="{status}"}} {count}')
        else:
            code = status - GRPC_CODE_BASE
            name = GRPC_CODES[code] if code < len(GRPC_CODES) else str(code)
            calls.append(f'covet_grpc_calls_total{{route="{route(r)}",code="{name}"}} {count}')
    out += [
        "# HELP covet_grpc_calls_total gRPC calls ended, by method and status code (CANCELLED: the client's).",
        "# TYPE covet_grpc_calls_total counter",
        *calls,
    ]
    out += [
        "# HELP covet_request_duration_seconds From the read that brought a request to its response handed over.",
        "# TYPE covet_request_duration_seconds histogram",
    ]
    bounds = [_seconds(b) for b in metrics.bounds]
    for r, m, sum_ns, buckets in sorted(hists, key=lambda h: (route(h[0]), h[1])):
        labels = f'route="{route(r)}",method="{METHODS[m]}"'
        total = 0
        for le, n in zip(bounds, buckets, strict=False):
            total += n
            out.append(f'covet_request_duration_seconds_bucket{{{labels},le="{le}"}} {total}')
        total += buckets[-1]
        out.append(f'covet_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
        out.append(f"covet_request_duration_seconds_sum{{{labels}}} {_seconds(sum_ns)}")
        out.append(f"covet_request_duration_seconds_count{{{labels}}} {total}")
    out += [
        "# HELP covet_requests_in_flight Requests an exchange holds (suspended handlers, streams), all workers.",
        "# TYPE covet_requests_in_flight gauge",
        f"covet_requests_in_flight {in_flight}",
        "# HELP covet_open_connections Client connections open, all workers.",
        "# TYPE covet_open_connections gauge",
        f"covet_open_connections {conns}",
        "# HELP covet_request_body_bytes_total Request body bytes received.",
        "# TYPE covet_request_body_bytes_total counter",
        f"covet_request_body_bytes_total {bytes_in}",
        "# HELP covet_response_body_bytes_total Response body bytes sent.",
        "# TYPE covet_response_body_bytes_total counter",
        f"covet_response_body_bytes_total {bytes_out}",
        "# HELP covet_worker_restarts_total Workers the supervisor replaced after they died.",
        "# TYPE covet_worker_restarts_total counter",
        f"covet_worker_restarts_total {restarts}",
    ]
    out.append("")
    return "\n".join(out)


def install(app: Covet, path: str) -> None:
    """Add the metrics route to ``app`` (before it is planned), unless the app has a route of its own there."""
    if not path:
        return

    def metrics() -> Response:
        counts = process_metrics()
        text = render(counts, app.dispatcher().templates) if counts is not None else ""
        return Response(text.encode(), media_type=CONTENT_TYPE)

    app.add_server_route(path, metrics, "metrics")
