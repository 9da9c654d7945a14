"""PyAV: only the sampled frames of a video are kept as RGB, reached by seeking where they are sparse."""

from __future__ import annotations

import bisect
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fvlm_eval.media import MediaError, shown
from fvlm_eval.media.decoded import Decoded, decoded_frames
from fvlm_eval.media.sampling import frame_indices
from fvlm_eval.types import Sampling

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
# A container with no frame count (webm, mkv) still states a duration; a cut-off download keeps it. Its
# packets falling short of it by more than this is a truncation (less is rounding, the last frame's
# duration, an audio track a little longer than the video): the larger of a second, two frames, 1%.
SHORT_BY_SECONDS, SHORT_BY_FRAMES, SHORT_BY_SHARE = 1.0, 2, 0.01


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
    short: tuple[float, float, int] | None = None  # (seconds stated, seconds held, frames held) of a truncated one
    stated: bool = True  # n_frames is the container's own count (else the packets', as they are shown)


def rgb(frame, width: int, height: int) -> np.ndarray:
    """A decoded frame as uint8 RGB [height, width, 3], scaled in this thread alone. swscale's own threads (PyAV's
    default, "auto") are a pool that a forked process inherits without its threads: with PyAV 18.1.1, a decoding
    worker forked after this process had scaled a frame waited for them forever (a run with --workers hung).
    The workers are processes already; one thread each loses nothing. (PyAV before 13 has no ``threads``.)"""
    try:
        return frame.to_ndarray(format="rgb24", width=width, height=height, threads=1)
    except TypeError:  # an older PyAV: no threads argument (nor slice threads to inherit)
        return frame.to_ndarray(format="rgb24", width=width, height=height)


def _pyav_open(path: Path):
    import av

    container = av.open(str(path))
    try:
        stream = _video_stream(container, av, path)
    except BaseException:
        container.close()
        raise
    stream.codec_context.thread_count = 1  # the decoding workers are processes
    return container, stream


def _video_stream(container, av, path: Path):
    """The video stream FFmpeg (and so a player, and decord) takes: ``av_find_best_stream``, never a cover
    picture (the ``attached_pic`` disposition). The first video stream was once taken: a file whose first
    track is a one-frame cover was scored as that picture repeated."""
    disposition = getattr(getattr(av, "stream", None), "Disposition", None)
    cover = int(disposition.attached_pic) if disposition is not None else 0
    videos = [s for s in container.streams.video if not int(getattr(s, "disposition", 0) or 0) & cover]
    if not videos:
        held = "only a cover picture" if container.streams.video else "no video stream"
        raise MediaError(f"cannot decode {shown(path.name)}: it holds {held}")
    best = container.streams.best("video") if hasattr(container.streams, "best") else None
    return next((s for s in videos if best is not None and s.index == best.index), videos[0])


def _stream_said(path: Path, container, stream) -> str | None:
    """Which video stream was sampled, where the file holds several (None where it holds one)."""
    videos = container.streams.video
    if len(videos) < 2:
        return None
    listed = ", ".join(f"#{s.index} {s.codec_context.name}" for s in videos)
    return (
        f"{shown(path.name)} holds {len(videos)} video streams ({listed}): #{stream.index} sampled, as FFmpeg chooses"
    )


def _pyav_layout(container, stream) -> _Layout:
    fps = float(stream.average_rate or stream.guessed_rate or 25)
    nominal = stream.base_rate or stream.average_rate  # the rate the timestamps step by, where constant
    ticks = 1.0 / (float(nominal) * float(stream.time_base)) if nominal and stream.time_base else 0.0
    if stream.frames > 0 and stream.duration is not None:
        # n frames a tick apart last n ticks; a gap or a variable rate shows as a longer or shorter stream
        # (the average rate alone cannot show it: it is frames / duration).
        if ticks > 0 and abs(stream.duration - stream.frames * ticks) < 0.75 * ticks:
            return _Layout(stream.frames, fps, ticks, True, None, False)
    # No count or no duration in the container (webm, mkv), or the two disagree: a variable rate, frames
    # hidden by an edit list (an mp4 cut by stream copy keeps the frames from the keyframe before the cut,
    # in its count, never shown: its count was once sampled over, the frames past the end repeating the last),
    # or a file cut short. Count the packets without decoding them, those marked to be discarded left out, as a
    # player shows them; their timestamps tell whether the rate is constant and where the keyframes are.
    n_frames, low, high, key_pts, all_pts, last_duration, discarded = 0, None, None, [], True, 0, 0
    for packet in container.demux(stream):
        if not packet.size:
            continue
        if getattr(packet, "is_discard", False):
            discarded += 1
            continue
        n_frames += 1
        pts = packet.pts
        if pts is None:
            all_pts = False
            continue
        low = pts if low is None or pts < low else low
        if high is None or pts > high:
            high, last_duration = pts, packet.duration or 0
        if packet.is_keyframe:
            key_pts.append(pts)
    constant = all_pts and ticks > 0 and n_frames > 0 and abs((high - low) - (n_frames - 1) * ticks) < 0.75 * ticks
    keyframes = sorted({round((pts - low) / ticks) for pts in key_pts}) if constant and key_pts else None
    if stream.frames:
        # The frames shown where the file hides some (packets to discard, or as many shown as its duration
        # lasts); else a file that holds fewer than it states (an AVI cut short), sampled over what it states.
        spans = stream.duration is not None and ticks > 0 and abs(stream.duration - n_frames * ticks) < 0.75 * ticks
        if stream.duration is not None and (discarded or spans or n_frames >= stream.frames):
            return _Layout(n_frames, fps, ticks, constant, keyframes, True, stated=False)
        return _Layout(stream.frames, fps, ticks, constant, keyframes, True)
    # Only the packets count the frames: a file cut short holds fewer than its stated duration asks for.
    # Sampled over the stated length, as a stated frame count is (the frames past the end repeat the last).
    stated = _stated_seconds(container, stream)
    held = n_frames / fps
    if high is not None and stream.time_base:  # its timeline's end, however its rate varies
        held = max(held, float((high - min(low, 0) + (last_duration or ticks)) * stream.time_base))
    if stated is None or stated - held <= max(SHORT_BY_SECONDS, SHORT_BY_FRAMES / fps, SHORT_BY_SHARE * stated):
        return _Layout(n_frames, fps, ticks, constant, keyframes, True, stated=False)
    stated_frames = n_frames + round((stated - held) * fps)
    return _Layout(stated_frames, fps, ticks, constant, keyframes, True, (stated, held, n_frames))


def _stated_seconds(container, stream) -> float | None:
    """The duration the file states for its video: the stream's own DURATION tag (Matroska), else a
    Matroska/WebM segment's (which may include a slightly longer audio track); None when it states none.
    Other containers' durations are not taken: FFmpeg may estimate them from the bitrate."""
    for key, value in (stream.metadata or {}).items():
        if key.upper().startswith("DURATION"):
            match = re.fullmatch(r"\s*(\d+):(\d\d):(\d\d(?:\.\d*)?)\s*", str(value))
            if match:
                return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])
    if "matroska" in (container.format.name or "") and container.duration and container.duration > 0:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


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
            frames[rows] = rgb(frame, frames.shape[2], frames.shape[1])
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


def decode_video_pyav(
    path: Path, sampling: Sampling, bound, strategy: str = "auto", stats: dict | None = None
) -> Decoded:
    """PyAV: only the sampled frames are kept as RGB, reached by seeking where they are sparse.
    ``strategy``: "auto", or "stream"/"seek" to force one (tests, benchmarks); ``stats``, a dict
    to fill with what it took (frames decoded, seeks)."""
    if strategy not in PYAV_STRATEGIES:
        raise ValueError(f"unknown PyAV strategy {strategy!r}")
    readers: list[_PyAVReader] = []
    stage = "cannot open it as a video"
    try:
        container, stream = _pyav_open(path)
        streams_said = _stream_said(path, container, stream)
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
        raise MediaError(
            f"cannot decode {shown(path.name)}: {stage}{where} (the file may be damaged or cut short): "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        for reader in readers:
            reader.close()
        if stats is not None and readers:
            stats.update(readers[0].stats, fallback=len(readers) > 1)
            stats["decoded"] = sum(reader.stats["decoded"] for reader in readers)
    if frames is None:
        raise MediaError(f"cannot decode {shown(path.name)}: it holds no frames")
    short = None
    if layout.short is not None:  # no frame count, and fewer packets than its stated duration holds
        stated, held, held_frames = layout.short
        short = f"{shown(path.name)} claims {stated:.1f} s but holds {held:.1f} s ({held_frames} frames)"
    elif missing and layout.stated:  # the container announced more frames than it holds
        short = f"{shown(path.name)} claims {layout.n_frames} frames but holds {end + 1}"
    elif missing:  # packets counted that gave no frame
        short = f"{shown(path.name)}: {end + 1} of its {layout.n_frames} frames decode"
    if missing:
        short += f": frames {missing[0]}-{missing[-1]} repeat its last frame ({end})"
    for said in (short, streams_said):
        if said:
            note = f"{note}; {said}" if note else said
    return decoded_frames(frames, unique, indices, layout.n_frames, layout.fps, note)
