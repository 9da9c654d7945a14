"""What a run says while it scores: a bar whose numbers stay whole at 80 columns, and plain progress lines
where output is not a terminal (CI logs, ``| tee``)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from fvlm_eval.run.progress import ProgressBar, ProgressLines, progress_bar

LABEL = "mvbench coarse_only/coarse_fine/autoregressive"


class Clock:
    """Time as the test sets it."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("width", [80, 60])
def test_the_bar_keeps_its_numbers_whole_at_narrow_widths(width):
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    shown = Console(file=io.StringIO(), width=width, color_system=None)
    with ProgressBar(console, LABEL, 4000) as bar:
        bar.update(advance=74, rate=1.3, failed=2)
        shown.print(bar.progress.make_tasks_table(bar.progress.tasks))
    line = shown.file.getvalue().rstrip("\n")
    assert "74/4000" in line and "1.3 q/s" in line and "failed 2" in line, line
    assert "…" not in line.split("74/4000")[1], line  # only the label gives way
    assert len(line) <= width


@pytest.mark.parametrize("width", [20, 30, 40])
def test_a_very_narrow_terminal_keeps_the_benchmark_and_the_count(width):
    """At 20 columns (`stty cols 20`) the bar showed "0.0 q… faile… --:--": no benchmark, no count. The bar, the
    rate, the time left and the failures now give way, in that order; what is shown is never cut."""
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    shown = Console(file=io.StringIO(), width=width, color_system=None)
    with ProgressBar(console, "mvbench coarse_fine", 4000) as bar:
        bar.update(advance=74, rate=1.3, failed=2)
        shown.print(bar.progress.make_tasks_table(bar.progress.tasks))
    line = shown.file.getvalue().rstrip("\n")
    assert line.startswith("mvbench") and "74/4000" in line and len(line) <= width, line
    assert "…" not in line.split("74/4000")[1], line  # a number shown is shown whole
    if width >= 40:
        assert "failed 2" in line, line


def test_output_that_is_not_a_terminal_gets_progress_lines():
    """A line every few seconds (the 27-s run once said nothing for 24 s), then one at the end."""
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, width=40, force_terminal=False)  # a log's line is never wrapped
    assert isinstance(progress_bar(console, LABEL, True, 60), ProgressLines)
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(progress_bar(terminal, LABEL, True, 60), ProgressBar)
    with ProgressLines(console, LABEL, 60, clock=clock) as lines:
        for second in range(1, 28):
            clock.now = float(second)
            lines.update(advance=2, rate=2.0, failed=1)
    said = out.getvalue().splitlines()
    assert len(said) == 6 and said[0] == f"{LABEL}: 10/60 questions, 2.0 q/s, failed 1, about 0:00:25 left"
    assert said[-1] == f"{LABEL}: 54/60 questions, 2.0 q/s, failed 1, about 0:00:03 left"


def test_progress_lines_grow_sparser_after_the_first_minute():
    out, clock = io.StringIO(), Clock()
    with ProgressLines(Console(file=out, width=200, force_terminal=False), LABEL, 10_000, clock=clock) as lines:
        for second in range(1, 181):
            clock.now = float(second)
            lines.update(advance=1, rate=1.0)
    assert len(out.getvalue().splitlines()) == 12 + 4  # every 5 s for a minute, then every 30 s


def test_progress_lines_of_a_shard_say_they_count_its_share():
    """A shard's lines read "mvbench ...: 5/5 questions" for a 9-question benchmark, as if its share were all."""
    out = io.StringIO()
    with ProgressLines(Console(file=out, width=40, force_terminal=False), "mvbench (shard 0/2)", 5, in_all=9) as lines:
        lines.update(advance=5, rate=1.0)
    assert out.getvalue().splitlines() == ["mvbench (shard 0/2): 5/5 of its questions (9 in all), 1.0 q/s, failed 0"]


def test_the_bar_of_a_shard_says_how_many_questions_there_are_in_all():
    """The bar of a shard showed "5/5" beside the benchmark's name alone, as if its share were the benchmark."""
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None)
    shown = Console(file=io.StringIO(), width=120, color_system=None)
    with progress_bar(console, "mvbench coarse_only (shard 0/2)", True, 5, in_all=9) as bar:
        bar.update(advance=5, rate=1.0)
        shown.print(bar.progress.make_tasks_table(bar.progress.tasks))
    line = shown.file.getvalue()
    assert "mvbench coarse_only (shard 0/2), 9 in all" in line and "5/5" in line, line


@pytest.fixture(scope="module")
def mvbench(tmp_path_factory):
    from fvlm_eval.tasks.fixtures.mvbench import write_mvbench

    root = tmp_path_factory.mktemp("data")
    write_mvbench(root)
    return root


@pytest.fixture(scope="module")
def fvlm(model_dir):
    from fvlm_eval.models import load_model

    return load_model(str(model_dir), device="cpu")


def _settings(data, output, **extra):
    from fvlm_eval.run.settings import RunSettings

    return RunSettings(
        benchmarks=("mvbench",), modes=("coarse_only",), data_dir=data, output_dir=output, workers=0, **extra
    )


def test_a_shard_runs_progress_counts_its_share_of_the_benchmark(mvbench, fvlm, tmp_path):
    """`run --shard 0/2` printed "mvbench coarse_only: 5/5 questions" for a 9-question benchmark: its share read as
    the whole benchmark."""
    from fvlm_eval.run.runner import run
    from fvlm_eval.run.shards import Shard

    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    assert run(_settings(mvbench, tmp_path / "run", shard=Shard(0, 2)), fvlm, console=console).exit_code == 0
    (line,) = [line for line in out.getvalue().splitlines() if "q/s" in line]
    share = len(read_shard(tmp_path / "run" / "mvbench" / "coarse_only", "samples.shard-0-of-2.jsonl"))
    assert 0 < share < 9
    assert line.startswith(f"mvbench coarse_only (shard 0/2): {share}/{share} of its questions (9 in all), "), line


def read_shard(folder, name):
    from fvlm_eval.records import read_records

    return read_records(folder / name)


def test_questions_whose_bound_misses_the_clip_are_said_at_the_end_of_the_run(mvbench, fvlm, tmp_path):
    """A bound wholly after its clip was scored on the clip's last frame repeated, said only in the record's
    media_note: a run said nothing of it, so a user saw it only by reading the records."""
    import json
    import shutil

    from fvlm_eval.run.runner import run

    data = tmp_path / "data"
    shutil.copytree(mvbench, data)
    path = data / "mvbench" / "json" / "action_sequence.json"
    rows = json.loads(path.read_text())
    rows[0].update(start=50.0, end=60.0)  # the clip lasts 3 s
    path.write_text(json.dumps(rows))
    for attempt in ("first", "resumed"):  # a rerun that scores nothing says it of the records it holds
        outcome = run(_settings(data, tmp_path / "run"), fvlm, progress=False)
        said = [m for m in outcome.messages if "outside the clip" in m]
        assert outcome.exit_code == 0 and len(said) == 1, (attempt, outcome.messages)
        assert said[0].startswith(
            "mvbench: 1 question has a bound wholly outside the clip, scored on its first or last frame alone, "
            "repeated (see media_note in the records), e.g. mvbench/action_sequence/"
        ), said
        assert "bound 50-60s misses the clip (" in said[0] and said[0].endswith("clamped to its last frame alone")
    outcome = run(_settings(mvbench, tmp_path / "plain"), fvlm, progress=False)
    assert not [m for m in outcome.messages if "outside the clip" in m]
