"""The run loop: questions in, one JSONL record per (question, mode) out, then summaries.

Media are decoded in worker processes (a DataLoader over distinct media, so each video is
decoded once for all its questions and modes); the model prepares each batch of clips once
and scores every mode on it. Records are appended per batch; a rerun resumes from them.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval import __version__
from fvlm_eval.backend import ChoiceModel
from fvlm_eval.media import Clip, MediaError, load_clip
from fvlm_eval.records import append_records, latest_by_id, read_json, read_records, write_json_atomic
from fvlm_eval.scoring import PROTOCOLS, predict, protocol_scores
from fvlm_eval.stats import accuracy
from fvlm_eval.tasks import Task, get_task
from fvlm_eval.types import OptionLogprobs, Question, Sampling, ScoreRequest


class RunMismatch(RuntimeError):
    """An output folder that holds records made with other settings."""


@dataclass(frozen=True)
class RunSettings:
    tasks: tuple[str, ...]
    modes: tuple[str, ...]
    data_dir: Path
    output_dir: Path
    limit: int | None = None
    frames: int | None = None
    batch_size: int = 16
    protocol: str = "reference"
    workers: int = 2
    subtitles: bool = False
    retry_failed: bool = False
    command_line: str = ""


def task_for(name: str, settings: RunSettings) -> Task:
    task = get_task(name, subtitles=settings.subtitles) if name == "videomme" else get_task(name)
    if settings.frames and not task.uses_images:
        task.sampling = dataclasses.replace(task.sampling, frames=settings.frames)
    return task


def select(questions: tuple[Question, ...], task: Task, limit: int | None) -> list[Question]:
    """The first ``limit`` questions taken round-robin over categories (every category represented)."""
    if limit is None or limit >= len(questions):
        return list(questions)
    seen: dict[str, int] = {}
    ranked = []
    for order, question in enumerate(questions):
        category = question.field_dict().get(task.category_field, "")
        rank = seen.get(category, 0)
        seen[category] = rank + 1
        ranked.append((rank, order, question))
    return [q for _, _, q in sorted(ranked, key=lambda item: item[:2])[:limit]]


# ----- decoding in workers --------------------------------------------------------------------

class MediaDataset:
    """Distinct media of a task, decoded on demand: item i -> (key, Clip or error text)."""

    def __init__(self, media: list, sampling: Sampling):
        self.media = media
        self.sampling = sampling

    def __len__(self) -> int:
        return len(self.media)

    def __getitem__(self, index: int):
        media = self.media[index]
        try:
            return media.key, load_clip(media, self.sampling)
        except MediaError as error:
            return media.key, str(error)
        except Exception as error:  # a decoder bug must not end the run: record it against the questions
            return media.key, f"decoding failed: {type(error).__name__}: {error}"


def _keep(item):
    return item


def decoded(media: list, sampling: Sampling, workers: int):
    from torch.utils.data import DataLoader

    loader = DataLoader(MediaDataset(media, sampling), batch_size=None, shuffle=False, num_workers=workers,
                        collate_fn=_keep, prefetch_factor=4 if workers else None)
    yield from loader


# ----- records --------------------------------------------------------------------------------

def make_record(question: Question, mode: str, options: list[OptionLogprobs] | None, error: str | None,
                clip: Clip | None = None) -> dict:
    letters = question.letters
    if options is None:
        scores = {p: None for p in PROTOCOLS}
    else:
        scores = protocol_scores(letters, options)
    preds = {p: predict(p, scores[p]) for p in PROTOCOLS}
    return {
        "id": question.id,
        "task": question.benchmark,
        "mode": mode,
        "group": question.group,
        "gold": question.gold,
        "letters": list(letters),
        "fields": question.field_dict(),
        "scores": scores,
        "pred": preds,
        "correct": {p: preds[p] is not None and preds[p] == question.gold for p in PROTOCOLS},
        "options": None if options is None else {
            letter: {"token_ids": list(o.token_ids), "logprobs": list(o.logprobs), "n_text": o.n_text,
                     "first_token": o.first_token, "pad_id": o.pad_id, "fallback": o.fallback}
            for letter, o in zip(letters, options)},
        "frames": list(clip.note.indices) if clip else None,
        "media_note": clip.note.note if clip else None,
        "error": error,
    }


# ----- the loop -------------------------------------------------------------------------------

def git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def comparable_settings(task: Task, mode: str, model: ChoiceModel) -> dict:
    """What must not change between a run and its resumption (or between two compared runs)."""
    description = model.describe()
    return {"task": task.name, "mode": mode, **task.settings(),
            "model_sha256": description.get("sha256"), "prompt": description.get("prompt_format"),
            "dtype": description.get("dtype")}


def run(settings: RunSettings, model: ChoiceModel, console=None) -> dict[tuple[str, str], dict]:
    """Score every (task, mode); returns the summaries (also written next to the records)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    summaries = {}
    for name in settings.tasks:
        task = task_for(name, settings)
        loaded = task.load(settings.data_dir)
        questions = select(loaded.questions, task, settings.limit)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]:.1f} q/s"), TextColumn("failed {task.fields[failed]}"),
                   TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            state = _TaskRun(task, settings, model, questions, progress)
            state.score_all()
        for mode in settings.modes:
            summaries[(name, mode)] = state.summarize(mode, loaded.notes)
    return summaries


class _TaskRun:
    def __init__(self, task: Task, settings: RunSettings, model: ChoiceModel, questions: list[Question], progress):
        self.task, self.settings, self.model, self.questions = task, settings, model, questions
        self.progress = progress
        self.started = time.perf_counter()
        self.scored_now = {mode: 0 for mode in settings.modes}
        self.paths = {mode: settings.output_dir / task.name / mode / "samples.jsonl" for mode in settings.modes}
        self.done: dict[str, set[str]] = {}
        self.bars = {}
        self.failed = {}
        for mode in settings.modes:
            self._check_settings(mode)
            records = latest_by_id(read_records(self.paths[mode], repair=True))
            self.done[mode] = {i for i, r in records.items() if not (settings.retry_failed and r.get("error"))}
            finished = [q.id for q in questions if q.id in self.done[mode]]
            self.failed[mode] = sum(1 for i in finished if records[i].get("error"))
            self.bars[mode] = progress.add_task(f"{task.name} {mode}", total=len(questions), completed=len(finished),
                                                rate=0.0, failed=self.failed[mode])

    def _check_settings(self, mode: str) -> None:
        path = self.paths[mode].parent / "settings.json"
        current = comparable_settings(self.task, mode, self.model)
        if path.is_file():
            previous = read_json(path)
            if previous != current:
                changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
                raise RunMismatch(f"{path.parent} holds records made with other settings ({', '.join(changed)} differ); "
                                  "use another --output-dir or remove that folder")
        else:
            write_json_atomic(path, current)

    def score_all(self) -> None:
        pending = [q for q in self.questions if any(q.id not in self.done[m] for m in self.settings.modes)]
        known_bad = [q for q in pending if q.error]
        for mode in self.settings.modes:
            self._write(mode, [make_record(q, mode, None, q.error) for q in known_bad if q.id not in self.done[mode]])
        by_media: dict[str, list[Question]] = {}
        for question in pending:
            if not question.error:
                by_media.setdefault(question.media.key, []).append(question)
        media = [questions[0].media for questions in by_media.values()]
        batch, batch_questions = [], 0
        for key, clip in decoded(media, self.task.sampling, self.settings.workers):
            batch.append((key, clip))
            batch_questions += len(by_media[key])
            if batch_questions >= self.settings.batch_size:
                self._score_batch(batch, by_media)
                batch, batch_questions = [], 0
        if batch:
            self._score_batch(batch, by_media)

    def _score_batch(self, batch: list, by_media: dict[str, list[Question]]) -> None:
        clips = {key: clip for key, clip in batch if isinstance(clip, Clip)}
        failures = {key: clip for key, clip in batch if not isinstance(clip, Clip)}
        try:
            self.model.prepare(list(clips.values()))
        except Exception:
            for key, clip in list(clips.items()):
                try:
                    self.model.prepare([clip])
                except Exception as error:
                    failures[key] = f"vision encode failed: {type(error).__name__}: {error}"
                    del clips[key]
        for mode in self.settings.modes:
            records = []
            for key, reason in failures.items():
                records += [make_record(q, mode, None, reason) for q in by_media[key] if q.id not in self.done[mode]]
            todo = [q for key in clips for q in by_media[key] if q.id not in self.done[mode]]
            records += self._score_questions(todo, clips, mode)
            self._write(mode, records)
        self.model.release([key for key, _ in batch])

    def _score_questions(self, questions: list[Question], clips: dict[str, Clip], mode: str) -> list[dict]:
        requests = [ScoreRequest(q.media.key, self.task.prompt(q), tuple(o.answer for o in q.options)) for q in questions]
        try:
            results = self.model.score(requests, mode)
            return [make_record(q, mode, r, None, clips[q.media.key]) for q, r in zip(questions, results)]
        except Exception:
            if len(questions) == 1:
                raise
        records = []  # the batch failed: score alone, so one bad question fails alone
        for question in questions:
            try:
                records += self._score_questions([question], clips, mode)
            except Exception as error:
                records.append(make_record(question, mode, None, f"scoring failed: {type(error).__name__}: {error}",
                                           clips[question.media.key]))
        return records

    def _write(self, mode: str, records: list[dict]) -> None:
        if not records:
            return
        append_records(self.paths[mode], records)
        self.done[mode].update(r["id"] for r in records)
        self.scored_now[mode] += len(records)
        self.failed[mode] += sum(1 for r in records if r["error"])
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.bars[mode], advance=len(records), rate=self.scored_now[mode] / elapsed,
                             failed=self.failed[mode])

    def summarize(self, mode: str, notes: tuple[str, ...]) -> dict:
        records = latest_by_id(read_records(self.paths[mode]))
        selected = [records[q.id] for q in self.questions if q.id in records]
        summary = summarize_records(self.task, mode, selected, len(self.questions), self.settings.protocol, notes)
        elapsed = time.perf_counter() - self.started
        summary["timing"] = {"seconds": elapsed, "scored_this_invocation": self.scored_now[mode],
                             "questions_per_second": self.scored_now[mode] / elapsed if elapsed else 0.0}
        summary["manifest"] = manifest(self.task, mode, self.settings, self.model)
        write_json_atomic(self.paths[mode].parent / "summary.json", summary)
        return summary


def summarize_records(task: Task, mode: str, records: list[dict], selected: int, protocol: str = "reference",
                      notes=()) -> dict:
    """Accuracy per protocol, overall and per breakdown value; failed questions count as wrong."""
    groups = [r["group"] for r in records]
    failures = [{"id": r["id"], "error": r["error"]} for r in records if r["error"]]
    by_protocol = {}
    for name in PROTOCOLS:
        correct = [bool(r["correct"][name]) for r in records]
        breakdowns = {}
        for field in task.breakdowns:
            values = sorted({r["fields"].get(field, "") for r in records})
            breakdowns[field] = {
                value: accuracy([c for c, r in zip(correct, records) if r["fields"].get(field, "") == value],
                                [g for g, r in zip(groups, records) if r["fields"].get(field, "") == value]).as_dict()
                for value in values}
        undefined = sum(1 for r in records if r["scores"][name] is None and not r["error"])
        by_protocol[name] = {**accuracy(correct, groups).as_dict(), "undefined": undefined, "breakdowns": breakdowns}
    found = {}
    for r in records:
        category = r["fields"].get(task.category_field, "")
        found[category] = found.get(category, 0) + 1
    expected = task.expected()
    return {
        "task": task.name,
        "mode": mode,
        "headline_protocol": protocol,
        "accuracy": by_protocol,
        "coverage": {
            "scored": len(records) - len(failures), "failed": len(failures), "recorded": len(records),
            "selected": selected, "expected": sum(expected.values()),
            "categories": {c: {"found": found.get(c, 0), "expected": expected.get(c, 0)}
                           for c in sorted(set(expected) | set(found))},
            "categories_present": sum(1 for c in expected if found.get(c, 0)), "categories_expected": len(expected),
        },
        "failures": failures,
        "fallback_options": sum(1 for r in records for o in (r["options"] or {}).values() if o["fallback"]),
        "media_notes": sum(1 for r in records if r.get("media_note")),
        "notes": list(notes),
    }


def manifest(task: Task, mode: str, settings: RunSettings, model: ChoiceModel) -> dict:
    import platform

    return {
        "package_version": __version__,
        "git_commit": git_commit(),
        "model": model.describe(),
        "task": task.name,
        "task_settings": task.settings(),
        "mode": mode,
        "frames": task.sampling.describe(),
        "limit": settings.limit,
        "batch_size": settings.batch_size,
        "protocol": settings.protocol,
        "data_dir": str(settings.data_dir),
        "command_line": settings.command_line or " ".join(sys.argv),
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
