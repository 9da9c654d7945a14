"""Sampling picks the documented frames (read back from the pixels); bad media are clear errors."""

from __future__ import annotations

import pytest
import torch

from fvlm_eval import fixtures
from fvlm_eval.media import MediaError, frame_indices, load_clip, safe_join
from fvlm_eval.types import Media, Sampling


def numbers(clip):
    return [fixtures.read_frame_number(clip.pixels[i]) for i in clip.frame_map]


def video_media(path, bound=None, kind="video", fps=None):
    return Media(kind, str(path), str(path), bound=bound, folder_fps=fps)


@pytest.mark.parametrize("n_frames,expected", [
    (30, [0, 2, 4, 5, 7, 9, 11, 13, 14, 16, 18, 20, 22, 24, 25, 27]),
    (160, [4, 14, 24, 34, 44, 54, 64, 74, 84, 93, 103, 113, 123, 133, 143, 153]),
])
def test_segment_midpoints_follow_mvbench(n_frames, expected):
    # MVBench: seg = (last - first) / 16; index_i = int(first + seg/2 + round(seg * i))
    indices, note = frame_indices(Sampling("segment_midpoints", 16), n_frames, 10.0, None)
    assert indices == expected and note is None


def test_decoded_frames_are_the_sampled_ones(tmp_path):
    path = fixtures.write_video(tmp_path / "clip.mp4", 30)
    clip = load_clip(video_media(path), Sampling("segment_midpoints", 16))
    assert numbers(clip) == list(clip.note.indices) == frame_indices(Sampling("segment_midpoints", 16), 30, 10.0, None)[0]
    assert clip.pixels.shape[1:] == (3, 224, 224)


def test_bound_in_seconds_is_honoured(tmp_path):
    path = fixtures.write_video(tmp_path / "clip.mp4", 40, fps=10)
    clip = load_clip(video_media(path, bound=(1.0, 3.0)), Sampling("segment_midpoints", 4))
    # frames 10..30, seg 5: 12, 17, 22, 27
    assert numbers(clip) == [12, 17, 22, 27] and clip.note.note is None


def test_bound_past_the_clip_is_clamped_and_noted(tmp_path):
    path = fixtures.write_video(tmp_path / "clip.mp4", 20, fps=10)
    clip = load_clip(video_media(path, bound=(1.0, 9.0)), Sampling("segment_midpoints", 3))
    assert numbers(clip) == [11, 14, 17] and "clamped" in clip.note.note
    outside = load_clip(video_media(path, bound=(5.0, 6.0)), Sampling("uniform", 2))
    assert numbers(outside) == [19, 19] and "clamped" in outside.note.note


def test_uniform_and_fps_policies(tmp_path):
    path = fixtures.write_video(tmp_path / "clip.mp4", 50, fps=10)
    assert numbers(load_clip(video_media(path), Sampling("uniform", 5))) == [0, 12, 24, 36, 49]
    # one frame a second from a 10 fps clip, capped at 3
    assert numbers(load_clip(video_media(path), Sampling("fps", 3, fps=1.0))) == [0, 10, 20]
    assert numbers(load_clip(video_media(path), Sampling("fps", 64, fps=2.0))) == list(range(0, 50, 5))


def test_webm_avi_and_gif(tmp_path):
    for name in ("clip.webm", "clip.avi"):
        clip = load_clip(video_media(fixtures.write_video(tmp_path / name, 12)), Sampling("uniform", 4))
        assert numbers(clip) == [0, 3, 7, 11]
    gif = load_clip(video_media(fixtures.write_gif(tmp_path / "clip.gif", 10)), Sampling("uniform", 3))
    assert numbers(gif) == [0, 4, 9]


def test_frame_folder_is_one_based_at_its_fps(tmp_path):
    folder = fixtures.write_frame_folder(tmp_path / "frames", 24)
    clip = load_clip(video_media(folder, bound=(1.0, 6.0), kind="frame_folder", fps=3.0), Sampling("segment_midpoints", 4))
    # 3 fps: frames 3..18 (1-based), seg 3.75: 4, 8, 12, 15
    assert numbers(clip) == [4, 8, 12, 15] == list(clip.note.indices)


def test_image_is_replicated_without_copies(tmp_path):
    media = Media("image", "img", None, data=fixtures.png_bytes(0))
    clip = load_clip(media, Sampling(image_copies=8))
    assert clip.pixels.shape == (1, 3, 224, 224) and clip.frame_map == (0,) * 8 and clip.n_frames == 8


def test_preprocessing_is_imagenet_normalised(tmp_path):
    media = Media("image", "img", None, data=fixtures.png_bytes(1))
    from PIL import Image
    import io
    import numpy as np

    raw = np.asarray(Image.open(io.BytesIO(fixtures.png_bytes(1))).convert("RGB"), dtype=np.float32) / 255
    pixels = load_clip(media, Sampling()).pixels[0]
    restored = pixels * torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1) + torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    # 64 px blocks of 16 upsampled to 224: block centres keep their colour
    centre = restored[:, 28, 28].numpy()
    assert np.allclose(centre, raw[8, 8], atol=1 / 255)


@pytest.mark.parametrize("content,match", [(None, "is missing"), (b"garbage bytes, not a video", "cannot decode")])
def test_missing_and_corrupt_video_raise_media_error(tmp_path, content, match):
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=match):
        load_clip(video_media(path), Sampling())


def test_corrupt_image_and_empty_folder(tmp_path):
    with pytest.raises(MediaError, match="cannot read image"):
        load_clip(Media("image", "x", None, data=b"nope"), Sampling())
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no frames"):
        load_clip(video_media(tmp_path / "empty", kind="frame_folder", fps=3.0), Sampling())


def test_paths_escaping_the_data_folder_are_refused(tmp_path):
    assert safe_join(tmp_path, "a/b.mp4") == (tmp_path / "a/b.mp4").resolve()
    for bad in ("../x.mp4", "a/../../x.mp4", "/etc/passwd"):
        with pytest.raises(MediaError, match="escapes"):
            safe_join(tmp_path, bad)
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(MediaError, match="escapes"):
        safe_join(tmp_path, "link/etc/passwd")


def test_pyav_decodes_the_same_frames_where_decord_is_absent(tmp_path, monkeypatch):
    import sys

    path = fixtures.write_video(tmp_path / "clip.mp4", 30)
    with_decord = load_clip(video_media(path, bound=(0.5, 2.5)), Sampling("segment_midpoints", 8))
    monkeypatch.setitem(sys.modules, "decord", None)  # import decord now raises ImportError
    without = load_clip(video_media(path, bound=(0.5, 2.5)), Sampling("segment_midpoints", 8))
    assert numbers(without) == numbers(with_decord) == list(with_decord.note.indices)
    with pytest.raises(MediaError, match="cannot decode"):
        (tmp_path / "bad.mp4").write_bytes(b"not a video")
        load_clip(video_media(tmp_path / "bad.mp4"), Sampling())
