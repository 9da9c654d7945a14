"""Perception Test (validation, multiple choice): the hub's parquet layout, every malformed row named by
file and row, the frame rule, the prompts' shape, the hub source and ``prepare``'s verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from fvlm_eval.tasks import DataMissing, get_benchmark
from fvlm_eval.tasks.fixtures.perceptiontest import write_perceptiontest
from fvlm_eval.tasks.prepare import status, verify
from fvlm_eval.types import Sampling
from tests.fvlm_eval.tasks.edits import rewrite_parquet, sampled_numbers, set_row, uniform

PARQUET = "perceptiontest/mc_question_val/validation-00000-of-00001.parquet"
WHERE = "validation-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_perceptiontest(root, faults=True)
    return root


def by_id(data):
    return {q.id: q for q in get_benchmark("perceptiontest").load(data).questions}


def test_the_hub_layout_reads_as_the_card_says(data):
    loaded = get_benchmark("perceptiontest").load(data)
    questions = {q.id: q for q in loaded.questions}
    q = questions["perceptiontest/video_7384/0"]
    assert q.gold == "C" and q.letters == ("A", "B", "C") and q.options[2].text == "under the third cup"
    assert q.field_dict() == {
        "split": "validation",
        "area": "memory",
        "reasoning": "descriptive",
        "tag": "object tracking, cup game",
    }
    assert q.media.path.endswith("videos/video_7384.MP4")  # the upper-case spelling is found
    assert questions["perceptiontest/video_10909/0"].group == questions["perceptiontest/video_10909/1"].group
    assert "10 rows, expected 19140" in loaded.notes[0]


def test_fixture_faults_are_recorded_failures_or_found_when_decoded(data):
    questions = by_id(data)
    assert questions["perceptiontest/video_2201/2"].error == (
        f"malformed row {WHERE}[6]: answer_id '3' is out of range for 3 options"
    )
    assert "escapes the data folder" in questions["perceptiontest/../../outside/0"].error
    missing = questions["perceptiontest/video_9999/0"]  # found missing when decoded (a frame cache may hold it)
    assert missing.error is None and missing.media.looked_in == ("videos/video_9999.mp4", "videos/video_9999.MP4")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"answer_id": "x"}, "answer_id must be a string holding an index, not 'x'"),
        ({"answer_id": None}, "answer_id must be a string holding an index, not None"),
        ({"options": ["only one"]}, "options holds 1 options: 2 to 10 are supported"),
        ({"options": ["a", "", "c"]}, "options[1] must be a non-empty string"),
        ({"options": None}, "options must be a list of strings, not None"),
        ({"question": None}, "question must be a non-empty string"),
        ({"video_name": None}, "video_name must be a non-empty string"),
        ({"question_id": None}, "question_id must be a non-empty string"),
    ],
)
def test_malformed_rows_are_named_by_file_and_row(tmp_path, values, message):
    write_perceptiontest(tmp_path)
    set_row(tmp_path / PARQUET, 1, **values)
    questions = get_benchmark("perceptiontest").load(tmp_path).questions
    (bad,) = [q for q in questions if q.error]
    assert bad.error.startswith(f"malformed row {WHERE}[1]: ") and message in bad.error and bad.gold is None


def test_an_answer_id_written_as_a_number_is_refused(tmp_path):
    write_perceptiontest(tmp_path)

    def as_ints(rows):
        for row in rows:
            row["answer_id"] = int(row["answer_id"])

    rewrite_parquet(tmp_path / PARQUET, as_ints)
    questions = get_benchmark("perceptiontest").load(tmp_path).questions
    assert questions[0].error == f"malformed row {WHERE}[0]: answer_id must be a string holding an index, not 0"
    assert all("answer_id must be a string holding an index" in q.error for q in questions)


@pytest.mark.parametrize("video", ["/etc/passwd", "../../../../etc/passwd", "a/../../../b"])
def test_paths_leaving_the_data_folder_are_refused(tmp_path, video):
    write_perceptiontest(tmp_path)
    set_row(tmp_path / PARQUET, 0, video_name=video)
    bad = get_benchmark("perceptiontest").load(tmp_path).questions[0]
    assert "escapes the data folder" in bad.error and f"{WHERE}[0]" in bad.error


@pytest.mark.parametrize("content", [b"not a parquet", None])
def test_an_unreadable_parquet_is_a_problem_with_its_expected_questions(tmp_path, content):
    write_perceptiontest(tmp_path)
    if content is None:
        rewrite_parquet(tmp_path / PARQUET, lambda rows: [{"video_name": r["video_name"]} for r in rows])
    else:
        (tmp_path / PARQUET).write_bytes(content)
    (problem,) = get_benchmark("perceptiontest").load(tmp_path).problems
    assert problem["file"].endswith(WHERE) and problem["expected"] == 19140


def test_missing_annotations_name_where_they_were_looked_for(tmp_path):
    with pytest.raises(DataMissing, match="mc_question_val/validation-00000-of-00001.parquet"):
        get_benchmark("perceptiontest").load(tmp_path)


def test_frame_rule_is_lmms_evals_32_uniform_frames(data):
    task = get_benchmark("perceptiontest")
    assert task.sampling == Sampling("uniform", 32)
    assert sampled_numbers(by_id(data)["perceptiontest/video_10909/0"], task.sampling) == uniform(30)


def test_prompts_list_lettered_options_and_the_cloze_asks_the_question_alone(data):
    task = get_benchmark("perceptiontest")
    q = by_id(data)["perceptiontest/video_10909/1"]
    assert task.prompt(q) == "Is the camera moving or static?\nA. moving\nB. static\nC. I don't know"
    assert task.cloze_prompt(q) == "Question: Is the camera moving or static?"


def test_hub_source_is_pinned_with_its_config_and_mirror():
    source = get_benchmark("perceptiontest").hub()
    assert source.repo == "lmms-lab/PerceptionTest_Val" and source.mirrors == ("lmms-eval/PerceptionTest_Val",)
    assert source.revision == "c5e520d8c4167fb1f135c36e9d6e67312b4f8e6b" and source.config == "mc_question_val"
    assert "valid_audios.zip" not in source.archives and source.archives == ("videos_chunked_*.zip",)


def test_prepare_verifies_counts_and_names_unreadable_media(data):
    result = verify(get_benchmark("perceptiontest"), data, workers=0)
    assert result.categories == {"validation": (10, 4, 19140)}  # 2 failed to load, 2 with unreadable videos
    assert sorted(u.split(":")[0] for u in result.unreadable) == [
        "perceptiontest/video_5555",
        "perceptiontest/video_9999",
    ]
    assert any("answer_id '3' is out of range" in p for p in result.problems) and not result.complete
    assert status(get_benchmark("perceptiontest"), data) == "7/19140 questions usable; 1 media file(s) missing"
    assert Path(data / "perceptiontest").is_dir()
