"""Small data holders shared by the application and its requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from covet.requests import URL, Address, Headers, QueryParams

__all__ = ["State", "URL", "Address", "Headers", "QueryParams"]


class State:
    """An attribute bag (Starlette's ``State``): ``app.state.db = pool``, ``request.state.user = user``.

    Reading a name that was never set raises ``AttributeError`` naming it.
    """

    __slots__ = ("_state",)

    _state: dict[str, Any]

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", state if state is not None else {})

    def __setattr__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self._state[key]
        except KeyError:
            raise AttributeError(f"'State' object has no attribute {key!r}") from None

    def __delattr__(self, key: str) -> None:
        try:
            del self._state[key]
        except KeyError:
            raise AttributeError(f"'State' object has no attribute {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._state

    def __iter__(self) -> Iterator[str]:
        return iter(self._state)

    def __repr__(self) -> str:
        return f"State({self._state!r})"
