"""What no benchmark may do silently: count one annotation row twice (a benchmark whose ids are row positions
gives a repeated row an id of its own), or read an annotation file with no rows as zero questions."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.fixtures.mlvu import write_mlvu
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from fvlm_eval.tasks.fixtures.tempcompass import write_tempcompass
from fvlm_eval.tasks.prepare import verify
from tests.fvlm_eval.tasks.edits import rewrite_parquet

MVBENCH = "mvbench/json/action_sequence.json"
MLVU = "mlvu/MLVU/json/1_plotQA.json"
PARQUET = "test-00000-of-00001.parquet"


def repeat_first_row(path, at):
    """The JSON list of rows at ``path`` with its first row inserted again at ``at``."""
    rows = json.loads(path.read_text())
    rows.insert(at, dict(reversed(list(rows[0].items()))))  # the same row, its keys in another order
    path.write_text(json.dumps(rows))
    return len(rows)


@pytest.mark.parametrize(
    "name, write, file, task",
    [
        ("mvbench", write_mvbench, MVBENCH, "action_sequence"),
        ("mlvu", lambda root: write_mlvu(root, "official"), MLVU, "plotQA"),
    ],
)
def test_a_row_repeated_exactly_counts_once_under_its_first_id_and_other_ids_stay(tmp_path, name, write, file, task):
    write(tmp_path)
    before = {q.id: q for q in get_benchmark(name).load(tmp_path).questions}
    rows = repeat_first_row(tmp_path / file, 1)  # in the middle: rows [0, 0, 1, ...]
    loaded = get_benchmark(name).load(tmp_path)
    ids = [q.id for q in loaded.questions]
    assert len(ids) == len(before) and len(set(ids)) == len(ids)
    assert f"{name}/{task}/1" not in ids  # the repeat is not asked again
    first = loaded.questions[ids.index(f"{name}/{task}/0")]
    assert replace(first, source_sha256="") == replace(before[f"{name}/{task}/0"], source_sha256="")
    # every later row keeps its own position as its id, as a run folder made from this file resumes by
    assert {f"{name}/{task}/{i}" for i in range(2, rows)} <= set(ids)
    (note,) = [n for n in loaded.notes if "repeats" in n]
    assert f"(from {file.rsplit('/', 1)[1]})" in note and "row 1 repeats row 0" in note
    assert f"counted once (as {name}/{task}/0)" in note
    assert note in verify(get_benchmark(name), tmp_path, probe=False).problems  # not the copy as published


def test_the_same_row_in_two_task_files_is_two_questions(tmp_path):
    write_mvbench(tmp_path)
    row = json.loads((tmp_path / MVBENCH).read_text())[0]
    (tmp_path / "mvbench/json/action_prediction.json").write_text(json.dumps([row]))
    loaded = get_benchmark("mvbench").load(tmp_path)
    ids = {q.id for q in loaded.questions}
    assert {"mvbench/action_sequence/0", "mvbench/action_prediction/0"} <= ids
    assert not [n for n in loaded.notes if "duplicate" in n]


@pytest.mark.parametrize("name, config", [("tempcompass", "multi-choice"), ("tempcompass_yes_no", "yes_no")])
def test_tempcompass_counts_a_repeated_row_as_the_official_scorer_does_with_a_note(tmp_path, name, config):
    # The official yes/no set repeats one row (1092813279_concat_1, speed) and its scorer counts it twice.
    write_tempcompass(tmp_path)
    path = tmp_path / f"tempcompass/{config}/{PARQUET}"
    before = [q.id for q in get_benchmark(name).load(tmp_path).questions]
    rewrite_parquet(path, lambda rows: rows + [rows[0]])
    loaded = get_benchmark(name).load(tmp_path)
    ids = [q.id for q in loaded.questions]
    assert before[:2] == [f"{name}/1034419625/action/0", f"{name}/1034419625/action/1"]
    assert ids == before + [f"{name}/1034419625/action/2"]  # the place it has in its video's questions, as before
    (note,) = [n for n in loaded.notes if "repeats" in n]
    assert f"(from {PARQUET})" in note and f"row {len(before)} repeats row 0" in note and "official" in note
    # the official data as published: ``prepare`` notes it and does not call the copy incomplete
    result = verify(get_benchmark(name), tmp_path, probe=False)
    assert note in result.notes and not result.problems


def header_only(path):
    """The parquet at ``path`` with its columns and types, and no row."""
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(path).slice(0, 0), path)


EMPTY = [
    ("mvbench", write_mvbench, MVBENCH, "[]", 200),
    ("mlvu", lambda root: write_mlvu(root, "official"), MLVU, "[]", 539),
    ("mlvu", lambda root: write_mlvu(root, "parquet"), f"mlvu/mlvu/{PARQUET}", None, 2175),
    ("tempcompass", write_tempcompass, f"tempcompass/multi-choice/{PARQUET}", None, 1580),
    ("tempcompass_yes_no", write_tempcompass, f"tempcompass/yes_no/{PARQUET}", None, 2453),
    ("videomme", None, f"videomme/videomme/{PARQUET}", None, 2700),
    ("nextqa", None, f"nextqa/MC/{PARQUET}", None, 8564),
    ("egoschema", None, f"egoschema/Subset/{PARQUET}", None, 500),
    ("perceptiontest", None, "perceptiontest/mc_question_val/validation-00000-of-00001.parquet", None, 19140),
    ("scienceqa", None, f"scienceqa/ScienceQA-IMG/{PARQUET}", None, 2017),
]


@pytest.mark.parametrize("name, write, file, content, expected", EMPTY, ids=[f"{e[0]}:{e[2]}" for e in EMPTY])
def test_an_annotation_file_with_no_rows_is_a_problem_naming_it(tmp_path, name, write, file, content, expected):
    (write or get_benchmark(name).write_fixture)(tmp_path)
    path = tmp_path / file
    if content is None:
        header_only(path)
    else:
        path.write_text(content)
    loaded = get_benchmark(name).load(tmp_path)
    problem = next(p for p in loaded.problems if p["file"] == str(path))
    assert problem["error"] == f"holds no rows (expected {expected})" and problem["expected"] == expected
    assert not [q for q in loaded.questions if q.source == path.name]


@pytest.mark.parametrize(
    "problems, test_ids, message",
    [
        ({}, None, "problems.json holds no problems"),
        (None, [], "pid_splits.json lists no 'test' problem"),
    ],
)
def test_scienceqa_original_layout_with_no_problems_is_a_problem(tmp_path, problems, test_ids, message):
    write_scienceqa(tmp_path, "original")
    if problems is not None:
        (tmp_path / "scienceqa/problems.json").write_text(json.dumps(problems))
    if test_ids is not None:
        (tmp_path / "scienceqa/pid_splits.json").write_text(json.dumps({"train": [], "val": [], "test": test_ids}))
    loaded = get_benchmark("scienceqa").load(tmp_path)
    (problem,) = loaded.problems
    assert message in problem["error"] and problem["expected"] == 2017 and not loaded.questions
