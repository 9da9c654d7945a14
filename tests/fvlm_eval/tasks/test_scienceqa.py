"""ScienceQA's hub layout: the hub's parquet shard set is read, nothing beside it, ids the row numbers there."""

from __future__ import annotations

import shutil

from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa

PARQUET = "scienceqa/ScienceQA-IMG/test-00000-of-00001.parquet"


def test_a_browsers_second_copy_is_not_scored_twice_and_the_ids_stay_the_row_numbers(tmp_path):
    """Every ``test-*.parquet`` was read: the copy ``test-00000-of-00001 (1).parquet`` (sorted first) made every
    question two records, ``scienceqa/0..5`` from the copy and ``6..11`` from the file (run folders resumed under
    shifted ids), with no note but the question count."""
    write_scienceqa(tmp_path, "parquet")
    before = get_benchmark("scienceqa").load(tmp_path)
    shutil.copy(tmp_path / PARQUET, tmp_path / "scienceqa/ScienceQA-IMG/test-00000-of-00001 (1).parquet")
    after = get_benchmark("scienceqa").load(tmp_path)
    assert [q.id for q in after.questions] == [q.id for q in before.questions] == [f"scienceqa/{i}" for i in range(6)]
    assert {q.source for q in after.questions} == {"test-00000-of-00001.parquet"} and not after.problems
    assert any(note.startswith("not read: 'test-00000-of-00001 (1).parquet'") for note in after.notes)


def test_two_shard_sets_read_nothing_and_count_every_question_failed(tmp_path):
    """Two revisions' files were read together (every question twice, or two revisions mixed)."""
    write_scienceqa(tmp_path, "parquet")
    shutil.copy(tmp_path / PARQUET, tmp_path / "scienceqa/ScienceQA-IMG/test-00000-of-00001-0123456789abcdef.parquet")
    loaded = get_benchmark("scienceqa").load(tmp_path)
    assert loaded.questions == ()
    (problem,) = loaded.problems
    assert problem["expected"] == 2017 and "None is read: keep one set" in problem["error"]
