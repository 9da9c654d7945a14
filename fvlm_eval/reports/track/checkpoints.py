"""The checkpoints ``track`` reads: run folders, each one checkpoint at its training step, with its summaries.

A checkpoint is read as ``report`` and ``regress`` read a run (``read.read_run``: the records are the
truth, a ``summary.json`` supplies only its selection of questions, headline and manifest): a
hand-edited summary changes no number, and a run with records but no summary yet (killed, or still
running) is read from its records and said so (``Checkpoint.warnings``), never dropped; a benchmark not
installed now (a plugin's, uninstalled since) is left out, said so, and the rest tracked. Its step is
the manifest's ``step``, which must be a whole number, else the folder name's. Of its records only what track reads
is kept (``answers``), one checkpoint's records in memory at a time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.files import not_a_folder
from fvlm_eval.protocols import CIRCULAR, GENERATED, formulation_of
from fvlm_eval.reports import ReportError
from fvlm_eval.reports.read import read_run
from fvlm_eval.reports.regress.compare import COMPARED_SETTINGS
from fvlm_eval.reports.track.answers import FolderAnswers, SharedValues, folder_answers
from fvlm_eval.reports.where import holds_run, not_a_run_hint
from fvlm_eval.stats import holm
from fvlm_eval.summarize import DEFAULT_ALPHA, flags
from fvlm_eval.summary import Summary

LARGEST_STEP = 2**63 - 1  # a training step is an int64 (numpy, torch, TensorBoard); run --step takes no more
STEP_WORDS = r"(?:global[_-]?step|step|checkpoint|ckpt|iteration|iter)[_-]?(\d+)"


class TrackError(FvlmEvalError, ValueError):
    """Runs that cannot be tracked (not a run folder, no step, two runs at one step): one line."""


@dataclass(frozen=True)
class Checkpoint:
    step: int
    folder: Path
    step_from: str  # "manifest" or "folder name"
    summaries: dict[tuple[str, str], Summary]  # computed from the records
    answers: dict[tuple[str, str], FolderAnswers] = field(default_factory=dict)  # its records, as track reads them
    warnings: tuple[str, ...] = ()  # what reading it said (a summary missing, stale, hand-edited ...)
    settings: dict[tuple[str, str], dict | None] = field(default_factory=dict)  # each folder's settings.json


@dataclass(frozen=True)
class Point:
    """One protocol's accuracy at one step, with what ``report`` says beside it: ``failed``, the questions of ``n``
    that failed (never answered: a missing video, a row that could not be read; counted wrong, as everywhere);
    ``unparseable``, a generated answer's that could not be read (``all_unparseable``: none could); ``flags``, the
    run's own reasons not to read the number as skill (not above chance, not above always answering one letter);
    ``settings``, the settings ``regress`` compares, as the run's ``settings.json`` gives them (``None``: unknown)."""

    step: int
    run: str
    benchmark: str
    mode: str
    protocol: str
    formulation: str
    accuracy: float | None
    low: float | None
    high: float | None
    correct: int
    n: int
    chance: float | None
    failed: int = 0
    unparseable: int | None = None
    all_unparseable: bool = False
    flags: tuple[str, ...] = ()
    settings: tuple | None = None

    @property
    def all_failed(self) -> bool:
        """Every question failed: the 0 it counts says nothing about the model."""
        return self.n > 0 and self.failed >= self.n


def step_from_name(name: str) -> int | None:
    """The training step in a folder name (the last number after a step word, or a name that is
    only a number), or None."""
    found = re.findall(STEP_WORDS, name, flags=re.IGNORECASE)
    if found:
        return int(found[-1])
    return int(name) if name.isdigit() else None


def find_runs(paths: list[Path], repeated: list[Path] | None = None) -> list[Path]:
    """Run folders among ``paths``: each a run, or a folder whose sub-folders are runs. A folder given
    twice (``A A``, ``A ./A/``, a link to it, or inside a folder of runs also given) is read once and
    appended to ``repeated``, so that the caller can say so."""
    if not paths:
        raise TrackError("no runs given: pass run folders (the --output-dir of fvlm-eval run) or a folder of them")
    runs = []
    for path in map(Path, paths):
        if path.is_file():
            raise TrackError(
                f"{path}: a file, not a folder; give run folders (the --output-dir of fvlm-eval run) "
                "or a folder of them"
            )
        if not path.is_dir():
            raise TrackError(f"{path}: {not_a_folder(path)}")
        if holds_run(path):
            runs.append(path)
            continue
        children = sorted(p for p in path.iterdir() if p.is_dir() and holds_run(p))
        if not children:
            raise TrackError(
                f"{path}: not a run folder (no <benchmark>/<mode>/samples.jsonl or summary.json) and no sub-folder "
                f"is one; {not_a_run_hint(path)}"
            )
        runs += children
    once: dict[Path, Path] = {}
    for run in runs:
        if run.resolve() in once:
            if repeated is not None:
                repeated.append(run)
        else:
            once[run.resolve()] = run
    return list(once.values())


def whole_step(value, where: Path) -> int:
    """A manifest's ``step`` as an int: a whole number (an int, or a float with no fraction) from 0 to
    ``LARGEST_STEP`` (what ``run --step`` takes), else one line."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value != int(value) or not 0 <= value <= LARGEST_STEP:
        raise TrackError(
            f"{where}: its manifest's step {value!r} is not a whole number from 0 to {LARGEST_STEP} "
            "(fvlm-eval run --step N)"
        )
    return int(value)


def checkpoint(folder: Path, shared: SharedValues | None = None) -> Checkpoint:
    """One run folder read by the one rule (see the module docstring); its records reduced to what track reads
    (``answers``), their equal values stored once across the checkpoints sharing ``shared``."""
    warnings: list[str] = []
    uninstalled: dict[tuple[str, str], dict] = {}  # a benchmark not installed now: left out, its step still told
    try:
        read = read_run(folder, warnings, uninstalled)
    except ReportError as error:  # one checkpoint that cannot be read: the others can be tracked without it
        raise TrackError(f"{error}; or track the other checkpoints without {folder}") from error
    summaries = {key: summary for key, (summary, _) in read.items()}
    shared = shared or SharedValues()
    answers = {
        key: folder_answers(key[0], loaded.records, loaded.settings, shared) for key, (_, loaded) in read.items()
    }
    settings = {key: loaded.settings for key, (_, loaded) in read.items()}
    manifests = {**uninstalled, **{key: summary.manifest for key, summary in summaries.items()}}
    steps = {
        whole_step(manifest["step"], folder / benchmark / mode / "summary.json")
        for (benchmark, mode), manifest in manifests.items()
        if manifest.get("step") is not None
    }
    if len(steps) > 1:
        raise TrackError(
            f"{folder}: its summaries name different steps ({', '.join(map(str, sorted(steps)))}); "
            "one run folder is one checkpoint"
        )
    if steps:
        return Checkpoint(steps.pop(), folder, "manifest", summaries, answers, tuple(warnings), settings)
    step = step_from_name(folder.name)
    if step is not None and step > LARGEST_STEP:
        raise TrackError(f"{folder}: the step in its name, {step}, is larger than {LARGEST_STEP}: not a training step")
    if step is None:
        raise TrackError(
            f"{folder}: no training step: neither its manifest (fvlm-eval run --step N; a run without a "
            "summary.json yet has none) nor its name (step_9000, checkpoint-9000, ckpt9000, ...) gives one"
        )
    return Checkpoint(step, folder, "folder name", summaries, answers, tuple(warnings), settings)


def load_checkpoints(paths: list[Path]) -> list[Checkpoint]:
    repeated: list[Path] = []
    shared = SharedValues()
    found = sorted((checkpoint(run, shared) for run in find_runs(paths, repeated)), key=lambda c: c.step)
    for twice in repeated:
        at = next(i for i, c in enumerate(found) if c.folder.resolve() == twice.resolve())
        note = f"{twice}: given more than once; tracked once"
        found[at] = replace(found[at], warnings=(*found[at].warnings, note))
    if found and not any(c.summaries for c in found):  # every benchmark left out (not installed now)
        raise TrackError(f"nothing to track: {next((w for c in found for w in c.warnings), 'no summaries')}")
    for before, after in zip(found, found[1:]):
        if before.step == after.step:
            raise TrackError(f"two runs at step {before.step}: {before.folder} and {after.folder}; track one of them")
    return found


# The settings ``regress`` compares, and as it does, for a cloze protocol its framing, for a generated one the letter
# reader that read its answers (track ranked and paired across them, "no significant change" across a change of
# prompt, or a drop that was a change of reading)
TRACKED_SETTINGS = (*COMPARED_SETTINGS, "cloze_framing", "letter_reader")
GENERATED_PROTOCOLS = (GENERATED, CIRCULAR + GENERATED)


def settings_key(settings: dict | None, framing: str | None = None, reader: object = None) -> tuple | None:
    """The ``TRACKED_SETTINGS`` as one value, or ``None`` when unknown; ``framing``: a cloze protocol's framing,
    ``reader``: a generated protocol's letter reader (``None`` for any other protocol, which they do not change)."""
    return None if settings is None else (*(settings.get(name) for name in COMPARED_SETTINGS), framing, reader)


def _reader(answers: FolderAnswers, step: int) -> object:
    """The letter reader that read a checkpoint's generated answers; where that is not one known reader (a reader
    from before versions were recorded, or several), a value no other checkpoint shares: two unknown readers may
    differ (regress refuses them), and were ranked and paired as one."""
    readers = set(answers.readers)
    if readers and None not in readers and len(readers) == 1:
        return readers.pop()
    return f"not recorded (step {step})" if readers == {None} else f"mixed (step {step})" if readers else None


def points(checkpoints: list[Checkpoint], shown: list[str] | None = None, alpha: float = DEFAULT_ALPHA) -> list[Point]:
    """Every checkpoint's accuracy per benchmark, mode and protocol, each with its reasons not to be read as skill.
    The points of the ``shown`` protocols are one family: each above-chance p-value is Holm-adjusted over all of
    them, every checkpoint's (a summary adjusts over its own protocols only: the best of K random checkpoints on
    each of 27 lines cleared that bar in most tracks, and was named the winner)."""
    found = []  # (point without its flags, its result, how many questions it answered)
    for ckpt in checkpoints:
        for (benchmark, mode), summary in sorted(ckpt.summaries.items()):
            answers = ckpt.answers.get((benchmark, mode), FolderAnswers({}))
            failed = sum(1 for r in answers.by_id.values() if r.error is not None)
            for protocol, result in summary.accuracy.items():
                interval = result.ci95 or (None, None)
                answered = result.n - failed
                every = result.unparseable_all if result.unparseable_all is not None else result.unparseable
                point = Point(
                    ckpt.step,
                    str(ckpt.folder),
                    benchmark,
                    mode,
                    protocol,
                    formulation_of(protocol, result),
                    result.accuracy,
                    interval[0],
                    interval[1],
                    result.correct,
                    result.n,
                    result.chance,
                    failed=failed if result.accuracy is not None else 0,
                    unparseable=result.unparseable,
                    all_unparseable=bool(answered > 0 and every is not None and every >= answered),
                )
                own = ckpt.settings.get((benchmark, mode))
                framing = answers.cloze_framing if point.formulation == "cloze" else None
                reader = _reader(answers, ckpt.step) if protocol in GENERATED_PROTOCOLS else None
                found.append((replace(point, settings=settings_key(own, framing, reader)), result, answered))
    tested = [
        i
        for i, (point, result, answered) in enumerate(found)
        if answered > 0 and result.above_chance_p is not None and (shown is None or point.protocol in shown)
    ]
    adjusted = dict(zip(tested, holm([found[i][1].above_chance_p for i in tested])))
    return [
        replace(
            point,
            flags=tuple(
                flags(result, alpha=alpha, adjusted_p=adjusted.get(i), cells=len(tested) if i in adjusted else 1)
            ),
        )
        if answered > 0
        else point
        for i, (point, result, answered) in enumerate(found)
    ]


def chosen_protocols(checkpoints: list[Checkpoint], requested: list[str] | None) -> list[str]:
    """The protocols drawn and compared: those asked for, else every run's headline (and
    ``generated`` when recorded)."""
    measured = {p for c in checkpoints for s in c.summaries.values() for p in s.accuracy}
    if requested:
        missing = [p for p in requested if p not in measured]
        if missing:
            raise TrackError(
                f"--protocol {', '.join(missing)}: no run measured it; measured: {', '.join(sorted(measured))}"
            )
        return list(dict.fromkeys(requested))
    found = [s.headline_protocol for c in checkpoints for s in c.summaries.values()]
    found += ["generated"] if "generated" in measured else []
    return [p for p in dict.fromkeys(found) if p]
