"""The one rule for run folders with stale summaries: the records are the truth."""

from __future__ import annotations

import dataclasses
import json
import os

from fvlm_eval.freshness import load_run_folder, recomputed_correct
from fvlm_eval.records import read_records, write_records
from tests.fvlm_eval.constructed import write_run


def _folder(tmp_path, correct):
    return write_run(tmp_path / "run", correct) / "videomme" / "coarse_fine"


def test_a_fresh_folder_reads_as_written(tmp_path):
    folder = _folder(tmp_path, [True, False] * 5)
    run = load_run_folder(folder)
    assert run.warnings == [] and not run.stale and run.headline_protocol == "reference"
    assert [r.correct["sum"] for r in run.records.values()] == [True, False] * 5


def test_correct_is_recomputed_from_pred_and_gold(tmp_path):
    folder = _folder(tmp_path, [False] * 6)
    path = folder / "samples.jsonl"
    records = read_records(path)
    edited = [dataclasses.replace(r, correct={p: True for p in r.correct}) for r in records[:4]]
    failed = dataclasses.replace(records[4], pred={p: "A" for p in records[4].pred}, error="video missing",
                                 correct={p: True for p in records[4].correct})  # right letter, but it failed
    write_records(path, edited + [failed, records[5]])
    os.utime(folder / "summary.json", (path.stat().st_mtime + 5,) * 2)
    run = load_run_folder(folder)
    assert not any(c for r in run.records.values() for c in r.correct.values())
    (warning,) = run.warnings
    assert warning.startswith(f"{path}: 5 records hold `correct` flags that disagree") and "videomme/000" in warning
    assert recomputed_correct(records[0]) == records[0].correct


def test_an_older_or_missing_summary_is_a_warning_and_supplies_only_the_selection(tmp_path):
    folder = _folder(tmp_path, [True] * 10)
    summary = json.loads((folder / "summary.json").read_text())
    summary["questions"] = summary["questions"][:4]
    (folder / "summary.json").write_text(json.dumps(summary))
    os.utime(folder / "summary.json", ((folder / "samples.jsonl").stat().st_mtime - 60,) * 2)
    run = load_run_folder(folder)
    assert list(run.records) == summary["questions"] and run.headline_protocol == "reference"
    (warning,) = run.warnings
    assert "summary.json is older than samples.jsonl" in warning and str(folder) in warning
    (folder / "summary.json").unlink()
    run = load_run_folder(folder)
    assert len(run.records) == 10 and run.summary is None and run.headline_protocol is None
    (warning,) = run.warnings
    assert "no summary.json beside samples.jsonl" in warning
