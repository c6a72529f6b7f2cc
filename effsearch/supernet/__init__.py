"""Weight-sharing evaluation: one supernet trained once, any candidate of its space scored in a fraction of a second.

``layout`` (the largest choice of every dimension, or a refusal naming the field), ``model`` (the
supernet module and the extraction of a sub-network), ``train`` (sandwich-rule training with
in-place distillation, checkpoints, resume), ``folder`` (the supernet's results folder and its
checks), ``score`` (inherited weights, recalibrated batch norm, validation top-1) and
``evaluator`` (the ``supernet`` evaluator of the search and its registry entry, ``SUPERNET``).
"""

from __future__ import annotations

from effsearch.supernet.layout import SupernetError, SupernetLayout, layout_for

__all__ = ["SupernetError", "SupernetLayout", "layout_for"]
