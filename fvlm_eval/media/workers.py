"""Decoding in worker processes: each distinct media decoded once (or read from the frame cache).

The workers are torch DataLoader workers. They must never outlive the run that started them: a
run killed by SIGKILL (the OOM killer) or a signal it does not handle once left its workers
reparented to init and hung in multiprocessing's exit, holding the output folder's locks, so no
rerun could resume. So each worker, as it starts, asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, Linux) and runs a thread that ends it when its parent pid changes
(every platform; the fallback where ``prctl`` does not exist). The output folder's lock
descriptors are closed in every forked child as it is forked (``run_folder``), so a worker never
holds a lock even for the instant before it dies.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from fvlm_eval.interrupts import sigterm_received, stops_held
from fvlm_eval.media import MediaError
from fvlm_eval.media.decode import load_clip
from fvlm_eval.media.frame_cache import UNREPAIRABLE, FrameCache
from fvlm_eval.wording import counted

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_SECONDS = 0.5


def die_with_parent(parent: int, poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """End this process (at once, no clean-up: there is no one to clean up for) when ``parent`` ends."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl here: the thread below still ends this process
    if os.getppid() != parent:  # the parent died before prctl: no signal will come
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent, poll_seconds), name="fvlm-eval-parent-watch", daemon=True
    ).start()


def _watch_parent(parent: int, poll_seconds: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_seconds)
    os._exit(1)  # not sys.exit: multiprocessing's exit would wait on queues no one reads any more


class DieWithParent:
    """A DataLoader ``worker_init_fn``: the worker ends when ``parent`` (the process it decodes for) ends.

    SIGTERM sent to the whole process group (SLURM, torchrun, ``kill -TERM -PGID``) ends a worker
    quietly (exit 0): the parent gets it too and stops the run, saying how to resume; a worker killed
    by the signal would instead make the DataLoader raise in the parent, with a traceback."""

    def __init__(self, parent: int):
        self.parent = parent

    def __call__(self, worker_id: int) -> None:
        die_with_parent(self.parent)
        signal.signal(signal.SIGTERM, _leave_quietly)
        if hasattr(signal, "pthread_sigmask"):  # held back since the fork (``start_workers``): now it may come
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _leave_quietly(signum, frame) -> None:
    os._exit(0)


_STARTING_WORKERS = False


def start_workers(loader):
    """``iter(loader)`` (which forks the workers) with SIGTERM held back until it is done: a SIGTERM
    raised in the middle of it would be lost in a fork hook or leave a half-built iterator, and a
    worker must not die of it before it can leave quietly (``DieWithParent`` lets it through)."""
    global _STARTING_WORKERS
    hold = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}) if hold else None  # the workers inherit it
    _STARTING_WORKERS = True
    try:
        with stops_held():  # this process's own SIGTERM or Ctrl-C: raised once the iterator is whole
            try:
                return iter(loader)
            finally:
                _STARTING_WORKERS = False
                if hold:
                    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    finally:
        _STARTING_WORKERS = False


def _in_forked_child() -> None:
    if _STARTING_WORKERS:  # a decoding worker: SIGTERM stays held back until its worker_init_fn
        signal.signal(signal.SIGTERM, _leave_quietly)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_forked_child)


class MediaDataset:
    """Distinct media, decoded on demand: item i -> (key, Clip or error text, cache outcome, cache warning)."""

    def __init__(self, media: list, sampling, transform, cache_dir: Path | None):
        self.media, self.sampling, self.transform, self.cache_dir = media, sampling, transform, cache_dir

    def __len__(self) -> int:
        return len(self.media)

    def __getitem__(self, index: int):
        media = self.media[index]
        cache = FrameCache(self.cache_dir) if self.cache_dir else None
        outcome, warning = "off", None
        try:
            if cache is not None:
                key = cache.key(media, self.sampling, self.transform.key)
                clip, outcome = cache.get(key, media)
                if clip is not None:
                    return media.key, clip, outcome, None
            clip = load_clip(media, self.sampling, self.transform)
            if outcome == UNREPAIRABLE:
                warning = (
                    f"frame cache {self.cache_dir}: a corrupt entry cannot be removed (the cache is read-only); "
                    "its clips are decoded, not read from it"
                )
            elif cache is not None:
                try:
                    cache.put(key, media, clip)
                except OSError as error:
                    warning = (
                        f"frame cache {self.cache_dir}: cannot write ({error.strerror or type(error).__name__}); "
                        "clips are decoded, not cached"
                    )
            return media.key, clip, outcome, warning
        except MediaError as error:
            return media.key, str(error), outcome, warning
        except Exception as error:  # a decoder bug must not end the run: record it against the questions
            return media.key, f"decoding failed: {type(error).__name__}: {error}", outcome, warning


def _keep(item):
    return item


def usable_cpus() -> int:
    """The CPUs this process may run on: under taskset, a cgroup cpuset, SLURM or ``docker --cpuset-cpus`` fewer
    than the machine's cores (``os.cpu_count``), which oversubscribed them (a SLURM job given 8 of 64 started 16)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity on this platform (macOS, Windows)
        return os.cpu_count() or 1


def default_workers(count: int) -> int:
    return max(0, min(usable_cpus(), count, 16))


_SAID: set[str] = set()  # the notes on a capped --workers said so far (each once a process, not per benchmark)


def worker_count(asked: int | None, count: int) -> int:
    """The decoding processes for ``count`` media: the default, or ``asked`` (``--workers``) capped at the CPUs this
    process may use and at the media to decode (``--workers 100 --limit 2`` started 100 processes for 2 clips),
    with one note on stderr when a cap changes it."""
    if asked is None:
        return default_workers(count)
    cpus = usable_cpus()
    used = max(0, min(asked, cpus, count))
    if used < asked and count > 0:
        if cpus < min(asked, count):
            key, why = "cpus", f"this process may run on {counted(cpus, 'CPU')}"
        else:
            key, why = "media", f"only {counted(count, 'clip')} to decode"
        if key not in _SAID:
            _SAID.add(key)
            into = "in this process" if used <= 1 else f"in {used} processes"
            sys.stderr.write(f"note: --workers {asked}: {why}; decoding {into}\n")
    return used


def decoded(media: list, sampling, transform, workers: int | None, cache_dir: Path | None):
    from torch.utils.data import DataLoader

    workers = worker_count(workers, len(media))
    dataset = MediaDataset(media, sampling, transform, cache_dir)
    if workers <= 1:  # in this process: no start-up cost for a handful of clips
        yield from (dataset[i] for i in range(len(dataset)))
        return
    context = "fork" if sys.platform.startswith("linux") else None  # the parent is this process (not a forkserver)
    with warnings.catch_warnings():  # torch's "This DataLoader will create N worker processes": the count is capped
        warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
        loader = DataLoader(
            dataset,
            batch_size=None,
            shuffle=False,
            num_workers=workers,
            collate_fn=_keep,
            prefetch_factor=4,
            multiprocessing_context=context,
            worker_init_fn=DieWithParent(os.getpid()),
        )
        iterator = start_workers(loader)
    watch = WorkerWatch(list(getattr(iterator, "_workers", ())))
    done = 0  # the loader yields in order: media[done:] are still to come
    try:
        while True:
            try:
                with watch.waiting():
                    item = next(iterator)
            except StopIteration:
                return
            except (WorkerDied, RuntimeError):
                died = watch.died(reaped_is_dead=True)
                if died is None:
                    raise
                break
            done += 1
            yield item
    finally:
        watch.stop()
    iterator._shutdown_workers()  # the rest of them; torch's own clean-up of a loader that lost a worker
    said = f"a decoding worker died ({died}); its clips and the rest were decoded in this process"
    for index in range(done, len(media)):
        key, clip, outcome, warning = dataset[index]
        yield key, clip, outcome, warning or said


class WorkerDied(Exception):
    """Raised in the main thread, inside ``next()`` of the loader, when a decoding worker died."""


class WorkerWatch:
    """Notices a decoding worker that died (SIGKILL by the OOM killer, a crash) while the run waits for its
    clips, and ends the wait. Without it the run could wait for ever: a worker killed in the middle of
    writing a clip to the result pipe leaves a partial message, and the main thread blocks reading the
    rest of it (the kernel's SIGCHLD may go to another thread and never interrupt that read).

    A thread looks every ``poll_seconds`` (``waitid`` with ``WNOWAIT``: the worker is not reaped, torch
    still sees it) and, while the main thread is inside ``next()``, sends it SIGCHLD; this module's
    handler raises ``WorkerDied`` there and only there."""

    def __init__(self, workers: list, poll_seconds: float = 0.5):
        self.workers, self.poll_seconds = [w for w in workers if w.pid], poll_seconds
        self.inside, self.stopped = False, threading.Event()
        self.armed = (
            bool(self.workers)
            and hasattr(os, "waitid")
            and hasattr(signal, "pthread_kill")
            and threading.current_thread() is threading.main_thread()
        )
        if self.armed:
            self.previous = signal.signal(signal.SIGCHLD, self._on_child)
            threading.Thread(target=self._watch, name="fvlm-eval-worker-watch", daemon=True).start()

    def died(self, reaped_is_dead: bool = False) -> str | None:
        """How the first worker that ended abnormally ended, or ``None``. ``reaped_is_dead``: after the
        loader raised, a worker already reaped (torch's liveness check reaps it) ended unexpectedly too."""
        for worker in self.workers:
            try:
                status = os.waitid(os.P_PID, worker.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:  # reaped already: its exit code is kept (negative: the signal)
                if not reaped_is_dead or worker.exitcode is None:
                    continue
                killed, number = worker.exitcode < 0, abs(worker.exitcode)
            else:
                if status is None:
                    continue
                killed, number = status.si_code != os.CLD_EXITED, status.si_status
            if not killed and number == 0:
                if sigterm_received():
                    continue  # left quietly as SIGTERM reached the whole group: the run is stopping anyway
                return f"pid {worker.pid}, stopped on its own (a SIGTERM or Ctrl-C sent to it alone)"
            return f"pid {worker.pid}, " + (
                f"killed by {signal.Signals(number).name}" if killed else f"exit code {number}"
            )
        return None

    @contextmanager
    def waiting(self):
        """Inside: the main thread waits in ``next()``, where ``WorkerDied`` may be raised."""
        if self.armed and self.died():
            raise WorkerDied()
        self.inside = True
        try:
            yield
        finally:
            self.inside = False

    def _on_child(self, signum, frame) -> None:
        if self.died():  # ours: raised in the wait, never in the middle of scoring (noticed at the next wait)
            if self.inside:
                self.inside = False
                raise WorkerDied()
        elif callable(self.previous):  # another child (torch's handler for the program's own loaders)
            self.previous(signum, frame)

    def _watch(self) -> None:
        main = threading.main_thread().ident
        while not self.stopped.wait(self.poll_seconds):
            if self.inside and self.died():
                signal.pthread_kill(main, signal.SIGCHLD)

    def stop(self) -> None:
        self.stopped.set()
        if self.armed and signal.getsignal(signal.SIGCHLD) is self._on_child:
            signal.signal(signal.SIGCHLD, self.previous)
