"""Jinja2 templates (the ``templates`` extra: ``pip install 'covetpy[templates]'``).

``Templates(directory)`` holds one Jinja2 environment: templates are
compiled once and cached, HTML and XML are autoescaped, and
``response(name, context)`` renders into an ``HTMLResponse``.
``Jinja2Templates`` is the same under FastAPI's (Starlette's) name and
behaviour: ``TemplateResponse(request, name, context)``, ``url_for`` in
templates, context processors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    import jinja2
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError("covet.templating needs Jinja2: pip install 'covetpy[templates]'") from exc

from covet.background import BackgroundTasks
from covet.requests import Request
from covet.responses import HeadersArg, HTMLResponse

__all__ = ["Jinja2Templates", "Templates"]


class Templates:
    """Templates from ``directory`` (or from a Jinja2 ``loader``).

    Args:
        directory: where the templates are.
        auto_reload: notice edited templates (for development; each render then checks the file's time).
        globals: names every template sees.

    ``render`` and ``response`` render synchronously (in a sync or an async handler); ``render_async`` and
    ``response_async`` let a template await (async filters, async iterables), from a second environment with
    Jinja2's async mode, made on first use.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, loader: jinja2.BaseLoader | None = None,
                 auto_reload: bool = False, globals: Mapping[str, Any] | None = None) -> None:
        if (directory is None) == (loader is None):
            raise ValueError("Templates needs a directory or a loader (one of them)")
        self._options: dict[str, Any] = {
            "loader": loader or jinja2.FileSystemLoader(os.fspath(directory)),  # type: ignore[arg-type]
            # Every template is escaped (whatever its file name: .jinja2, .j2, ...): response() sends HTML.
            "autoescape": True,
            "auto_reload": auto_reload,
            "undefined": jinja2.StrictUndefined,  # a misspelt name is an error, not an empty string
        }
        self.env = jinja2.Environment(**self._options)
        if globals:
            self.env.globals.update(globals)
        self._async_env: jinja2.Environment | None = None

    def render(self, name: str, context: Mapping[str, Any] | None = None) -> str:
        return self.env.get_template(name).render(context or {})

    async def render_async(self, name: str, context: Mapping[str, Any] | None = None) -> str:
        env = self._async_env
        if env is None:
            env = self._async_env = jinja2.Environment(**self._options, enable_async=True)
            env.globals.update(self.env.globals)
        return await env.get_template(name).render_async(context or {})

    def response(self, name: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
                 headers: HeadersArg = None) -> HTMLResponse:
        """The rendered template as an HTML response."""
        return HTMLResponse(self.render(name, context), status=status, headers=headers)

    async def response_async(self, name: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
                             headers: HeadersArg = None) -> HTMLResponse:
        return HTMLResponse(await self.render_async(name, context), status=status, headers=headers)


@jinja2.pass_context
def _url_for(context: Mapping[str, Any], name: str, /, **path_params: Any) -> Any:
    """``url_for('route_name', param=...)`` in a template: the request's ``url_for``."""
    return context["request"].url_for(name, **path_params)


class Jinja2Templates:
    """FastAPI's ``Jinja2Templates``: templates from ``directory`` (or a Jinja2 ``env``), as Starlette renders them.

    As in Starlette, ``.html``, ``.htm`` and ``.xml`` templates are autoescaped, an undefined name renders empty,
    and every template can call ``url_for``. ``context_processors`` add to each context from the request.
    """

    def __init__(self, directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None, *,
                 context_processors: list[Callable[[Request], dict[str, Any]]] | None = None,
                 env: jinja2.Environment | None = None) -> None:
        if (directory is None) == (env is None):
            raise ValueError("Jinja2Templates needs a directory or an env (one of them)")
        self.context_processors = list(context_processors or [])
        if env is None:
            env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory),  # type: ignore[arg-type]
                                     autoescape=jinja2.select_autoescape())
        self.env = env
        self.env.globals.setdefault("url_for", _url_for)

    def get_template(self, name: str) -> jinja2.Template:
        return self.env.get_template(name)

    def TemplateResponse(  # FastAPI's name
        self, request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
        headers: HeadersArg = None, media_type: str | None = None, background: BackgroundTasks | None = None,
    ) -> HTMLResponse:
        """``name`` rendered with ``context`` (which gets ``request``) as an HTML response."""
        if not isinstance(request, Request):
            raise TypeError("TemplateResponse(request, name, context): the request comes first (Starlette's "
                            f"current order), not {type(request).__name__}")
        context = dict(context or {})
        context.setdefault("request", request)
        for processor in self.context_processors:
            context.update(processor(request))
        response = HTMLResponse(self.get_template(name).render(context), status=status_code, headers=headers,
                                media_type=media_type)
        if background is not None:
            response.after = background.run
        return response
