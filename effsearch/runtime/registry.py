"""One registry type for the four things users extend: ops, objectives, samplers and evaluators.

A registry maps a name to an entry, refuses to redefine a name unless told to, and answers an
unknown name with one line listing the known ones. Nothing else: what an entry is, is up to the
registry's owner (:mod:`effsearch.arch.ops`, :mod:`effsearch.search.objectives`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from effsearch.errors import EffsearchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` names them in messages: "op", "objective", ...)."""

    def __init__(self, kind: str, error: type[EffsearchError] = EffsearchError) -> None:
        self.kind, self.error = kind, error
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        if name in self._entries and not replace:
            raise self.error(f"{self.kind} {name!r} is already registered; pass replace=True to redefine it")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove an entry (for tests and plugins that register temporary ones); unknown names are ignored."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self.error(f"unknown {self.kind} {name!r}; use one of {', '.join(self._entries)}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def values(self) -> Iterator[T]:
        return iter(list(self._entries.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._entries
