"""What the user watches: a progress bar with the best reward so far, a line per trial, a closing table.

Compute first, then draw: the tables are built from the ``trials.csv`` frame that the outputs module
exports, so what is printed is exactly what is saved. On a terminal the bar stays at the bottom
while trial lines scroll above it; when output is piped (CI, ``make demo | tee``) only the lines
are printed.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial

from effsearch.search.study import nested_attrs
from effsearch.units import format_count


def _num(value: Any, fmt: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def compact_blocks(blocks: str | None) -> str:
    """``r2_k5_s22_e6_i16_o24_se0.25 ...`` -> ``e6k5+se:2x24 ...``.

    Per stage: op (``e<expansion>`` MBConv, ``ds`` depthwise-separable, ``cv`` plain conv), kernel,
    ``+se`` with squeeze-excitation, ``/ns`` without the identity skip, then repeats x channels
    (the op's short label comes from its registry entry).
    """
    if not isinstance(blocks, str) or not blocks:
        return "-"
    from effsearch.arch.blockstring import parse_block
    from effsearch.arch.ops import get_op

    parts = []
    for text in blocks.split():
        b = parse_block(text)
        op = get_op(b.op).label(b)
        parts.append(f"{op}k{b.kernel_size}{'+se' if b.se_ratio else ''}{'' if b.skip else '/ns'}:{b.repeats}x{b.out_chs}")
    return " ".join(parts)


def trial_line(trial: FrozenTrial, best: tuple[float, int] | None) -> str:
    """One line per finished trial: what it was, what it scored, the best so far."""
    a = trial.user_attrs
    status = a.get("status") or trial.state.name.lower()
    pruned = trial.state.name == "PRUNED"
    head = f"trial {trial.number:>4} {'pruned' if pruned and status == 'ok' else status:<8}"
    cost = f"MACs {format_count(a['macs']):>6} params {format_count(a['params']):>6}" if a.get("macs") else ""
    if status in ("ok", "cached"):
        tail = f"acc {_num(a.get('accuracy'))} reward {_num(a.get('reward'))}"
        if pruned:
            tail += f" at rung {a.get('rung', 0)}"
        elif isinstance(a.get("seed_accuracies"), list):
            tail += f" (mean of {len(a['seed_accuracies'])} seeds)"
        if status == "cached":
            tail += f" (= trial {a.get('cached_from')})"
        secs = nested_attrs(a, "proxy").get("train_seconds")
        tail += f"  {secs:.0f}s" if isinstance(secs, (int, float)) and status == "ok" else ""
    else:
        tail = str(a.get("reason") or "")
    best_text = f"   best {best[0]:.4f} (#{best[1]})" if best else ""
    return f"{head} {cost}  {tail}{best_text}".rstrip()


class SearchProgress:
    """A rich progress bar over the study's trials with the best reward so far."""

    def __init__(self, *, total: int, done: int, best: tuple[float, int] | None = None, console: Any = None,
                 enabled: bool = True) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from effsearch.runtime.console import console as make_console

        self.console = console or make_console()
        self.best = best
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[best]}"), console=self.console, disable=not (enabled and self.console.is_terminal),
        )
        self._task = self._progress.add_task("search", total=total, completed=done, best=self._best_text())

    def _best_text(self) -> str:
        return f"best reward {self.best[0]:.4f} (trial {self.best[1]})" if self.best else "best reward -"

    def __enter__(self) -> SearchProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def trial(self, trial: FrozenTrial, *, counted: bool = True) -> None:
        """Report a finished trial (``counted``: whether it counts towards ``--trials``)."""
        value = trial.user_attrs.get("reward")
        final = trial.state.name == "COMPLETE"  # a pruned trial's reward is a lower rung's: not comparable
        if final and trial.user_attrs.get("status") in ("ok", "cached") and value is not None and (self.best is None or value > self.best[0]):
            self.best = (float(value), trial.number)
        self._progress.update(self._task, advance=1 if counted else 0, best=self._best_text())
        self.note(trial_line(trial, self.best))

    def rung(self, trial: Any, record: dict[str, Any]) -> None:
        """A candidate finished a rung below the top and goes on to the next one."""
        self.note(f"trial {trial.number:>4} rung {record['rung']}  acc {_num(record['accuracy'])} "
                  f"reward {_num(record['reward'])}  promoted to rung {record['rung'] + 1}" + (f"   best {self.best[0]:.4f} (#{self.best[1]})" if self.best else ""))

    def phase(self, description: str, *, total: int, done: int = 0) -> None:
        self._progress.update(self._task, description=description, total=total, completed=done)

    def advance(self) -> None:
        self._progress.update(self._task, advance=1)

    def note(self, text: str) -> None:
        if self.enabled:
            self._progress.console.print(text, highlight=False, markup=False)


def top_table(trials: pd.DataFrame, *, k: int = 10, baseline: int | None = None, title: str | None = None) -> Any:
    """The ``k`` best evaluated candidates by reward as a rich table; the baseline is marked."""
    from rich.table import Table

    from effsearch.search.outputs import top_candidates

    top = top_candidates(trials, k)
    table = Table(title=title or f"top {len(top)} candidates by reward", title_justify="left")
    for col in ("trial", "params", "MACs", "accuracy", "reward", "architecture (per stage: op kernel +se /no-skip : repeats x channels)"):
        table.add_column(col, justify="left" if col.startswith(("arch", "trial")) else "right")
    for _, row in top.iterrows():
        mark = " *" if baseline is not None and int(row["number"]) == baseline else ""
        table.add_row(f"{int(row['number'])}{mark}", format_count(row["params"]), format_count(row["macs"]),
                      _num(row["accuracy"]), _num(row["reward"]), compact_blocks(row["blocks"]))
    return table


def announce(progress: SearchProgress, *, search: Any, reward: Any, run: Any, space: Any, data: Any, proxy: Any,
             resumed: bool, done: int, recovered: list[int], placement: Any = None, coverage: Any = None) -> None:
    """The lines printed before the first trial: what is searched, how, where, and from where on."""
    from effsearch.search.objectives import get_objective
    from effsearch.search.settings import storage_label

    obj = get_objective(reward.objective)
    where = placement.describe() if placement is not None else f"on {run.workers} workers"
    if run.ray_address:
        where += f" at {run.ray_address}"
    note = progress.note
    note(space.describe() if hasattr(space, "describe") else f"search space {space.name}: {space.size:,} architectures")
    if coverage is not None:
        from effsearch.search.space_fit import describe

        note(describe(space, reward.objective, coverage))
    note(f"target {obj.format(reward.target)} {obj.label}, reward {reward.name} (alpha {reward.alpha:g}, beta {reward.beta:g})"
         + (f", candidates above {reward.reject_above:g}x the target rejected untrained" if reward.reject_above else ""))
    runtime = ", ".join(f"{k} {v}" for k in ("device", "threads", "kernels") if (v := getattr(proxy, k, None)) is not None)
    note(f"sampler {search.sampler_name}, evaluator {search.evaluator}, {search.trials} trials"
         + (f" or {search.timeout:g}s" if search.timeout else "")
         + f", seed {search.seed}; proxy: {getattr(data, 'name', 'data')}, {_budget(proxy)}, trained {where}"
         + (f", {runtime}" if runtime else ""))
    rungs = getattr(search, "rungs", None)
    if rungs is not None and (rungs.multi or rungs.seeds > 1):
        note(f"multi-fidelity: {rungs.describe(proxy)}; the baseline is picked among the top rung's candidates")
    note(f"study {run.study_name!r} in {storage_label(run)}; results in {run.out}")
    if resumed:
        note(f"resuming: {done} of {search.trials} trials already done"
             + (f"; trials {', '.join(map(str, recovered))} were interrupted and are queued again" if recovered else ""))


def _budget(proxy: Any) -> str:
    parts = [f"{value:g} {unit}" for name, unit in (("epochs", "epochs"), ("steps", "steps"), ("seconds", "s"))
             if isinstance(value := getattr(proxy, name, None), (int, float))]
    return " or ".join(parts) or "its default budget"
