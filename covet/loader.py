"""Importing the application named on the command line (``MODULE:ATTR``)."""

from __future__ import annotations

import importlib
import os
import sys

from covet.app import Covet

__all__ = ["AppLoadError", "load_app"]


class AppLoadError(Exception):
    """The MODULE:ATTR given on the command line does not name an application."""


def load_app(target: str) -> Covet:
    """Import ``module:attr`` (``module`` alone means ``module:app``)."""
    module_name, _, attr = target.partition(":")
    attr = attr or "app"
    if not module_name:
        raise AppLoadError(f"{target!r}: expected MODULE:ATTR, e.g. app:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise AppLoadError(
                f"cannot import {module_name!r}: no such module (run from the directory that holds it)"
            ) from exc
        raise
    try:
        app = getattr(module, attr)
    except AttributeError:
        raise AppLoadError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(app, Covet):
        raise AppLoadError(f"{target} is a {type(app).__name__}, not a covet.Covet application")
    return app
