"""One registry type for what users extend: ops, objectives, samplers, evaluators and data formats.

A registry maps a name (and any aliases) to an entry, refuses to redefine a name unless told to, and
answers an unknown name with one line listing the known ones. What an entry is, is up to the
registry's owner (:mod:`effsearch.arch.ops`, :mod:`effsearch.search.objectives`, ...).

Two things make it reachable from outside the package. An entry may be *lazy*, a ``"module:attr"``
string imported on first lookup (:meth:`Registry.register_lazy`): a built-in that needs torch is
listed, with its description, without importing torch, and the package that implements it owns it
without the registry's package importing that one. And a lookup that misses loads the installed
plugins once (:mod:`effsearch.runtime.plugins`), so a Python user sees plugin entries as the command
line does, with no call of their own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from effsearch.errors import EffsearchError

T = TypeVar("T")


@dataclass(frozen=True)
class Lazy:
    """An entry not imported yet: ``target`` is ``"module:attribute"``, resolved on first lookup."""

    target: str
    description: str = ""

    def load(self) -> object:
        module, _, attr = self.target.partition(":")
        value: object = importlib.import_module(module)
        for part in filter(None, attr.split(".")):
            value = getattr(value, part)
        return value


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` names them in messages: "op", "objective", ...)."""

    def __init__(self, kind: str, error: type[EffsearchError] = EffsearchError) -> None:
        self.kind, self.error = kind, error
        self._entries: dict[str, T | Lazy] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, entry: T, *, aliases: tuple[str, ...] = (), replace: bool = False) -> T:
        self._add(name, entry, aliases, replace)
        return entry

    def register_lazy(self, name: str, target: str, *, description: str = "", aliases: tuple[str, ...] = (),
                      replace: bool = False) -> None:
        """Register ``target`` (``"module:attribute"``, the entry itself), imported on first lookup."""
        if ":" not in target:
            raise self.error(f"{self.kind} {name!r}: lazy target {target!r} is not 'module:attribute'")
        self._add(name, Lazy(target, description), aliases, replace)

    def _add(self, name: str, entry: T | Lazy, aliases: tuple[str, ...], replace: bool) -> None:
        if (name in self._entries or name in self._aliases) and not replace:
            raise self.error(f"{self.kind} {name!r} is already registered; pass replace=True to redefine it")
        for alias in aliases:
            owner = self._aliases.get(alias, alias if alias in self._entries else None)
            if owner not in (None, name) and not replace:
                raise self.error(f"{self.kind} {name!r}: alias {alias!r} already names {self.kind} {owner!r}")
        self.unregister(name)
        self._aliases.pop(name, None)  # a name is never also an alias of another entry
        self._entries[name] = entry
        self._aliases.update(dict.fromkeys(aliases, name))

    def unregister(self, name: str) -> None:
        """Remove an entry and its aliases (for tests and temporary entries); unknown names are ignored."""
        self._entries.pop(name, None)
        self._aliases = {alias: owner for alias, owner in self._aliases.items() if owner != name}

    def find(self, name: object) -> T | None:
        """The entry called ``name`` (or an alias of it), or ``None``; a miss loads the plugins first."""
        entry = self._find(name)
        if entry is None and _load_plugins():
            entry = self._find(name)
        return entry

    def get(self, name: object) -> T:
        entry = self.find(name)
        if entry is None:
            raise self.error(f"unknown {self.kind} {name!r}; use one of {', '.join(self._entries)}")
        return entry

    def canonical(self, name: object) -> str | None:
        """The registered name that ``name`` (a name or an alias) stands for, or ``None``."""
        if not isinstance(name, str):
            return None
        key = self._aliases.get(name, name)
        return key if key in self._entries else None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def values(self) -> Iterator[T]:
        """Every entry, lazy ones imported."""
        return iter([self._resolve(name) for name in list(self._entries)])

    def listing(self) -> list[tuple[str, str]]:
        """``(name, description)`` of every entry, lazy ones described without importing them."""
        return [(name, entry.description if isinstance(entry, Lazy) else str(getattr(entry, "description", "") or ""))
                for name, entry in self._entries.items()]

    def __contains__(self, name: object) -> bool:
        # A miss loads the plugins first, as find() does: a plugin's op in a spec read anywhere (a worker
        # process unpickling a candidate, a block string) is known without the CLI having run.
        return self.canonical(name) is not None or (_load_plugins() and self.canonical(name) is not None)

    def _find(self, name: object) -> T | None:
        key = self.canonical(name)
        return None if key is None else self._resolve(key)

    def _resolve(self, name: str) -> T:
        entry = self._entries[name]
        if not isinstance(entry, Lazy):
            return entry
        try:
            value = entry.load()
        except Exception as exc:  # an import error of the implementation: name it, in one line
            raise self.error(f"{self.kind} {name!r} could not be loaded from {entry.target}: "
                             f"{type(exc).__name__}: {exc}") from exc
        if self._entries.get(name) is entry:  # importing it may have registered the real entry already
            self._entries[name] = value
        return cast(T, self._entries[name])


def _load_plugins() -> bool:
    """Load the installed plugins unless done already; whether this call loaded them."""
    from effsearch.runtime import plugins  # same low-level package; plugins import effsearch only when loaded

    return plugins.load_plugins_once()
