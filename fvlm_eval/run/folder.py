"""A run's output folder: its locks, the settings it was made with, its record files, shards and their merge.

Per (benchmark, mode) a folder holds ``samples.jsonl`` (or, while sharded, one
``samples.shard-I-of-N.jsonl`` per shard plus a ``shard-I-of-N.json`` completion marker),
``settings.json`` (what a resumed run must match) and ``summary.json``. One process holds a folder
at a time (``FolderLock``); shards hold it shared, each its own shard lock exclusively. ``merge``
joins finished shards into ``samples.jsonl`` and ``summary.json``.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from pathlib import Path

from fvlm_eval.errors import ExitCode, FvlmEvalError, RecordError
from fvlm_eval.files import read_json, write_json_atomic
from fvlm_eval.models.base import ModelAdapter
from fvlm_eval.records import Record, latest_by_id, read_records, write_records
from fvlm_eval.summarize import summarize_records
from fvlm_eval.summary import Summary
from fvlm_eval.tasks import Benchmark
from fvlm_eval.types import MODEL_IDENTITY

SAMPLES = "samples.jsonl"


class RunRefused(FvlmEvalError, RuntimeError):
    """An output folder this run must not write into (other settings, or another run holds it)."""

    exit_code = ExitCode.REFUSED


_HELD: set["FolderLock"] = set()  # the locks this process holds (a forked child closes its copies)


class FolderLock:
    """An advisory lock on an output folder (``flock``; released when the process ends, however).

    A whole run takes it exclusively; shards take it shared and their own shard lock exclusively,
    so shards run side by side but never beside a whole run or a merge, nor twice.

    An ``flock`` belongs to the open file, not the process: a child that inherited the descriptor
    would keep the folder locked after the run died. So the descriptor is opened close-on-exec
    (never passed to a program started with exec) and closed in every child forked with
    ``os.fork`` (multiprocessing's workers) as it is forked, without unlocking the parent's lock.
    """

    def __init__(self, folder: Path, name: str = ".fvlm-eval.lock", shared: bool = False):
        self.path = Path(folder) / name
        self.shared = shared
        self.fd: int | None = None

    def acquire(self) -> "FolderLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            os.close(fd)
            why = _stale_holder(self.path, holder)
            raise RunRefused(
                f"{self.path.parent} is in use by {holder or 'another process'}{why}; "
                "wait for it to finish or use another --output-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if not self.shared:
            os.ftruncate(fd, 0)
            os.pwrite(
                fd,
                f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')} "
                f"({' '.join(sys.argv[:6])})".encode(),
                0,
            )
        self.fd = fd
        _HELD.add(self)
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        _HELD.discard(self)


def _forget_inherited_locks() -> None:
    """In a freshly forked child: close its copies of the parent's lock descriptors (the parent keeps its lock)."""
    for lock in list(_HELD):
        if lock.fd is not None:
            try:
                os.close(lock.fd)
            except OSError:
                pass
            lock.fd = None
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_locks)


def _stale_holder(path: Path, holder: str) -> str:
    """When the process the lock file names is dead, yet the lock is held: who holds it (this machine only)."""
    match = re.match(r"pid (\d+) on (\S+)", holder)
    if not match or match.group(2) != socket.gethostname() or _alive(int(match.group(1))):
        return ""
    holders = [pid for pid in lock_holders(path) if pid != os.getpid()]
    if not holders:
        return f" (pid {match.group(1)} is no longer running, yet another process holds the lock)"
    named = ", ".join(f"pid {pid} ({_command(pid)})" for pid in holders[:4])
    return (
        f" (pid {match.group(1)} is no longer running; the lock is held by {named}, left behind by it: "
        f"end {'it' if len(holders) == 1 else 'them'} and rerun)"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def lock_holders(path: Path) -> list[int]:
    """Pids of this machine's processes that have ``path`` open (Linux ``/proc``; empty elsewhere)."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return []
    target = os.path.realpath(path)
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                found.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return sorted(found)


def _command(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(w.decode(errors="replace") for w in words if w)
    return text if len(text) <= 60 else text[:59] + "…"


def comparable_settings(benchmark: Benchmark, mode: str, model: ModelAdapter, cloze_framing: str) -> dict:
    """What must not change between a run and its resumption (or between two compared runs)."""
    description = model.describe()
    return {
        "benchmark": benchmark.name,
        "mode": mode,
        **benchmark.settings(),
        "family": description.get("family"),
        "model_sha256": description.get("sha256"),
        "prompt": description.get("prompt_format"),
        "cloze_framing": cloze_framing,
        "frame_transform": description.get("frame_transform"),
        "dtype": description.get("dtype"),
    }


def check_settings(folder: Path, current: dict) -> None:
    path = folder / "settings.json"
    if path.is_file():
        previous = read_json(path)
        if not isinstance(previous, dict):
            raise RunRefused(
                f"{path}: not a settings object, so what made the records beside it is unknown; use another "
                "--output-dir or remove that folder"
            )
        if previous != current:
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            raise RunRefused(
                f"{folder} holds records made with other settings ({', '.join(changed)} differ); "
                "use another --output-dir or remove that folder"
            )
    else:
        recorded = [f.name for f in record_files(folder) if f.is_file() and f.stat().st_size]
        if recorded:  # records of unknown settings: any model, frames or dtype could have made them
            raise RunRefused(
                f"{folder} holds records ({', '.join(recorded)}) but no settings.json, so what made them is unknown; "
                "use another --output-dir, or remove those record files to score again"
            )
        _one_model(folder, current)
        write_json_atomic(path, current)


def _one_model(folder: Path, current: dict) -> None:
    """Refuse a new ``<benchmark>/<mode>`` folder in an output folder whose other runs another model made (another
    checkpoint, family or dtype): a report would show them side by side as one run."""
    output = folder.parent.parent
    for other in sorted(output.glob("*/*/settings.json")):
        if other.parent == folder:
            continue
        try:
            settings = read_json(other)
        except RecordError:
            continue  # unreadable: said where it is read
        differ = [k for k in MODEL_IDENTITY if isinstance(settings, dict) and settings.get(k) != current.get(k)]
        if differ:
            shown = "; ".join(f"{k} {str(settings.get(k))[:12]!r} vs {str(current.get(k))[:12]!r}" for k in differ)
            raise RunRefused(
                f"{output} holds another model's runs ({other.parent.relative_to(output)}: {shown}): one output "
                "folder holds one model's; use another --output-dir"
            )


def record_files(folder: Path) -> list[Path]:
    """``samples.jsonl`` and every shard's record file in ``folder`` (the merged one first)."""
    return [folder / SAMPLES] + sorted(folder.glob("samples.shard-*.jsonl"))


def read_all_records(folder: Path) -> dict[str, Record]:
    """One record per id over every record file; the most recently recorded wins."""
    merged: dict[str, Record] = {}
    for path in record_files(folder):
        for record in latest_by_id(read_records(path)).values():
            if record.id not in merged or record.recorded_at >= merged[record.id].recorded_at:
                merged[record.id] = record
    return merged


def consolidate(folder: Path, order: list[str]) -> dict[str, Record]:
    """Fold every shard record file of ``folder`` into ``samples.jsonl`` (the selected questions in
    order, then any other recorded ids: nothing recorded is dropped), and remove the shard files."""
    records = read_all_records(folder)
    shard_files = list(folder.glob("samples.shard-*.jsonl"))
    if shard_files:
        chosen = set(order)
        write_records(
            folder / SAMPLES,
            [records[i] for i in order if i in records] + [records[i] for i in sorted(records) if i not in chosen],
        )
        for path in shard_files:
            path.unlink()
    return records


def write_summary(
    folder: Path, benchmark: Benchmark, order: list[str], protocol: str, notes, problems, manifest_: dict, timing: dict
) -> Summary:
    """``summary.json`` of one (benchmark, mode) folder from its records of the selected questions
    (shard record files left by an earlier sharded attempt are folded in first)."""
    records = consolidate(folder, order)
    selected = [records[i] for i in order if i in records]
    seconds = timing.get("seconds") or 0.0
    summary = summarize_records(benchmark, folder.name, selected, len(order), protocol, notes, problems).replace(
        timing={
            **timing,
            "questions_per_second": timing.get("scored_this_invocation", 0) / seconds if seconds else 0.0,
        },
        manifest=manifest_,
        questions=tuple(i for i in order if i in records),
    )  # the selection this summary counts
    write_json_atomic(folder / "summary.json", summary.to_json())
    return summary
