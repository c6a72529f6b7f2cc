"""The fair test's tables: compound against single-dimension scaling for each baseline, and the grid's coefficients.

Reads what ``bench_compare.py`` and ``effsearch scale`` left behind, trains nothing:

* ``RESULTS/compare-fair/B-w0.25/rows.jsonl``: every variant of baseline B with the paper's coefficients;
* ``RESULTS/grid-fair/B-w0.25/grid.csv``: the grid's points and the one it selected;
* ``RESULTS/compare-fair-grid/B-w0.25/rows.jsonl``: compound with the grid's coefficients, the same
  recipe and seeds (``bench_compare.py --coefficients A,B,G --variants compound``).
* ``RESULTS/grid-fair-seeds3/B-w0.25/``: the same grid ranked on three seeds (``--grid-seeds 3``), and
  ``RESULTS/compare-fair-grid-seeds3/B-w0.25/rows.jsonl`` its pick trained, where it differs from the one-seed pick.

Every difference is paired by seed (the same seed gives both networks the same data order and
initial draw), reported as the mean difference and the seeds won, next to the larger of the two
seed SDs (the spread rule of ``effsearch scale --compare``).

    .venv/bin/python benchmarks/bench_fair_report.py            # markdown tables on stdout
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import pandas as pd

VARIANTS = ("compound", "width", "depth", "resolution")
LABEL = {"compound": "compound", "width": "width-only", "depth": "depth-only", "resolution": "resolution-only"}
PAPER = (1.2, 1.1, 1.15)


SEEDS: tuple[int, ...] = (0, 1, 2)


def ledger_rows(folder: Path, seeds: tuple[int, ...] | None = None) -> tuple[dict, list[dict]]:
    """The settings and rows of a ``bench_compare.py`` ledger (empty when it has not run), of ``seeds`` only."""
    path = folder / "rows.jsonl"
    if not path.is_file():
        return {}, []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keep = SEEDS if seeds is None else seeds
    return lines[0]["settings"], [line["row"] for line in lines[1:] if int(line["row"]["seed"]) in keep]


def by_seed(rows: list[dict], variant: str, phi: int) -> dict[int, float]:
    return {int(r["seed"]): float(r["test_accuracy"]) for r in rows if r["variant"] == variant and int(r["phi"]) == phi}


def _mean_sd(values: dict[int, float]) -> str:
    v = list(values.values())
    if not v:
        return "-"
    return f"{statistics.fmean(v):.4f}" + (f" ± {statistics.stdev(v):.4f}" if len(v) > 1 else "") + ("" if len(v) >= 3 else f" (n={len(v)})")


def paired(a: dict[int, float], b: dict[int, float]) -> dict | None:
    """Mean of a - b over the seeds both have, the seeds a wins, and the larger seed SD of the two."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    spread = max(statistics.stdev(list(a.values())), statistics.stdev(list(b.values()))) if min(len(a), len(b)) > 1 else None
    return {"diff": statistics.fmean(diffs), "won": sum(d > 0 for d in diffs), "n": len(seeds), "spread": spread,
            "beyond": spread is not None and abs(statistics.fmean(diffs)) > spread}


def _paired_text(p: dict | None) -> str:
    if p is None:
        return "-"
    text = f"{p['diff']:+.4f} ({p['won']} of {p['n']})"
    return f"**{text}**" if p["beyond"] else text


def variant_table(baselines: list[str], results: Path, width: str) -> list[str]:
    out = ["| baseline | phi | compound | width-only | depth-only | resolution-only | compound - best single |",
           "|---|---|---|---|---|---|---|"]
    for b in baselines:
        _, rows = ledger_rows(results / "compare-fair" / f"{b}-w{width}")
        if not rows:
            out.append(f"| {b} | | not run | | | | |")
            continue
        base = by_seed(rows, "baseline", 0)
        macs0 = next((r["macs"] for r in rows if r["variant"] == "baseline"), None)
        out.append(f"| {b} | 0 | baseline {_mean_sd(base)} ({macs0 / 1e6:.1f}M) | | | | |")
        for phi in sorted({int(r["phi"]) for r in rows if r["variant"] != "baseline"}):
            cells, compound = [], by_seed(rows, "compound", phi)
            means = {}
            for v in VARIANTS:
                values = by_seed(rows, v, phi)
                macs = next((r["macs"] for r in rows if r["variant"] == v and int(r["phi"]) == phi), None)
                size = "" if macs is None or not macs0 else f" [{macs / macs0:.2f}x]"
                if v == "compound":
                    cells.append(f"{_mean_sd(values)}{size}")
                else:
                    cells.append(f"{_mean_sd(values)}{size}, {_paired_text(paired(compound, values))}")
                if len(values) == len(compound) and values:
                    means[v] = statistics.fmean(values.values())
            singles = {v: m for v, m in means.items() if v != "compound"}
            if "compound" in means and singles:
                best = max(singles, key=singles.get)
                gap = _paired_text(paired(compound, by_seed(rows, best, phi)))
                cells.append(f"{gap} vs {LABEL[best]}")
            else:
                cells.append("-")
            out.append(f"| {b} | {phi} | " + " | ".join(cells) + " |")
    return out


def grid_choice(folder: Path) -> dict | None:
    """The grid's selected point (coefficients, counted ratio, proxy accuracy) and its size."""
    path = folder / "grid.csv"
    if not path.is_file():
        return None
    grid = pd.read_csv(path)
    chosen = grid[grid["selected"].astype(str).str.lower() == "true"]
    counts = grid["status"].value_counts().to_dict()
    if chosen.empty:
        return {"counts": counts}
    row = chosen.iloc[0]
    return {"coefficients": (float(row["alpha"]), float(row["beta"]), float(row["gamma"])),
            "accuracy": float(row["accuracy"]), "macs": float(row["macs"]), "counts": counts}


def grid_table(baselines: list[str], results: Path, width: str, grids: str = "grid-fair",
               trained: str = "compare-fair-grid") -> list[str]:
    """The grid's pick (from ``RESULTS/grids``) trained like the paper's (``RESULTS/trained``), paired by seed."""
    out = ["| baseline | grid points (trained / skipped over budget / sharing) | grid's pick (alpha, beta, gamma), proxy val top-1 "
           "| phi | paper's (1.2, 1.1, 1.15) | grid's | grid - paper, paired |",
           "|---|---|---|---|---|---|---|"]
    for b in baselines:
        choice = grid_choice(results / grids / f"{b}-w{width}")
        _, paper_rows = ledger_rows(results / "compare-fair" / f"{b}-w{width}")
        if choice is None:
            out.append(f"| {b} | not run | | | | | |")
            continue
        grid_rows = _trained_rows(results, (trained, "compare-fair-grid"), f"{b}-w{width}", choice.get("coefficients"))
        c = choice["counts"]
        folder = results / grids / f"{b}-w{width}"
        shared = _shared(folder)
        points = f"{c.get('ok', 0) - shared} / {c.get('skipped', 0)} / {shared}"
        pick = "none" if "coefficients" not in choice else (
            f"({', '.join(f'{v:g}' for v in choice['coefficients'])}), {choice['accuracy']:.4f}")
        phis = sorted({int(r["phi"]) for r in grid_rows if r["variant"] == "compound"}) or [None]
        for phi in phis:
            if phi is None:
                out.append(f"| {b} | {points} | {pick} | | | not trained yet | |")
                continue
            paper, mine = by_seed(paper_rows, "compound", phi), by_seed(grid_rows, "compound", phi)
            out.append(f"| {b} | {points} | {pick} | {phi} | {_mean_sd(paper)}{_size(paper_rows, phi)} | "
                       f"{_mean_sd(mine)}{_size(grid_rows, phi, paper_rows)} | {_paired_text(paired(mine, paper))} |")
    return out


def _trained_rows(results: Path, folders: tuple[str, ...], name: str, coefficients: tuple[float, ...] | None) -> list[dict]:
    """The rows of the first ledger among ``folders`` that trained ``coefficients`` (a pick another grid also made)."""
    for folder in folders:
        settings, rows = ledger_rows(results / folder / name)
        c = settings.get("coefficients") or {}
        if rows and coefficients is not None and (c.get("alpha"), c.get("beta"), c.get("gamma")) == coefficients:
            return rows
    return []


def _size(rows: list[dict], phi: int, base_rows: list[dict] | None = None) -> str:
    """' [2.26x]': the compound member's MACs over the baseline's (the baseline from ``base_rows`` if given)."""
    base = next((r["macs"] for r in (base_rows or rows) if r["variant"] == "baseline"), None)
    macs = next((r["macs"] for r in rows if r["variant"] == "compound" and int(r["phi"]) == phi), None)
    return "" if base is None or macs is None else f" [{macs / base:.2f}x]"


def _shared(folder: Path) -> int:
    grid = pd.read_csv(folder / "grid.csv")
    return int(grid["reason"].astype("string").fillna("").str.startswith("the same network as point").sum())


def seed_scores(folder: Path) -> dict[int, dict[int, float]]:
    """Each grid point's validation top-1 by seed, from ``grid.jsonl``'s ``seed`` events (a one-seed grid: its ``done`` records)."""
    path = folder / "grid.jsonl"
    if not path.is_file():
        return {}
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    seed = int(next((e["settings"].get("seed", 0) for e in events if e.get("event") == "settings"), 0))
    out: dict[int, dict[int, float]] = {}
    for e in events:
        if e.get("event") == "seed" and e.get("status") == "ok":
            out.setdefault(int(e["index"]), {})[int(e["seed"])] = float(e["accuracy"])
    if not out:
        for e in events:
            if e.get("event") == "done" and e.get("status") == "ok" and e.get("accuracy") is not None:
                out[int(e["index"])] = {seed: float(e["accuracy"])}
    return out


def seeds_table(baselines: list[str], results: Path, width: str) -> list[str]:
    """The grid ranked on one seed against the same grid ranked on the mean of several (``--grid-seeds``)."""
    out = ["| baseline | point (alpha, beta, gamma) | counted MACs | one seed: val top-1 (rank) | several seeds: mean ± SD (rank) "
           "| its first seed equals the one-seed grid's |",
           "|---|---|---|---|---|---|"]
    for b in baselines:
        one_dir, many_dir = results / "grid-fair" / f"{b}-w{width}", results / "grid-fair-seeds3" / f"{b}-w{width}"
        if not (many_dir / "grid.csv").is_file() or not (one_dir / "grid.csv").is_file():
            continue
        one, many = pd.read_csv(one_dir / "grid.csv"), pd.read_csv(many_dir / "grid.csv")
        one_scores, many_scores = seed_scores(one_dir), seed_scores(many_dir)
        trained = [int(i) for i in many.loc[(many["status"] == "ok") & many["reason"].isna(), "index"]]
        mean = {i: statistics.fmean(many_scores[i].values()) for i in trained if many_scores.get(i)}
        single = {i: next(iter(one_scores[i].values())) for i in trained if one_scores.get(i)}
        rank_many = {i: r + 1 for r, i in enumerate(sorted(mean, key=lambda i: -mean[i]))}
        rank_one = {i: r + 1 for r, i in enumerate(sorted(single, key=lambda i: -single[i]))}
        for i in sorted(mean, key=lambda i: rank_many[i]):
            row = many[many["index"] == i].iloc[0]
            point = f"({row['alpha']:g}, {row['beta']:g}, {row['gamma']:g})"
            picks = ("one-seed pick; " if _selected(one, i) else "") + ("several-seed pick" if _selected(many, i) else "")
            values = many_scores[i]
            sd = f" ± {statistics.stdev(values.values()):.4f}" if len(values) > 1 else ""
            first = values.get(min(values))
            same = "-" if i not in single else ("yes" if first == single[i] else f"no ({first:.4f})")
            one_text = "-" if i not in single else f"{single[i]:.4f} ({rank_one[i]})"
            label = f"{point}{' **' + picks.rstrip('; ') + '**' if picks else ''}"
            out.append(f"| {b} | {label} | {row['macs'] / 1e6:.0f}M | {one_text} | {mean[i]:.4f}{sd} "
                       f"(n={len(values)}) ({rank_many[i]}) | {same} |")
    return out


def _selected(grid: pd.DataFrame, index: int) -> bool:
    chosen = grid.loc[grid["index"] == index, "selected"].astype(str).str.lower()
    return bool((chosen == "true").any())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--baselines", default="resnet-18,mobilenet-v2,efficientnet-b0")
    parser.add_argument("--width", default="0.25")
    parser.add_argument("--seeds", default="0,1,2", help="the seeds every variant was trained with (a ledger may hold more)")
    args = parser.parse_args(argv)
    global SEEDS
    SEEDS = tuple(int(s) for s in args.seeds.split(","))
    baselines = args.baselines.split(",")
    print("Test top-1 on t10k, mean ± SD over seeds [MACs over the baseline's]; each single dimension then compound "
          "minus it, paired by seed (seeds compound won; bold: beyond the larger seed SD).\n")
    print("\n".join(variant_table(baselines, args.results, args.width)))
    print("\nThe grid's coefficients against the paper's: compound test top-1, same recipe and seeds.\n")
    print("\n".join(grid_table(baselines, args.results, args.width)))
    seeds = seeds_table(baselines, args.results, args.width)
    if len(seeds) > 2:
        print("\nThe grid on one seed against the same grid on several (`--grid-seeds`; validation top-1, trained points).\n")
        print("\n".join(seeds))
        print("\nThe several-seed grid's coefficients against the paper's (`compare-fair-grid-seeds3`).\n")
        print("\n".join(grid_table([b for b in baselines if (args.results / "grid-fair-seeds3" / f"{b}-w{args.width}").is_dir()],
                                    args.results, args.width, "grid-fair-seeds3", "compare-fair-grid-seeds3")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
