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
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.types import LETTERS, Option, Question, Sampling

Aggregation = Literal["pooled", "category_mean"]


class DataMissing(FvlmEvalError, FileNotFoundError):
    """The benchmark's annotations are not in the data folder; says where they were looked for."""


def prepare_command(name: str, data_dir: str | Path) -> str:
    """What fetches benchmark ``name`` into ``data_dir``, said after a ``DataMissing``: with ``--data-dir`` unless
    it is the default (a bare `fvlm-eval prepare` would download into ./data, not into the folder given)."""
    import shlex

    given = "" if Path(data_dir) == Path("data") else f" --data-dir {shlex.quote(str(data_dir))}"
    return f"`fvlm-eval prepare {name}{given}` fetches it"


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


def unique_ids(
    questions: list[Question], rows: list[tuple[str, int, object]] | None = None, counted_by: str = ""
) -> tuple[list[Question], list[str]]:
    """Questions with distinct ids. A row repeated exactly (same id, same question) is one question,
    counted once; a repeated id on another question gets ``#2``, ``#3``... in file order. A note
    says which (one record must never stand for two questions, nor one question count twice).

    ``rows``, for a benchmark whose ids are row positions (a repeated row gets an id of its own): each
    question's annotation row as ``(file, index, row)``. A row equal to an earlier row of the same file is
    the same question repeated: counted once, under the first row's id (the ids of the other rows are
    their positions, unchanged), with a note naming the file and both rows. ``counted_by``: the official
    scorer that counts such a repeat as a question of its own (its published counts include it): then it is
    kept as one, with the note saying so."""
    seen: dict[str, list[Question]] = {}
    first_rows: dict[tuple[str, str], tuple[int, str]] = {}
    result, notes = [], []
    for number, question in enumerate(questions):
        if rows is not None:
            file, index, row = rows[number]
            first, first_id = first_rows.setdefault((file, _canonical(row)), (index, question.id))
            if first != index and counted_by:  # a note only: the data as published (``prepare`` passes it)
                notes.append(
                    f"repeated row (from {Path(file).name}): row {index} repeats row {first} exactly, the same "
                    f"question: asked again as {question.id}, as {counted_by} counts it (its published counts "
                    "include it)"
                )
            elif first != index:  # "duplicate question id": the runner shows it, ``prepare`` fails on it
                notes.append(
                    f"duplicate question id {question.id} (from {Path(file).name}): row {index} repeats row {first} "
                    f"exactly, the same question: counted once (as {first_id})"
                )
                continue
        earlier = seen.setdefault(question.id, [])
        if any(replace(q, id=question.id) == question for q in earlier):
            notes.append(
                f"duplicate question id {question.id} (from {question.source}): the same question repeated, "
                "counted once"
            )
            continue
        if earlier:
            renamed = f"{question.id}#{len(earlier) + 1}"
            notes.append(
                f"duplicate question id {question.id} (from {question.source}): another question under it "
                f"is recorded as {renamed}"
            )
            question = replace(question, id=renamed)
        earlier.append(question)
        result.append(question)
    return result, notes


def _canonical(row: object) -> str:
    """An annotation row as one string, equal for equal rows (keys in any order)."""
    try:
        return json.dumps(row, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys that cannot be sorted (not from JSON or parquet): as it is written
        return repr(row)


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
