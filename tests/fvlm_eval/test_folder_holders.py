"""Who holds a run folder's locks, read without taking them (shared by run/ and reports/)."""

from __future__ import annotations

import socket
import subprocess
import sys
from contextlib import contextmanager

from fvlm_eval.folder_holders import Writers, holder_line, writers


@contextmanager
def holding(folder, name: str = ".fvlm-eval.lock", shared: bool = False):
    """Another process holding ``folder``'s lock ``name`` as a run does (``run.lock.FolderLock``): yields its pid."""
    script = (
        "import time; from pathlib import Path; from fvlm_eval.run.lock import FolderLock; "
        f"FolderLock(Path({str(folder)!r}), {name!r}, shared={shared}).acquire(); print('held', flush=True); "
        "time.sleep(120)"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_a_folder_a_live_process_holds_is_named_and_one_no_process_holds_is_not(tmp_path):
    """Reports said "stopped ... rerun it" of a folder a live run was writing: nothing told them who held it."""
    folder = tmp_path / "run" / "mvbench" / "coarse_only"
    with holding(folder) as pid:
        (found,) = writers([folder]).values()
        assert found.here.startswith(f"pid {pid} on {socket.gethostname()} since 20") and not found.elsewhere
    assert writers([folder]) == {}  # the lock file stays, naming the process that is gone: no writer
    assert holder_line(folder / ".fvlm-eval.lock")[0] == pid


def test_shards_are_named_by_their_own_lock_each_once(tmp_path):
    """Shards hold the folder's lock shared (no holder line of theirs in it) and their own exclusively."""
    folder = tmp_path / "run" / "mvbench" / "coarse_only"
    with holding(folder, shared=True) as first, holding(folder, ".fvlm-eval.shard-1-of-2.lock") as second:
        here = writers([folder])[folder].here
    assert f"pid {first} ({sys.executable} -c " in here and f"pid {second} on " in here
    assert here.count(f"pid {second}") == 1


def test_a_lock_taken_on_another_machine_is_said_as_possibly_still_writing(tmp_path):
    folder = tmp_path / "mvbench" / "coarse_only"
    folder.mkdir(parents=True)
    (folder / ".fvlm-eval.lock").write_text("pid 12 on node-elsewhere since 2026-01-02 03:04:05 UTC (fvlm-eval run)")
    assert writers([folder]) == {folder: Writers("", "pid 12 on node-elsewhere since 2026-01-02 03:04:05 UTC")}


def test_reading_who_holds_a_folder_creates_no_lock_file(tmp_path):
    folder = tmp_path / "mvbench" / "coarse_only"
    folder.mkdir(parents=True)
    assert writers([folder]) == {} and not any(folder.iterdir())
