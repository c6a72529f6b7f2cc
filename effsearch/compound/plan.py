"""Which grid points are trained: arithmetic on the scaled networks, done before Ray starts.

Two kinds of point need no training:

* **over budget**: its counted MACs at phi = 1 are over the grid's budget
  (:func:`effsearch.compound.ledger.grid_budget`), so it can never be selected. Rounding channels
  and whole layers puts over half of a narrow baseline's points there (ResNet-18 x0.25 at step
  0.1, channels to 8: 12 of 21), and under ASHA such a point could also stop one that can be selected;
* **the same network** at the same proxy side as an earlier point: with two blocks in a stage,
  alpha 1.1 and 1.2 both give three. Training it again with the same data, seed and threads
  gives the same result, so the point shares the earlier one's (3 more of the 21 above).

If no point keeps to the budget (a tiny baseline whose every channel count rounds up), all are
trained and the cheapest compete, as :func:`effsearch.compound.ledger.select_best` does. The plan
is appended to ``grid.jsonl`` as a ``plan`` event, so the folder says what was left out and why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from effsearch.arch.cost import count
from effsearch.arch.scaling import proxy_resolution
from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import spec_to_dict
from effsearch.compound.grid import GridPoint
from effsearch.compound.trainable import phi1_spec

PLAN_EVENT = "plan"
OVER_BUDGET = "over budget"
"""How the ``reason`` of a point whose counted MACs are over the grid's budget starts."""
SAME_NETWORK = "the same network as point"
"""How the ``reason`` of a point that shares an earlier point's training starts."""


def over_budget_reason(macs: float, budget: float, trained: bool = True) -> str:
    from effsearch.units import format_count

    return (f"{OVER_BUDGET}: {format_count(macs, 4)} counted MACs, the grid allows {format_count(budget, 4)}"
            + ("" if trained else " (not trained)"))


@dataclass(frozen=True)
class GridPlan:
    """Indices to train, those skipped (with why) and those that share another point's training."""

    train: tuple[int, ...]
    skipped: dict[int, str] = field(default_factory=dict)
    same_as: dict[int, int] = field(default_factory=dict)
    counted: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Each point's ``macs``, ``params``, ``resolution`` and ``proxy_resolution``, known before training."""

    def event(self) -> dict[str, Any]:
        return {"event": PLAN_EVENT, "train": list(self.train), "skipped": {str(k): v for k, v in self.skipped.items()},
                "same_as": {str(k): v for k, v in self.same_as.items()},
                "counted": {str(k): v for k, v in self.counted.items()}}

    @classmethod
    def from_events(cls, events: Sequence[dict[str, Any]]) -> GridPlan | None:
        """The last plan in a ledger; ``None`` for a grid begun before plans were recorded (all trained)."""
        last = next((e for e in reversed(events) if e.get("event") == PLAN_EVENT), None)
        if last is None:
            return None
        return cls(train=tuple(int(i) for i in last.get("train") or ()),
                   skipped={int(k): str(v) for k, v in (last.get("skipped") or {}).items()},
                   same_as={int(k): int(v) for k, v in (last.get("same_as") or {}).items()},
                   counted={int(k): dict(v) for k, v in (last.get("counted") or {}).items()})


def plan_grid(baseline: NetSpec, points: Sequence[GridPoint], budget: float, *, base_resolution: int,
              resolution_multiple: int) -> GridPlan:
    """What each point's network costs, and which points must be trained to select among them."""
    counted, keys = {}, {}
    for p in points:
        spec = phi1_spec(baseline, p, resolution_multiple)
        cost = count(spec)
        side = proxy_resolution(base_resolution, p.gamma)
        counted[p.index] = {"macs": cost.macs, "params": cost.params, "resolution": spec.resolution, "proxy_resolution": side}
        keys[p.index] = (json.dumps(spec_to_dict(spec), sort_keys=True), side)
    within = [p.index for p in points if counted[p.index]["macs"] <= budget]
    candidates = within or [p.index for p in points]
    skipped = {p.index: over_budget_reason(counted[p.index]["macs"], budget, trained=False)
               for p in points if p.index not in candidates}
    first: dict[tuple[str, int], int] = {}
    same_as: dict[int, int] = {}
    for i in candidates:
        twin = first.setdefault(keys[i], i)
        if twin != i:
            same_as[i] = twin
    train = tuple(i for i in candidates if i not in same_as)
    return GridPlan(train=train, skipped=skipped, same_as=same_as, counted=counted)
