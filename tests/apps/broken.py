"""An app whose route cannot be served: the path names a parameter the handler lacks."""

from covet import Covet

app = Covet()


@app.get("/items/{item_id}")
def get_item() -> str:
    return "x"
