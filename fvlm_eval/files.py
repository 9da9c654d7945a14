"""Files written whole or not at all, and JSON read with errors that name the file.

Every file fvlm-eval writes (summaries, settings, reports, charts, cache entries) goes through
``write_bytes_atomic``: a temporary file beside it, fsync, rename; the file is old or new, never
partial, and an error names it. Temporaries a killed writer left behind are swept by the next
write beside them once old. Write errors propagate. JSON is strict both ways: written without
``NaN``/``Infinity`` (``write_json_atomic``), read refusing them (``not_json``), with the file named.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
import tempfile
import time
from pathlib import Path

from fvlm_eval.errors import RecordError

BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def not_a_folder(path: Path, missing: str = "no such folder") -> str:
    """Why ``path``, given as a run folder, is not one, for its one-line error: a file, a broken link, or nothing."""
    return "a file, not a run folder" if Path(path).exists() else broken_link(Path(path)) or missing


def file_in_the_way(path: Path) -> str | None:
    """Why no folder (or nothing in one) can be made at ``path``: ``a file, not a folder`` when it is a file,
    ``<it> is a file, not a folder`` when a folder above it is one (``mkdir`` said only "File exists" or "Not a
    directory", naming no problem); else ``None``."""
    path = Path(path)
    try:
        existing = next((place for place in (path, *path.parents) if place.exists()), None)
        if existing is None or existing.is_dir():
            return None
    except OSError:  # a folder above that cannot be looked into: the error's own words stand
        return None
    return "a file, not a folder" if existing == path else f"{existing} is a file, not a folder"


def broken_link(place: Path) -> str | None:
    """What is wrong with ``place`` when it is a link that leads to nothing (it loops, or names what is not
    there), for a one-line error; None for anything else."""
    if not place.is_symlink() or place.exists():
        return None
    try:
        os.stat(place)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"{place} is a link that leads back to itself"
    return f"{place} is a link to {os.readlink(place)}, which does not exist (make it, or remove the link)"


def wide_encoding(data: bytes) -> str | None:
    """ "UTF-16" or "UTF-32" when ``data`` starts with that encoding's byte-order mark, else ``None``."""
    return next((name for mark, name in BYTE_ORDER_MARKS if data.startswith(mark)), None)


@functools.cache
def current_umask() -> int:
    """This process's umask (read once: reading it means setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` as UTF-8 by ``write_bytes_atomic``."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, rename: ``path`` is old or new, never
    partial. The file gets the usual permissions (as ``open`` would make it, not ``mkstemp``'s 0600);
    an error names ``path``. ``fsync=False`` for a cache (an entry lost in a crash is made again)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the folder's real path: mkstemp gives back its name made absolute by text, which takes `link/../x`
        # to the link's parent's x, a folder that is not the one `path` names (nor, maybe, any folder at all)
        fd, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=os.path.realpath(path.parent)
        )
    except OSError as error:
        blocked = file_in_the_way(path) if error.errno in (errno.EEXIST, errno.ENOTDIR) else None
        raise OSError(error.errno, blocked or error.strerror, str(path)) from error
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    _sweep_abandoned_temporaries(path)


# Beside a run folder's settings.json: the data folder its run was given (absolute), read by report.html while the run
# has no summary yet. Not in settings.json: every fvlm-eval before it compared that file whole, and called a folder
# with it "made with other settings (data_dir differs)"
DATA_DIR_FILE = "data_dir.json"
ABANDONED_AFTER_SECONDS = 600  # a temporary this old beside its file was left by a killed writer (writes take seconds)


# A temporary's name ends so (``.NAME.XXXXXXXX.fvlm-partial``): without it the sweep matched a user's own hidden
# backups (``.notes.txt.original`` beside notes.txt) and deleted them. Older versions' unmarked temporaries stay.
TEMPORARY_SUFFIX = ".fvlm-partial"
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}" + re.escape(TEMPORARY_SUFFIX))  # as ``mkstemp`` names them


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (another user's counts as running): a file or folder named
    after a writer that is gone was abandoned (a killed report's staging folder, a half-written model, a lock)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _sweep_abandoned_temporaries(path: Path) -> None:
    """Remove the temporaries beside ``path`` (``.NAME.XXXXXXXX.fvlm-partial`` of ``path`` or of another file
    there) that a writer killed between creating and renaming one left behind; old ones only, so no live writer
    loses its file, and only beside a file of that name (or ``path``'s own), so nothing else is touched."""
    now = time.time()
    try:
        for entry in os.scandir(path.parent):
            found = _TEMPORARY.fullmatch(entry.name)
            if (
                found
                and (found["name"] == path.name or (path.parent / found["name"]).is_file())
                and now - entry.stat(follow_symlinks=False).st_mtime > ABANDONED_AFTER_SECONDS
            ):
                os.unlink(entry.path)
    except OSError:
        pass  # tidying only: the write itself succeeded


def write_json_atomic(path: Path, value) -> None:
    """``value`` as strict JSON: a float that is NaN or infinite (an unbounded interval) is written as
    ``null``, never as the bare ``NaN`` or ``Infinity`` that strict JSON readers refuse."""
    write_text_atomic(path, json.dumps(finite(value), indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def finite(value):
    """``value`` with every float that is NaN or infinite, at any depth, replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def not_json(constant: str):
    """``json.loads``'s ``parse_constant``: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON."""
    raise ValueError(f"{constant} is not a JSON number (a file written by a non-strict JSON writer)")


def read_json(path: Path):
    """A JSON file, or a ``RecordError`` naming it (missing, truncated, not JSON)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(), parse_constant=not_json)
    except FileNotFoundError as error:
        raise RecordError(f"{path}: missing") from error
    except UnicodeDecodeError as error:
        wide = wide_encoding(path.read_bytes()[:4])
        if wide:
            raise RecordError(
                f"{path}: the file is {wide} (it starts with its byte-order mark), not UTF-8 JSON; convert it to UTF-8"
            ) from error
        raise RecordError(f"{path}: not readable JSON ({type(error).__name__}: {error})") from error
    except (OSError, ValueError) as error:
        raise RecordError(f"{path}: not readable JSON ({type(error).__name__}: {error})") from error
