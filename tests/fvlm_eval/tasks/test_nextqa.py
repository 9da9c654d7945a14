"""NExT-QA (multiple choice, test): the hub's int64 parquet, TP counted as TN, keys ``<video>_<qid>``, the
flat and the official nested video layouts, malformed rows named by file and row, frames, prompts, hub."""

from __future__ import annotations

import json

import pytest

from fvlm_eval.tasks import DataMissing, get_benchmark
from fvlm_eval.tasks.fixtures.nextqa import write_nextqa
from fvlm_eval.tasks.prepare import verify
from fvlm_eval.types import Sampling
from tests.fvlm_eval.tasks.edits import sampled_numbers, set_row, uniform

PARQUET = "nextqa/MC/test-00000-of-00001.parquet"
WHERE = "test-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_nextqa(root, faults=True)
    return root


def by_id(root):
    return {q.id: q for q in get_benchmark("nextqa").load(root).questions}


def test_the_hub_layout_reads_ints_as_ints_and_keys_questions_by_video_and_qid(data):
    import pyarrow.parquet as pq

    schema = pq.read_schema(data / PARQUET)
    assert {name: str(schema.field(name).type) for name in ("video", "answer", "qid", "type", "a0")} == {
        "video": "int64",
        "answer": "int64",
        "qid": "int64",
        "type": "string",
        "a0": "string",
    }
    questions = by_id(data)
    q = questions["nextqa/2574374895_8"]
    assert q.gold == "C" and q.options[2].text == "lay on floor" and len(q.options) == 5
    assert q.question == "what did the baby do after throwing the green cup away while on the floor near the end"
    assert q.media.path.endswith("nextqa/NExTVideo/2574374895.mp4")
    assert {"nextqa/2574374895_0", "nextqa/4010069381_0"} <= set(questions)  # the same qid on two videos


def test_tp_is_counted_as_tn_and_types_fall_in_their_groups(data):
    questions = by_id(data)
    assert questions["nextqa/4010069381_3"].field_dict() == {"type": "TN", "group": "temporal"}
    assert questions["nextqa/2574374895_0"].field_dict() == {"type": "CW", "group": "causal"}
    assert questions["nextqa/4010069381_0"].field_dict() == {"type": "DC", "group": "descriptive"}
    expected = get_benchmark("nextqa").expected()
    assert expected["TN"] == 1492 and sum(expected.values()) == 8564 and "TP" not in expected


def test_the_official_nested_layout_is_read_through_its_map(tmp_path):
    write_nextqa(tmp_path, "official")
    questions = by_id(tmp_path)
    assert questions["nextqa/2574374895_0"].media.path.endswith("NExTVideo/0101/2574374895.mp4")
    assert all(q.error is None for q in questions.values())


def test_a_map_path_leaving_the_folder_is_refused_for_its_video(tmp_path):
    write_nextqa(tmp_path, "official")
    (tmp_path / "nextqa/map_vid_vidorID.json").write_text(json.dumps({"2574374895": "../../../etc/passwd"}))
    bad = by_id(tmp_path)["nextqa/2574374895_0"]
    assert "escapes the data folder" in bad.error and f"{WHERE}[0]" in bad.error


def test_an_unreadable_map_is_a_problem_and_the_flat_layout_is_looked_in(tmp_path):
    write_nextqa(tmp_path)
    (tmp_path / "nextqa/map_vid_vidorID.json").write_text("{not json")
    loaded = get_benchmark("nextqa").load(tmp_path)
    (problem,) = loaded.problems
    assert problem["file"].endswith("map_vid_vidorID.json") and problem["expected"] == 0
    assert all(q.error is None for q in loaded.questions)


def test_fixture_faults_are_recorded_failures(data):
    questions = by_id(data)
    assert questions["nextqa/6233408665_6"].error == f"malformed row {WHERE}[7]: answer 7 is out of range for 5 options"
    assert questions["nextqa/6233408665_7"].error == (
        f"malformed row {WHERE}[8]: a0..a4[3] must be a non-empty string, not ''"
    )
    missing = questions["nextqa/9999999999_0"]  # found missing when decoded
    assert missing.error is None and missing.media.looked_in == ("NExTVideo/9999999999.mp4", "NExTVideo/9999999999.MP4")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"answer": None}, "answer None is not a whole number"),
        ({"answer": -1}, "answer -1 is out of range for 5 options"),
        ({"a2": None}, "a0..a4[2] must be a non-empty string, not None"),
        ({"question": "  "}, "question must be a non-empty string, not '  '"),
        ({"video": None}, "video None is not a whole number"),
        ({"qid": None}, "qid None is not a whole number"),
    ],
)
def test_malformed_rows_are_named_by_file_and_row(tmp_path, values, message):
    write_nextqa(tmp_path)
    set_row(tmp_path / PARQUET, 2, **values)
    (bad,) = [q for q in get_benchmark("nextqa").load(tmp_path).questions if q.error]
    assert bad.error == f"malformed row {WHERE}[2]: {message}" and bad.field_dict()["type"] == "DC"


def test_an_unreadable_parquet_is_a_problem_with_its_expected_questions(tmp_path):
    write_nextqa(tmp_path)
    (tmp_path / PARQUET).write_bytes(b"PAR1 not really")
    loaded = get_benchmark("nextqa").load(tmp_path)
    (problem,) = loaded.problems
    assert problem["file"].endswith(WHERE) and problem["expected"] == 8564 and not loaded.questions


def test_missing_annotations_name_where_they_were_looked_for(tmp_path):
    with pytest.raises(DataMissing, match="MC/test-"):
        get_benchmark("nextqa").load(tmp_path)


def test_frame_rule_is_lmms_evals_32_uniform_frames(data):
    task = get_benchmark("nextqa")
    assert task.sampling == Sampling("uniform", 32)
    assert sampled_numbers(by_id(data)["nextqa/6233408665_1"], task.sampling) == uniform(36)


def test_prompt_is_lmms_evals_and_the_cloze_asks_the_question_alone(data):
    task = get_benchmark("nextqa")
    q = by_id(data)["nextqa/4010069381_0"]
    assert task.prompt(q) == "how many children are in the video\nA. one\nB. four\nC. three\nD. two\nE. five"
    assert task.cloze_prompt(q) == "Question: how many children are in the video"


def test_hub_source_is_pinned_with_its_config_and_mirror():
    source = get_benchmark("nextqa").hub()
    assert (source.repo, source.revision, source.config) == (
        "lmms-lab/NExTQA",
        "0d019debcbf84a3d91ee608ab9ef9ab2a9e7dec5",
        "MC",
    )
    assert source.mirrors == ("lmms-eval/NExTQA",) and source.archives == ("videos.zip",)


def test_prepare_verifies_counts_per_type_and_names_unreadable_media(data):
    result = verify(get_benchmark("nextqa"), data, workers=0)
    assert result.categories["TN"] == (2, 0, 1492) and result.categories["DO"] == (
        3,
        3,
        600,
    )  # its unreadable video too
    assert [u.split(":")[0] for u in result.unreadable] == ["nextqa/9999999999"]
    assert len(result.problems) == 2 and not result.complete


def test_a_copy_kept_beside_the_annotations_is_not_read_as_more_questions(tmp_path):
    """``MC/test-*.parquet`` was globbed: a ``.old.parquet`` copy made every question "another question under it",
    scored again as ``id#2``."""
    import shutil

    write_nextqa(tmp_path)
    before = get_benchmark("nextqa").load(tmp_path)
    shutil.copy(tmp_path / PARQUET, tmp_path / "nextqa/MC/test-00000-of-00001.old.parquet")
    after = get_benchmark("nextqa").load(tmp_path)
    assert [q.id for q in after.questions] == [q.id for q in before.questions]
    assert not any("#2" in q.id for q in after.questions)
    assert not any(note.startswith("duplicate question id") for note in after.notes)
    assert any("'test-00000-of-00001.old.parquet'" in note for note in after.notes)
