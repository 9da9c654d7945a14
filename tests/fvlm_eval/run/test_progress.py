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
