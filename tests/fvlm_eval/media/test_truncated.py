"""A webm or mkv cut short (a download that stopped) is told, not scored as a shorter valid video.

Neither container counts its frames, so the decoder counts packets; a cut file keeps the duration its
header states. Like a cut file whose container does count them (test_pyav.py, the AVI), it is sampled
over its stated length, the frames past its end repeat its last frame, and the note says what it holds.
A shortfall within the tolerance (rounding, a last frame's duration) is no truncation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fvlm_eval.media.decode import decode
from fvlm_eval.media.pyav import decode_video_pyav
from fvlm_eval.media.sampling import frame_indices
from fvlm_eval.tasks.fixtures.media import numbered_frame, read_frame_number, write_video
from fvlm_eval.types import Media, Sampling

av = pytest.importorskip("av")

FPS = 10


def numbers(decoded) -> list[int]:
    return [read_frame_number(decoded.frames[i]) for i in decoded.frame_map]


def cut(full: Path, path: Path, holds: int) -> Path:
    """``full`` cut in the middle of its packet ``holds`` (0-based): the first ``holds`` frames survive."""
    with av.open(str(full)) as container:
        packet = [p for p in container.demux(video=0) if p.size][holds]
        cut_at = packet.pos + packet.size // 2
    path.write_bytes(full.read_bytes()[:cut_at])
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("truncated")
    return {name: write_video(folder / name, 60, fps=FPS) for name in ("clip.webm", "clip.mkv")}


@pytest.mark.parametrize("name", ["clip.webm", "clip.mkv"])
def test_a_cut_webm_or_mkv_is_sampled_over_its_stated_length_and_says_so(videos, tmp_path, name):
    path = cut(videos[name], tmp_path / name, 36)  # 6.0 s stated, 36 frames (3.6 s) held
    sampling = Sampling("uniform", 6)  # 0 11 23 35 47 59
    results = [decode_video_pyav(path, sampling, None, strategy) for strategy in ("stream", "seek", "auto")]
    for decoded in results:
        assert decoded.source_frames == 60 and decoded.duration == 6.0
        assert list(decoded.indices) == frame_indices(sampling, 60, FPS, None)[0]
        assert (
            decoded.note == f"{name} claims 6.0 s but holds 3.6 s (36 frames): frames 47-59 repeat its last frame (35)"
        )
        assert numbers(decoded) == [0, 11, 23, 35, 35, 35]
        assert np.array_equal(decoded.frames, results[0].frames)


def test_the_note_stands_when_every_sampled_frame_survived(videos, tmp_path):
    path = cut(videos["clip.webm"], tmp_path / "clip.webm", 36)
    decoded = decode(Media("video", "clip", str(path), bound=(0.0, 2.0)), Sampling("uniform", 3))
    assert numbers(decoded) == [0, 10, 20] and decoded.note == "clip.webm claims 6.0 s but holds 3.6 s (36 frames)"


def test_a_shortfall_within_the_tolerance_is_no_truncation(videos, tmp_path):
    path = cut(videos["clip.mkv"], tmp_path / "clip.mkv", 55)  # 0.5 s short of 6.0 s: under a second
    decoded = decode_video_pyav(path, Sampling("uniform", 4), None)
    assert decoded.note is None and decoded.source_frames == 55 and numbers(decoded) == [0, 18, 36, 54]


def test_the_video_streams_own_duration_is_what_it_claims(tmp_path):
    # 2 s of video beside 3.5 s of audio: the container states 3.5 s, the video stream 2 s; not a truncation
    path = tmp_path / "with_audio.webm"
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libvpx", rate=FPS)
        video.width = video.height = 64
        video.pix_fmt, video.bit_rate = "yuv420p", 2_000_000
        audio = container.add_stream("libopus", rate=48000)
        for i in range(20):
            for packet in video.encode(av.VideoFrame.from_ndarray(numbered_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for k in range(175):  # 3.5 s of 20 ms frames
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, k * 960
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        assert container.duration / 1e6 > 3.4 and container.streams.video[0].frames == 0
    decoded = decode_video_pyav(path, Sampling("uniform", 3), None)
    assert decoded.note is None and decoded.source_frames == 20 and numbers(decoded) == [0, 9, 19]
