"""Sampling picks the documented frames (read back from the pixels); bad media are clear errors.

``load_clip`` gives a ``Clip`` of uint8 RGB frames after the model's transform; ``decode`` the
``Decoded`` frames before it. Video decoding per backend and strategy: test_media_decode.py.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from fvlm_eval.media import MediaError, safe_join
from fvlm_eval.media.decode import decode, load_clip
from fvlm_eval.media.sampling import frame_indices
from fvlm_eval.models.base import FrameTransform
from fvlm_eval.tasks.fixtures.media import png_bytes, read_frame_number, write_frame_folder, write_gif, write_video
from fvlm_eval.types import Media, Sampling


def keep(frames, kind):
    """The identity transform: the decoded frames as they are."""
    return frames


def numbers(clip) -> list[int]:
    return [read_frame_number(clip.frames[i]) for i in clip.frame_map]


def video_media(path, bound=None, kind="video", fps=None) -> Media:
    return Media(kind, str(path), str(path), bound=bound, folder_fps=fps)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ----- sampling rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_frames,expected",
    [
        (30, [0, 2, 4, 5, 7, 9, 11, 13, 14, 16, 18, 20, 22, 24, 25, 27]),
        (160, [4, 14, 24, 34, 44, 54, 64, 74, 84, 93, 103, 113, 123, 133, 143, 153]),
    ],
)
def test_segment_midpoints_follow_mvbench(n_frames, expected):
    # MVBench: seg = (last - first) / 16; index_i = int(first + seg/2 + round(seg * i))
    indices, note = frame_indices(Sampling("segment_midpoints", 16), n_frames, 10.0, None)
    assert indices == expected and note is None


@pytest.mark.parametrize(
    "n_frames,fps,sampling,bound,expected",
    [
        # 10 s at 30 fps, 1 frame/s: round(1 * 10) = 10 frames, linspace(0, 299, 10) truncated
        (
            300,
            30.0,
            Sampling("fps_spread", 64, fps=1.0, skip_seconds=1.0),
            None,
            [0, 33, 66, 99, 132, 166, 199, 232, 265, 299],
        ),
        # 120 s at 25 fps, 0.5 frame/s capped at 8; 120 - 2 > 8 * 0.5: 1 s skipped at both ends
        # (int(1 * 25) = 25 to int(3000 - 25) = 2975), linspace(25, 2975, 8) truncated
        (
            3000,
            25.0,
            Sampling("fps_spread", 8, fps=0.5, skip_seconds=1.0),
            None,
            [25, 446, 867, 1289, 1710, 2132, 2553, 2975],
        ),
        # the same without skip_seconds: from the first to the last frame
        (3000, 25.0, Sampling("fps_spread", 8, fps=0.5), None, [0, 428, 856, 1285, 1713, 2142, 2570, 2999]),
        # a third of a second: round(0.33) = 0 frames asked, at least one taken
        (10, 30.0, Sampling("fps_spread", 64, fps=1.0), None, [0]),
        # 2 s of 4 frames at 8 frames/s: 16 asked, duplicates dropped
        (4, 2.0, Sampling("fps_spread", 16, fps=8.0), None, [0, 1, 2, 3]),
        # a bound of 2-6 s: frames 60..180 (121 frames, 4.03 s): 4 frames, linspace(0, 120, 4) + 60
        (300, 30.0, Sampling("fps_spread", 64, fps=1.0), (2.0, 6.0), [60, 100, 140, 180]),
    ],
)
def test_smolvlm_policy_follows_its_video_processor(n_frames, fps, sampling, bound, expected):
    # transformers' SmolVLMVideoProcessor.sample_frames: desired = max(1, min(round(fps * duration),
    # num_frames)); skip skip_secs at both ends when duration - 2 * skip_secs > num_frames * fps;
    # np.unique(np.linspace(start, end, desired, dtype=int)).
    assert frame_indices(sampling, n_frames, fps, bound)[0] == expected


@pytest.mark.parametrize("fps", [30000 / 1001, 24000 / 1001, 60000 / 1001, 25.0, 30.0, 0.5])
def test_the_fps_policy_steps_by_whole_frames_as_fvlms_release_does(fps):
    """nanoSmol fVLM/data.py ``_decode_mp4_frames``: ``range(0, total, max(1, int(fps)))[:64]``. The exact
    step (``round(i * fps)``) was taken: on 29.97 fps every 29.97th frame, 1 of the release's 64 frames alike."""
    n_frames = int(fps * 90)
    release = list(range(0, n_frames, max(1, int(fps))))[:64]
    assert frame_indices(Sampling("fps", 64, fps=1.0), n_frames, fps, None)[0] == release
    # other rates step alike, by whole frames: two a second from 29.97 fps is every 14th frame
    assert frame_indices(Sampling("fps", 8, fps=2.0), 300, 30000 / 1001, None)[0] == list(range(0, 8 * 14, 14))


def test_whole_frame_steps_are_another_setting_than_the_exact_seconds_before():
    """The sampling a run folder records was `fps:64@1fps` before and after the step changed: a folder made with
    the exact steps resumed with whole ones, its records of two frame choices side by side."""
    from fvlm_eval.reports.html.thumbnails import parse_sampling

    assert Sampling("fps", 64, fps=1.0).describe() == "fps:64@1fps-whole"
    assert parse_sampling("fps:64@1fps-whole") == parse_sampling("fps:64@1fps") == Sampling("fps", 64, fps=1.0)


def test_reversed_or_impossible_bounds_are_errors(tmp_path):
    with pytest.raises(MediaError, match="ends before it starts"):
        frame_indices(Sampling("uniform", 4), 100, 10.0, (5.0, 2.0))
    with pytest.raises(MediaError, match="is not finite"):
        frame_indices(Sampling("uniform", 4), 100, 10.0, (float("nan"), 2.0))
    path = write_video(tmp_path / "clip.mp4", 40)
    with pytest.raises(MediaError, match="ends before it starts"):
        load_clip(video_media(path, bound=(3.0, 1.0)), Sampling("uniform", 4), keep)
    with pytest.raises(MediaError, match="no frames"):
        frame_indices(Sampling("uniform", 4), 0, 10.0, None)
    with pytest.raises(MediaError, match="frame rate"):
        frame_indices(Sampling("uniform", 4), 10, 0.0, None)


# ----- videos -----------------------------------------------------------------------------------


def test_decoded_frames_are_the_sampled_ones(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 30)
    sampling = Sampling("segment_midpoints", 16)
    clip = load_clip(video_media(path), sampling, keep)
    expected = frame_indices(sampling, 30, 10.0, None)[0]
    assert numbers(clip) == list(clip.indices) == expected
    assert clip.kind == "video" and clip.key == str(path) and clip.n_frames == 16
    assert clip.frames.dtype == np.uint8 and clip.frames.shape == (len(set(expected)), 64, 64, 3)
    assert clip.timestamps == tuple(i / 10 for i in expected) and clip.source_frames == 30 and clip.duration == 3.0
    assert clip.frame_map == tuple(sorted(set(expected)).index(i) for i in expected)
    decoded = decode(video_media(path), sampling)
    assert np.array_equal(decoded.frames, clip.frames) and decoded.kind == "video"


def test_the_transform_is_applied_to_the_decoded_frames(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 30)
    clip = load_clip(video_media(path), Sampling("uniform", 4), FrameTransform((128, 96)))
    assert clip.frames.shape == (4, 96, 128, 3) and clip.frames.dtype == np.uint8
    assert numbers(clip) == [0, 9, 19, 29]

    def broken(frames, kind):
        raise RuntimeError("no")

    with pytest.raises(MediaError, match="cannot prepare the frames of .*RuntimeError: no"):
        load_clip(video_media(path), Sampling("uniform", 4), broken)


def test_bound_in_seconds_is_honoured(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 40, fps=10)
    clip = load_clip(video_media(path, bound=(1.0, 3.0)), Sampling("segment_midpoints", 4), keep)
    # frames 10..30, seg 5: 12, 17, 22, 27
    assert numbers(clip) == [12, 17, 22, 27] and clip.note is None


def test_bound_past_the_clip_is_clamped_and_noted(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 20, fps=10)
    clip = load_clip(video_media(path, bound=(1.0, 9.0)), Sampling("segment_midpoints", 3), keep)
    assert numbers(clip) == [11, 14, 17] and "clamped" in clip.note
    outside = load_clip(video_media(path, bound=(5.0, 6.0)), Sampling("uniform", 2), keep)
    assert numbers(outside) == [19, 19] and "clamped" in outside.note
    assert len(outside.frames) == 1 and outside.frame_map == (0, 0)


def test_uniform_and_fps_policies(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 50, fps=10)
    assert numbers(load_clip(video_media(path), Sampling("uniform", 5), keep)) == [0, 12, 24, 36, 49]
    # one frame a second from a 10 fps clip, capped at 3
    assert numbers(load_clip(video_media(path), Sampling("fps", 3, fps=1.0), keep)) == [0, 10, 20]
    assert numbers(load_clip(video_media(path), Sampling("fps", 64, fps=2.0), keep)) == list(range(0, 50, 5))


def test_webm_avi_mkv_and_gif(tmp_path):
    for name in ("clip.webm", "clip.avi", "clip.mkv"):
        clip = load_clip(video_media(write_video(tmp_path / name, 12)), Sampling("uniform", 4), keep)
        assert numbers(clip) == [0, 3, 7, 11]
    gif = load_clip(video_media(write_gif(tmp_path / "clip.gif", 10)), Sampling("uniform", 3), keep)
    assert numbers(gif) == [0, 4, 9] and gif.timestamps == (0.0, 0.16, 0.36)  # GIFs at 25 fps


def test_frame_folder_is_one_based_at_its_fps(tmp_path):
    folder = write_frame_folder(tmp_path / "frames", 24)
    clip = load_clip(
        video_media(folder, bound=(1.0, 6.0), kind="frame_folder", fps=3.0), Sampling("segment_midpoints", 4), keep
    )
    # 3 fps: frames 3..18 (1-based), seg 3.75: 4, 8, 12, 15
    assert numbers(clip) == [4, 8, 12, 15] == list(clip.indices)
    assert clip.timestamps == tuple(round((i - 1) / 3, 6) for i in (4, 8, 12, 15)) and clip.source_frames == 24


def test_videos_fail_saying_why_where_pyav_cannot_be_imported(tmp_path, monkeypatch):
    """Where ``import av`` failed, videos were decoded with decord, silently (only the manifest said so), and
    decord returns other frames than asked on open-GOP, MPEG-TS and B-frame AVI files. Now each video is a
    MediaError naming the reason; GIFs, frame folders and images, which PIL reads, still decode."""
    from fvlm_eval.media.decode import video_decoder

    path = write_video(tmp_path / "clip.mp4", 30)
    assert video_decoder().startswith("pyav")
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    assert video_decoder() == "none"
    with pytest.raises(MediaError) as caught:
        load_clip(video_media(path), Sampling("uniform", 4), keep)
    message = str(caught.value)
    assert (
        message.startswith("cannot decode clip.mp4: PyAV cannot be imported (ModuleNotFoundError: ")
        and "\n" not in message
    )
    assert "pip install av" in message and "decord is not used in its stead" in message
    gif = load_clip(video_media(write_gif(tmp_path / "clip.gif", 10)), Sampling("uniform", 3), keep)
    assert numbers(gif) == [0, 4, 9]
    folder = write_frame_folder(tmp_path / "frames", 6)
    assert numbers(load_clip(video_media(folder, kind="frame_folder", fps=3.0), Sampling("uniform", 2), keep)) == [1, 6]


@pytest.mark.parametrize("content,match", [(None, "is missing"), (b"garbage bytes, not a video", "cannot decode")])
def test_missing_and_corrupt_video_raise_media_error(tmp_path, content, match):
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=match):
        load_clip(video_media(path), Sampling(), keep)


def test_a_video_that_is_a_broken_link_is_said_to_be_one(tmp_path):
    """A link loop (or a link to a file moved away) standing for a video read "is missing": the file is there."""
    (tmp_path / "loop.mp4").symlink_to(tmp_path / "loop.mp4")
    (tmp_path / "moved.mp4").symlink_to(tmp_path / "elsewhere" / "moved.mp4")
    with pytest.raises(MediaError, match="video loop.mp4 is a broken link .* is a link that leads back to itself"):
        load_clip(video_media(tmp_path / "loop.mp4"), Sampling(), keep)
    with pytest.raises(
        MediaError, match="video moved.mp4 is a broken link .*elsewhere/moved.mp4, which does not exist"
    ):
        load_clip(video_media(tmp_path / "moved.mp4"), Sampling(), keep)


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(MediaError, match="is missing"):
        load_clip(video_media(tmp_path / "nowhere", kind="frame_folder", fps=3.0), Sampling(), keep)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no frames"):
        load_clip(video_media(tmp_path / "empty", kind="frame_folder", fps=3.0), Sampling(), keep)


# ----- images -----------------------------------------------------------------------------------


def test_image_is_one_frame_with_its_pixels():
    media = Media("image", "img", None, data=png_bytes(0))
    raw = np.asarray(Image.open(io.BytesIO(png_bytes(0))).convert("RGB"))
    clip = load_clip(media, Sampling(), keep)
    assert (
        clip.kind == "image" and clip.frames.shape == (1, 64, 64, 3) and clip.frame_map == (0,) and clip.n_frames == 1
    )
    assert clip.timestamps is None and np.array_equal(clip.frames[0], raw)
    resized = load_clip(media, Sampling(), FrameTransform((32, 32)))
    assert resized.frames.shape == (1, 32, 32, 3)
    as_is = load_clip(media, Sampling(), FrameTransform((32, 32), images_as_is=True))
    assert np.array_equal(as_is.frames[0], raw)


def test_image_from_a_path(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(png_bytes(3))
    clip = load_clip(Media("image", "img", str(path)), Sampling(), keep)
    assert np.array_equal(clip.frames[0], np.asarray(Image.open(path).convert("RGB")))
    with pytest.raises(MediaError, match="is missing"):
        load_clip(Media("image", "img", str(tmp_path / "gone.png")), Sampling(), keep)


def test_sixteen_bit_grayscale_png_keeps_its_full_range():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    image = Image.fromarray(ramp)
    assert image.mode.startswith("I")
    frame = decode(Media("image", "gray16", None, data=png(image)), Sampling()).frames[0]
    assert frame.shape == (16, 64, 3) and frame.dtype == np.uint8
    assert frame[0, 0].tolist() == [0, 0, 0] and frame[0, -1].tolist() == [255, 255, 255]
    assert abs(int(frame[0, 32, 0]) - 132) <= 2  # 32/63 of the range, not white
    assert np.array_equal(frame[..., 0], np.round(ramp / 65535 * 255).astype(np.uint8))


def test_palette_and_rgba_pngs_come_out_rgb():
    colours = np.array([[255, 0, 0], [0, 128, 255], [10, 200, 30]], dtype=np.uint8)
    pattern = np.arange(48).reshape(6, 8) % 3
    palette = Image.fromarray(pattern.astype(np.uint8), mode="L").convert("P")
    palette.putpalette(colours.flatten().tolist())
    rgba = np.zeros((6, 8, 4), dtype=np.uint8)
    rgba[..., :3], rgba[..., 3] = colours[pattern], np.arange(48).reshape(6, 8) * 5
    for image in (palette, Image.fromarray(rgba, mode="RGBA")):
        frame = decode(Media("image", image.mode, None, data=png(image)), Sampling()).frames[0]
        assert frame.shape == (6, 8, 3) and frame.dtype == np.uint8
        assert np.array_equal(frame, colours[pattern])


def transparent_pngs() -> dict[str, bytes]:
    """Black ink on a transparent page, as RGBA, LA, a palette with a transparent entry, and grey and RGB with a
    colour key (tRNS): every way a PNG can be transparent."""
    ink = np.zeros((12, 16, 4), dtype=np.uint8)
    ink[4:8, 2:14, 3] = 255
    ink[0, 0] = (200, 30, 30, 128)  # half transparent red
    rgba = Image.fromarray(ink, mode="RGBA")
    palette = rgba.convert("P")
    palette.info["transparency"] = palette.getpixel((1, 1))
    keyed = Image.fromarray(np.where(ink[..., 3:] == 255, 0, 90).astype(np.uint8).repeat(3, axis=2), mode="RGB")
    keyed.info["transparency"] = (90, 90, 90)
    grey = keyed.convert("L")
    grey.info["transparency"] = 90
    return {
        "RGBA": png(rgba),
        "LA": png(rgba.convert("LA")),
        "P": png(palette),
        "RGB": png(keyed),
        "L": png(grey),
    }


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "RGB", "L"])
def test_images_on_white_composite_transparency_as_transformers_does(mode):
    """SmolVLM's image processor composites transparency onto white (transformers' ``convert_to_rgb``); the decoder
    dropped the alpha first, so a diagram in black ink on a transparent page reached SmolVLM all black."""
    from transformers.image_transforms import convert_to_rgb

    data = transparent_pngs()[mode]
    media = Media("image", mode, None, data=data)
    on_white = decode(media, Sampling(), images_on_white=True).frames[0]
    assert np.array_equal(on_white, convert_to_rgb(Image.open(io.BytesIO(data)), return_numpy=True))
    assert on_white[10, 1].tolist() == [255, 255, 255] and on_white[5, 5].tolist() == [0, 0, 0]
    dropped = decode(media, Sampling()).frames[0]  # fVLM's release: convert("RGB"), the alpha dropped
    assert np.array_equal(dropped, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    assert load_clip(media, Sampling(), FrameTransform((16, 12), images_as_is=True)).frames[0].tolist() == (
        dropped.tolist()
    )


def test_corrupt_image_is_a_media_error():
    with pytest.raises(MediaError, match="cannot read image x") as caught:
        load_clip(Media("image", "x", None, data=b"nope"), Sampling(), keep)
    assert " at 0x" not in str(caught.value)


# ----- paths ------------------------------------------------------------------------------------


def test_paths_escaping_the_data_folder_are_refused(tmp_path):
    assert safe_join(tmp_path, "a/b.mp4") == tmp_path / "a/b.mp4"
    assert safe_join(tmp_path, "a/../b.mp4") == tmp_path / "a/../b.mp4"  # stays inside
    for bad in ("../x.mp4", "a/../../x.mp4", "./../x.mp4", "/etc/passwd"):
        with pytest.raises(MediaError, match="escapes"):
            safe_join(tmp_path, bad)


def test_a_linked_sub_folder_inside_the_data_folder_is_followed(tmp_path):
    elsewhere = tmp_path / "other_disk" / "videos"
    write_video(elsewhere / "clip.mp4", 12)
    root = tmp_path / "data"
    root.mkdir()
    (root / "videos").symlink_to(elsewhere, target_is_directory=True)
    path = safe_join(root, "videos/clip.mp4")
    assert path == root / "videos" / "clip.mp4" and path.is_file()
    assert numbers(load_clip(video_media(path), Sampling("uniform", 3), keep)) == [0, 5, 11]
    with pytest.raises(MediaError, match="escapes"):
        safe_join(root, "videos/../../other_disk/videos/clip.mp4")
