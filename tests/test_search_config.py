"""The search configs: keyword-only, validated on construction, one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from effsearch.errors import EffsearchError
from effsearch.search import RunConfig, SearchConfig


def test_defaults_and_objectives():
    cfg = SearchConfig()
    assert (cfg.space, cfg.sampler, cfg.seed, cfg.retrain_top) == ("mnasnet", "mnas", 0, 0) and cfg.objectives == 1
    assert SearchConfig(sampler="nsga2").objectives == 2
    with pytest.raises(TypeError):
        SearchConfig("small")  # keyword-only


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sampler": "cmaes"}, "unknown sampler 'cmaes'"),
    ({"trials": 0}, "trials 0"),
    ({"trials": 2.5}, "trials 2.5"),
    ({"timeout": -1}, "timeout -1"),
    ({"timeout": math.inf}, "timeout inf"),
    ({"seed": -1}, "seed -1"),
    ({"retrain_top": -2}, "retrain-top count -2"),
    ({"retrain_epochs": 0}, "retraining epochs 0"),
    ({"evaluator": "oracle"}, "unknown evaluator 'oracle'"),
    ({"latency_threads": 0}, "latency threads 0"),
    ({"space": " "}, "search space is empty"),
])
def test_invalid_search_settings(kwargs, message):
    with pytest.raises(EffsearchError, match=message.replace("(", r"\(")) as info:
        SearchConfig(**kwargs)
    assert "\n" not in str(info.value)


def test_run_config_storage_and_validation(tmp_path):
    run = RunConfig(out=tmp_path / "r")
    assert run.storage_url == f"sqlite:///{(tmp_path / 'r' / 'study.db').resolve()}" and run.workers == "auto"
    assert RunConfig(out=tmp_path, workers=3).workers == 3
    assert RunConfig(out=tmp_path, storage="journal:x.log").storage_url == "journal:x.log"
    assert isinstance(RunConfig(out=str(tmp_path)).out, Path)
    (tmp_path / "file").write_text("")
    for kwargs, message in (({"out": tmp_path / "file"}, "is a file"), ({"out": tmp_path, "workers": 0}, "workers 0"),
                            ({"out": tmp_path, "workers": "many"}, "workers 'many'"),
                            ({"out": tmp_path, "storage": ""}, "storage URL is empty"),
                            ({"out": tmp_path, "gpus_per_trial": -1}, "GPUs per trial -1")):
        with pytest.raises(EffsearchError, match=message):
            RunConfig(**kwargs)
