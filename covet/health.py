"""Liveness and readiness: ``/healthz`` and ``/readyz``, for load balancers and Kubernetes probes.

``covet serve`` adds both routes unless the application declares those paths
itself (``--health-path``, ``--ready-path``; an empty path turns one off).
``/healthz`` answers 200 while the process can answer at all. ``/readyz``
answers 200 once the start-up hooks have run, and until the drain begins.
It also requires every readiness check of the application to pass. Checks
are declared with ``@app.readiness_check``; each may be sync or async, and
fails by returning False, raising, or taking longer than ``CHECK_TIMEOUT``.
Otherwise, and when not ready, it answers 503 with the reason in FastAPI's
error shape.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, final

from covet.responses import JSONResponse

if TYPE_CHECKING:
    from covet.app import Covet

__all__ = ["CHECK_TIMEOUT", "SERVER", "ReadinessCheck", "install"]

log = logging.getLogger("covet.health")

CHECK_TIMEOUT: Final = 2.0  # seconds: shorter than a probe's usual timeout, so the probe hears why

ReadinessCheck = Callable[[], "Awaitable[bool | None] | bool | None"]


@final
class ServerPhase:
    """Where this process's server is in its life (one server per process)."""

    def __init__(self) -> None:
        self.started = False
        self.draining = False


SERVER: Final = ServerPhase()


async def _run_check(check: ReadinessCheck) -> str | None:
    """Why ``check`` says not ready, or None."""
    name = getattr(check, "__qualname__", repr(check))
    try:
        result = check()
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, CHECK_TIMEOUT)
    except TimeoutError:
        return f"readiness check {name} took longer than {CHECK_TIMEOUT:g} s"
    except Exception as exc:  # a failing check is an answer, not a 500
        log.warning("readiness check %s failed: %r", name, exc)
        return f"readiness check {name} failed: {type(exc).__name__}"
    if result is False:
        return f"readiness check {name} failed"
    return None


def install(app: Covet, health_path: str, ready_path: str) -> None:
    """Add the probe routes to ``app`` (before it is planned), except where the app has a route of its own."""
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def readyz() -> JSONResponse:
        if not SERVER.started:
            return JSONResponse({"detail": "starting"}, status=503)
        if SERVER.draining:
            return JSONResponse({"detail": "draining"}, status=503)
        for check in app.readiness_checks:
            why = await _run_check(check)
            if why is not None:
                return JSONResponse({"detail": why}, status=503)
        return JSONResponse({"status": "ready"})

    for path, handler in ((health_path, healthz), (ready_path, readyz)):
        if path:
            app.add_server_route(path, handler, "probe")
