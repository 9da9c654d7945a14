"""The run loop: questions in, one record per (question, mode) out, then summaries.

Media are decoded in worker processes (a DataLoader over distinct media: each video is decoded
once for all its questions and modes, or read from the frame cache); the model loads each batch
of clips once and scores every mode on it. Records are appended per batch; a rerun resumes from
them: a question is scored again only when it has no record, its record failed, or what it was
computed from changed (its ``question_sha256``). One process holds an output folder at a time
(a lock names the holder). Sharded runs (``--shard i/n``, or ranks under torchrun) take whole
videos, write their own record files, and are joined by ``merge``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval import __version__
from fvlm_eval.answers import GENERATION_INSTRUCTION
from fvlm_eval.decoding import MediaDataset, decoded, default_workers  # noqa: F401 (re-exported)
from fvlm_eval.interrupts import EXIT_TERMINATED, exit_code_of, now_stopping, sigterm_as_interrupt
from fvlm_eval.media import video_decoder
from fvlm_eval.models.base import ModelAdapter
from fvlm_eval.records import (Record, RecordError, append_records, latest_by_id, make_record, question_sha256, rotated,
                               read_records, write_json_atomic)
from fvlm_eval.run_folder import (SAMPLES, FolderLock, MergeRefused, RunRefused, Shard, benchmark_named,  # noqa: F401
                                  check_settings, comparable_settings, consolidate, merge, read_all_records,
                                  record_files, shard_media, write_summary)
from fvlm_eval.scoring import DEFAULT_PROTOCOL
from fvlm_eval.tasks import Benchmark, Loaded
from fvlm_eval.types import ChoiceRequest, Clip, ClozeRequest, GenerateRequest, Question
from fvlm_eval.wording import counted

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
SYSTEMATIC_AFTER = 16  # the first this many questions failing alike stop a run


class SystematicFailure(RuntimeError):
    """Every question so far failed the same way: a wrong data folder, a missing column, a bug."""


@dataclass(frozen=True)
class RunSettings:
    benchmarks: tuple[str, ...]
    modes: tuple[str, ...]
    data_dir: Path
    output_dir: Path
    limit: int | None = None
    frames: int | None = None
    batch_size: int | None = None  # None: the model's suggestion (from free GPU memory), else 16
    protocol: str = DEFAULT_PROTOCOL
    workers: int | None = None  # None: the machine's cores, bounded by the work
    subtitles: bool = False
    generate: bool = False
    max_new_tokens: int = 16
    circular: bool = False  # also ask every question with its options rotated through every position
    cloze_framing: str = "plain"  # how the cloze formulation's prompt is framed: "plain" or "chat"
    model_sampling: bool = False  # the model's own video sampling instead of the benchmark's
    frame_cache: Path | None = None
    shard: Shard | None = None
    keep_going: bool = False
    command_line: str = ""
    step: int | None = None  # the training step of the checkpoint (manifest only; `fvlm-eval track` reads it)


@dataclass
class RunOutcome:
    summaries: dict[tuple[str, str], dict] = field(default_factory=dict)
    exit_code: int = EXIT_OK
    messages: list[str] = field(default_factory=list)  # what the user must hear at the end


def benchmark_for(name: str, settings: RunSettings, model: ModelAdapter) -> Benchmark:
    benchmark = benchmark_named(name, settings.subtitles)
    if not benchmark.uses_images:
        if settings.model_sampling and hasattr(model, "video_sampling"):
            benchmark.sampling = model.video_sampling(settings.frames)
        elif settings.frames:
            benchmark.sampling = dataclasses.replace(benchmark.sampling, frames=settings.frames)
    return benchmark


def select(questions: tuple[Question, ...], benchmark: Benchmark, limit: int | None) -> list[Question]:
    """The first ``limit`` questions taken round-robin over categories (every category represented)."""
    if limit is None or limit >= len(questions):
        return list(questions)
    seen: dict[str, int] = {}
    ranked = []
    for order, question in enumerate(questions):
        category = question.field_dict().get(benchmark.category_field, "")
        rank = seen.get(category, 0)
        seen[category] = rank + 1
        ranked.append((rank, order, question))
    return [q for _, _, q in sorted(ranked, key=lambda item: item[:2])[:limit]]


def error_signature(error: str) -> str:
    """An error with its names and numbers blanked: failures alike share a signature."""
    return re.sub(r"[\w./\\@:-]*[/.\d][\w./\\@:-]*", "…", error)


def git_commit() -> str | None:
    """The harness's own commit, only when it runs from its own checkout (never a user's repo's)."""
    import subprocess

    top = Path(__file__).resolve().parent.parent
    if not (top / ".git").exists() or not (top / "pyproject.toml").is_file() or \
            "name = \"fvlm-eval\"" not in (top / "pyproject.toml").read_text():
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=top, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def manifest(benchmark: Benchmark, mode: str, settings: RunSettings, model: ModelAdapter, batch_size: int) -> dict:
    import platform

    return {
        "package_version": __version__,
        "git_commit": git_commit(),
        "model": model.describe(),
        "benchmark": benchmark.name,
        "benchmark_settings": benchmark.settings(),
        "mode": mode,
        "frames": benchmark.sampling.describe(),
        "video_decoder": video_decoder(),
        "limit": settings.limit,
        "batch_size": batch_size,
        "protocol": settings.protocol,
        "generate": settings.generate,
        "circular": settings.circular,
        "cloze_framing": settings.cloze_framing,
        "step": settings.step,
        "data_dir": str(settings.data_dir),
        "shard": settings.shard.name if settings.shard else None,
        "command_line": settings.command_line or " ".join(sys.argv),
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# ----- the loop ---------------------------------------------------------------------------------

def run(settings: RunSettings, model: ModelAdapter, console=None, progress: bool = True) -> RunOutcome:
    """Score every (benchmark, mode); summaries are written next to the records (merged runs: by ``merge``).
    Ctrl-C and SIGTERM stop it alike: the records kept, exit code 130 or 143 and a line on how to resume."""
    with sigterm_as_interrupt():
        return _run_benchmarks(settings, model, console, progress)


def _run_benchmarks(settings: RunSettings, model: ModelAdapter, console, progress: bool) -> RunOutcome:
    from rich.console import Console

    console = console or Console()
    outcome = RunOutcome()
    for name in settings.benchmarks:
        benchmark = benchmark_for(name, settings, model)
        loaded = benchmark.load(settings.data_dir)
        for problem in loaded.problems:
            outcome.messages.append(f"{name}: annotation file {problem['file']} cannot be read ({problem['error']}); "
                                    f"its {problem['expected'] or 'unknown number of'} questions count as failed")
            outcome.exit_code = EXIT_FAILED
        for note in loaded.notes:
            if note.startswith("duplicate question id"):
                console.print(f"{name}: {note}", style="yellow", markup=False, highlight=False)
        questions = select(loaded.questions, benchmark, settings.limit)
        if not questions:
            if not loaded.problems:
                outcome.messages.append(f"{name}: no questions found under {benchmark.folder(settings.data_dir)}; "
                                        "nothing was scored")
            outcome.exit_code = EXIT_FAILED
        state = _BenchmarkRun(benchmark, loaded, settings, model, questions, console)
        try:
            state.score_all(progress)
        except SystematicFailure as error:
            outcome.messages.append(f"{name}: {error}")
            outcome.exit_code = EXIT_FAILED
        except KeyboardInterrupt as interrupt:
            now_stopping()
            outcome.exit_code = exit_code_of(interrupt)
            how = " by SIGTERM" if outcome.exit_code == EXIT_TERMINATED else ""
            outcome.messages.append(f"stopped{how}: {state.recorded_summary()}; rerun the same command to resume")
            state.release()
            return outcome
        except BaseException:
            state.release()
            raise
        outcome.messages.extend(state.messages)
        if state.every_attempt_failed() and not settings.shard:  # a shard may hold only failures; a whole run may not
            first = next(a for a in state.attempts.values() if a)
            where = " (in at least one mode)" if len(state.modes) > 1 else ""
            outcome.messages.append(f"{name}: every question scored now failed{where}, e.g. {first}")
            outcome.exit_code = max(outcome.exit_code, EXIT_FAILED)
        outcome.summaries.update(state.finish())
    return outcome


class _BenchmarkRun:
    def __init__(self, benchmark: Benchmark, loaded: Loaded, settings: RunSettings, model: ModelAdapter,
                 questions: list[Question], console):
        self.benchmark, self.loaded, self.settings, self.model = benchmark, loaded, settings, model
        self.questions, self.console = questions, console
        self.modes = settings.modes
        self.started = time.perf_counter()
        self.messages: list[str] = []
        self.shard = settings.shard
        self.folders = {mode: settings.output_dir / benchmark.name / mode for mode in self.modes}
        self.paths = {mode: folder / (f"samples.{self.shard.name}.jsonl" if self.shard else SAMPLES)
                      for mode, folder in self.folders.items()}
        self.selected = {q.id for q in questions}
        self.prompts = {q.id: benchmark.prompt(q) for q in questions if q.options}
        self.hashes = {q.id: question_sha256(q, self.prompts.get(q.id, ""), benchmark.version) for q in questions}
        self.scored_now = {mode: 0 for mode in self.modes}
        self.failed_now = {mode: 0 for mode in self.modes}
        self.frames = {"decoded": 0, "from_cache": 0, "cache_corrupt": 0, "cache_stale": 0}
        # this invocation, in the order first written: each question's error in any mode (None: scored in every mode)
        self.attempts: dict[str, str | None] = {}
        self.dtype = str(model.describe().get("dtype", "float32"))
        self.batch_size = settings.batch_size or getattr(model, "suggested_batch_size", lambda frames: 16)(
            benchmark.sampling.frames)
        self.locks: list[FolderLock] = []
        self.done: dict[str, set[str]] = {}
        try:
            for mode, folder in self.folders.items():
                if self.shard:
                    self.locks.append(FolderLock(folder, shared=True).acquire())
                    self.locks.append(FolderLock(folder, f".fvlm-eval.{self.shard.name}.lock").acquire())
                else:
                    self.locks.append(FolderLock(folder).acquire())
                check_settings(folder, comparable_settings(benchmark, mode, model, settings.cloze_framing))
                for marker in folder.glob("shard-*-of-*.json"):  # another split's markers: this run supersedes them
                    if not self.shard or not marker.name.endswith(f"-of-{self.shard.count}.json"):
                        marker.unlink()
                read_records(self.paths[mode], repair=True)  # only this process's own file: others may be mid-append
                records = read_all_records(folder)
                self.done[mode] = {q.id for q in questions if self._is_done(records.get(q.id), q)}
                changed = sum(1 for q in questions if q.id in records and not records[q.id].failed
                              and records[q.id].question_sha256 != self.hashes[q.id])
                if changed:
                    self.messages.append(f"{benchmark.name} {mode}: {changed} recorded questions changed since they were "
                                         "scored (annotations or prompt): scored again")
                self._say_replaced(benchmark.name, mode, [records[q.id] for q in questions
                                                          if q.id in records and q.id not in self.done[mode]])
        except BaseException:
            self.release()
            raise

    def _say_replaced(self, name: str, mode: str, rescored: list[Record]) -> None:
        """Questions scored again (another --generate, --circular or answer limit) lose what this run
        does not measure: say so, with the flag that keeps it."""
        lost = {"circular rotations (add --circular to keep them)": sum(1 for r in rescored if r.circular and not self.settings.circular),
                "generated answers (add --generate to keep them)": sum(1 for r in rescored if r.generated and not self.settings.generate)}
        for what, count in lost.items():
            if count:
                self.messages.append(f"{name} {mode}: {count} recorded questions are scored again; their earlier {what} "
                                     "are replaced by this run's records")

    def _is_done(self, record: Record | None, question: Question) -> bool:
        return (record is not None and not record.failed and record.question_sha256 == self.hashes[question.id]
                and record.cloze is not None and (not self.settings.circular or record.circular is not None)
                and (not self.settings.generate or (record.generated is not None and
                                                    record.generated.get("max_new_tokens") == self.settings.max_new_tokens)))

    def release(self) -> None:
        for lock in self.locks:
            lock.release()
        self.locks = []

    def recorded_summary(self) -> str:
        parts = [f"{self.benchmark.name} {m} {len(self.done[m] & self.selected)}/{len(self.questions)} recorded"
                 for m in self.modes]
        return ", ".join(parts)

    def every_attempt_failed(self) -> bool:
        return bool(self.attempts) and all(a is not None for a in self.attempts.values())

    # ----- scoring ------------------------------------------------------------------------------

    def score_all(self, progress: bool) -> None:
        pending = [q for q in self.questions if any(q.id not in self.done[m] for m in self.modes)]
        by_media: dict[str, list[Question]] = {}
        for question in pending:
            if not question.error:
                by_media.setdefault(question.media.key, []).append(question)
        known_bad = [q for q in pending if q.error] if not self.shard or self.shard.index == 0 else []
        if self.shard:
            everyone: dict[str, list[Question]] = {}
            for question in self.questions:
                if not question.error:
                    everyone.setdefault(question.media.key, []).append(question)
            mine = shard_media(everyone, self.benchmark.sampling.frames, self.shard)
            by_media = {k: v for k, v in by_media.items() if k in mine}
        total = sum(len(v) for v in by_media.values()) + len(known_bad)
        if self.shard:  # this shard's own share: whole videos (and, for shard 0, the questions that failed to read)
            own = [q for q in self.questions if (q.error and self.shard.index == 0) or (not q.error and q.media.key in mine)]
        else:
            own = list(self.questions)
        if progress:
            self._announce(total, own)
        with self._progress(progress and total > 0, total) as bar:
            self.bar = bar
            for mode in self.modes:
                records = [make_record(q, mode, self.prompts.get(q.id, ""), self.hashes[q.id], error=q.error)
                           for q in known_bad if q.id not in self.done[mode]]
                self._write(mode, records)
            if known_bad and len(known_bad) == len(self.questions):
                raise SystematicFailure(f"every question failed when its data was read, e.g. {known_bad[0].id}: "
                                        f"{known_bad[0].error}")
            media = [questions[0].media for questions in by_media.values()]
            batch, batch_questions = [], 0
            transform = self.model.frame_transform
            cache_dir = self.settings.frame_cache
            for key, clip, cache_outcome, warning in decoded(media, self.benchmark.sampling, transform,
                                                             self.settings.workers, cache_dir):
                self._count_frames(clip, cache_outcome, warning)
                batch.append((key, clip))
                batch_questions += len(by_media[key])
                if batch_questions >= self.batch_size:
                    self._score_batch(batch, by_media)
                    batch, batch_questions = [], 0
            if batch:
                self._score_batch(batch, by_media)

    def _announce(self, total: int, own: list[Question]) -> None:
        """One line before scoring: nothing left to score, or resuming (recorded per mode); a shard
        speaks of its own share only, never of other shards' records."""
        if not self.questions:
            return
        name = self.benchmark.name
        whose = (f"shard {self.shard.index}/{self.shard.count}'s {len(own)} of {counted(len(self.questions), 'question')}"
                 if self.shard else counted(len(own), "question"))
        if not own:
            self.console.print(f"{name}: nothing to score: shard {self.shard.index}/{self.shard.count} has no questions of "
                               f"it (whole videos go to one shard; {counted(len(self.questions), 'question')} over {self.shard.count} shards)")
            return
        recorded = {m: sum(1 for q in own if q.id in self.done[m]) for m in self.modes}
        if total == 0:
            where = "every mode" if len(self.modes) > 1 else self.modes[0]
            said = f"its {whose} is" if len(own) == 1 else f"all {whose} are"
            self.console.print(f"{name}: nothing to score: {said} already recorded in {where}")
        elif any(recorded.values()):
            per_mode = ", ".join(f"{m} {recorded[m]}/{len(own)}" for m in self.modes)
            self.console.print(f"resuming {name} ({whose}): recorded {per_mode}; {total} to score")

    def _progress(self, show: bool, total: int):
        from contextlib import nullcontext

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if not show:
            return nullcontext(None)
        columns = (TextColumn(f"{self.benchmark.name} {'/'.join(self.modes)}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]:.1f} q/s"), TextColumn("failed {task.fields[failed]}"),
                   TimeRemainingColumn())
        progress = Progress(*columns, console=self.console, transient=False, refresh_per_second=2)

        class _Bar:
            def __enter__(bar):
                progress.__enter__()
                bar.id = progress.add_task("", total=total, rate=0.0, failed=0)
                return bar

            def __exit__(bar, *exc):
                return progress.__exit__(*exc)

            def update(bar, **fields):
                progress.update(bar.id, **fields)

        return _Bar()

    def _count_frames(self, clip, cache_outcome: str, warning: str | None) -> None:
        if isinstance(clip, Clip):
            self.frames["from_cache" if clip.from_cache else "decoded"] += 1
        if cache_outcome in ("corrupt", "stale"):
            self.frames[f"cache_{cache_outcome}"] += 1
        if warning and warning not in self.messages:
            self.messages.append(warning)

    def _score_batch(self, batch: list, by_media: dict[str, list[Question]]) -> None:
        clips = {key: clip for key, clip in batch if isinstance(clip, Clip)}
        failures = {key: clip for key, clip in batch if not isinstance(clip, Clip)}
        try:
            self.model.load_clips(list(clips.values()))
        except Exception:
            self.model.forget_clips(list(clips))
            for key, clip in list(clips.items()):
                try:
                    self.model.load_clips([clip])
                except Exception as error:
                    failures[key] = f"vision encode failed: {type(error).__name__}: {error}"
                    del clips[key]
        for mode in self.modes:
            records = []
            for key, reason in failures.items():
                records += [make_record(q, mode, self.prompts[q.id], self.hashes[q.id], error=reason)
                            for q in by_media[key] if q.id not in self.done[mode]]
            todo = [q for key in clips for q in by_media[key] if q.id not in self.done[mode]]
            records += self._score_questions(todo, clips, mode)
            self._write(mode, records)
        self.model.forget_clips([key for key, _ in batch])

    def _prompt(self, question: Question, clip: Clip, shift: int = 0) -> str:
        """The multiple-choice prompt (options listed) of ``question`` as asked with its options
        rotated by ``shift`` (``question`` already rotated)."""
        if question.subtitles or shift:
            return self.benchmark.prompt(question, clip.timestamps)
        return self.prompts[question.id]

    def _score_questions(self, questions: list[Question], clips: dict[str, Clip], mode: str) -> list[Record]:
        if not questions:
            return []
        try:
            return self._ask(questions, clips, mode)
        except Exception:
            if len(questions) == 1:
                raise
        records = []  # the batch failed: score alone, so one bad question fails alone
        for question in questions:
            try:
                records += self._score_questions([question], clips, mode)
            except Exception as error:
                records.append(make_record(question, mode, self.prompts[question.id], self.hashes[question.id],
                                           error=f"scoring failed: {type(error).__name__}: {error}",
                                           clip=clips[question.media.key]))
        return records

    def _ask(self, questions: list[Question], clips: dict[str, Clip], mode: str) -> list[Record]:
        """Every formulation of each question on its loaded clip (encoded once for all of them): the
        options listed (and, with ``--circular``, rotated through every position), the cloze prompt,
        and a generated answer to each listing (``--generate``)."""
        settings = self.settings
        asked = [(i, shift, rotated(q, shift)[0] if shift else q) for i, q in enumerate(questions)
                 for shift in range(len(q.options) if settings.circular else 1)]
        prompts = [self._prompt(q, clips[q.media.key], shift) for _, shift, q in asked]
        results = self.model.score([ChoiceRequest(q.media.key, p, q.options) for (_, _, q), p in zip(asked, prompts)], mode)
        generations = [None] * len(asked)
        if settings.generate:
            generations = self.model.generate(
                [GenerateRequest(q.media.key, f"{p}\n{GENERATION_INSTRUCTION}", settings.max_new_tokens)
                 for (_, _, q), p in zip(asked, prompts)], mode)
        cloze = self.model.score_cloze(
            [ClozeRequest(q.media.key, self.benchmark.cloze_prompt(q, clips[q.media.key].timestamps),
                          tuple(o.text for o in q.options), settings.cloze_framing) for q in questions], mode)
        answers: dict[int, list] = {}
        for (i, _, _), prompt, result, generation in zip(asked, prompts, results, generations):
            answers.setdefault(i, []).append((prompt, result, generation))
        records = []
        for i, question in enumerate(questions):
            (prompt, result, generation), *others = answers[i]
            records.append(make_record(question, mode, prompt, self.hashes[question.id], result=result,
                                       clip=clips[question.media.key], generation=generation, cloze=cloze[i],
                                       cloze_framing=settings.cloze_framing, dtype=self.dtype,
                                       rotations=[(r, g) for _, r, g in others] if settings.circular else None))
        return records

    def _write(self, mode: str, records: list[Record]) -> None:
        if not records:
            return
        append_records(self.paths[mode], records)
        self.done[mode].update(r.id for r in records if not r.failed)
        self.scored_now[mode] += len(records)
        self.failed_now[mode] += sum(1 for r in records if r.failed)
        new = 0  # the bar counts questions: one step when a question is first written, in whichever mode is left to do
        for record in records:
            new += record.id not in self.attempts
            self.attempts[record.id] = self.attempts.get(record.id) or record.error
        self._check_systematic()
        if self.bar is not None and new:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            failed = sum(1 for error in self.attempts.values() if error is not None)
            self.bar.update(advance=new, rate=len(self.attempts) / elapsed, failed=failed)

    def _check_systematic(self) -> None:
        if self.settings.keep_going or len(self.attempts) < SYSTEMATIC_AFTER:
            return
        first = list(self.attempts.values())[:SYSTEMATIC_AFTER]
        if all(a is not None for a in first) and len({error_signature(a) for a in first}) == 1:
            raise SystematicFailure(f"stopped: the first {SYSTEMATIC_AFTER} questions all failed with the same error: "
                                    f"{first[0]}. Fix it and rerun (failed questions are scored again), or pass "
                                    "--keep-going to record such failures and go on")

    # ----- the end ------------------------------------------------------------------------------

    def finish(self) -> dict[tuple[str, str], dict]:
        """Summaries (whole runs), or this shard's completion marker (shards; ``merge`` summarises)."""
        summaries = {}
        try:
            for mode, folder in self.folders.items():
                info = {"seconds": time.perf_counter() - self.started, "scored_this_invocation": self.scored_now[mode],
                        "failed_this_invocation": self.failed_now[mode], "clips": dict(self.frames)}
                base = manifest(self.benchmark, mode, self.settings, self.model, self.batch_size)
                if self.shard:
                    records = latest_by_id(read_records(self.paths[mode]))
                    mine = [q.id for q in self.questions if q.id in records]
                    marker = {"shard": self.shard.index, "of": self.shard.count, "benchmark": self.benchmark.name,
                              "mode": mode, "settings": comparable_settings(self.benchmark, mode, self.model, self.settings.cloze_framing),
                              "order": [q.id for q in self.questions], "recorded": len(mine),
                              "question_sha256": {q.id: self.hashes[q.id] for q in self.questions},
                              "notes": list(self.loaded.notes), "problems": list(self.loaded.problems),
                              "protocol": self.settings.protocol, "manifest": base, "timing": info,
                              "subtitles": self.settings.subtitles, "generate": self.settings.generate,
                              "max_new_tokens": self.settings.max_new_tokens, "circular": self.settings.circular}
                    write_json_atomic(folder / f"{self.shard.name}.json", marker)
                else:
                    summaries[(self.benchmark.name, mode)] = write_summary(
                        folder, self.benchmark, [q.id for q in self.questions], self.settings.protocol,
                        self.loaded.notes, self.loaded.problems, base, info)
        finally:
            self.release()
        return summaries


__all__ = ["RunSettings", "RunOutcome", "RunRefused", "Shard", "MergeRefused", "merge", "run", "RecordError"]
