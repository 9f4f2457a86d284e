"""The app of tests/test_tracing.py: an SDK tracer provider with an in-memory exporter, and a route that reads the
spans it finished."""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from covet import Covet, HTTPError

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)

app = Covet()


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, object]:
    await asyncio.sleep(0.01)  # suspends: resumed in a Task, in the span's context
    current = trace.get_current_span().get_span_context()
    return {"item_id": item_id, "trace_id": format(current.trace_id, "032x")}


@app.get("/sync")
def sync_route() -> dict[str, str]:
    return {"ok": "yes"}


@app.get("/fail")
async def fail() -> dict[str, str]:
    raise RuntimeError("broken")


@app.get("/missing")
async def missing() -> dict[str, str]:
    raise HTTPError(404, "no such thing")


@app.get("/spans")
def finished() -> list[dict[str, object]]:
    out = []
    for s in spans.get_finished_spans():
        if s.name == "GET /spans":
            continue
        out.append({"name": s.name, "kind": s.kind.name, "trace_id": format(s.context.trace_id, "032x"),
                    "parent": format(s.parent.span_id, "016x") if s.parent else None,
                    "status": s.status.status_code.name, "attributes": dict(s.attributes or {})})
    spans.clear()
    return out
