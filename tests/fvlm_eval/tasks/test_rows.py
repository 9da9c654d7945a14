"""The row checks the benchmark adapters share: option lists, videos under their suffixes, parquet problems."""

from __future__ import annotations

import pytest

from fvlm_eval.media import MediaError
from fvlm_eval.tasks.rows import count_note, find_video, read_parquet, text, texts


def test_a_video_is_found_under_the_first_suffix_that_exists(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "clip.MP4").write_bytes(b"x")
    assert find_video(tmp_path, "videos", "clip", (".mp4", ".MP4")) == (tmp_path / "videos" / "clip.MP4", ())
    path, looked_in = find_video(tmp_path, "videos", "gone", (".mp4", ".MP4"))
    assert path == tmp_path / "videos" / "gone.mp4" and looked_in == ("videos/gone.mp4", "videos/gone.MP4")
    assert find_video(tmp_path, "", "top.mp4", ("",))[1] == ("top.mp4",)


@pytest.mark.parametrize("name", ["../clip", "/etc/passwd", "a/../../b"])
def test_a_name_leaving_its_folder_is_refused(tmp_path, name):
    with pytest.raises(MediaError, match="escapes the data folder"):
        find_video(tmp_path, "videos", name, (".mp4",))


@pytest.mark.parametrize(
    "value, message",
    [
        ("ab", "must be a list of strings"),
        ({"a": 1}, "must be a list of strings"),
        (None, "must be a list of strings"),
        (7, "must be a list of strings"),
        (["a"], "holds 1 options: 2 to 10"),
        ([str(i) for i in range(11)], "holds 11 options: 2 to 10"),
        (["a", None], r"options\[1\] must be a non-empty string, not None"),
        (["a", "  "], r"options\[1\] must be a non-empty string"),
    ],
)
def test_option_lists_are_checked(value, message):
    with pytest.raises(ValueError, match=message):
        texts(value, "options")


def test_texts_and_notes():
    assert texts(("a", "b"), "options") == ["a", "b"]
    assert text({"q": "Why?"}, "q") == "Why?"
    with pytest.raises(ValueError, match="q must be a non-empty string, not 3"):
        text({"q": 3}, "q")
    assert count_note(5, 5, "rows") == ()
    assert count_note(4, 5, "rows") == ("4 rows, expected 5: another revision, or a partial copy?",)


def test_a_parquet_that_cannot_be_read_or_lacks_columns_is_a_problem(tmp_path):
    from fvlm_eval.tasks.fixtures.media import write_parquet

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"nope")
    rows, problem = read_parquet(bad, ("a",), 9, "thing parquet")
    assert rows == [] and problem["file"] == str(bad) and problem["expected"] == 9
    good = write_parquet(tmp_path / "good.parquet", [{"a": 1, "b": None}])
    assert read_parquet(good, ("a", "b"), 9, "thing parquet") == ([{"a": 1, "b": None}], None)
    rows, problem = read_parquet(good, ("a", "c"), 9, "thing parquet")
    assert problem["error"] == "lacks the columns c: not the thing parquet"
