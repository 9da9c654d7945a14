"""``fvlm-eval prepare`` and ``fvlm-eval benchmarks``: verify a benchmark's copy (``fetching`` gets it there).

Verification never needs the network: it loads the annotations as ``run`` does (``checked_load``), counts
questions per category against a complete copy, and lists malformed rows and media that are missing or
unreadable, by name. The rows of the official data that are known faults (a benchmark's ``as_published``:
recorded failures here, each note saying what the official scorer does with it) are notes, not problems: a copy
that holds exactly the published data is complete.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval import terminal
from fvlm_eval.media.sampling import MISSES_THE_CLIP
from fvlm_eval.tasks import Benchmark, DataMissing
from fvlm_eval.tasks.base import coverage_counts
from fvlm_eval.tasks.own_code import OwnCodeFailed, load_checked
from fvlm_eval.types import Question, Sampling

AS_PUBLISHED = "as published: a fault of the official data, counted wrong here"


@dataclass(frozen=True)
class Verification:
    benchmark: str
    questions: int
    expected: int
    categories: dict[str, tuple[int, int, int]]
    problems: tuple[str, ...]  # unreadable annotation files, malformed rows, repeated ids
    unreadable: tuple[str, ...]  # media missing, or there but not decodable
    notes: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.questions == self.expected and not self.problems and not self.unreadable


def verify(
    benchmark: Benchmark,
    data_dir: Path,
    probe: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> Verification:
    """Coverage of what is on disk, read as ``run`` reads it (``checked_load``: a question it fails, a blank option
    among them, is a problem here); with ``probe``, every media is decoded (two frames) once, its notes kept (a
    bound that misses the clip is one line each), else only checked to exist. ``progress``: a bar over the media
    while probed. A benchmark whose own code fails (a plugin's ``load`` or ``expected`` that raises) is
    ``OwnCodeFailed``, one line naming it, its plugin and where it raised."""
    loaded, _ = load_checked(benchmark, data_dir)  # its failed questions are listed below
    questions = list(loaded.questions)
    published = {q.id for q in questions if q.error and benchmark.as_published(q)}
    problems = [f"{p['file']}: cannot be read ({p['error']})" for p in loaded.problems]
    problems += sorted({f"{q.id}: {q.error}" for q in questions if q.error and q.id not in published})
    problems += [note for note in loaded.notes if note.startswith("duplicate question id")]
    media = list({q.media.key: q.media for q in questions if not q.error}.values())
    media_notes: dict[str, str] = {}
    if probe:
        from fvlm_eval.media.workers import decoded

        check = (
            Sampling("uniform", 2)
            if benchmark.sampling.policy != "fps"
            else Sampling("fps", 2, fps=benchmark.sampling.fps)
        )
        unreadable, bad_keys = [], set()
        with _probe_bar(benchmark.name, len(media), progress) as advance:
            for key, clip, _, _ in decoded(media, check, _as_is, workers, None):
                if isinstance(clip, str):
                    unreadable.append(f"{key}: {clip}")
                    bad_keys.add(key)
                elif clip.note:
                    media_notes[key] = clip.note
                advance(unreadable)
    else:
        bad_keys = _missing(media)
        unreadable = [f"{m.key}: missing" for m in media if m.key in bad_keys]
    notes = tuple(n for n in loaded.notes if not n.startswith("duplicate question id"))
    notes += tuple(sorted(_published_note(q) for q in questions if q.id in published))
    notes += _said_of_media(media_notes)
    read_with_a_note = [note for q in questions if q.id not in published for note in q.notes]
    if read_with_a_note:  # e.g. an answer equal to two candidates
        notes += (
            f"{len(read_with_a_note)} question(s) read with a note (kept in their records), e.g. {read_with_a_note[0]}",
        )
    return Verification(
        benchmark.name,
        len(questions),
        sum(benchmark.expected().values()),
        coverage_counts(benchmark, questions, frozenset(bad_keys)),
        tuple(problems),
        tuple(unreadable),
        notes,
    )


def _published_note(question: Question) -> str:
    """One line for a recognised fault of the official data: its id, its error, and the benchmark's own notes on
    it (what the official scorer does with it is the benchmark's to say, not always "counted wrong" there)."""
    said = "; ".join(question.notes)
    return f"{question.id}: {AS_PUBLISHED} ({question.error})" + (f"; {said}" if said else "")


def _said_of_media(media_notes: dict[str, str]) -> tuple[str, ...]:
    """The probe's notes: each media whose bound misses the clip (``run`` scores such a question on the clip's
    first or last frame alone), then how many more media were read with a note (a bound clamped to the clip)."""
    misses = tuple(f"{key}: {note}" for key, note in sorted(media_notes.items()) if MISSES_THE_CLIP in note)
    others = [f"{key}: {note}" for key, note in sorted(media_notes.items()) if MISSES_THE_CLIP not in note]
    if others:
        misses += (f"{len(others)} media read with a note (kept in their records), e.g. {others[0]}",)
    return misses


@contextmanager
def _probe_bar(name: str, total: int, show: bool):
    """A progress bar over the probed media (files done, unreadable so far, time left); or nothing."""
    if not show or not total:
        yield lambda unreadable: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"probing {name} media"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("unreadable {task.fields[bad]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, refresh_per_second=2) as bar:
        task = bar.add_task("", total=total, bad=0)
        yield lambda unreadable: bar.update(task, advance=1, bad=len(unreadable))


class _AsIs:
    """No frame transform (the probe only checks that frames come out)."""

    key = "as-is"

    def __call__(self, frames, kind):
        return frames


_as_is = _AsIs()


def status(benchmark: Benchmark, data_dir: Path) -> str:
    """One line: where the data stands (no decoding), and what of the benchmark is scored when not all of it; a
    benchmark whose own code fails (``load`` or ``expected`` raising, a plugin's) is unusable, with why and where:
    an ``expected`` that raised stopped the listing of every benchmark after it."""
    scope = f"; {benchmark.scope}" if benchmark.scope else ""
    try:
        loaded, _ = load_checked(benchmark, data_dir)
    except DataMissing:
        return "not prepared" + scope
    except OwnCodeFailed as failed:
        return f"unusable: {failed.reason}"
    readable = [q for q in loaded.questions if not q.error]
    missing = _missing(list({q.media.key: q.media for q in readable}.values()))
    usable = sum(1 for q in readable if q.media.key not in missing)
    broken = f"; {len(loaded.problems)} annotation file(s) unreadable" if loaded.problems else ""
    absent = f"; {len(missing)} media file(s) missing" if missing else ""
    return f"{usable}/{sum(benchmark.expected().values())} questions usable{broken}{absent}{scope}"


def _missing(media: list) -> set[str]:
    """The keys of the media that are neither held in memory nor a file on disk (no decoding: a stat each)."""
    return {m.key for m in media if m.data is None and (m.path is None or not Path(m.path).exists())}


def print_verification(result: Verification, console=None) -> None:
    """The coverage table of a verified copy (found vs expected per category), its problems and its verdict."""
    from rich.table import Table
    from rich.text import Text

    console = console or terminal.console()
    table = Table(title=f"{result.benchmark}: questions found vs expected")
    for column in ("category", "found", "unusable", "expected"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for category, (found, bad, expected) in result.categories.items():
        style = "red" if found < expected or bad else ""
        table.add_row(Text(category), str(found), str(bad), str(expected), style=style)
    unusable = sum(bad for _, bad, _ in result.categories.values())  # the column's sum, as the rows count
    table.add_row("total", str(result.questions), str(unusable), str(result.expected), style="bold")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    for problem in result.problems:
        console.print(Text.assemble(("problem", "red"), f" {problem}"))
    for item in result.unreadable:
        console.print(Text.assemble(("unreadable", "red"), f" {item}"))
    verdict = "complete" if result.complete else "INCOMPLETE: scores on this copy are not comparable to published ones"
    console.print(f"{result.benchmark}: {verdict}")
