"""A pure-Python helper module of perf/apps/realistic_app.py, compiled with it by `covet build` (issue 19): the string
work a handler delegates, as apps keep their logic apart from their routes."""

from __future__ import annotations


def slugify(title: str) -> str:
    """``"Hello, World: 2 Ways!"`` -> ``"hello-world-2-ways"``."""
    out: list[str] = []
    dash = False
    for ch in title.lower():
        if ch.isalnum():
            out.append(ch)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    if out and out[-1] == "-":
        out.pop()
    return "".join(out)


def parse_record(line: str) -> tuple[str, dict[str, str]]:
    """One line of a small text format, ``name: key=value; key=value``, as (name, fields)."""
    name, _, rest = line.partition(":")
    fields: dict[str, str] = {}
    for part in rest.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return name.strip(), fields


def word_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in text.split():
        w = word.strip(".,;:!?\"'()").lower()
        if w:
            counts[w] = counts.get(w, 0) + 1
    return counts
