"""Decoding of query strings and Cookie headers into name/value pairs, and whether a body says it is JSON.

Kept small and allocation-light: most query strings carry no escapes, so
the percent-decoder runs only on the parts that need it.
"""

from __future__ import annotations

from urllib.parse import unquote, unquote_plus

__all__ = ["parse_query", "parse_query_multi", "parse_cookies", "unquote_path", "is_json", "json_declared"]


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


def is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` value names JSON: ``application/json`` or ``application/<anything>+json``,
    parameters such as ``charset`` aside, in any case (FastAPI's rule)."""
    media = content_type.partition(";")[0].strip().lower()
    if not media.startswith("application/"):
        return False
    return media == "application/json" or media.endswith("+json")


def json_declared(headers: list[tuple[str, str]], strict: bool) -> bool:
    """Whether a request's body is to be read as JSON: its ``Content-Type`` says so, or it has none and the
    application is not ``strict_content_type``; an empty one counts as none. Any other body is the text it is, as
    FastAPI reads it."""
    for name, value in headers:
        if name == "content-type":
            if value:
                return value == "application/json" or is_json(value)
            break
    return not strict
