"""Plugins: installed packages that add ops, objectives, samplers, evaluators and data formats.

A package declares an entry point in the group ``effsearch.plugins`` (in its ``pyproject.toml``)::

    [project.entry-points."effsearch.plugins"]
    mytools = "mytools.effsearch_plugin"         # a module: importing it registers its entries
    other = "other.plugin:register"              # or a callable taking no arguments, called once

and registers its entries with effsearch's public functions (``effsearch.register_sampler``,
``register_format``, ...). Plugins are loaded once per process: by the command line before it parses
its options, and by the library on the first registry lookup that misses
(:meth:`effsearch.runtime.registry.Registry.find`), so ``run_baseline_search(...)`` sees them too.

A plugin that fails to load is skipped with one line naming it and the error (a
:class:`PluginWarning`): one broken package must not stop every command. ``effsearch list plugins``
shows each plugin and its state. ``EFFSEARCH_DISABLE_PLUGINS=1`` loads none (to rule them out).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

GROUP = "effsearch.plugins"
DISABLE = "EFFSEARCH_DISABLE_PLUGINS"


class PluginWarning(UserWarning):
    """A plugin failed to load and was skipped."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group: ``target`` is its value (``module`` or ``module:callable``)."""

    name: str
    target: str
    dist: str = ""  # the distribution that declares it
    error: str = ""  # why it failed to load ("" when it loaded)

    @property
    def state(self) -> str:
        return f"failed: {self.error}" if self.error else "loaded"

    def message(self) -> str:
        return f"plugin {self.name!r} ({self.target}) failed to load: {self.error}; uninstall it or fix it"


_PLUGINS: list[Plugin] | None = None  # None until loaded


def load_plugins(*, warn: bool = True) -> tuple[Plugin, ...]:
    """Load every installed plugin once (later calls return the same states); warn about failures."""
    global _PLUGINS
    if _PLUGINS is None:
        # Set before loading: a plugin that looks up a name nobody registered yet must not recurse.
        _PLUGINS = []
        if os.environ.get(DISABLE, "").strip() not in ("", "0"):
            return ()
        seen = set()
        for ep in _entry_points():
            if (ep.name, ep.value) in seen:  # one distribution on the path twice
                continue
            seen.add((ep.name, ep.value))
            plugin = _load(ep)
            _PLUGINS.append(plugin)
            if plugin.error and warn:
                warnings.warn(plugin.message(), PluginWarning, stacklevel=2)
    return tuple(_PLUGINS)


def load_plugins_once() -> bool:
    """Load the plugins unless that was done (or is under way); whether this call loaded them."""
    if _PLUGINS is not None:
        return False
    load_plugins()
    return True


def loaded_plugins() -> tuple[Plugin, ...]:
    """The plugins loaded so far (load them first with :func:`load_plugins`)."""
    return tuple(_PLUGINS or ())


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def _load(ep: EntryPoint) -> Plugin:
    dist = getattr(ep.dist, "name", "") or ""
    try:
        loaded = ep.load()
        if ep.attr:  # "module:callable": the callable registers
            if not callable(loaded):
                raise TypeError(f"{ep.value} is not callable")
            loaded()
    except Exception as exc:  # whatever the plugin raises: report it, keep effsearch working
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever the message holds
        return Plugin(ep.name, ep.value, dist, reason)
    return Plugin(ep.name, ep.value, dist)
