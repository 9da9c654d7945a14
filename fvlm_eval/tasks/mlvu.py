"""MLVU dev, multiple choice: 2,175 questions in 7 tasks on long videos (JUNJIE99/MLVU; CC BY-NC-SA 4.0,
research only). Its official overall score is the MEAN OF THE 7 TASK ACCURACIES (``choice_bench.py``;
lmms-eval's ``mlvu_dev`` since 2025-02), not the pooled accuracy (VLMEvalKit's "M-Avg" pools): ``aggregation``
says so and the reports follow it.

Two layouts, read alike:
- the official one, ``MLVU/MVLU`` on the hub (GATED: its conditions must be accepted on
  https://huggingface.co/datasets/MLVU/MVLU by a logged-in account before ``prepare`` can fetch it), as
  VLMEvalKit reads it: ``MLVU/json/<n>_<task>.json`` (a list of rows: ``video``, ``duration``, ``question``,
  ``candidates`` (four texts), ``answer`` = the right option's TEXT, ``question_type``) and
  ``MLVU/video/<n>_<task>/<video>``; a question is keyed ``<task>/<row>``. The answer is matched to the
  candidates as the official code does: when it equals two candidates the last is gold (with a note). Two
  faults of the official data are recorded failures: an answer equal to no candidate (two ``needle`` rows: the
  official gold is ``(@)``, no option, so the official scorer counts them wrong for every model too), and an
  empty-string candidate (four rows: ``plotQA`` 1, ``ego`` 2, ``topic_reasoning`` 1, the last with an empty
  question and four empty candidates): the official scorer asks those, its gold the last candidate equal to
  the answer (an empty one for three of them), but an empty option cannot be scored as text, so fvlm-eval
  counts them wrong, up to 4 questions below the official count. Such rows, up to as many per task as the
  official data holds, are marked ``AS_PUBLISHED`` (``prepare`` lists them as notes, and a copy that is
  otherwise complete verifies); any other malformed row, or more of them, make the copy incomplete. A row repeated
  exactly in its file is one question, counted once under its first row's id, with a note naming both rows.
  The revision of this repository was not found in any source: ``main`` is fetched and ``prepare`` records
  the commit it resolved.
- lmms-eval's ``sy1998/MLVU_dev``: ``mlvu/test-00000-of-00001.parquet`` (``video_name``, ``duration``,
  ``question`` with the options written in it as ``(A) text`` lines (inferred from its prompt), ``candidates``,
  ``answer`` = the LETTER, ``task_type``, ``question_id``) and the videos flat in the folder,
  ``<video_name>`` (``.mp4`` added when the name has none); a question is keyed ``<task_type>/<question_id>``.
  The options written in the question are taken off (the candidates are the options), with a note when they
  differ from the candidates. Read when there is no ``MLVU/json``.

The task is the file's (``needle`` for ``question_type`` "findNeedle"). Prompt: the question and ``A. ``-lettered
options, the house format of every benchmark here (the assistant's scored answer is ``"A. text"``); the
official prompt lists them as ``(A) text`` after ``Question:``/``Options:`` headers. Frames: no official rule
(the leaderboard's inputs run from 16 frames to 1 fps); the lmms-eval default is used, 32 frames spread
uniformly over the whole video (``max_frames_num=32`` of its LLaVA-OneVision/LLaVA-Video wrappers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from fvlm_eval.media import MediaError, safe_join
from fvlm_eval.tasks.base import (
    Aggregation,
    Benchmark,
    DataMissing,
    HubSource,
    Loaded,
    fingerprint,
    lettered,
    unique_ids,
)
from fvlm_eval.tasks.rows import count_note, find_video, read_json_rows, read_parquet, text, texts, unusable
from fvlm_eval.types import LETTERS, Media, Question, Sampling

# task -> (the official file and video folder stem, questions in the dev set)
TASKS = {
    "plotQA": ("1_plotQA", 539),
    "needle": ("2_needle", 355),
    "ego": ("3_ego", 352),
    "count": ("4_count", 206),
    "order": ("5_order", 259),
    "anomaly_reco": ("6_anomaly_reco", 200),
    "topic_reasoning": ("7_topic_reasoning", 264),
}
PARQUET = "mlvu/test-00000-of-00001.parquet"
PARQUET_COLUMNS = ("video_name", "question", "candidates", "answer", "task_type", "question_id")
EXPECTED_ROWS = sum(count for _, count in TASKS.values())
# task -> the official dev set's rows whose answer is none of the candidates (docs/benchmarks.md)
ANSWERS_OFF_CANDIDATES = {"needle": 2}
# task -> the official dev set's rows with an empty-string candidate (docs/benchmarks.md)
BLANK_OPTION_ROWS = {"plotQA": 1, "ego": 2, "topic_reasoning": 1}
AS_PUBLISHED = "as published"  # how the notes of the official data's own faults begin, after the row's place
OFF_CANDIDATES = (
    "its answer is no candidate: the official gold is (@), no option's letter, so the official scorer counts "
    "any option chosen wrong too"
)
BLANK_OPTION = (
    "an empty option: the official scorer asks it (its gold {gold}); fvlm-eval counts it wrong "
    "(an empty option cannot be scored as text)"
)
_WRITTEN_OPTION = re.compile(r"^\(([A-J])\)\s*(.*?)\s*$")


@dataclass
class MLVU(Benchmark):
    name: str = "mlvu"
    title: str = "MLVU (dev, MC)"
    version: str = "1"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 32))
    breakdowns: tuple[str, ...] = ("task",)
    category_field: str = "task"
    main_breakdown: str = "task"
    aggregation: ClassVar[Aggregation] = "category_mean"

    def hub(self) -> HubSource:
        folders = [stem for stem, _ in TASKS.values()]
        return HubSource(
            "MLVU/MVLU",
            "main",
            tuple(f"MLVU/json/{stem}.json" for stem in folders) + tuple(f"MLVU/video/{stem}/*" for stem in folders),
        )

    def expected(self) -> dict[str, int]:
        return {task: count for task, (_, count) in TASKS.items()}

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        from fvlm_eval.tasks.fixtures.mlvu import write_mlvu

        return write_mlvu(Path(data_dir), "official", faults)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        if (root / "MLVU" / "json").is_dir():
            return self._load_official(root)
        if (root / PARQUET).is_file():
            return self._load_parquet(root, root / PARQUET)
        raise DataMissing(f"MLVU not found: expected {root}/MLVU/json/<n>_<task>.json or {root}/{PARQUET}")

    def _load_official(self, root: Path) -> Loaded:
        questions, notes, problems, places = [], [], [], []
        for task, (stem, count) in TASKS.items():
            path = root / "MLVU" / "json" / f"{stem}.json"
            if not path.is_file():
                notes.append(f"{task}: {path.name} absent")
                continue
            rows, problem = read_json_rows(path, count)
            if problem:
                problems.append(problem)
                continue
            sha = fingerprint(path)
            read = [self._official(root, task, stem, index, row, path, sha) for index, row in enumerate(rows)]
            questions += self._published_marked(root, task, stem, rows, read, path, sha)
            places += [(str(path), index, row) for index, row in enumerate(rows)]
        questions, duplicates = unique_ids(questions, places)
        return Loaded(tuple(questions), tuple(notes + duplicates), tuple(problems))

    def as_published(self, question: Question) -> bool:
        """Whether ``question`` is one of the official data's own faults (``prepare`` lists it as a note)."""
        return any(f": {AS_PUBLISHED}: " in note for note in question.notes)

    def _published_marked(
        self, root: Path, task: str, stem: str, rows: list, read: list[Question], path: Path, sha: str
    ) -> list[Question]:
        """``read``, one file's questions, with its failed rows that are the official data's own faults noted
        ``AS_PUBLISHED``: an answer that is none of the candidates, a row whose only defect is empty texts (an
        empty-string candidate, maybe an empty question); each only while there are no more of them in the task
        than the official data holds (more, and this copy is not the published one: they stay problems)."""
        faults = (
            (ANSWERS_OFF_CANDIDATES, lambda i, row: self._answer_off_candidates(root, task, stem, i, row, path, sha)),
            (BLANK_OPTION_ROWS, lambda i, row: self._blank_texts_only(root, task, stem, i, row, path, sha)),
        )
        for most, explain in faults:
            found = {i: why for i, row in enumerate(rows) if read[i].error and (why := explain(i, row))}
            if len(found) > most.get(task, 0):
                continue
            for i, why in found.items():
                read[i] = replace(read[i], notes=(*read[i].notes, f"{path.name}[{i}]: {AS_PUBLISHED}: {why}"))
        return read

    def _answer_off_candidates(self, root: Path, task: str, stem: str, index: int, row, path: Path, sha: str) -> str:
        """``OFF_CANDIDATES`` for a row whose answer is text that is none of its candidates, and that would read
        fine were it one; else ``""``."""
        if not isinstance(row, dict) or not isinstance(row.get("answer"), str):
            return ""
        candidates = row.get("candidates")
        if not isinstance(candidates, list) or not candidates or row["answer"] in candidates:
            return ""
        fixed = {**row, "answer": candidates[0]}
        return OFF_CANDIDATES if self._official(root, task, stem, index, fixed, path, sha).error is None else ""

    def _blank_texts_only(self, root: Path, task: str, stem: str, index: int, row, path: Path, sha: str) -> str:
        """``BLANK_OPTION`` with the official gold (the last candidate equal to the answer) for a row with an
        empty-string candidate that would read fine were its empty candidates written (an answer equal to one of
        them is that one; a question may be empty only where every candidate is); else ``""``."""
        candidates = row.get("candidates") if isinstance(row, dict) else None
        if not isinstance(candidates, list) or "" not in candidates or not all(isinstance(c, str) for c in candidates):
            return ""
        written = [c or f"(empty option {k})" for k, c in enumerate(candidates)]
        golds = [k for k, c in enumerate(candidates) if c == row.get("answer")]
        if not golds:
            return ""
        question = "?" if not any(candidates) and row.get("question") == "" else row.get("question")  # 7_topic[26]
        filled = {**row, "candidates": written, "answer": written[golds[-1]], "question": question}
        if self._official(root, task, stem, index, filled, path, sha).error is not None:
            return ""
        return BLANK_OPTION.format(gold=LETTERS[golds[-1]])

    def _official(self, root: Path, task: str, stem: str, index: int, row, path: Path, sha: str) -> Question:
        qid, where, fields = f"{self.name}/{task}/{index}", f"{path.name}[{index}]", (("task", task),)
        try:
            if not isinstance(row, dict):
                raise ValueError("row is not an object")
            options = lettered(texts(row.get("candidates"), "candidates"))
            answer = row.get("answer")
            matches = [o.letter for o in options if o.text == answer]
            if not matches:
                raise ValueError(f"answer {answer!r} matches no candidate (the official scorer counts it wrong)")
            video = text(row, "video")
            media_path = safe_join(root / "MLVU" / "video" / stem, video)
            question = text(row, "question")
        except (ValueError, MediaError) as problem:
            return unusable(self.name, qid, where, str(problem), fields, path, sha)
        notes = ()
        if len(matches) > 1:  # the official loop keeps the last candidate equal to the answer
            notes = (
                f"{where}: answer {answer!r} equals candidates {', '.join(matches)}: gold is the last, "
                f"{matches[-1]}, as the official MLVU code takes it",
            )
        key = f"{self.name}/{stem}/{video}"
        return Question(
            qid,
            self.name,
            Media("video", key, str(media_path)),
            question,
            options,
            matches[-1],
            key,
            fields=fields,
            source=path.name,
            source_sha256=sha,
            notes=notes,
        )

    def _load_parquet(self, root: Path, path: Path) -> Loaded:
        rows, problem = read_parquet(path, PARQUET_COLUMNS, EXPECTED_ROWS, "MLVU dev parquet")
        if problem:
            return Loaded((), (), (problem,))
        sha = fingerprint(path)
        questions = [self._parquet(root, index, row, path, sha) for index, row in enumerate(rows)]
        questions, duplicates = unique_ids(questions)
        return Loaded(tuple(questions), count_note(len(rows), EXPECTED_ROWS, "rows") + tuple(duplicates))

    def _parquet(self, root: Path, index: int, row: dict, path: Path, sha: str) -> Question:
        task = str(row["task_type"])
        qid, where, fields = f"{self.name}/{task}/{row['question_id']}", f"{path.name}[{index}]", (("task", task),)
        try:
            text(row, "question_id")
            options = lettered(texts(row["candidates"], "candidates"))
            gold = str(row["answer"]).strip().strip("()")
            if gold not in [o.letter for o in options]:
                raise ValueError(f"answer {row['answer']!r} is not one of the option letters")
            question, written = _without_written_options(text(row, "question"))
            video = text(row, "video_name")
            suffixes = ("",) if Path(video).suffix else ("", ".mp4")
            media_path, looked_in = find_video(root, "", video, suffixes)
        except (ValueError, MediaError) as problem:
            return unusable(self.name, qid, where, str(problem), fields, path, sha)
        notes = ()
        if written and written != [o.text for o in options]:
            notes = (f"{where}: the options written in the question differ from candidates: the candidates are asked",)
        key = f"{self.name}/{video}"
        return Question(
            qid,
            self.name,
            Media("video", key, str(media_path), looked_in=looked_in),
            question,
            options,
            gold,
            key,
            fields=fields,
            source=path.name,
            source_sha256=sha,
            notes=notes,
        )


def _without_written_options(question: str) -> tuple[str, list[str]]:
    """The question's own text and the option texts written after it as ``(A) text`` lines (none: as it is)."""
    lines = question.split("\n")
    start = next((i for i, line in enumerate(lines) if _WRITTEN_OPTION.match(line.strip())), None)
    if start is None or start == 0:
        return question.strip(), []
    written = [m.group(2) for line in lines[start:] if (m := _WRITTEN_OPTION.match(line.strip()))]
    return "\n".join(lines[:start]).strip(), written
