"""Wraps the defaults the glue takes from their functions in ``keep(key, ...)``, in the text mypyc compiles.

See covet/runtime/kept.py for why. The wrap is written on the default's own lines, so that every line keeps its
number (mypy's errors, tracebacks of compiled code); it reaches ``keep`` through ``__import__``, as the async
generators' lift does, so that no line is added for an import (a module that binds ``__import__`` itself is not
wrapped: its defaults are evaluated again by the glue, as before).
"""

from __future__ import annotations

from collections.abc import Iterable

from covet.compiler.asyncgens import LINE
from covet.compiler.gluegen import KeptDefault

__all__ = ["wrap"]


def wrap(source: str, kept: Iterable[KeptDefault]) -> str:
    """``source`` with each default of ``kept`` (found in it by line and column) wrapped in ``keep``."""
    lines = [line.encode() for line in LINE.findall(source)]
    # (ast's columns count UTF-8 bytes; from the last default up, so that an insertion moves no position still to do)
    todo = sorted({(k.node.lineno, k.node.col_offset): k for k in kept}.values(),
                  key=lambda k: (k.node.lineno, k.node.col_offset), reverse=True)
    for k in todo:
        node = k.node
        assert node.end_lineno is not None and node.end_col_offset is not None
        end = lines[node.end_lineno - 1]
        lines[node.end_lineno - 1] = end[:node.end_col_offset] + b")" + end[node.end_col_offset:]
        start = lines[node.lineno - 1]
        call = f'__import__("covet.runtime.kept", fromlist=["keep"]).keep({k.key!r}, '.encode()
        lines[node.lineno - 1] = start[:node.col_offset] + call + start[node.col_offset:]
    return b"".join(lines).decode()
