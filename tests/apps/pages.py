"""Jinja2 templates, for tests/test_templates.py: served interpreted and compiled."""

from __future__ import annotations

import os
from pathlib import Path

from covet import Covet, HTMLResponse
from covet.templating import Templates

app = Covet()
templates = Templates(os.environ.get("COVET_TEST_TEMPLATES", str(Path(__file__).parent / "templates")),
                      globals={"site": "CovetPy"})


@app.get("/hello/{name}")
def hello(name: str, n: int = 2) -> HTMLResponse:
    return templates.response("hello.html", {"name": name, "items": list(range(n))})


@app.get("/async/{name}")
async def hello_async(name: str) -> HTMLResponse:
    return await templates.response_async("hello.html", {"name": name, "items": []}, status=201)


@app.get("/broken")
def broken() -> HTMLResponse:
    return templates.response("hello.html", {"items": []})  # no name: StrictUndefined makes it an error
