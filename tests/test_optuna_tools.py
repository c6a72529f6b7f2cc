"""What Optuna's own tools (optuna-dashboard, ``trials_dataframe``, pruners) see in our studies.

optuna-dashboard shows a dict-valued user attribute as one opaque column and draws intermediate
values as learning curves; our studies store scalars under dotted names and report the
validation accuracy per epoch.
"""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from effsearch.data import load_dataset
from effsearch.proxy import ProxyConfig
from effsearch.search import RunConfig, SearchConfig, run_baseline_search
from effsearch.search.outputs import trial_row
from effsearch.search.reward import RewardConfig
from effsearch.search.study import flat_attrs, nested_attrs
from tests.search_helpers import TINY_SPACE, write_space


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A real search: the proxy trains each candidate for 2 epochs on digits."""
    tmp = tmp_path_factory.mktemp("optuna-tools")
    space = write_space(tmp, TINY_SPACE, "tiny")
    out = tmp / "run"
    data = load_dataset("digits").subset(train=256, val=128)
    run_baseline_search(search=SearchConfig(space=space, sampler="random", trials=5, seed=3),
                        reward=RewardConfig(target=5e6), proxy=ProxyConfig(epochs=2, threads=1, batch_size=32),
                        run=RunConfig(out=out, progress=False), data=data)
    return optuna.load_study(study_name="run", storage=f"sqlite:///{out / 'study.db'}"), out


def test_user_attributes_are_scalars_with_dotted_names(study):
    st, _ = study
    for trial in st.trials:
        assert all(not isinstance(v, (dict, list)) for v in trial.user_attrs.values()), trial.user_attrs
    frame = st.trials_dataframe()
    assert {"user_attrs_owner.pid", "user_attrs_owner.host", "user_attrs_proxy.train_seconds",
            "user_attrs_proxy.epochs"} <= set(frame.columns)
    assert st.metric_names == ["reward"]


def test_each_trained_trial_has_its_accuracy_curve(study):
    st, out = study
    trials = pd.read_csv(out / "trials.csv")
    ok = [t for t in st.trials if t.user_attrs["status"] == "ok"]
    assert ok
    for trial in ok:
        assert sorted(trial.intermediate_values) == [1, 2]  # one validation per epoch
        assert trial.intermediate_values[2] == pytest.approx(trial.user_attrs["accuracy"])  # the last is the result
        row = trials[trials["number"] == trial.number].iloc[0]
        assert row["train_seconds"] == trial.user_attrs["proxy.train_seconds"]  # trials.csv reads the flat names
    for trial in st.trials:
        if trial.user_attrs["status"] == "cached":  # the curve of the trial it copies
            source = st.trials[trial.user_attrs["cached_from"]]
            assert trial.intermediate_values == source.intermediate_values


def test_studies_written_before_keep_reading():
    """Older studies stored ``proxy`` and ``owner`` whole; both forms read the same."""
    record = {"train_seconds": 1.5, "device": "cpu"}
    assert nested_attrs({"proxy": record}, "proxy") == record
    assert nested_attrs(flat_attrs("proxy", record), "proxy") == record
    assert nested_attrs({"proxy.x": 1, "proxyish": 2}, "proxy") == {"x": 1}
    old = optuna.trial.create_trial(value=0.9, user_attrs={"status": "ok", "accuracy": 0.9, "proxy": record})
    assert trial_row(old, [])["train_seconds"] == 1.5
