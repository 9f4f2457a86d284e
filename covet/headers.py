"""A response's headers as a mutable, case-insensitive mapping: Starlette's ``MutableHeaders``.

``response.headers`` is a view over ``response.raw_headers``, the list of lower-cased ``(name, value)`` byte
pairs the server renders: nothing is copied when a response is made, and a route that never reads
``response.headers`` never builds one. Every value is checked when it is set, so text with CR, LF or other
control bytes is refused there (ValueError) and can never split a header.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping

__all__ = ["MutableHeaders"]


def _pair(key: str, value: str) -> tuple[bytes, bytes]:
    from covet.responses import check_field

    name = key.lower().encode("latin-1")
    data = value.encode("latin-1")
    check_field(name, data)
    return name, data


class MutableHeaders(MutableMapping[str, str]):
    """Case-insensitive headers; ``[name]`` gives the first value, ``getlist`` all of them.

    ``headers[name] = value`` replaces every line of that name, ``append`` adds one, ``del`` removes them all
    (and is no error when there is none).
    Names and values are Latin-1 text.
    """

    __slots__ = ("_list",)

    def __init__(self, headers: Mapping[str, str] | None = None, *,
                 raw: list[tuple[bytes, bytes]] | None = None) -> None:
        self._list: list[tuple[bytes, bytes]] = raw if raw is not None else []
        if headers is not None:
            for key, value in headers.items():
                self._list.append(_pair(key, value))

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The underlying ``(name, value)`` byte pairs (the response's own list, not a copy)."""
        return self._list

    def __getitem__(self, key: str) -> str:
        name = key.lower().encode("latin-1")
        for k, v in self._list:
            if k == name:
                return v.decode("latin-1")
        raise KeyError(key)

    def __setitem__(self, key: str, value: str) -> None:
        name, data = _pair(key, value)
        found = [i for i, (k, _) in enumerate(self._list) if k == name]
        if not found:
            self._list.append((name, data))
            return
        self._list[found[0]] = (name, data)
        for i in reversed(found[1:]):
            del self._list[i]

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        # No KeyError for a header that is not there: Starlette's behaviour, which apps rely on.
        self._list[:] = [(k, v) for k, v in self._list if k != name]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = key.lower().encode("latin-1")
        return any(k == name for k, _ in self._list)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._list)

    def keys(self) -> list[str]:  # type: ignore[override]
        """Every name, once per line (as Starlette gives them)."""
        return [k.decode("latin-1") for k, _ in self._list]

    def values(self) -> list[str]:  # type: ignore[override]
        return [v.decode("latin-1") for _, v in self._list]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._list]

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, in order."""
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self._list if k == name]

    getall = getlist  # the name covet's request headers use

    def append(self, key: str, value: str) -> None:
        """Add a line, keeping any others of the same name (``Set-Cookie``, ``Vary``)."""
        self._list.append(_pair(key, value))

    def setdefault(self, key: str, value: str = "") -> str:
        """The value of ``key``, first set to ``value`` if it has none."""
        try:
            return self[key]
        except KeyError:
            self.append(key, value)
            return value

    def update(self, other: Mapping[str, str] | Iterable[tuple[str, str]] = (), /,  # type: ignore[override]
               **kwargs: str) -> None:
        """Set each header of ``other`` (replacing lines of the same name)."""
        pairs = other.items() if isinstance(other, Mapping) else other
        for key, value in [*pairs, *kwargs.items()]:
            self[key] = value

    def add_vary_header(self, vary: str) -> None:
        """Add ``vary`` to the ``Vary`` header, as one line."""
        existing = self.get("vary")
        self["vary"] = vary if existing is None else f"{existing}, {vary}"

    def mutablecopy(self) -> MutableHeaders:
        return MutableHeaders(raw=list(self._list))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MutableHeaders):
            return sorted(self._list) == sorted(other._list)
        if isinstance(other, Mapping):
            return dict(self.items()) == {str(k).lower(): v for k, v in other.items()} and len(self) == len(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MutableHeaders({self.items()!r})"
