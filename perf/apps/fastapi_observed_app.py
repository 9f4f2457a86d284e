"""perf/apps/fastapi_app.py's routes, with prometheus-fastapi-instrumentator when PERF_METRICS=1.

The peer row of perf/serving.py's observability table: what a FastAPI user adds today for per-route metrics.
"""

import os

from fastapi_app import app

if os.environ.get("PERF_METRICS") == "1":
    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator().instrument(app).expose(app)

__all__ = ["app"]
