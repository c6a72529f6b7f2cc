"""What ``effsearch scale`` shows while it works: the grid's header and one line per point, one line per training."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _progress(total: list[int]) -> Callable[[dict[str, Any], int], None]:
    """One stderr line per finished point; a resumed grid counts on from the points it already had."""
    done = [0]

    def on_point(record: dict[str, Any], already: int) -> None:
        if record.get("replayed"):
            return  # finished in an earlier run: already counted
        done[0] += 1
        acc, seeds = record.get("accuracy"), len(record.get("seed_accuracies") or ())
        spread = f" ± {record.get('accuracy_sd') or 0:.4f} over {seeds} seeds" if seeds > 1 else ""
        print(
            f"[{already + done[0]}/{total[0]}] alpha={record['alpha']:g} beta={record['beta']:g} gamma={record['gamma']:g}: "
            f"accuracy {'-' if acc is None else f'{acc:.4f}'}{spread} ({record.get('status')}, {record.get('epoch')} epochs, "
            f"{record.get('train_seconds') or 0:.1f} s)",
            file=sys.stderr, flush=True,
        )

    return on_point


def announce_grid(scale: Any, where: Any, args: argparse.Namespace) -> tuple[Callable[[], None], Callable[[dict[str, Any]], None]]:
    """The header line (printed once every check has passed: a refused run prints one error line) and the per-point lines.

    The header reads the folder, data set and epochs from run.json's inputs as the stage resolved them
    (inherited from the baseline run or given), so it names what really trains.
    """
    from effsearch.compound.grid import grid_points
    from effsearch.compound.ledger import LEDGER, finished_points, read_ledger
    from effsearch.compound.plan import GridPlan

    points = len(grid_points(scale.grid))
    total, already = [points], [0]
    progress = _progress(total)

    def on_start(data: Any = None, proxy: Any = None, out: Any = None) -> None:
        folder = Path(out or where.out)
        events = read_ledger(folder / LEDGER)
        plan = GridPlan.from_events(events)
        trained = set(plan.train) if plan is not None else set(range(points))
        # Points trained before a plan left them out (an earlier version's grid) still count as done.
        already[0] = len(set(finished_points(events)) & trained)
        total[0] = len(trained)
        epochs = getattr(proxy, "epochs", None)
        left_out = "" if plan is None else _left_out(plan)
        print(f"effsearch: {points} grid points at phi = 1 on {getattr(data, 'name', 'the data')}{left_out}, "
              f"{'' if epochs is None else f'{epochs:g} epochs each '}"
              f"{f'x {scale.grid_seeds} seeds ' if scale.grid_seeds > 1 else ''}({where.scheduler}); results in {folder}",
              file=sys.stderr)

    def on_point(record: dict[str, Any]) -> None:
        progress(record, already[0])

    return on_start, on_point


def _left_out(plan: Any) -> str:
    """', 12 to train (9 over budget, 4 the same network as another)': what the plan saves, if anything."""
    parts = [f"{n} {what}" for n, what in ((len(plan.skipped), "over budget"),
                                           (len(plan.same_as), "the same network as another")) if n]
    return f", {len(plan.train)} to train ({', '.join(parts)})" if parts else ""


def on_training(quiet: bool) -> Callable[[dict[str, Any]], None] | None:
    """One stderr line as each training starts and ends; trainings found finished are not listed."""
    if quiet:
        return None

    def show(e: dict[str, Any]) -> None:
        head = f"[{e['index']}/{e['total']}] {e['name']} seed {e['seed']}"
        if e["event"] == "start":
            state = f"resuming after epoch {e['epochs_done']}" if e["epochs_done"] else "training"
            print(f"{head}: {state} at {e['train_resolution']}px in {e['folder']}", file=sys.stderr, flush=True)
        elif not e["found"]:
            row = e["row"]
            print(f"{head}: test top-1 {row['test_accuracy']:.4f} ({row['train_seconds'] or 0:.0f} s)", file=sys.stderr, flush=True)

    return show
