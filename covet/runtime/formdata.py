"""Decoding of query strings and Cookie headers into name/value pairs.

Kept small and allocation-light: most query strings carry no escapes, so
the percent-decoder runs only on the parts that need it.
"""

from __future__ import annotations

from urllib.parse import unquote, unquote_plus

__all__ = ["parse_query", "parse_query_multi", "parse_cookies", "unquote_path"]


def parse_query(query: str) -> list[tuple[str, str]]:
    """Split ``a=1&b=2`` into pairs, decoding ``+`` and percent escapes."""
    out: list[tuple[str, str]] = []
    if not query:
        return out
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name = unquote_plus(name, errors="replace")
            value = unquote_plus(value, errors="replace")
        out.append((name, value))
    return out


def parse_query_multi(query: str) -> dict[str, list[str]]:
    """Group a query string's values by name, in order of appearance."""
    out: dict[str, list[str]] = {}
    for name, value in parse_query(query):
        found = out.get(name)
        if found is None:
            out[name] = [value]
        else:
            found.append(value)
    return out


def parse_cookies(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header (RFC 6265 section 4.2) leniently: bad pairs are skipped."""
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, eq, value = part.partition("=")
        if not eq:
            continue
        name = name.strip()
        if not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        if name not in out:
            out[name] = unquote(value, errors="replace") if "%" in value else value
    return out


def unquote_path(path: str) -> str:
    """Percent-decode a path for routing; ``%2F`` stays a literal slash inside a segment."""
    return unquote(path, errors="strict")
