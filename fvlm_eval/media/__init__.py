"""Media: pick frame indices, decode only those frames, hand them over as uint8 RGB.

``sampling`` says which frames of a clip to take; ``decode`` reads them (``pyav`` reaches each
sampled frame of a video by seeking where the frames are sparse; ``frame_numbers`` places a frame
folder's files in time by their numbers); ``workers`` decodes in worker
processes that die with their parent; ``frame_cache`` keeps decoded clips on disk. Every failure
is a ``MediaError`` with a reason in words, which the run records against each question of that
media; nothing here exits. This package knows no benchmark and no model family: a benchmark
locates its media (``safe_join`` keeps paths inside the data folder and refuses names too long for
the system; ``shown`` shortens a long name in a message), a model gives its
``FrameTransform``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

NAME_MAX = 255  # bytes in one file name (ext4, XFS, Btrfs, APFS; NTFS counts 255 UTF-16 units)
PATH_MAX = 4095  # bytes in a whole path, Linux's limit less its terminating NUL
SHOWN_MAX = 100  # characters of a name quoted in a message: a longer one keeps its start and end


class MediaError(Exception):
    """Media that cannot give frames: missing, unreadable, empty, or outside the data folder."""


def shown(name: str, limit: int = SHOWN_MAX, length: bool = True) -> str:
    """``name`` as a message quotes it: whole when short, else its start and end around "…" with its
    length said (``length``), so one line stays readable (``xxxxxxxx…xxxx.mp4 (304 characters)``)."""
    name = str(name)
    if len(name) <= limit:
        return name
    head = (limit - 1) * 2 // 3
    cut = f"{name[:head]}…{name[len(name) - (limit - 1 - head) :]}"
    return f"{cut} ({len(name)} characters)" if length else cut


def _size(text: str) -> int:
    """Bytes of ``text`` as the system is given it (a name it cannot encode: its UTF-8 length)."""
    try:
        return len(os.fsencode(text))
    except UnicodeEncodeError:  # a lone surrogate: is_file() answers False for it, as for a missing file
        return len(text.encode("utf-8", "surrogatepass"))


def too_long(path: Path) -> str | None:
    """Why the system would refuse ``path`` as too long (ENAMETOOLONG: a name over ``NAME_MAX`` bytes,
    the whole over ``PATH_MAX``), in words; None when it is not."""
    for part in Path(path).parts:
        size = _size(part)
        if size > NAME_MAX:
            name = shown(part, length=False)
            return f"file name too long: {name} is {size} bytes (a file name holds at most {NAME_MAX})"
    size = _size(str(path))
    if size > PATH_MAX:
        whole = shown(str(path), length=False)
        return f"file name too long: the path {whole} is {size} bytes (a path holds at most {PATH_MAX})"
    return None


def media_problem(path: Path, error: OSError) -> str:
    """An ``OSError`` met looking at ``path`` (``is_file``, ``stat``), in one line that names it shortened."""
    if error.errno == errno.ENAMETOOLONG:
        return too_long(path) or f"file name too long: {shown(str(path))}"
    return f"cannot look at {shown(Path(path).name)}: {error.strerror or error}"


def present(path: Path, test: str = "exists") -> bool:
    """``path.exists()`` (or ``is_file``, ``is_dir``: ``test``); where looking fails otherwise than "not there" (a
    folder that cannot be read: EACCES), a ``MediaError`` naming it, which fails that question, not the run."""
    try:
        return bool(getattr(Path(path), test)())
    except OSError as error:
        raise MediaError(media_problem(path, error)) from error


def climbs_out(parts: tuple[str, ...]) -> bool:
    """Whether these path parts leave the folder they start in at some point by their own ``..``."""
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 0 if part in (".", "") else 1
        if depth < 0:
            return True
    return False


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing a path that leaves ``root`` by its own ``..`` or absolute parts, and one
    the system would refuse as too long (a ``MediaError``: "file name too long", the name shortened).

    Links the user made inside the data folder (a sub-folder on another disk) are followed: only
    the path written in the annotation is checked, not where a link in the tree points.
    """
    root = Path(root)
    relative_path = Path(relative)
    if relative_path.is_absolute() or relative_path.drive:
        raise MediaError(f"path {shown(repr(relative))} escapes the data folder {root}")
    if climbs_out(relative_path.parts):
        raise MediaError(f"path {shown(repr(relative))} escapes the data folder {root}")
    joined = root / relative_path
    # a name the system refuses makes is_file() and stat() raise (ENAMETOOLONG), not answer False
    problem = too_long(joined)
    if problem:
        raise MediaError(problem)
    return joined


# What a benchmark, built in or a plugin's, may use to locate its media (docs/extending.md names ``safe_join``).
__all__ = [
    "MediaError",
    "NAME_MAX",
    "PATH_MAX",
    "climbs_out",
    "media_problem",
    "present",
    "safe_join",
    "shown",
    "too_long",
]
