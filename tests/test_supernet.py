"""The supernet: layouts and refusals, exact sub-network extraction, training, resume, scoring, the evaluator."""

from __future__ import annotations

import json
import pickle
import random

import pytest
import torch
import yaml

from effsearch.arch.ops import get_op, register_op, unregister_op
from effsearch.data import load_dataset
from effsearch.proxy import ProxyConfig, adapt_for_proxy, train_and_evaluate
from effsearch.search.space import extreme_params, load_space, parse_space
from effsearch.supernet import folder as files
from effsearch.supernet.evaluator import SupernetEvaluator, make
from effsearch.supernet.layout import SupernetError, layout_for
from effsearch.supernet.model import Supernet, crop
from effsearch.supernet.score import ScoreConfig, Scorer
from effsearch.supernet.train import SupernetConfig, train_supernet
from tests.search_helpers import TINY_SPACE, search, tiny_space

PROXY = ProxyConfig(epochs=1, threads=1, resolution=16, batch_size=32)
TINY = SupernetConfig(epochs=2, train_images=192)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def tiny_supernet(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("supernet") / "tiny"
    space = parse_space(yaml.safe_load(TINY_SPACE))
    train_supernet(space, digits, PROXY, TINY, folder)
    return folder, space


def _random_specs(space, n, seed=0, resolution=16):
    rng = random.Random(seed)
    for _ in range(n):
        spec = space.to_spec({name: rng.choice(values) for name, values in space.decisions})
        yield adapt_for_proxy(spec, resolution, num_classes=10, in_chans=1)


# --------------------------------------------------------------------------- layout


def test_layout_holds_the_largest_choice_of_every_dimension():
    lay = layout_for(load_space("mnasnet"))
    b2 = lay.blocks[1]
    assert b2.ops == ("conv", "ds", "mbconv") and b2.kernel == 5 and b2.exp_ratio == 6 and b2.se_ratio == 0.25
    assert b2.out_chs == 32 and b2.layers == 3  # 24 x 1.25 rounded to 8; 2 layers + 1
    assert b2.in_chs == lay.blocks[0].out_chs == 24  # the previous block's widest output
    small = layout_for(load_space("small"))
    assert [b.ops for b in small.blocks][:2] == [("ds",), ("mbconv",)]
    assert small.fingerprint() != lay.fingerprint()


def test_a_space_with_an_op_that_cannot_share_weights_is_refused_by_block_and_op():
    register_op(get_op("mbconv").__class__(**{**get_op("mbconv").__dict__, "name": "twin", "token": "twin"}))
    try:
        space = parse_space(yaml.safe_load(TINY_SPACE.replace("op: [ds, mbconv_e3]", "op: [ds, twin_e3]")))
        with pytest.raises(SupernetError) as exc:
            layout_for(space)
        message = str(exc.value)
        assert "block 1 op 'twin' cannot share weights" in message and "\n" not in message
    finally:
        unregister_op("twin")


def test_extremes_are_the_largest_and_smallest_by_macs():
    from effsearch.arch.cost import count

    space = load_space("small")
    big, small = (space.to_spec(extreme_params(space, largest=x)) for x in (True, False))
    assert count(big).macs > 400e6 > count(small).macs
    assert all(b.exp_ratio == 6 and b.kernel_size == 5 for b in big.blocks[1:])
    assert all(b.exp_ratio == 3 and b.kernel_size == 3 for b in small.blocks[1:])
    costs = [count(space.to_spec({n: random.Random(i).choice(v) for n, v in space.decisions})).macs for i in range(30)]
    assert count(small).macs <= min(costs) and max(costs) <= count(big).macs


def test_a_candidate_the_supernet_cannot_hold_is_named():
    space = load_space("small")
    lay = layout_for(space)
    spec = space.to_spec(extreme_params(space, largest=True))
    wide = spec.replace(blocks=(spec.blocks[0].__class__(**{**spec.blocks[0].__dict__, "kernel_size": 7}),
                                *spec.blocks[1:]))
    with pytest.raises(SupernetError, match="block 1 kernel_size 7 does not fit"):
        lay.check(wide)


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize("name", ["mnasnet", "small"])
def test_an_extracted_sub_network_computes_what_the_supernet_computes(name):
    torch.manual_seed(0)
    space = load_space(name)
    net = Supernet(layout_for(space), num_classes=10, in_chans=1)
    net.train()
    for spec in _random_specs(space, 3, seed=1):  # move the batch-norm statistics off their start
        net(torch.randn(8, 1, 16, 16), spec)
    net.eval()
    x = torch.randn(4, 1, 16, 16)
    for spec in _random_specs(space, 6, seed=2):
        model = net.extract(spec).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x), net(x, spec), rtol=1e-5, atol=1e-5)
        assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in net.parameters())


def test_a_sub_network_trains_only_the_weights_it_inherits():
    space = load_space("small")
    net = Supernet(layout_for(space), num_classes=10, in_chans=1)
    spec = adapt_for_proxy(space.to_spec(extreme_params(space, largest=False)), 16, num_classes=10, in_chans=1)
    net(torch.randn(2, 1, 16, 16), spec).sum().backward()
    dw = net.blocks[1][0]["mbconv"].conv_dw.conv.weight  # largest: 16 x 6 = 96 channels, kernel 5
    used = spec.blocks[1].mid_chs  # 16 x 3 = 48 channels, kernel 3
    assert dw.shape[0] == 96 and used == 48
    assert dw.grad[:used, :, 1:4, 1:4].abs().sum() > 0
    assert dw.grad[used:].abs().sum() == 0 and dw.grad[:, :, 0].abs().sum() == 0  # wider channels, kernel rim


def test_layers_that_can_be_residual_start_from_their_shortcut():
    net = Supernet(layout_for(load_space("small")), num_classes=10, in_chans=1)
    first = net.blocks[1][0]["mbconv"]  # stride 2, 16 -> 24 channels: never residual
    later = net.blocks[1][1]["mbconv"]
    assert (first.last_bn.weight == 1).all() and (later.last_bn.weight == 0).all()
    assert net.zero_init_residual() == sum(len(stage) for stage in net.blocks) - 7  # every first layer changes shape
    mnas = layout_for(load_space("mnasnet"))
    assert [b.first_residual for b in mnas.blocks] == [False, False, False, False, False, False, False]
    untouched = Supernet(layout_for(load_space("small")), num_classes=10, in_chans=1, zero_init_residual=False)
    assert (untouched.blocks[1][1]["mbconv"].last_bn.weight == 1).all()
    # without its shortcut a layer uses its own last batch norm, which starts at one
    assert later.plain_bn is not None and (later.plain_bn.weight == 1).all() and first.plain_bn is None
    mnas = Supernet(layout_for(load_space("mnasnet")), num_classes=10, in_chans=1)
    assert list(mnas.blocks[1][0]) == ["conv", "mbconv"]  # ds runs on the MBConv layer (no expansion)


def test_crop_takes_leading_channels_and_the_kernel_centre():
    w = torch.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5)
    torch.testing.assert_close(crop(w, (1, 2, 3, 3)), w[:1, :2, 1:4, 1:4])


# --------------------------------------------------------------------------- training and scoring


def test_training_writes_checkpoints_and_a_finished_run_is_not_repeated(tiny_supernet, digits):
    folder, space = tiny_supernet
    meta = json.loads((folder / files.META).read_text())
    assert meta["finished"] and meta["epochs_done"] == 2 and len(meta["history"]) == 2
    assert meta["identity"]["space"] == "tiny" and meta["identity"]["data"]["resolution"] == 16
    assert {"largest_accuracy", "smallest_accuracy", "train_loss"} <= set(meta["history"][0])
    weights = (folder / files.WEIGHTS).stat().st_mtime_ns
    again = train_supernet(space, digits, PROXY, TINY, folder)
    assert again["epochs_done"] == 2 and (folder / files.WEIGHTS).stat().st_mtime_ns == weights


def test_resuming_with_other_settings_is_refused_and_changes_nothing(tiny_supernet, digits):
    folder, space = tiny_supernet
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(SupernetError, match="trained with epochs 2, this training uses 3"):
        train_supernet(space, digits, PROXY, SupernetConfig(epochs=3, train_images=192), folder)
    with pytest.raises(SupernetError, match="trained with space 'tiny'"):
        train_supernet(load_space("small"), digits, PROXY, TINY, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_corrupt_checkpoint_is_one_line(tmp_path, digits):
    space = parse_space(yaml.safe_load(TINY_SPACE))
    folder = tmp_path / "sn"
    train_supernet(space, digits, PROXY, SupernetConfig(epochs=1, train_images=64), folder)
    meta = json.loads((folder / files.META).read_text())
    meta.update(finished=False, epochs_done=0)
    files.write_json(folder / files.META, meta)
    (folder / files.CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(SupernetError, match="is not a readable supernet file") as exc:
        train_supernet(space, digits, PROXY, SupernetConfig(epochs=1, train_images=64), folder)
    assert "\n" not in str(exc.value)


def test_scores_are_deterministic_and_shaped_like_proxy_metrics(tiny_supernet, digits):
    folder, space = tiny_supernet
    evaluator = SupernetEvaluator(folder, space=space, data=digits, proxy=PROXY)
    spec = space.to_spec({name: values[0] for name, values in space.decisions})
    first = evaluator(spec, digits, PROXY)
    assert first == {**evaluator(spec, digits, PROXY), "eval_seconds": first["eval_seconds"]}
    proxy_keys = set(train_and_evaluate(spec, digits.subset(train=64, val=64), ProxyConfig(steps=1, resolution=16)))
    assert proxy_keys <= set(first)
    assert first["status"] == "ok" and 0 <= first["accuracy"] <= 1 and first["evaluator"] == "supernet"
    assert first["macs"] > 0 and first["score_images"] == min(ScoreConfig().score_images, len(digits.val_y))
    # pickled (as Ray ships it): the weights travel as arrays and score the same
    clone = pickle.loads(pickle.dumps(evaluator))
    assert clone(spec, digits, PROXY)["accuracy"] == first["accuracy"]


def test_recalibration_gives_each_candidate_its_own_batch_norm_statistics(tiny_supernet, digits):
    folder, space = tiny_supernet
    _, weights = files.finished_weights(folder)
    net = Supernet(layout_for(space), num_classes=10, in_chans=1)
    net.load_state_dict(weights)
    scorer = Scorer(net, digits, PROXY, resolution=16, config=ScoreConfig(calibration_images=128), device=torch.device("cpu"))
    spec = space.to_spec({name: values[-1] for name, values in space.decisions})
    model = scorer.model(spec)
    stem_bn = model.stem.bn
    x = torch.cat(scorer.calibration).float()
    assert not torch.allclose(stem_bn.running_mean, net.stem.bn.running_mean[: stem_bn.num_features])
    assert stem_bn.num_batches_tracked == len(scorer.calibration) and x.shape[0] == 128


# --------------------------------------------------------------------------- the evaluator in a search


def test_a_search_scored_by_the_supernet_verifies_its_finalists_standalone(tiny_supernet, digits, tmp_path):
    folder, _ = tiny_supernet
    out = tmp_path / "run"
    result = search(out, evaluate=None, space=tiny_space(tmp_path), trials=4, data=digits, proxy=PROXY,
                    evaluator=f"supernet:{folder}", retrain_top=2, retrain_epochs=1)
    trials = result.exported.trials
    assert (trials["evaluator"] == "supernet").all() and (trials["train_seconds"].fillna(0) == 0).all()
    retrain = result.exported.retrain
    assert len(retrain) == 2 and (retrain["train_seconds"] > 0).all()  # trained, not scored
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["evaluator"]["name"] == "supernet"
    assert run["config"]["evaluator"]["supernet"]["space"] == "tiny"
    assert run["results"]["fidelity"]["n"] == 2 and run["results"]["fidelity"]["evaluator"] == "supernet"
    assert result.exported.fidelity["kendall_tau"] in (-1.0, 1.0, None)


def test_a_supernet_of_another_space_or_data_set_is_refused_before_anything_is_written(tiny_supernet, digits, tmp_path):
    folder, _ = tiny_supernet
    out = tmp_path / "run"
    with pytest.raises(SupernetError, match="trained with space 'tiny', this search uses 'small'"):
        search(out, evaluate=None, space="small", trials=2, data=digits, proxy=PROXY, evaluator=f"supernet:{folder}")
    other = load_dataset("digits", val_fraction=0.3)
    with pytest.raises(SupernetError, match=r"trained with data\.train 1151, this search uses 1004"):
        search(out, evaluate=None, space=tiny_space(tmp_path), trials=2, data=other, proxy=PROXY,
               evaluator=f"supernet:{folder}")
    with pytest.raises(SupernetError, match="holds no supernet"):
        search(out, evaluate=None, space=tiny_space(tmp_path), trials=2, data=digits, proxy=PROXY,
               evaluator=f"supernet:{tmp_path / 'nothing'}")
    assert not out.exists()


def test_supernet_without_a_folder_trains_one_into_the_results_folder(digits, tmp_path):
    space = parse_space(yaml.safe_load(TINY_SPACE))
    auto = make(None, data=digits, proxy=PROXY, out=tmp_path / "run", space=space)
    assert auto.folder == tmp_path / "run" / "supernet" and auto.train_config == SupernetConfig()
    quick = SupernetEvaluator(tmp_path / "run" / "supernet", space=space, data=digits, proxy=PROXY,
                              train=SupernetConfig(epochs=1, train_images=64))
    result = search(tmp_path / "run", evaluate=quick, space=tiny_space(tmp_path), trials=3, data=digits, proxy=PROXY)
    assert (tmp_path / "run" / "supernet" / files.WEIGHTS).is_file()
    assert (result.exported.trials["evaluator"] == "supernet").all()
