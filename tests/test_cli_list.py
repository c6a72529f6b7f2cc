"""``effsearch list``: every name the options accept, without provoking an error."""

from __future__ import annotations

import json

import pytest

from effsearch.cli import main
from effsearch.search.samplers import SAMPLERS, register_sampler


def test_every_kind_lists_its_registry(capsys):
    assert main(["list", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert set(found) == {"presets", "spaces", "ops", "datasets", "samplers", "evaluators", "objectives", "plugins"}
    assert "efficientnet-b0" in found["presets"] and "399M MACs" in found["presets"]["efficientnet-b0"]
    assert {"mnasnet", "small"} <= set(found["spaces"]) and "4,096 networks" in found["spaces"]["small"]
    assert {"mbconv", "ds", "conv"} <= set(found["ops"]) and "fashion-mnist" in found["datasets"]
    assert {"mnas", "random", "tpe", "nsga2"} <= set(found["samplers"]) and {"proxy", "supernet"} <= set(found["evaluators"])
    assert all(found[kind][name] for kind in ("presets", "spaces", "ops", "datasets", "samplers", "evaluators")
               for name in found[kind])
    assert "also named cifar-10" in found["datasets"]["cifar10"]


def test_a_plugin_entry_shows_up_and_tables_print(capsys):
    import optuna

    register_sampler("plugin-grid", lambda **_: optuna.samplers.RandomSampler(), description="a plugin's sampler")
    try:
        assert main(["list", "samplers"]) == 0
    finally:
        SAMPLERS.unregister("plugin-grid")
    printed = capsys.readouterr().out
    assert "plugin-grid" in printed and "a plugin's sampler" in printed and "presets" not in printed


@pytest.mark.parametrize("kind", ["preset", "everything", ""])
def test_an_unknown_kind_is_one_line(kind, capsys):
    assert main(["list", kind]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("effsearch: error: unknown kind") and "\n" not in err


def test_no_plugin_installed_says_so(capsys, monkeypatch):
    from effsearch.runtime import plugins

    monkeypatch.setattr(plugins, "_PLUGINS", [])  # loaded, and none found (whatever this machine has installed)
    assert main(["list", "plugins"]) == 0
    assert "none installed" in capsys.readouterr().out
