"""The settings fingerprint: what makes two runs' numbers comparable, and the one refusal to mix them.

A stage records a fingerprint of everything that changes its numbers (data, budget, seed, space,
kernel path, objective, ...) when its results folder or study is created; resuming with settings
that differ in any of it is refused with one line that names the first setting that differs, before
anything is written. The baseline search keeps it in the study's user attributes, the grid in the
first line of its ledger; both compare with :func:`check_same`.
"""

from __future__ import annotations

import json
from typing import Any

from effsearch.errors import EffsearchError


class SettingsMismatch(EffsearchError):
    """A results folder or study was made with other settings than the ones given now."""


def normal(value: Any) -> Any:
    """JSON round-trip normal form: tuples become lists, paths and other objects strings."""
    return json.loads(json.dumps(value, default=str))


def flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"proxy": {"epochs": 3}}`` -> ``{"proxy.epochs": 3}``, so a mismatch names the one setting."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _show(value: Any) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def first_difference(stored: dict[str, Any], wanted: dict[str, Any], *, ignore: tuple[str, ...] = ()) -> tuple[str, Any, Any] | None:
    """The first setting (dotted name) whose stored value differs from the wanted one, or None.

    Settings the stored fingerprint does not have are not compared: an older folder that predates a
    setting resumes as before.
    """
    have, want = flat(normal(stored)), flat(normal(wanted))
    for key, value in want.items():
        if key in have and have[key] != value and not any(key == i or key.startswith(i + ".") for i in ignore):
            return key, have[key], value
    return None


def check_same(stored: dict[str, Any] | None, wanted: dict[str, Any], *, what: str, ignore: tuple[str, ...] = ()) -> None:
    """Refuse (one line) when ``what`` was made with settings that differ from ``wanted``."""
    if stored is None:
        return  # made by hand or by another tool: nothing to compare with
    diff = first_difference(stored, wanted, ignore=ignore)
    if diff is not None:
        key, old, new = diff
        raise SettingsMismatch(f"{what} was run with {key} = {_show(old)}, not {_show(new)}; repeat the original "
                               "settings to resume it, or use another results folder")
