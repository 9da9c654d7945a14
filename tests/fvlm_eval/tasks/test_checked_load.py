"""What any benchmark's ``load`` gives, checked before a run asks it (``base.checked_load``): a question that
cannot be asked as given fails with what is wrong, made recordable; ids made distinct; no ``Loaded`` of
``Question``s is one line. (Run end to end through a plugin: tests/fvlm_eval/run/test_plugin_benchmarks.py.)"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from fvlm_eval.tasks.base import Benchmark, Loaded, UnusableLoad, checked_load, unique_ids
from fvlm_eval.types import Media, Option, Question

GOOD = Question(
    "b/1",
    "b",
    Media("image", "b/1.png", "/d/1.png"),
    "Which?",
    (Option("A", "one"), Option("B", "two")),
    "B",
    "1.png",
    fields=(("subject", "biology"),),
)


@pytest.mark.parametrize(
    "change, said",
    [
        ({"gold": None}, "its gold is None"),
        ({"gold": "Z"}, "its gold 'Z' is not one of its option letters (A, B)"),
        ({"gold": "b"}, "its gold 'b' is not one of its option letters (A, B)"),
        ({"gold": "two"}, "its gold 'two' is not one of its option letters (A, B)"),
        ({"gold": 1}, "its gold 1 is not text"),
        ({"options": (), "gold": None}, "it has no options; its gold is None"),
        ({"options": (Option("A", "only"),), "gold": "A"}, "it has one option only (always right)"),
        ({"options": (Option("A", "x"), Option("A", "y")), "gold": "A"}, "lettered A, A, not A, B in order"),
        ({"options": (Option("B", "x"), Option("C", "y")), "gold": "B"}, "lettered B, C, not A, B in order"),
        ({"options": (Option("A", "x"), Option("B", 2))}, "the text of option B is not text"),
        ({"options": ("x", "y")}, "its options are a tuple, not a tuple of fvlm_eval.types.Option"),
        ({"fields": (("subject", 5),)}, "its field subject=5 is not text"),
        ({"fields": {"subject": "x"}}, "its fields are a dict, not (name, value) pairs"),
        ({"id": 7}, "its id 7 is not text"),
        ({"id": ""}, "its id is empty"),
        ({"question": None}, "its question is None, not text"),
        ({"benchmark": "mvbench"}, "its benchmark 'mvbench' is not 'b'"),
        ({"media": "b/1.png"}, "its media is a str, not a fvlm_eval.types.Media"),
        ({"media": Media("image", "k", bound=(0, "end"))}, "its media bound (0, 'end') is not two numbers"),
    ],
)
def test_a_question_that_cannot_be_asked_as_given_fails_saying_what_is_wrong(change, said):
    """Unchecked, a plugin's question was asked as given: a gold that is no option letter always wrong, one option
    or two under one letter always right, no options a KeyError, a field that is a number a TypeError."""
    loaded, (line,) = checked_load(Loaded((replace(GOOD, **change),)), "b")
    (checked,) = loaded.questions
    assert said in checked.error and line == f"{checked.id}: {checked.error}"
    assert isinstance(checked.id, str) and isinstance(checked.question, str) and checked.benchmark == "b"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in checked.fields)
    assert isinstance(checked.media, Media) and isinstance(checked.media.key, str)


@pytest.mark.parametrize("blank", ["", "   ", "\u00a0", "\u00a0\u200b", "\t\n"])
def test_an_option_without_text_is_a_failure_naming_it(blank):
    """The rule run applied after loading (run/asking.py) and prepare received as a hook: in checked_load, the one
    place both read a benchmark through."""

    def checked(*texts):
        options = tuple(Option("ABC"[i], text) for i, text in enumerate(texts))
        return checked_load(Loaded((replace(GOOD, options=options, gold="A"),)), "b")[0].questions[0]

    failed = checked("Ohio", blank, "Texas")
    assert failed.error == "option B has no text (empty, or only spaces): the cloze formulation cannot score it"
    assert checked("Ohio", blank, blank).error.startswith("options B, C have no text")
    assert checked("Ohio", "Texas").error is None


def test_a_question_fit_to_ask_is_left_as_it_is():
    """The built-in benchmarks' questions pass unchanged (tests/fvlm_eval/tasks/test_tasks.py runs them all)."""
    loaded = Loaded((GOOD,), notes=("a note",))
    assert checked_load(loaded, "b") == (loaded, [])


def test_a_question_failed_already_keeps_its_own_error_and_is_made_recordable():
    failed = replace(GOOD, error="row 3: answer 5 is not an option index", gold=None, fields=(("subject", 5),))
    loaded, lines = checked_load(Loaded((failed,)), "b")
    (checked,) = loaded.questions
    assert checked.error == "row 3: answer 5 is not an option index" and lines == []
    assert checked.fields == (("subject", "5"),)


def test_two_questions_under_one_id_are_made_distinct_with_a_note():
    other = replace(GOOD, question="Which other?")
    loaded, lines = checked_load(Loaded((GOOD, other, GOOD)), "b")
    assert [q.id for q in loaded.questions] == ["b/1", "b/1#2"] and lines == []
    assert any("recorded as b/1#2" in n for n in loaded.notes) and any("counted once" in n for n in loaded.notes)


def test_a_renamed_repeat_never_takes_another_questions_id():
    """``id#2`` was given without looking: a question whose own id was ``b/1#2`` shared it with the renamed one."""
    questions = [GOOD, replace(GOOD, question="Other?"), replace(GOOD, id="b/1#2", question="Third?")]
    unique, notes = unique_ids(questions)
    assert [q.id for q in unique] == ["b/1", "b/1#3", "b/1#2"] and "recorded as b/1#3" in notes[0]


@pytest.mark.parametrize(
    "loaded, said",
    [
        ([GOOD], "load() gave a list, not a fvlm_eval.tasks.base.Loaded"),
        (Loaded((GOOD, {"id": "x"})), "its question 2 is a dict, not a fvlm_eval.types.Question"),
        (Loaded(GOOD), "its Loaded.questions is a Question, not a tuple of Questions"),
        (Loaded((GOOD,), notes="one note"), "its Loaded.notes is a str, not a tuple of notes (text)"),
        (Loaded((GOOD,), problems=({"file": "x"},)), "not a dict of file, error and expected"),
    ],
)
def test_what_is_no_loaded_of_questions_is_one_line(loaded, said):
    with pytest.raises(UnusableLoad) as refused:
        checked_load(loaded, "b")
    assert str(refused.value) == said or said in str(refused.value)


def test_the_same_question_read_from_two_files_counts_once_naming_both():
    """The comparison included the file a question was read from: the same row in a stray copy beside the
    annotations was "another question", recorded and scored again as ``id#2``."""
    first = replace(GOOD, source="test-00000-of-00001.parquet", source_sha256="a" * 64)
    copy = replace(GOOD, source="test-00000-of-00001.old.parquet", source_sha256="b" * 64)
    unique, notes = unique_ids([first, copy])
    assert unique == [first]
    assert notes == [
        "duplicate question id b/1 (from test-00000-of-00001.old.parquet): the same question repeated as in "
        "test-00000-of-00001.parquet, counted once"
    ]


@dataclass
class Placed(Benchmark):
    """A benchmark as a plugin writes one: its media paths joined by hand from what its rows say (``paths``)."""

    name: str = "b"
    paths: tuple[str, ...] = ()

    def load(self, data_dir):
        return Loaded(
            tuple(replace(GOOD, id=f"b/{n}", media=Media("image", f"b/{n}", p)) for n, p in enumerate(self.paths))
        )


def test_a_media_path_that_leaves_the_data_folder_fails_its_question(tmp_path, monkeypatch):
    """Only the built-ins kept their paths in the data folder (``safe_join``): a plugin's ``../../secret.png``, or an
    absolute path elsewhere, was read and scored, ``failed 0`` (docs/exit-codes.md promises a recorded failure)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/b").mkdir(parents=True)
    paths = (
        "data/b/../../secret.png",  # climbs out by its own ..
        str(tmp_path / "secret.png"),  # absolute, elsewhere
        "data/b/img/1.png",
        str(tmp_path / "data/b/img/1.png"),  # absolute, inside
        "data/b/../b/1.png",  # climbs, and comes back: inside, as safe_join counts it
    )
    loaded, lines = checked_load(Placed(paths=paths).load("data"), "b", "data")
    errors = [q.error for q in loaded.questions]
    assert errors[0] == "its media path 'data/b/../../secret.png' escapes the data folder data"
    assert errors[1] == (
        f"its media path {str(tmp_path / 'secret.png')!r} escapes the data folder data (links followed to 3 levels "
        "below it; give the path through the data folder, not resolved)"
    )
    assert errors[2:] == [None, None, None] and lines == [f"b/{n}: {errors[n]}" for n in (0, 1)]
    assert loaded.questions[0].media.path is None and loaded.questions[0].media.key == "b/0"  # nothing reads it
    assert loaded.questions[2].media.path == "data/b/img/1.png"


def test_a_linked_data_folder_or_benchmark_folder_keeps_its_paths_as_safe_join_does(tmp_path, monkeypatch):
    """The rule is safe_join's: the path as written, links not followed; a data folder that is a link, a benchmark
    folder linked to another disk (its path given through the link, or resolved by the benchmark), a link inside the
    folder: all inside."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real/b").mkdir(parents=True)
    (tmp_path / "disk/b").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")  # the data folder itself a link
    (tmp_path / "data/b").symlink_to(tmp_path / "disk/b")  # a benchmark folder on another disk
    (tmp_path / "disk/b/videos").symlink_to(tmp_path / "elsewhere")  # a link inside it
    through_link = ("linked/b/1.png", str(tmp_path / "real/b/1.png"))
    assert all(
        q.error is None for q in checked_load(Placed(paths=through_link).load("linked"), "b", "linked")[0].questions
    )
    inside = ("data/b/1.png", str(tmp_path / "disk/b/1.png"), "data/b/videos/1.mp4")
    assert all(q.error is None for q in checked_load(Placed(paths=inside).load("data"), "b", "data")[0].questions)
    outside = ("linked/b/../../secret.png", str(tmp_path / "disk/secret.png"), "data/b/../../x.png")
    checked = checked_load(Placed(paths=outside).load("data"), "b", "data")[0].questions
    assert all("escapes the data folder data" in q.error for q in checked)


def test_the_built_in_benchmarks_paths_stay_inside_even_through_a_linked_data_folder(tmp_path, monkeypatch):
    """The harness now checks every benchmark's paths: none of the built-ins' (joined by safe_join) is refused, with
    the data folder given as it is, absolute, or through a link."""
    from fvlm_eval.tasks import BUILT_IN

    monkeypatch.chdir(tmp_path)
    for cls in BUILT_IN.values():
        cls().write_fixture(tmp_path / "data")
    (tmp_path / "linked").symlink_to(tmp_path / "data")
    for data_dir in ("data", tmp_path / "data", "linked"):
        for name, cls in BUILT_IN.items():
            loaded, lines = checked_load(cls().load(data_dir), name, data_dir)
            assert loaded.questions
            assert lines == [], (name, data_dir, lines[:1])


def test_a_path_resolved_through_a_link_deeper_in_the_data_folder_is_inside(tmp_path, monkeypatch):
    """Only links directly inside the data folder were followed: a plugin resolving its paths (``Path.resolve()``)
    with ``data/b/images`` on another disk failed every question, "escapes the data folder", though the same
    images scored through ``data/b`` linked there. Links to 3 levels below the data folder count now; a deeper one's
    resolved path fails saying to give it through the data folder (as written, it is inside)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/b/frames").mkdir(parents=True)
    for folder in ("disk/images", "disk/v1", "disk/deep", "disk/other"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "data/b/images").symlink_to(tmp_path / "disk/images")  # 2 levels below the data folder
    (tmp_path / "data/b/frames/v1").symlink_to(tmp_path / "disk/v1")  # 3 levels: a frame folder elsewhere
    (tmp_path / "disk/v1/deep").symlink_to(tmp_path / "disk/deep")  # 4 levels, through data/b/frames/v1
    inside = (
        str((tmp_path / "data/b/images/1.png").resolve()),
        str((tmp_path / "data/b/frames/v1").resolve()),
        "data/b/frames/v1/deep/1.jpg",  # a deeper link, given through the data folder
    )
    assert [q.error for q in checked_load(Placed(paths=inside).load("data"), "b", "data")[0].questions] == [None] * 3
    outside = (str((tmp_path / "data/b/frames/v1/deep/1.jpg").resolve()), str(tmp_path / "disk/other/1.png"))
    checked = checked_load(Placed(paths=outside).load("data"), "b", "data")[0].questions
    assert [q.error for q in checked] == [
        f"its media path {path!r} escapes the data folder data (links followed to 3 levels below it; give the path "
        "through the data folder, not resolved)"
        for path in outside
    ]
    climbing = str(tmp_path / "disk/images/../other/1.png")  # under a link's target, then out of it by its own ..
    assert "escapes" in checked_load(Placed(paths=(climbing,)).load("data"), "b", "data")[0].questions[0].error


def test_links_are_looked_for_only_for_a_path_refused_once_and_never_in_the_whole_data_folder(tmp_path, monkeypatch):
    """The data folder may hold millions of frames: it is listed only when a path fails the cheap check, once per
    load, to 3 levels below it, a folder's first entries only (the hint says where the search stopped)."""
    from fvlm_eval.tasks import media_paths

    monkeypatch.chdir(tmp_path)
    for video in range(8):
        for frame in range(3):
            (tmp_path / f"data/b/frames/v{video}/f{frame}").mkdir(parents=True)  # folders, to tempt a deeper walk
    listed = []
    scandir = media_paths.os.scandir
    monkeypatch.setattr(media_paths.os, "scandir", lambda path: listed.append(Path(path)) or scandir(path))
    monkeypatch.setattr(media_paths, "ENTRIES_PER_FOLDER", 5)
    assert checked_load(Placed(paths=("data/b/frames/v0/f0/1.jpg",) * 3).load("data"), "b", "data")[1] == []
    assert listed == []  # every path inside as given: nothing listed
    elsewhere = (str(tmp_path / "x.png"), str(tmp_path / "y.png"))
    checked = checked_load(Placed(paths=elsewhere).load("data"), "b", "data")[0].questions
    assert listed[:3] == [tmp_path / "data", tmp_path / "data/b", tmp_path / "data/b/frames"]
    assert len(listed) == 3  # once for both; the frame folders (3 levels below) never listed, nor what is in them
    assert checked[0].error.endswith(
        f"(links followed to 3 levels below it; links looked for in the first 5 entries of "
        f"{str(tmp_path / 'data/b/frames')!r} only; give the path through the data folder, not resolved)"
    )
