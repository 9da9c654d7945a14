"""Media: pick frame indices, decode them, and turn them into normalised 224x224 pixels.

Videos (mp4, webm, avi, mkv) decode with decord (PyAV where decord is not installed); frame
folders and GIFs with PIL. Every failure is a ``MediaError`` with a reason in words, which the
run records against each question of that media; nothing here exits or crashes a run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fvlm_eval.types import Media, MediaNote, Sampling

IMAGE_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GIF_FPS = 25.0
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


class MediaError(Exception):
    """Media that cannot give frames: missing, unreadable, empty, or outside the data folder."""


@dataclass(frozen=True)
class Clip:
    """Decoded, preprocessed frames. ``pixels`` [U,3,224,224] holds each distinct frame once;
    the clip's T frames are ``pixels[frame_map]`` (an image: U=1, frame_map=(0,)*8)."""

    key: str
    pixels: object  # torch.Tensor; typed loosely so this module imports without torch
    frame_map: tuple[int, ...]
    note: MediaNote

    @property
    def n_frames(self) -> int:
        return len(self.frame_map)


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing any path that resolves outside ``root``."""
    root = Path(root).resolve()
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise MediaError(f"path {relative!r} escapes the data folder {root}")
    return candidate


# ----- which frames -------------------------------------------------------------------------


def frame_indices(
    sampling: Sampling, n_frames: int, fps: float, bound: tuple[float, float] | None, first_index: int = 0
) -> tuple[list[int], str | None]:
    """Frame indices (``first_index``-based) to read from a clip of ``n_frames`` at ``fps``.

    A bound in seconds is applied (clamped to the clip, with a note when it had to be).
    """
    if n_frames <= 0:
        raise MediaError("the media has no frames")
    last = first_index + n_frames - 1
    note = None
    if bound is None:
        start, end = first_index, last
    else:
        start = max(first_index, round(bound[0] * fps))
        end = min(round(bound[1] * fps), last)
        raw_end = round(bound[1] * fps)
        if raw_end > last or round(bound[0] * fps) < first_index or start > end:
            note = f"bound {bound[0]:g}-{bound[1]:g}s clamped to the clip ({n_frames} frames at {fps:g} fps)"
        if start > end:
            start = end = min(max(start, first_index), last)
    if sampling.policy == "segment_midpoints":
        # MVBench's rule: int(start + seg/2 + round(seg * i)), seg = (end - start) / N.
        segment = (end - start) / sampling.frames
        return [int(start + segment / 2 + np.round(segment * i)) for i in range(sampling.frames)], note
    if sampling.policy == "uniform":
        return [int(x) for x in np.linspace(start, end, sampling.frames)], note
    if sampling.policy == "fps":
        if not sampling.fps or sampling.fps <= 0:
            raise ValueError("the fps sampling policy needs a positive fps")
        step = fps / sampling.fps
        count = int((end - start) / step) + 1
        return [start + int(round(i * step)) for i in range(min(count, sampling.frames))], note
    raise ValueError(f"unknown sampling policy {sampling.policy!r}")


# ----- decoding -----------------------------------------------------------------------------


def _decode_video(path: Path, sampling: Sampling, bound) -> tuple[np.ndarray, list[int], MediaNote]:
    if path.suffix.lower() == ".gif":
        return _decode_gif(path, sampling, bound)
    try:
        import decord
    except ImportError:
        return _decode_video_pyav(path, sampling, bound)
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        n_frames, fps = len(reader), float(reader.get_avg_fps())
        indices, note = frame_indices(sampling, n_frames, fps, bound)
        unique = sorted(set(indices))
        frames = reader.get_batch(unique).asnumpy()
    except MediaError:
        raise
    except Exception as error:  # decord.DECORDError is not a RuntimeError
        raise MediaError(f"cannot decode {path.name}: {type(error).__name__}: {str(error).splitlines()[0][:200]}") from error
    return _expand(frames, unique, indices, n_frames, note)


def _decode_video_pyav(path: Path, sampling: Sampling, bound) -> tuple[np.ndarray, list[int], MediaNote]:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25)
            frames_all = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except Exception as error:
        raise MediaError(f"cannot decode {path.name}: {type(error).__name__}: {error}") from error
    return _pick(frames_all, fps, sampling, bound)


def _decode_gif(path: Path, sampling: Sampling, bound) -> tuple[np.ndarray, list[int], MediaNote]:
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as image:
            frames_all = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]
    except Exception as error:
        raise MediaError(f"cannot read GIF {path.name}: {type(error).__name__}: {error}") from error
    return _pick(frames_all, GIF_FPS, sampling, bound)


def _pick(frames_all: list[np.ndarray], fps: float, sampling: Sampling, bound):
    """The sampled frames of a fully decoded clip (decoders that cannot seek)."""
    indices, note = frame_indices(sampling, len(frames_all), fps, bound)
    unique = sorted(set(indices))
    return _expand(np.stack([frames_all[i] for i in unique]), unique, indices, len(frames_all), note)


def _decode_frame_folder(folder: Path, sampling: Sampling, bound, fps: float) -> tuple[np.ndarray, list[int], MediaNote]:
    """A folder of 1-based numbered frames (``00001.jpg``) recorded at ``fps``."""
    from PIL import Image

    if not folder.is_dir():
        raise MediaError(f"frame folder {folder.name} is missing")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    indices, note = frame_indices(sampling, len(files), fps, bound, first_index=1)
    unique = sorted(set(indices))
    frames = []
    for index in unique:
        numbered = folder / f"{index:05d}{files[0].suffix}"
        path = numbered if numbered.is_file() else files[index - 1]
        try:
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except Exception as error:
            raise MediaError(f"cannot read frame {path.name} of {folder.name}: {error}") from error
    if len({frame.shape for frame in frames}) != 1:
        raise MediaError(f"frames of {folder.name} differ in size")
    return _expand(np.stack(frames), unique, indices, len(files), note)


def _decode_image(media: Media) -> np.ndarray:
    from PIL import Image

    try:
        source = io.BytesIO(media.data) if media.data is not None else media.path
        with Image.open(source) as image:
            return np.asarray(image.convert("RGB"))[None]
    except Exception as error:
        raise MediaError(f"cannot read image {media.key}: {type(error).__name__}: {error}") from error


def _expand(frames: np.ndarray, unique: list[int], indices: list[int], n_source: int, note: str | None):
    position = {index: i for i, index in enumerate(unique)}
    return frames, [position[i] for i in indices], MediaNote(tuple(indices), n_source, note)


def preprocess(frames: np.ndarray):
    """uint8 [N,H,W,3] -> float32 [N,3,224,224]: bilinear antialiased resize, ImageNet normalisation."""
    import torch
    import torch.nn.functional as F

    pixels = torch.from_numpy(np.require(frames, requirements=["C", "W"])).permute(0, 3, 1, 2).float().div_(255)
    if pixels.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        pixels = F.interpolate(pixels, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels.clamp_(0, 1) - mean) / std


def load_clip(media: Media, sampling: Sampling) -> Clip:
    """Decode ``media`` by ``sampling`` into a ``Clip``; raises ``MediaError`` with the reason."""
    if media.kind == "image":
        frames = _decode_image(media)
        return Clip(media.key, preprocess(frames), (0,) * sampling.image_copies, MediaNote((0,), 1))
    if media.path is None:
        raise MediaError(f"{media.key} has no path")
    path = Path(media.path)
    if media.kind == "frame_folder":
        frames, frame_map, note = _decode_frame_folder(path, sampling, media.bound, media.folder_fps or 3.0)
    else:
        if not path.is_file():
            raise MediaError(f"video {path.name} is missing")
        frames, frame_map, note = _decode_video(path, sampling, media.bound)
    if len(frames) == 0:
        raise MediaError(f"{media.key} gave no frames")
    return Clip(media.key, preprocess(frames), tuple(frame_map), note)
