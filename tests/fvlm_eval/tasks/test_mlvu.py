"""MLVU dev (multiple choice), both layouts: the official per-task JSON (the answer an option's text) and
lmms-eval's parquet (the answer a letter, the options also written in the question) read to the same
questions; the official data's own faults named by file and row; the per-task mean as its aggregation;
frames, prompts, the hub and the gated download's one line."""

from __future__ import annotations

import json

import pytest

from fvlm_eval.tasks import DataMissing, get_benchmark
from fvlm_eval.tasks.fetching import HubRefused, fetch
from fvlm_eval.tasks.fixtures.mlvu import write_mlvu
from fvlm_eval.tasks.prepare import verify
from fvlm_eval.types import Sampling
from tests.fvlm_eval.tasks.edits import sampled_numbers, set_row, uniform

PARQUET = "mlvu/mlvu/test-00000-of-00001.parquet"
WHERE = "test-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_mlvu(root, "official", faults=True)
    write_mlvu(root / "parquet", "parquet", faults=True)
    return root


def by_id(root):
    return {q.id: q for q in get_benchmark("mlvu").load(root).questions}


def test_the_official_score_is_the_mean_of_the_seven_task_accuracies():
    task = get_benchmark("mlvu")
    assert task.aggregation == "category_mean" and task.category_field == "task"
    assert task.expected() == {
        "plotQA": 539,
        "needle": 355,
        "ego": 352,
        "count": 206,
        "order": 259,
        "anomaly_reco": 200,
        "topic_reasoning": 264,
    }


def test_the_official_layout_matches_the_answer_text_to_a_candidate(data):
    questions = by_id(data)
    q = questions["mlvu/plotQA/0"]
    assert q.gold == "A" and q.options[0].text == "Yellow" and q.field_dict() == {"task": "plotQA"}
    assert q.media.path.endswith("mlvu/MLVU/video/1_plotQA/movie101_66.mp4")
    assert questions["mlvu/needle/0"].field_dict() == {"task": "needle"}  # question_type "findNeedle"
    twice = questions["mlvu/plotQA/1"]
    assert twice.gold == "C" and twice.error is None
    assert twice.notes == (
        "1_plotQA.json[1]: answer 'A letter' equals candidates A, C: gold is the last, C, as the official MLVU "
        "code takes it",
    )


def test_the_official_datas_own_faults_are_recorded_failures(data):
    questions = by_id(data)
    assert questions["mlvu/needle/1"].error == (
        "malformed row 2_needle.json[1]: answer 'Catching a flying drone quadcopter' matches no candidate "
        "(the official scorer counts it wrong)"
    )
    assert questions["mlvu/topic_reasoning/1"].error.startswith("malformed row 7_topic_reasoning.json[1]: ")
    assert "escapes the data folder" in questions["mlvu/count/1"].error


def test_both_layouts_give_the_same_questions_and_prompts(data):
    task = get_benchmark("mlvu")
    official = [q for q in task.load(data).questions if not q.error]
    parquet = [q for q in task.load(data / "parquet").questions if not q.error]
    assert [(q.question, q.options, q.gold, q.field_dict()) for q in official] == [
        (q.question, q.options, q.gold, q.field_dict()) for q in parquet
    ]
    assert [task.prompt(q) for q in official] == [task.prompt(q) for q in parquet]
    assert [task.cloze_prompt(q) for q in official] == [task.cloze_prompt(q) for q in parquet]


def test_the_parquet_layout_takes_the_written_options_off_and_reads_a_letter(data):
    questions = by_id(data / "parquet")
    q = questions["mlvu/ego/ego_3"]
    assert q.question == "Where did I put the scissors?" and q.gold == "B"
    assert q.media.path.endswith("mlvu/ego_2.mp4")  # a name without its extension: .mp4 is added
    assert questions["mlvu/needle/needle_8"].error == (
        f"malformed row {WHERE}[8]: answer 'E' is not one of the option letters"
    )
    assert "escapes the data folder" in questions["mlvu/count/count_10"].error


def test_written_options_that_differ_from_the_candidates_are_noted(tmp_path):
    write_mlvu(tmp_path, "parquet")
    set_row(tmp_path / PARQUET, 0, question="What color is he?\n(A) Yellow\n(B) Red\n(C) Green\n(D) Purple")
    q = get_benchmark("mlvu").load(tmp_path).questions[0]
    assert q.question == "What color is he?" and q.options[3].text == "Blue" and q.error is None
    assert q.notes == (
        f"{WHERE}[0]: the options written in the question differ from candidates: the candidates are asked",
    )


@pytest.mark.parametrize(
    "row, message",
    [
        (["not", "an", "object"], "row is not an object"),
        ({"video": "v.mp4", "question": "Q?", "candidates": "ab", "answer": "a"}, "candidates must be a list"),
        ({"video": "v.mp4", "question": "Q?", "candidates": ["a"], "answer": "a"}, "candidates holds 1 options"),
        ({"video": "v.mp4", "question": "Q?", "candidates": ["a", 3], "answer": "a"}, "candidates[1] must be a non"),
        ({"video": "", "question": "Q?", "candidates": ["a", "b"], "answer": "a"}, "video must be a non-empty"),
        ({"video": "v.mp4", "question": 7, "candidates": ["a", "b"], "answer": "a"}, "question must be a non-empty"),
        ({"video": "v.mp4", "question": "Q?", "candidates": ["a", "b"], "answer": 0}, "answer 0 matches no"),
        ({"question": "Q?", "candidates": ["a", "b"], "answer": "a"}, "video must be a non-empty string, not None"),
    ],
)
def test_malformed_official_rows_are_named_by_file_and_row(tmp_path, row, message):
    write_mlvu(tmp_path)
    (tmp_path / "mlvu/MLVU/json/5_order.json").write_text(json.dumps([row]))
    q = by_id(tmp_path)["mlvu/order/0"]
    assert q.error.startswith("malformed row 5_order.json[0]: ") and message in q.error


@pytest.mark.parametrize(
    "values, message",
    [
        ({"answer": "F"}, "answer 'F' is not one of the option letters"),
        ({"candidates": None}, "candidates must be a list of strings, not None"),
        ({"question": None}, "question must be a non-empty string"),
        ({"video_name": None}, "video_name must be a non-empty string"),
        ({"question_id": None}, "question_id must be a non-empty string"),
    ],
)
def test_malformed_parquet_rows_are_named_by_file_and_row(tmp_path, values, message):
    write_mlvu(tmp_path, "parquet")
    set_row(tmp_path / PARQUET, 4, **values)
    (bad,) = [q for q in get_benchmark("mlvu").load(tmp_path).questions if q.error]
    assert bad.error.startswith(f"malformed row {WHERE}[4]: ") and message in bad.error


@pytest.mark.parametrize("video", ["/etc/passwd", "../../../../etc/passwd", "a/../../b.mp4"])
def test_paths_leaving_the_data_folder_are_refused(tmp_path, video):
    write_mlvu(tmp_path)
    row = {"video": video, "question": "Q?", "candidates": ["a", "b"], "answer": "a"}
    (tmp_path / "mlvu/MLVU/json/5_order.json").write_text(json.dumps([row]))
    assert "escapes the data folder" in by_id(tmp_path)["mlvu/order/0"].error


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}'])
def test_an_unreadable_task_file_is_a_problem_with_its_expected_questions(tmp_path, content):
    write_mlvu(tmp_path)
    (tmp_path / "mlvu/MLVU/json/4_count.json").write_text(content)
    (problem,) = get_benchmark("mlvu").load(tmp_path).problems
    assert problem["file"].endswith("4_count.json") and problem["expected"] == 206


def test_missing_annotations_name_both_layouts(tmp_path):
    with pytest.raises(DataMissing, match=r"MLVU/json/<n>_<task>\.json or .*mlvu/test-00000-of-00001\.parquet"):
        get_benchmark("mlvu").load(tmp_path)


def test_frame_rule_is_lmms_evals_32_uniform_frames(data):
    task = get_benchmark("mlvu")
    assert task.sampling == Sampling("uniform", 32)
    assert sampled_numbers(by_id(data)["mlvu/needle/0"], task.sampling) == uniform(20)


def test_prompt_lists_lettered_options_and_the_cloze_asks_the_question_alone(data):
    task = get_benchmark("mlvu")
    q = by_id(data)["mlvu/count/0"]
    assert task.prompt(q) == "How many times does the man jump?\nA. 2\nB. 3\nC. 4\nD. 5"
    assert task.cloze_prompt(q) == "Question: How many times does the man jump?"


def test_hub_source_is_the_official_gated_repository_without_the_open_ended_tasks():
    source = get_benchmark("mlvu").hub()
    assert source.repo == "MLVU/MVLU" and source.revision == "main"
    assert (
        "MLVU/json/1_plotQA.json" in source.allow_patterns and "MLVU/video/7_topic_reasoning/*" in source.allow_patterns
    )
    assert not any("sub_scene" in p or "summary" in p for p in source.allow_patterns)


@pytest.mark.parametrize("where", ["dataset_info", "snapshot_download"])
def test_a_gated_download_is_one_line_naming_the_page_to_accept(tmp_path, monkeypatch, where):
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    def refuse(*args, **kwargs):
        url = "https://huggingface.co/api/datasets/MLVU/MVLU"
        raise GatedRepoError("Cannot access gated repo for url " + url, response=_response(401, url))

    class Api:
        def dataset_info(self, repo, revision):
            if where == "dataset_info":
                refuse()
            return type("Info", (), {"sha": "ab" * 20})()

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    with pytest.raises(HubRefused) as refused:
        fetch(get_benchmark("mlvu"), tmp_path)
    message = str(refused.value)
    assert "\n" not in message and len(message) < 200
    assert "https://huggingface.co/datasets/MLVU/MVLU" in message and "accept its conditions" in message


def test_a_forbidden_download_is_the_same_line(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    class Api:
        def dataset_info(self, repo, revision):
            raise HfHubHTTPError("403 Forbidden", response=_response(403, "https://huggingface.co/api/datasets/x"))

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    with pytest.raises(HubRefused, match="https://huggingface.co/datasets/MLVU/MVLU"):
        fetch(get_benchmark("mlvu"), tmp_path)


def _response(code: int, url: str):
    """An HTTP response as huggingface_hub's errors carry one (of the HTTP library it uses, whichever it is)."""
    import importlib

    from huggingface_hub import errors

    http = importlib.import_module(errors.Response.__module__.split(".")[0])
    return errors.Response(code, request=http.Request("GET", url))


def test_prepare_verifies_counts_per_task_and_names_unreadable_media(data):
    result = verify(get_benchmark("mlvu"), data, workers=0)
    assert result.categories["plotQA"] == (2, 0, 539) and result.categories["needle"] == (2, 1, 355)
    assert not result.unreadable and not result.complete
    assert [p.split(":")[0] for p in result.problems] == ["mlvu/count/1"]  # the path leaving the folder
    published = [n.split(":")[0] for n in result.notes if "as published" in n]
    assert published == ["mlvu/needle/1", "mlvu/topic_reasoning/1"]  # the official data's own: notes


# the official dev files' rows with empty-string candidates (JUNJIE99/MLVU data/*.json), as they are there
BLANK_ROWS = {
    "plotQA": {
        23: {
            "candidates": ["", "There is an archery scene", "There is no archery scene", ""],
            "answer": "There is an archery scene",
        }
    },
    "ego": {
        119: {"candidates": ["In the garage", "In the toolbox", "", "On the shelf"], "answer": ""},
        313: {"candidates": ["2", "5", "10", ""], "answer": ""},
    },
    "topic_reasoning": {26: {"question": "", "candidates": ["", "", "", ""], "answer": ""}},
}


def full_official_copy(root, change=None):
    """``root/mlvu`` as the official dev set at full size (2175 rows, every video file there, not decodable:
    checked with ``probe=False``), its two answerless ``needle`` rows and its four rows with empty candidates as
    the official files hold them (docs/benchmarks.md); ``change(task, rows)`` edits a file's rows first."""
    from fvlm_eval.tasks.mlvu import TASKS

    base = root / "mlvu" / "MLVU"
    for task, (stem, count) in TASKS.items():
        rows = [
            {"video": f"{stem}_{i}.mp4", "duration": 100, "question": f"q {i}?", "candidates": ["a", "b", "c", "d"]}
            | {"answer": "c", "question_type": task}
            for i in range(count)
        ]
        if task == "needle":
            rows[3]["answer"], rows[40]["answer"] = "Catching a flying drone quadcopter", "A red kite"
        for index, blank in BLANK_ROWS.get(task, {}).items():
            rows[index] |= blank
        if change:
            change(task, rows)
        (base / "json").mkdir(parents=True, exist_ok=True)
        (base / "json" / f"{stem}.json").write_text(json.dumps(rows))
        (base / "video" / stem).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            (base / "video" / stem / f"{stem}_{i}.mp4").touch()
    return root


def test_a_complete_official_copy_with_its_six_published_faults_verifies(tmp_path):
    """prepare called the official copy "INCOMPLETE: ... not comparable to published ones" (exit 1): it knew
    an invented empty row (no candidates), not the real ones (empty-string candidates), so `prepare mlvu && run
    mlvu` never ran; and its notes said the official scorer counts them all wrong, which it does not."""
    result = verify(get_benchmark("mlvu"), full_official_copy(tmp_path), probe=False)
    assert result.complete and not result.problems and result.questions == 2175
    published = [n for n in result.notes if "as published" in n]
    assert [n.split(":")[0] for n in published] == [
        "mlvu/ego/119",
        "mlvu/ego/313",
        "mlvu/needle/3",
        "mlvu/needle/40",
        "mlvu/plotQA/23",
        "mlvu/topic_reasoning/26",
    ]
    said = dict(n.split(": ", 1) for n in published)
    assert (
        "3_ego.json[119]: as published: an empty option: the official scorer asks it (its gold C); "
        in said["mlvu/ego/119"]
    )
    assert "fvlm-eval counts it wrong (an empty option cannot be scored as text)" in said["mlvu/ego/119"]
    assert "(its gold B)" in said["mlvu/plotQA/23"] and "(its gold D)" in said["mlvu/topic_reasoning/26"]
    assert "the official gold is (@), no option's letter" in said["mlvu/needle/3"]
    assert not [n for n in published if "as the official scorer does" in n]  # not true of the empty options
    questions = by_id(tmp_path)  # still recorded failures: run counts them wrong
    assert all(questions[n.split(":")[0]].error for n in published)


@pytest.mark.parametrize(
    "task, index, change",
    [
        ("needle", 9, {"answer": "zzz"}),  # a third answerless needle: not the published copy
        ("plotQA", 0, {"answer": "zzz"}),  # an answerless row where the official data has none
        ("needle", 9, {"answer": "zzz", "video": "../../../outside.mp4"}),  # answerless, and a path leaving
        ("topic_reasoning", 8, {"question": "", "candidates": ["", "", "", ""], "answer": ""}),  # a second one
        ("ego", 9, {"candidates": ["a", "", "c", "d"]}),  # a third row with an empty candidate in ego
        ("count", 2, {"candidates": ["a", "", "c", "d"]}),  # an empty candidate where the official data has none
        ("plotQA", 23, {"question": ""}),  # the published row with its question lost too
        ("topic_reasoning", 8, {"question": "", "candidates": [], "answer": ""}),  # no candidates at all
        ("count", 2, {"candidates": None}),
    ],
)
def test_any_other_problem_still_makes_the_official_copy_incomplete(tmp_path, task, index, change):
    """Only the rows docs/benchmarks.md names, recognised by what they are, pass as published."""

    def edit(name, rows):
        if name == task:
            rows[index].update(change)

    result = verify(get_benchmark("mlvu"), full_official_copy(tmp_path, edit), probe=False)
    assert not result.complete and f"mlvu/{task}/{index}" in [p.split(":")[0] for p in result.problems]
