"""A benchmark's media paths kept inside the data folder its ``load`` was given, whoever wrote the benchmark.

The built-in benchmarks build each path with ``fvlm_eval.media.safe_join``; a plugin may not, and its
``"../../x.png"`` or ``"/elsewhere/x.png"`` was read and scored (``failed 0``). ``checked_load`` applies the
rule here to every question's ``Media.path``: safe_join's rule, for a path already joined. What follows the data
folder in the path, as written, never climbs above it by its own ``..``; links are not followed (a data folder
that is a link, or a benchmark folder linked to another disk, is the user's own choice, as safe_join allows). The
data folder counts as given (``data``, the current folder's), or resolved (a benchmark that resolved it first), and
so does each link in it resolved (a benchmark folder ``data/myqa`` linked elsewhere, resolved by the benchmark).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_roots(data_dir: str | Path) -> tuple[Path, ...]:
    """The forms of ``data_dir`` a media path may start with: as given (made absolute, not normalised, as the
    system would open it), resolved, and each link directly inside it resolved."""
    given = _absolute(Path(data_dir))
    roots = [given, Path(os.path.realpath(given))]
    try:
        with os.scandir(given) as entries:
            roots += [Path(os.path.realpath(entry.path)) for entry in entries if entry.is_symlink()]
    except OSError:  # not a folder, or not readable: the forms above only
        pass
    return tuple(dict.fromkeys(roots))


def escapes(path: str, roots: tuple[Path, ...]) -> bool:
    """Whether ``path`` (absolute, or from the current folder) is outside every one of ``roots``, or climbs out of
    the one it starts with by its own ``..`` (``data/myqa/../../x.png``)."""
    parts = _absolute(Path(path)).parts
    for root in roots:
        if parts[: len(root.parts)] == root.parts and not _climbs(parts[len(root.parts) :]):
            return False
    return True


def _climbs(parts: tuple[str, ...]) -> bool:
    """Whether these path parts leave the folder they start in at some point (safe_join's count)."""
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 0 if part in (".", "") else 1
        if depth < 0:
            return True
    return False


def _absolute(path: Path) -> Path:
    """``path`` from the current folder, its ``..`` kept (``Path.absolute``; the current folder gone: as given)."""
    try:
        return path.absolute()
    except OSError:
        return path
