"""Jinja2 templates (the ``templates`` extra: ``pip install 'covetpy[templates]'``).

``Templates(directory)`` holds one Jinja2 environment: templates are
compiled once and cached, HTML and XML are autoescaped, and
``response(name, context)`` renders into an ``HTMLResponse``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

try:
    import jinja2
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError("covet.templating needs Jinja2: pip install 'covetpy[templates]'") from exc

from covet.responses import HeadersArg, HTMLResponse

__all__ = ["Templates"]


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
