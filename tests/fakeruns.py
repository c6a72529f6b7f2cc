"""Results folders in the exact schema of docs/internals.md, generated without training.

The dashboard tests and benchmark need searches of any size (5 to 5,000 trials), grids and families
on demand. Architectures are real (sampled around EfficientNet-B0, counted with ``effsearch.count``);
only the accuracies are synthetic: a smooth function of cost plus noise, so fronts look like fronts.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from effsearch.arch.blockstring import format_block, parse_block
from effsearch.arch.cost import count
from effsearch.arch.presets import efficientnet_b0
from effsearch.arch.scaling import compound_scale, flops_ratio
from effsearch.arch.spec import BlockSpec, NetSpec
from effsearch.arch.specio import save_spec
from effsearch.compound.family import make_family, save_family
from effsearch.runtime.results import atomic_write_csv, atomic_write_json

TRIAL_COLUMNS = [
    "number", "state", "status", "reason", "sampler", "blocks", "params", "macs", "accuracy", "reward",
    "over_budget", "train_seconds", "images_per_s", "latency_ms", "datetime_start", "datetime_complete", "duration_s",
]
KERNELS, EXPANSIONS, SE = (3, 5), (1, 3, 6), (0.0, 0.25)


def sample_spec(rng: np.random.Generator) -> tuple[NetSpec, dict[str, object]]:
    """An architecture near EfficientNet-B0 and the decisions that made it (one set per stage)."""
    base = efficientnet_b0()
    blocks, prev, decisions = [], base.stem_chs, {}
    for i, block in enumerate(base.blocks, start=1):
        kernel, exp = int(rng.choice(KERNELS)), int(rng.choice(EXPANSIONS))
        repeats = max(1, block.repeats + int(rng.integers(-1, 2)))
        width = float(rng.choice((0.75, 1.0, 1.25)))
        out = max(8, int(block.out_chs * width) // 8 * 8)
        se = float(rng.choice(SE))
        blocks.append(BlockSpec(repeats=repeats, kernel_size=kernel, stride=block.stride, exp_ratio=exp,
                                in_chs=prev, out_chs=out, se_ratio=se))
        decisions.update({f"d_s{i}_kernel": kernel, f"d_s{i}_expand": exp, f"d_s{i}_repeats": repeats,
                          f"d_s{i}_width": width, f"d_s{i}_se": se})
        prev = out
    return base.replace(blocks=tuple(blocks), name=""), decisions


def _accuracy(macs: float, rng: np.random.Generator) -> float:
    # Diminishing returns in log-cost, like real accuracy-vs-compute curves, plus evaluation noise.
    return float(np.clip(0.55 + 0.12 * math.log(macs / 1e8) + rng.normal(0, 0.04), 0.05, 0.99))


def _trial_row(number: int, spec: NetSpec, decisions: dict, *, target: float, sampler: str,
               rng: np.random.Generator, hard: bool) -> dict[str, object]:
    cost = count(spec)
    over = cost.macs > target
    row: dict[str, object] = {
        "number": number, "state": "COMPLETE", "status": "ok", "reason": "", "sampler": sampler,
        "blocks": " ".join(format_block(b) for b in spec.blocks), "params": cost.params, "macs": cost.macs,
        "accuracy": np.nan, "reward": np.nan, "over_budget": over, "train_seconds": np.nan,
        "images_per_s": np.nan, "latency_ms": round(float(cost.macs / 2.5e7 * rng.uniform(0.9, 1.1)), 3),
        "datetime_start": f"2026-01-01 00:{number // 60 % 60:02d}:{number % 60:02d}",
        "datetime_complete": "", "duration_s": np.nan, **decisions,
    }
    draw = rng.uniform()
    if hard and over:
        row.update(status="rejected", reason=f"{cost.macs:.0f} MACs over the hard limit {target:.0f}")
    elif draw < 0.04:
        row.update(state="FAIL", status="failed", reason="RuntimeError: out of memory (synthetic)")
    else:
        acc = _accuracy(cost.macs, rng)
        row.update(accuracy=acc, reward=acc * (cost.macs / target) ** -0.07, train_seconds=round(rng.uniform(5, 9), 2),
                   images_per_s=round(rng.uniform(800, 1200), 1), duration_s=round(rng.uniform(6, 10), 2),
                   datetime_complete=row["datetime_start"])
    return row


def baseline_trials(n: int, *, seed: int = 0, target: float = 4e8, sampler: str = "mnas", hard: bool = False,
                    running: int = 0) -> pd.DataFrame:
    """``n`` trials in the trials.csv schema; the last ``running`` ones are still RUNNING (no metrics yet)."""
    rng = np.random.default_rng(seed)
    rows = [_trial_row(i, *sample_spec(rng), target=target, sampler=sampler, rng=rng, hard=hard) for i in range(n)]
    frame = pd.DataFrame(rows)
    for i in range(max(0, n - running), n):
        frame.loc[i, ["state", "status", "accuracy", "reward", "datetime_complete"]] = ["RUNNING", "", np.nan, np.nan, ""]
    decision_cols = sorted(c for c in frame.columns if c.startswith("d_"))
    return frame[TRIAL_COLUMNS + decision_cols]


def _front(frame: pd.DataFrame) -> pd.DataFrame:
    ok = frame.dropna(subset=["accuracy", "macs"]).sort_values(["macs", "accuracy"], ascending=[True, False])
    best, rows = -1.0, []
    for idx, acc in zip(ok.index, ok["accuracy"], strict=True):
        if acc > best:
            rows.append(idx)
            best = acc
    return frame.loc[rows]


def write_baseline_run(folder: Path, n: int = 60, *, seed: int = 0, target: float = 4e8, sampler: str = "mnas",
                       hard: bool = False, running: int = 0, with_baseline: bool = True) -> Path:
    """A whole baseline-search results folder (everything but study.db, which the dashboard never opens)."""
    folder = Path(folder)
    trials = baseline_trials(n, seed=seed, target=target, sampler=sampler, hard=hard, running=running)
    atomic_write_json(folder / "run.json", {
        "kind": "baseline", "command": f"effsearch baseline --flops-target {target:.0f} --out {folder}", "seed": seed,
        "versions": {"effsearch": "0.1.0"},
        "config": {"flops_target": target, "space": "mnasnet", "sampler": sampler, "storage": "sqlite:///study.db",
                   "study": folder.name, "reward": {"alpha": -0.07, "beta": -0.07}, "epochs": 3, "dataset": "digits"},
    })
    atomic_write_csv(folder / "trials.csv", trials)
    atomic_write_csv(folder / "pareto.csv", _front(trials))
    if with_baseline:
        scored = trials.dropna(subset=["reward"])
        within = scored[~scored["over_budget"].astype(bool)]
        best = (within if len(within) else scored).sort_values("reward").iloc[-1]
        spec = efficientnet_b0().replace(blocks=tuple(parse_block(b) for b in best["blocks"].split()), name="baseline")
        save_spec(spec, folder / "baseline.yaml")
    return folder


def write_scale_run(folder: Path, *, seed: int = 0, phis: int = 7, failed: int = 1) -> Path:
    """A scale results folder: the grid on the constraint, the selected point and the family phi = 0..phis."""
    rng = np.random.default_rng(seed)
    base = efficientnet_b0().replace(name="baseline")
    rows = []
    for alpha in (1.0, 1.1, 1.2, 1.3, 1.4):
        for beta in (1.0, 1.05, 1.1, 1.15, 1.2):
            gamma = math.sqrt(2.0 / (alpha * beta**2))
            if not 1.0 <= gamma <= 1.4:
                continue
            member = compound_scale(base, alpha=alpha, beta=beta, gamma=gamma, phi=1)
            cost = count(member)
            acc = float(np.clip(0.8 - 2 * (alpha - 1.2) ** 2 - 3 * (beta - 1.1) ** 2 + rng.normal(0, 0.005), 0, 1))
            rows.append({"alpha": alpha, "beta": beta, "gamma": round(gamma, 4), "flops_ratio": flops_ratio(alpha, beta, gamma),
                         "accuracy": acc, "macs": cost.macs, "params": cost.params, "status": "ok", "reason": "",
                         "train_seconds": round(rng.uniform(10, 20), 2), "selected": False})
    grid = pd.DataFrame(rows)
    grid["epochs"] = 3
    grid.loc[grid.index[:failed], ["status", "reason", "accuracy"]] = ["failed", "synthetic failure", np.nan]
    # ASHA stopped one point early (it keeps its accuracy); one has not run yet; one was over budget.
    grid.loc[grid.index[-3], ["status", "reason", "accuracy", "epochs"]] = ["skipped", "over budget (not trained)", np.nan, 0]
    grid.loc[grid.index[-2], ["status", "epochs"]] = ["stopped", 1]
    grid.loc[grid.index[-1], ["status", "accuracy", "epochs"]] = ["pending", np.nan, 0]
    best = grid["accuracy"].idxmax()
    grid.loc[best, "selected"] = True
    coeffs = {k: float(grid.loc[best, k]) for k in ("alpha", "beta", "gamma")}
    folder = Path(folder)
    atomic_write_csv(folder / "grid.csv", grid)
    save_family(make_family(base, range(phis + 1), **coeffs), folder)  # the real family writer
    atomic_write_json(folder / "run.json", {"kind": "scale", "command": f"effsearch scale --out {folder}", "seed": seed,
                                            "versions": {"effsearch": "0.1.0"}, "config": {"phi": phis}})
    return folder


def fake_train_folder(path: Path, name: str = "b0-fashion", epochs: int = 3, done: bool = True, *, total_epochs: int | None = None,
                      dataset: str = "fashion_mnist", ema: bool = True, seed: int = 0, resolution: int = 32) -> Path:
    """A folder as ``effsearch train`` writes it: train.json, spec.yaml, history.csv and, when ``done``, metrics.json.

    ``epochs`` rows of history (validation top-1 rising, loss falling); a running folder (``done=False``)
    plans ``total_epochs`` (default ``epochs + 2``) and has no metrics.json yet.
    """
    rng = np.random.default_rng(seed)
    folder = Path(path)
    total = total_epochs or (epochs if done else epochs + 2)
    spec = efficientnet_b0().replace(name=name, num_classes=10, resolution=resolution)
    save_spec(spec, folder / "spec.yaml")
    rows = []
    for e in range(1, epochs + 1):
        acc = float(np.clip(0.62 + 0.28 * (1 - math.exp(-e / 2)) + rng.normal(0, 0.005), 0, 1))
        rows.append({
            "epoch": e, "steps": 235 * e, "lr": round(0.05 * 0.5 * (1 + math.cos(math.pi * e / total)), 6),
            "train_loss": round(1.6 * math.exp(-e / 2.5) + 0.25 + rng.normal(0, 0.01), 5), "val_accuracy": round(acc, 5),
            "val_loss": round(1.2 * (1 - acc) + 0.1, 5), "ema_val_accuracy": round(min(0.99, acc + 0.004), 5) if ema else np.nan,
            "ema_val_loss": round(1.2 * (1 - acc) + 0.09, 5) if ema else np.nan,
            "seconds": round(rng.uniform(28, 32), 2), "images_per_s": round(rng.uniform(1800, 2200), 1),
        })
    history = pd.DataFrame(rows, columns=["epoch", "steps", "lr", "train_loss", "val_accuracy", "val_loss",
                                          "ema_val_accuracy", "ema_val_loss", "seconds", "images_per_s"])
    atomic_write_csv(folder / "history.csv", history)
    seconds = float(history["seconds"].sum())
    atomic_write_json(folder / "train.json", {
        "kind": "train", "effsearch": "0.1.0", "name": name, "status": "done" if done else "running",
        "settings": {"data": {"dataset": dataset, "val_fraction": 0.1}, "config": {"epochs": total, "lr": 0.05, "ema": ema},
                     "seed": seed, "resolution": resolution, "adapt": True},
        "started": "2026-01-01T10:00:00", "updated": f"2026-01-01T10:{int(seconds) // 60:02d}:{int(seconds) % 60:02d}",
    })
    if done:
        cost = count(spec)
        last = history.iloc[-1]
        use_ema = ema and last["ema_val_accuracy"] >= last["val_accuracy"]
        val = float(last["ema_val_accuracy"] if use_ema else last["val_accuracy"])
        atomic_write_json(folder / "metrics.json", {
            "name": name, "dataset": dataset, "test_accuracy": round(val - 0.0031, 5), "test_loss": 0.31, "test_images": 10000,
            "test_split": "the data set's test split", "val_accuracy": val, "weights": "ema" if use_ema else "raw",
            "params": cost.params, "macs": cost.macs, "resolution": resolution, "latency_ms": 4.87, "epochs": epochs,
            "train_seconds": seconds, "seed": seed, "device": "cpu", "adapt": True,
        })
    return folder


# --- multi-fidelity (rungs) -----------------------------------------------------------------------


def _promoted(value: float, competing: list[float], factor: int) -> bool:
    # ASHA as the search applies it (effsearch.search.rungs.promotable): top 1/factor of the rung so far.
    values = sorted([*competing, value], reverse=True)
    return value >= values[max(1, len(values) // factor) - 1]


def _climb(row: dict[str, object], *, rungs: int, factor: int, seeds: int, seen: list[list[float]],
           rng: np.random.Generator) -> dict[str, object]:
    """One trained candidate through the rungs: longer budgets add accuracy, the top rung trains ``seeds`` times."""
    quality, scale = float(row["accuracy"]), float(row["reward"]) / float(row["accuracy"])
    out: dict[str, object] = {}
    for k in range(rungs):
        gain = 0.2 * (1 - 0.5**k)  # what a longer budget adds, shrinking as it grows
        if k == rungs - 1 and seeds > 1:
            runs = [float(np.clip(quality - 0.2 + gain + rng.normal(0, 0.01), 0.01, 0.999)) for _ in range(seeds)]
            acc = float(np.mean(runs))
            out["seed_accuracies"] = " ".join(f"{a:.6f}" for a in runs)
        else:
            acc = float(np.clip(quality - 0.2 + gain + rng.normal(0, 0.01), 0.01, 0.999))
        reward = acc * scale
        out.update({f"rung{k}_accuracy": acc, f"rung{k}_reward": reward, "accuracy": acc, "reward": reward, "rung": k})
        if k == rungs - 1:
            break
        up = _promoted(reward, seen[k], factor)
        seen[k].append(reward)
        out[f"rung{k}_promoted"] = up
        if not up:
            out["state"] = "PRUNED"  # its status stays ok: it trained, at a shorter budget
            break
    return out


def multifidelity_trials(n: int, *, rungs: int = 3, factor: int = 3, seeds: int = 2, seed: int = 0,
                         target: float = 4e8, cached: int = 0) -> pd.DataFrame:
    """``n`` trials of a search with rungs, in the trials.csv schema of ``effsearch baseline --rungs``.

    The last ``cached`` of them re-sample earlier trained architectures: as the search does, they copy
    that trial's state and rung columns with status ``cached`` and train nothing.
    """
    rng = np.random.default_rng(seed)
    seen: list[list[float]] = [[] for _ in range(rungs)]
    rows: list[dict[str, object]] = []
    for i in range(n - cached):
        row = _trial_row(i, *sample_spec(rng), target=target, sampler="mnas", rng=rng, hard=False)
        row.update({"rung": np.nan, "seed_accuracies": ""})
        if row["status"] == "ok":
            row.update(_climb(row, rungs=rungs, factor=factor, seeds=seeds, seen=seen, rng=rng))
        rows.append(row)
    trained = [r for r in rows if r["status"] == "ok"]
    for i in range(n - cached, n):
        source = trained[i % len(trained)]
        rows.append({**source, "number": i, "status": "cached", "reason": f"same architecture as trial {source['number']}"})
    frame = pd.DataFrame(rows)
    per_rung = [f"rung{k}_{what}" for k in range(rungs) for what in ("accuracy", "reward", "promoted")]
    for col in per_rung:
        if col not in frame:
            frame[col] = np.nan
    at = TRIAL_COLUMNS.index("reward") + 1  # the search writes them right after the reward
    columns = [*TRIAL_COLUMNS[:at], "rung", "seed_accuracies", *TRIAL_COLUMNS[at:]]
    return frame[columns + per_rung + sorted(c for c in frame.columns if c.startswith("d_"))]


def write_multifidelity_run(folder: Path, n: int = 40, *, rungs: int = 3, factor: int = 3, seeds: int = 2, seed: int = 0,
                            target: float = 4e8, cached: int = 0) -> Path:
    """A baseline-search folder with rungs: PRUNED candidates, per-rung columns, config.rungs and results.pick."""
    from effsearch.search.pick import pick_summary

    folder = Path(folder)
    trials = multifidelity_trials(n, rungs=rungs, factor=factor, seeds=seeds, seed=seed, target=target, cached=cached)
    final = trials[(trials["state"] == "COMPLETE") & (trials["rung"] == rungs - 1) & (trials["status"] == "ok")]
    pick = pick_summary([{"number": int(r.number), "reward": float(r.reward), "accuracy": float(r.accuracy),
                          "seed_accuracies": r.seed_accuracies} for r in final.itertuples()]) if seeds > 1 else None
    atomic_write_json(folder / "run.json", {
        "kind": "baseline", "command": f"effsearch baseline --flops-target {target:.0f} --rungs {rungs} --out {folder}",
        "seed": seed, "versions": {"effsearch": "0.1.0"},
        "config": {"objective": "macs", "target": target, "space": "mnasnet", "sampler": "mnas", "study": folder.name,
                   "reward": {"alpha": -0.07, "beta": -0.07}, "dataset": "digits",
                   "rungs": {"count": rungs, "factor": factor, "seeds": seeds}},
        "results": {"pick": pick} if pick else {},
    })
    atomic_write_csv(folder / "trials.csv", trials)
    atomic_write_csv(folder / "pareto.csv", _front(final))
    if len(final):
        best = final.sort_values("reward").iloc[-1]
        spec = efficientnet_b0().replace(blocks=tuple(parse_block(b) for b in best["blocks"].split()), name="baseline")
        save_spec(spec, folder / "baseline.yaml")
    return folder


def write_controller_csv(folder: Path, updates: int = 12, *, batch: int = 5, seed: int = 0, floor: float = 0.05) -> Path:
    """controller.csv of an mnas search (the columns of ``effsearch.search.outputs.controller_frame``): the entropy
    share decays from 1 towards ``floor`` while the batch reward climbs past its moving baseline."""
    rng = np.random.default_rng(seed)
    rows, baseline = [], None
    for k in range(1, updates + 1):
        share = floor + (1 - floor) * math.exp(-0.25 * (k - 1))
        rewards = rng.normal(0.6 + 0.02 * k, 0.05, batch)
        mean = float(rewards.mean())
        before = mean if baseline is None else baseline
        rows.append({"update": k, "last_trial": k * batch - 1, "loss": round(float(rng.normal(0, 0.1)), 6),
                     "entropy": round(share * math.log(3), 6), "entropy_share": round(share, 6), "reward_mean": round(mean, 6),
                     "reward_sd": round(float(rewards.std()), 6), "baseline": round(before, 6),
                     "advantage_scale": round(float(rewards.std()) + 0.01, 6)})
        baseline = 0.9 * before + 0.1 * mean
    atomic_write_csv(Path(folder) / "controller.csv", pd.DataFrame(rows))
    return Path(folder)


# --- trained families and comparisons (effsearch scale --train / --compare) ---------------------------


def _top1(macs: float, rng: np.random.Generator, offset: float = 0.0) -> float:
    # Synthetic test top-1 rising with compute, as scaled families do; offset tells baselines apart.
    return float(np.clip(0.70 + offset + 0.03 * math.log2(macs / 1e8) + rng.normal(0, 0.004), 0.01, 0.999))


def write_trained_family(folder: Path, preset: str = "efficientnet-b0", *, phis: int = 3, seeds: int = 2, seed: int = 0,
                         trained: tuple[float, ...] | None = None, offset: float = 0.0) -> Path:
    """A folder of ``effsearch scale --baseline PRESET --coefficients 1.2,1.1,1.15 --phi 0..phis-1 --train``: the real
    family writer, then the real recorder of each member's ``trained`` entry (``seeds`` seeds, nothing trained).

    ``trained`` lists the phis that finished training (default all of them; ``()`` leaves the family untrained).
    """
    from effsearch.arch.presets import get_preset
    from effsearch.compound.trained import record_trained

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    with warnings.catch_warnings():  # a ResNet's or MobileNet's timm arch_def does not rebuild it: said, not tested, here
        warnings.simplefilter("ignore")
        family = make_family(get_preset(preset), range(phis), alpha=1.2, beta=1.1, gamma=1.15)
        save_family(family, folder)
    atomic_write_json(folder / "run.json", {
        "kind": "scale", "command": f"effsearch scale --baseline {preset} --train --out {folder}", "seed": seed,
        "versions": {"effsearch": "0.1.0"}, "config": {"baseline": preset, "phi": list(range(phis))}})
    rows = [{"name": m.name, "phi": m.phi, "seed": s, "train_resolution": round(28 * m.resolution / 224),
             "test_accuracy": _top1(m.macs, rng, offset), "val_accuracy": 0.9, "train_seconds": 12.5,
             "folder": f"members-trained/{m.name}-s{s}"}
            for m in family.members if trained is None or m.phi in trained for s in range(seeds)]
    if rows:
        record_trained(folder, rows)
    return folder


def write_compare_run(folder: Path, preset: str = "efficientnet-b0", *, phis: tuple[int, ...] = (1, 2), seeds: int = 3,
                      seed: int = 0, offset: float = 0.0) -> Path:
    """compare.csv and compare.json as ``effsearch scale --compare`` writes them, for the real variants of ``preset``
    (MACs matched by the real bisection); the accuracies are synthetic, nothing trains."""
    from effsearch.arch.presets import get_preset
    from effsearch.arch.specio import spec_to_dict
    from effsearch.compound.compare import compare_variants
    from effsearch.compound.compare_run import rows_to_csv
    from effsearch.compound.verdict import summarize
    from effsearch.runtime.results import atomic_write_text

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    baseline = get_preset(preset)
    variants = compare_variants(baseline, (1.2, 1.1, 1.15), phis)
    rows = [{"variant": v.kind, "phi": v.phi, "seed": s, "width_mult": v.width, "depth_mult": v.depth,
             "resolution_mult": v.resolution_mult, "resolution": v.spec.resolution, "train_resolution": v.train_resolution(28),
             "macs": v.macs, "params": v.params, "macs_mismatch": v.mismatch,
             "test_accuracy": _top1(v.macs, rng, offset + (0.0 if v.kind in ("baseline", "compound") else -0.01)),
             "val_accuracy": 0.9, "train_seconds": 12.5, "train_macs": v.macs // 50, "folder": f"compare/{v.name}-s{s}"}
            for s in range(seeds) for v in variants]
    atomic_write_text(folder / "compare.csv", rows_to_csv(rows))
    atomic_write_json(folder / "compare.json", {
        "kind": "compare", "baseline": spec_to_dict(baseline), "coefficients": {"alpha": 1.2, "beta": 1.1, "gamma": 1.15},
        "phis": list(phis), "seeds": list(range(seeds)), "summary": summarize(rows), "finished": len(rows),
        "complete": True})
    return folder
