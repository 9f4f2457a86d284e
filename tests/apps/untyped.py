"""An application written as FastAPI's docs write them: few annotations, no return types (test_build_untyped.py).

`covet build` compiles it all the same: its functions run as ``Any``.
"""

from datetime import timedelta
from typing import Annotated

from covet import BackgroundTasks, Covet, Depends, Header, HTTPException

app = Covet()

written: list[str] = []


def common_parameters(q=None, skip: int = 0, limit: int = 100):
    return {"q": q, "skip": skip, "limit": limit}


class Pager:
    def __init__(self, page=1):
        self.page = page


def label(x):
    return f"<{x}>"


@app.get("/")
async def root():
    return {"message": "Hello World"}


@app.get("/users/{user_id}")
def read_user(user_id, short=False):
    return {"user_id": user_id, "short": short, "label": label(user_id)}


@app.get("/items/")
async def read_items(commons: Annotated[dict, Depends(common_parameters)]):
    return commons


@app.get("/pages/")
def pages(pager: Annotated[Pager, Depends()]):
    return {"page": pager.page}


@app.get("/typed/{n}")
def typed(n: int) -> dict[str, int]:
    return {"n": n * 2}


@app.get("/agent/")
def agent(user_agent: Annotated[str | None, Header()] = None):
    return {"user_agent": user_agent}


@app.get("/limited/{x}")
def limited(x: int):
    if x > 3:
        raise HTTPException(status_code=404, detail="Too big")
    return {"x": x}


def write_log(message):
    written.append(message)


@app.post("/send/{email}")
async def send(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(write_log, email)
    return {"message": "sent"}


@app.get("/written/")
def read_written():
    return written


@app.get("/wait/")
def wait():
    return {"wait": timedelta(minutes=5)}  # unannotated: FastAPI's jsonable_encoder writes seconds


@app.get("/wait/typed/")
def wait_typed() -> dict[str, timedelta]:
    return {"wait": timedelta(minutes=5)}  # declared: pydantic's ISO 8601
