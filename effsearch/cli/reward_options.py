"""The budget and reward options of ``effsearch baseline``: which objective, its target, the exponents."""

from __future__ import annotations

import argparse
import math

from effsearch.cli.common import float_range
from effsearch.errors import EffsearchError


def beta_option(text: str) -> float | str:
    """``--reward-beta``: a number <= 0, or ``auto`` (measured on the data, search.calibrate)."""
    return "auto" if text.strip().lower() == "auto" else float_range(-math.inf)(text)


def reject_above(text: str) -> float | None:
    if str(text).strip().lower() in ("none", "off", "0", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise EffsearchError(f"--reject-above {text!r} is invalid; give a factor of the target such as 2, or none") from None


_TARGETS = {"flops_target": "macs", "latency_target": "latency_ms", "params_target": "params"}


def objective_target(args: argparse.Namespace) -> tuple[str, str, str]:
    """The one objective the options name: (objective, its flag, the target text)."""
    given = [(dest, value) for dest in _TARGETS if (value := getattr(args, dest, None)) is not None]
    if not given:
        raise EffsearchError("give a budget: --flops-target 400M (or --latency-target 15ms, or --params-target 5M)")
    if len(given) > 1:
        flags = " and ".join("--" + d.replace("_", "-") for d, _ in given)
        raise EffsearchError(f"{flags} name two objectives; a search optimises one, so give only one target")
    dest, text = given[0]
    return _TARGETS[dest], "--" + dest.replace("_", "-"), str(text)


def reward_config(args: argparse.Namespace):  # -> RewardConfig (imported lazily)
    from effsearch.search.objectives import get_objective
    from effsearch.search.reward import RewardConfig

    objective, flag, text = objective_target(args)
    target = get_objective(objective).parse(text, what=flag)
    preset = RewardConfig.preset(args.reward, target=target, reject_above=reject_above(args.reject_above), objective=objective)
    alpha = _exponent(args, "alpha", preset.alpha)
    auto = None
    if args.reward_beta == "auto":  # measured; soft with no alpha given measures both exponents
        given_alpha = args.reward_alpha is not None or args.legacy_alpha is not None
        auto = "both" if preset.name == "soft" and not given_alpha else "beta"
    beta = preset.beta if auto else _exponent(args, "beta", preset.beta)
    return RewardConfig(target=target, alpha=alpha, beta=beta, reject_above=preset.reject_above, objective=objective, auto=auto)


def _exponent(args: argparse.Namespace, name: str, default: float) -> float:
    """--reward-alpha / --reward-beta, or their old names --alpha / --beta."""
    new, old = getattr(args, f"reward_{name}", None), getattr(args, f"legacy_{name}", None)
    if new is not None and old is not None and new != old:
        raise EffsearchError(f"--reward-{name} {new:g} and --{name} {old:g} disagree; give only --reward-{name}")
    value = new if new is not None else old
    return default if value is None else value
