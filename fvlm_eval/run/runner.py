"""The run loop: questions in, one record per (question, mode) out, then summaries.

Per benchmark (``BenchmarkRun``): media are decoded in worker processes (each video once for all
its questions and modes, or read from the frame cache), the model loads each batch of clips once
and is asked every mode on it, records are appended per batch, and a rerun resumes from them.
Sharded runs (``--shard i/n``, or ranks under torchrun) take whole videos, write their own record
files, and are joined by ``merge`` (``shards``).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from fractions import Fraction
from pathlib import Path

from fvlm_eval import terminal
from fvlm_eval.errors import ExitCode
from fvlm_eval.files import broken_link
from fvlm_eval.interrupts import exit_code_of, now_stopping, stops_as_interrupts
from fvlm_eval.models.base import ModelAdapter
from fvlm_eval.run.benchmark_run import BenchmarkRun, SystematicFailure
from fvlm_eval.run.folder import comparable_settings, settings_refusal
from fvlm_eval.run.settings import RunOutcome, RunSettings
from fvlm_eval.tasks import (
    Benchmark,
    DataMissing,
    get_benchmark,
    prepare_command,
    supplied_by,
)
from fvlm_eval.tasks.own_code import FAILURES, OwnCodeFailed, load_checked, settings_checked
from fvlm_eval.types import Question
from fvlm_eval.wording import counted


def benchmark_for(name: str, settings: RunSettings, model: ModelAdapter) -> Benchmark:
    benchmark = get_benchmark(name, subtitles=settings.subtitles)
    if not benchmark.uses_images:
        if settings.model_sampling and hasattr(model, "video_sampling"):
            benchmark.sampling = model.video_sampling(settings.frames)
        elif settings.frames:
            benchmark.sampling = dataclasses.replace(benchmark.sampling, frames=settings.frames)
    return benchmark


def select(questions: tuple[Question, ...], benchmark: Benchmark, limit: int | None) -> list[Question]:
    """The first ``limit`` questions of a sample stratified by category: the first question of every category,
    then each category in proportion to its size (its k-th of n questions comes at k/n; ties in file order), so
    that a subset's pooled accuracy estimates the whole benchmark's. Round-robin took categories equally:
    ScienceQA's language science (2% of its questions) made 15% of `--limit 300`. Equal categories (MVBench,
    Video-MME) are taken round-robin either way; the same ``limit`` takes the same questions every time."""
    if limit is None or limit >= len(questions):
        return list(questions)
    categories = [question.field_dict().get(benchmark.category_field, "") for question in questions]
    sizes = Counter(categories)
    seen: Counter[str] = Counter()
    ranked = []
    for order, (category, question) in enumerate(zip(categories, questions)):
        ranked.append((Fraction(seen[category], sizes[category]), order, question))
        seen[category] += 1
    return [q for _, _, q in sorted(ranked, key=lambda item: item[:2])[:limit]]


def run(settings: RunSettings, model: ModelAdapter, console=None, progress: bool = True) -> RunOutcome:
    """Score every (benchmark, mode); summaries are written next to the records (merged runs: by ``merge``).
    Ctrl-C and SIGTERM stop it alike: the records kept, exit code 130 or 143 and a line on how to resume."""
    with stops_as_interrupts():
        return _run_benchmarks(settings, model, console, progress)


def _data_dir_hint(data: Path, name: str) -> str:
    """What to give as ``--data-dir`` instead, when the one given is a benchmark's own folder, a folder above the
    data root, a file, or nothing at all (the common slips); else nothing."""
    if not data.exists():
        return f"; --data-dir {broken_link(data) or f'{data} does not exist'}"
    if data.is_file():
        return f"; --data-dir {data} is a file, not the data folder"
    if data.name == name:
        return f"; {data} looks like the {name} folder itself: give the folder above it, --data-dir {data.parent}"
    inside = next((folder for folder in Path(os.path.abspath(data)).parents if folder.name == name), None)
    if inside is not None:
        return f"; {data} is inside the {name} folder {inside}: give the folder above that, --data-dir {inside.parent}"
    below = sorted(child for child in data.iterdir() if child.is_dir() and (child / name).is_dir())
    return f"; it is in a folder below: --data-dir {below[0]}" if below else ""


def _data_missing(name: str, settings: RunSettings, missing: DataMissing) -> str:
    """What a benchmark's missing data is, and what fetches it or what to give as ``--data-dir`` instead."""
    data = Path(settings.data_dir)
    hint = _data_dir_hint(data, name)  # a folder that is not there (no data yet): fetched by prepare too
    hint += f"; {prepare_command(name, settings.data_dir)}" if not hint or not data.exists() else ""
    others = " (the run's other benchmarks go on)" if len(settings.benchmarks) > 1 else ""
    return f"{missing}{hint}; it is not scored{others}"


def _warn_of_absent_folders(settings: RunSettings, model: ModelAdapter, console) -> None:
    """Said before any scoring: a benchmark whose folder is absent is known now, not after hours of the others."""
    data = Path(settings.data_dir)
    absent = []
    for name in settings.benchmarks:
        try:
            if not benchmark_for(name, settings, model).folder(data).exists():
                absent.append(name)
        except Exception:  # a plugin's own folder() failing is told when its load() is asked
            continue
    if absent and len(absent) < len(settings.benchmarks):
        console.print(
            f"note: no data for {', '.join(absent)} under {data}: the others are scored, then the run exits 1",
            style="yellow", markup=False, highlight=False,
        )  # fmt: skip


def _settings_checked(settings: RunSettings, model: ModelAdapter) -> None:
    """Every benchmark's folders refused up front when made otherwise: `run videomme mvbench --frames 8` into a
    folder whose mvbench has other settings scored all of videomme first, then was refused at mvbench."""
    for name in settings.benchmarks:
        benchmark = benchmark_for(name, settings, model)
        try:
            settings_checked(benchmark)
        except FAILURES:  # a plugin's settings() that raises, or that settings.json cannot hold: not scored, so
            continue  # no folder of it to check; told in one line with its load
        for mode in settings.modes:
            current = comparable_settings(benchmark, mode, model, settings.cloze_framing)
            refused = settings_refusal(Path(settings.output_dir) / name / mode, current)
            if refused is not None:
                raise refused


def _run_benchmarks(settings: RunSettings, model: ModelAdapter, console, progress: bool) -> RunOutcome:
    console = console or terminal.console()
    outcome = RunOutcome()
    _settings_checked(settings, model)
    _warn_of_absent_folders(settings, model, console)
    for name in settings.benchmarks:
        benchmark = benchmark_for(name, settings, model)
        try:
            loaded, malformed = load_checked(benchmark, settings.data_dir)
        except DataMissing as missing:  # the run's other benchmarks go on: one missing stopped all after it
            outcome.messages.append(_data_missing(name, settings, missing))
            outcome.exit_code = max(outcome.exit_code, ExitCode.FAILED)
            continue
        except OwnCodeFailed as failed:  # the benchmark's own code failed (a plugin's, as a rule): the others go on
            outcome.messages.append(f"{failed}; it is not scored (the run's other benchmarks go on)")
            outcome.exit_code = max(outcome.exit_code, ExitCode.FAILED)
            continue
        if malformed:
            outcome.messages.append(
                f"{supplied_by(name)}: {counted(len(malformed), 'question')} it gave cannot be asked as given: "
                f"failed (recorded, counted wrong), e.g. {malformed[0]}"
            )
        for problem in loaded.problems:
            outcome.messages.append(
                f"{name}: annotation file {problem['file']} cannot be read ({problem['error']}); "
                f"its {problem['expected'] or 'unknown number of'} questions count as failed"
            )
            outcome.exit_code = ExitCode.FAILED
        if getattr(benchmark, "subtitles", False) and not any(q.subtitles for q in loaded.questions):
            outcome.messages.append(  # the run records subtitles: true; its prompts hold none
                f"{name}: --subtitles, but no video has a subtitle file: scored without any subtitle (is the "
                f"subtitle archive extracted? `fvlm-eval prepare {name} --no-download --subtitles` counts them)"
            )
        for note in loaded.notes:
            if note.startswith("duplicate question id"):
                console.print(f"{name}: {note}", style="yellow", markup=False, highlight=False)
        questions = select(loaded.questions, benchmark, settings.limit)
        if not questions:
            if not loaded.problems:
                outcome.messages.append(
                    f"{name}: no questions found under {benchmark.folder(settings.data_dir)}; nothing was scored"
                )
            outcome.exit_code = ExitCode.FAILED
        state = BenchmarkRun(benchmark, loaded, settings, model, questions, console)
        try:
            state.score_all(progress)
        except SystematicFailure as error:
            outcome.messages.append(f"{name}: {error}")
            outcome.exit_code = ExitCode.FAILED
        except KeyboardInterrupt as interrupt:
            now_stopping()
            outcome.exit_code = exit_code_of(interrupt)
            how = " by SIGTERM" if outcome.exit_code == ExitCode.TERMINATED else ""
            outcome.messages.append(f"stopped{how}: {state.recorded_summary()}; rerun the same command to resume")
            state.release()
            return outcome
        except BaseException:
            state.release()
            raise
        outcome.messages.extend(m for m in state.messages if m not in outcome.messages)  # the cache's, once a run
        if state.every_attempt_failed() and not settings.shard:  # a shard may hold only failures; a whole run may not
            first = next(a for a in state.attempts.values() if a)
            where = " (in at least one mode)" if len(state.modes) > 1 else ""
            outcome.messages.append(f"{name}: every question scored now failed{where}, e.g. {first}")
            outcome.exit_code = max(outcome.exit_code, ExitCode.FAILED)
        outcome.summaries.update(state.finish())
    return outcome
