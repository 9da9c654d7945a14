"""A frame folder's frames are placed in time by their numbers: gaps are said, never closed up.

The TVQA layout of MVBench: ``00001.jpg`` .. at 3 fps, frame k at (k - 1) / 3 s. With 00010 to 00019
gone, frame 20 is still at 19/3 s; a sampled frame that falls in the gap shows the nearest frame
held, and the note says how many numbers are missing and which sampled frames stand in.
"""

from __future__ import annotations

import pytest

from fvlm_eval.media import MediaError
from fvlm_eval.media.decode import decode
from fvlm_eval.media.sampling import frame_indices
from fvlm_eval.tasks.fixtures.media import read_frame_number, write_frame_folder
from fvlm_eval.types import Media, Sampling


def shown_numbers(decoded) -> list[int]:
    return [read_frame_number(decoded.frames[i]) for i in decoded.frame_map]


def folder_media(folder, bound=None) -> Media:
    return Media("frame_folder", folder.name, str(folder), bound=bound, folder_fps=3.0)


def test_missing_frame_numbers_keep_the_others_in_place_and_are_said(tmp_path):
    folder = write_frame_folder(tmp_path / "castle_s07e04_seg02_clip_14", 24)
    for k in range(10, 20):
        (folder / f"{k:05d}.jpg").unlink()
    decoded = decode(folder_media(folder, bound=(1.0, 6.0)), Sampling("segment_midpoints", 4))
    # as with all 24 frames: frames 3..18, seg 3.75: 4, 8, 12, 15 at (k - 1) / 3 s
    assert list(decoded.indices) == [4, 8, 12, 15] and decoded.source_frames == 24
    assert decoded.timestamps == tuple(round((k - 1) / 3, 6) for k in (4, 8, 12, 15))
    assert shown_numbers(decoded) == [4, 8, 9, 20]  # 12 and 15 lie in the gap: the nearest frames held
    assert decoded.note == (
        "frame folder castle_s07e04_seg02_clip_14 lacks 10 of its frame numbers 1-24 (frames 10-19): "
        "sampled frames 12, 15 show the nearest frame held"
    )


def test_several_gaps_and_a_gap_no_sampled_frame_meets(tmp_path):
    folder = write_frame_folder(tmp_path / "clip", 30)
    for k in (1, 2, 7, 25):
        (folder / f"{k:05d}.jpg").unlink()
    decoded = decode(folder_media(folder), Sampling("uniform", 3))  # 1, 15, 30
    assert shown_numbers(decoded) == [3, 15, 30] and list(decoded.indices) == [1, 15, 30]
    assert decoded.note == (
        "frame folder clip lacks 4 of its frame numbers 1-30 (3 gaps, the first 1-2): "
        "sampled frame 1 shows the nearest frame held"
    )


def test_a_whole_folder_has_no_note(tmp_path):
    folder = write_frame_folder(tmp_path / "clip", 12)
    decoded = decode(folder_media(folder), Sampling("uniform", 4))
    assert decoded.note is None and shown_numbers(decoded) == list(decoded.indices) == [1, 4, 8, 12]


def test_frames_that_cannot_be_placed_in_time_are_media_errors(tmp_path):
    folder = write_frame_folder(tmp_path / "mixed", 6)
    (folder / "cover.jpg").write_bytes((folder / "00001.jpg").read_bytes())
    with pytest.raises(MediaError, match=r"mixes numbered frames with 1 unnumbered \(cover.jpg\)"):
        decode(folder_media(folder), Sampling("uniform", 4))
    (folder / "cover.jpg").unlink()
    (folder / "0003.jpg").write_bytes((folder / "00003.jpg").read_bytes())
    with pytest.raises(MediaError, match=r"two frames numbered 3 \(00003.jpg, 0003.jpg\)"):
        decode(folder_media(folder), Sampling("uniform", 4))


def named_frames(folder, names: dict[int, str]):
    """Frames named as given, frame k showing k."""
    from PIL import Image

    from fvlm_eval.tasks.fixtures.media import numbered_frame

    folder.mkdir(parents=True)
    for k, name in names.items():
        Image.fromarray(numbered_frame(k)).save(folder / name, quality=95)
    return folder


@pytest.mark.parametrize(
    "pattern",
    ["{k}_frame.jpg", "frame{k}_hq.png", "clip3_{k:04d}.jpg", "{k:04d}_480p.jpg", "img{k}.jpeg"],
)
def test_a_number_anywhere_in_the_names_places_the_frames_in_time(tmp_path, pattern):
    """``1_frame.jpg`` .. ``30_frame.jpg``: only digits that ended the stem were read, so these names counted as
    unnumbered and the folder was taken in listing order (1, 10, 11, .., 19, 2, 20, ..): frames out of time
    order, with no note. The last run of digits is the number; where that is the same in every name
    (``0001_480p``), the one run that differs."""
    folder = named_frames(tmp_path / "clip", {k: pattern.format(k=k) for k in range(1, 31)})
    sampling = Sampling("segment_midpoints", 8)
    decoded = decode(folder_media(folder), sampling)
    expected, _ = frame_indices(sampling, 30, 3.0, None, first_index=1)
    assert shown_numbers(decoded) == list(decoded.indices) == expected
    assert decoded.note is None and decoded.source_frames == 30


def test_names_whose_numbers_cannot_place_them_are_refused_naming_the_folder(tmp_path):
    """Two cameras' frames in one folder (``cam1_0001``, ``cam2_0001``): no one number orders them in time."""
    names = {k: f"cam{1 + k % 2}_{(k + 1) // 2:04d}.jpg" for k in range(1, 9)}
    folder = named_frames(tmp_path / "two_cameras", names)
    with pytest.raises(MediaError, match=r"frame folder two_cameras holds two frames numbered 1 "):
        decode(folder_media(folder), Sampling("uniform", 4))


def test_names_without_digits_keep_the_listing_order(tmp_path):
    folder = named_frames(tmp_path / "letters", {k: f"{'abcdef'[k - 1]}.jpg" for k in range(1, 7)})
    decoded = decode(folder_media(folder), Sampling("uniform", 3))
    assert shown_numbers(decoded) == list(decoded.indices) == [1, 3, 6] and decoded.note is None
