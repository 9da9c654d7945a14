"""Every layout parses to the expected questions; prompts are pinned by golden snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fvlm_eval import fixtures
from fvlm_eval.tasks import DataMissing, get_task
from fvlm_eval.tasks.base import coverage_counts

GOLDEN = Path(__file__).parent / "golden_prompts.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fixtures.write_all(root, faults=True)
    fixtures.write_mvbench(root / "precut", "precut")
    fixtures.write_scienceqa(root / "original", "original", faults=True)
    return root


def by_id(questions):
    return {q.id: q for q in questions}


def test_mvbench_main_layout(data):
    loaded = get_task("mvbench").load(data)
    questions = by_id(loaded.questions)
    q = questions["mvbench/action_sequence/0"]
    assert q.gold == "D" and q.letters == ("A", "B", "C", "D") and q.error is None
    assert q.media.bound == (0.5, 2.5) and q.media.path.endswith("video/star/Charades_v1_480/6H78U.mp4")
    assert q.field_dict() == {"task": "action_sequence"}
    assert questions["mvbench/object_interaction/0"].media.path.endswith("video/data0613/star/Charades_v1_480/ZZ0613.mp4")
    assert questions["mvbench/episodic_reasoning/0"].media.kind == "frame_folder"
    assert questions["mvbench/action_antonym/0"].media.path.endswith(".webm")
    clevrer = questions["mvbench/object_existence/0"].media
    perception = questions["mvbench/object_shuffle/0"].media
    assert clevrer.key != perception.key and clevrer.path != perception.path  # same file name, two folders
    assert questions["mvbench/moving_count/0"].media.key == clevrer.key  # one decode for both questions
    assert "fine_grained_pose: fine_grained_pose.json absent" in loaded.notes


def test_mvbench_bad_rows_are_recorded_not_dropped(data):
    questions = by_id(get_task("mvbench").load(data).questions)
    assert "matches no candidate" in questions["mvbench/action_sequence/2"].error
    assert "action_sequence.json[2]" in questions["mvbench/action_sequence/2"].error
    assert "escapes the data folder" in questions["mvbench/action_sequence/3"].error
    assert "missing video" in questions["mvbench/action_sequence/4"].error
    assert "is missing" in questions["mvbench/unexpected_action/1"].error
    assert questions["mvbench/unexpected_action/0"].error is None  # corrupt: found at decode time


def test_mvbench_precut_layout(data):
    questions = by_id(get_task("mvbench").load(data / "precut").questions)
    q = questions["mvbench/action_sequence/0"]
    assert q.media.bound is None and q.media.path.endswith("6H78U_0.5_2.5.mp4") and q.gold == "D"


def test_videomme_layout(data):
    task = get_task("videomme")
    loaded = task.load(data)
    questions = by_id(loaded.questions)
    assert len(questions) == 9 and "expected 2700" in loaded.notes[0]
    q = questions["videomme/001-1"]
    assert q.group == "videomme/fFjv93ACGo8" and q.options[0].text == "Apples." and q.options[0].answer == "A. Apples."
    assert q.field_dict() == {"duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
                              "task_type": "Counting Problem"}
    assert questions["videomme/002-1"].media.path.endswith(".MP4")
    assert "not one of the option letters" in questions["videomme/001-2"].error
    assert "is missing" in questions["videomme/003-1"].error  # the .mkv left out with faults
    with_subtitles = by_id(get_task("videomme", subtitles=True).load(data).questions)["videomme/001-1"]
    assert with_subtitles.context == "Welcome to video 001.\nCount the apples with me."


@pytest.mark.parametrize("layout", ["parquet", "original"])
def test_scienceqa_layouts(data, layout):
    root = data if layout == "parquet" else data / "original"
    questions = get_task("scienceqa").load(root).questions
    assert len(questions) == 6  # test problems with an image only
    first = questions[0]
    assert first.id == ("scienceqa/0" if layout == "parquet" else "scienceqa/1")
    assert first.gold == "A" and first.field_dict()["subject"] == "social science"
    assert first.media.kind == "image"
    assert (first.media.data is not None) == (layout == "parquet")
    counts = coverage_counts(get_task("scienceqa"), questions)
    assert counts["natural science"] == (3, 1 if layout == "original" else 0, 1209)


def test_missing_benchmark_names_where_it_looked(tmp_path):
    for name in ("mvbench", "videomme", "scienceqa"):
        with pytest.raises(DataMissing, match=str(tmp_path)):
            get_task(name).load(tmp_path)


def test_malformed_json_file_is_reported(tmp_path):
    fixtures.write_mvbench(tmp_path)
    (tmp_path / "mvbench/json/object_shuffle.json").write_text("{not json")
    loaded = get_task("mvbench").load(tmp_path)
    assert any("object_shuffle" in note and "unreadable" in note for note in loaded.notes)


def current_prompts(data):
    prompts = {}
    for name, root in (("mvbench", data), ("videomme", data), ("scienceqa", data)):
        task = get_task(name)
        for q in task.load(root).questions:
            if q.options:
                prompts[q.id] = task.prompt(q)
    task = get_task("videomme", subtitles=True)
    q = by_id(task.load(data).questions)["videomme/001-1"]
    prompts["videomme/001-1+subtitles"] = task.prompt(q)
    return prompts


def test_prompts_match_golden_snapshots(data):
    prompts = current_prompts(data)
    golden = json.loads(GOLDEN.read_text())
    assert prompts == golden


def test_prompt_shapes_follow_the_spec(data):
    prompts = current_prompts(data)
    assert prompts["mvbench/action_sequence/0"] == ("What happened after the person took the food?\nA. Ate the medicine.\n"
                                                    "B. Tidied up the blanket.\nC. Put down the cup/glass/bottle.\nD. Took the box.")
    assert prompts["videomme/001-1"].endswith("\nA. Apples.\nB. Candles.\nC. Berries.\nD. The three kinds are of the same number.")
    assert "A. A. " not in prompts["videomme/001-1"]
    assert prompts["scienceqa/1"].startswith("Context: The passage below describes an experiment.\nIdentify")
    assert prompts["scienceqa/0"].startswith("Which of these states")
    assert not any(p.endswith("\n") for p in prompts.values())
