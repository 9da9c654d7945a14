"""What a run says while it scores: one line before (nothing to score, or resuming), then a progress bar
on a terminal, or progress lines every few seconds where output is not one (CI logs, ``| tee``)."""

from __future__ import annotations

import datetime
import time
from contextlib import nullcontext

from fvlm_eval.media.sampling import MISSES_THE_CLIP
from fvlm_eval.types import Question
from fvlm_eval.wording import agreeing, counted


def announce(
    console,
    name: str,
    questions: list[Question],
    own: list[Question],
    done: dict[str, set[str]],
    modes: tuple[str, ...],
    total: int,
    shard,
) -> None:
    """One line before scoring: nothing left to score, or resuming (recorded per mode); a shard
    speaks of its own share (``own``) only, never of other shards' records."""
    if not questions:
        return
    whose = (
        f"shard {shard.index}/{shard.count}'s {len(own)} of {counted(len(questions), 'question')}"
        if shard
        else counted(len(own), "question")
    )
    if not own:
        console.print(
            f"{name}: nothing to score: shard {shard.index}/{shard.count} has no questions of it (whole videos "
            f"go to one shard; {counted(len(questions), 'question')} over {shard.count} shards)"
        )
        return
    recorded = {m: sum(1 for q in own if q.id in done[m]) for m in modes}
    if total == 0:
        where = "every mode" if len(modes) > 1 else modes[0]
        said = f"its {whose} is" if len(own) == 1 else f"all {whose} are"
        console.print(f"{name}: nothing to score: {said} already recorded in {where}")
    elif any(recorded.values()):
        per_mode = ", ".join(f"{m} {recorded[m]}/{len(own)}" for m in modes)
        console.print(f"resuming {name} ({whose}): recorded {per_mode}; {total} to score")


def missed_the_clip(records) -> dict[str, str]:
    """Question id: its record's media note, for each record whose media bound misses the clip (scored on the
    clip's first or last frame alone, repeated: said in that note only)."""
    return {r.id: r.media_note for r in records if r.media_note and MISSES_THE_CLIP in r.media_note}


def said_of_missed(name: str, missed: dict[str, str]) -> str:
    """The run's one note on a benchmark's questions whose bound misses the clip, with one example."""
    first = min(missed)
    return (
        f"{name}: {counted(len(missed), 'question')} {agreeing(len(missed), 'has a bound', 'have bounds')} wholly "
        f"outside the clip, scored on its first or last frame alone, repeated (see media_note in the records), "
        f"e.g. {first}: {missed[first]}"
    )


class ProgressBar:
    """A rich progress bar over ``total`` questions (rate, failures, time left);
    ``update(advance=, rate=, failed=)``. The numbers keep their width at any terminal width (80 columns
    included): the label and the bar give way, shortened with an ellipsis; where even that leaves too little
    room (``COLUMNS=20``), the bar, then the rate, the time left and the failures are left out, never the label's
    start and the count (it kept "0.0 q… faile… --:--", which named no benchmark and no count). ``in_all``: the
    benchmark's questions where ``total`` is a shard's share of them, said after the label."""

    LABEL_AT_LEAST = 12  # characters of the label kept before any number is left out
    BAR_AT_LEAST = 6

    def __init__(self, console, label: str, total: int, in_all: int | None = None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.table import Column

        if in_all is not None:
            label = f"{label}, {in_all} in all"
        digits = len(str(total))
        label_width = min(len(label), self.LABEL_AT_LEAST)
        optional = {  # in the order they are left out of a narrow terminal, with their widths
            "bar": (BarColumn(bar_width=None, table_column=Column(ratio=2, min_width=self.BAR_AT_LEAST)), 6),
            "rate": (
                TextColumn("{task.fields[rate]:.1f} q/s", table_column=Column(width=9, no_wrap=True, justify="right")),
                9,
            ),
            "time": (TimeRemainingColumn(compact=True, table_column=Column(width=8, no_wrap=True)), 8),
            "failed": (
                TextColumn("failed {task.fields[failed]}", table_column=Column(width=7 + digits, no_wrap=True)),
                7 + digits,
            ),
        }
        room = console.width - label_width - (2 * digits + 1) - 1
        while optional and sum(width + 1 for _, width in optional.values()) > room:
            del optional[next(iter(optional))]
        columns = [
            TextColumn(label, table_column=Column(ratio=3, no_wrap=True, overflow="ellipsis", min_width=label_width)),
            *([optional["bar"][0]] if "bar" in optional else []),
            MofNCompleteColumn(table_column=Column(width=2 * digits + 1, no_wrap=True, justify="right")),
            *(optional[name][0] for name in ("rate", "failed", "time") if name in optional),
        ]
        self.progress = Progress(*columns, console=console, transient=False, refresh_per_second=2, expand=True)
        self.total = total

    def __enter__(self) -> "ProgressBar":
        self.progress.__enter__()
        self.task = self.progress.add_task("", total=self.total, rate=0.0, failed=0)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, **fields) -> None:
        self.progress.update(self.task, **fields)


class ProgressLines:
    """Progress as plain lines, for output that is not a terminal (CI logs, ``| tee``), where a live bar
    shows nothing until it ends: a line every ``FIRST_EVERY_SECONDS`` in a run's first minute, then every
    ``LATER_EVERY_SECONDS``, and one at the end. Same ``update(advance=, rate=, failed=)``. ``in_all``: the
    benchmark's questions where ``total`` is a shard's share of them ("5/5 of its questions (9 in all)")."""

    FIRST_EVERY_SECONDS = 5.0
    LATER_EVERY_SECONDS = 30.0

    def __init__(self, console, label: str, total: int, clock=time.monotonic, in_all: int | None = None):
        self.console, self.label, self.total, self.clock = console, label, total, clock
        self.questions = "questions" if in_all is None else f"of its questions ({in_all} in all)"
        self.done, self.rate, self.failed, self.said_done = 0, 0.0, 0, 0

    def __enter__(self) -> "ProgressLines":
        self.started = self.said = self.clock()
        return self

    def __exit__(self, *exc):
        if self.done != self.said_done:
            self._say()
        return False

    def update(self, advance: int = 0, rate: float = 0.0, failed: int = 0) -> None:
        self.done, self.rate, self.failed = self.done + advance, rate, failed
        now = self.clock()
        every = self.FIRST_EVERY_SECONDS if now - self.started < 60 else self.LATER_EVERY_SECONDS
        if now - self.said >= every:
            self._say()

    def _say(self) -> None:
        self.said, self.said_done = self.clock(), self.done
        left = (self.total - self.done) / self.rate if self.rate > 0 else None
        eta = (
            f", about {datetime.timedelta(seconds=round(left))} left"
            if left is not None and self.done < self.total
            else ""
        )
        self.console.print(
            f"{self.label}: {self.done}/{self.total} {self.questions}, {self.rate:.1f} q/s, failed {self.failed}{eta}",
            markup=False,
            highlight=False,
            soft_wrap=True,  # one line in a log, however long
        )


def progress_bar(console, label: str, show: bool, total: int, in_all: int | None = None):
    """A ``ProgressBar`` on a terminal (or in a notebook), ``ProgressLines`` elsewhere, or a context that
    yields ``None`` when nothing is shown. ``in_all``: the benchmark's questions, where ``total`` counts a
    shard's share of them only."""
    if not show:
        return nullcontext(None)
    if console.is_terminal or console.is_jupyter:
        return ProgressBar(console, label, total, in_all=in_all)
    return ProgressLines(console, label, total, in_all=in_all)
