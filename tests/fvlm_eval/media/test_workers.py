"""Decoding workers and SIGTERM: a stop sent to the whole process group (SLURM, torchrun) at any moment,
even while the workers are being forked, ends the run as a stop, with no traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from fvlm_eval.tasks.fixtures.media import write_video

SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    from fvlm_eval.media.workers import decoded
    from fvlm_eval.interrupts import stops_as_interrupts
    from fvlm_eval.models.fvlm import FRAME_TRANSFORM
    from fvlm_eval.types import Media, Sampling

    media = [Media("video", f"b/{i}", path) for i, path in enumerate(sys.argv[2:])]
    def stop_everyone():
        time.sleep(float(sys.argv[1]))
        os.killpg(0, signal.SIGTERM)
    with stops_as_interrupts():
        try:
            threading.Thread(target=stop_everyone, daemon=True).start()
            for item in decoded(media, Sampling("uniform", 8), FRAME_TRANSFORM, 2, None):
                time.sleep(0.3)
            print("finished before the signal")
        except KeyboardInterrupt as stop:
            print("stopped:", type(stop).__name__, flush=True)
""")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    return [str(write_video(root / f"{i}.mp4", 40)) for i in range(10)]


@pytest.mark.parametrize("delay", [0.005, 0.02, 0.6])
def test_sigterm_to_the_whole_group_while_workers_start_or_decode(delay, videos):
    """0.005 and 0.02 s: while the DataLoader forks its workers; 0.6 s: while they decode."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(delay), *videos],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )  # its own process group: the signal stays in it
    assert done.stdout.strip().splitlines()[-1:] == ["stopped: Terminated"], done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


@pytest.mark.parametrize("signal_name, said", [("SIGKILL", "killed by SIGKILL"), ("SIGTERM", "stopped on its own")])
def test_a_decoding_worker_killed_mid_run_is_replaced_by_decoding_here(videos, signal_name, said, monkeypatch):
    """SIGKILL of a worker (the OOM killer), or SIGTERM to it alone, while clips flow: the wait for its clips ends
    (it once lasted for ever), every clip comes once, in order, equal to decoding in this process, and one line
    says what happened."""
    import os
    import signal

    import numpy as np

    from fvlm_eval.media import workers as workers_module
    from fvlm_eval.media.workers import decoded
    from fvlm_eval.models.fvlm import FRAME_TRANSFORM
    from fvlm_eval.types import Media, Sampling
    from tests.processes import live_processes

    monkeypatch.setattr(workers_module, "usable_cpus", lambda: 2)  # two workers, however few CPUs this test has
    media = [Media("video", f"b/{i}", path) for i, path in enumerate(videos)]
    sampling = Sampling("uniform", 8)
    expected = {key: clip for key, clip, _, _ in decoded(media, sampling, FRAME_TRANSFORM, 0, None)}
    seen, warnings = [], []
    children = lambda: set(live_processes(lambda pid, ppid, cmd: ppid == os.getpid()))  # noqa: E731
    others = children()  # this test process's own other children (a browser driver, say)
    for key, clip, _, warning in decoded(media, sampling, FRAME_TRANSFORM, 2, None):
        if not seen:
            workers = sorted(children() - others)
            assert len(workers) == 2
            os.kill(workers[0], getattr(signal, signal_name))
        seen.append(key)
        warnings.append(warning)
        assert np.array_equal(clip.frames, expected[key].frames) and clip.timestamps == expected[key].timestamps
    assert seen == [m.key for m in media]
    lines = {w for w in warnings if w}
    assert len(lines) == 1 and "a decoding worker died" in str(lines) and said in str(lines)
    assert not children() - others


FORKED_AFTER_DECODING_HERE = textwrap.dedent("""
    import sys
    from fvlm_eval.media.decode import load_clip
    from fvlm_eval.media.workers import decoded
    from fvlm_eval.models.fvlm import FRAME_TRANSFORM
    from fvlm_eval.types import Media, Sampling

    media = [Media("video", f"b/{i}", path) for i, path in enumerate(sys.argv[1:])]
    load_clip(media[0], Sampling("uniform", 8), FRAME_TRANSFORM)  # a frame scaled in this process first
    clips = list(decoded(media, Sampling("uniform", 8), FRAME_TRANSFORM, 2, None))  # then forked workers'
    print("decoded", len(clips))
""")


def test_a_worker_forked_after_this_process_decoded_a_frame_does_not_hang(videos):
    """With PyAV 18.1.1, swscale's thread pool of a frame scaled here was inherited by the forked decoding worker
    without its threads: the worker waited forever (a run with --workers after decoding here, e.g. the API called
    again, or the test suite, hung)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", FORKED_AFTER_DECODING_HERE, *videos[:3]], capture_output=True, text=True, timeout=90
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the forked decoding worker hung")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "decoded 3" in done.stdout


def test_the_default_counts_the_cpus_this_process_may_use(monkeypatch):
    """Under taskset, a cgroup cpuset or SLURM the default was the machine's cores (os.cpu_count): a job given 8 of
    64 CPUs started 16 workers, and torch warned twice that they were too many."""
    from fvlm_eval.media import workers

    monkeypatch.setattr(workers.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert workers.usable_cpus() == 3 and workers.default_workers(10) == 3 and workers.default_workers(2) == 2


def test_more_workers_than_cpus_or_clips_are_capped_with_one_note(monkeypatch, capsys):
    """`--workers 100 --limit 2` started 100 processes for 2 clips (and torch's raw warning); an explicit count
    was bounded by nothing."""
    from fvlm_eval.media import workers

    monkeypatch.setattr(workers, "usable_cpus", lambda: 4)
    monkeypatch.setattr(workers, "_SAID", set())
    assert [workers.worker_count(100, 10), workers.worker_count(100, 10), workers.worker_count(8, 3)] == [4, 4, 3]
    assert workers.worker_count(0, 10) == 0 and workers.worker_count(3, 10) == 3 and workers.worker_count(None, 2) == 2
    assert capsys.readouterr().err.splitlines() == [
        "note: --workers 100: this process may run on 4 CPUs; decoding in 4 processes",
        "note: --workers 8: only 3 clips to decode; decoding in 3 processes",
    ]


PINNED_TO_ONE_CPU = textwrap.dedent("""
    import os, sys
    from fvlm_eval.media.workers import decoded
    from fvlm_eval.models.fvlm import FRAME_TRANSFORM
    from fvlm_eval.types import Media, Sampling

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # as `taskset -c 0` would
    media = [Media("video", f"b/{i}", path) for i, path in enumerate(sys.argv[1:])]
    for workers in (None, 100):
        print("decoded", len(list(decoded(media, Sampling("uniform", 4), FRAME_TRANSFORM, workers, None))))
""")


def test_decoding_pinned_to_one_cpu_raises_no_torch_warning(videos):
    """`taskset -c 0 fvlm-eval run ...` printed torch's "This DataLoader will create 2 worker processes" twice,
    and under PYTHONWARNINGS=error ended as "an unexpected error" with nothing scored."""
    import os

    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", PINNED_TO_ONE_CPU, *videos[:3]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr[-2000:]
    assert done.stdout.split() == ["decoded", "3", "decoded", "3"]
