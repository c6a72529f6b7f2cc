"""``effsearch baseline --flops-target 400M``: search a baseline network for a compute budget.

A thin layer over :func:`effsearch.search.run_baseline_search`: it parses the options into configs
(every mistake is one line and exit status 1, before anything is written), makes one library call
and prints the closing table and the chosen baseline.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from effsearch.cli.baseline_summary import jsonable, print_summary, summary_dict
from effsearch.cli.common import (
    COUNT,
    POSITIVE,
    WORKERS,
    add_command,
    add_output_args,
    float_range,
    int_range,
    space_width,
)
from effsearch.cli.reward_options import beta_option, reward_config
from effsearch.runtime.console import console

DEFAULT_SPACE = "mnasnet"
DEFAULT_TRIALS = 32
"""Four controller updates (batches of 8) at the proxy's default budget (2 epochs): the default
search, and so ``make demo``, takes about 6 minutes of one CPU core."""
DEFAULT_SAMPLER = "mnas"

EXAMPLES = """
  effsearch baseline --flops-target 400M                 the controller on the default space and data set
  effsearch baseline --flops-target 400M --out results/demo   re-run the same command to resume
  effsearch baseline --flops-target 0.4G --space small --trials 20 --epochs 1     a quick look
  effsearch baseline --flops-target 400M --sampler random --seed 1   a baseline to compare against
  effsearch baseline --flops-target 400M --reward hard --retrain-top 3 --retrain-epochs 10
  effsearch baseline --flops-target 400M --workers 2 --threads 1   two candidates at a time, one thread each
  effsearch baseline --flops-target 400M --dataset fashion-mnist --evaluator supernet:results/supernet \
      --trials 1000 --retrain-top 5        score with a trained supernet, verify the top 5 standalone
  effsearch baseline --latency-target 15ms --latency-threads 1   MnasNet's objective: measured latency
  effsearch baseline --flops-target 600M --workers 32 --ray-address auto \\
      --storage postgresql+psycopg2://me@db/effsearch --study b0-600M    a cluster and a shared database
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "baseline", help="search a baseline network for a compute budget (MNAS controller)",
        description="Search MBConv stage configurations for the reward ACC * (COST/T)^w, where COST is the MACs "
        "(default), the params or the measured latency, with an MNAS-style controller (or random, TPE, NSGA-II), "
        "evaluating each candidate on the proxy task. The Optuna study is the single source of truth; the results "
        "folder holds trials.csv, pareto.csv, baseline.yaml and run.json. Re-running the same command resumes.",
        examples=EXAMPLES,
    )
    what = parser.add_argument_group("what to search (give one target)")
    what.add_argument("--flops-target", metavar="T", default=None, help="MACs budget T, e.g. 400M, 0.4G or 4e8 (the default objective)")
    what.add_argument("--latency-target", metavar="T", default=None,
                      help="measured latency budget instead, e.g. 15ms (batch 1, deployment resolution; see --latency-threads)")
    what.add_argument("--params-target", metavar="T", default=None, help="parameter budget instead, e.g. 5M")
    what.add_argument("--space", default=DEFAULT_SPACE, help=f"search space name or YAML file (default {DEFAULT_SPACE}; built in: mnasnet, small)")
    what.add_argument("--space-width", type=space_width, default=None, metavar="W",
                      help="multiply the space's widths (stem, head, every block's filters) by W, or auto: the "
                           "multiplier whose median network costs the target (for a target far from the space's middle)")
    what.add_argument("--sampler", default=DEFAULT_SAMPLER, help="mnas (LSTM controller, PPO), random, tpe, or nsga2 "
                      f"(accuracy vs the cost as two objectives); default {DEFAULT_SAMPLER}")
    what.add_argument("--evaluator", default="proxy", metavar="NAME[:ARG]",
                      help="how candidates get their accuracy: proxy (standalone proxy training, default), "
                           "supernet:DIR (scored with a supernet from 'effsearch supernet'), or supernet (trains one "
                           "into OUT/supernet first); the --retrain-top finalists are always trained standalone")
    what.add_argument("--trials", type=COUNT, default=DEFAULT_TRIALS, help=f"finished trials the study should hold (default {DEFAULT_TRIALS})")
    what.add_argument("--timeout", type=POSITIVE, default=None, metavar="SECONDS", help="stop starting new trials after this long")
    what.add_argument("--rungs", type=int_range(1, 6), default=1, metavar="N",
                      help="multi-fidelity: rung k trains the promoted candidates for F^k x the proxy budget (default 1: off)")
    what.add_argument("--rung-factor", type=int_range(2, 10), default=3, metavar="F", help="budget factor between rungs; the top 1/F is promoted (default 3)")
    what.add_argument("--final-seeds", type=int_range(1, 10), default=None, metavar="S",
                      help="seeds each top-rung candidate trains with; the pick is on their mean (default 2 with --rungs > 1, else 1)")
    what.add_argument("--retrain-top", type=int_range(0), default=0, metavar="K", help="retrain the K best for --retrain-epochs and pick the baseline among them")
    what.add_argument("--retrain-epochs", type=POSITIVE, default=None, metavar="E", help="epochs of the retraining (default 3 x --epochs)")
    what.add_argument("--latency", action="store_true", help="also measure each candidate's latency (recorded, not rewarded)")
    what.add_argument("--latency-threads", type=COUNT, default=1, metavar="N", help="CPU threads for latency measurements (default 1)")
    what.add_argument("--latency-device", default="cpu", metavar="D", help="device latency is measured on: cpu (default) or cuda[:N]")
    score = parser.add_argument_group("how to score")
    score.add_argument("--reward", default="soft", help="soft (alpha = beta = -0.07, default) or hard (alpha 0, beta -1)")
    score.add_argument("--reward-alpha", type=float_range(-math.inf), default=None, metavar="A",
                       help="reward exponent when the cost is <= T (overrides --reward)")
    score.add_argument("--reward-beta", type=beta_option, default=None, metavar="B",
                       help="reward exponent when the cost is > T (overrides --reward); auto: measured on the data "
                            "by MnasNet's rule (soft: both exponents; see docs/search.md)")
    # The old names, kept working: alpha, beta and gamma elsewhere mean the scaling coefficients.
    score.add_argument("--alpha", dest="legacy_alpha", type=float_range(-math.inf), default=None, help=argparse.SUPPRESS)
    score.add_argument("--beta", dest="legacy_beta", type=float_range(-math.inf), default=None, help=argparse.SUPPRESS)
    score.add_argument("--reject-above", default="2", metavar="FACTOR",
                       help="record candidates above FACTOR x T as rejected without training them (default 2; 'none' trains all)")
    _add_proxy(parser)
    where = parser.add_argument_group("where to run")
    where.add_argument("--out", type=Path, default=None, help="results folder (default results/baseline-<target>-<space>-<sampler>-s<seed>)")
    where.add_argument("--storage", default=None, metavar="URL", help="Optuna storage: sqlite:///..., postgresql+psycopg2://..., "
                       "mysql+pymysql://..., or journal:PATH (default: study.db in the results folder)")
    where.add_argument("--study", default=None, metavar="NAME", help="study name in the storage (default: the results folder's name)")
    where.add_argument("--workers", type=WORKERS, default="auto",
                       help="candidates trained at once, each in a worker process of this machine (Ray workers with "
                            "--ray-address); default auto: measured once per machine, with the threads of each "
                            "(see --threads)")
    where.add_argument("--ray-address", default=None, metavar="ADDR",
                       help="train candidates on this Ray cluster (auto, ray://head:10001, or local to start one here)")
    where.add_argument("--gpus-per-trial", type=float_range(0, 8), default=None, metavar="G", help="GPUs per Ray task (default: local GPUs shared by the workers)")
    where.add_argument("--mix-runtime", action="store_true",
                       help="let trials trained with another device, thread count or kernel path into an existing study")
    add_output_args(where, ray="Ray")
    return parser


def _add_proxy(parser: argparse.ArgumentParser) -> None:
    from effsearch.cli.common import add_proxy_args

    add_proxy_args(parser)


# --- options to configs ---------------------------------------------------------------------------


def default_out(args: argparse.Namespace, reward: Any) -> Path:
    """A folder named after what makes a run, so the same command finds (and resumes) it again."""
    from effsearch.runtime.results import DEFAULT_ROOT
    from effsearch.search.objectives import get_objective

    space = Path(args.space).stem if args.space.endswith((".yaml", ".yml")) else args.space
    target = get_objective(reward.objective).format(reward.target)
    if args.space_width is not None:  # another width is another space: its own folder
        space += f"-w{args.space_width:g}" if args.space_width != "auto" else "-wauto"
    return DEFAULT_ROOT / f"baseline-{target}-{space}-{args.sampler}-s{args.seed}"


def configs(args: argparse.Namespace) -> dict[str, Any]:
    """Every config of the run, validated; raises :class:`EffsearchError` on the first mistake."""
    from effsearch.cli.common import proxy_config_from_args
    from effsearch.search import RunConfig, SearchConfig
    from effsearch.search.rungs import Rungs

    reward = reward_config(args)
    seeds = args.final_seeds if args.final_seeds is not None else (2 if args.rungs > 1 else 1)
    rungs = Rungs(count=args.rungs, factor=args.rung_factor, seeds=seeds)
    search = SearchConfig(space=args.space, space_width=args.space_width, sampler=args.sampler, evaluator=args.evaluator, trials=args.trials,
                          timeout=args.timeout, seed=args.seed, retrain_top=args.retrain_top,
                          retrain_epochs=args.retrain_epochs, latency=args.latency, latency_threads=args.latency_threads,
                          latency_device=args.latency_device, mix_runtime=args.mix_runtime, rungs=rungs)
    run = RunConfig(out=args.out or default_out(args, reward), storage=args.storage, study=args.study,
                    workers=args.workers, ray_address=args.ray_address, gpus_per_trial=args.gpus_per_trial,
                    progress=not args.quiet, verbose=args.verbose)
    return {"search": search, "reward": reward, "proxy": proxy_config_from_args(args), "run": run}


def command_argv(args: argparse.Namespace) -> list[str]:
    """The command as run, rebuilt from the options that differ from their defaults, for ``run.json``.

    Rebuilt rather than copied from ``sys.argv`` so it is right however ``main`` was called, and so
    the storage password can be hidden.
    """
    from effsearch.search.storage import display_url

    argv = ["effsearch", "baseline"]
    for action in args._parser._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest == "help" or value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        if isinstance(action, argparse._StoreTrueAction):
            argv.append(flag)
        else:
            argv += [flag, display_url(value) if action.dest == "storage" else str(value)]
    return argv


# --- run ------------------------------------------------------------------------------------------


LONG_RUNNING = True
"""The CLI installs the stop handlers (Ctrl-C and SIGTERM stop at the next step and save)."""


def run(args: argparse.Namespace) -> int:
    import optuna

    from effsearch.search import run_baseline_search
    from effsearch.search.space import load_space

    cfg = configs(args)
    load_space(cfg["search"].space)  # a bad space is reported before the data set is loaded
    data = _load_data(args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = console(stderr=args.json)  # with --json, stdout carries the JSON object only
    result = run_baseline_search(**cfg, data=data, argv=command_argv(args), console=out)
    if args.json:
        print(json.dumps(summary_dict(result, result.reward or cfg["reward"]), default=jsonable))
    else:
        print_summary(result, result.reward or cfg["reward"], out)
    for name in ("alpha", "beta"):  # at the end: a refused run prints one error line and nothing else
        if getattr(args, f"legacy_{name}", None) is not None:
            print(f"effsearch: note: --{name} is now --reward-{name} (alpha, beta and gamma in 'effsearch scale' "
                  "are the scaling coefficients)", file=sys.stderr)
    return 0


def _load_data(args: argparse.Namespace) -> Any:
    from effsearch.cli.common import dataset_from_args

    return dataset_from_args(args)
