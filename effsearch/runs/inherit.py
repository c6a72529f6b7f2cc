"""What a stage takes over from the run before it: the data set and the proxy recipe.

A baseline searched on Fashion-MNIST is scaled and trained on Fashion-MNIST without the user naming it
again: the data set is reloaded from the baseline's ``run.json`` (``data.arg``, ``val_fraction``), and
the grid trains with the search's proxy recipe (batch, optimiser, learning rate, resolution...). What
the caller gives wins, field by field; the record says where each came from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

# Where a run trains is the machine's business (placement measures it), not the recipe's.
_RUNTIME = ("threads", "device", "kernels")
_BUDGET = ("epochs", "steps", "seconds")


def recorded_data(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The ``data`` entry of a run's config; folders from before it was recorded give the name only."""
    data = config.get("data")
    if isinstance(data, dict) and (data.get("arg") or data.get("name")):
        return dict(data)
    name = config.get("dataset")
    return {"arg": str(name), "name": str(name)} if name else {}


def load_recorded_data(record: dict[str, Any], where: str) -> Any:
    """The data set a run recorded, loaded again with the same validation split."""
    from effsearch.data import DEFAULT_VAL_FRACTION, load_dataset
    from effsearch.data.record import reload_arg

    fraction = record.get("val_fraction") or DEFAULT_VAL_FRACTION
    return load_dataset(reload_arg(record, where), seed=0, val_fraction=fraction)


def inherited_proxy(recipe: dict[str, Any], given: Any = None) -> tuple[Any, dict[str, str]]:
    """The grid's :class:`~effsearch.proxy.ProxyConfig`: the baseline's ``recipe`` under the ``given`` fields.

    ``given`` is a ProxyConfig (used as it is), a mapping of fields to override, or None. The epoch
    budget is inherited only from a search budgeted in epochs alone (the grid is budgeted in epochs).
    Returns the config and, per field that did not keep ProxyConfig's default, where it came from.
    """
    from effsearch.engine import ProxyConfig

    if isinstance(given, ProxyConfig):
        return given, {"proxy": "given"}
    names = {f.name for f in dataclasses.fields(ProxyConfig)} - set(_RUNTIME)
    values = {k: v for k, v in recipe.items() if k in names and k not in _BUDGET}
    if recipe.get("epochs") and not recipe.get("steps") and not recipe.get("seconds"):
        values["epochs"] = recipe["epochs"]
    defaults = ProxyConfig()
    origin = {k: "baseline" for k, v in values.items() if v != getattr(defaults, k)}
    overrides = dict(given or {})
    origin.update({k: "given" for k in overrides})
    return ProxyConfig(**{**values, **overrides}), origin
