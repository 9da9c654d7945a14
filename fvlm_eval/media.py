"""Media: pick frame indices, decode only those frames, hand them over as uint8 RGB.

Videos (mp4, webm, avi, mkv) decode with PyAV (decord only where PyAV is missing: see
``video_decoder``); either reaches each sampled frame by seeking to the keyframe before it where the frames are sparse, so
the cost and the memory grow with the frames sampled, not with the video (only the sampled
frames are ever kept as RGB). Frame folders, GIFs and images decode with PIL (16-bit and palette
images converted with their full range). The model's ``FrameTransform`` (its resize)
is applied here, in the decoding workers. Every failure is a ``MediaError`` with a reason in
words, which the run records against each question of that media; nothing here exits.
"""

from __future__ import annotations

import bisect
import io
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fvlm_eval.types import Clip, Media, Sampling

GIF_FPS = 25.0
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


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


# ----- which frames -------------------------------------------------------------------------


def frame_indices(
    sampling: Sampling, n_frames: int, fps: float, bound: tuple[float, float] | None, first_index: int = 0
) -> tuple[list[int], str | None]:
    """Frame indices (``first_index``-based) to read from a clip of ``n_frames`` at ``fps``.

    A bound in seconds is applied, clamped to the clip with a note when it had to be; a bound
    that ends before it starts is an error (not one frame scored as if it were the clip).
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
        if not (np.isfinite(bound[0]) and np.isfinite(bound[1])) or bound[1] < bound[0]:
            raise MediaError(f"bound {bound[0]:g}-{bound[1]:g}s ends before it starts")
        raw_start, raw_end = round(bound[0] * fps), round(bound[1] * fps)
        start, end = max(first_index, raw_start), min(raw_end, last)
        if raw_end > last or raw_start < first_index or start > end:
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
    if sampling.policy == "smolvlm":
        return _smolvlm_indices(sampling, start, end, fps), note
    raise ValueError(f"unknown sampling policy {sampling.policy!r}")


def _smolvlm_indices(sampling: Sampling, start: int, end: int, fps: float) -> list[int]:
    """SmolVLM2's video sampling (its video processor's ``sample_frames``) over [start, end]."""
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


# ----- decoding -----------------------------------------------------------------------------


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


def _decoded(frames: np.ndarray, unique: list[int], indices: list[int], n_source: int, fps: float, note: str | None,
             first_index: int = 0) -> Decoded:
    position = {index: i for i, index in enumerate(unique)}
    return Decoded(frames, tuple(position[i] for i in indices), tuple(indices),
                   tuple(round((i - first_index) / fps, 6) for i in indices), n_source, n_source / fps, note, "video")


def _rgb(image) -> np.ndarray:
    """Any PIL image as uint8 RGB, 16-bit and float modes scaled from their full range (not clipped)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode == "F":
            top = 1.0 if array.max() <= 1.0 else 255.0
        gray = np.clip(np.round(array / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def video_decoder() -> str:
    """The video decoder this process uses, with its version: PyAV, which returns exactly the
    sampled frames (numbered by timestamp after a seek); decord only where PyAV is not installed
    (decord 0.6 returns other frames after a seek in open-GOP files: tests/fvlm_eval/test_media_decode.py)."""
    try:
        import av

        return f"pyav-{av.__version__}"
    except ImportError:
        pass
    try:
        import decord

        return f"decord-{decord.__version__}"
    except ImportError:
        return "none"


def _decode_video(path: Path, sampling: Sampling, bound) -> Decoded:
    if path.suffix.lower() == ".gif":
        return _decode_gif(path, sampling, bound)
    decoder = video_decoder()
    if decoder.startswith("pyav"):
        return _decode_video_pyav(path, sampling, bound)
    if decoder.startswith("decord"):
        return _decode_video_decord(path, sampling, bound)
    raise MediaError(f"cannot decode {path.name}: neither PyAV (pip install av) nor decord is installed")


# decord finds a frame by seeking to the keyframe before it and decoding forward (its own index of
# keyframes, built when the file is opened). The three ways of asking for the sampled frames cost
# the same CPU within noise (benchmarks/bench_decode.py: 64 frames of a 10 or 60 minute 640x360
# video, 3-5 s each, where PyAV's seeking takes 1.2-1.9 s); "each" holds the frames once, where
# ``get_batch`` holds them twice (its array and the numpy copy: +106 MB against +63 MB for those
# 64 frames of 44 MB), so it is the default.
DECORD_STRATEGIES = ("each", "batch", "groups")


def _decode_video_decord(path: Path, sampling: Sampling, bound, strategy: str = "each") -> Decoded:
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
                frames[row:row + len(batch)] = batch
                row += len(batch)
    except MediaError:
        raise
    except Exception as error:  # decord.DECORDError is not a RuntimeError
        raise MediaError(f"cannot decode {path.name}: {type(error).__name__}: {str(error).splitlines()[0][:200]}") from error
    return _decoded(frames, unique, indices, n_frames, fps, note)


# PyAV: the sampled frames are reached by decoding forward from the start ("stream") or by seeking
# to the keyframe before each one and decoding forward to it ("seek"); "auto" chooses per frame.
# Decoding costs about the same per frame whichever frame it is, so "auto" seeks when the keyframe
# before the next wanted frame lies ahead of the decoder by more than a seek costs: exactly so when
# the keyframes are known (webm/mkv, whose packets are counted anyway), else in expectation from
# the longest keyframe interval seen so far (a seek then decodes half an interval on average, going
# on decodes the whole gap), starting from a guess of DEFAULT_GOP_FRAMES. Measured with
# benchmarks/bench_decode.py (640x360 H.264, a keyframe every 250 frames): for 64 uniform frames of
# 10 minutes, streaming decodes 15000 frames (2.0-3.6 s of CPU), seeking 8251 (1.2-1.9 s); of 60
# minutes, 90000 (12-17 s) against 9004 (1.3-1.6 s); for 16 segment midpoints, 14531 and 87187
# frames against 1998 and 2002. A seek costs what decoding 2.5 frames costs on that video, 18 on a
# textured one with B-frames (the keyframe, the reordering delay): SEEK_COST_FRAMES between.
PYAV_STRATEGIES = ("auto", "stream", "seek")
SEEK_COST_FRAMES = 8  # a seek (demuxer seek, decoder flush, a keyframe to decode) costs about this many frames
DEFAULT_GOP_FRAMES = 250  # x264's default; too long a guess only streams until two keyframes are seen


class _PtsUnreliable(Exception):
    """After a seek, the stream's timestamps did not number its frames one by one (a variable
    frame rate, a gap, no timestamps), or the container could not seek: the frames are read
    again from the start, counting."""


@dataclass
class _Layout:
    """What the container says about a video stream before decoding."""

    n_frames: int
    fps: float
    ticks: float  # pts units per frame
    constant_rate: bool  # timestamps and frame count agree: frame i is at pts (pts of frame 0) + i * ticks
    keyframes: list[int] | None  # the keyframes' indices, where the packets had to be counted anyway
    counted: bool  # the packets were read to count them (the container is no longer at the start)


def _pyav_open(path: Path):
    import av

    container = av.open(str(path))
    if not container.streams.video:
        container.close()
        raise MediaError(f"cannot decode {path.name}: it holds no video stream")
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1  # the decoding workers are processes
    return container, stream


def _pyav_layout(container, stream) -> _Layout:
    fps = float(stream.average_rate or stream.guessed_rate or 25)
    nominal = stream.base_rate or stream.average_rate  # the rate the timestamps step by, where constant
    ticks = 1.0 / (float(nominal) * float(stream.time_base)) if nominal and stream.time_base else 0.0
    if stream.frames > 0 and stream.duration is not None:
        # n frames a tick apart last n ticks; a gap or a variable rate shows as a longer or shorter stream
        # (the average rate alone cannot show it: it is frames / duration).
        constant = ticks > 0 and abs(stream.duration - stream.frames * ticks) < 0.75 * ticks
        return _Layout(stream.frames, fps, ticks, constant, None, False)
    # No count or no duration in the container (webm, mkv): count the packets, without decoding them;
    # their timestamps tell whether the rate is constant and where the keyframes are.
    n_frames, low, high, key_pts, all_pts = 0, None, None, [], True
    for packet in container.demux(stream):
        if not packet.size:
            continue
        n_frames += 1
        pts = packet.pts
        if pts is None:
            all_pts = False
            continue
        low = pts if low is None or pts < low else low
        high = pts if high is None or pts > high else high
        if packet.is_keyframe:
            key_pts.append(pts)
    constant = all_pts and ticks > 0 and n_frames > 0 and abs((high - low) - (n_frames - 1) * ticks) < 0.75 * ticks
    keyframes = sorted({round((pts - low) / ticks) for pts in key_pts}) if constant and key_pts else None
    return _Layout(stream.frames or n_frames, fps, ticks, constant, keyframes, True)


class _PyAVReader:
    """Hands out the frames of a video stream in order, each with its index (frame i is the i-th
    frame shown). From the start of the file they are numbered by counting; after a seek, by their
    pts: (pts - pts of frame 0) / ticks, which must come out whole and one after another (else
    ``_PtsUnreliable``). Only the frame handed out last is held, undecoded to RGB."""

    def __init__(self, path: Path, layout: _Layout, strategy: str, opened=None):
        self.path, self.layout, self.strategy = path, layout, strategy
        self.container = self.stream = self.packets = None
        self.pending: deque = deque()
        self.origin = None  # pts of frame 0
        self.pts_ok = strategy != "stream" and layout.constant_rate
        self.counting = True
        self.position: int | None = -1  # index of the frame handed out last (None: just after a seek)
        self.floor = self.floor_dts = None  # after a seek: the keyframe's pts and dts (frames before it dropped)
        self.run_key: int | None = None  # the last keyframe seen since the last seek
        self.interval = 0  # the longest keyframe interval seen
        self.landing = 0  # the longest keyframe-to-target distance a seek has shown
        self.last = None  # the frame handed out last
        self.stats = {"strategy": strategy, "seeks": 0, "decoded": 0, "restarts": 0}
        self._start(opened)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    # -- decoding forward

    def _start(self, opened=None) -> None:
        """(Re)open the file at its first frame, where numbering by counting from 0 is exact."""
        self.close()
        self.container, self.stream = opened or _pyav_open(self.path)
        self.packets = self.container.demux(self.stream)
        self.pending.clear()
        self.counting, self.position, self.floor, self.run_key = True, -1, None, None

    def _index_of(self, pts) -> float:
        return (pts - self.origin) / self.layout.ticks

    def _next(self):
        """The next frame as (index, frame), or None at the end of the stream."""
        while True:
            while not self.pending:
                packet = next(self.packets, None) if self.packets is not None else None
                if packet is None:
                    self.packets = None
                    return None
                if not self.counting and self.floor is None:  # just after a seek: start at a keyframe
                    if not packet.is_keyframe or packet.pts is None:
                        continue
                    self.floor, self.floor_dts = packet.pts, packet.dts
                if packet.is_keyframe and packet.pts is not None and self.origin is not None:
                    self._saw_keyframe(round(self._index_of(packet.pts)))
                self.pending.extend(packet.decode())
            frame = self.pending.popleft()
            self.stats["decoded"] += 1
            pts = frame.pts
            if self.counting:
                index = self.position + 1
                if index == 0:
                    self.origin = pts
                    self._saw_keyframe(0)
                if pts is None or self.origin is None or abs(self._index_of(pts) - index) > 0.25:
                    self.pts_ok = False
            else:
                if pts is None:
                    raise _PtsUnreliable("a frame without a timestamp")
                if pts < self.floor:  # shown before the keyframe sought to (an open GOP): not whole from here
                    continue
                exact = self._index_of(pts)
                index = round(exact)
                if abs(exact - index) > 0.25 or (self.position is not None and index != self.position + 1):
                    raise _PtsUnreliable(f"pts {pts} does not follow frame {self.position}")
            self.position, self.last = index, frame
            return index, frame

    def _saw_keyframe(self, index: int) -> None:
        if self.run_key is not None and index > self.run_key:
            self.interval = max(self.interval, index - self.run_key)
        self.run_key = index

    # -- seeking

    def _gop(self) -> float:
        if self.interval:
            return max(self.interval, self.landing)
        return max(DEFAULT_GOP_FRAMES, self.landing)

    def _should_seek(self, target: int) -> bool:
        if not self.pts_ok or self.origin is None or self.position is None:
            return False
        if self.strategy == "seek":
            return True
        ahead = self.position + SEEK_COST_FRAMES
        if self.layout.keyframes is not None:
            before = bisect.bisect_right(self.layout.keyframes, target) - 1
            return before >= 0 and self.layout.keyframes[before] > ahead
        return target - ahead > self._gop() / 2

    def _seek(self, target: int):
        """Seek to the keyframe at or before ``target``; the first frame from there, as (index, frame)."""
        pts, step = self.origin + round(target * self.layout.ticks), 1
        while True:
            if pts <= self.origin:
                self.stats["restarts"] += 1
                self._start()
                return self._next()
            self.stats["seeks"] += 1
            try:
                self.container.seek(int(pts), stream=self.stream, backward=True, any_frame=False)
            except Exception as error:  # a container that cannot seek: read it from the start
                raise _PtsUnreliable(f"cannot seek: {error}") from error
            self.packets = self.container.demux(self.stream)
            self.pending.clear()
            self.counting, self.position, self.floor, self.floor_dts, self.run_key = False, None, None, None, None
            item = self._next()
            if item is not None and item[0] <= target:
                self.landing = max(self.landing, target - item[0] + 1)
                return item
            # Landed after it: demuxers find keyframes by decode time (AVI, B-frames), which can be
            # before the frame's own display time. Seek again to just before that keyframe.
            landed = [t for t in (self.floor, self.floor_dts) if t is not None]
            pts = min([pts, *landed]) - step
            step *= 2

    def read(self, unique: list[int]) -> tuple[np.ndarray | None, int | None, list[int]]:
        """The RGB frames [len(unique),H,W,3] of the sorted indices ``unique``; when the stream ends
        before the last of them, also the index of its last frame and the indices it does not hold
        (their rows repeat that last frame)."""
        row_of = {index: row for row, index in enumerate(unique)}
        frames, done = None, set()

        def store(rows: list[int], frame) -> np.ndarray:
            nonlocal frames
            if frames is None:
                frames = np.empty((len(unique), frame.height, frame.width, 3), dtype=np.uint8)
            frames[rows] = frame.to_ndarray(format="rgb24", width=frames.shape[2], height=frames.shape[1])
            return frames

        item = self._next()
        for target in unique:
            if target in done:
                continue
            if item is None or item[0] < target:
                item = self._seek(target) if self._should_seek(target) else self._next()
            while item is not None:
                index, frame = item
                if index in row_of and index not in done:
                    store([row_of[index]], frame)
                    done.add(index)
                if index >= target:
                    break
                item = self._next()
            if item is None:  # the stream ended first
                missing = [i for i in unique if i not in done]
                if self.last is not None:
                    store([row_of[i] for i in missing], self.last)
                return frames, self.position, missing
        return frames, None, []


def _decode_video_pyav(path: Path, sampling: Sampling, bound, strategy: str = "auto",
                       stats: dict | None = None) -> Decoded:
    """PyAV: only the sampled frames are kept as RGB, reached by seeking where they are sparse.
    ``strategy``: "auto", or "stream"/"seek" to force one (tests, benchmarks); ``stats``, a dict
    to fill with what it took (frames decoded, seeks)."""
    if strategy not in PYAV_STRATEGIES:
        raise ValueError(f"unknown PyAV strategy {strategy!r}")
    readers: list[_PyAVReader] = []
    stage = "cannot open it as a video"
    try:
        container, stream = _pyav_open(path)
        try:
            stage = "cannot read its packets"
            layout = _pyav_layout(container, stream)
            indices, note = frame_indices(sampling, layout.n_frames, layout.fps, bound)
        except BaseException:
            container.close()
            raise
        if layout.counted:  # read to its end: start again from a fresh opening
            container.close()
        unique = sorted(set(indices))
        stage = "decoding failed"
        try:
            readers.append(_PyAVReader(path, layout, strategy, None if layout.counted else (container, stream)))
            frames, end, missing = readers[-1].read(unique)
        except _PtsUnreliable:  # timestamps that do not number the frames: count them from the start
            readers[-1].close()
            readers.append(_PyAVReader(path, layout, "stream"))
            frames, end, missing = readers[-1].read(unique)
    except MediaError:
        raise
    except Exception as error:
        where = f" after frame {readers[-1].position}" if readers and readers[-1].position is not None else ""
        raise MediaError(f"cannot decode {path.name}: {stage}{where} (the file may be damaged or cut short): "
                         f"{type(error).__name__}: {error}") from error
    finally:
        for reader in readers:
            reader.close()
        if stats is not None and readers:
            stats.update(readers[0].stats, fallback=len(readers) > 1)
            stats["decoded"] = sum(reader.stats["decoded"] for reader in readers)
    if frames is None:
        raise MediaError(f"cannot decode {path.name}: it holds no frames")
    if missing:  # the container announced more frames than it holds
        short = (f"{path.name} claims {layout.n_frames} frames but holds {end + 1}: "
                 f"frames {missing[0]}-{missing[-1]} repeat its last frame ({end})")
        note = f"{note}; {short}" if note else short
    return _decoded(frames, unique, indices, layout.n_frames, layout.fps, note)


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
        raise MediaError(f"cannot read GIF {path.name}: {type(error).__name__}: {error}") from error
    return _decoded(np.stack(frames), unique, indices, n_frames, GIF_FPS, note)


def _decode_frame_folder(folder: Path, sampling: Sampling, bound, fps: float) -> Decoded:
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
                frames.append(_rgb(image))
        except Exception as error:
            raise MediaError(f"cannot read frame {path.name} of {folder.name}: {error}") from error
    if len({frame.shape for frame in frames}) != 1:
        raise MediaError(f"frames of {folder.name} differ in size")
    return _decoded(np.stack(frames), unique, indices, len(files), fps, note, first_index=1)


def _decode_image(media: Media) -> Decoded:
    from PIL import Image

    try:
        source = io.BytesIO(media.data) if media.data is not None else media.path
        with Image.open(source) as image:
            frame = _rgb(image)
    except Exception as error:
        reason = re.sub(r"<[^>]* at 0x[0-9a-fA-F]+>", "the image bytes", str(error))  # no memory addresses in records
        raise MediaError(f"cannot read image {media.key}: {type(error).__name__}: {reason}") from error
    return Decoded(frame[None], (0,), (0,), None, 1, None, None, "image")


def decode(media: Media, sampling: Sampling) -> Decoded:
    """The sampled frames of ``media``; raises ``MediaError`` with the reason."""
    if media.kind == "image":
        if media.data is None and (media.path is None or not Path(media.path).is_file()):
            raise MediaError(f"image {media.path or media.key} is missing")
        return _decode_image(media)
    if media.path is None:
        raise MediaError(f"{media.key} has no path")
    path = Path(media.path)
    where = f" (looked in {', '.join(media.looked_in)})" if media.looked_in else ""
    if media.kind == "frame_folder":
        if not path.is_dir():
            raise MediaError(f"frame folder {path.name} is missing{where}")
        decoded = _decode_frame_folder(path, sampling, media.bound, media.folder_fps or 3.0)
    else:
        if not path.is_file():
            raise MediaError(f"video {path.name} is missing{where}")
        decoded = _decode_video(path, sampling, media.bound)
    if len(decoded.frames) == 0:
        raise MediaError(f"{media.key} gave no frames")
    return decoded


def load_clip(media: Media, sampling: Sampling, transform) -> Clip:
    """Decode ``media`` by ``sampling`` and apply the model's ``transform`` (see ``FrameTransform``)."""
    decoded = decode(media, sampling)
    try:
        frames = transform(decoded.frames, decoded.kind)
    except Exception as error:
        raise MediaError(f"cannot prepare the frames of {media.key}: {type(error).__name__}: {error}") from error
    return Clip(media.key, "image" if decoded.kind == "image" else "video", frames, decoded.frame_map, decoded.indices,
                decoded.timestamps, decoded.source_frames, decoded.duration, decoded.note)
