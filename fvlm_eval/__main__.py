"""``python -m fvlm_eval``: the CLI (also as each rank under ``torchrun --nproc-per-node N -m fvlm_eval run ...``)."""

import sys

from fvlm_eval.cli import main

sys.exit(main())
