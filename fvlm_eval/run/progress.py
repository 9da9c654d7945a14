"""What a run says while it scores: one line before (nothing to score, or resuming), then a progress bar."""

from __future__ import annotations

from contextlib import nullcontext

from fvlm_eval.types import Question
from fvlm_eval.wording import counted


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


class ProgressBar:
    """A rich progress bar over ``total`` questions (rate, failures, time left);
    ``update(advance=, rate=, failed=)``."""

    def __init__(self, console, label: str, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} q/s"),
            TextColumn("failed {task.fields[failed]}"),
            TimeRemainingColumn(),
        )
        self.progress = Progress(*columns, console=console, transient=False, refresh_per_second=2)
        self.total = total

    def __enter__(self) -> "ProgressBar":
        self.progress.__enter__()
        self.task = self.progress.add_task("", total=self.total, rate=0.0, failed=0)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, **fields) -> None:
        self.progress.update(self.task, **fields)


def progress_bar(console, label: str, show: bool, total: int):
    """A ``ProgressBar``, or a context that yields ``None`` when nothing is shown."""
    return ProgressBar(console, label, total) if show else nullcontext(None)
