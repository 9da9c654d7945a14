"""TempCompass, multi-choice and yes/no (llyx97/TempCompass; CC BY-NC 4.0): two benchmarks, ``tempcompass``
(multi-choice, 1,580 questions, 2 to 4 options) and ``tempcompass_yes_no`` (2,453 questions, two options).

Two names, not one benchmark with a breakdown: the official evaluation, lmms-eval (``tempcompass_mc``,
``tempcompass_yes_no``) and VLMEvalKit report each task type on its own, each pooled over its questions,
and a yes/no question (chance 1/2) pooled with a multi-choice one (chance 1/3 or 1/4) would be a number no
one publishes. Both read the same folder (one download).

From ``lmms-lab/TempCompass`` (also ``lmms-eval/TempCompass``, the same commits; both are tried), configs
``multi-choice`` (a hyphen) and ``yes_no``, split ``test``: ``<config>/test-00000-of-00001.parquet``, string
columns ``video_id``, ``question``, ``answer``, ``dim`` (action, speed, direction, order, attribute_change).
Media ``videos/<video_id>.mp4`` from ``tempcompass_videos.zip`` (``_reverse``/``_concat_N`` ids are other
videos made from the same clip, by design). The hub has no question id: a question is keyed
``<video_id>/<dim>/<k>``, its place among that video's questions of that dimension, as the official
``questions/*.json`` nests them. A row repeated exactly is asked and counted again, with a note naming both
rows: the official scorer counts every row, and the official yes/no set holds one such repeat (video
``1092813279_concat_1``, ``speed``), which its 2,453 questions count twice.

Multi-choice: the options are written only inside ``question``, one ``"A. text"`` line each after the
question's line, and ``answer`` is ``"A. text"``. They are parsed out: a line spelled ``" D. text"`` or
``"C.text"`` is read with a note (three official rows); options not lettered A, B, C.. in order (two
official rows glue their first option to the question and letter two options ``A.``) or an answer that is
not one of them is a recorded failure of that row, named by file and row. The two official glued rows are
known faults (``prepare`` verifies a copy holding them): their official scorer compares the answer's letter
only and credits any answer ``A``, so fvlm-eval counts up to 2 of 1,580 questions below the official count.
Yes/no: the options are ``yes`` and ``no``; ``answer`` is ``"yes"`` or ``"no"``. Prompts: the question and its
lettered options (for a well-formed multi-choice row, exactly the official question text); the cloze prompt is
the question alone (``yes``/``no`` answer a yes/no question as asked). Frames: no official rule; the lmms-eval
default is used, 32 frames spread uniformly over the clip (``max_frames_num=32`` of its LLaVA-OneVision/LLaVA-Video
wrappers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from fvlm_eval.media import MediaError
from fvlm_eval.tasks.base import Benchmark, DataMissing, HubSource, Loaded, fingerprint, unique_ids
from fvlm_eval.tasks.rows import count_note, find_video, read_parquet, text, unusable
from fvlm_eval.types import LETTERS, Media, Option, Question, Sampling

FOLDER = "tempcompass"
COLUMNS = ("video_id", "question", "answer", "dim")
VIDEO_SUFFIXES = (".mp4",)
MULTI_CHOICE = {"action": 338, "direction": 335, "speed": 317, "order": 302, "attribute_change": 288}
YES_NO = {"action": 592, "direction": 494, "speed": 537, "order": 382, "attribute_change": 448}
OFFICIAL_SCORER = "the official TempCompass scorer"  # counts every row, a repeated one too
_OPTION_LINE = re.compile(r"^(\s*)([A-Z])\.(\s*)(.*?)\s*$")
PUBLISHED_GLUED = 2  # multi-choice rows of the official data with an option glued to the question's line
AS_PUBLISHED = (
    "as published: the official TempCompass scorer compares the answer's letter only and credits any answer A; "
    "fvlm-eval cannot ask it as written and counts it wrong"
)
_GLUED = re.compile(r"\?\s*A\.\s")  # "...in the video?A. A dog is driving": the first option on the question's line


@dataclass
class TempCompass(Benchmark):
    name: str = "tempcompass"
    title: str = "TempCompass (multi-choice)"
    version: str = "1"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 32))
    breakdowns: tuple[str, ...] = ("dim",)
    category_field: str = "dim"
    main_breakdown: str = "dim"
    config: str = "multi-choice"
    published_glued: ClassVar[int] = PUBLISHED_GLUED

    def folder(self, data_dir: Path) -> Path:
        return Path(data_dir) / FOLDER

    def hub(self) -> HubSource:
        return HubSource(
            "lmms-lab/TempCompass",
            "c8a67d88a3bc6fd4b2f9ae2f9e112668fbe05722",
            (f"{self.config}/*", "tempcompass_videos.zip"),
            ("tempcompass_videos.zip",),
            config=self.config,
            mirrors=("lmms-eval/TempCompass",),
        )

    def expected(self) -> dict[str, int]:
        return dict(MULTI_CHOICE)

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        from fvlm_eval.tasks.fixtures.tempcompass import write_tempcompass

        return write_tempcompass(Path(data_dir), faults)

    def parse(self, row: dict) -> tuple[str, tuple[Option, ...], str, list[str]]:
        """The question's own text, its options, the gold letter and notes; ``ValueError`` when it cannot be read."""
        return parse_multi_choice(text(row, "question"), text(row, "answer"))

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        path = root / self.config / "test-00000-of-00001.parquet"
        if not path.is_file():
            raise DataMissing(f"{self.title} annotations not found: expected {path}")
        expected = sum(self.expected().values())
        rows, problem = read_parquet(path, COLUMNS, expected, f"TempCompass {self.config} parquet")
        if problem:
            return Loaded((), (), (problem,))
        sha = fingerprint(path)
        places: dict[tuple[str, str], int] = {}
        questions = []
        for index, row in enumerate(rows):
            place = (str(row["video_id"]), str(row["dim"]))
            places[place] = places.get(place, -1) + 1
            questions.append(self._question(root, index, row, path, sha, places[place]))
        questions = self._published_marked(root, rows, questions, path)
        # a repeated row is asked again, as the official scorer counts it (see the module's docstring)
        rows_of = [(str(path), index, row) for index, row in enumerate(rows)]
        questions, duplicates = unique_ids(questions, rows_of, counted_by=OFFICIAL_SCORER)
        return Loaded(tuple(questions), count_note(len(rows), expected, "rows") + tuple(duplicates))

    def as_published(self, question: Question) -> bool:
        """Whether ``question`` is one of the official data's own faults (``prepare`` lists it as a note)."""
        return any(note.endswith(AS_PUBLISHED) for note in question.notes)

    def _published_marked(self, root: Path, rows: list[dict], questions: list[Question], path: Path) -> list[Question]:
        """``questions`` with the failed rows glued as the official ones are noted ``AS_PUBLISHED``, while there
        are no more of them than the official data holds (more, and this copy is not the published one)."""
        found = [i for i, row in enumerate(rows) if questions[i].error and _glued_as_published(root, row)]
        if len(found) > self.published_glued:
            return questions
        for i in found:
            questions[i] = replace(questions[i], notes=(*questions[i].notes, f"{path.name}[{i}]: {AS_PUBLISHED}"))
        return questions

    def _question(self, root: Path, index: int, row: dict, path: Path, sha: str, place: int) -> Question:
        where = f"{path.name}[{index}]"
        fields = (("dim", str(row["dim"])),)
        qid = f"{self.name}/{row['video_id']}/{row['dim']}/{place}"
        try:
            video = text(row, "video_id")
            question, options, gold, notes = self.parse(row)
            media_path, looked_in = find_video(root, "videos", video, VIDEO_SUFFIXES)
        except (ValueError, MediaError) as problem:
            return unusable(self.name, qid, where, str(problem), fields, path, sha)
        key = f"{FOLDER}/{video}"
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
            notes=tuple(f"{where}: {note}" for note in notes),
        )


@dataclass
class TempCompassYesNo(TempCompass):
    name: str = "tempcompass_yes_no"
    title: str = "TempCompass (yes/no)"
    config: str = "yes_no"
    published_glued: ClassVar[int] = 0  # the official yes/no rows have no options to glue

    def expected(self) -> dict[str, int]:
        return dict(YES_NO)

    def parse(self, row: dict) -> tuple[str, tuple[Option, ...], str, list[str]]:
        answer = text(row, "answer").strip().lower()
        if answer not in ("yes", "no"):
            raise ValueError(f"answer {row['answer']!r} is neither yes nor no")
        return (
            text(row, "question").strip(),
            (Option("A", "yes"), Option("B", "no")),
            "A" if answer == "yes" else "B",
            [],
        )


def _glued_as_published(root: Path, row: dict) -> bool:
    """A row as the two official ones: its first option glued to the question's line, the option lines after it
    lettered A, B.. in order (so two options are lettered A), the rest of the row fine."""
    try:
        question = text(row, "question")
        text(row, "answer")
        find_video(root, "videos", text(row, "video_id"), VIDEO_SUFFIXES)
    except (ValueError, MediaError):
        return False
    first, *lines = question.split("\n")
    options = [_OPTION_LINE.match(line) for line in lines]
    if not _GLUED.search(first) or not options or not all(o and o.group(4) for o in options):
        return False
    return "".join(o.group(2) for o in options) == LETTERS[: len(options)]


def parse_multi_choice(question: str, answer: str) -> tuple[str, tuple[Option, ...], str, list[str]]:
    """``"Q?\\nA. one\\nB. two"`` and ``"B. two"`` -> ``"Q?"``, options A, B, gold ``"B"``, notes."""
    first, *lines = question.split("\n")
    glued = _GLUED.search(first)
    if glued:
        raise ValueError(
            f"an option is glued to the question line ({first[max(0, glued.start() - 20) :][:60]!r}): cannot parse"
        )
    notes, options = [], []
    for line in lines:
        match = _OPTION_LINE.match(line)
        if not match or not match.group(4):
            raise ValueError(f"option line {line!r} is not 'X. text'")
        spaces_before, letter, space_after, own = match.groups()
        if spaces_before or space_after != " ":
            notes.append(f"option line {line!r} is not spelled '{letter}. text': read as {letter}")
        options.append(Option(letter, own))
    letters = "".join(o.letter for o in options)
    if len(options) < 2 or letters != LETTERS[: len(options)]:
        raise ValueError(f"options lettered {', '.join(letters) or 'none'}, not A, B, C.. in order: cannot parse them")
    match = _OPTION_LINE.match(answer)
    if not match or not first.strip():
        raise ValueError(f"answer {answer!r} is not 'X. text'" if first.strip() else "the question line is empty")
    chosen = [o for o in options if o.text == match.group(4)]
    if len(chosen) > 1:
        raise ValueError(f"options {', '.join(o.letter for o in chosen)} have the same text {match.group(4)!r}")
    if len(chosen) != 1 or chosen[0].letter != match.group(2):
        raise ValueError(f"answer {answer!r} is not one of the options")
    return first.strip(), tuple(options), chosen[0].letter, notes
