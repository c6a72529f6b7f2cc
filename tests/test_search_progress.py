"""What the search prints: compact architectures, one line per trial, the closing table."""

from __future__ import annotations

import io

import optuna
import pandas as pd
from optuna.trial import TrialState
from rich.console import Console

from effsearch.search.progress import SearchProgress, compact_blocks, top_table, trial_line

B0 = ("r1_k3_s11_e1_i32_o16_se0.25 r2_k3_s22_e6_i16_o24_se0.25 r2_k5_s22_e6_i24_o40_se0.25 "
      "conv_r1_k3_s11_e1_i40_o40_noskip_relu")


def test_compact_blocks_names_op_kernel_se_skip_repeats_and_channels():
    assert compact_blocks(B0) == "e1k3+se:1x16 e6k3+se:2x24 e6k5+se:2x40 cvk3/ns:1x40"
    assert compact_blocks("ds_r1_k5_s11_e1_i32_o16") == "dsk5:1x16"
    assert compact_blocks(None) == "-"


def _trial(status, number=3, **attrs):
    state = TrialState.FAIL if status == "failed" else TrialState.COMPLETE
    values = None if state == TrialState.FAIL else [attrs.get("reward", 0.0)]
    return optuna.trial.FrozenTrial(
        number=number, state=state, value=None, values=values, datetime_start=None, datetime_complete=None,
        params={}, distributions={}, user_attrs={"status": status, "macs": 3.9e8, "params": 5.3e6, **attrs},
        system_attrs={}, intermediate_values={}, trial_id=number,
    )


def test_each_status_gets_a_readable_line():
    ok = trial_line(_trial("ok", accuracy=0.9512, reward=0.9431, proxy={"train_seconds": 12.3}), (0.95, 1))
    assert ok.startswith("trial    3 ok") and "MACs   390M" in ok and "acc 0.9512 reward 0.9431" in ok
    assert "12s" in ok and ok.endswith("best 0.9500 (#1)")
    cached = trial_line(_trial("cached", accuracy=0.9, reward=0.91, cached_from=1), None)
    assert "(= trial 1)" in cached
    failed = trial_line(_trial("failed", reason="out of memory (MemoryError)"), None)
    assert failed.endswith("out of memory (MemoryError)")
    rejected = trial_line(_trial("rejected", reward=0.0, reason="2.3x the target"), None)
    assert "rejected" in rejected and rejected.endswith("2.3x the target")


def test_progress_tracks_the_best_reward_and_prints_when_piped():
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)  # not a terminal: lines only, no bar
    with SearchProgress(total=3, done=0, console=console) as progress:
        progress.trial(_trial("ok", number=0, accuracy=0.8, reward=0.81))
        progress.trial(_trial("ok", number=1, accuracy=0.9, reward=0.92))
        progress.trial(_trial("ok", number=2, accuracy=0.7, reward=0.71))
    assert progress.best == (0.92, 1)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 3 and lines[-1].endswith("best 0.9200 (#1)")


def test_top_table_ranks_by_reward_and_marks_the_baseline():
    frame = pd.DataFrame({
        "number": [0, 1, 2, 3], "status": ["ok", "ok", "cached", "failed"], "reward": [0.8, 0.9, 0.9, None],
        "accuracy": [0.79, 0.88, 0.88, None], "params": [1e6, 2e6, 2e6, 3e6], "macs": [1e8, 2e8, 2e8, 3e8],
        "blocks": ["ds_r1_k3_s11_e1_i32_o16", "r1_k5_s11_e6_i32_o16", "r1_k5_s11_e6_i32_o16", None],
    })
    buffer = io.StringIO()
    Console(file=buffer, width=160).print(top_table(frame, baseline=1))
    rows = [line for line in buffer.getvalue().splitlines() if line.startswith("│")]
    assert len(rows) == 2 and rows[0].startswith("│ 1 *") and "e6k5:1x16" in rows[0] and rows[1].startswith("│ 0 ")
