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


def test_a_misspelled_device_is_told_without_importing_torch():
    """`run ... --device tpu` was told only after torch had been imported (4.7 s); `mps` is a torch device this
    harness does not run on, said as such."""
    script = textwrap.dedent("""
        import sys
        from fvlm_eval.models.base import ModelLoadError
        from fvlm_eval.models.devices import check_device_name

        said = []
        for name in ("tpu", "mps", "cuda:x", "GPU"):
            try:
                check_device_name(name)
            except ModelLoadError as error:
                said.append(str(error))
        for name in (None, "cpu", "cuda", "cuda:1"):
            check_device_name(name)
        print("torch" in sys.modules)
        print("\\n".join(said))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "False",
        "--device tpu: not a device name (cpu, cuda, cuda:1, ...)",
        "--device mps: only cpu and cuda are supported",
        "--device cuda:x: not a device name (cpu, cuda, cuda:1, ...)",
        "--device GPU: not a device name (cpu, cuda, cuda:1, ...)",
    ]
