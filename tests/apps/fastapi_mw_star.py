"""CORS for every origin (with and without credentials) and the HTTPS redirect, for
tests/test_fastapi_middleware.py. Each is a middleware instance of its own, picked by path prefix by one
``@app.middleware("http")`` function, so that one server serves all of them."""

from __future__ import annotations

from covet import AnyResponse, CallNext, Covet, Request
from covet.middleware.cors import CORSMiddleware
from covet.middleware.httpsredirect import HTTPSRedirectMiddleware

app = Covet()

anyone = CORSMiddleware(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"], expose_headers=["X-Total"])
with_credentials = CORSMiddleware(allow_origins=["*"], allow_credentials=True, allow_private_network=True)
to_https = HTTPSRedirectMiddleware()


@app.middleware("http")
async def by_prefix(request: Request, call_next: CallNext) -> AnyResponse:
    if request.path.startswith("/any/"):
        return await anyone(request, call_next)
    if request.path.startswith("/cred/"):
        return await with_credentials(request, call_next)
    if request.path.startswith("/secure/"):
        return await to_https(request, call_next)
    return await call_next(request)


@app.get("/any/items")
def any_items() -> list[int]:
    return [1, 2]


@app.get("/cred/items")
def cred_items() -> list[int]:
    return [3]


@app.post("/secure/form")
def secure_form(name: str) -> str:
    return f"hello {name}"


@app.get("/secure/page")
def secure_page() -> str:
    return "secure page"
