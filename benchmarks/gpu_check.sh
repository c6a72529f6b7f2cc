#!/usr/bin/env bash
# Every CUDA path once, in under 5 minutes, and their throughput against the CPU path.
#
#   bash benchmarks/gpu_check.sh            # with the project's .venv, or the python3 that has torch
#
# On a machine without a CUDA GPU it says so in one line and exits 0. Steps: the CUDA tests
# (pytest -m cuda), a short search whose two workers share the GPU, a supernet epoch, a train epoch
# with its exports, then benchmarks/bench_gpu.py (throughput against the CPU path). Where the
# machine lacks effsearch's dependencies, wheels in .whl/ are installed first (benchmarks/README.md,
# "GPU check", says how to prepare them).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check: no CUDA GPU here (torch sees none); nothing to check"
  exit 0
fi
if ! "$PY" -c "import effsearch, optuna, pandas, yaml, rich" 2>/dev/null; then
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
  else
    export PYTHONPATH=$PWD
  fi
fi
export PYTHONUNBUFFERED=1
out=${OUT:-$(mktemp -d)}/gpu-check
mkdir -p "$out"
run() { echo; echo "== $*"; local t=$SECONDS; "$@"; echo "   ($((SECONDS - t)) s)"; }
effsearch() { "$PY" -m effsearch "$@"; }

"$PY" -c "import torch; print('gpu_check:', torch.cuda.get_device_name(0), 'torch', torch.__version__)"
run "$PY" -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py tests/test_builder.py
run effsearch baseline --flops-target 400M --dataset digits --trials 6 --steps 100 --workers 2 --device cuda \
    --quiet --out "$out/search"
"$PY" -c "import json,sys; c=json.load(open(sys.argv[1]))['config']; print('   placement', c['placement'], c['runtime'])" \
    "$out/search/run.json"
run effsearch supernet --space small --dataset digits --epochs 1 --device cuda --out "$out/supernet"
run effsearch train efficientnet-b0 --dataset digits --adapt --epochs 1 --device cuda --quiet --out "$out/train"
run "$PY" benchmarks/bench_gpu.py --steps 150
echo
echo "gpu_check: every CUDA path ran"
