"""``--workers 2``: candidates train in worker processes of this machine, or as Ray tasks on a local cluster
the search starts and shuts down (``--ray-address local``); a worker that dies fails its own trial only."""

from __future__ import annotations

import itertools
import os

import pandas as pd
import pytest

import tests.search_helpers as helpers
from tests.search_helpers import Scorer, search

pytestmark = pytest.mark.slow


class CrashOnce(Scorer):
    """Kills its Ray worker process on the architecture it is given first: a worker lost mid-trial."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def __call__(self, spec, data, config, seed=0):
        try:  # O_EXCL: exactly one of the workers starting at the same moment wins the marker
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return super().__call__(spec, data, config, seed)
        os._exit(1)  # what the OOM killer does to a worker


@pytest.mark.parametrize("address", [None, "local"], ids=["pool", "ray"])
def test_two_workers_complete_a_search_and_survive_a_crashed_worker(tmp_path, address):
    import cloudpickle
    import ray

    cloudpickle.register_pickle_by_value(helpers)  # workers need not import the tests package
    try:
        out = tmp_path / "run"
        result = search(out, evaluate=CrashOnce(str(tmp_path / "crashed")), trials=8, workers=2, sampler="tpe",
                        ray_address=address)
    finally:
        cloudpickle.unregister_pickle_by_value(helpers)
    assert not ray.is_initialized()  # the cluster it started is shut down
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 8 and result.ran == 8
    failed = trials[trials["state"] == "FAIL"]
    assert len(failed) == 1 and failed["status"].iloc[0] == "failed"
    assert "worker" in failed["reason"].iloc[0].lower() or "died" in failed["reason"].iloc[0].lower()
    assert (trials.loc[trials["state"] == "COMPLETE", "status"].isin(["ok", "cached"])).all()
    print(failed["reason"].iloc[0])
    # two in flight: trial 1 was asked for before trial 0 was told (the study keeps microseconds)
    frozen = sorted(result.study.get_trials(deepcopy=False), key=lambda t: t.number)
    assert any(b.datetime_start < a.datetime_complete for a, b in itertools.pairwise(frozen))
