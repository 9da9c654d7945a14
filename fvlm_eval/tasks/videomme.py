"""Video-MME (lmms-lab/Video-MME, config ``videomme``, split ``test``): 900 videos x 3 questions.

Annotations ``videomme/test-00000-of-00001.parquet`` (string columns; ``options`` a list of
four strings already prefixed ``"A. "``; ``answer`` a letter). Media ``data/<videoID>.mp4``
(some ``.MP4`` or ``.mkv``); subtitles ``subtitle/<videoID>.srt`` (used as context with
``subtitles=True``). Older revisions have other row counts: the loader reports anything but 2700.
Frames: 64 spread uniformly over the whole video (fVLM's maximum). The three questions of a
video share one decode and one vision encode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.media import MediaError, safe_join
from fvlm_eval.tasks.base import DataMissing, HubSource, Loaded, Task, option_lines
from fvlm_eval.types import LETTERS, Media, Option, Question, Sampling

PARQUET = "videomme/test-00000-of-00001.parquet"
VIDEO_SUFFIXES = (".mp4", ".MP4", ".mkv")
COLUMNS = ("video_id", "duration", "domain", "sub_category", "videoID", "question_id", "task_type", "question", "options", "answer")
TASK_TYPES = ("Action Reasoning", "Action Recognition", "Attribute Perception", "Counting Problem", "Information Synopsis",
              "OCR Problems", "Object Reasoning", "Object Recognition", "Spatial Perception", "Spatial Reasoning",
              "Temporal Perception", "Temporal Reasoning")
EXPECTED_ROWS = 2700
DURATIONS = {"short": 900, "medium": 900, "long": 900}


@dataclass
class VideoMME(Task):
    name: str = "videomme"
    version: str = "1"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 64))
    breakdowns: tuple[str, ...] = ("duration", "domain", "sub_category", "task_type")
    category_field: str = "duration"
    subtitles: bool = False

    def hub(self) -> HubSource:
        return HubSource("lmms-lab/Video-MME", "main", ("videomme/*", "videos_chunked_*.zip", "subtitle.zip"),
                         ("videos_chunked_*.zip", "subtitle.zip"))

    def expected(self) -> dict[str, int]:
        return dict(DURATIONS)

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "subtitles": self.subtitles}

    def prompt(self, question: Question) -> str:
        context = f"Subtitles:\n{question.context}\n" if question.context else ""
        return context + question.question + "\n" + option_lines(question)

    def load(self, data_dir: Path) -> Loaded:
        import pandas as pd

        root = self.folder(data_dir)
        path = root / PARQUET
        if not path.is_file():
            raise DataMissing(f"Video-MME annotations not found: expected {path} (run `fvlm-eval prepare videomme`)")
        frame = pd.read_parquet(path)
        absent = [c for c in COLUMNS if c not in frame.columns]
        if absent:
            raise DataMissing(f"{path} lacks the columns {', '.join(absent)}: not the Video-MME test parquet")
        notes = [] if len(frame) == EXPECTED_ROWS else [f"{len(frame)} rows, expected {EXPECTED_ROWS}: an older revision?"]
        questions = [self._question(root, index, row, path) for index, row in enumerate(frame.to_dict("records"))]
        return Loaded(tuple(questions), tuple(notes))

    def _question(self, root: Path, index: int, row: dict, path: Path) -> Question:
        video_id = str(row["videoID"])
        qid = f"videomme/{row['question_id']}"
        fields = tuple((name, str(row[name])) for name in self.breakdowns)
        options, problem = _options(row["options"])
        gold = str(row["answer"]).strip()
        if problem is None and gold not in [o.letter for o in options]:
            problem = f"answer {gold!r} is not one of the option letters"
        error = f"malformed row {path.name}[{index}]: {problem}" if problem else None
        media = Media("video", f"videomme/{video_id}", None)
        context = ""
        try:
            media = Media("video", media.key, str(_find_video(root, video_id)))
            if self.subtitles:
                context = _subtitle_text(root, video_id)
        except MediaError as missing:
            error = error or str(missing)
        return Question(qid, self.name, media, str(row["question"]), options, gold if not problem else None,
                        f"videomme/{video_id}", context=context, fields=fields, error=error)


def _options(raw) -> tuple[tuple[Option, ...], str | None]:
    """``["A. Apples.", ...]`` -> options A.. with the ``"A. "`` prefix taken off (it is put back by ``Option.answer``)."""
    try:
        texts = [str(x) for x in list(raw)]
    except TypeError:
        return (), f"options is not a list: {raw!r}"
    options = []
    for i, text in enumerate(texts):
        prefix = f"{LETTERS[i]}. "
        if not text.startswith(prefix):
            return (), f"option {i} {text!r} does not start with {prefix!r}"
        options.append(Option(LETTERS[i], text[len(prefix):]))
    if len(options) < 2:
        return (), "fewer than two options"
    return tuple(options), None


def _find_video(root: Path, video_id: str) -> Path:
    for suffix in VIDEO_SUFFIXES:
        candidate = safe_join(root, f"data/{video_id}{suffix}")
        if candidate.is_file():
            return candidate
    raise MediaError(f"video data/{video_id}.mp4 is missing (also looked for .MP4 and .mkv)")


def _subtitle_text(root: Path, video_id: str) -> str:
    """The subtitle lines of ``subtitle/<videoID>.srt`` joined, without numbers and timings."""
    path = safe_join(root, f"subtitle/{video_id}.srt")
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    timing = re.compile(r"^\d\d:\d\d:\d\d[,.]\d+ --> ")
    text = [line.strip() for line in lines if line.strip() and not line.strip().isdigit() and not timing.match(line)]
    return "\n".join(re.sub(r"<[^>]+>", "", line) for line in text)
