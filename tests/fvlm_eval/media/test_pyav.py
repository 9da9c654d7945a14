"""Video decoding returns exactly the sampled frames, with both backends and every strategy.

The videos are written here with PyAV: several keyframe intervals, each frame showing its own
number (``numbered_frame``), which ``read_frame_number`` reads back. PyAV
streams (counting frames from the start) or seeks (numbering frames by their timestamps); decord
reads through its own index.
"""

from __future__ import annotations

import sys
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fvlm_eval.media import MediaError
from fvlm_eval.media.decode import decode
from fvlm_eval.media.decode import decode_video_decord as _decode_video_decord
from fvlm_eval.media.pyav import decode_video_pyav as _decode_video_pyav
from fvlm_eval.media.sampling import frame_indices
from fvlm_eval.tasks.fixtures.media import SIZE, numbered_frame, read_frame_number
from fvlm_eval.types import Media, Sampling

av = pytest.importorskip("av")
try:
    import decord  # noqa: F401

    HAVE_DECORD = True
except ImportError:
    HAVE_DECORD = False

N_FRAMES, FPS, GOP = 130, 10, 10


def write(
    path: Path,
    n_frames: int = N_FRAMES,
    codec: str = "libx264",
    gop: int = GOP,
    bframes: int = 0,
    options: dict | None = None,
    pts=None,
    fps: int = FPS,
) -> Path:
    """Frame i shows i; a keyframe at least every ``gop`` frames; ``pts(i)`` in 1/fps units to bend the timing."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "12", "g": str(gop), "bf": str(bframes), **(options or {})}
        else:
            stream.bit_rate = 2_000_000
            stream.codec_context.max_b_frames = bframes
            stream.options = {"g": str(gop), **(options or {})}
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(numbered_frame(i), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts(i), Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# name: (codec, extra writer arguments). mp4 and avi report their frame count; webm and mkv do not.
FORMATS = {
    "h264.mp4": ("libx264", {}),
    "h264-bframes.mp4": ("libx264", {"bframes": 2, "options": {"preset": "veryfast"}}),
    "h264.mkv": ("libx264", {}),
    "vp8.webm": ("libvpx", {}),
    "vp9.webm": ("libvpx-vp9", {"options": {"deadline": "realtime", "cpu-used": "8"}}),
    "mpeg4.mkv": ("mpeg4", {}),
    "mpeg4.avi": ("mpeg4", {}),
}
# Files whose keyframes are not where their decode order puts them (an open GOP, MPEG-4 B-frames):
# decord 0.6 numbers its seeks by decode order and returns other frames; PyAV must stay exact.
HARD_FORMATS = {
    "h264-open-gop.mp4": (
        "libx264",
        {"bframes": 3, "gop": 24, "options": {"preset": "medium", "x264-params": "open-gop=1:keyint=24:min-keyint=5"}},
    ),
    "mpeg4-bframes.avi": ("mpeg4", {"bframes": 2}),
    "mpeg4-bframes.mkv": ("mpeg4", {"bframes": 2}),
}
SAMPLINGS = [
    (Sampling("uniform", 8), None),  # sparse, the very last frame included
    (Sampling("segment_midpoints", 16), (2.0, 9.5)),
    (Sampling("uniform", 5), (10.0, 20.0)),  # a bound past the clip: clamped, the last frame repeated
    (Sampling("fps", 64, fps=5.0), None),  # dense: every other frame
]
PYAV = ["stream", "seek", "auto"]
DECORD = ["each", "batch", "groups"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        name: write(folder / name, codec=codec, **extra) for name, (codec, extra) in {**FORMATS, **HARD_FORMATS}.items()
    }


def numbers(decoded) -> list[int]:
    return [read_frame_number(decoded.frames[i]) for i in decoded.frame_map]


def check_exact(decoded, sampling, bound, n_frames=N_FRAMES):
    expected, note = frame_indices(sampling, n_frames, FPS, bound)
    assert list(decoded.indices) == expected and decoded.note == note
    assert numbers(decoded) == expected
    assert decoded.frames.dtype == np.uint8 and decoded.frames.shape[1:] == (SIZE, SIZE, 3)
    assert len(decoded.frames) == len(set(expected)) and decoded.source_frames == n_frames


@pytest.mark.parametrize("strategy", PYAV)
@pytest.mark.parametrize("name", [*FORMATS, *HARD_FORMATS])
def test_pyav_returns_exactly_the_sampled_frames(videos, name, strategy):
    for sampling, bound in SAMPLINGS:
        stats = {}
        decoded = _decode_video_pyav(videos[name], sampling, bound, strategy, stats)
        check_exact(decoded, sampling, bound)
        assert not stats["fallback"]
        if strategy == "stream":
            assert stats["seeks"] == 0 and stats["restarts"] == 0
        elif strategy == "seek":
            assert stats["seeks"] > 0
        if sampling.frames == 8 and strategy != "stream":  # sparse frames: far fewer decoded than streaming
            assert stats["decoded"] < N_FRAMES * 0.8


@pytest.mark.skipif(not HAVE_DECORD, reason="decord is not installed")
@pytest.mark.parametrize("strategy", DECORD)
@pytest.mark.parametrize("name", FORMATS)
def test_decord_returns_exactly_the_sampled_frames(videos, name, strategy):
    for sampling, bound in SAMPLINGS:
        check_exact(_decode_video_decord(videos[name], sampling, bound, strategy), sampling, bound)


@pytest.mark.skipif(not HAVE_DECORD, reason="decord is not installed")
@pytest.mark.xfail(reason="decord 0.6 seeks by decode order: other frames after a seek in open GOPs", strict=False)
@pytest.mark.parametrize("name", HARD_FORMATS)
def test_decord_on_open_gops(videos, name):
    sampling = Sampling("uniform", 16)
    check_exact(_decode_video_decord(videos[name], sampling, None), sampling, None)


def test_webm_and_mkv_report_no_frame_count(videos):
    for name in ("vp8.webm", "vp9.webm", "mpeg4.mkv", "h264.mkv"):
        with av.open(str(videos[name])) as container:
            assert container.streams.video[0].frames == 0
    with av.open(str(videos["h264.mp4"])) as container:
        assert container.streams.video[0].frames == N_FRAMES


def test_the_public_route_is_pyav_whether_decord_is_installed_or_not(videos, monkeypatch):
    sampling = Sampling("segment_midpoints", 8)
    media = Media("video", "clip", str(videos["h264-bframes.mp4"]), bound=(1.0, 12.0))
    with_default = decode(media, sampling)
    monkeypatch.setitem(sys.modules, "decord", None)  # import decord now raises ImportError
    without = decode(media, sampling)
    assert numbers(without) == numbers(with_default) == list(with_default.indices)
    assert np.array_equal(without.frames, with_default.frames)


@pytest.mark.parametrize(
    "name,pts",
    [
        ("vfr.mp4", lambda i: i + i // 3),  # a variable rate: a longer frame every third
        ("gap.mp4", lambda i: i + (i >= 60)),  # a constant rate with one frame missing
        ("gap.webm", lambda i: i + (i >= 60)),
    ],
)
def test_timestamps_that_do_not_count_frames_are_streamed(tmp_path, name, pts):
    path = write(tmp_path / name, codec="libvpx" if name.endswith(".webm") else "libx264", pts=pts)
    for strategy in PYAV:
        for sampling in (Sampling("uniform", 8), Sampling("segment_midpoints", 6)):
            stats = {}
            decoded = _decode_video_pyav(path, sampling, None, strategy, stats)
            fps = decoded.source_frames / decoded.duration
            expected, _ = frame_indices(sampling, N_FRAMES, fps, None)
            assert numbers(decoded) == list(decoded.indices) == expected
            assert stats["seeks"] == 0 or stats["fallback"]
    if HAVE_DECORD:
        decoded = _decode_video_decord(path, Sampling("uniform", 8), None)
        assert numbers(decoded) == list(decoded.indices)


def test_a_container_claiming_more_frames_than_it_holds(tmp_path):
    # An AVI cut short in its 41st frame: its header still counts 60 frames, the data ends early.
    full = write(tmp_path / "full.avi", 60, codec="mpeg4")
    with av.open(str(full)) as container:
        packet = [p for p in container.demux(video=0) if p.size][40]
        cut_at = packet.pos + packet.size // 2
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[:cut_at])
    sampling = Sampling("uniform", 6)  # 0 11 23 35 47 59
    results = [_decode_video_pyav(cut, sampling, None, strategy) for strategy in PYAV]
    for decoded in results:
        assert decoded.source_frames == 60 and "claims 60 frames but holds 41" in decoded.note
        assert "frames 47-59 repeat its last frame (40)" in decoded.note
        assert numbers(decoded)[:4] == [0, 11, 23, 35]
        assert np.array_equal(decoded.frames[-1], decoded.frames[-2])  # 47 and 59 are past the end
        assert np.array_equal(decoded.frames, results[0].frames)


def cut_by_stream_copy(full: Path, path: Path, hidden: int) -> Path:
    """``full`` remuxed with its first ``hidden`` frames before time 0, as ``ffmpeg -ss -c copy`` writes it: the
    mov muxer hides them with an edit list (those from the keyframe before the cut stay in the file as pre-roll)."""
    with av.open(str(full)) as source, av.open(str(path), mode="w") as out:
        stream = source.streams.video[0]
        copy = out.add_stream_from_template(stream)
        shift = hidden * round(1 / (stream.base_rate * stream.time_base))
        for packet in source.demux(stream):
            if packet.dts is None:
                continue
            packet.pts, packet.dts, packet.stream = packet.pts - shift, packet.dts - shift, copy
            out.mux(packet)
    return path


@pytest.mark.parametrize("bframes", [0, 2])
def test_an_mp4_cut_by_stream_copy_is_sampled_over_the_frames_it_shows(tmp_path, bframes):
    """Its frame count (130) counts frames an edit list hides (25, from the keyframe before the cut on kept as
    pre-roll); decoders show 105. The count was sampled over: the last sampled frames repeated frame 129, the
    times ran past the end, and the note blamed the file ("claims 130 frames but holds 105")."""
    full = write(tmp_path / "full.mp4", bframes=bframes)
    cut = cut_by_stream_copy(full, tmp_path / "cut.mp4", hidden=25)
    with av.open(str(cut)) as container:
        assert container.streams.video[0].frames == N_FRAMES  # the container still counts the hidden frames
    for strategy in PYAV:
        for sampling, bound in SAMPLINGS:
            decoded = _decode_video_pyav(cut, sampling, bound, strategy)
            expected, note = frame_indices(sampling, N_FRAMES - 25, FPS, bound)
            assert list(decoded.indices) == expected and decoded.note == note
            assert [number - 25 for number in numbers(decoded)] == expected  # the frames a player shows, by index
            assert decoded.source_frames == N_FRAMES - 25 and decoded.duration == (N_FRAMES - 25) / FPS
            assert max(decoded.timestamps) < decoded.duration


def test_the_video_stream_ffmpeg_chooses_is_sampled_not_a_cover_track_before_it(tmp_path):
    """A Matroska file whose first video track is a one-frame cover picture (MJPEG), the video second: the first
    track was taken, and every sampled frame was the cover, with no note."""
    path = tmp_path / "cover_first.mkv"
    with av.open(str(path), mode="w") as container:
        cover = container.add_stream("mjpeg", rate=1)
        cover.width = cover.height = SIZE
        cover.pix_fmt = "yuvj420p"
        video = container.add_stream("libx264", rate=FPS)
        video.width = video.height = SIZE
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "12", "g": str(GOP)}
        picture = av.VideoFrame.from_ndarray(np.full((SIZE, SIZE, 3), 200, dtype=np.uint8), format="rgb24")
        for packet in [*cover.encode(picture), *cover.encode()]:
            container.mux(packet)
        for i in range(N_FRAMES):
            for packet in video.encode(av.VideoFrame.from_ndarray(numbered_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    sampling = Sampling("uniform", 8)
    for strategy in PYAV:
        decoded = _decode_video_pyav(path, sampling, None, strategy)
        expected, _ = frame_indices(sampling, N_FRAMES, FPS, None)
        assert numbers(decoded) == list(decoded.indices) == expected and decoded.source_frames == N_FRAMES
        assert (
            decoded.note == "cover_first.mkv holds 2 video streams (#0 mjpeg, #1 h264): #1 sampled, as FFmpeg chooses"
        )


def test_a_stream_marked_as_an_attached_picture_is_never_sampled(tmp_path):
    """Should FFmpeg's own choice fall on a cover (the ``attached_pic`` disposition), the video beside it is taken;
    a file holding only a cover is an error, not a one-frame video."""
    from fvlm_eval.media.pyav import _video_stream

    attached = int(av.stream.Disposition.attached_pic)

    class Stream:
        def __init__(self, index: int, disposition: int):
            self.index, self.disposition = index, disposition

    class Streams:
        def __init__(self, video):
            self.video = video

        def best(self, kind):
            return self.video[0]

    class Container:
        def __init__(self, *video):
            self.streams = Streams(list(video))

    assert _video_stream(Container(Stream(0, attached), Stream(1, 0)), av, Path("a.mp4")).index == 1
    with pytest.raises(MediaError, match="cannot decode a.mp4: it holds only a cover picture"):
        _video_stream(Container(Stream(0, attached)), av, Path("a.mp4"))


@pytest.mark.parametrize("damage", ["garbage", "cut_moov_at_end", "cut_faststart", "no_video"])
def test_unreadable_files_are_media_errors(tmp_path, damage):
    path = tmp_path / "bad.mp4"
    if damage == "garbage":
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    elif damage == "no_video":
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("aac", rate=16000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in [*stream.encode(frame), *stream.encode()]:
                container.mux(packet)
    else:
        options = {"movflags": "faststart"} if damage == "cut_faststart" else {}
        source = tmp_path / "source.mp4"
        with av.open(str(source), mode="w", options=options) as container:
            stream = container.add_stream("libx264", rate=FPS)
            stream.width = stream.height = SIZE
            stream.options = {"preset": "ultrafast", "g": str(GOP)}
            for i in range(60):
                for packet in stream.encode(av.VideoFrame.from_ndarray(numbered_frame(i), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        data = source.read_bytes()
        path.write_bytes(data[: len(data) * 6 // 10])
    for strategy in PYAV:
        with pytest.raises(MediaError, match="cannot decode bad.mp4: .+") as caught:
            _decode_video_pyav(path, Sampling("uniform", 8), None, strategy)
        if damage == "no_video":
            assert "no video stream" in str(caught.value)
        elif damage == "cut_faststart":
            assert "after frame" in str(caught.value)
    if HAVE_DECORD:
        with pytest.raises(MediaError, match="cannot decode bad.mp4"):
            _decode_video_decord(path, Sampling("uniform", 8), None)


def test_unknown_strategies_are_refused(videos):
    with pytest.raises(ValueError):
        _decode_video_pyav(videos["h264.mp4"], Sampling(), None, "fastest")
    if HAVE_DECORD:
        with pytest.raises(ValueError):
            _decode_video_decord(videos["h264.mp4"], Sampling(), None, "fastest")


# ----- memory -----------------------------------------------------------------------------------

LONG_FRAMES, WIDTH, HEIGHT = 3000, 320, 180


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """3000 frames of 320x180 (518 MB as RGB), x264's default keyframe interval of 250."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    planes = np.full((HEIGHT * 3 // 2, WIDTH), 128, dtype=np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "250"}
        for i in range(LONG_FRAMES):
            planes[:HEIGHT] = 60
            planes[:HEIGHT, (i * 2) % (WIDTH - 8) :][:, :8] = 220
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("strategy", ["auto", "stream"])
def test_pyav_keeps_only_the_sampled_frames_in_memory(long_video, strategy):
    frame_bytes = WIDTH * HEIGHT * 3
    stats = {}
    tracemalloc.start()
    try:
        decoded = _decode_video_pyav(long_video, Sampling("uniform", 8), None, strategy, stats)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded.frames.shape == (8, HEIGHT, WIDTH, 3) and decoded.source_frames == LONG_FRAMES
    # the 8 frames kept and a couple in flight, against 3000 for the whole video
    assert peak < 12 * frame_bytes, f"peak {peak / frame_bytes:.1f} frames"
    if strategy == "auto":
        assert stats["seeks"] >= 6 and stats["decoded"] < LONG_FRAMES / 2
    else:
        assert stats["decoded"] == LONG_FRAMES
