"""A benchmark's media paths kept inside the data folder its ``load`` was given, whoever wrote the benchmark.

The built-in benchmarks build each path with ``fvlm_eval.media.safe_join``; a plugin may not, and its
``"../../x.png"`` or ``"/elsewhere/x.png"`` was read and scored (``failed 0``). ``checked_load`` applies the
rule here to every question's ``Media.path``: safe_join's rule, for a path already joined. What follows the data
folder in the path, as written, never climbs above it by its own ``..``; links are not followed (a data folder
that is a link, or a benchmark folder linked to another disk, is the user's own choice, as safe_join allows). The
data folder counts as given (``data``, the current folder's), or resolved (a benchmark that resolved it first).

A benchmark that resolves its paths (``Path.resolve()``) gives, for ``data/myqa/images`` linked to another disk,
a path on that disk: inside too, when it lies under the resolved target of a link inside the data folder. Finding
those links is bounded, as a data folder may hold millions of frames (``data/<bench>/frames/<video>/<n>.jpg``):
only for a path the cheap check refuses, once per ``checked_load`` (``DataRoots.links``), links at most
``LINK_DEPTH`` levels below the data folder, listing its folders down to that depth only, at most
``ENTRIES_PER_FOLDER`` entries of each and ``ENTRIES_IN_ALL`` in all (shallow ones first). docs/extending.md says so.
"""

from __future__ import annotations

import os
from pathlib import Path

from fvlm_eval.media import climbs_out, shown

LINK_DEPTH = 3  # data/<1>/<2>/<3>: a benchmark folder, a folder in it (images, videos), one in that (frames/<video>)
ENTRIES_PER_FOLDER = 5_000  # a folder's entries looked at for links (a folder of a million frames: its first ones)
ENTRIES_IN_ALL = 50_000  # entries looked at in all, level by level: well under a second on a local disk


class DataRoots:
    """The forms of a data folder a media path may start with (``forms``: as given, made absolute and not
    normalised, as the system would open it; and resolved), and, found only when asked (``links``), the resolved
    targets of the links inside it: a path under one is inside (a benchmark resolved it through the link)."""

    def __init__(self, data_dir: str | Path):
        self.given = _absolute(Path(data_dir))
        self.forms = tuple(dict.fromkeys((self.given, Path(os.path.realpath(self.given)))))
        self.cut: str | None = None  # why the search for links stopped before it looked at every folder to LINK_DEPTH
        self._links: tuple[Path, ...] | None = None

    def links(self) -> tuple[Path, ...]:
        """The resolved targets of the links inside the data folder (bounded: the module's docstring), searched
        for once, on the first call."""
        if self._links is None:
            self._links, self.cut = _link_targets(self.given)
        return self._links


def escapes(path: str, roots: DataRoots) -> bool:
    """Whether ``path`` (absolute, or from the current folder) is outside every form of the data folder (then, of
    the targets of the links inside it), or climbs out of the one it starts with by its own ``..``
    (``data/myqa/../../x.png``)."""
    parts = _absolute(Path(path)).parts
    return not (_inside_one(parts, roots.forms) or _inside_one(parts, roots.links()))


def outside_hint(path: str, roots: DataRoots) -> str:
    """What to do about a path ``escapes`` refused that no ``..`` of its own takes out (a resolved one, perhaps,
    through a link deeper than the search looks): give it through the data folder, as the link reads."""
    if ".." in Path(path).parts:
        return ""
    cut = f"; {roots.cut}" if roots.cut else ""
    return (
        f" (links followed to {LINK_DEPTH} levels below it{cut}; give the path through the data folder, not resolved)"
    )


def _inside_one(parts: tuple[str, ...], roots) -> bool:
    """Whether the path ``parts`` start with one of ``roots`` and do not climb out of it."""
    return any(parts[: len(root.parts)] == root.parts and not climbs_out(parts[len(root.parts) :]) for root in roots)


def _link_targets(folder: Path) -> tuple[tuple[Path, ...], str | None]:
    """The resolved targets of the links at most LINK_DEPTH levels below ``folder`` (through links too: the depth
    ends a loop), level by level, at most ENTRIES_PER_FOLDER entries of a folder and ENTRIES_IN_ALL in all; and
    where the search was cut short, if it was."""
    found: list[Path] = []
    cut, left, level = None, ENTRIES_IN_ALL, [folder]
    for depth in range(1, LINK_DEPTH + 1):
        below = []
        for directory in level:
            try:
                with os.scandir(directory) as entries:
                    for count, entry in enumerate(entries):
                        if left == 0:
                            return tuple(dict.fromkeys(found)), f"links looked for in {ENTRIES_IN_ALL:,} entries only"
                        if count == ENTRIES_PER_FOLDER:
                            cut = cut or (
                                f"links looked for in the first {ENTRIES_PER_FOLDER:,} entries of "
                                f"{shown(repr(str(directory)))} only"
                            )
                            break
                        left -= 1
                        if entry.is_symlink():
                            found.append(Path(os.path.realpath(entry.path)))
                        if depth < LINK_DEPTH and _is_folder(entry):
                            below.append(entry.path)
            except OSError:  # not a folder, or not readable: links in it are not followed
                continue
        level = below
    return tuple(dict.fromkeys(found)), cut


def _is_folder(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a folder, or a link to one (one it cannot tell: not)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _absolute(path: Path) -> Path:
    """``path`` from the current folder, its ``..`` kept (``Path.absolute``; the current folder gone: as given)."""
    try:
        return path.absolute()
    except OSError:
        return path
