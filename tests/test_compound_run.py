"""``run_scale`` from Python: a small grid and a family without the CLI, and a requested stop that resumes."""

from __future__ import annotations

import dataclasses
import json

import pytest
from ray.tune import Callback

from effsearch.compound.grid import GridConfig
from effsearch.compound.run import ScaleConfig, ScaleRunConfig, run_scale
from effsearch.errors import EffsearchError
from effsearch.runtime import stop


@pytest.fixture(scope="module")
def digits():
    from effsearch.data import load_dataset

    return load_dataset("digits").subset(train=300, val=120)


def _proxy():
    from effsearch.proxy import ProxyConfig

    return ProxyConfig(epochs=1, resolution=12, threads=1, batch_size=32)


def test_given_coefficients_make_a_family_without_a_grid(tmp_path, tiny_spec):
    result = run_scale(baseline=tiny_spec, scale=ScaleConfig(phis=(0, 1, 2), coefficients=(1.2, 1.1, 1.15)),
                       run=ScaleRunConfig(out=tmp_path / "fam"))
    assert result.grid is None and result.coefficients_from == "given" and [m.phi for m in result.family.members] == [0, 1, 2]
    assert (tmp_path / "fam" / "family.yaml").is_file() and not (tmp_path / "fam" / "grid.csv").exists()
    run = json.loads((tmp_path / "fam" / "run.json").read_text())
    assert run["kind"] == "scale" and run["config"]["coefficients"] == {"alpha": 1.2, "beta": 1.1, "gamma": 1.15}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"coefficients": (1.5, 1.5, 1.5)}, "ignore_constraint"),
    ({"coefficients": (1.2, 1.1, 1.15), "rule": "official"}, "give one or the other"),
    ({"phis": (3, 1)}, "strictly increasing"),
    ({"resolution_multiple": 0}, "resolution multiple"),
    ({"coefficients": (1.4, 1.0, 1.0), "grid": GridConfig(target=1.4, tolerance=0.01)}, None),  # on its own target
])
def test_scale_config_is_validated_against_the_grids_own_constraint(kwargs, message):
    if message is None:
        assert ScaleConfig(**kwargs).coefficients == (1.4, 1.0, 1.0)
        return
    with pytest.raises(EffsearchError, match=message):
        ScaleConfig(**kwargs)


class StopAfterFirstPoint(Callback):
    """Asks for a stop (as the first Ctrl-C does) once a point has finished."""

    def on_trial_complete(self, iteration, trials, trial, **info):
        stop.request_stop()


@pytest.mark.slow
def test_a_grid_and_family_from_python_and_a_requested_stop_resumes(ray_cluster, digits, tiny_spec, tmp_path):
    from effsearch.compound.ledger import LEDGER, read_ledger

    out = tmp_path / "scale"
    # Channels rounded to 1 and alpha held at 1 keep three of the five points within the grid's
    # budget, so the plan trains three (with tiny_spec's multiple of 8 it would train one, and a
    # stop after the first point would find the grid already complete).
    tiny_spec = dataclasses.replace(tiny_spec, channel_divisor=1)
    scale = ScaleConfig(phis=(1, 2), grid=GridConfig(step=0.1, tolerance=0.1, alpha_range=(1, 1)), seed=0)
    where = ScaleRunConfig(out=out, workers=1)
    try:
        with pytest.raises(stop.Stopped):
            run_scale(baseline=tiny_spec, scale=scale, run=where, proxy=_proxy(), data=digits,
                      callbacks=[StopAfterFirstPoint()])
    finally:
        stop.clear()
    first = [e["index"] for e in read_ledger(out / LEDGER) if e.get("event") == "done"]
    assert 1 <= len(first) < 3 and not (out / "family.yaml").exists()
    assert json.loads((out / "run.json").read_text())["config"]["grid"]["complete"] is False

    result = run_scale(baseline=tiny_spec, scale=scale, run=where, proxy=_proxy(), data=digits)
    assert result.grid.complete and result.coefficients_from == "grid"
    assert result.coefficients == (result.grid.best.alpha, result.grid.best.beta, result.grid.best.gamma)
    starts = [e["index"] for e in read_ledger(out / LEDGER) if e.get("event") == "start"]
    assert all(starts.count(i) == 1 for i in first)  # finished points were not trained again
    assert [m.phi for m in result.family.members] == [1, 2] and (out / "family.json").is_file()
    assert json.loads((out / "run.json").read_text())["config"]["grid"]["complete"] is True
