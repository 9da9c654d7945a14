"""What every task adapter shares.

A task's ``load(data_dir)`` does all the I/O and returns typed ``Question``s (a malformed row
or unusable media becomes a question with ``error`` set, never a silent drop); ``prompt`` builds
the user turn in one visible function; ``expected`` says what a complete copy holds, for coverage.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.types import LETTERS, Option, Question, Sampling


class DataMissing(FileNotFoundError):
    """The benchmark's annotations are not in the data folder; says where they were looked for."""


@dataclass(frozen=True)
class Loaded:
    """What ``load`` found: the questions, and notes on anything it could not read."""

    questions: tuple[Question, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HubSource:
    """Where ``prepare`` fetches a benchmark from, pinned."""

    repo: str
    revision: str
    allow_patterns: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()  # glob patterns of zips to extract after download


@dataclass
class Task:
    """Base of the task adapters: name, version, sampling default, breakdown fields."""

    name: str = ""
    version: str = "1"
    sampling: Sampling = field(default_factory=Sampling)
    breakdowns: tuple[str, ...] = ()
    category_field: str = ""  # the breakdown that coverage counts against ``expected``
    uses_images: bool = False  # images are replicated; ``--frames`` applies to videos only

    def folder(self, data_dir: Path) -> Path:
        return Path(data_dir) / self.name

    def load(self, data_dir: Path) -> Loaded:
        raise NotImplementedError

    def prompt(self, question: Question) -> str:
        raise NotImplementedError

    def expected(self) -> dict[str, int]:
        """Questions per category in a complete copy."""
        raise NotImplementedError

    def hub(self) -> HubSource:
        raise NotImplementedError

    def settings(self) -> dict[str, object]:
        """What makes two runs of this task comparable (recorded in the manifest)."""
        return {"version": self.version, "sampling": self.sampling.describe()}


def option_lines(question: Question) -> str:
    """One line per option: ``"A. text"``."""
    return "\n".join(option.answer for option in question.options)


def lettered(texts: list[str]) -> tuple[Option, ...]:
    return tuple(Option(LETTERS[i], str(text)) for i, text in enumerate(texts))


def coverage_counts(task: Task, questions: tuple[Question, ...]) -> dict[str, tuple[int, int, int]]:
    """category -> (questions found, of them unusable, expected)."""
    found = Counter(q.field_dict().get(task.category_field, "?") for q in questions)
    bad = Counter(q.field_dict().get(task.category_field, "?") for q in questions if q.error)
    expected = task.expected()
    return {name: (found.get(name, 0), bad.get(name, 0), expected.get(name, 0)) for name in sorted(set(expected) | set(found))}
