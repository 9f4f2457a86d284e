"""The routes that serve ``/openapi.json``, the ``/docs`` page and the ``/redoc`` page, as constant replies.

The docs page is Swagger UI, from the files the ``swagger-ui-py`` package
installs: nothing is fetched from a CDN, so the docs work offline. The
package's own code is not imported, only its static files are read. The ReDoc
page is FastAPI's, byte for byte: ReDoc's script comes from its CDN.
"""

from __future__ import annotations

import html
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from covet.exceptions import RouteDefinitionError
from covet.routing import _caller
from covet.runtime.encode import H_JSON, HeaderSet
from covet.runtime.glue import RoutePlan, constant_plan

if TYPE_CHECKING:
    from covet.app import Covet

__all__ = ["plans", "assets_dir", "check_swagger_ui_parameters", "SWAGGER_UI_DEFAULTS"]

_ASSETS: Final = (
    ("swagger-ui-bundle.js", b"text/javascript; charset=utf-8"),
    ("swagger-ui.css", b"text/css; charset=utf-8"),
)
_HTML: Final = HeaderSet(((b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-cache")))
_TEXT: Final = HeaderSet(((b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-cache")))
_OPENAPI: Final = H_JSON + ((b"cache-control", b"no-cache"),)  # noqa: RUF005  (HeaderSet + pairs is a HeaderSet)


def assets_dir() -> Path | None:
    """Where Swagger UI's files are installed, or None."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    return static if (static / "swagger-ui-bundle.js").is_file() else None


def _page(app: Covet, docs_url: str, openapi_url: str) -> bytes:
    title = html.escape(f"{app.title} - API docs")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{html.escape(docs_url)}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{html.escape(docs_url)}/swagger-ui-bundle.js"></script>
<script src="{html.escape(docs_url)}/init.js"></script>
</body>
</html>
""".encode()


_BLANK: Final = ""  # FastAPI's page has two lines of indentation only: written so, the source keeps no trailing spaces


def _redoc_page(title: str, openapi_url: str) -> bytes:
    # FastAPI's page as it serves it (the indentation is part of the bytes a client compares).
    return f"""
    <!DOCTYPE html>
    <html>
    <head>
    <title>{html.escape(title)}</title>
    <!-- needed for adaptive design -->
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1">
    {_BLANK}
    <link href="https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700" rel="stylesheet">
    {_BLANK}
    <link rel="shortcut icon" href="https://fastapi.tiangolo.com/img/favicon.png">
    <!--
    ReDoc doesn't change outer page styles
    -->
    <style>
      body {{
        margin: 0;
        padding: 0;
      }}
    </style>
    </head>
    <body>
    <noscript>
        ReDoc requires Javascript to function. Please enable it to browse the documentation.
    </noscript>
    <redoc spec-url="{html.escape(openapi_url)}"></redoc>
    <script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"> </script>
    </body>
    </html>
    """.encode()


# FastAPI's defaults of Swagger UI's configuration, which ``Covet(swagger_ui_parameters=...)`` adds to or overrides.
SWAGGER_UI_DEFAULTS: Final = {"dom_id": "#swagger-ui", "layout": "BaseLayout", "deepLinking": True,
                              "showExtensions": True, "showCommonExtensions": True}


def _init_script(openapi_url: str, redirect_url: str, parameters: Mapping[str, Any] | None) -> bytes:
    # A file, not an inline script, so a Content-Security-Policy without 'unsafe-inline' still allows it.
    # The redirect page is where an OAuth2 authorization server sends the browser back to (the Authorize button
    # of the authorization code and implicit flows). Each parameter is written as JSON, as FastAPI writes them.
    config = {"url": openapi_url, **SWAGGER_UI_DEFAULTS, **(parameters or {})}
    fields = "".join(f"{json.dumps(k)}: {json.dumps(v)}, " for k, v in config.items())
    return (
        "window.ui = SwaggerUIBundle({" + fields + "presets: [SwaggerUIBundle.presets.apis], "
        "oauth2RedirectUrl: window.location.origin + " + json.dumps(redirect_url) + "});\n"
    ).encode()


def check_swagger_ui_parameters(parameters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``Covet(swagger_ui_parameters=...)``: a dict of JSON values, or a start-up error naming the one that is not."""
    if parameters is None:
        return None
    if not isinstance(parameters, Mapping):
        raise RouteDefinitionError(f"{_caller()}: swagger_ui_parameters must be a dict, not {parameters!r}")
    for key, value in parameters.items():
        try:
            if not isinstance(key, str):
                raise TypeError(f"its key {key!r} is not a string")
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise RouteDefinitionError(f"{_caller()}: swagger_ui_parameters[{key!r}] cannot be written into the docs "
                                       f"page as JSON: {exc}") from None
    return dict(parameters)


def with_servers(document: bytes, root_path: str) -> bytes:
    """The OpenAPI document with ``root_path`` first in its ``servers`` (FastAPI's ``root_path_in_servers``)."""
    doc = json.loads(document)
    servers = doc.get("servers") or []
    if not any(isinstance(s, dict) and s.get("url") == root_path for s in servers):
        doc["servers"] = [{"url": root_path}, *servers]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def plans(app: Covet) -> list[tuple[str, RoutePlan]]:
    """(path, plan) of each docs route ``app`` serves; empty when both are turned off.

    Behind a proxy with a root path, the page's links and the document's ``servers`` carry it: the browser asks
    through the proxy (FastAPI does the same).
    """
    out: list[tuple[str, RoutePlan]] = []
    openapi_url, docs_url = app.openapi_url, app.docs_url
    if openapi_url is None:
        return out
    root = app.root_path
    document = app.openapi_json()
    if root and app.root_path_in_servers:
        document = with_servers(document, root)
    out.append((openapi_url, constant_plan((200, _OPENAPI, document), f"[GET {openapi_url}]")))
    if app.redoc_url is not None:
        page = _redoc_page(f"{app.title} - ReDoc", root + openapi_url)
        out.append((app.redoc_url, constant_plan((200, _HTML, page), f"[GET {app.redoc_url}]")))
    if docs_url is None:
        return out
    static = assets_dir()
    if static is None:
        missing = b"The docs page needs the swagger-ui-py package: pip install swagger-ui-py\n"
        out.append((docs_url, constant_plan((503, _TEXT, missing), f"[GET {docs_url}]")))
        return out
    page = _page(app, root + docs_url, root + openapi_url)
    out.append((docs_url, constant_plan((200, _HTML, page), f"[GET {docs_url}]")))
    js = HeaderSet(((b"content-type", b"text/javascript; charset=utf-8"), (b"cache-control", b"no-cache")))
    redirect = f"{docs_url}/oauth2-redirect"
    script = _init_script(root + openapi_url, root + redirect, app.swagger_ui_parameters)
    init = constant_plan((200, js, script), f"[GET {docs_url}/init.js]")
    out.append((f"{docs_url}/init.js", init))
    if (static / "oauth2-redirect.html").is_file():
        page = (static / "oauth2-redirect.html").read_bytes()
        out.append((redirect, constant_plan((200, _HTML, page), f"[GET {redirect}]")))
    for name, ctype in _ASSETS:
        headers = HeaderSet(((b"content-type", ctype), (b"cache-control", b"public, max-age=86400")))
        body = (static / name).read_bytes()
        out.append((f"{docs_url}/{name}", constant_plan((200, headers, body), f"[GET {docs_url}/{name}]")))
    return out

