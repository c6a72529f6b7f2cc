"""Compound against single-dimension scaling: MAC matching, the plan, real trainings on digits, resume, verdicts, figure."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from effsearch import count, get_preset
from effsearch.arch.scaling import round_repeats, round_resolution, scale
from effsearch.compound.compare import (
    SINGLE,
    check_compare_phis,
    compare_variants,
    match_macs,
    training_folder,
)
from effsearch.compound.compare_run import COLUMNS, CompareConfig, plan, run_compare
from effsearch.compound.family import make_member
from effsearch.compound.verdict import overall, summarize, verdicts
from effsearch.errors import EffsearchError

PAPER = (1.2, 1.1, 1.15)
B0_TOLERANCE = {"width": 0.03, "resolution": 0.03, "depth": 0.10}
"""At 224 px width- and resolution-only land within 3% of the member's MACs (the side moves in steps
of 8 px, ~7% of MACs per step); depth-only within 10%: repeats are whole layers per stage, and B0's
next depth after 2x (2.1x: every stage one more) overshoots phi 1's target by more than 2x undershoots it."""


# --------------------------------------------------------------------------- MAC matching


def test_single_dimension_variants_match_the_members_macs_on_b0():
    b0 = get_preset("efficientnet-b0")
    variants = compare_variants(b0, PAPER, (1, 2, 3))
    assert [(v.kind, v.phi) for v in variants[:5]] == [("baseline", 0), ("compound", 1), ("width", 1), ("depth", 1),
                                                        ("resolution", 1)]
    for v in variants[1:]:
        member = make_member(b0, v.phi, coefficients=PAPER)
        assert v.target_macs == member.macs and v.macs == count(v.spec).macs
        assert abs(v.mismatch) <= B0_TOLERANCE.get(v.kind, 0), (v.name, v.mismatch)
        if v.kind == "compound":
            assert v.spec == member.spec and v.mismatch == 0
            assert v.resolution_mult == member.resolution / b0.resolution
    width, depth, res = (next(v for v in variants if v.kind == k and v.phi == 1) for k in SINGLE)
    assert width.spec == scale(b0, width=width.width, name=width.spec.name) and width.depth == width.resolution_mult == 1
    assert depth.spec == scale(b0, depth=depth.depth, name=depth.spec.name) and depth.width == 1
    assert res.spec.resolution == 328 and res.resolution_mult == 328 / 224 and res.train_resolution(28) == round(28 * 328 / 224)
    assert [b.out_chs for b in res.spec.blocks] == [b.out_chs for b in b0.blocks]


def test_every_variant_is_made_by_a_real_multiplier():
    """Regression: a bisection ending within round_repeats' 1e-9 of a plateau's edge (depth 2.000000001)
    made the demo baseline's depth-only network with 1 repeat kept at 2 but 2 grown to 5."""
    from effsearch.arch.specio import load_spec

    demo = load_spec(Path(__file__).parent.parent / "results" / "examples" / "demo")
    for baseline in (get_preset("efficientnet-b0"), demo):
        for v in compare_variants(baseline, PAPER, (1, 2)):
            if v.kind in SINGLE:
                assert round(v.width, 3) == v.width and round(v.depth, 3) == v.depth, (v.name, v.width, v.depth)
                assert v.spec == scale(baseline, width=v.width, depth=v.depth, resolution=v.spec.resolution, name=v.spec.name)
    depth = next(v for v in compare_variants(demo, PAPER, (1,)) if v.kind == "depth")
    assert [b.repeats for b in depth.spec.blocks] == [round_repeats(b.repeats, depth.depth) for b in demo.blocks]


def test_the_match_is_the_closest_network_and_its_mismatch_is_reported(tiny_spec):
    """On a 32 px baseline the steps are coarse (8 px of 32): whatever the mismatch, no neighbour is closer."""
    variants = {(v.kind, v.phi): v for v in compare_variants(tiny_spec, PAPER, (1, 2))}
    for phi in (1, 2):
        target = variants[("compound", phi)].macs
        tried = {
            "width": [scale(tiny_spec, width=w) for w in np.arange(1.0, 4.0, 0.005)],
            "depth": [scale(tiny_spec, depth=d) for d in np.arange(1.0, 12.0, 0.05)],
            "resolution": [scale(tiny_spec, resolution=round_resolution(r)) for r in range(8, 200, 8)],
        }
        for kind, specs in tried.items():
            v = variants[(kind, phi)]
            best = min(abs(count(s).macs - target) for s in specs)
            assert abs(v.macs - target) <= best, (kind, phi)
            assert v.mismatch == pytest.approx((v.macs - target) / target)
    assert abs(variants[("resolution", 1)].mismatch) > 0.05  # reported, not hidden: 48 px is the closest side


def test_match_macs_tidies_the_multiplier_and_starts_at_the_baseline(tiny_spec):
    target = count(scale(tiny_spec, width=1.5)).macs
    m, spec = match_macs(lambda w: scale(tiny_spec, width=w), target)
    assert count(spec).macs == target and len(repr(m)) <= 6 and scale(tiny_spec, width=m) == spec
    m, spec = match_macs(lambda w: scale(tiny_spec, width=w), count(tiny_spec).macs - 1)
    assert m == 1.0 and spec == tiny_spec


@pytest.mark.parametrize(("phis", "message"), [((), "no phi"), ((0, 1), "phi 0 is the baseline"), ((8,), "out of range"),
                                               ((2, 1), "strictly increasing"), ((1.5,), "whole numbers")])
def test_bad_phis(phis, message):
    with pytest.raises(EffsearchError, match=message):
        check_compare_phis(phis)


@pytest.mark.parametrize(("kwargs", "message"), [({"seeds": ()}, "seeds"), ({"seeds": (0, 0)}, "distinct"),
                                                 ({"coefficients": (0.9, 1, 1)}, ">= 1"), ({"base_resolution": 2}, "base resolution"),
                                                 ({"resolution_multiple": 0}, "resolution multiple")])
def test_bad_compare_config(kwargs, message):
    with pytest.raises(EffsearchError, match=message):
        CompareConfig(**{"coefficients": PAPER, **kwargs})


# --------------------------------------------------------------------------- the plan


def test_the_plan_trains_every_variant_for_every_seed_at_the_scaled_input(tmp_path):
    fashion = SimpleNamespace(name="fashion-mnist", default_resolution=28, num_classes=10, in_chans=1)
    variants = compare_variants(get_preset("efficientnet-b0"), PAPER, (1, 2))
    planned = plan(variants, fashion, (0, 1, 2), tmp_path)
    assert len(planned) == 3 * (1 + 4 * 2)
    assert [p.seed for p in planned] == [0] * 9 + [1] * 9 + [2] * 9  # seed by seed: an interruption keeps whole seeds
    assert [p.variant.name for p in planned[:9]] == ["baseline-phi0", *(f"{k}-phi{phi}" for phi in (1, 2)
                                                                         for k in ("compound", *SINGLE))]
    for p in planned:
        assert p.folder == training_folder(tmp_path, p.variant.kind, p.variant.phi, p.seed)
        assert p.folder.name == f"{p.variant.kind}-phi{p.variant.phi}-s{p.seed}" and p.folder.parent == tmp_path / "compare"
        assert p.train_resolution == round(28 * p.variant.resolution_mult) == p.net.resolution
        assert (p.net.num_classes, p.net.in_chans) == (10, 1)
        assert [b.out_chs for b in p.net.blocks] == [b.out_chs for b in p.variant.spec.blocks]  # adapted, not rescaled
    sides = {p.variant.name: p.train_resolution for p in planned}
    assert sides["baseline-phi0"] == sides["width-phi1"] == sides["depth-phi2"] == 28
    assert sides["resolution-phi1"] == 41 and sides["compound-phi1"] == 32  # 328 / 224 and 256 / 224 of 28 px
    assert len({p.folder for p in planned}) == len(planned)


def test_every_variant_trains_with_the_baselines_strides_so_macs_as_trained_keep_their_match():
    """At 28 px B0 drops its stem's stride; at 41 px (resolution-only, phi 1) the proxy's own rule would keep
    it and train with about half the MACs the network was matched at. The plan drops it everywhere."""
    from effsearch.engine.adapt import adapt_for_proxy

    fashion = SimpleNamespace(name="fashion-mnist", default_resolution=28, num_classes=10, in_chans=1)
    b0 = get_preset("efficientnet-b0")
    planned = plan(compare_variants(b0, PAPER, (1, 2)), fashion, (0,), "unused", strides_of=b0)
    base = next(p for p in planned if p.variant.kind == "baseline")
    base_macs = count(base.net).macs
    for p in planned:
        assert p.net.stem_stride == 1 and [b.stride for b in p.net.blocks if b.stride > 1] == [2, 2, 2, 2]
        trained = count(p.net).macs / base_macs
        deployed = p.variant.macs / base.variant.macs
        # Within 20%: the last maps are a few pixels, rounded up (32 px keeps 4 and 2 px where 28 px does too).
        assert trained == pytest.approx(deployed, rel=0.2), p.variant.name
    lone = adapt_for_proxy(next(p for p in planned if p.variant.name == "resolution-phi1").variant.spec, 41, num_classes=10, in_chans=1)
    assert lone.stem_stride == 2 and count(lone).macs < 0.8 * base_macs  # matched at 2.3x, it would train with less than 1x
    unpinned = plan(compare_variants(b0, PAPER, (1,)), fashion, (0,), "unused")
    assert [p.net for p in unpinned if p.variant.name == "resolution-phi1"] == [lone.replace(num_classes=10)]


# --------------------------------------------------------------------------- real trainings on digits


@pytest.fixture(scope="module")
def digits():
    from effsearch.data import load_dataset

    return load_dataset("digits").subset(train=200, val=120, test=120, seed=0)


@pytest.fixture(scope="module")
def compared(tmp_path_factory, digits):
    from effsearch import NetSpec, parse_block
    from effsearch.train import TrainConfig

    blocks = ("r1_k3_s11_e1_i8_o8_se0.25", "r2_k3_s22_e3_i8_o16_se0.25", "conv_r1_k3_s22_e1_i16_o16_noskip_relu")
    spec = NetSpec(blocks=tuple(parse_block(b) for b in blocks), stem_chs=8, head_chs=32, resolution=32, num_classes=5,
                   name="tiny")
    out = tmp_path_factory.mktemp("compare")
    args = (spec, digits, CompareConfig(coefficients=PAPER, phis=(1,), seeds=(0, 1)), TrainConfig(epochs=1, batch_size=64, threads=1), out)
    events: list[dict] = []
    result = run_compare(*args, on_training=events.append)
    return SimpleNamespace(args=args, out=out, result=result, events=events)


def test_compare_writes_one_row_per_training_and_the_summary(compared):
    out, result = compared.out, compared.result
    with open(out / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 10 == result.planned and result.complete and result.trained == 10
    assert {(r["variant"], r["phi"]) for r in rows} == {("baseline", "0"), *((k, "1") for k in ("compound", *SINGLE))}
    for r in rows:
        assert 0 <= float(r["test_accuracy"]) <= 1 and (out / r["folder"] / "metrics.json").is_file()
        assert r["folder"] == f"compare/{r['variant']}-phi{r['phi']}-s{r['seed']}"
        metrics = json.loads((out / r["folder"] / "metrics.json").read_text())
        assert metrics["test_accuracy"] == pytest.approx(float(r["test_accuracy"]), abs=1e-6)
        assert metrics["resolution"] == int(r["train_resolution"]) == round(16 * float(r["resolution_mult"]))
    doc = json.loads((out / "compare.json").read_text())
    assert doc["complete"] and doc["kind"] == "compare" and doc["coefficients"] == {"alpha": 1.2, "beta": 1.1, "gamma": 1.15}
    assert [(s["variant"], s["n"]) for s in doc["summary"]] == [(k, 2) for k in ("baseline", "compound", *SINGLE)]
    width = [float(r["test_accuracy"]) for r in rows if r["variant"] == "width"]
    summary = next(s for s in doc["summary"] if s["variant"] == "width")
    assert summary["mean"] == pytest.approx(np.mean(width), abs=1e-6) and summary["std"] == pytest.approx(np.std(width, ddof=1), abs=1e-6)
    assert [v["against"] for v in doc["verdicts"]] == list(SINGLE) and len(doc["overall"]) == 1
    assert "larger of the two sample standard deviations" in doc["spread_rule"]
    assert [e["event"] for e in compared.events] == ["start", "done"] * 10
    assert [e["index"] for e in compared.events[1::2]] == list(range(1, 11))


def test_compare_resumes_and_refuses_other_settings(compared):
    from effsearch.train import TrainConfig

    spec, data, config, train, out = compared.args
    before = (out / "compare.csv").read_text()
    events: list[dict] = []
    again = run_compare(spec, data, config, train, out, on_training=events.append)
    assert again.trained == 0 and all(e["event"] == "done" and e["found"] for e in events)
    assert (out / "compare.csv").read_text() == before
    shutil.rmtree(out / "compare" / "depth-phi1-s1")  # an interrupted comparison: one training missing
    events.clear()
    resumed = run_compare(spec, data, config, train, out, on_training=events.append)
    assert resumed.trained == 1 and [e["name"] for e in events if e["event"] == "start"] == ["depth-phi1"]
    assert len(resumed.rows) == 10
    files = sorted(p.name for p in (out / "compare").iterdir())
    with pytest.raises(EffsearchError, match=r"was run with config\.epochs = 1, not 2"):
        run_compare(spec, data, config, TrainConfig(epochs=2, batch_size=64, threads=1), out)
    assert sorted(p.name for p in (out / "compare").iterdir()) == files


# --------------------------------------------------------------------------- verdicts on synthetic numbers


def _rows(values: dict[str, list[float]], phi: int = 1) -> list[dict]:
    return [{"variant": k, "phi": 0 if k == "baseline" else phi, "seed": s, "macs": 1, "test_accuracy": a}
            for k, accs in values.items() for s, a in enumerate(accs)]


def test_verdicts_compare_the_difference_with_the_larger_spread():
    rows = _rows({"baseline": [0.5, 0.52], "compound": [0.90, 0.92, 0.94], "width": [0.80, 0.81, 0.82],
                  "depth": [0.89, 0.90, 0.91], "resolution": [0.91, 0.93, 0.95]})
    summary = summarize(rows)
    assert [(s["variant"], s["phi"], s["n"]) for s in summary] == [("baseline", 0, 2), ("compound", 1, 3), ("width", 1, 3),
                                                                    ("depth", 1, 3), ("resolution", 1, 3)]
    found = {v["against"]: v for v in verdicts(summary)}
    assert found["width"]["difference"] == pytest.approx(0.11) and found["width"]["spread"] == pytest.approx(0.02)
    assert found["width"]["verdict"] == "better" and found["width"]["beats"] and found["width"]["beyond_spread"]
    assert found["depth"]["verdict"] == "ahead" and found["depth"]["beats"] and not found["depth"]["beyond_spread"]
    assert found["resolution"]["verdict"] == "behind" and not found["resolution"]["beats"]
    assert "compound beats width-only by 11.00 points (92.00 vs 81.00), more than the seeds' spread (2.00 points)" in found["width"]["text"]
    line = overall(list(found.values()))[0]
    assert (line["beats"], line["beats_beyond_spread"], line["of"]) == (2, 1, 3)
    assert line["text"] == ("phi 1: compound beats 2 of 3 single-dimension variants (width-only, depth-only); "
                            "width-only beyond the seeds' spread")


def test_verdicts_without_a_spread_and_when_behind():
    one = {v["against"]: v for v in verdicts(summarize(_rows({"compound": [0.9], "width": [0.8]})))}
    assert one["width"]["beats"] and one["width"]["beyond_spread"] is None and one["width"]["verdict"] == "ahead"
    assert "no spread to judge by" in one["width"]["text"]
    assert overall(list(one.values()))[0]["text"].endswith("too few seeds to judge the spread")
    worse = verdicts(summarize(_rows({"compound": [0.5, 0.51], "depth": [0.9, 0.91]})))
    assert worse[0]["verdict"] == "worse" and overall(worse)[0]["text"] == "phi 1: compound beats none of the 1 single-dimension variants"
    tied = verdicts(summarize(_rows({"compound": [0.5, 0.6], "width": [0.6, 0.5]})))
    assert tied[0]["verdict"] == "tied" and not tied[0]["beats"]
    unfinished = summarize([{"variant": "compound", "phi": 1, "seed": 0, "macs": 1, "test_accuracy": None}])
    assert unfinished[0]["n"] == 0 and unfinished[0]["mean"] is None and verdicts(unfinished) == []


# --------------------------------------------------------------------------- the dashboard's figure


def _run(tmp_path, compare=None, family=None, name="r"):
    from effsearch.review.dashboard.data import RunData

    return RunData(folder=tmp_path, name=name, compare=compare, family=family)


def test_accuracy_figure_draws_each_variant_through_the_baseline_with_error_bars(tmp_path):
    from effsearch.review.dashboard.compare_figures import IMAGENET_LABEL, accuracy_figure

    rows = _rows({"baseline": [0.5, 0.6], "compound": [0.9, 0.92], "width": [0.8, 0.84], "depth": [0.85, 0.85],
                  "resolution": [0.7, 0.8]})
    for r in rows:
        r["macs"] = 100 if r["variant"] == "baseline" else 200 + {"compound": 0, "width": 3, "depth": -2, "resolution": 5}[r["variant"]]
    fig = accuracy_figure([_run(tmp_path, compare=pd.DataFrame(rows))])
    by_role: dict[str, list] = {}
    for t in fig.data:
        by_role.setdefault(t.meta["role"], []).append(t)
    assert sorted(by_role) == ["compare", "compare_baseline", "imagenet"]
    lines = {t.meta["variant"]: t for t in by_role["compare"]}
    assert list(lines) == ["compound", *SINGLE]
    assert list(lines["width"].x) == [100.0, 203.0] and list(lines["width"].y) == pytest.approx([0.55, 0.82])
    assert list(lines["width"].error_y.array) == pytest.approx([np.std([0.5, 0.6], ddof=1), np.std([0.8, 0.84], ddof=1)])
    assert list(lines["depth"].error_y.array)[1] == 0.0
    (base,) = by_role["compare_baseline"]
    assert list(base.x) == [100.0] and list(base.y) == pytest.approx([0.55])
    (imagenet,) = by_role["imagenet"]
    assert IMAGENET_LABEL in imagenet.name and imagenet.yaxis == "y2" and all(t.yaxis == "y" for t in by_role["compare"])
    assert list(imagenet.y) == [77.1, 79.1, 80.1, 81.6, 82.9, 83.6, 84.0, 84.3]
    assert imagenet.x[0] == pytest.approx(100.0) and imagenet.x[-1] == pytest.approx(100 * 37 / 0.39)  # B0 at the baseline
    assert list(imagenet.customdata) == [0.39e9, 0.70e9, 1.0e9, 1.8e9, 4.2e9, 9.9e9, 19e9, 37e9]
    assert fig.layout.xaxis.type == "log" and "for shape only" in fig.layout.yaxis2.title.text


def test_accuracy_figure_draws_trained_family_members_and_says_when_there_is_nothing(tmp_path):
    from effsearch.review.dashboard.compare_figures import accuracy_figure

    members = [{"phi": 0, "name": "n-phi0", "macs": 1000}, {"phi": 1, "name": "n-phi1", "macs": 2000,
                                                             "trained": {"test_accuracy": 0.8, "test_accuracy_std": 0.01, "n": 2}},
               {"phi": 2, "name": "n-phi2", "macs": 4000, "trained": {"test_accuracy": 0.85, "test_accuracy_std": None, "n": 1}}]
    fig = accuracy_figure([_run(tmp_path, family={"members": members})])
    (family,) = [t for t in fig.data if t.meta["role"] == "family_trained"]
    assert list(family.x) == [2000.0, 4000.0] and list(family.y) == [0.8, 0.85] and list(family.error_y.array) == [0.01, 0.0]
    (imagenet,) = [t for t in fig.data if t.meta["role"] == "imagenet"]
    assert imagenet.x[0] == pytest.approx(2000.0)  # no baseline and no trained phi 0: the smallest point
    empty = accuracy_figure([_run(tmp_path, family={"members": members[:1]})])
    assert not empty.data and "effsearch scale --compare" in empty.layout.annotations[0].text


def test_the_dashboard_loads_compare_csv_from_a_comparison_folder(compared):
    from effsearch.review.dashboard.compare_figures import accuracy_figure, compare_rows
    from effsearch.review.dashboard.data import load_run

    run = load_run(compared.out)
    assert run.kind == "scale" and run.compare is not None and len(compare_rows(run)) == 10
    roles = [t.meta["role"] for t in accuracy_figure([run]).data]
    assert roles.count("compare") == 4 and roles.count("compare_baseline") == 1 and roles.count("imagenet") == 1
