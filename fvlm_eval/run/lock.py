"""The locks of a run's output folders: one process writes a ``<benchmark>/<mode>`` folder at a time.

``FolderLock`` holds a folder (shards hold it shared, each its own shard lock exclusively); a refused run,
or one stopped before its first record, takes away what it made there (``created``). ``models_decided``
holds the whole output folder while a run checks which model its other runs were made by and writes its
own settings, so two runs of two models started together cannot both pass that check. Who holds a folder
(read, never taken) is ``fvlm_eval.folder_holders``'s, which the reports wing reads too.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from fvlm_eval.errors import ExitCode, FvlmEvalError
from fvlm_eval.files import process_alive
from fvlm_eval.folder_holders import NAMED, command_of, lock_holders


class RunRefused(FvlmEvalError, RuntimeError):
    """An output folder this run must not write into (other settings, or another run holds it). Written with the
    CLI's flag (``cli_message``: ``use another --output-dir``); ``str(error)`` names ``evaluate``'s argument."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str):
        super().__init__(message.replace("--output-dir", "output_dir"))
        self.cli_message = message


_HELD: set["FolderLock"] = set()  # the locks this process holds (a forked child closes its copies)
LOCK_NAME = re.compile(r"\.fvlm-eval(\..+)?\.lock")  # the folder's lock and the shards' own


# per folder this process holds a lock in: what the folder held then (but lock files), and what the process
# created there (lock files, settings.json): at its last release there, a process that wrote nothing else takes
# these away again, and the folders it made (a refused run leaves the output folder as it found it)
_FOUND: dict[Path, tuple[dict, set[str]]] = {}
_MADE: set[Path] = set()  # every folder this process made for a lock: removed once empty at a tidy-up


class FolderLock:
    """An advisory lock on an output folder (``flock``; released when the process ends, however).

    A whole run takes it exclusively; shards take it shared and their own shard lock exclusively,
    so shards run side by side but never beside a whole run or a merge, nor twice.

    An ``flock`` belongs to the open file, not the process: a child that inherited the descriptor
    would keep the folder locked after the run died. So the descriptor is opened close-on-exec
    (never passed to a program started with exec) and closed in every child forked with
    ``os.fork`` (multiprocessing's workers) as it is forked, without unlocking the parent's lock.

    A lock file may be removed (``remove_if_free``, and when a process releases a folder it changed
    nothing in): a lock is only held once the file locked is still the one the path names.
    """

    def __init__(self, folder: Path, name: str = ".fvlm-eval.lock", shared: bool = False):
        self.path = Path(folder) / name
        self.shared = shared
        self.fd: int | None = None

    def acquire(self) -> "FolderLock":
        import fcntl

        folder = self.path.parent
        if not _holding(folder) and folder not in _FOUND:
            made = [p for p in (folder, *folder.parents) if not p.exists()][::-1]  # outermost first
            folder.mkdir(parents=True, exist_ok=True)
            _FOUND[folder] = (_contents(folder), set())
            _MADE.update(made)
        try:
            while True:  # another process may remove the file (or the folder) between open and flock: again
                folder.mkdir(parents=True, exist_ok=True)
                try:
                    fd, created = _open(self.path)
                except FileNotFoundError:
                    continue
                try:
                    fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                    if _names(fd, self.path):
                        break
                except BlockingIOError:
                    try:
                        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                    finally:
                        os.close(fd)
                    why = _stale_holder(self.path, holder)
                    raise RunRefused(
                        f"{self.path.parent} is in use by {holder or _sharers(self.path)}{why}; "
                        "wait for it to finish or use another --output-dir"
                    ) from None
                except BaseException:  # whatever it was, the descriptor is closed: its lock leaked otherwise
                    os.close(fd)
                    raise
                os.close(fd)
        except BaseException:
            if not _holding(folder):
                _tidy(folder)
            raise
        if created and folder in _FOUND:
            _FOUND[folder][1].add(self.path.name)
        if not self.shared:  # who holds it, for the one that is refused: the day too (a lock may be days old)
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, _holder_line().encode(errors="replace"), 0)
            except BaseException as error:  # the lock let go, whatever it was: a leaked descriptor kept the folder
                os.close(fd)  # locked, so this process's next run was refused as "in use by another process"
                if not _holding(folder):
                    _tidy(folder)
                if isinstance(error, OSError):  # a full disk: said of the lock file, not of nothing
                    raise OSError(error.errno, error.strerror, str(self.path)) from error
                raise
        self.fd = fd
        _HELD.add(self)
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            _HELD.discard(self)
            if not _holding(self.path.parent):
                _tidy(self.path.parent)
        _HELD.discard(self)

    def remove_if_free(self) -> bool:
        """Remove the lock file when no process holds it (taken exclusively without waiting, and removed while
        held); ``False`` when one does (it is left)."""
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _names(fd, self.path):
                self.path.unlink()
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)


def _holder_line() -> str:
    """Who holds a folder: pid, host, since when, and the command's first 12 words. ``sys.argv`` may be missing,
    ``None`` or hold what is not text (an embedded interpreter, a notebook host): the line is made all the same."""
    since = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    argv = getattr(sys, "argv", None)
    try:
        words = [str(word) for word in argv] if isinstance(argv, (list, tuple)) else []
    except Exception:  # a word whose str() raises
        words = []
    command = " ".join(words[:12]) + (" …" if len(words) > 12 else "") if words else "no command line"
    return f"pid {os.getpid()} on {socket.gethostname()} since {since} ({command})"


def _open(path: Path) -> tuple[int, bool]:
    """A descriptor on the lock file (close-on-exec), and whether this call created it."""
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666), True
    except FileExistsError:
        return os.open(path, flags), False


def _names(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed, nor replaced, meanwhile)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _holding(folder: Path) -> bool:
    return any(lock.path.parent == folder for lock in _HELD)


def _contents(folder: Path) -> dict[str, tuple]:
    """What ``folder`` holds but its lock files: name -> (inode, size, mtime)."""
    found = {}
    try:
        for entry in os.scandir(folder):
            if not LOCK_NAME.fullmatch(entry.name):
                stat = entry.stat(follow_symlinks=False)
                found[entry.name] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    except OSError:  # gone meanwhile: a difference, so nothing is taken away
        pass
    return found


def _tidy(folder: Path) -> None:
    """At this process's last release of ``folder``: when it wrote nothing there but its lock files and
    ``settings.json`` (a refused run, one stopped before its first record), remove what it created, the
    folders too; never while another process holds the folder."""
    import fcntl

    before, mine = _FOUND.pop(folder, ({}, set()))
    if folder not in _MADE and not mine:
        return
    path = folder / ".fvlm-eval.lock"
    try:
        fd, created = _open(path)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        now = _contents(folder)
        if not _names(fd, path) or {k: v for k, v in now.items() if k not in mine} != before:
            return  # the run wrote into it: what it made stays
        for name in sorted(mine | ({path.name} if created else set())):
            if name == path.name:
                path.unlink()
            elif LOCK_NAME.fullmatch(name):
                FolderLock(folder, name).remove_if_free()
            else:
                (folder / name).unlink(missing_ok=True)
    except OSError:  # held by another process (BlockingIOError), or not ours to remove
        return
    finally:
        os.close(fd)
    for one in sorted(_MADE, key=lambda p: len(p.parts), reverse=True):  # innermost first: also the parents that
        try:  # another mode's folder shared (`--mode all` stopped before its first record left videomme/ behind)
            one.rmdir()
            _MADE.discard(one)
        except OSError:  # not empty: written into, another process's, or still held
            continue


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
    _FOUND.clear()
    _MADE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_locks)


def _stale_holder(path: Path, holder: str) -> str:
    """When the process the lock file names is dead, yet the lock is held: who holds it (this machine only)."""
    match = re.match(r"pid (\d+) on (\S+)", holder)
    if not match or match.group(2) != socket.gethostname() or process_alive(int(match.group(1))):
        return ""
    holders = _holders(path)
    if not holders:
        return f" (pid {match.group(1)} is no longer running, yet another process holds the lock)"
    return (
        f" (pid {match.group(1)} is no longer running; the lock is held by {_named(holders)}, left behind by it: "
        f"end {'it' if len(holders) == 1 else 'them'} and rerun)"
    )


def _sharers(path: Path) -> str:
    """Who holds a lock shared (shards write no holder line): this machine's processes that have it open."""
    return _named(_holders(path)) or "another process"


def _holders(path: Path) -> list[int]:
    return [pid for pid in lock_holders(path) if pid != os.getpid()]


def _named(pids: list[int]) -> str:
    """Up to ``NAMED`` processes by pid and command line ("" for none), as ``folder_holders.writers`` names them."""
    return ", ".join(f"pid {pid} ({command_of(pid)})" for pid in pids[:NAMED]) + (
        " and more" if len(pids) > NAMED else ""
    )


def created(folder: Path, name: str) -> None:
    """``name`` was just created in ``folder`` by this process (its ``settings.json``): taken away again at the
    last release when the run writes nothing else there (refused later, stopped before its first record)."""
    if folder in _FOUND:
        _FOUND[folder][1].add(name)


@contextmanager
def models_decided(output_dir: Path):
    """The output folder held exclusively (a lock on the folder itself: no file is left) while a run compares its
    model with the folder's other runs and writes its settings; another run waits the moment this takes."""
    import fcntl

    fd = os.open(output_dir, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
