"""What ``effsearch baseline`` prints when the search ends: the top candidates, the baseline, and why it
sits where it does against the target (or the same as one JSON object with ``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    # NumPy scalars and paths in the baseline record.
    return value.item() if hasattr(value, "item") else str(value)


def summary_dict(result: Any, reward: Any) -> dict[str, Any]:
    """What the closing table says, as one JSON-ready object (``--json``)."""
    from effsearch.search.reward import distance

    trials = result.exported.trials
    base = result.baseline
    cost = None if base is None else (base.get(reward.objective) if reward.objective != "macs" else base["macs"])
    return {
        "out": str(result.out),
        "objective": reward.objective, "target": reward.target, "alpha": reward.alpha, "beta": reward.beta,
        "trials": {str(s): int(n) for s, n in outcomes(trials).value_counts().items()},
        "baseline": None if base is None else {
            **{k: base.get(k) for k in ("number", "params", "macs", "accuracy", "reward", "retrained_epochs")},
            "target_ratio": None if not cost else cost / reward.target,
            "spec": str(result.out / "baseline.yaml"),
        },
        "fidelity": result.exported.fidelity,
        "pick": result.exported.pick,
        "far_from_target": None if base is None else distance(base, trials, reward),
    }


def outcomes(trials: Any) -> Any:
    """Each trial's status, with candidates stopped at a lower rung counted as ``pruned``."""
    status = trials["status"].astype(object).copy()
    if "state" in trials:
        status[(trials["state"] == "PRUNED") & (status == "ok")] = "pruned"
    return status


def print_summary(result: Any, reward: Any, out: Any) -> None:
    """The closing table of the top candidates and the chosen baseline's numbers."""
    from effsearch.search.objectives import get_objective
    from effsearch.search.progress import top_table
    from effsearch.units import format_count

    obj = get_objective(reward.objective)

    base = result.baseline
    out.print(top_table(result.exported.trials, baseline=None if base is None else base["number"]))
    trials = result.exported.trials
    counts = outcomes(trials).value_counts().to_dict()
    out.print("trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), highlight=False)
    if base is None:
        out.print(f"no candidate finished yet; results so far in {result.out}", highlight=False)
        return
    fid = result.exported.fidelity
    if fid is not None:
        tau = "n/a (fewer than 2 usable pairs)" if fid["kendall_tau"] is None else f"{fid['kendall_tau']:.3f}"
        out.print(f"fidelity: Kendall tau between search score and standalone accuracy of the {fid['n']} retrained "
                  f"candidates: {tau}", highlight=False)
    from effsearch.search.pick import describe

    how = f", retrained {base['retrained_epochs']:g} epochs" if base.get("retrained_epochs") else ""
    out.print(f"baseline: trial {base['number']}{how}", highlight=False)
    cost = base.get(reward.objective) if reward.objective != "macs" else base["macs"]
    where = f" ({cost / reward.target:.2f}x the {obj.format(reward.target)} {obj.label} target)" if cost else ""
    shown = "" if reward.objective in ("macs", "params") or not cost else f"  {obj.label} {obj.format(cost)}"
    out.print(f"  params {format_count(base['params'])}  MACs {format_count(base['macs'])}{shown}{where}  "
              f"accuracy {base['accuracy']:.4f}  reward {base['reward']:.4f}", highlight=False)
    if (line := describe(result.exported.pick)) is not None:
        out.print(f"  {line}", highlight=False)
    out.print(f"  saved {result.out / 'baseline.yaml'}; see it with: effsearch show {result.out}", highlight=False)
    note = distance_note(base, trials, reward)
    if note:
        out.print(note, highlight=False)
    differs = timm_differs(result.out / "baseline.yaml")
    if differs:
        out.print(f"  timm: the exported arch_def does not rebuild this network exactly ({'; '.join(differs)}); "
                  "baseline.yaml says so (timm_faithful: false)", highlight=False)


def timm_differs(path: Path) -> list[str]:
    """Where timm's builder would differ from the saved network (empty when it rebuilds it exactly)."""
    from effsearch.arch.specio import load_spec
    from effsearch.arch.timmcompat import timm_export

    return timm_export(load_spec(path)).differs if path.is_file() else []


def distance_note(base: dict[str, Any], trials: Any, reward: Any) -> str | None:
    """A few lines on why the baseline is far from the target, and what to change if that is not wanted."""
    from effsearch.search.objectives import get_objective
    from effsearch.search.reward import distance

    facts = distance(base, trials, reward)
    if facts is None:
        return None
    obj = get_objective(reward.objective)
    side = "below" if facts["ratio"] < 1 else "above"
    lines = [f"note: the baseline is {facts['ratio']:.2f}x the {obj.label} target, well {side} it. The reward multiplies "
             f"accuracy by (cost/T)^{reward.alpha if facts['ratio'] <= 1 else reward.beta:g} = {facts['factor']:.3f} here."]
    near = facts["near"]
    if near is not None:
        gain = (near["accuracy"] - facts["accuracy"]) * 100
        lines.append(f"  The most accurate candidate near the target, trial {near['number']} ({near['ratio']:.2f}x), reached "
                     f"{near['accuracy']:.4f} ({gain:+.2f} points) for a reward of {near['reward']:.4f} against "
                     f"{facts['reward']:.4f}.")
    else:
        lines.append("  No finished candidate came near the target.")
    if facts["ratio"] < 1:
        lines.append("  When accuracy saturates on the data (the bundled digits do near 98%), the bonus for a smaller "
                     "network outweighs what a larger one adds. For a network at the target, use --reward hard "
                     "(no bonus below T) or a harder data set (--dataset fashion-mnist).")
    else:
        lines.append("  Every candidate near the target was less accurate or rejected; try more --trials, or "
                     "--reward hard to penalise the excess more.")
    return "\n".join(lines)
