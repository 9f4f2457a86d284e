"""The benchmark endpoints written idiomatically for Falcon's ASGI app (served by uvicorn).

Following Falcon's msgspec recipe, JSON media is (de)serialized by msgspec and the POST body is
converted to a msgspec Struct: a body of the wrong shape answers 422, malformed JSON 400.
"""

import falcon
import falcon.asgi
import falcon.media
import msgspec


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str]


class PlainText:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, World!"


class Json:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": "Hello, World!"}


class User:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int) -> None:
        resp.media = {"id": user_id, "q": req.get_param("q")}


class Items:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        item = msgspec.convert(await req.get_media(), Item)
        resp.media = item


async def invalid_item(req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: msgspec.ValidationError,
                       params: dict) -> None:  # type: ignore[type-arg]
    raise falcon.HTTPUnprocessableEntity(description=str(ex))


json_handler = falcon.media.JSONHandler(dumps=msgspec.json.encode, loads=msgspec.json.decode)

app = falcon.asgi.App()
app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
app.add_error_handler(msgspec.ValidationError, invalid_item)
app.add_route("/plaintext", PlainText())
app.add_route("/json", Json())
app.add_route("/users/{user_id:int}", User())
app.add_route("/items", Items())
