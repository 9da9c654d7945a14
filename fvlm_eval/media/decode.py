"""Decoding: the sampled frames of a video, GIF, frame folder or image as uint8 RGB.

Videos (mp4, webm, avi, mkv) decode with PyAV only (where it cannot be imported, each video is a
``MediaError`` saying so: see ``video_decoder``), which reaches each sampled frame by seeking to the
keyframe before it where the frames are sparse, so the cost and the memory grow with the frames sampled,
not with the video (only the sampled frames are ever kept as RGB). ``decode_video_decord`` is kept for
the tests and benchmarks that compare the two; nothing else calls it. Frame folders, GIFs and images
decode with PIL (16-bit and palette images converted with their full range). An image's transparency is
dropped (PIL's ``convert("RGB")``, as fVLM's release does), or composited onto white where the model's
transform says ``images_on_white`` (transformers' ``convert_to_rgb``, which SmolVLM's image processor runs). The
model's ``FrameTransform`` (its resize) is applied here, in the decoding workers. Every failure is a
``MediaError`` with a reason in words, which the run records against each question of that media;
nothing here exits.
"""

from __future__ import annotations

import bisect
import io
import re
from pathlib import Path

import numpy as np

from fvlm_eval.files import broken_link
from fvlm_eval.media import MediaError, present, shown
from fvlm_eval.media.decoded import Decoded, decoded_frames
from fvlm_eval.media.frame_numbers import frame_numbers, gaps_said
from fvlm_eval.media.pyav import decode_video_pyav
from fvlm_eval.media.sampling import frame_indices
from fvlm_eval.types import Clip, Media, Sampling

GIF_FPS = 25.0
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def _rgb(image, on_white: bool = False) -> np.ndarray:
    """Any PIL image as uint8 RGB, 16-bit and float modes scaled from their full range (not clipped); with
    ``on_white``, an image with transparency (an alpha band, or a palette's or colour key's) composited onto white
    as transformers' ``convert_to_rgb`` does, else its alpha dropped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode == "F":
            top = 1.0 if array.max() <= 1.0 else 255.0
        gray = np.clip(np.round(array / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if on_white and ("A" in image.getbands() or image.info.get("transparency") is not None):
        from PIL import Image

        rgba = image.convert("RGBA")
        return np.asarray(
            Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
        )
    return np.asarray(image.convert("RGB"))


def _pyav_missing() -> str | None:
    """Why PyAV cannot be imported (one line), or None when it can."""
    try:
        import av  # noqa: F401
    except ImportError as error:
        return f"{type(error).__name__}: {(str(error) or 'no module named av').splitlines()[0][:200]}"
    return None


def video_decoder() -> str:
    """The video decoder this process uses, with its version: PyAV, which returns exactly the sampled
    frames (numbered by timestamp after a seek); "none" where PyAV cannot be imported. decord is never
    used in its stead: it once was, silently, and decord 0.6 returns other frames than asked after a seek in
    open-GOP files, closed-GOP MPEG-TS and MPEG-4 AVI with B-frames (tests/fvlm_eval/media/test_pyav.py)."""
    if _pyav_missing() is not None:
        return "none"
    import av

    return f"pyav-{av.__version__}"


def _decode_video(path: Path, sampling: Sampling, bound) -> Decoded:
    if path.suffix.lower() == ".gif":
        return _decode_gif(path, sampling, bound)
    missing = _pyav_missing()
    if missing is not None:  # every video question fails with this line; the run stops when its first 16 do
        raise MediaError(
            f"cannot decode {shown(path.name)}: PyAV cannot be imported ({missing}); pip install av "
            "(decord is not used in its stead: it returns other frames than asked on many files)"
        )
    return decode_video_pyav(path, sampling, bound)


# decord finds a frame by seeking to the keyframe before it and decoding forward (its own index of
# keyframes, built when the file is opened). The three ways of asking for the sampled frames cost
# the same CPU within noise (benchmarks/bench_decode.py: 64 frames of a 10 or 60 minute 640x360
# video, 3-5 s each, where PyAV's seeking takes 1.2-1.9 s); "each" holds the frames once, where
# ``get_batch`` holds them twice (its array and the numpy copy: +106 MB against +63 MB for those
# 64 frames of 44 MB), so it is the default.
DECORD_STRATEGIES = ("each", "batch", "groups")


def decode_video_decord(path: Path, sampling: Sampling, bound, strategy: str = "each") -> Decoded:
    """decord, one thread (the decoding workers are processes). ``strategy``: "each", a
    ``seek_accurate`` and ``next`` per sampled frame; "batch", one ``get_batch`` of them all;
    "groups", one ``get_batch`` per keyframe interval."""
    import decord

    if strategy not in DECORD_STRATEGIES:
        raise ValueError(f"unknown decord strategy {strategy!r}")
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        n_frames, fps = len(reader), float(reader.get_avg_fps())
        indices, note = frame_indices(sampling, n_frames, fps, bound)
        unique = sorted(set(indices))
        if strategy == "batch":
            frames = reader.get_batch(unique).asnumpy()
        else:
            groups: list[list[int]] = []
            keys = reader.get_key_indices() if strategy == "groups" else []
            for index in unique:  # "groups": the frames after the same keyframe together
                same_key = groups and bisect.bisect_right(keys, groups[-1][0]) == bisect.bisect_right(keys, index)
                if strategy == "groups" and same_key:
                    groups[-1].append(index)
                else:
                    groups.append([index])
            frames, row = None, 0
            for group in groups:
                if strategy == "each":
                    reader.seek_accurate(group[0])
                    batch = reader.next().asnumpy()[None]
                else:
                    batch = reader.get_batch(group).asnumpy()
                if frames is None:
                    frames = np.empty((len(unique), *batch.shape[1:]), dtype=np.uint8)
                frames[row : row + len(batch)] = batch
                row += len(batch)
    except MediaError:
        raise
    except Exception as error:  # decord.DECORDError is not a RuntimeError
        raise MediaError(
            f"cannot decode {shown(path.name)}: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        ) from error
    return decoded_frames(frames, unique, indices, n_frames, fps, note)


def _decode_gif(path: Path, sampling: Sampling, bound) -> Decoded:
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as image:
            n_frames = getattr(image, "n_frames", 1)
            indices, note = frame_indices(sampling, n_frames, GIF_FPS, bound)
            unique = sorted(set(indices))
            frames = []
            for number, frame in enumerate(ImageSequence.Iterator(image)):
                if number in unique:
                    frames.append(_rgb(frame))
                if number >= unique[-1]:
                    break
    except MediaError:
        raise
    except Exception as error:
        raise MediaError(f"cannot read GIF {shown(path.name)}: {type(error).__name__}: {error}") from error
    return decoded_frames(np.stack(frames), unique, indices, n_frames, GIF_FPS, note)


def _decode_frame_folder(folder: Path, sampling: Sampling, bound, fps: float) -> Decoded:
    """A folder of 1-based numbered frames (``00001.jpg``) recorded at ``fps``: frame k is the file
    numbered k, at (k - 1) / fps (0-based where a frame 0 is there). Numbers missing inside the run are
    said in the note, and a sampled frame that falls on one shows the nearest frame held."""
    from PIL import Image

    if not folder.is_dir():
        raise MediaError(f"frame folder {shown(folder.name)} is missing")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    numbered, first_index, gaps = frame_numbers(folder, files)
    n_frames = numbered[-1][0] - first_index + 1 if numbered else 0
    indices, note = frame_indices(sampling, n_frames, fps, bound, first_index=first_index)
    unique = sorted(set(indices))
    held = [number for number, _ in numbered]
    frames, stand_ins = [], []
    for index in unique:
        at = bisect.bisect_left(held, index)
        if at == len(held) or held[at] != index:  # a missing number: the nearest frame held (the earlier on a tie)
            at = at - 1 if at == len(held) or (at > 0 and index - held[at - 1] <= held[at] - index) else at
            stand_ins.append(index)
        path = numbered[at][1]
        try:
            with Image.open(path) as image:
                frames.append(_rgb(image))
        except Exception as error:
            raise MediaError(f"cannot read frame {shown(path.name)} of {shown(folder.name)}: {error}") from error
    if len({frame.shape for frame in frames}) != 1:
        raise MediaError(f"frames of {shown(folder.name)} differ in size")
    if gaps:
        gaps_note = gaps_said(folder, gaps, n_frames, first_index, stand_ins)
        note = f"{note}; {gaps_note}" if note else gaps_note
    return decoded_frames(np.stack(frames), unique, indices, n_frames, fps, note, first_index=first_index)


def _decode_image(media: Media, on_white: bool) -> Decoded:
    from PIL import Image

    try:
        source = io.BytesIO(media.data) if media.data is not None else media.path
        with Image.open(source) as image:
            frame = _rgb(image, on_white)
    except Exception as error:
        reason = re.sub(r"<[^>]* at 0x[0-9a-fA-F]+>", "the image bytes", str(error))  # no memory addresses in records
        raise MediaError(f"cannot read image {shown(media.key)}: {type(error).__name__}: {reason}") from error
    return Decoded(frame[None], (0,), (0,), None, 1, None, None, "image")


def _absent(path: Path, where: str) -> str:
    """Why a video or frame folder is not there: missing, or a link that leads nowhere (it loops, or its target
    is gone: "missing" sent users looking for a file that is there, as a link)."""
    broken = broken_link(path)
    return f"is a broken link ({broken})" if broken else f"is missing{where}"


ON_WHITE = "-on-white"  # ends the ``key`` of a transform whose ``images_on_white`` is true (what a run records)


def decode(media: Media, sampling: Sampling, images_on_white: bool = False) -> Decoded:
    """The sampled frames of ``media``; raises ``MediaError`` with the reason. ``images_on_white``: an image's
    transparency composited onto white, not dropped."""
    if media.kind == "image":
        if media.data is None and (media.path is None or not present(media.path, "is_file")):
            raise MediaError(f"image {shown(media.path or media.key, 200)} is missing")
        return _decode_image(media, images_on_white)
    if media.path is None:
        raise MediaError(f"{shown(media.key)} has no path")
    path = Path(media.path)
    where = f" (looked in {', '.join(media.looked_in)})" if media.looked_in else ""
    there = present(path, "is_dir" if media.kind == "frame_folder" else "is_file")  # ENAMETOOLONG: a MediaError
    if media.kind == "frame_folder":
        if not there:
            raise MediaError(f"frame folder {shown(path.name)} {_absent(path, where)}")
        decoded = _decode_frame_folder(path, sampling, media.bound, media.folder_fps or 3.0)
    else:
        if not there:
            raise MediaError(f"video {shown(path.name)} {_absent(path, where)}")
        decoded = _decode_video(path, sampling, media.bound)
    if len(decoded.frames) == 0:
        raise MediaError(f"{shown(media.key)} gave no frames")
    return decoded


def load_clip(media: Media, sampling: Sampling, transform) -> Clip:
    """Decode ``media`` by ``sampling`` and apply the model's ``transform`` (see ``FrameTransform``; one whose
    ``images_on_white`` is true has an image's transparency composited onto white, and says so in its ``key``)."""
    decoded = decode(media, sampling, bool(getattr(transform, "images_on_white", False)))
    try:
        frames = transform(decoded.frames, decoded.kind)
    except Exception as error:
        raise MediaError(f"cannot prepare the frames of {shown(media.key)}: {type(error).__name__}: {error}") from error
    return Clip(
        media.key,
        "image" if decoded.kind == "image" else "video",
        frames,
        decoded.frame_map,
        decoded.indices,
        decoded.timestamps,
        decoded.source_frames,
        decoded.duration,
        decoded.note,
    )
