"""What ``track`` keeps of a checkpoint's records: per question, only what its tables, pairs, best step and half-split
read, never a record's scores, token log-probabilities, cloze or circular blocks.

A full ``Record`` takes about 34 KB of memory; track kept every record of every checkpoint for the whole command
(6.5 GB for 20 checkpoints, growing with each: an out-of-memory kill says nothing). Now each checkpoint's records are
read, summarised and reduced to ``Answer``s, one checkpoint at a time: what every number of ``track`` reads of them,
no more. Values repeated across questions and checkpoints (a question's id, hash and video, a line of predictions)
are stored once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from fvlm_eval.letter_readings import reader_of
from fvlm_eval.protocols import cloze_framing_of
from fvlm_eval.records import Record
from fvlm_eval.summarize import CATEGORY_MEAN
from fvlm_eval.tasks import BENCHMARKS


class ByProtocol(Mapping):
    """A record's ``pred`` or ``correct`` (protocol -> value), read-only, in two shared parts: the protocols' places
    (one per set of protocols) and the values (one per line of values)."""

    __slots__ = ("_places", "_values")

    def __init__(self, places: dict[str, int], values: tuple) -> None:
        self._places = places
        self._values = values

    def __getitem__(self, protocol: str):
        return self._values[self._places[protocol]]

    def __contains__(self, protocol: object) -> bool:
        return protocol in self._places

    def get(self, protocol: str, default=None):
        place = self._places.get(protocol)
        return default if place is None else self._values[place]

    def __iter__(self) -> Iterator[str]:
        return iter(self._places)

    def __len__(self) -> int:
        return len(self._places)

    def __repr__(self) -> str:
        return repr(dict(self))


@dataclass(frozen=True, slots=True)
class Answer:
    """One question of one checkpoint as ``track`` reads it (the names are ``Record``'s, which ``regress``,
    ``summarize.measure`` and ``stats.letter_bias`` read): ``fields`` holds only the category a benchmark scored
    as the mean of its categories' accuracies is averaged over (``category_field``); ``cloze`` only which options
    share answer tokens (each option's ``token_ids`` replaced by the first letter with the same ones: all
    ``summarize.right_options`` compares), ``None`` where the record held none."""

    group: str
    gold: str | None
    letters: tuple
    pred: ByProtocol
    correct: ByProtocol
    error: str | None
    question_sha256: str
    fields: dict
    cloze: dict | None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class FolderAnswers:
    """One ``<benchmark>/<mode>`` folder of a checkpoint: ``by_id`` (id -> answer, in the records' order), its cloze
    framing (``protocols.cloze_framing_of`` its settings and records) and the letter readers that read its
    generated answers (``letter_readings.reader_of`` each answered record with them; ``None``: not recorded)."""

    by_id: dict[str, Answer]
    cloze_framing: str | None = None
    readers: frozenset = frozenset()


def category_field(benchmark: str) -> str | None:
    """The field whose values' accuracies a benchmark's number is the mean of (``None``: its number is pooled)."""
    if benchmark not in BENCHMARKS or BENCHMARKS[benchmark].aggregation != CATEGORY_MEAN:
        return None
    return BENCHMARKS[benchmark]().category_field


class SharedValues:
    """Equal values stored once: across the questions of a checkpoint and across checkpoints (a track holds the
    same questions at every step)."""

    def __init__(self) -> None:
        self._seen: dict = {}
        self._places: dict[tuple, dict[str, int]] = {}
        self._mappings: dict[tuple, ByProtocol] = {}
        self._categories: dict[tuple, dict] = {}
        self._twins: dict[tuple, dict] = {}

    def one(self, value):
        """The stored value equal to ``value`` (``value`` itself, the first time); an unhashable one (a hand-edited
        row) is kept as it is."""
        try:
            return self._seen.setdefault(value, value)
        except TypeError:
            return value

    def answer(self, record: Record, field: str | None) -> Answer:
        """What ``track`` reads of ``record`` (see ``Answer``); ``field``: its benchmark's ``category_field``."""
        return Answer(
            group=sys.intern(record.group),
            gold=self.one(record.gold),
            letters=self.one(record.letters),
            pred=self.by_protocol(record.pred),
            correct=self.by_protocol(record.correct),
            error=record.error,
            question_sha256=sys.intern(record.question_sha256),
            fields=self.category(record.fields, field),
            cloze=self.twins(record.cloze),
        )

    def by_protocol(self, values: dict) -> ByProtocol:
        """``values`` as a ``ByProtocol``, one object for all equal mappings."""
        protocols = tuple(values)
        places = self._places.get(protocols)
        if places is None:
            places = self._places.setdefault(protocols, {p: i for i, p in enumerate(protocols)})
        line = tuple(values.values())
        try:
            return self._mappings.setdefault((protocols, line), ByProtocol(places, line))
        except TypeError:  # an unhashable prediction (a hand-edited row): its own
            return ByProtocol(places, line)

    def category(self, fields: dict, field: str | None) -> dict:
        """``fields`` reduced to ``field`` (none when ``field`` is ``None`` or the record lacks it)."""
        if field is None or field not in fields:
            return self._categories.setdefault((), {})
        try:
            value = fields[field]  # its type kept apart: 1 and 1.0 are equal, and named "1" and "1.0"
            return self._categories.setdefault((field, type(value), value), {field: value})
        except TypeError:
            return {field: fields[field]}

    def twins(self, cloze: dict | None) -> dict | None:
        """A ``cloze`` block reduced to which options share answer tokens: each option's ``token_ids`` replaced by
        the first letter with equal ones (``None`` kept: no tokens)."""
        if not cloze:
            return None
        options = cloze.get("options") or {}
        options = options if isinstance(options, dict) else {}
        firsts: list[tuple[str, object]] = []
        reduced = {}
        for letter, option in options.items():
            tokens = option.get("token_ids") if isinstance(option, dict) else None
            if tokens is None:
                reduced[letter] = {"token_ids": None}
                continue
            first = next((seen for seen, seen_tokens in firsts if seen_tokens == tokens), None)
            if first is None:
                firsts.append((letter, tokens))
                first = letter
            reduced[letter] = {"token_ids": first}
        key = tuple((letter, option["token_ids"]) for letter, option in reduced.items())
        return self._twins.setdefault(key, {"options": reduced})


def folder_answers(
    benchmark: str, records: dict[str, Record], settings: dict | None, shared: SharedValues
) -> FolderAnswers:
    """One folder's records reduced to a ``FolderAnswers`` (see the module docstring)."""
    field = category_field(benchmark)
    readers = frozenset(reader_of(r) for r in records.values() if not r.failed and isinstance(r.generated, dict))
    return FolderAnswers(
        {sys.intern(i): shared.answer(r, field) for i, r in records.items()},
        cloze_framing_of(settings, records.values()),
        readers,
    )


__all__ = ["Answer", "ByProtocol", "FolderAnswers", "SharedValues", "category_field", "folder_answers"]
