#!/usr/bin/env bash
# The GPU measurement (issue 24, item 4), in one go on a CUDA machine: under 8 minutes, one JSON.
#
#   bash benchmarks/gpu.sh                                   # writes $OUT/gpu_run.json (else ./gpu_run.json)
#   bash benchmarks/gpu.sh --public /path/to/nanoSmol        # also the ratio against the public scorer
#   bash benchmarks/gpu.sh --dry-run                         # the same code on the CPU, a tiny model (< 1 min)
#
# Needs torch (CUDA) and transformers; no decoder (frames are synthetic) and no internet (random weights,
# the bundled tokenizer). fvlm-eval need not be installed: the checkout is put on PYTHONPATH, with
# fvlm_model pointing at model/. Without a nanoSmol checkout the public ratio is skipped, and the JSON says
# how to get one. Any other option goes to benchmarks/gpu_run.py (see its --help).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if ! python -c "import fvlm_eval, fvlm_model" 2>/dev/null; then
  shim="$root/build/gpu-pythonpath"
  mkdir -p "$shim"
  ln -sfn "$root/model" "$shim/fvlm_model"
  export PYTHONPATH="$root:$shim${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi --query-gpu=name,memory.total,memory.used,utilization.gpu --format=csv 2>/dev/null || echo "no nvidia-smi"
python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)"
exec timeout 470 python benchmarks/gpu_run.py "$@"
