"""Does compound scaling beat single-dimension scaling? Mean and spread over seeds, and a plain verdict.

Pure arithmetic on the rows of ``compare.csv`` (dicts with ``variant``, ``phi``, ``macs`` and
``test_accuracy``). The spread of a variant is the sample standard deviation of its test top-1 over
seeds (n - 1 in the denominator); compound *beats* a single-dimension variant at a phi when its mean
is higher, and does so *beyond the seeds' spread* when the difference exceeds the larger of the two
spreads. With fewer than two seeds there is no spread, and the verdict says so rather than guess.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from effsearch.compound.compare import SINGLE, VARIANTS

SPREAD_RULE = ("compound beats a variant beyond the seeds' spread when its mean test top-1 exceeds the variant's by more "
               "than the larger of the two sample standard deviations (n - 1) over seeds")
LABELS = {"baseline": "baseline", "compound": "compound", "width": "width-only", "depth": "depth-only",
          "resolution": "resolution-only"}


def _finite(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def summarize(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (variant, phi): MACs, mean and sample std of test top-1 over the seeds that finished, n."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["variant"]), int(row["phi"])), []).append(row)
    order = {v: i for i, v in enumerate(VARIANTS)}
    out = []
    for (variant, phi), group in sorted(groups.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 99), kv[0][0])):
        values = [v for v in (_finite(r.get("test_accuracy")) for r in group) if v is not None]
        out.append({
            "variant": variant, "phi": phi, "macs": group[0].get("macs"), "macs_mismatch": group[0].get("macs_mismatch"),
            "n": len(values), "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) >= 2 else None,
            "seeds": sorted(int(r["seed"]) for r in group if _finite(r.get("test_accuracy")) is not None),
        })
    return out


def _pair(phi: int, compound: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    diff = compound["mean"] - other["mean"]
    spread = None if compound["std"] is None or other["std"] is None else max(compound["std"], other["std"])
    beyond = None if spread is None else abs(diff) > spread
    verdict = "tied" if diff == 0 else ("better" if beyond else "ahead") if diff > 0 else ("worse" if beyond else "behind")
    name = LABELS.get(other["variant"], other["variant"])
    if spread is None:
        judged = f"fewer than 2 seeds in {'compound' if compound['std'] is None else name}: no spread to judge by"
    else:
        judged = f"{'more' if beyond else 'not more'} than the seeds' spread ({100 * spread:.2f} points)"
    lead = ("compound and " + name + " tie" if diff == 0 else
            f"compound {'beats' if diff > 0 else 'trails'} {name} by {100 * abs(diff):.2f} points")
    return {
        "phi": phi, "against": other["variant"], "compound_mean": compound["mean"], "other_mean": other["mean"],
        "difference": diff, "spread": spread, "beats": diff > 0, "beyond_spread": beyond, "verdict": verdict,
        "text": f"phi {phi}: {lead} ({100 * compound['mean']:.2f} vs {100 * other['mean']:.2f}), {judged}",
    }


def verdicts(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per phi and single-dimension variant that both have a mean (see the module docstring)."""
    by_key = {(s["variant"], s["phi"]): s for s in summary if s.get("mean") is not None}
    out = []
    for phi in sorted({s["phi"] for s in summary if s["variant"] == "compound"}):
        compound = by_key.get(("compound", phi))
        if compound is None:
            continue
        out += [_pair(phi, compound, by_key[(kind, phi)]) for kind in SINGLE if (kind, phi) in by_key]
    return out


def overall(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per phi, one line over its verdicts: how many single-dimension variants compound beats, and how clearly."""
    out = []
    for phi in sorted({v["phi"] for v in results}):
        mine = [v for v in results if v["phi"] == phi]
        beaten = [LABELS[v["against"]] for v in mine if v["beats"]]
        clear = [LABELS[v["against"]] for v in mine if v["beats"] and v["beyond_spread"]]
        judged = all(v["beyond_spread"] is not None for v in mine)
        if not beaten:
            head = f"compound beats none of the {len(mine)} single-dimension variants"
        elif len(beaten) == len(mine):
            head = f"compound beats all {len(mine)} single-dimension variants"
        else:
            head = f"compound beats {len(beaten)} of {len(mine)} single-dimension variants ({', '.join(beaten)})"
        if not judged:
            tail = "; too few seeds to judge the spread"
        elif not beaten:
            tail = ""
        elif len(clear) == len(beaten):
            tail = f"; {'all ' if len(clear) > 1 else ''}beyond the seeds' spread"
        else:
            tail = f"; {', '.join(clear)} beyond the seeds' spread" if clear else "; none beyond the seeds' spread"
        out.append({"phi": phi, "beats": len(beaten), "beats_beyond_spread": len(clear) if judged else None,
                    "of": len(mine), "text": f"phi {phi}: {head}{tail}"})
    return out
