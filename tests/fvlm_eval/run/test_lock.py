"""One output folder, one model, also when two runs start together."""

from __future__ import annotations

import multiprocessing

from fvlm_eval.run.folder import check_settings
from fvlm_eval.run.lock import RunRefused


def _settle(folder, identity: str, barrier, results) -> None:
    barrier.wait()
    try:
        check_settings(folder, {"family": identity, "model_sha256": identity, "dtype": "float32"})
        results.put("accepted")
    except RunRefused:
        results.put("refused")


def test_two_models_started_together_cannot_both_take_one_output_folder(tmp_path):
    """Each run checked the other runs' settings, then wrote its own, with nothing holding the output folder between
    the two: started at a barrier, two models' runs both passed in 38 of 40 trials."""
    context = multiprocessing.get_context("fork")
    for trial in range(12):
        output = tmp_path / f"out{trial}"
        folders = [output / benchmark / "coarse_fine" for benchmark in ("mvbench", "scienceqa")]
        for folder in folders:
            folder.mkdir(parents=True)
        barrier, results = context.Barrier(2), context.Queue()
        workers = [
            context.Process(target=_settle, args=(folder, identity, barrier, results))
            for folder, identity in zip(folders, ("fvlm-a", "smolvlm-b"))
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert sorted(results.get(timeout=5) for _ in workers) == ["accepted", "refused"], f"trial {trial}"


def test_a_full_disk_while_the_lock_is_written_names_the_lock_file_and_leaves_nothing(tmp_path, monkeypatch):
    """`cannot read or write: No space left on device` named no file, and left an empty lock file behind."""
    import errno

    import pytest

    from fvlm_eval.run import lock

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock.os, "pwrite", full)
    folder = tmp_path / "out" / "mvbench" / "coarse_fine"
    with pytest.raises(OSError) as raised:
        lock.FolderLock(folder).acquire()
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(folder / ".fvlm-eval.lock")
    assert not (tmp_path / "out").exists()  # what it made is taken away again
    monkeypatch.undo()
    held = lock.FolderLock(folder).acquire()
    assert "since 20" in (folder / ".fvlm-eval.lock").read_text()  # the holder's date, not only a time of day
    held.release()


def test_a_folder_held_by_shards_names_the_processes_that_hold_it(tmp_path):
    """Shards hold a folder shared and write no holder line: a whole run was refused with "in use by another
    process", though the docs say the lock names its holder."""
    import subprocess
    import sys

    import pytest

    from fvlm_eval.run.lock import FolderLock

    folder = tmp_path / "mvbench" / "coarse_only"
    holder = (
        "import sys, time; from pathlib import Path; from fvlm_eval.run.lock import FolderLock; "
        f"FolderLock(Path({str(folder)!r}), shared=True).acquire(); print('held', flush=True); time.sleep(60)"
    )
    shard = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert shard.stdout.readline().strip() == "held"
        with pytest.raises(RunRefused) as refused:
            FolderLock(folder).acquire()
        assert f"is in use by pid {shard.pid} ({sys.executable} -c " in str(refused.value)
    finally:
        shard.kill()
        shard.wait()


def test_a_run_of_every_mode_stopped_before_its_first_record_leaves_no_folder(tmp_path):
    """`--mode all` stopped before its first record took its three mode folders away but left videomme/ and the
    output folder it had made, empty."""
    from fvlm_eval.run.lock import FolderLock

    output = tmp_path / "st3"
    locks = [FolderLock(output / "videomme" / mode).acquire() for mode in ("coarse_only", "coarse_fine", "ar")]
    for lock in locks:
        lock.release()
    assert not output.exists()
    (tmp_path / "kept").mkdir()  # a folder that was there before is never taken away
    FolderLock(tmp_path / "kept" / "videomme" / "coarse_only").acquire().release()
    assert (tmp_path / "kept").is_dir() and not (tmp_path / "kept" / "videomme").exists()


def test_a_long_command_line_in_the_holder_line_is_cut_with_a_mark(tmp_path, monkeypatch):
    """The holder line keeps the command's first 12 words: `... --workers 0 --frame-cache)` read as a whole
    command though the flag's value was cut away."""
    from fvlm_eval.run import lock

    folder = tmp_path / "out" / "mvbench" / "coarse_fine"
    words = ["fvlm-eval", "run", "mvbench", "--data-dir", "d", "--model", "m", "--workers", "0", "--frame-cache"]
    monkeypatch.setattr(lock.sys, "argv", [*words, "/the/cache", "--limit", "3"])
    held = lock.FolderLock(folder).acquire()
    assert (folder / ".fvlm-eval.lock").read_text().endswith("--frame-cache /the/cache --limit …)")
    held.release()
    monkeypatch.setattr(lock.sys, "argv", words)
    held = lock.FolderLock(folder).acquire()
    assert (folder / ".fvlm-eval.lock").read_text().endswith("--frame-cache)")
    held.release()


def test_a_missing_or_odd_sys_argv_still_takes_the_lock_and_names_its_holder(tmp_path, monkeypatch):
    """An embedded interpreter's `sys.argv` (missing, None, or holding a Path or an undecodable byte) raised a raw
    AttributeError or TypeError from the lock, and left the folder locked by this process."""
    from pathlib import Path

    from fvlm_eval.run import lock

    folder = tmp_path / "out" / "mvbench" / "coarse_fine"
    for argv, shown in ((None, "(no command line)"), ([Path("the/script.py"), "-\udcff"], "(the/script.py -?)")):
        monkeypatch.setattr(lock.sys, "argv", argv)
        held = lock.FolderLock(folder).acquire()
        assert (folder / ".fvlm-eval.lock").read_text().endswith(shown)
        held.release()
    monkeypatch.delattr(lock.sys, "argv")
    held = lock.FolderLock(folder).acquire()
    assert (folder / ".fvlm-eval.lock").read_text().endswith("(no command line)")
    held.release()


def test_an_error_after_the_lock_is_taken_lets_it_go_so_the_next_run_of_this_process_gets_it(tmp_path, monkeypatch):
    """Anything but an OSError raised while the holder line was written left the descriptor open: the folder stayed
    locked by this process, and its next run was refused as "in use by another process" until the interpreter
    ended."""
    import pytest

    from fvlm_eval.run import lock

    def broken(*_):
        raise RuntimeError("no host name")

    monkeypatch.setattr(lock.socket, "gethostname", broken)
    folder = tmp_path / "out" / "mvbench" / "coarse_fine"
    with pytest.raises(RuntimeError, match="no host name"):
        lock.FolderLock(folder).acquire()
    assert not any(held.path.parent == folder for held in lock._HELD)
    assert not (tmp_path / "out").exists()  # what it made is taken away again
    monkeypatch.undo()
    held = lock.FolderLock(folder).acquire()  # not refused: nothing of this process holds it
    held.release()
