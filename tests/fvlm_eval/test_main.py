"""``fvlm-eval`` / ``python -m fvlm_eval``: a stop while the CLI is still being imported is one line and its code."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

STOPPED_IN_AN_IMPORT = textwrap.dedent("""
    import os, signal, sys

    class StopHere:  # the signal comes while the CLI's modules are being imported
        def find_spec(self, name, path, target=None):
            if name == "fvlm_eval.cli":
                os.kill(os.getpid(), getattr(signal, sys.argv[1]))
            return None

    sys.meta_path.insert(0, StopHere())
    from fvlm_eval.__main__ import console
    sys.exit(console())
""")


@pytest.mark.parametrize(
    "signal_name, code, said",
    [("SIGTERM", 143, "stopped by SIGTERM while starting"), ("SIGINT", 130, "interrupted while starting")],
)
def test_a_stop_while_the_cli_is_imported_is_one_line(signal_name, code, said):
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_IN_AN_IMPORT, signal_name],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert done.returncode == code, done.stderr[-2000:]
    assert said in done.stderr and "nothing was written" in done.stderr and "Traceback" not in done.stderr


def test_the_console_script_starts_through_the_same_guard():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "fvlm-eval"]
    assert script.value == "fvlm_eval.__main__:console"


def test_a_deleted_current_folder_is_one_line_before_anything_is_loaded(tmp_path):
    """From a folder deleted under the shell: torch printed "Intel oneMKL FATAL ERROR" twice (exit 2), and with
    relative paths "cannot read or write: No such file or directory", naming nothing."""
    import os
    import subprocess
    import sys

    gone = tmp_path / "gone"
    gone.mkdir()

    def leave_it_deleted():
        os.chdir(gone)
        os.rmdir(gone)

    command = [sys.executable, "-m", "fvlm_eval", "run", "mvbench", "--data-dir", "data"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, preexec_fn=leave_it_deleted, env=env)
    assert done.returncode == 1 and done.stderr.strip() == (
        "error: the current folder no longer exists (deleted while the shell was in it): cd into a folder that "
        "exists, then rerun"
    )
