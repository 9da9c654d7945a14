"""The distinct sampled frames of a media, as a decoder hands them over (before the model's transform)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Decoded:
    """The distinct sampled frames of a media, before the model's transform."""

    frames: np.ndarray  # uint8 [U,H,W,3]
    frame_map: tuple[int, ...]
    indices: tuple[int, ...]
    timestamps: tuple[float, ...] | None
    source_frames: int
    duration: float | None
    note: str | None
    kind: str  # "video" or "image"


def decoded_frames(
    frames: np.ndarray,
    unique: list[int],
    indices: list[int],
    n_source: int,
    fps: float,
    note: str | None,
    first_index: int = 0,
) -> Decoded:
    position = {index: i for i, index in enumerate(unique)}
    return Decoded(
        frames,
        tuple(position[i] for i in indices),
        tuple(indices),
        tuple(round((i - first_index) / fps, 6) for i in indices),
        n_source,
        n_source / fps,
        note,
        "video",
    )
