"""Which frames of a clip to take: the frame indices of a ``Sampling`` rule over a clip (or its bound)."""

from __future__ import annotations

import numpy as np

from fvlm_eval.media import MediaError
from fvlm_eval.types import Sampling

MISSES_THE_CLIP = "misses the clip"  # in the note of a bound wholly before or after the clip (``prepare`` lists them)


def frame_indices(
    sampling: Sampling, n_frames: int, fps: float, bound: tuple[float, float] | None, first_index: int = 0
) -> tuple[list[int], str | None]:
    """Frame indices (``first_index``-based) to read from a clip of ``n_frames`` at ``fps``.

    A bound in seconds is applied, clamped to the clip with a note when it had to be (a bound wholly outside
    the clip is its nearest frame, said so: the note holds ``MISSES_THE_CLIP``); a bound that is not finite or
    ends before it starts is an error (not one frame scored as if it were the clip).
    """
    if n_frames <= 0:
        raise MediaError("the media has no frames")
    if not fps or fps <= 0 or not np.isfinite(fps):
        raise MediaError(f"the media reports no usable frame rate ({fps!r})")
    last = first_index + n_frames - 1
    note = None
    if bound is None:
        start, end = first_index, last
    else:
        if not (np.isfinite(bound[0]) and np.isfinite(bound[1])):
            raise MediaError(f"bound {bound[0]:g}-{bound[1]:g}s is not finite")
        if bound[1] < bound[0]:
            raise MediaError(f"bound {bound[0]:g}-{bound[1]:g}s ends before it starts")
        raw_start, raw_end = round(bound[0] * fps), round(bound[1] * fps)
        start, end = max(first_index, raw_start), min(raw_end, last)
        clip = f"({n_frames} frames at {fps:g} fps)"
        if start > end:
            start = end = min(max(start, first_index), last)
            where = "last" if start == last else "first"
            note = f"bound {bound[0]:g}-{bound[1]:g}s {MISSES_THE_CLIP} {clip}: clamped to its {where} frame alone"
        elif raw_end > last or raw_start < first_index:
            note = f"bound {bound[0]:g}-{bound[1]:g}s clamped to the clip {clip}"
    if sampling.policy == "segment_midpoints":
        # MVBench's rule: int(start + seg/2 + round(seg * i)), seg = (end - start) / N.
        segment = (end - start) / sampling.frames
        return [int(start + segment / 2 + np.round(segment * i)) for i in range(sampling.frames)], note
    if sampling.policy == "uniform":
        return [int(x) for x in np.linspace(start, end, sampling.frames)], note
    if sampling.policy == "fps":
        if not sampling.fps or sampling.fps <= 0:
            raise ValueError("the fps sampling policy needs a positive fps")
        # fVLM's release (nanoSmol fVLM/data.py ``_decode_mp4_frames``) steps by whole frames, max(1, int(fps))
        # for its 1 frame a second: every 29th frame of a 29.97 fps video, not one exactly each second.
        step = max(1, int(fps / sampling.fps + 1e-9))  # + 1e-9: 7 / 0.07 is 99.99999999999999 in floats
        return list(range(start, end + 1, step))[: sampling.frames], note
    if sampling.policy == "fps_spread":
        return _fps_spread_indices(sampling, start, end, fps), note
    raise ValueError(f"unknown sampling policy {sampling.policy!r}")


def _fps_spread_indices(sampling: Sampling, start: int, end: int, fps: float) -> list[int]:
    """``fps_spread`` over [start, end]: ``wanted`` = the clip's seconds x fps (1 to ``frames``) indices spread
    evenly from its first to its last frame, ``skip_seconds`` cut from both ends first when the clip is long
    enough (longer than twice that plus ``frames`` / fps), duplicates dropped."""
    total = end - start + 1
    duration = total / fps
    wanted = max(1, min(int(round((sampling.fps or 1.0) * duration)), sampling.frames))
    first, last = 0, total - 1
    skip = sampling.skip_seconds
    if skip > 0 and duration - 2 * skip > sampling.frames * (sampling.fps or 1.0):
        first, last = int(skip * fps), int(total - skip * fps)
    first, last = max(0, first), min(last, total - 1)
    if first >= last:
        first, last = 0, total - 1
    return [start + int(i) for i in np.unique(np.linspace(first, last, wanted, dtype=int))]
