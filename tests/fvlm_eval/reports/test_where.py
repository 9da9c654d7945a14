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
