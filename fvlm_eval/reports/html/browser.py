"""The question browser's data in ``report.html``: every question of every run, with its records.

No network and no external file: charts are inline PNG ``data:`` URIs, thumbnails inline JPEG.
The questions travel as one JSON blob in a ``<script type="application/json">`` element (``<``,
``>``, ``&`` and the JavaScript line separators written as ``\\uXXXX``, so no text can close the
element), parsed once by the page's script, which renders a page of questions at a time and
builds every text node with ``textContent`` (never HTML from data). A Content-Security-Policy
allows only the page's own script (by its hash) and ``data:`` images: no request can leave.

Per question and mode: the question, its options and gold letter, reloaded from the benchmark with the run's
``data_dir`` (from the summary's manifest, else from ``data_dir.json`` beside its settings, where a run records it
before its first record, so a run still writing or killed before its summary shows its questions too; absolute
since it is recorded so; an older run's relative one is looked for
from the run folder up, then from here: ``data_folder``; "question text not available" when that copy is gone;
"question changed since the run: text not shown" when today's question's ``question_sha256`` is not the record's, so
no new text, option or frame sits beside old scores); every protocol's choice, correctness and scores from the
records, and whether a failure was the model's (a wrong answer) or its data's (no answer, never a flip); the
generated answer, the letter read from it and how; and thumbnails of the sampled frames, read from the frame cache
when the run's entry is there, else decoded once with the run's sampling ("frames not available: why" when neither
works). One thumbnail strip per (media, sampling, frame transform), shared by the records that saw it so: each
result row names its own, so two runs that saw a media otherwise (another --frames; fVLM's transparent image on
black, SmolVLM2's on white) each show their own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.errors import RecordError
from fvlm_eval.files import DATA_DIR_FILE, read_json
from fvlm_eval.protocols import formulation, formulation_label, lower_is_better, protocol_name, protocol_order
from fvlm_eval.records import failed_by_the_model, question_sha256
from fvlm_eval.reports.freshness import load_run_folder
from fvlm_eval.reports.html.thumbnails import THUMBNAILS, all_thumbnails
from fvlm_eval.reports.read import run_names
from fvlm_eval.tasks import BENCHMARKS, get_benchmark

CONTEXT_CHARS = 1500  # a question's context or subtitles beyond this are cut (with a mark)


@dataclass(frozen=True)
class RunMode:
    """One (run, benchmark, mode) folder of records."""

    run: int
    benchmark: str
    mode: str
    folder: Path


def data_folder(data_dir: str, benchmark: str, run: Path) -> Path:
    """The data folder a manifest names: as recorded when absolute; a relative one (an older run recorded
    it as typed) from the run folder or the first folder above it that holds the benchmark's copy, else
    from the current folder."""
    path = Path(data_dir).expanduser()
    if path.is_absolute():
        return path
    run = Path(run).resolve()
    for base in (run, *run.parents):
        if get_benchmark(benchmark).folder(base / path).exists():
            return base / path
    return path.resolve()


def data_folders(summary: dict | None, benchmark: str, run: Path, folder: Path) -> tuple[Path, ...]:
    """Where a run's data may be, best first: its summary's manifest's ``data_dir`` (the run that wrote the
    summary), then the one its run recorded in ``folder`` (``DATA_DIR_FILE``, before the first record: a run still
    writing, or killed before its summary, has no manifest), each found by ``data_folder``."""
    manifest = (summary or {}).get("manifest")
    named = [
        manifest.get("data_dir") if isinstance(manifest, dict) else None,
        recorded_data_dir(folder)[0],
    ]
    found = [data_folder(d, benchmark, run) for d in named if isinstance(d, str) and d]
    return tuple(dict.fromkeys(found))


def recorded_data_dir(folder: Path) -> tuple[str | None, str | None]:
    """The data folder the run of ``folder`` recorded in its ``DATA_DIR_FILE``, or (None, why not: None when there
    is none, as for a run made before runs recorded it there)."""
    path = Path(folder) / DATA_DIR_FILE
    if not path.exists():
        return None, None
    try:
        recorded = read_json(path)
    except RecordError as error:
        return None, str(error)
    found = recorded.get("data_dir") if isinstance(recorded, dict) else None
    return (found, None) if isinstance(found, str) and found else (None, f"{path}: names no data_dir")


def no_data_folder(summary: dict | None, folder: Path) -> str:
    """Why a run's data folder is unknown, as it is (its run wrote no data_dir.json: made before runs recorded it
    there; or one that cannot be read): no summary yet (a run still writing or killed before it), one that is no
    summary, or a manifest that names none."""
    unreadable = recorded_data_dir(folder)[1]
    why = unreadable or f"its run wrote no {DATA_DIR_FILE}: it was made before runs recorded their data folder there"
    if not (folder / "summary.json").is_file():
        return f"no summary yet (its run has not finished): its data folder is unknown ({why})"
    if not summary:
        return f"its summary.json is not a summary: its data folder is unknown ({why})"
    return "the run's manifest names no data folder" + (f" ({unreadable})" if unreadable else "")


def _first_readable(
    benchmark: str, settings: dict, folders: tuple[Path, ...], why_none: str
) -> tuple[dict, dict, str | None]:
    """``_load_questions`` of the first of ``folders`` that reads, else why the first does not (``why_none`` when
    there is none): the copy a summary names gone, the one the run was first made with may still be there."""
    if not folders:
        return {}, {}, why_none
    first = _load_questions(benchmark, settings, folders[0])
    for folder in folders[1:] if first[2] else ():
        found = _load_questions(benchmark, settings, folder)
        if found[2] is None:
            return found
    return first


def _load_questions(benchmark: str, settings: dict, data_dir: Path) -> tuple[dict, dict, str | None]:
    """(id -> Question of the benchmark's copy at ``data_dir``, id -> its ``question_sha256`` today,
    computed as the runner does), or ({}, {}, why not)."""
    try:
        adapter = get_benchmark(benchmark, subtitles=bool(settings.get("subtitles")))
        loaded = adapter.load(Path(data_dir))
        hashes = {
            q.id: question_sha256(q, adapter.prompt(q) if q.options else "", adapter.version) for q in loaded.questions
        }
    except Exception as error:  # a moved or partial copy: the browser still shows the records
        return {}, {}, f"{benchmark} data not readable at {data_dir} ({type(error).__name__}: {str(error)[:200]})"
    return {q.id: q for q in loaded.questions}, hashes, None


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


def _compact(record, order: list[str]) -> tuple[str, str, list]:
    """A record's predictions, correctness and scores aligned with ``order`` (see ``browser_data``)."""
    pred = "".join("-" if p not in record.pred else (record.pred[p] or ".")[:1] for p in order)
    correct = "".join("-" if p not in record.correct else "1" if record.correct[p] else "0" for p in order)
    scores = [_scores(record.scores.get(p), record.letters) or 0 for p in order]
    while scores and scores[-1] == 0:
        scores.pop()
    return pred, correct, scores


def _run_modes(runs: list[Path]) -> list[RunMode]:
    found = []
    for index, run in enumerate(runs):
        for samples in sorted(Path(run).glob("*/*/samples.jsonl")):
            if samples.parent.parent.name in BENCHMARKS:  # one not installed now (a plugin's) is left out, as read says
                found.append(RunMode(index, samples.parent.parent.name, samples.parent.name, samples.parent))
    return found


def browser_data(
    runs: list[Path],
    thumbnails_per_media: int = THUMBNAILS,
    frame_cache: Path | None = None,
    warnings: list[str] | None = None,
    workers: int | None = None,
    say=None,
) -> dict:
    """The question browser's data: runs, protocols, questions (text, options, gold, media) and one
    result per (run, mode, question). ``warnings`` collects what could not be shown and why;
    ``workers``: processes making thumbnails; ``say``: where to tell what takes time."""
    from fvlm_eval.media.frame_cache import default_cache_dir

    warnings = warnings if warnings is not None else []
    cache_dir = frame_cache or default_cache_dir()
    runs = [Path(r) for r in runs]
    names = run_names(runs)
    questions: list[dict] = []
    question_index: dict[tuple, int] = {}
    versions: dict[tuple[str, str], set] = {}  # (benchmark, id) -> the question hashes its records were asked with
    media: list[dict] = []  # one thumbnail strip (or why none) per distinct way a media was seen, shared
    media_index: dict[tuple, int] = {}
    strips: list[int] = []  # the media entries thumbnails are made for, in the order of ``tasks``
    results: list[list] = []
    protocols: dict[str, dict] = {}
    loaded: dict[tuple, tuple[dict, dict, str | None]] = {}
    tasks: list[tuple] = []  # one per distinct (media, sampling, transform): its thumbnails' arguments
    headlines: dict[str, int] = {}
    framings: set[str] = set()
    for part in _run_modes(runs):
        try:  # the one rule of report and regress: records are the truth, ``correct`` recomputed
            loaded_folder = load_run_folder(part.folder)
        except RecordError as error:
            warnings.append(f"{names[part.run]}: {error}")
            continue
        records = list(loaded_folder.records.values())
        summary = loaded_folder.summary or {}
        settings = loaded_folder.settings or {}  # read once, by the one rule (unreadable or not an object: warned)
        manifest = summary.get("manifest") if isinstance(summary.get("manifest"), dict) else {}
        if loaded_folder.headline_protocol:
            headlines[loaded_folder.headline_protocol] = headlines.get(loaded_folder.headline_protocol, 0) + 1
        framings |= {r.cloze["framing"] for r in records if r.cloze and isinstance(r.cloze.get("framing"), str)}
        folders = data_folders(summary, part.benchmark, runs[part.run], part.folder)
        why_none = "" if folders else no_data_folder(loaded_folder.summary, part.folder)
        key = (part.benchmark, folders, bool(settings.get("subtitles")), why_none)
        if key not in loaded:
            loaded[key] = _first_readable(part.benchmark, settings, folders, why_none)
            if loaded[key][2]:
                warnings.append(
                    f"{names[part.run]} {part.benchmark}: {loaded[key][2]}; questions show without their text"
                )
        by_id, hashes, why = loaded[key]
        sampling_text = settings.get("sampling") or manifest.get("frames")
        for name, block in summary.get("accuracy", {}).items():
            protocols.setdefault(
                name,
                {
                    "formulation": block.get("formulation")
                    if isinstance(block, dict) and block.get("formulation")
                    else formulation(name)
                },
            )
        for record in records:
            question = by_id.get(record.id)
            # today's text beside the run's scores only when it is what the run scored (same hash)
            changed = question is not None and hashes.get(record.id) != record.question_sha256
            # runs on two copies of the data (an annotation fixed) asked two questions under one id: two entries
            qkey = (part.benchmark, record.id, record.question_sha256, changed)
            if qkey not in question_index:
                versions.setdefault((part.benchmark, record.id), set()).add(record.question_sha256)
                entry = {
                    "id": record.id,
                    "b": part.benchmark,
                    "gold": record.gold,
                    "letters": list(record.letters),
                    "fields": {str(k): str(v) for k, v in record.fields.items()},
                }
                if changed:
                    entry["changed"] = True
                    entry["missing"] = "question changed since the run: text not shown"
                    entry["options"] = [[letter, None] for letter in record.letters]
                    if thumbnails_per_media > 0:
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
                question_index[qkey] = len(questions)
                questions.append(entry)
            strip = None  # this record's view of its media: its run's sampling and frame transform (the model's)
            if thumbnails_per_media > 0 and question is not None and not changed:
                transform = settings.get("frame_transform")
                mkey = (question.media.key, sampling_text, transform) if sampling_text else ("no sampling",)
                if mkey not in media_index:
                    media_index[mkey] = len(media)
                    if sampling_text:
                        media.append({"key": question.media.key})
                        strips.append(media_index[mkey])
                        tasks.append((question.media, sampling_text, transform, cache_dir, thumbnails_per_media))
                    else:
                        media.append({"note": "frames not available: the run does not record its sampling"})
                strip = media_index[mkey]
            for name in list(record.scores) + list(record.pred):
                protocols.setdefault(name, {"formulation": formulation(name)})
            generated = None
            if record.generated is not None:
                generated = [record.generated.get(k) for k in ("text", "letter", "status", "error")]
            frames = [record.frames[0], record.frames[-1], len(record.frames)] if record.frames else None
            results.append([question_index[qkey], part.run, part.mode, record, generated, record.error, frames, strip])
    differing = [key for key, hashes_seen in versions.items() if len(hashes_seen) > 1]
    if differing:
        warnings.append(
            f"{len(differing)} question id(s) were asked with other text, options or gold in different runs "
            f"(another copy of the data, or a setting that changes the prompt, such as --subtitles), e.g. "
            f"{differing[0][1]}: each is shown apart, never compared"
        )
    for index, thumbs in zip(strips, all_thumbnails(tasks, workers, say)):
        media[index].update(thumbs)
    order = protocol_order(protocols)
    modes = list(dict.fromkeys(r[2] for r in results))
    headline = max(headlines, key=lambda p: (headlines[p], p in order), default=None)
    return {
        "runs": names,
        "headline": headline if headline in order else (order[0] if order else None),
        "framings": sorted(framings),
        "benchmarks": {
            b: {"title": BENCHMARKS[b]().title, "category": BENCHMARKS[b]().category_field}
            for b in dict.fromkeys(q["b"] for q in questions)
            if b in BENCHMARKS
        },
        "protocols": [
            {
                "name": p,
                "formulation": protocols[p]["formulation"],
                "label": protocol_name(p),
                "lower": lower_is_better(p),
            }
            for p in order
        ],
        "formulations": {f: formulation_label(f) for f in dict.fromkeys(protocols[p]["formulation"] for p in order)},
        "questions": questions,
        "media": media,
        "modes": modes,
        # per result: [question, run, mode index, pred, correct, scores, generated, error, frames, media], where
        # pred holds one character per protocol of "protocols" (its letter; "." none; "-" not recorded),
        # correct "1"/"0"/"-" likewise, scores a list per protocol (the options' scores in letter order, or 0),
        # generated [text, letter read, status, error], frames [first, last, count] of the sampled indices, media
        # the index in "media" of the thumbnails of what its run's model saw (or null); a failed record's row ends
        # with 1 when the model failed (its answer, wrong), 0 when its data did (no answer, never a flip, as regress
        # and track pair questions)
        "results": [
            [q, run, modes.index(mode), *_compact(record, order), generated, error, frames, strip]
            + ([int(failed_by_the_model(error))] if error is not None else [])
            for q, run, mode, record, generated, error, frames, strip in results
        ],
    }


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
