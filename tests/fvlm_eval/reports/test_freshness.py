"""The one rule for run folders with stale summaries: the records are the truth."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from fvlm_eval.records import read_records, write_records
from fvlm_eval.reports.freshness import load_run_folder, recomputed_correct
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
    failed = dataclasses.replace(
        records[4],
        pred={p: "A" for p in records[4].pred},
        error="video missing",
        correct={p: True for p in records[4].correct},
    )  # right letter, but it failed
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
    older, narrowed = run.warnings
    assert "summary.json is older than samples.jsonl" in older and str(folder) in older
    assert narrowed.startswith(f"{folder / 'samples.jsonl'}: 6 records outside the 4 questions summary.json counts")
    (folder / "summary.json").unlink()
    run = load_run_folder(folder)
    assert len(run.records) == 10 and run.summary is None and run.headline_protocol is None
    (warning,) = run.warnings
    assert "no summary.json beside samples.jsonl: its run has not finished" in warning and "partial" in warning


def _summary(folder, change):
    summary = json.loads((folder / "summary.json").read_text())
    change(summary)
    (folder / "summary.json").write_text(json.dumps(summary))


def test_the_selection_never_changes_the_numbers_silently(tmp_path):
    """Narrowed: honoured and said (with the summary's own count when it disagrees); emptied or not
    a list of ids: ignored, every record counts, said."""
    folder = _folder(tmp_path, [True] * 3 + [False] * 6)
    ids = list(load_run_folder(folder).records)
    _summary(
        folder, lambda s: s.update(questions=ids[:3], coverage={**s["coverage"], "recorded": 3})
    )  # a later --limit 3
    run = load_run_folder(folder)
    assert list(run.records) == ids[:3]
    (warning,) = run.warnings
    assert (
        warning == f"{folder / 'samples.jsonl'}: 6 records outside the 3 questions summary.json counts (a later, "
        "smaller --limit?) are left out"
    )
    _summary(folder, lambda s: s["coverage"].update(recorded=9))  # the list alone cut down by hand
    (warning,) = load_run_folder(folder).warnings
    assert "its own coverage says 9 recorded: hand-edited?" in warning
    for questions, said in (
        ([], "`questions` is empty while"),
        ("all", "`questions` is not a list of ids"),
        ([1, 2], "`questions` is not a list of ids"),
    ):
        _summary(folder, lambda s, questions=questions: s.update(questions=questions))
        run = load_run_folder(folder)
        assert list(run.records) == ids  # all 9 count: 3 right, as the records say
        (warning,) = run.warnings
        assert warning.startswith(f"{folder / 'summary.json'}: {said}"), warning


def test_a_summary_with_no_readable_records_is_a_warning_naming_the_file(tmp_path):
    folder = _folder(tmp_path, [True] * 6)
    samples = folder / "samples.jsonl"
    samples.unlink()
    run = load_run_folder(folder)
    assert run.records == {} and run.summary is not None
    (warning,) = run.warnings
    assert warning.startswith(
        f"{samples}: missing, so {folder / 'summary.json'} has no records behind it; its "
        "numbers are not shown as measured"
    )
    samples.mkdir()
    (warning,) = load_run_folder(folder).warnings
    assert warning.startswith(f"{samples}: not a file, so ")


def test_regress_warns_about_a_summary_with_no_records_paired_or_not(tmp_path, capsys, monkeypatch):
    """The same rule in regress: a mode whose records are gone is said, never quietly 'in one run only'."""
    from fvlm_eval.errors import ExitCode
    from fvlm_eval.reports.regress import regress

    monkeypatch.setenv("COLUMNS", "400")
    base = write_run(tmp_path / "a", [True] * 20)
    current = write_run(tmp_path / "b", [True] * 20)
    write_run(tmp_path / "b", [True] * 20, mode="coarse_only")
    gone = current / "videomme/coarse_only/samples.jsonl"
    gone.unlink()
    assert (
        regress(base, current, allow_underpowered=True) == ExitCode.OK
    )  # coarse_fine compared; coarse_only in one run
    result = json.loads((current / "regress/regress.json").read_text())
    assert result["unpaired_runs"] == ["videomme coarse_only"]
    assert [w for w in result["warnings"] if str(gone) in w] == [
        f"current: {gone}: missing, so {gone.parent / 'summary.json'} has no records behind it; its numbers are not "
        "shown as measured (nothing is counted for this folder)"
    ]
    assert str(gone) in capsys.readouterr().out  # in the terminal too, not only in regress.json
    write_run(tmp_path / "a", [True] * 20, mode="coarse_only")
    (base / "videomme/coarse_only/samples.jsonl").rename(base / "videomme/coarse_only/x")
    (base / "videomme/coarse_only/samples.jsonl").mkdir()  # a folder where the records were
    assert regress(base, current, allow_underpowered=True) == ExitCode.UNUSABLE  # comparing nothing is never a pass
    result = json.loads((current / "regress/regress.json").read_text())
    assert any(
        w.startswith(f"baseline: {base / 'videomme/coarse_only/samples.jsonl'}: not a file") for w in result["warnings"]
    )
    assert result["too_little_shared"] == [
        "videomme coarse_only: 0 questions in common, of 0 (baseline) and 0 (current)"
    ]


# ----- a pred is its own scores' choice, the scores their log-probabilities' (issue 23) -----------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, tokenizer):
    """A tiny random fVLM's run on ScienceQA with every formulation: cloze, generated, circular."""
    from fvlm_eval import evaluate
    from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
    from tests.conftest import tiny_model

    root = tmp_path_factory.mktemp("real")
    write_scienceqa(root / "data")
    evaluate(
        tiny_model(3),
        "scienceqa",
        tokenizer=tokenizer,
        limit=4,
        data_dir=root / "data",
        output_dir=root / "run",
        frame_cache=False,
        workers=0,
        progress=False,
        generate=True,
        max_new_tokens=2,
        circular=True,
    )
    return root / "run" / "scienceqa" / "coarse_fine"


def _rewrite(folder, change) -> None:
    path = folder / "samples.jsonl"
    write_records(path, [change(r) for r in read_records(path)])
    os.utime(folder / "summary.json", (path.stat().st_mtime + 5,) * 2)


def test_every_protocol_of_a_real_record_is_recomputed_as_recorded(real_run):
    from fvlm_eval.reports.recompute import recompute

    records = read_records(real_run / "samples.jsonl")
    assert any(r.circular for r in records) and any(r.cloze for r in records) and any(r.generated for r in records)
    assert all(recompute(r).record is r for r in records)  # nothing to change: no false alarm
    assert load_run_folder(real_run).warnings == []


def test_a_pred_that_is_not_its_own_scores_choice_is_caught_and_recomputed(real_run, tmp_path):
    import shutil

    folder = tmp_path / "copy" / real_run.parent.name / real_run.name  # the run's <benchmark>/<mode>
    shutil.copytree(real_run, folder)
    first = next(r for r in read_records(folder / "samples.jsonl") if not r.failed)
    loser = next(letter for letter in first.letters if letter != first.pred["cloze_pmi"])

    def edited(record):
        if record.id != first.id:
            return record
        pred = {**record.pred, "cloze_pmi": loser, "reference": loser, "circular_sum": loser}
        return dataclasses.replace(record, pred=pred, correct={p: v == record.gold for p, v in pred.items()})

    _rewrite(folder, edited)
    run = load_run_folder(folder)
    (warning,) = run.warnings
    assert "1 record holds a `pred` that is not its own scores' choice" in warning and first.id in warning
    assert "circular_sum" in warning and "cloze_pmi" in warning and "reference" in warning
    assert run.records[first.id].pred == first.pred and run.records[first.id].correct == first.correct


def test_scores_that_are_not_their_log_probabilities_are_caught(real_run, tmp_path):
    import shutil

    folder = tmp_path / "copy" / real_run.parent.name / real_run.name  # the run's <benchmark>/<mode>
    shutil.copytree(real_run, folder)
    first = next(r for r in read_records(folder / "samples.jsonl") if not r.failed)
    winner = first.pred["sum"]
    loser = next(letter for letter in first.letters if letter != winner)

    def edited(record):  # the sums swapped between two options and the pred moved with them: consistent, but false
        if record.id != first.id:
            return record
        sums = dict(record.scores["sum"])
        sums[winner], sums[loser] = sums[loser], sums[winner]
        pred = {**record.pred, "sum": loser}
        return dataclasses.replace(record, scores={**record.scores, "sum": sums}, pred=pred)

    _rewrite(folder, edited)
    run = load_run_folder(folder)
    assert any("scores that are not their own token log-probabilities'" in w and "(sum)" in w for w in run.warnings)
    assert run.records[first.id].pred["sum"] == winner and run.records[first.id].scores == first.scores


def test_records_of_another_benchmark_or_mode_are_refused_naming_the_file(real_run, tmp_path):
    """A coarse_only samples.jsonl copied into a coarse_fine folder was read as coarse_fine's by regress (exit 0)."""
    import shutil

    from fvlm_eval.errors import RecordError

    folder = tmp_path / "copy" / real_run.parent.name / "autoregressive"
    shutil.copytree(real_run, folder)
    mode = next(iter(read_records(folder / "samples.jsonl"))).mode
    with pytest.raises(RecordError) as raised:
        load_run_folder(folder)
    (line,) = str(raised.value).splitlines()
    assert line.startswith(f"{folder / 'samples.jsonl'}: ") and f"scienceqa {mode} (e.g. scienceqa/" in line
    assert "in the folder of scienceqa autoregressive: copied from another run or mode?" in line


def test_a_missing_or_unreadable_settings_file_is_a_warning_naming_it(tmp_path):
    """report said nothing of a run folder whose settings.json was gone or garbage: what made its records is unknown."""
    run = write_run(tmp_path / "r", [True] * 3)
    folder = run / "videomme" / "coarse_fine"
    assert load_run_folder(folder).warnings == []
    (folder / "settings.json").write_text("{not json")
    (warning,) = load_run_folder(folder).warnings
    assert warning.startswith(f"{folder / 'settings.json'}") and warning.endswith(
        "; the settings its records were made with are unknown"
    )
    (folder / "settings.json").unlink()
    (warning,) = load_run_folder(folder).warnings
    assert warning == f"{folder / 'settings.json'}: missing, so the settings its records were made with are unknown"


def test_records_a_live_run_is_writing_are_said_to_be_written_now_not_stopped(tmp_path):
    """A folder a live run was writing was warned about as "stopped or killed ... rerun the same `fvlm-eval run`
    command": that rerun is refused (exit 3) while the run holds the folder."""
    from tests.fvlm_eval.test_folder_holders import holding

    folder = _folder(tmp_path, [True] * 4)
    (folder / "summary.json").unlink()
    with holding(folder) as pid:
        (warning,) = load_run_folder(folder).warnings
        assert f"a run (pid {pid} on " in warning and "is writing this folder now" in warning, warning
        assert "partial" in warning and "report again when it ends" in warning
        assert "stopped" not in warning and "rerun" not in warning
        (folder / "summary.json").write_text("{}")  # an earlier run's summary, older than the records
        os.utime(folder / "summary.json", ((folder / "samples.jsonl").stat().st_mtime - 60,) * 2)
        older = load_run_folder(folder).warnings[0]
        assert f"a run (pid {pid} on " in older and "summary.json is older" in older and "interrupted" not in older
    (folder / "summary.json").unlink()
    (warning,) = load_run_folder(folder).warnings  # the run has ended without its summary: stopped, rerun it
    assert "its run has not finished (stopped or killed" in warning and "rerun the same" in warning
