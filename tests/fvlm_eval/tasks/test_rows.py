"""What the benchmark adapters share: the hub's shard set of a split (and nothing beside it), option lists, videos
under their suffixes, parquet problems."""

from __future__ import annotations

import shutil

import pytest

from fvlm_eval.media import MediaError
from fvlm_eval.tasks.rows import count_note, find_video, hub_shards, read_parquet, text, texts


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


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_only_the_hub_shard_set_is_read_and_a_stray_copy_beside_it_is_named(tmp_path):
    """Every ``test-*.parquet`` was read: a browser's ``... (1).parquet`` or a ``.old.parquet`` kept by hand added
    every question a second time, with no word of the extra file."""
    strays = ("test-00000-of-00001 (1).parquet", "test-00000-of-00001.old.parquet", "test-00003-of-00001.parquet")
    _touch(tmp_path, "test-00000-of-00001.parquet", *strays, "validation-00000-of-00001.parquet")
    shards = hub_shards(tmp_path, "test")
    assert shards.paths == (tmp_path / "test-00000-of-00001.parquet",) and not shards.missing and not shards.sets
    assert sorted(shards.strays) == sorted(strays) and shards.problems(10, 10) == []
    (note,) = shards.notes()
    assert all(repr(name) in note for name in strays) and "read: test-00000-of-00001.parquet" in note


def test_a_split_in_several_shards_is_read_in_shard_order_fingerprinted_names_too(tmp_path):
    names = [f"test-0000{i}-of-00003-0123456789abcdef.parquet" for i in (2, 0, 1)]
    _touch(tmp_path, *names)
    shards = hub_shards(tmp_path, "test")
    assert [p.name for p in shards.paths] == sorted(names) and shards.notes() == () and shards.problems(9, 9) == []


def test_two_shard_sets_are_a_problem_and_neither_is_read(tmp_path):
    """Another revision's files beside this one's were read together: every question twice, or two revisions
    mixed."""
    _touch(tmp_path, "test-00000-of-00001.parquet", "test-00000-of-00002.parquet", "test-00001-of-00002.parquet")
    shards = hub_shards(tmp_path, "test")
    assert shards.paths == ()
    (problem,) = shards.problems(500, 0)
    assert problem["expected"] == 500 and "2 sets of test shards" in problem["error"]
    assert "test-00000-of-00001.parquet | test-00000-of-00002.parquet, test-00001-of-00002.parquet" in problem["error"]


def test_a_missing_shard_is_a_problem_counting_the_questions_the_copy_lacks(tmp_path):
    _touch(tmp_path, "test-00000-of-00003.parquet", "test-00002-of-00003.parquet")
    shards = hub_shards(tmp_path, "test")
    assert [p.name for p in shards.paths] == ["test-00000-of-00003.parquet", "test-00002-of-00003.parquet"]
    (problem,) = shards.problems(500, 320)
    assert problem["file"] == str(tmp_path / "test-00001-of-00003.parquet") and problem["expected"] == 180
    assert "1 of them absent (test-00001-of-00003.parquet)" in problem["error"]


def test_a_complete_set_is_read_beside_an_unfinished_one_which_is_named(tmp_path):
    _touch(tmp_path, "test-00000-of-00001.parquet", "test-00001-of-00002.parquet")
    shards = hub_shards(tmp_path, "test")
    assert [p.name for p in shards.paths] == ["test-00000-of-00001.parquet"] and not shards.problems(5, 5)
    assert shards.strays == ("test-00001-of-00002.parquet",)


@pytest.mark.parametrize(
    "name, annotations",
    [
        ("videomme", "videomme/videomme"),
        ("perceptiontest", "perceptiontest/mc_question_val"),
        ("egoschema", "egoschema/Subset"),
        ("nextqa", "nextqa/MC"),
        ("scienceqa", "scienceqa/ScienceQA-IMG"),
    ],
)
def test_every_hub_parquet_adapter_counts_a_stray_copy_once_and_names_it(tmp_path, name, annotations):
    """ScienceQA and NExT-QA read a second copy beside their parquet as more questions (ScienceQA's ids are row
    offsets, so each was scored twice; NExT-QA's became ``id#2``); the others ignored it without a word."""
    from fvlm_eval.tasks import get_benchmark

    task = get_benchmark(name)
    task.write_fixture(tmp_path)
    folder = tmp_path / annotations
    (only,) = [p for p in folder.iterdir() if p.suffix == ".parquet"]
    before = task.load(tmp_path)
    stray = folder / only.name.replace(".parquet", " (1).parquet")
    shutil.copy(only, stray)
    after = task.load(tmp_path)
    assert [q.id for q in after.questions] == [q.id for q in before.questions]
    assert {q.source for q in after.questions} == {only.name}
    assert any(note.startswith(f"not read: {stray.name!r} in {folder}") for note in after.notes)


@pytest.mark.parametrize("name, annotations", [("videomme", "videomme/videomme"), ("egoschema", "egoschema/Subset")])
def test_a_split_the_hub_reshards_is_read_from_all_its_shards(tmp_path, name, annotations):
    """Video-MME, Perception Test and EgoSchema read one fixed file name: the same split in two shards was
    "annotations not found"."""
    import pyarrow.parquet as pq

    from fvlm_eval.tasks import get_benchmark

    task = get_benchmark(name)
    task.write_fixture(tmp_path)
    folder = tmp_path / annotations
    whole = folder / "test-00000-of-00001.parquet"
    before = task.load(tmp_path)
    table = pq.read_table(whole)
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), folder / "test-00000-of-00002.parquet")
    pq.write_table(table.slice(half), folder / "test-00001-of-00002.parquet")
    whole.unlink()
    after = task.load(tmp_path)
    assert [q.id for q in after.questions] == [q.id for q in before.questions] and not after.problems


def test_a_stray_file_alone_is_data_missing_naming_it(tmp_path):
    from fvlm_eval.tasks import DataMissing, get_benchmark

    _touch(tmp_path / "egoschema" / "Subset", "test-00000-of-00001 (1).parquet")
    with pytest.raises(DataMissing) as missing:
        get_benchmark("egoschema").load(tmp_path)
    said = str(missing.value)
    assert "expected " + str(tmp_path / "egoschema/Subset/test-00000-of-00001.parquet") in said
    assert "not read: 'test-00000-of-00001 (1).parquet'" in said
