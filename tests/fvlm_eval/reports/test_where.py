"""A folder given to report, regress or track that is not a run folder: the hint names the folder to give."""

from __future__ import annotations

import pytest

from fvlm_eval.cli import main
from fvlm_eval.reports.where import not_a_run_hint, runs_below
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.fvlm_eval.constructed import write_run


@pytest.fixture()
def place(tmp_path):
    """results/runs/{a,b} (two run folders), results/report (a report's files), data/ (a benchmark's copy)."""
    for name in ("a", "b"):
        write_run(tmp_path / "results" / "runs" / name, [True, False, True])
    (tmp_path / "results" / "report").mkdir()
    (tmp_path / "results" / "report" / "report.md").write_text("# report\n")
    write_scienceqa(tmp_path / "data")
    return tmp_path


def test_each_common_slip_gets_the_folder_to_give(place):
    run = place / "results" / "runs" / "a"
    assert not_a_run_hint(run / "videomme" / "coarse_fine").endswith(f"give the run folder, two levels up: {run}")
    assert not_a_run_hint(run / "videomme").endswith(f"give the run folder, one level up: {run}")
    runs = place / "results" / "runs"
    assert not_a_run_hint(runs) == f"run folders are below it: give them, {runs / 'a'} {runs / 'b'}"
    assert not_a_run_hint(place / "results", one=True).startswith("run folders are below it: give one of them,")
    assert runs_below(place / "results") == [runs / "a", runs / "b"]  # two levels down: runs/<run>
    assert "a folder `fvlm-eval report` wrote" in not_a_run_hint(place / "results" / "report")
    assert not_a_run_hint(place / "data").startswith("it holds benchmark data (scienceqa): that is a --data-dir")
    (place / "empty").mkdir()
    assert not_a_run_hint(place / "empty") == "is it the --output-dir of `fvlm-eval run`?"


def test_report_regress_and_track_say_it_in_one_line(place, capsys):
    """They said "no <benchmark>/<mode>/summary.json under it; is it the --output-dir of `fvlm-eval run`?" for all
    of these: a benchmark's folder, a folder of runs, the report folder, the data folder."""
    run = place / "results" / "runs" / "a"
    for folder, said in (
        (run / "videomme", f"give the run folder, one level up: {run}"),
        (place / "results" / "runs", "run folders are below it: give"),
        (place / "results" / "report", "a folder `fvlm-eval report` wrote"),
        (place / "data", "that is a --data-dir"),
    ):
        for command, code in ((["report", folder], 1), (["regress", "--baseline", folder, "--current", run], 4)):
            assert main([str(a) for a in command]) == code
            out, err = capsys.readouterr()
            (line,) = (out + err).strip().splitlines()
            assert said in line, line
    assert main(["track", str(place / "results" / "report")]) == 1
    assert "a folder `fvlm-eval report` wrote" in capsys.readouterr().err


def test_a_run_killed_before_its_first_record_is_called_what_it_is(tmp_path, capsys):
    """A run SIGKILLed as it started leaves <benchmark>/<mode>/settings.json only: report, regress and track called
    its folder "a --data-dir"; and in a folder with other results it was left out without a word."""
    stopped = tmp_path / "stopped"
    (stopped / "scienceqa" / "coarse_fine").mkdir(parents=True)
    (stopped / "scienceqa" / "coarse_fine" / "settings.json").write_text("{}")
    hint = "it is the --output-dir of a run stopped before it recorded anything (scienceqa/coarse_fine hold"
    assert not_a_run_hint(stopped).startswith(hint)
    done = write_run(tmp_path / "done", [True, False, True])
    for command in (
        ["report", str(stopped)],
        ["regress", "--baseline", str(done), "--current", str(stopped)],
        ["track", str(stopped)],
    ):
        assert main(command) in (1, 4)
        err = " ".join(capsys.readouterr().err.split())
        assert hint in err and "--data-dir" not in err, err
    (done / "scienceqa" / "coarse_fine").mkdir(parents=True)
    (done / "scienceqa" / "coarse_fine" / "settings.json").write_text("{}")
    assert main(["report", str(done), "--output-dir", str(tmp_path / "report")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"{done / 'scienceqa' / 'coarse_fine'}: its run was stopped before it recorded anything" in said


def test_a_run_that_has_just_started_is_said_to_be_writing_not_stopped(tmp_path, capsys):
    """A run that had written its settings but no record yet was called "a run stopped before it recorded anything
    ...: rerun that `fvlm-eval run` command", and that rerun was refused (exit 3): the run was still going."""
    from tests.fvlm_eval.test_folder_holders import holding

    started = tmp_path / "started"
    folder = started / "scienceqa" / "coarse_fine"
    with holding(folder) as pid:
        (folder / "settings.json").write_text("{}")
        hint = not_a_run_hint(started)
        assert hint.startswith(f"a run (pid {pid} on ") and "is writing it now and has recorded nothing yet" in hint
        assert "stopped" not in hint and "rerun" not in hint
        assert main(["report", str(started)]) == 1
        assert "is writing it now" in " ".join(capsys.readouterr().err.split())
    assert not_a_run_hint(started).startswith("it is the --output-dir of a run stopped before it recorded anything")
