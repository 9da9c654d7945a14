"""What every benchmark adapter shares (this folder holds one module per benchmark).

A benchmark's ``load(data_dir)`` does all the I/O and returns typed ``Question``s (a malformed
row becomes a question with ``error`` set, never a silent drop; an annotation file that cannot
be read at all becomes a ``problem``, whose expected questions count as failed); ``prompt``
builds the user turn in one visible function; ``expected`` says what a complete copy holds.
Media are located here but read only when decoded, so a frame cache can serve media that have
since moved away.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.media import shown
from fvlm_eval.plugins import kind_of
from fvlm_eval.tasks.media_paths import DataRoots, escapes, outside_hint
from fvlm_eval.tasks.repeats import unique_ids
from fvlm_eval.types import LETTERS, Media, Option, Question, Sampling

Aggregation = Literal["pooled", "category_mean"]


class DataMissing(FvlmEvalError, FileNotFoundError):
    """The benchmark's annotations are not in the data folder; says where they were looked for."""


@dataclass(frozen=True)
class Loaded:
    """What ``load`` found: the questions, notes, and annotation files it could not read
    (``problems``: ``{"file", "error", "expected"}``, expected = the questions that file should hold)."""

    questions: tuple[Question, ...]
    notes: tuple[str, ...] = ()
    problems: tuple[dict, ...] = ()


@dataclass(frozen=True)
class HubSource:
    """Where ``prepare`` fetches a benchmark from, pinned."""

    repo: str
    revision: str
    allow_patterns: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()  # glob patterns of zips to extract after download
    config: str | None = None
    mirrors: tuple[str, ...] = ()  # the same repository (same commits) under other names, tried when it is not found


@dataclass
class Benchmark:
    """Base of the benchmark adapters."""

    name: str = ""
    title: str = ""
    version: str = "1"
    sampling: Sampling = field(default_factory=Sampling)
    breakdowns: tuple[str, ...] = ()
    category_field: str = ""  # the breakdown that coverage counts against ``expected``
    main_breakdown: str = ""  # the breakdown reports show (and published per-category figures use)
    uses_images: bool = False  # one image per question; ``--frames`` applies to videos only
    run_options: ClassVar[tuple[str, ...]] = ()  # the run's options it takes (fields of its own, e.g. ``subtitles``)
    # How the benchmark's official overall score is made from its questions: "pooled" (right / asked) or
    # "category_mean" (the mean of the accuracies of its ``category_field`` values, as MLVU's official score is).
    aggregation: ClassVar[Aggregation] = "pooled"
    # What of the benchmark is scored when it is not all of it (``fvlm-eval benchmarks`` shows it), e.g. the
    # subset whose answers are public.
    scope: ClassVar[str] = ""

    def folder(self, data_dir: Path) -> Path:
        return Path(data_dir) / self.name

    def load(self, data_dir: Path) -> Loaded:
        raise NotImplementedError

    def prompt(self, question: Question, timestamps: tuple[float, ...] | None = None) -> str:
        """The user turn (default: the question, then the options one a line, ``"A. text"``);
        ``timestamps``: the sampled frames' times (a benchmark may use them)."""
        return question.question + "\n" + option_lines(question)

    def cloze_prompt(self, question: Question, timestamps: tuple[float, ...] | None = None) -> str:
        """The user text of the cloze formulation: what ``prompt`` gives but the options, ending with
        ``"Question: {question}"`` (the model adds ``"\nAnswer:"`` and scores each option's text after
        it). A benchmark whose options do not answer its questions as asked rewrites them here."""
        return f"Question: {question.question}"

    def expected(self) -> dict[str, int]:
        """Questions per category in a complete copy."""
        raise NotImplementedError

    def hub(self) -> HubSource:
        raise NotImplementedError

    def as_published(self, question: Question) -> bool:
        """Whether failed ``question`` is one of the official data's own known faults (``prepare`` lists it as a
        note, not a problem, its notes saying what the official scorer does with it): none, unless a benchmark
        knows its data's."""
        return False

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        """A small synthetic copy in the benchmark's real layout under ``data_dir`` (``faults``: with the
        malformed rows and broken media its layout can have); returns its folder."""
        raise NotImplementedError(f"{self.name} has no synthetic copy")

    def settings(self) -> dict[str, object]:
        """What makes two runs of this benchmark comparable (recorded in the manifest)."""
        return {"version": self.version, "sampling": self.sampling.describe()}


def option_lines(question: Question) -> str:
    """One line per option: ``"A. text"``."""
    return "\n".join(option.answer for option in question.options)


def lettered(texts: list[str]) -> tuple[Option, ...]:
    if len(texts) > len(LETTERS):
        raise ValueError(f"{len(texts)} options: at most {len(LETTERS)} are supported")
    return tuple(Option(LETTERS[i], str(text)) for i, text in enumerate(texts))


def fingerprint(path: Path) -> str:
    """SHA-256 of an annotation file (records carry it: a changed file is visible in every record)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def integral(value, what: str) -> int:
    """An index read from data: an int, or a float with no fractional part; anything else is an error."""
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not an index")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return integral(value.item(), what)
    raise ValueError(f"{what} {value!r} is not a whole number")


class UnusableLoad(ValueError):
    """What a benchmark's ``load`` gave cannot be run at all: not a ``Loaded`` of ``Question``s."""


def checked_load(loaded: object, name: str, data_dir: str | Path | None = None) -> tuple[Loaded, list[str]]:
    """What ``load`` gave, made safe to run, whoever wrote the benchmark (a plugin's, one registered in a notebook):
    every question that cannot be asked as given becomes a failed one (``error`` set, counted wrong; its
    wrongly typed values made text so that it can be recorded), and repeated ids are made distinct
    (``unique_ids``, its notes added). Unchecked, a plugin's gold that is no option letter was silently wrong, two
    options with one letter always right, a question without options or a field that is a number a crash, and
    two questions under one id were counted as one record twice. Returns the ``Loaded`` and one line per question
    failed here (``"myqa/q1: its gold 'Z' is not one of its option letters (A, B)"``); ``UnusableLoad`` when it
    is no ``Loaded`` of ``Question``s. A media path that leaves ``data_dir``, the data folder ``load`` was given
    (the rule: ``media_paths``), fails its question, as a built-in's does."""
    if not isinstance(loaded, Loaded):
        raise UnusableLoad(f"load() gave {kind_of(loaded)}, not a fvlm_eval.tasks.base.Loaded")
    for part, kind in (("questions", "Questions"), ("notes", "notes (text)"), ("problems", "problems (dicts)")):
        if not isinstance(getattr(loaded, part), (tuple, list)):
            raise UnusableLoad(f"its Loaded.{part} is {kind_of(getattr(loaded, part))}, not a tuple of {kind}")
    stray = next((n for n, q in enumerate(loaded.questions) if not isinstance(q, Question)), None)
    if stray is not None:
        raise UnusableLoad(
            f"its question {stray + 1} is {kind_of(loaded.questions[stray])}, not a fvlm_eval.types.Question"
        )
    keys = {"file", "error", "expected"}
    if any(not isinstance(p, dict) or not keys <= set(p) for p in loaded.problems):
        raise UnusableLoad("a problem in its Loaded.problems is not a dict of file, error and expected")
    checked, failed = [], []
    roots = DataRoots(data_dir) if data_dir is not None else None
    for question in loaded.questions:
        question, wrong = _checked_question(question, name, roots, None if data_dir is None else str(data_dir))
        checked.append(question)
        if wrong:
            failed.append(f"{question.id}: {wrong}")
    unique, repeated = unique_ids(checked)
    notes = tuple(str(note) for note in loaded.notes) + tuple(repeated)
    return replace(loaded, questions=tuple(unique), notes=notes, problems=tuple(loaded.problems)), failed


def _checked_question(
    question: Question, name: str, roots: DataRoots | None = None, data_dir: str | None = None
) -> tuple[Question, str | None]:
    """``question`` with its values made text where they must be, and, when it has no ``error`` yet and cannot be
    asked as given, failed with what is wrong (also returned); ``roots``: its data folder's (``DataRoots``)."""
    fixed: dict[str, object] = {}
    wrong: list[str] = []
    if not isinstance(question.id, str) or not question.id.strip():
        fixed["id"] = (str(question.id) if question.id is not None else "").strip() or f"{name}/(no id)"
        wrong.append(f"its id {question.id!r} is not text" if not isinstance(question.id, str) else "its id is empty")
    if question.benchmark != name:
        fixed["benchmark"] = name
        wrong.append(f"its benchmark {question.benchmark!r} is not {name!r}")
    for part in ("question", "group", "context", "source", "source_sha256"):
        if not isinstance(getattr(question, part), str):
            fixed[part] = "" if getattr(question, part) is None else str(getattr(question, part))
            wrong.append(f"its {part} is {kind_of(getattr(question, part))}, not text")
    media, media_wrong = _checked_media(question.media, str(fixed.get("id", question.id)), roots, data_dir)
    if media_wrong:
        fixed["media"] = media
        wrong.append(media_wrong)
    options, options_wrong = _checked_options(question.options)
    fixed["options"] = options
    wrong += options_wrong
    fields, fields_wrong = _checked_fields(question.fields)
    fixed["fields"] = fields
    wrong += fields_wrong
    fixed["notes"] = tuple(map(str, question.notes)) if isinstance(question.notes, (tuple, list)) else ()
    letters = [option.letter for option in options]
    if not isinstance(question.gold, str):
        fixed["gold"] = None
        wrong.append(f"its gold {question.gold!r} is not text" if question.gold is not None else "its gold is None")
    elif question.gold not in letters and letters and not options_wrong:
        wrong.append(f"its gold {question.gold!r} is not one of its option letters ({', '.join(letters)})")
    if question.error not in (None, ""):  # failed already, for its own reason: only made recordable
        return replace(question, **fixed, error=str(question.error)), None
    why = "; ".join(wrong) or None
    return replace(question, **fixed, error=why), why


def _checked_media(
    media: object, question_id: str, roots: DataRoots | None = None, data_dir: str | None = None
) -> tuple[Media, str | None]:
    """The question's ``Media`` when it can be located (a key, a path or bytes, a bound of two numbers) and its path
    stays in the data folder (one of ``roots``, when known), else a stand-in named after the question (its key kept,
    without the path, for a path that leaves the folder: nothing reads it) and what is wrong."""
    if not isinstance(media, Media):
        wrong = f"its media is {kind_of(media)}, not a fvlm_eval.types.Media"
    elif not isinstance(media.key, str) or not media.key:
        wrong = f"its media key {media.key!r} is not text"
    elif media.kind not in ("video", "frame_folder", "image"):
        wrong = f"its media kind {media.kind!r} is not video, frame_folder or image"
    elif media.path is not None and not isinstance(media.path, str):
        wrong = f"its media path is {kind_of(media.path)}, not text"
    elif media.bound is not None and not (
        isinstance(media.bound, (tuple, list))
        and len(media.bound) == 2
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in media.bound)
    ):
        wrong = f"its media bound {media.bound!r} is not two numbers (start, end in seconds)"
    elif media.path is not None and roots is not None and escapes(media.path, roots):
        wrong = f"its media path {shown(repr(media.path))} escapes the data folder {data_dir}"
        wrong += outside_hint(media.path, roots)
        return replace(media, path=None, looked_in=()), wrong
    else:
        return media, None
    return Media("image", key=f"unusable media of {question_id}"), wrong


def _checked_options(options: object) -> tuple[tuple[Option, ...], list[str]]:
    """The options, lettered A, B, C... in order, at least two, each with text, none blank; else what is wrong (one
    option is always right; two under one letter make the letter right whichever is chosen; a blank one the cloze
    formulation cannot score)."""
    if not isinstance(options, (tuple, list)) or not all(isinstance(o, Option) for o in options):
        return (), [f"its options are {kind_of(options)}, not a tuple of fvlm_eval.types.Option"]
    wrong = []
    texts = [o.text if isinstance(o.text, str) else "" if o.text is None else str(o.text) for o in options]
    untexted = [str(o.letter) for o in options if not isinstance(o.text, str)]
    if untexted:
        wrong.append(f"the text of option {', '.join(untexted)} is not text")
    letters = "".join(o.letter if isinstance(o.letter, str) else repr(o.letter) for o in options)
    if len(options) < 2:
        wrong.append("it has no options" if not options else "it has one option only (always right)")
    elif letters != LETTERS[: len(options)]:
        shown = ", ".join(o.letter if isinstance(o.letter, str) else repr(o.letter) for o in options)
        wrong.append(f"its options are lettered {shown}, not {', '.join(LETTERS[: len(options)])} in order")
    blank = [str(o.letter) for o, text in zip(options, texts) if isinstance(o.text, str) and is_blank(text)]
    if blank:  # the cloze formulation (the default headline's) has no answer text to score for it
        which = f"option {blank[0]} has" if len(blank) == 1 else f"options {', '.join(blank)} have"
        wrong.append(f"{which} no text (empty, or only spaces): the cloze formulation cannot score it")
    fixed = tuple(Option(str(o.letter), text) for o, text in zip(options, texts))
    return fixed, wrong


def is_blank(text: str) -> bool:
    """No visible character: only separators (spaces, NBSP), control and format characters (zero-width)."""
    return all(unicodedata.category(c)[0] in "ZC" for c in text)


def _checked_fields(fields: object) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The breakdown fields as ``(name, value)`` text pairs (a number among them broke every breakdown's sort)."""
    if not isinstance(fields, (tuple, list)) or not all(isinstance(f, (tuple, list)) and len(f) == 2 for f in fields):
        return (), [f"its fields are {kind_of(fields)}, not (name, value) pairs"]
    untexted = [f"{key}={value!r}" for key, value in fields if not isinstance(key, str) or not isinstance(value, str)]
    wrong = [f"its field {', '.join(untexted)} is not text"] if untexted else []
    return tuple((str(key), "" if value is None else str(value)) for key, value in fields), wrong


def coverage_counts(
    benchmark: Benchmark, questions: tuple[Question, ...], unreadable_media: frozenset[str] = frozenset()
) -> dict[str, tuple[int, int, int]]:
    """category -> (questions found, of them unusable, expected); unusable: a question that failed to load,
    or whose media (by key) is in ``unreadable_media``."""
    found = Counter(q.field_dict().get(benchmark.category_field, "?") for q in questions)
    bad = Counter(
        q.field_dict().get(benchmark.category_field, "?")
        for q in questions
        if q.error or q.media.key in unreadable_media
    )
    expected = benchmark.expected()
    return {
        name: (found.get(name, 0), bad.get(name, 0), expected.get(name, 0))
        for name in sorted(set(expected) | set(found))
    }
