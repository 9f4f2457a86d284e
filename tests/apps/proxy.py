"""The proxy test app (tests/test_proxy.py): what a route sees of its client, scheme, URL and root path."""

from __future__ import annotations

import asyncio

from covet import ConnectionInfo, Covet, Request

app = Covet(title="proxy")


@app.get("/who")
def who(request: Request) -> dict[str, object]:
    client = request.client
    return {
        "client": None if client is None else [client[0], client[1]],
        "scheme": request.scheme,
        "url": str(request.url),
        "base_url": str(request.base_url),
        "root_path": request.root_path,
        "scope_root_path": request.scope["root_path"],
    }


@app.get("/conn")
def conn(info: ConnectionInfo) -> dict[str, object]:
    client = info.client
    return {"client": None if client is None else [client[0], client[1]], "scheme": info.scheme}


@app.get("/later")
async def later(request: Request) -> dict[str, object]:
    await asyncio.sleep(0)
    client = request.client
    return {"client": None if client is None else [client[0], client[1]], "scheme": request.scheme}


@app.get("/slow")
async def slow(seconds: float = 1.0) -> dict[str, str]:
    await asyncio.sleep(seconds)
    return {"slept": "yes"}


@app.get("/plain")
def plain() -> dict[str, str]:
    return {"hello": "world"}
