"""FastAPI's application-level options, for tests/test_app_options.py: served interpreted and compiled."""

from covet import APIRouter, Covet
from covet.responses import HTMLResponse, JSONResponse, PlainTextResponse

app = Covet(
    title="Options",
    summary="Options, summed up.",
    terms_of_service="https://example.com/terms/",
    contact={"name": "Ada", "email": "ada@example.com"},
    license_info={"name": "Apache 2.0", "identifier": "Apache-2.0"},
    swagger_ui_parameters={"deepLinking": False, "syntaxHighlight": {"theme": "obsidian"}},
    default_response_class=HTMLResponse,
    openapi_tags=[{"name": "text", "description": "Plain **text**.",
                   "externalDocs": {"description": "More", "url": "https://example.com/text"}}],
)


@app.get("/page")
def page() -> str:
    return "<h1>Page</h1>"


@app.get("/data", response_class=JSONResponse)
def data() -> dict[str, int]:
    return {"n": 1}


text = APIRouter(prefix="/text", tags=["text"], default_response_class=PlainTextResponse)


@text.get("/")
def text_default() -> str:
    return "from the router"


inherits = APIRouter(prefix="/inherits")


@inherits.get("/")
def app_default() -> str:
    return "<p>from the app</p>"


included = APIRouter(prefix="/included")


@included.get("/")
def include_default() -> str:
    return "from include_router"


app.include_router(text)
app.include_router(inherits)
app.include_router(included, default_response_class=PlainTextResponse)
