"""Media: pick frame indices, decode only those frames, hand them over as uint8 RGB.

``sampling`` says which frames of a clip to take; ``decode`` reads them (``pyav`` reaches each
sampled frame of a video by seeking where the frames are sparse); ``workers`` decodes in worker
processes that die with their parent; ``frame_cache`` keeps decoded clips on disk. Every failure
is a ``MediaError`` with a reason in words, which the run records against each question of that
media; nothing here exits. This package knows no benchmark and no model family: a benchmark
locates its media (``safe_join`` keeps paths inside the data folder), a model gives its
``FrameTransform``.
"""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """Media that cannot give frames: missing, unreadable, empty, or outside the data folder."""


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing a path that leaves ``root`` by its own ``..`` or absolute parts.

    Links the user made inside the data folder (a sub-folder on another disk) are followed: only
    the path written in the annotation is checked, not where a link in the tree points.
    """
    root = Path(root)
    relative_path = Path(relative)
    if relative_path.is_absolute() or relative_path.drive:
        raise MediaError(f"path {relative!r} escapes the data folder {root}")
    depth = 0
    for part in relative_path.parts:
        depth += -1 if part == ".." else 0 if part in (".", "") else 1
        if depth < 0:
            raise MediaError(f"path {relative!r} escapes the data folder {root}")
    return root / relative_path
