"""The benchmark endpoints written idiomatically for Starlette (served by uvicorn and by Granian ASGI).

Starlette has no request validation of its own: the POST body is validated by a pydantic model,
as Starlette's docs suggest, and a bad body answers 422 (malformed JSON 400).
"""

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


class Item(BaseModel):
    name: str
    price: float
    tags: list[str]


async def plaintext(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def json_(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def user(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["user_id"], "q": request.query_params.get("q")})


async def items(request: Request) -> Response:
    try:
        item = Item.model_validate_json(await request.body())
    except ValidationError as exc:
        bad_json = any(e["type"] == "json_invalid" for e in exc.errors())
        detail = exc.errors(include_url=False, include_context=False, include_input=False)
        return JSONResponse({"detail": detail}, status_code=400 if bad_json else 422)
    return Response(item.model_dump_json(), media_type="application/json")


app = Starlette(routes=[
    Route("/plaintext", plaintext),
    Route("/json", json_),
    Route("/users/{user_id:int}", user),
    Route("/items", items, methods=["POST"]),
])
