"""FastAPI's wording of a JSON body's errors, for the glue's error path only.

The glue validates a body straight from its bytes (pydantic-core's JSON mode), which is fast but words some
errors its own way. FastAPI parses the body with ``json.loads`` and validates the value in Python mode, so:

- a body that is not JSON gets one error, ``json_invalid`` at ``["body", <character offset>]`` with ``json``'s
  message ("Expecting value"...), and no other error, as FastAPI reads the body before any parameter;
- a body that is JSON but invalid reads "Input should be a valid list", not "... valid array", and the like.

Both are recomputed here once a request already failed, so a valid request never pays for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from pydantic_core import ValidationError

from covet.exceptions import HTTPError
from covet.runtime.encode import add_errors

__all__ = ["body_errors", "json_decode_errors", "unparsed_errors"]

_UNREADABLE: Final = "There was an error parsing the body"


def unparsed_errors(body: bytes, why: str) -> list[dict[str, Any]]:
    """The errors of a body pydantic-core could not parse as JSON (``why``), as FastAPI gives them. A body
    that is not text in a JSON encoding is FastAPI's 400."""
    try:
        json.loads(body)
    except json.JSONDecodeError as bad:
        return [{"type": "json_invalid", "loc": ["body", bad.pos], "msg": "JSON decode error", "input": {},
                 "ctx": {"error": bad.msg}}]
    except Exception:  # not text in a JSON encoding, nested too deep...: FastAPI's 400 for any other failure
        raise HTTPError(400, _UNREADABLE) from None
    # json accepts what pydantic-core refused (a number past its limits...): pydantic-core's words, then.
    return [{"type": "json_invalid", "loc": ["body"], "msg": f"Invalid JSON: {why}", "input": {},
             "ctx": {"error": why}}]


def json_decode_errors(body: bytes, exc: ValidationError) -> list[dict[str, Any]] | None:
    """``unparsed_errors`` when not parsing is why the JSON-mode validator refused the body with ``exc``;
    else None."""
    first = exc.errors(include_url=False)[0]
    if first["type"] != "json_invalid" or first["loc"]:
        return None  # the body parsed (a json_invalid deeper in is a ``Json[...]`` field's)
    return unparsed_errors(body, str(first.get("ctx", {}).get("error", first["msg"])))


def body_errors(errors: list[dict[str, Any]] | None, exc: ValidationError, body: bytes,
                validate: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """``errors`` and those of a JSON body its JSON-mode validator refused with ``exc``: those of ``validate``
    (the Python-mode validator of the same type) on the parsed value, as FastAPI words them."""
    try:
        value = json.loads(body)
    except ValueError:  # json refuses what pydantic-core parsed (a lone surrogate...): pydantic-core's words
        return add_errors(errors, exc, ("body",))
    except Exception:
        raise HTTPError(400, _UNREADABLE) from None  # as FastAPI answers json failing otherwise
    try:
        validate(value)
    except ValidationError as again:
        return add_errors(errors, again, ("body",))
    return add_errors(errors, exc, ("body",))  # the Python mode took it: the JSON mode's words are all there are
