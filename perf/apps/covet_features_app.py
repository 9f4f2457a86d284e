"""The benchmark app with dependencies, middleware, an exception handler and background tasks in use.

/plaintext and /json are the plain routes of covet_app.py and use none of it:
perf/features.py measures what the features' existence costs them. /mw/users/{user_id}
has one dependency and one middleware, like apps/fastapi_features_app.py.
/pooled/users/{user_id} is a ``def`` handler in the thread pool (the default, as in
FastAPI), /inline/users/{user_id} the same handler on the loop (``inline=True``).
"""

from __future__ import annotations

from typing import Annotated

from covet import (
    AnyResponse,
    BackgroundTasks,
    CallNext,
    Covet,
    Depends,
    Header,
    JSONResponse,
    Request,
    Response,
    Router,
)

app = Covet()


class Unavailable(Exception):
    pass


def unavailable(request: Request, exc: Unavailable) -> Response:
    return JSONResponse({"detail": "try later"}, status=503)


app.exception_handler(Unavailable)(unavailable)


@app.get("/plaintext", inline=True)
def plaintext() -> str:
    return "Hello, World!"


@app.get("/json", inline=True)
def json_() -> dict[str, str]:
    return {"message": "Hello, World!"}


def current_user(x_user: Annotated[str, Header()] = "anonymous") -> str:
    return x_user


async def request_id(request: Request, call_next: CallNext) -> AnyResponse:
    response = await call_next(request)
    response.set_header("x-request-id", "1")
    return response


mw = Router(prefix="/mw", middleware=[request_id])


@mw.get("/users/{user_id}", inline=True)
def user(user_id: int, who: Annotated[str, Depends(current_user)]) -> dict[str, object]:
    return {"id": user_id, "user": who}


app.include_router(mw)


@app.get("/pooled/users/{user_id}")
def pooled_user(user_id: int, q: str | None = None) -> dict[str, object]:
    return {"id": user_id, "q": q}


@app.get("/inline/users/{user_id}", inline=True)
def inline_user(user_id: int, q: str | None = None) -> dict[str, object]:
    return {"id": user_id, "q": q}


def log_visit(user_id: int) -> None:
    pass


@app.post("/visits/{user_id}", inline=True)
def visit(user_id: int, tasks: BackgroundTasks) -> None:
    tasks.add_task(log_visit, user_id)
