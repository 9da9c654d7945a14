"""``python -m fvlm_eval``: the CLI (also as each rank under ``torchrun --nproc-per-node N -m fvlm_eval run ...``)."""

import sys

try:
    from fvlm_eval.cli import main
except KeyboardInterrupt:  # Ctrl-C while starting up: nothing was written yet
    sys.stderr.write("interrupted while starting; nothing was written: rerun the same command to resume\n")
    sys.exit(130)

sys.exit(main())
