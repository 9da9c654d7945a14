"""The question browser's data in ``report.html``: every question of every run, with its records.

No network and no external file: charts are inline PNG ``data:`` URIs, thumbnails inline JPEG.
The questions travel as one JSON blob in a ``<script type="application/json">`` element (``<``,
``>``, ``&`` and the JavaScript line separators written as ``\\uXXXX``, so no text can close the
element), parsed once by the page's script, which renders a page of questions at a time and
builds every text node with ``textContent`` (never HTML from data). A Content-Security-Policy
allows only the page's own script (by its hash) and ``data:`` images: no request can leave.

Per question and mode: the question, its options and gold letter, reloaded from the benchmark with the run's
data folder (``question_text``; "question text not available" when that copy is gone; "question changed since the
run: text not shown" when today's question's ``question_sha256`` is not the record's, so no new text, option or
frame sits beside old scores); every protocol's choice, correctness and scores from the records, and whether a
failure was the model's (a wrong answer) or its data's (no answer, never a flip); the generated answer, the letter
read from it and how; and thumbnails of the sampled frames, read from the frame cache when the run's entry is there,
else decoded once with the run's sampling ("frames not available: why" when neither works). One thumbnail strip per
(media, sampling, frame transform), shared by the records that saw it so: each result row names its own, so two runs
that saw a media otherwise (another --frames; fVLM's transparent image on black, SmolVLM2's on white) each show their
own.

The data is gathered one run folder at a time (``QuestionBrowser.add``), and of each record only its compact row is
kept: memory grows with the rows the page holds, never with the records' log-probabilities, cloze and circular
blocks. ``report`` hands it each folder as ``read.read_run`` reads it for the tables, so a folder is read once.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path

from fvlm_eval.errors import RecordError
from fvlm_eval.protocols import formulation, formulation_label, lower_is_better, protocol_name, protocol_order
from fvlm_eval.records import Record, failed_by_the_model
from fvlm_eval.reports.freshness import SAMPLES, RunFolder, load_run_folder
from fvlm_eval.reports.html.question_text import data_folders, first_readable, no_data_folder
from fvlm_eval.reports.html.thumbnails import THUMBNAILS, all_thumbnails
from fvlm_eval.reports.read import run_names
from fvlm_eval.tasks import BENCHMARKS

CONTEXT_CHARS = 1500  # a question's context or subtitles beyond this are cut (with a mark)


def _cut(text: str, limit: int = CONTEXT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f" […{len(text) - limit} more characters]"


def _score(value) -> float | str | None:
    """A score to 4 significant digits; an infinite or NaN one as its text (JSON has no such number)."""
    if value is None:
        return None
    value = float(value)
    return float(f"{value:.4g}") if math.isfinite(value) else str(value)


def _scores(values: dict | None, letters) -> list | None:
    if not values:
        return None
    return [_score(values.get(letter)) for letter in letters]


def _compact(record: Record, order: tuple[str, ...]) -> tuple[str, str, list]:
    """A record's predictions, correctness and scores aligned with ``order`` (see ``QuestionBrowser.data``)."""
    pred = "".join("-" if p not in record.pred else (record.pred[p] or ".")[:1] for p in order)
    correct = "".join("-" if p not in record.correct else "1" if record.correct[p] else "0" for p in order)
    scores = [_scores(record.scores.get(p), record.letters) or 0 for p in order]
    while scores and scores[-1] == 0:
        scores.pop()
    return pred, correct, scores


def _realigned(where: list[int | None], pred: str, correct: str, scores: list) -> tuple[str, str, list]:
    """A row ``_compact`` aligned with its folder's protocols, aligned with the page's instead (``where``: each of
    the page's protocols' place among the folder's, None when the folder recorded none of it): what ``_compact``
    gives with the page's order."""
    pred = "".join("-" if i is None else pred[i] for i in where)
    correct = "".join("-" if i is None else correct[i] for i in where)
    aligned = [0 if i is None or i >= len(scores) else scores[i] for i in where]
    while aligned and aligned[-1] == 0:
        aligned.pop()
    return pred, correct, aligned


def _run_folders(runs: list[Path]) -> list[tuple[int, Path]]:
    """(run index, folder) of every ``<benchmark>/<mode>`` folder holding records, in the order ``read_run`` reads
    them; one of a benchmark not installed now (a plugin's) is left out, as ``read_run`` says."""
    return [
        (index, folder)
        for index, run in enumerate(runs)
        for folder in sorted({samples.parent for samples in Path(run).glob(f"*/*/{SAMPLES}")})
        if folder.parent.name in BENCHMARKS
    ]


class QuestionBrowser:
    """The question browser's data, gathered one run folder at a time (``add``, or ``read``), made by ``data``:
    runs, protocols, questions (text, options, gold, media) and one result per (run, mode, question).
    ``warnings`` collects what could not be shown and why. Of each record only its compact row is kept, aligned
    with its own folder's protocols until ``data`` knows every run's."""

    def __init__(
        self,
        runs: list[Path],
        thumbnails_per_media: int = THUMBNAILS,
        frame_cache: Path | None = None,
        warnings: list[str] | None = None,
    ):
        from fvlm_eval.media.frame_cache import default_cache_dir

        self.runs = [Path(r) for r in runs]
        self.thumbnails_per_media = thumbnails_per_media
        self.cache_dir = frame_cache or default_cache_dir()
        self.warnings = warnings if warnings is not None else []
        self.questions: list[dict] = []
        self.question_index: dict[tuple, int] = {}
        self.versions: dict[tuple[str, str], set] = {}  # (benchmark, id) -> the question hashes it was asked with
        self.media: list[dict] = []  # one thumbnail strip (or why none) per distinct way a media was seen, shared
        self.media_index: dict[tuple, int] = {}
        self.strips: list[int] = []  # the media entries thumbnails are made for, in the order of ``tasks``
        self.tasks: list[tuple] = []  # one per distinct (media, sampling, transform): its thumbnails' arguments
        # per result: [question, run, mode, folder protocols (index in ``orders``), pred, correct, scores, generated,
        # error, frames, media], pred/correct/scores aligned with its folder's protocols
        self.rows: list[list] = []
        self.orders: list[tuple[str, ...]] = []
        self.protocols: dict[str, dict] = {}
        self.texts: dict[tuple, tuple[dict, dict, str | None]] = {}  # today's questions, per data folder
        self.headlines: dict[str, int] = {}
        self.framings: set[str] = set()

    @cached_property
    def names(self) -> list[str]:
        return run_names(self.runs)

    def read(self, run: int, folder: Path) -> None:
        """Read ``folder`` of ``runs[run]`` by the one rule of report and regress (records are the truth,
        ``correct`` recomputed) and ``add`` it; one that cannot be read is a warning."""
        try:
            loaded = load_run_folder(folder)
        except RecordError as error:
            self.warnings.append(f"{self.names[run]}: {error}")
            return
        self.add(run, loaded)

    def add(self, run: int, loaded: RunFolder) -> None:
        """Add one ``<benchmark>/<mode>`` folder of ``runs[run]`` as read by the one rule: its records' compact
        rows, their questions and media; nothing of the records themselves is kept."""
        folder = loaded.folder
        benchmark, mode = folder.parent.name, folder.name
        if benchmark not in BENCHMARKS or not (folder / SAMPLES).exists():  # as ``_run_folders`` finds them
            return
        records = list(loaded.records.values())
        summary = loaded.summary or {}
        settings = loaded.settings or {}  # read once, by the one rule (unreadable or not an object: warned)
        manifest = summary.get("manifest") if isinstance(summary.get("manifest"), dict) else {}
        if loaded.headline_protocol:
            self.headlines[loaded.headline_protocol] = self.headlines.get(loaded.headline_protocol, 0) + 1
        self.framings |= {r.cloze["framing"] for r in records if r.cloze and isinstance(r.cloze.get("framing"), str)}
        folders = data_folders(summary, benchmark, self.runs[run], folder)
        why_none = "" if folders else no_data_folder(loaded.summary, folder)
        key = (benchmark, folders, bool(settings.get("subtitles")), why_none)
        if key not in self.texts:
            self.texts[key] = first_readable(benchmark, settings, folders, why_none)
            if self.texts[key][2]:
                self.warnings.append(
                    f"{self.names[run]} {benchmark}: {self.texts[key][2]}; questions show without their text"
                )
        by_id, hashes, why = self.texts[key]
        sampling_text = settings.get("sampling") or manifest.get("frames")
        for name, block in summary.get("accuracy", {}).items():
            self.protocols.setdefault(
                name,
                {
                    "formulation": block.get("formulation")
                    if isinstance(block, dict) and block.get("formulation")
                    else formulation(name)
                },
            )
        order = tuple(dict.fromkeys(p for r in records for keys in (r.pred, r.correct, r.scores) for p in keys))
        self.orders.append(order)
        for record in records:
            question = by_id.get(record.id)
            # today's text beside the run's scores only when it is what the run scored (same hash)
            changed = question is not None and hashes.get(record.id) != record.question_sha256
            strip = None  # this record's view of its media: its run's sampling and frame transform (the model's)
            if self.thumbnails_per_media > 0 and question is not None and not changed:
                strip = self._strip(question, sampling_text, settings.get("frame_transform"))
            for name in list(record.scores) + list(record.pred):
                self.protocols.setdefault(name, {"formulation": formulation(name)})
            generated = None
            if record.generated is not None:
                generated = [record.generated.get(k) for k in ("text", "letter", "status", "error")]
            frames = [record.frames[0], record.frames[-1], len(record.frames)] if record.frames else None
            self.rows.append(
                [
                    self._question(benchmark, record, question, changed, why),
                    run,
                    mode,
                    len(self.orders) - 1,
                    *_compact(record, order),
                    generated,
                    record.error,
                    frames,
                    strip,
                ]
            )

    def _question(self, benchmark: str, record: Record, question, changed: bool, why: str | None) -> int:
        """The index of the record's question entry, made at its first record."""
        # runs on two copies of the data (an annotation fixed) asked two questions under one id: two entries
        qkey = (benchmark, record.id, record.question_sha256, changed)
        if qkey in self.question_index:
            return self.question_index[qkey]
        self.versions.setdefault((benchmark, record.id), set()).add(record.question_sha256)
        entry = {
            "id": record.id,
            "b": benchmark,
            "gold": record.gold,
            "letters": list(record.letters),
            "fields": {str(k): str(v) for k, v in record.fields.items()},
        }
        if changed:
            entry["changed"] = True
            entry["missing"] = "question changed since the run: text not shown"
            entry["options"] = [[letter, None] for letter in record.letters]
            if self.thumbnails_per_media > 0:
                entry["missing_frames"] = "frames not shown: the question changed since the run"
        elif question is None:
            entry["missing"] = why or "this question is not in the benchmark's copy any more"
            entry["options"] = [[letter, None] for letter in record.letters]
        else:
            entry["q"] = question.question
            entry["context"] = _cut(question.context) if question.context else None
            entry["options"] = [[o.letter, o.text] for o in question.options]
            if question.subtitles:
                entry["subtitles"] = _cut("\n".join(text for _, _, text in question.subtitles))
        self.question_index[qkey] = len(self.questions)
        self.questions.append(entry)
        return self.question_index[qkey]

    def _strip(self, question, sampling_text, transform) -> int:
        """The index of the media entry of ``question``'s media as its run saw it, made at its first sight."""
        mkey = (question.media.key, sampling_text, transform) if sampling_text else ("no sampling",)
        if mkey not in self.media_index:
            self.media_index[mkey] = len(self.media)
            if sampling_text:
                self.media.append({"key": question.media.key})
                self.strips.append(self.media_index[mkey])
                self.tasks.append((question.media, sampling_text, transform, self.cache_dir, self.thumbnails_per_media))
            else:
                self.media.append({"note": "frames not available: the run does not record its sampling"})
        return self.media_index[mkey]

    def data(self, workers: int | None = None, say=None) -> dict:
        """The question browser's data, the thumbnails made (``workers``: processes making them; ``say``: where
        to tell what takes time). Called once: the rows are realigned in place."""
        differing = [key for key, hashes_seen in self.versions.items() if len(hashes_seen) > 1]
        if differing:
            self.warnings.append(
                f"{len(differing)} question id(s) were asked with other text, options or gold in different runs "
                f"(another copy of the data, or a setting that changes the prompt, such as --subtitles), e.g. "
                f"{differing[0][1]}: each is shown apart, never compared"
            )
        for index, thumbs in zip(self.strips, all_thumbnails(self.tasks, workers, say)):
            self.media[index].update(thumbs)
        order = protocol_order(self.protocols)
        modes = list(dict.fromkeys(row[2] for row in self.rows))
        mode_index = {mode: i for i, mode in enumerate(modes)}
        where = [[own.index(p) if p in own else None for p in order] for own in self.orders]
        results = self.rows
        for i, (q, run, mode, own, pred, correct, scores, generated, error, frames, strip) in enumerate(results):
            results[i] = [
                q,
                run,
                mode_index[mode],
                *_realigned(where[own], pred, correct, scores),
                generated,
                error,
                frames,
                strip,
            ] + ([int(failed_by_the_model(error))] if error is not None else [])
        headline = max(self.headlines, key=lambda p: (self.headlines[p], p in order), default=None)
        return {
            "runs": self.names,
            "headline": headline if headline in order else (order[0] if order else None),
            "framings": sorted(self.framings),
            "benchmarks": {
                b: {"title": BENCHMARKS[b]().title, "category": BENCHMARKS[b]().category_field}
                for b in dict.fromkeys(q["b"] for q in self.questions)
                if b in BENCHMARKS
            },
            "protocols": [
                {
                    "name": p,
                    "formulation": self.protocols[p]["formulation"],
                    "label": protocol_name(p),
                    "lower": lower_is_better(p),
                }
                for p in order
            ],
            "formulations": {
                f: formulation_label(f) for f in dict.fromkeys(self.protocols[p]["formulation"] for p in order)
            },
            "questions": self.questions,
            "media": self.media,
            "modes": modes,
            # per result: [question, run, mode index, pred, correct, scores, generated, error, frames, media], where
            # pred holds one character per protocol of "protocols" (its letter; "." none; "-" not recorded),
            # correct "1"/"0"/"-" likewise, scores a list per protocol (the options' scores in letter order, or 0),
            # generated [text, letter read, status, error], frames [first, last, count] of the sampled indices, media
            # the index in "media" of the thumbnails of what its run's model saw (or null); a failed record's row
            # ends with 1 when the model failed (its answer, wrong), 0 when its data did (no answer, never a flip, as
            # regress and track pair questions)
            "results": results,
        }


def browser_data(
    runs: list[Path],
    thumbnails_per_media: int = THUMBNAILS,
    frame_cache: Path | None = None,
    warnings: list[str] | None = None,
    workers: int | None = None,
    say=None,
) -> dict:
    """The question browser's data of ``runs``, each folder read here (``report`` shares the folders it reads for
    its tables instead: ``QuestionBrowser``); ``warnings`` collects what could not be shown and why."""
    browser = QuestionBrowser(runs, thumbnails_per_media, frame_cache, warnings)
    for run, folder in _run_folders(browser.runs):
        browser.read(run, folder)
    return browser.data(workers, say)


def json_for_script(value) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>``, ``&`` or U+2028/9 left raw."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text
