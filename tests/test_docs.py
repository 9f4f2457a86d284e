"""Every Python block in docs/*.md runs as written (its asserts are the test)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)

blocks = [
    pytest.param(code, id=f"{path.name}:{text[: m.start()].count(chr(10)) + 1}")
    for path in sorted(DOCS.rglob("*.md"))
    for text in [path.read_text()]
    for m in BLOCK.finditer(text)
    for code in [m.group(1)]
]


@pytest.mark.parametrize("code", blocks)
def test_doc_example(code: str) -> None:
    # A real module, so dataclasses and type hints can resolve their namespace.
    module = types.ModuleType("doc_example")
    sys.modules["doc_example"] = module
    try:
        exec(compile(code, "<doc>", "exec"), module.__dict__)
    finally:
        del sys.modules["doc_example"]


def test_docs_have_examples() -> None:
    assert len(blocks) >= 5
