"""FastAPI's equivalent of covet_features_app.py's /mw/users/{user_id} (one dependency and one middleware) and
/pooled/users/{user_id} (a ``def`` handler, which FastAPI runs in its thread pool)."""

from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request

app = FastAPI()


async def current_user(x_user: Annotated[str, Header()] = "anonymous") -> str:
    # async: FastAPI would run a sync dependency in its thread pool, which costs it far more.
    return x_user


@app.middleware("http")
async def request_id(request: Request, call_next):  # type: ignore[no-untyped-def]
    response = await call_next(request)
    response.headers["x-request-id"] = "1"
    return response


@app.get("/mw/users/{user_id}")
async def user(user_id: int, who: Annotated[str, Depends(current_user)]) -> dict[str, object]:
    return {"id": user_id, "user": who}


@app.get("/pooled/users/{user_id}")
def pooled_user(user_id: int, q: str | None = None) -> dict[str, object]:
    return {"id": user_id, "q": q}
