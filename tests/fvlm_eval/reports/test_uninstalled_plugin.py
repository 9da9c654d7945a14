"""A run folder holding a plugin's benchmark, read after that plugin is uninstalled: ``report`` and ``track`` leave
that benchmark out with one warning naming the plugin (the run's manifest records it) and read the rest."""

from __future__ import annotations

import os

import pytest

from fvlm_eval.errors import ExitCode
from fvlm_eval.models import load_model
from fvlm_eval.reports.read import read_run
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.plugins import plugins_on_path, write_distribution

GONE = """
from dataclasses import dataclass

from fvlm_eval.tasks.scienceqa import ScienceQA


@dataclass
class Gone(ScienceQA):
    name: str = "gone"
"""


@pytest.fixture(scope="module")
def runs(model_dir, tmp_path_factory):
    """Two checkpoints' runs of scienceqa and the plugin benchmark ``gone`` (gone-plugins 2.0), and a third of
    ``gone`` alone, made while it was installed; it is not installed once this fixture returns."""
    root = tmp_path_factory.mktemp("uninstalled")
    data = write_scienceqa(root / "data").parent
    os.symlink(data / "scienceqa", data / "gone")  # the plugin reads ScienceQA's layout under its own name
    site = write_distribution(
        root / "site", "gone-plugins", {"fvlm_eval.benchmarks": {"gone": "gone:Gone"}}, {"gone.py": GONE}, "2.0"
    )
    model = load_model(str(model_dir), device="cpu")
    with plugins_on_path(site, ("gone",)):
        for step, output, benchmarks in [
            (100, "runs/step100", ("scienceqa", "gone")),
            (200, "runs/step200", ("scienceqa", "gone")),
            (300, "only/step300", ("gone",)),
        ]:
            settings = RunSettings(benchmarks, ("coarse_only",), data, root / output, workers=0, step=step)
            assert run(settings, model, progress=False).exit_code == ExitCode.OK
    return root


LEFT_OUT = (
    "{run}/gone: left out (coarse_only): its benchmark came from the plugin gone-plugins 2.0, which is not installed "
    "now (install it to read it)"
)


def test_a_benchmark_not_installed_now_is_left_out_naming_its_plugin_and_the_rest_read(runs):
    """A run holding a benchmark whose plugin was uninstalled was refused whole ("'gone' is not a benchmark of
    fvlm-eval"), its built-in benchmarks too."""
    warnings: list[str] = []
    read = read_run(runs / "runs/step100", warnings)
    assert set(read) == {("scienceqa", "coarse_only")}
    assert LEFT_OUT.format(run=runs / "runs/step100") in warnings


def test_report_reads_the_rest_and_says_what_it_left_out(runs, capsys):
    from fvlm_eval.cli import main

    assert main(["report", str(runs / "runs/step100"), "--output-dir", str(runs / "report")]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert LEFT_OUT.format(run=runs / "runs/step100") in " ".join((out + err).split()) and "Traceback" not in err
    import json

    warnings = json.loads((runs / "report/report.json").read_text())["warnings"]
    assert not any("gone data not readable" in w for w in warnings)  # the question browser leaves it out too
    assert main(["report", str(runs / "only/step300"), "--output-dir", str(runs / "report2")]) == ExitCode.FAILED
    out, err = capsys.readouterr()
    assert f"nothing to read: {LEFT_OUT.format(run=runs / 'only/step300')}" in " ".join(err.split())


def test_track_tracks_the_rest_and_a_run_with_nothing_else_still_gives_its_step(runs, capsys):
    """`track runs/` failed whole when any run under it held a benchmark not installed now."""
    from fvlm_eval.cli import main
    from fvlm_eval.reports.track import load_checkpoints

    checkpoints = load_checkpoints([runs / "runs", runs / "only"])
    assert [(c.step, sorted(c.summaries)) for c in checkpoints] == [
        (100, [("scienceqa", "coarse_only")]),
        (200, [("scienceqa", "coarse_only")]),
        (300, []),
    ]
    assert LEFT_OUT.format(run=runs / "only/step300") in checkpoints[2].warnings
    assert main(["track", str(runs / "runs")]) == ExitCode.OK
    assert main(["track", str(runs / "only")]) == ExitCode.FAILED
    err = " ".join(capsys.readouterr().err.split())
    assert f"nothing to track: {LEFT_OUT.format(run=runs / 'only/step300')}" in err
