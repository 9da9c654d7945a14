"""One benchmark of a run: resume from the records, decode once, ask every mode, write, summarise.

A question is scored again only when it has no record, its record failed, or what it was computed
from changed (its ``question_sha256``) or lacks what this run measures (``--circular``,
``--generate``; its generated answers read by an older letter reader are read again from their stored
texts where they can be, ``resume``). One process holds an output folder at a time (a lock names the holder); a shard
takes whole videos and writes its own record file and completion marker.
"""

from __future__ import annotations

import re
import time

from fvlm_eval.files import write_json_atomic
from fvlm_eval.media.frame_cache import UNREPAIRABLE
from fvlm_eval.media.workers import decoded
from fvlm_eval.models.base import ModelAdapter
from fvlm_eval.records import (
    ENCODING_FAILED,
    Record,
    append_records,
    latest_by_id,
    make_record,
    question_sha256,
    read_records,
)
from fvlm_eval.run.asking import Asking, prompted
from fvlm_eval.run.carried import with_earlier_measures
from fvlm_eval.run.folder import SAMPLES, check_settings, comparable_settings, read_all_records, write_summary
from fvlm_eval.run.lock import FolderLock
from fvlm_eval.run.manifest import manifest
from fvlm_eval.run.progress import announce, missed_the_clip, progress_bar, said_of_missed
from fvlm_eval.run.resume import lacks, read_again_where_stale, replaced_said, stale_left_said
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.run.shards import remove_shard_locks, shard_media
from fvlm_eval.summary import Summary
from fvlm_eval.tasks import Benchmark, Loaded, supplied_by
from fvlm_eval.types import Clip, Question
from fvlm_eval.wording import counted

SYSTEMATIC_AFTER = 16  # the first this many questions failing alike stop a run


class SystematicFailure(RuntimeError):
    """Every question so far failed the same way: a wrong data folder, a missing column, a bug."""


def error_signature(error: str) -> str:
    """An error with its names and numbers blanked: failures alike share a signature."""
    return re.sub(r"[\w./\\@:-]*[/.\d][\w./\\@:-]*", "…", error)


class BenchmarkRun:
    """One benchmark of a run, in every mode asked: its folders locked and checked, what is recorded
    already (resume), the clips decoded once for every mode, each batch asked and appended, and at the
    end the summaries (or, for a shard, its completion marker)."""

    def __init__(
        self,
        benchmark: Benchmark,
        loaded: Loaded,
        settings: RunSettings,
        model: ModelAdapter,
        questions: list[Question],
        console,
    ):
        self.benchmark, self.loaded, self.settings, self.model = benchmark, loaded, settings, model
        questions, self.prompts, unprompted = prompted(benchmark, questions)
        self.questions, self.console = questions, console
        self.modes = settings.modes
        self.started = time.perf_counter()
        self.messages: list[str] = []
        if unprompted and len(unprompted) < len(questions):  # every one: said once, as the run stops (``run``)
            self.messages.append(
                f"{supplied_by(benchmark.name)}: {counted(len(unprompted), 'question')} failed (recorded, counted "
                f"wrong), e.g. {unprompted[0]}"
            )
        self.shard = settings.shard
        self.folders = {mode: settings.output_dir / benchmark.name / mode for mode in self.modes}
        self.paths = {
            mode: folder / (f"samples.{self.shard.name}.jsonl" if self.shard else SAMPLES)
            for mode, folder in self.folders.items()
        }
        self.selected = {q.id for q in questions}
        self.own = self._own(questions)  # this process's share: every question, or a shard's whole videos
        self.hashes = {q.id: question_sha256(q, self.prompts.get(q.id, ""), benchmark.version) for q in questions}
        self.scored_now = {mode: 0 for mode in self.modes}
        self.failed_now = {mode: 0 for mode in self.modes}
        self.frames = {"decoded": 0, "from_cache": 0, "cache_corrupt": 0, "cache_stale": 0}
        # this invocation, in the order first written: each question's error in any mode (None: scored in every mode)
        self.attempts: dict[str, str | None] = {}
        self.asking = Asking(
            benchmark, model, settings, self.prompts, self.hashes, str(model.describe().get("dtype", "float32"))
        )
        self.batch_size = settings.batch_size or getattr(model, "suggested_batch_size", lambda frames: 16)(
            benchmark.sampling.frames
        )
        self.locks: list[FolderLock] = []
        self.done: dict[str, set[str]] = {}
        self.earlier: dict[str, dict[str, Record]] = {}  # per mode, the records this run found (what it carries)
        self.missed: dict[str, str] = {}  # question id: its note, where its bound misses the clip (said at the end)
        try:
            for mode, folder in self.folders.items():
                if self.shard:
                    self.locks.append(FolderLock(folder, shared=True).acquire())
                    self.locks.append(FolderLock(folder, f".fvlm-eval.{self.shard.name}.lock").acquire())
                else:
                    self.locks.append(FolderLock(folder).acquire())
                check_settings(
                    folder, comparable_settings(benchmark, mode, model, settings.cloze_framing), settings.data_dir
                )
                for marker in folder.glob("shard-*-of-*.json"):  # another split's markers: this run supersedes them
                    if not self.shard or not marker.name.endswith(f"-of-{self.shard.count}.json"):
                        marker.unlink()
                read_records(self.paths[mode], repair=True)  # only this process's own file: others may be mid-append
                records = read_all_records(folder)
                if settings.generate:  # answers read by an older letter reader: read again, not generated again
                    where = f"{benchmark.name} {mode}"
                    records, said = read_again_where_stale(
                        where, records, self.own, self.hashes, settings, self.paths[mode]
                    )
                    self.messages += said
                self.earlier[mode] = records
                current = (records[q.id] for q in self.own if q.id in records)
                self.missed.update(missed_the_clip(r for r in current if r.question_sha256 == self.hashes[r.id]))
                self.done[mode] = {q.id for q in questions if self._is_done(records.get(q.id), q)}
                changed = sum(  # a shard's own: the others' records are theirs to score again
                    1
                    for q in self.own
                    if q.id in records
                    and not records[q.id].failed
                    and records[q.id].question_sha256 != self.hashes[q.id]
                )
                if changed:
                    self.messages.append(
                        f"{benchmark.name} {mode}: {changed} recorded questions changed since they were "
                        "scored (annotations or prompt): scored again"
                    )
                rescored = [records[q.id] for q in self.own if q.id in records and q.id not in self.done[mode]]
                lacking = [r for r in rescored if not r.failed and r.question_sha256 == self.hashes.get(r.id)]
                self.messages += filter(None, [replaced_said(f"{benchmark.name} {mode}", lacking, settings)])
        except BaseException:
            self.release()
            raise

    def _is_done(self, record: Record | None, question: Question) -> bool:
        return (
            record is not None
            and not record.failed
            and record.question_sha256 == self.hashes[question.id]
            and not lacks(record, self.settings)
        )

    def release(self) -> None:
        for lock in self.locks:
            lock.release()
        self.locks = []

    def recorded_summary(self) -> str:
        """What is on disk now for this run's questions, per mode (read back: the records are the truth)."""
        parts = []
        for mode in self.modes:
            records = read_all_records(self.folders[mode])
            on_disk = [records[q.id] for q in self.questions if q.id in records]
            failed = sum(1 for r in on_disk if r.failed)
            done = sum(1 for q in self.questions if self._is_done(records.get(q.id), q))  # with what this run adds
            lacking = len(on_disk) - failed - done
            again = f" ({failed} of them failed: scored again on resume)" if failed else ""
            again += f" ({lacking} of them lack what this run adds: scored on resume)" if lacking else ""
            parts.append(f"{self.benchmark.name} {mode} {len(on_disk)}/{len(self.questions)} recorded{again}")
        return ", ".join(parts)

    def every_attempt_failed(self) -> bool:
        """Every question this invocation scored failed, and some mode holds no question scored at all (a rerun
        that retried only a run's failed questions, which failed again, leaves the run as it was: not a failure)."""
        failed = bool(self.attempts) and all(a is not None for a in self.attempts.values())
        return failed and any(not self.done.get(mode) for mode in self.modes)

    # ----- scoring ------------------------------------------------------------------------------

    def _own(self, questions: list[Question]) -> list[Question]:
        """The questions this process scores: all of them, or a shard's share (whole videos; for shard 0 also the
        questions that failed to read)."""
        if not self.shard:
            return list(questions)
        everyone: dict[str, list[Question]] = {}
        for question in questions:
            if not question.error:
                everyone.setdefault(question.media.key, []).append(question)
        mine = shard_media(everyone, self.benchmark.sampling.frames, self.shard)
        return [q for q in questions if (q.error and self.shard.index == 0) or (not q.error and q.media.key in mine)]

    def score_all(self, progress: bool) -> None:
        pending = [q for q in self.own if any(q.id not in self.done[m] for m in self.modes)]
        by_media: dict[str, list[Question]] = {}
        for question in pending:
            if not question.error:
                by_media.setdefault(question.media.key, []).append(question)
        known_bad = [q for q in pending if q.error]
        total = sum(len(v) for v in by_media.values()) + len(known_bad)
        if progress:
            announce(
                self.console, self.benchmark.name, self.questions, self.own, self.done, self.modes, total, self.shard
            )
        label = f"{self.benchmark.name} {'/'.join(self.modes)}"
        in_all = None
        if self.shard:  # its share, never shown as if it were the benchmark ("5/5 questions" of 9)
            label, in_all = f"{label} (shard {self.shard.index}/{self.shard.count})", len(self.questions)
        with progress_bar(self.console, label, progress and total > 0, total, in_all) as bar:
            self.bar = bar
            for mode in self.modes:
                records = [
                    make_record(q, mode, self.prompts.get(q.id, ""), self.hashes[q.id], error=q.error)
                    for q in known_bad
                    if q.id not in self.done[mode]
                ]
                self._write(mode, records)
            if known_bad and len(known_bad) == len(self.questions):
                raise SystematicFailure(
                    "every question failed before it could be asked (reading its data, or writing its prompt), e.g. "
                    f"{known_bad[0].id}: {known_bad[0].error}"
                )
            media = [questions[0].media for questions in by_media.values()]
            batch, batch_questions = [], 0
            transform = self.model.frame_transform
            cache_dir = self.settings.frame_cache
            for key, clip, cache_outcome, warning in decoded(
                media, self.benchmark.sampling, transform, self.settings.workers, cache_dir
            ):
                self._count_frames(clip, cache_outcome, warning)
                batch.append((key, clip))
                batch_questions += len(by_media[key])
                if batch_questions >= self.batch_size:
                    self._score_batch(batch, by_media)
                    batch, batch_questions = [], 0
            if batch:
                self._score_batch(batch, by_media)
        if self.missed:  # else said only in each record's media_note
            whose = f" (shard {self.shard.index}/{self.shard.count})" if self.shard else ""
            self.messages.append(said_of_missed(self.benchmark.name + whose, self.missed))
        for mode, folder in {} if self.shard else self.folders.items():  # what the summary will count (``finish``)
            records = read_all_records(folder)  # answers an older letter reader read, kept without --generate
            summarised = [records[q.id] for q in self.questions if q.id in records]
            self.messages += stale_left_said(f"{self.benchmark.name} {mode}", summarised, self.settings.output_dir)

    def _count_frames(self, clip, cache_outcome: str, warning: str | None) -> None:
        if isinstance(clip, Clip):
            self.frames["from_cache" if clip.from_cache else "decoded"] += 1
        if cache_outcome in ("corrupt", "stale", UNREPAIRABLE):
            self.frames["cache_stale" if cache_outcome == "stale" else "cache_corrupt"] += 1
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
                    failures[key] = f"{ENCODING_FAILED}: {type(error).__name__}: {error}"
                    del clips[key]
        for mode in self.modes:
            records = []
            for key, reason in failures.items():
                records += [
                    make_record(q, mode, self.prompts[q.id], self.hashes[q.id], error=reason)
                    for q in by_media[key]
                    if q.id not in self.done[mode]
                ]
            todo = [q for key in clips for q in by_media[key] if q.id not in self.done[mode]]
            records += self.asking.records(todo, clips, mode)
            self._write(mode, records)
        self.model.forget_clips([key for key, _ in batch])

    def _write(self, mode: str, records: list[Record]) -> None:
        if not records:
            return
        records = [with_earlier_measures(r, self.earlier[mode].get(r.id)) for r in records]
        append_records(self.paths[mode], records)
        self.missed.update(missed_the_clip(records))
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
            raise SystematicFailure(
                f"stopped: the first {SYSTEMATIC_AFTER} questions all failed with the same error: "
                f"{first[0]}. Fix it and rerun (failed questions are scored again), or pass "
                "--keep-going to record such failures and go on"
            )

    # ----- the end ------------------------------------------------------------------------------

    def finish(self) -> dict[tuple[str, str], Summary]:
        """Summaries (whole runs), or this shard's completion marker (shards; ``merge`` summarises)."""
        summaries = {}
        try:
            for mode, folder in self.folders.items():
                info = {
                    "seconds": time.perf_counter() - self.started,
                    "scored_this_invocation": self.scored_now[mode],
                    "failed_this_invocation": self.failed_now[mode],
                    "clips": dict(self.frames),
                }
                base = manifest(self.benchmark, mode, self.settings, self.model, self.batch_size)
                if self.shard:
                    records = latest_by_id(read_records(self.paths[mode]))
                    mine = [q.id for q in self.questions if q.id in records]
                    marker = {
                        "shard": self.shard.index,
                        "of": self.shard.count,
                        "benchmark": self.benchmark.name,
                        "mode": mode,
                        "settings": comparable_settings(self.benchmark, mode, self.model, self.settings.cloze_framing),
                        "order": [q.id for q in self.questions],
                        "recorded": len(mine),
                        "question_sha256": {q.id: self.hashes[q.id] for q in self.questions},
                        "notes": list(self.loaded.notes),
                        "problems": list(self.loaded.problems),
                        "protocol": self.settings.protocol,
                        "manifest": base,
                        "timing": info,
                        "subtitles": self.settings.subtitles,
                        "generate": self.settings.generate,
                        "max_new_tokens": self.settings.max_new_tokens,
                        "circular": self.settings.circular,
                    }
                    write_json_atomic(folder / f"{self.shard.name}.json", marker)
                else:
                    summaries[(self.benchmark.name, mode)] = write_summary(
                        folder,
                        self.benchmark,
                        [q.id for q in self.questions],
                        self.settings.protocol,
                        self.loaded.notes,
                        self.loaded.problems,
                        base,
                        info,
                    )
                    remove_shard_locks(folder)  # a resumed sharded or torchrun attempt's: its records are folded in
        finally:
            self.release()
        return summaries
