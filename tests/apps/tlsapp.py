"""What a route sees over TLS, for tests/test_tls.py: served interpreted and compiled."""

from __future__ import annotations

from covet import Covet, Request

app = Covet()


@app.get("/whoami")
def whoami(request: Request) -> dict[str, str]:
    return {"scheme": request.scheme, "http_version": request.http_version}


@app.post("/echo")
async def echo(request: Request) -> dict[str, str]:
    body = await request.body()
    return {"size": str(len(body)), "head": body[:8].decode()}
