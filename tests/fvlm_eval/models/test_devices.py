"""``--device`` resolved, and the libraries it needs imported whole even when a stop comes inside."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

STOPPED_IN_TORCHS_IMPORT = textwrap.dedent("""
    import os, signal, sys

    class StopInside:  # Ctrl-C while torch's own modules are being imported
        def find_spec(self, name, path, target=None):
            if name == "torch.storage":
                os.kill(os.getpid(), signal.SIGINT)
            return None

    from fvlm_eval.interrupts import stops_as_interrupts
    from fvlm_eval.models.devices import resolve_device

    assert "torch" not in sys.modules
    sys.meta_path.insert(0, StopInside())
    try:
        with stops_as_interrupts():
            resolve_device("cpu")
            print("never: the stop is raised as the imports end")
    except KeyboardInterrupt:
        import torch

        print("stopped after the imports;", int(torch.ones(3).sum()))
        sys.exit(130)
""")


def test_a_ctrl_c_inside_torchs_import_is_raised_once_it_is_imported():
    """Raised inside, it could abort the process or leave numpy half-loaded ("cannot load module more than
    once per process")."""
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_IN_TORCHS_IMPORT],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stdout.strip() == "stopped after the imports; 3"


@pytest.mark.parametrize("name", ["gpu", "tpu", "cuda:x"])
def test_a_wrong_device_is_one_line(name):
    from fvlm_eval.models.base import ModelLoadError
    from fvlm_eval.models.devices import resolve_device

    with pytest.raises(ModelLoadError, match="--device"):
        resolve_device(name)
