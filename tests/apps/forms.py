"""Forms and uploads, for tests/test_forms.py: served interpreted and compiled."""

from __future__ import annotations

import hashlib
from typing import Annotated

from covet import Covet, File, Form, UploadFile

app = Covet()


@app.post("/login")
def login(username: Annotated[str, Form(min_length=2)], age: Annotated[int, Form(ge=0)] = 0,
          tags: Annotated[list[str], Form(alias="tag")] = []) -> dict[str, object]:
    return {"username": username, "age": age, "tags": tags}


@app.post("/upload")
async def upload(doc: UploadFile, note: Annotated[str, Form()] = "", extra: list[UploadFile] = []) -> dict[str, object]:
    body = await doc.read()
    return {
        "filename": doc.filename,
        "content_type": doc.content_type,
        "size": doc.size,
        "sha256": hashlib.sha256(body).hexdigest(),
        "on_disk": bool(getattr(doc.file, "_rolled", False)),  # SpooledTemporaryFile moved to disk
        "note": note,
        "extra": [f.filename for f in extra],
    }


@app.post("/optional")
def optional(doc: Annotated[UploadFile | None, File()] = None) -> str:
    return "none" if doc is None else f"{doc.filename}"
