"""What a run's records add up to, as typed values: ``summary.json`` and every number a report shows.

A ``Summary`` is one (benchmark, mode): per protocol a ``ProtocolResult`` (accuracy with a 95%
interval clustered by video, overall and per breakdown value; the chance level on the same
questions and the exact p-value above it; predicted vs gold letters and the best constant-letter
guess), the ``Coverage`` (scored, failed, expected, categories present), failures and notes.
``summarize.summarize_records`` computes it from records; ``to_json`` / ``from_json`` are the
``summary.json`` format. Failed questions count as wrong; an empty set of questions has accuracy
``None`` (shown "n/a"), never 0.

Every protocol's above-chance verdict is one of a family (``ChanceTest``: the summary's protocols),
its p-value Holm-adjusted over them (``ProtocolResult.adjusted_p``). A benchmark whose official
overall score is the mean of its categories' accuracies (``aggregation == "category_mean"``) has
that mean as every protocol's ``overall`` (interval, chance and p-value for the mean; ``correct``
and ``n`` stay the pooled counts) and the pooled accuracy beside it (``pooled``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from fvlm_eval.errors import NotEvaluated
from fvlm_eval.protocols import formulation as formulation_of_protocol


def _interval(value) -> tuple[float, float] | None:
    return (float(value[0]), float(value[1])) if isinstance(value, (list, tuple)) and len(value) == 2 else None


@dataclass(frozen=True)
class Measure:
    """The accuracy of one set of questions: ``correct`` of ``n`` (failed ones count wrong), its standard
    error clustered by video, its 95% interval and design effect, the chance level of a uniform guess on
    the same questions and the one-sided p-value above it (``summarize.measure``). ``accuracy`` is ``None``
    for no question."""

    accuracy: float | None
    correct: int = 0
    n: int = 0
    stderr: float | None = None
    ci95: tuple[float, float] | None = None
    design_effect: float | None = None
    chance: float | None = None
    above_chance_p: float | None = None

    def to_json(self) -> dict:
        value = {
            "accuracy": self.accuracy,
            "correct": self.correct,
            "n": self.n,
            "stderr": self.stderr,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
        }
        if self.design_effect is not None:
            value["design_effect"] = self.design_effect
        return {**value, "chance": self.chance, "above_chance_p": self.above_chance_p}

    @classmethod
    def from_json(cls, data: dict) -> "Measure":
        return cls(
            data.get("accuracy"),
            int(data.get("correct") or 0),
            int(data.get("n") or 0),
            data.get("stderr"),
            _interval(data.get("ci95")),
            data.get("design_effect"),
            data.get("chance"),
            data.get("above_chance_p"),
        )


@dataclass(frozen=True)
class ChanceTest:
    """How a set of above-chance verdicts was made: the exact one-sided test per cell, its p-values
    Holm-adjusted over the ``cells`` of the ``family``, significant below ``alpha``."""

    alpha: float
    cells: int
    family: str
    correction: str = "holm"
    test: str = "exact one-sided test against a uniform guess (Poisson-binomial law)"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data) -> "ChanceTest | None":
        if not isinstance(data, dict):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError:
            return None


@dataclass(frozen=True)
class Letters:
    """Letters predicted and gold, counted, and the best constant-letter guess on the same questions."""

    predicted: dict[str, int] = field(default_factory=dict)
    gold: dict[str, int] = field(default_factory=dict)
    best_letter: str | None = None
    best_accuracy: float = 0.0

    def to_json(self) -> dict:
        return {
            "predicted": dict(self.predicted),
            "gold": dict(self.gold),
            "best_constant": {"letter": self.best_letter, "accuracy": self.best_accuracy},
        }

    @classmethod
    def from_json(cls, data: dict) -> "Letters":
        best = data.get("best_constant") or {}
        return cls(
            dict(data.get("predicted") or {}),
            dict(data.get("gold") or {}),
            best.get("letter"),
            float(best.get("accuracy") or 0.0),
        )


@dataclass(frozen=True)
class ProtocolResult:
    """One protocol's accuracy on one (benchmark, mode): overall (``overall``, whose numbers are also
    read as ``accuracy``, ``n``, ``ci95``...) and per breakdown field and value; ``not_measured``: recorded
    questions it was not measured on (a run without ``--generate``); ``near_ties``; ``undefined``: answered
    questions it could not choose for; ``letters``. A generated answer's protocol also counts its
    ``unparseable`` answers (``generation_failed``, ``statuses``; ``unparseable_all``: under every rotation).
    ``adjusted_p``: ``above_chance_p`` Holm-adjusted over the summary's protocols (``Summary.chance_test``);
    ``pooled``: the pooled accuracy, when ``overall`` is a mean of categories' accuracies."""

    protocol: str
    formulation: str
    overall: Measure
    not_measured: int = 0
    near_ties: int = 0
    undefined: int = 0
    breakdowns: dict[str, dict[str, Measure]] = field(default_factory=dict)
    letters: Letters = field(default_factory=Letters)
    unparseable: int | None = None
    generation_failed: int | None = None
    statuses: dict[str, int] | None = None
    unparseable_all: int | None = None
    adjusted_p: float | None = None
    pooled: Measure | None = None

    accuracy = property(lambda self: self.overall.accuracy)
    correct = property(lambda self: self.overall.correct)
    n = property(lambda self: self.overall.n)
    ci95 = property(lambda self: self.overall.ci95)
    chance = property(lambda self: self.overall.chance)
    above_chance_p = property(lambda self: self.overall.above_chance_p)

    def breakdown(self, field_name: str, value: str) -> Measure:
        """The measures on the questions whose ``field_name`` is ``value``; one it holds none of is ``NotEvaluated``,
        naming the fields (or that field's values) it holds."""
        values = self.breakdowns.get(field_name)
        if values is None:
            held = ", ".join(self.breakdowns) or "none"
            raise NotEvaluated(f"protocol {self.protocol!r} has no breakdown by {field_name!r}; by: {held}")
        if value not in values:
            raise NotEvaluated(
                f"protocol {self.protocol!r}: no question has {field_name} {value!r}; {field_name}: {', '.join(values)}"
            )
        return values[value]

    def to_json(self) -> dict:
        value = {
            "formulation": self.formulation,
            **self.overall.to_json(),
            "not_measured": self.not_measured,
            "near_ties": self.near_ties,
            "undefined": self.undefined,
            "breakdowns": {f: {v: m.to_json() for v, m in values.items()} for f, values in self.breakdowns.items()},
            "letters": self.letters.to_json(),
        }
        for name in ("unparseable", "generation_failed", "statuses", "unparseable_all"):
            if getattr(self, name) is not None:
                value[name] = getattr(self, name)
        if self.adjusted_p is not None:
            value["above_chance_p_adjusted"] = self.adjusted_p
        if self.pooled is not None:
            value["pooled"] = self.pooled.to_json()
        return value

    @classmethod
    def from_json(cls, protocol: str, data: dict) -> "ProtocolResult":
        breakdowns = data.get("breakdowns") if isinstance(data.get("breakdowns"), dict) else {}
        return cls(
            protocol,
            str(data.get("formulation") or formulation_of_protocol(protocol)),
            Measure.from_json(data),
            int(data.get("not_measured") or 0),
            int(data.get("near_ties") or 0),
            int(data.get("undefined") or 0),
            {
                f: {v: Measure.from_json(m) for v, m in values.items()}
                for f, values in breakdowns.items()
                if isinstance(values, dict)
            },
            Letters.from_json(data.get("letters") or {}),
            data.get("unparseable"),
            data.get("generation_failed"),
            data.get("statuses"),
            data.get("unparseable_all"),
            data.get("above_chance_p_adjusted"),
            Measure.from_json(data["pooled"]) if isinstance(data.get("pooled"), dict) else None,
        )


@dataclass(frozen=True)
class Coverage:
    """What a (benchmark, mode) holds against a complete copy: questions scored, failed (with the
    expected questions of unreadable annotation files), recorded, selected by ``--limit``, expected;
    per category found vs expected."""

    scored: int
    failed: int
    recorded: int
    unreadable_annotations: int
    selected: int
    expected: int
    categories: dict[str, dict[str, int]]
    categories_present: int
    categories_expected: int

    @property
    def all_failed(self) -> bool:
        """Every recorded question failed: no accuracy says anything about the model."""
        return bool(self.recorded) and not self.scored

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Coverage":
        return cls(**{f.name: data.get(f.name, {} if f.name == "categories" else 0) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Summary:
    """One (benchmark, mode) of a run: ``summary.json`` as a value (see the module docstring).
    ``timing``, ``manifest`` and ``questions`` (the selection it counts) are the run's, when known."""

    benchmark: str
    mode: str
    headline_protocol: str
    headline_formulation: str
    cloze_framing: str | None
    chance: float | None
    accuracy: dict[str, ProtocolResult]
    flags: dict[str, tuple[str, ...]]
    coverage: Coverage
    failures: tuple[dict, ...] = ()
    problems: tuple[dict, ...] = ()
    fallback_options: int = 0
    media_notes: int = 0
    regex_misreads: int = 0
    notes: tuple[str, ...] = ()
    timing: dict | None = None
    manifest: dict = field(default_factory=dict)
    questions: tuple[str, ...] | None = None
    aggregation: str = "pooled"
    chance_test: ChanceTest | None = None

    @property
    def headline(self) -> ProtocolResult:
        return self.accuracy[self.headline_protocol]

    @property
    def model(self) -> dict:
        """The manifest's model description (family, name, sha256...), or ``{}``."""
        model = self.manifest.get("model") if isinstance(self.manifest, dict) else None
        return model if isinstance(model, dict) else {}

    def replace(self, **changes) -> "Summary":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        value = {
            "benchmark": self.benchmark,
            "mode": self.mode,
            "headline_protocol": self.headline_protocol,
            "headline_formulation": self.headline_formulation,
            "cloze_framing": self.cloze_framing,
            "aggregation": self.aggregation,
            "chance": self.chance,
            "accuracy": {p: r.to_json() for p, r in self.accuracy.items()},
            "flags": {p: list(f) for p, f in self.flags.items()},
            "above_chance_test": self.chance_test.to_json() if self.chance_test is not None else None,
            "coverage": self.coverage.to_json(),
            "failures": [dict(f) for f in self.failures],
            "problems": [dict(p) for p in self.problems],
            "fallback_options": self.fallback_options,
            "media_notes": self.media_notes,
            "regex_misreads": self.regex_misreads,
            "notes": list(self.notes),
        }
        if self.timing is not None:
            value["timing"] = self.timing
        if self.timing is not None or self.manifest:
            value["manifest"] = self.manifest
        if self.questions is not None:
            value["questions"] = list(self.questions)
        return value

    @classmethod
    def from_json(cls, data: dict) -> "Summary":
        """A ``summary.json`` of this version (a ``KeyError`` or ``TypeError`` for anything else)."""
        accuracy = {p: ProtocolResult.from_json(p, block) for p, block in data["accuracy"].items()}
        questions = data.get("questions")
        return cls(
            data["benchmark"],
            data["mode"],
            data["headline_protocol"],
            data.get("headline_formulation") or formulation_of_protocol(data["headline_protocol"]),
            data.get("cloze_framing"),
            data.get("chance"),
            accuracy,
            {p: tuple(f) for p, f in (data.get("flags") or {}).items()},
            Coverage.from_json(data["coverage"]),
            tuple(data.get("failures") or ()),
            tuple(data.get("problems") or ()),
            int(data.get("fallback_options") or 0),
            int(data.get("media_notes") or 0),
            int(data.get("regex_misreads") or 0),
            tuple(data.get("notes") or ()),
            data.get("timing"),
            data.get("manifest") if isinstance(data.get("manifest"), dict) else {},
            tuple(questions) if isinstance(questions, list) else None,
            str(data.get("aggregation") or "pooled"),
            ChanceTest.from_json(data.get("above_chance_test")),
        )


__all__ = ["ChanceTest", "Coverage", "Letters", "Measure", "ProtocolResult", "Summary"]
