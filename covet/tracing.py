"""OpenTelemetry: a server span per request, named by its route template, in the caller's W3C trace context.

Off by default, and then it costs nothing: no route is wrapped. ``instrument(app)`` (or ``covet serve --tracing``)
wraps each route's plan when the app is planned. The application configures the SDK (a tracer provider, its sampler
and exporter), in its own module or with ``opentelemetry-instrument covet serve ...``; the sampler decides, so a
request that is not sampled pays for a non-recording span only.

A route's span covers its handler, not the sending of a streamed body. A traced route always runs through Python,
so the io_uring core's direct routes (answered in C) are not traced: ``--tracing`` gives them up.
"""

from __future__ import annotations

import contextvars
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from covet.exceptions import HTTPError
from covet.responses import StreamingResponse
from covet.runtime.exits import AfterReply
from covet.runtime.glue import RoutePlan

if TYPE_CHECKING:
    from opentelemetry.propagators.textmap import Getter
    from opentelemetry.trace import Tracer, TracerProvider

    from covet.app import Covet

__all__ = ["TracingUnavailable", "instrument", "trace_plan"]


class TracingUnavailable(RuntimeError):
    """opentelemetry-api is not installed."""


class _Headers:
    """Reads W3C ``traceparent``/``tracestate`` from a request's header list (names are lower-case); an
    OpenTelemetry ``Getter`` by its shape."""

    def get(self, carrier: list[tuple[str, str]], key: str) -> list[str] | None:
        found = [v for k, v in carrier if k == key]
        return found or None

    def keys(self, carrier: list[tuple[str, str]]) -> list[str]:
        return [k for k, _ in carrier]


def _header_getter() -> Getter[list[tuple[str, str]]]:
    return cast("Getter[list[tuple[str, str]]]", _Headers())


def instrument(app: Covet, tracer_provider: TracerProvider | None = None) -> None:
    """Trace every route of ``app`` from now on (call before it is served).

    Raises:
        TracingUnavailable: opentelemetry-api is missing.
    """
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise TracingUnavailable("tracing needs OpenTelemetry: pip install 'covetpy[otel]'") from exc
    from covet import __version__

    tracer = trace.get_tracer("covet", __version__, tracer_provider=tracer_provider)

    def traced(plan: RoutePlan, method: str, template: str) -> RoutePlan:
        return trace_plan(plan, tracer, method, template)

    app.traced = traced
    app._changed()


def _status(reply: Any) -> int:
    if type(reply) is AfterReply:
        reply = reply.reply
    if isinstance(reply, StreamingResponse):
        return reply.status
    return int(reply[0])


def trace_plan(plan: RoutePlan, tracer: Tracer, method: str, template: str) -> RoutePlan:
    """``plan`` run inside a server span named ``"METHOD /template"``."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind, Status, StatusCode

    glue = plan.glue
    is_async = plan.is_async
    name = f"{method} {template}"
    getter = _header_getter()

    async def run(m: str, p: str, q: str, h: list[tuple[str, str]], b: Any, pp: list[str], c: Any) -> Any:
        parent = propagate.extract(h, getter=getter)
        attributes = {"http.request.method": m, "url.path": p, "http.route": template}
        if q:
            attributes["url.query"] = q
        with tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes,
                                          record_exception=False, set_status_on_exception=False) as span:
            try:
                reply = glue(m, p, q, h, b, pp, c)
                if is_async or isinstance(reply, Coroutine):
                    reply = await reply
            except HTTPError as exc:
                span.set_attribute("http.response.status_code", exc.status)
                if exc.status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                raise
            except BaseException as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            status = _status(reply)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return reply

    async def traced(m: str, p: str, q: str, h: list[tuple[str, str]], b: Any, pp: list[str], c: Any) -> Any:
        # The span is made current in a context of this request's own: a handler that suspends is resumed in a
        # Task, whose context is not the one the transport started it in (see middleware.InContext).
        from covet.middleware import InContext

        return await InContext(run(m, p, q, h, b, pp, c), contextvars.copy_context())

    out = RoutePlan(traced, True, plan.label, plan.source, plan.spec)
    out.compiled = plan.compiled
    out.uses_conn = plan.uses_conn
    out.reads_headers = True  # traceparent
    out.streams_body = plan.streams_body
    out.timeout = plan.timeout
    out.cancel_on_disconnect = plan.cancel_on_disconnect
    out.max_body = plan.max_body
    return out
