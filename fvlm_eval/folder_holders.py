"""Who holds a run folder's locks now, read without taking them: shared by ``run`` and ``reports``.

``run`` holds each ``<benchmark>/<mode>`` folder it writes by an ``flock`` on its ``.fvlm-eval.lock`` (a
shard: shared, and its own ``.fvlm-eval.shard-I-of-N.lock`` exclusively), and writes a holder line
(``pid N on HOST since WHEN (command)``) into the file it holds exclusively. ``run`` names the holder when
it is refused; ``reports`` and ``merge`` tell a folder a live run is writing from one whose run stopped.

Nothing here locks, probes or writes a lock file: it reads ``/proc`` (the processes of this machine that
hold a lock file open: a run keeps it open exactly while it holds the lock) and the holder line, so it
can never make a starting run be refused. A process on another machine is seen only by its holder line.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LOCK_FILES = ".fvlm-eval*.lock"  # a folder's lock and its shards' (glob)
HOLDER_LINE = re.compile(r"pid (\d+) on (\S+) since (.+?)(?: \(.*)?$", re.DOTALL)
NAMED = 4  # processes named in words; the rest counted


def processes_with_open(paths: Iterable[Path]) -> dict[str, list[int]]:
    """Real path -> pids of this machine's processes that have it open (one pass over Linux ``/proc``;
    empty elsewhere, and for a process whose descriptors are not ours to read)."""
    targets: dict[str, set[int]] = {os.path.realpath(p): set() for p in paths}
    if not targets or not os.path.isdir("/proc/self/fd"):
        return {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            descriptors = list(os.scandir(f"/proc/{entry.name}/fd"))
        except OSError:  # gone, or another user's
            continue
        for descriptor in descriptors:
            try:
                link = os.readlink(descriptor.path)
            except OSError:  # closed meanwhile
                continue
            if link in targets:
                targets[link].add(int(entry.name))
    return {path: sorted(pids) for path, pids in targets.items() if pids}


def lock_holders(path: Path) -> list[int]:
    """Pids of this machine's processes that have ``path`` open (Linux ``/proc``; empty elsewhere)."""
    return processes_with_open([path]).get(os.path.realpath(path), [])


def command_of(pid: int) -> str:
    """Process ``pid``'s command line, cut at 120 characters with a mark ("?" when it cannot be read)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(w.decode(errors="replace") for w in words if w)
    return text if len(text) <= 120 else text[:119] + "…"


def holder_line(path: Path) -> tuple[int, str, str] | None:
    """(pid, host, since) of the holder line a lock file holds, or None (no line, unreadable, or no file)."""
    try:
        with open(path, "rb") as handle:  # read only: never created, locked or written
            text = handle.read(4096).decode(errors="replace").strip()
    except OSError:
        return None
    match = HOLDER_LINE.match(text)
    return (int(match.group(1)), match.group(2), match.group(3)) if match else None


@dataclass(frozen=True)
class Writers:
    """Who is writing a folder, in words: ``here``, this machine's processes holding its locks now ("" for none);
    ``elsewhere``, the holder another machine's run wrote into its lock, which may still be writing it ("")."""

    here: str = ""
    elsewhere: str = ""


def writers(folders: Iterable[Path]) -> dict[Path, Writers]:
    """Per folder of ``folders`` with a lock file that a process other than this one holds, or whose holder line
    names another machine: who (one pass over ``/proc`` for them all)."""
    locks = {Path(folder): sorted(Path(folder).glob(LOCK_FILES)) for folder in folders}
    held = processes_with_open(path for paths in locks.values() for path in paths)
    here_host, found = socket.gethostname(), {}
    for folder, paths in locks.items():
        named: dict[int, str] = {}  # pid -> words: a holder line first, else the command line
        elsewhere = ""
        for path in paths:
            pids = [pid for pid in held.get(os.path.realpath(path), []) if pid != os.getpid()]
            line = holder_line(path)
            if line and line[1] != here_host:
                elsewhere = elsewhere or f"pid {line[0]} on {line[1]} since {line[2]}"
            elif line and line[0] in pids:
                named[line[0]] = f"pid {line[0]} on {line[1]} since {line[2]}"
            for pid in pids:
                named.setdefault(pid, f"pid {pid} ({command_of(pid)})")
        here = ", ".join(list(named.values())[:NAMED]) + (" and more" if len(named) > NAMED else "")
        if here or elsewhere:
            found[folder] = Writers(here, "" if here else elsewhere)
    return found
