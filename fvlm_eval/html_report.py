"""``report.html``: the report's tables and charts and a question browser, in one self-contained file.

No network and no external file: charts are inline PNG ``data:`` URIs, thumbnails inline JPEG.
The questions travel as one JSON blob in a ``<script type="application/json">`` element (``<``,
``>``, ``&`` and the JavaScript line separators written as ``\\uXXXX``, so no text can close the
element), parsed once by the page's script, which renders a page of questions at a time and
builds every text node with ``textContent`` (never HTML from data). A Content-Security-Policy
allows only the page's own script (by its hash) and ``data:`` images: no request can leave.

Per question and mode: the question, its options and gold letter, reloaded from the benchmark
with the run's ``data_dir`` (from the manifest; "question text not available" when that copy is
gone; "question changed since the run: text not shown" when today's question's
``question_sha256`` is not the record's, so no new text, option or frame sits beside old scores); every protocol's choice, correctness and scores from the records; the generated answer,
the letter read from it and how; and thumbnails of the sampled frames, read from the frame cache
when the run's entry is there, else decoded once with the run's sampling ("frames not
available: why" when neither works). One thumbnail strip per media, shared by its questions.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fvlm_eval import scoring
from fvlm_eval.freshness import load_run_folder
from fvlm_eval.records import RecordError, read_json
from fvlm_eval.report import formulation_label, formulation_of, protocol_name, protocol_order, run_names
from fvlm_eval.tasks import BENCHMARKS
from fvlm_eval.types import Sampling

THUMBNAILS = 4  # per media, evenly spread over its sampled frames
THUMB_HEIGHT = 48  # px (benchmarks/RESULTS.md: file size and open time at the full suite's size)
THUMB_QUALITY = 60  # JPEG
CONTEXT_CHARS = 1500  # a question's context or subtitles beyond this are cut (with a mark)


@dataclass(frozen=True)
class RunMode:
    """One (run, benchmark, mode) folder of records."""

    run: int
    benchmark: str
    mode: str
    folder: Path


def parse_sampling(text: str) -> Sampling:
    """The inverse of ``Sampling.describe`` (``uniform:64``, ``fps:64@1fps``, ``smolvlm:64@1fps-skip1s``)."""
    match = re.fullmatch(r"(\w+):(\d+)(?:@([\d.]+)fps)?(?:-skip([\d.]+)s)?", text or "")
    if not match:
        raise ValueError(f"not a sampling description: {text!r}")
    policy, frames, fps, skip = match.groups()
    return Sampling(policy, int(frames), float(fps) if fps else None, float(skip) if skip else 0.0)


def _strip(frames, labels: list[str]) -> dict:
    """Frames (uint8 HxWx3) as one JPEG strip THUMB_HEIGHT tall, base64, with each frame's width."""
    from PIL import Image

    images = []
    for frame in frames:
        image = Image.fromarray(frame)
        width = max(1, round(image.width * THUMB_HEIGHT / max(image.height, 1)))
        images.append(image.resize((width, THUMB_HEIGHT), Image.BILINEAR))
    strip = Image.new("RGB", (sum(i.width for i in images), THUMB_HEIGHT))
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width
    buffer = io.BytesIO()
    strip.save(buffer, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return {"jpeg": base64.b64encode(buffer.getvalue()).decode("ascii"), "widths": [i.width for i in images],
            "labels": labels}


def _pick(count: int, wanted: int) -> list[int]:
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)}) if wanted > 1 else [count // 2]


def thumbnails(media, sampling: Sampling, transform_key: str | None, cache_dir: Path | None, count: int) -> dict:
    """A thumbnail strip of ``count`` of the media's sampled frames, or ``{"note": why not}``."""
    from fvlm_eval.frame_cache import FrameCache
    from fvlm_eval.media import MediaError, decode

    clip = None
    if cache_dir is not None and transform_key:
        cache = FrameCache(cache_dir)
        try:
            clip, _ = cache.get(cache.key(media, sampling, transform_key), media)
        except OSError:
            clip = None
    try:
        if clip is not None:
            frames, frame_map, indices, times = clip.frames, clip.frame_map, clip.indices, clip.timestamps
            source = "frame cache"
        else:
            decoded = decode(media, sampling)
            frames, frame_map, indices, times = decoded.frames, decoded.frame_map, decoded.indices, decoded.timestamps
            source = "decoded"
        chosen = _pick(len(frame_map), count)
        labels = [f"#{indices[i]}" + (f" {times[i]:.1f}s" if times else "") for i in chosen]
        return {**_strip([frames[frame_map[i]] for i in chosen], labels), "source": source,
                "sampled": len(frame_map)}
    except MediaError as error:
        return {"note": f"frames not available: {error}"}
    except Exception as error:  # a thumbnail must never stop the report
        return {"note": f"frames not available: {type(error).__name__}: {error}"}


def _load_questions(benchmark: str, settings: dict, data_dir: str | None) -> tuple[dict, dict, str | None]:
    """(id -> Question of the benchmark's copy at ``data_dir``, id -> its ``question_sha256`` today,
    computed as the runner does), or ({}, {}, why not)."""
    from fvlm_eval.records import question_sha256
    from fvlm_eval.runner import benchmark_named

    if not data_dir:
        return {}, {}, "the run's manifest names no data folder"
    try:
        adapter = benchmark_named(benchmark, bool(settings.get("subtitles")))
        loaded = adapter.load(Path(data_dir))
        hashes = {q.id: question_sha256(q, adapter.prompt(q) if q.options else "", adapter.version)
                  for q in loaded.questions}
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
            found.append(RunMode(index, samples.parent.parent.name, samples.parent.name, samples.parent))
    return found


def _thumbnail_task(task: tuple) -> dict:
    media, sampling_text, transform_key, cache_dir, count = task
    try:
        sampling = parse_sampling(sampling_text)
    except ValueError as error:
        return {"note": f"frames not available: {error}"}
    return thumbnails(media, sampling, transform_key, cache_dir, count)


def _all_thumbnails(tasks: list[tuple], workers: int | None, say=None) -> list[dict]:
    """Every media's thumbnails, in order: in ``workers`` processes (default: the machine's cores,
    at most 8) when there are many, else here."""
    import os

    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    if say and tasks:
        say(f"report.html: thumbnails of {len(tasks)} media (frame cache, else decoded; {max(workers, 1)} processes)")
    if workers <= 1 or len(tasks) < 64:  # a pool costs seconds to start
        return [_thumbnail_task(task) for task in tasks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_thumbnail_task, tasks, chunksize=8))


def browser_data(runs: list[Path], thumbnails_per_media: int = THUMBNAILS, frame_cache: Path | None = None,
                 warnings: list[str] | None = None, workers: int | None = None, say=None) -> dict:
    """The question browser's data: runs, protocols, questions (text, options, gold, media) and one
    result per (run, mode, question). ``warnings`` collects what could not be shown and why;
    ``workers``: processes making thumbnails; ``say``: where to tell what takes time."""
    from fvlm_eval.frame_cache import default_cache_dir

    warnings = warnings if warnings is not None else []
    cache_dir = frame_cache or default_cache_dir()
    runs = [Path(r) for r in runs]
    names = run_names(runs)
    questions: list[dict] = []
    question_index: dict[tuple[str, str], int] = {}
    media: list[dict] = []
    media_index: dict[tuple, int] = {}
    results: list[list] = []
    protocols: dict[str, dict] = {}
    loaded: dict[tuple, tuple[dict, str | None]] = {}
    tasks: list[tuple] = []  # one per distinct (media, sampling, transform): its thumbnails' arguments
    for part in _run_modes(runs):
        try:  # the one rule of report and regress: records are the truth, ``correct`` recomputed
            loaded_folder = load_run_folder(part.folder)
        except RecordError as error:
            warnings.append(f"{names[part.run]}: {error}")
            continue
        records = list(loaded_folder.records.values())
        summary = loaded_folder.summary or {}
        try:
            settings = read_json(part.folder / "settings.json")
        except RecordError:
            settings = {}
        manifest = summary.get("manifest", {})
        data_dir = manifest.get("data_dir")
        key = (part.benchmark, data_dir, bool(settings.get("subtitles")))
        if key not in loaded:
            loaded[key] = _load_questions(part.benchmark, settings, data_dir)
            if loaded[key][2]:
                warnings.append(f"{names[part.run]} {part.benchmark}: {loaded[key][2]}; questions show without their text")
        by_id, hashes, why = loaded[key]
        sampling_text = settings.get("sampling") or manifest.get("frames")
        for name, block in summary.get("accuracy", {}).items():
            protocols.setdefault(name, {"formulation": formulation_of(name, block)})
        for record in records:
            question = by_id.get(record.id)
            # today's text beside the run's scores only when it is what the run scored (same hash)
            changed = question is not None and hashes.get(record.id) != record.question_sha256
            qkey = (part.benchmark, record.id, changed)
            if qkey not in question_index:
                entry = {"id": record.id, "b": part.benchmark, "gold": record.gold, "letters": list(record.letters),
                         "fields": {str(k): str(v) for k, v in record.fields.items()}, "m": None}
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
                    if thumbnails_per_media > 0 and sampling_text:
                        mkey = (question.media.key, sampling_text, settings.get("frame_transform"))
                        if mkey not in media_index:
                            media_index[mkey] = len(media)
                            media.append({"key": question.media.key})
                            tasks.append((question.media, sampling_text, settings.get("frame_transform"), cache_dir,
                                          thumbnails_per_media))
                        entry["m"] = media_index[mkey]
                    elif thumbnails_per_media > 0:
                        entry["missing_frames"] = "frames not available: the run does not record its sampling"
                question_index[qkey] = len(questions)
                questions.append(entry)
            for name in list(record.scores) + list(record.pred):
                protocols.setdefault(name, {"formulation": formulation_of(name)})
            generated = None
            if record.generated is not None:
                generated = [record.generated.get(k) for k in ("text", "letter", "status", "error")]
            frames = [record.frames[0], record.frames[-1], len(record.frames)] if record.frames else None
            results.append([question_index[qkey], part.run, part.mode, record, generated, record.error, frames])
    for entry, thumbs in zip(media, _all_thumbnails(tasks, workers, say)):
        entry.update(thumbs)
    order = protocol_order(protocols)
    modes = list(dict.fromkeys(r[2] for r in results))
    return {
        "runs": names,
        "benchmarks": {b: {"title": BENCHMARKS[b]().title, "category": BENCHMARKS[b]().category_field}
                       for b in dict.fromkeys(q["b"] for q in questions) if b in BENCHMARKS},
        "protocols": [{"name": p, "formulation": protocols[p]["formulation"], "label": protocol_name(p),
                       "lower": scoring.lower_is_better(p)} for p in order],
        "formulations": {f: formulation_label(f) for f in dict.fromkeys(protocols[p]["formulation"] for p in order)},
        "questions": questions, "media": media,
        "modes": modes,
        # per result: [question, run, mode index, pred, correct, scores, generated, error, frames], where
        # pred holds one character per protocol of "protocols" (its letter; "." none; "-" not recorded),
        # correct "1"/"0"/"-" likewise, scores a list per protocol (the options' scores in letter order, or 0),
        # generated [text, letter read, status, error], frames [first, last, count] of the sampled indices
        "results": [[q, run, modes.index(mode), *_compact(record, order), generated, error, frames]
                    for q, run, mode, record, generated, error, frames in results],
    }


def json_for_script(value) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>``, ``&`` or U+2028/9 left raw."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _asset(name: str) -> str:
    return (resources.files("fvlm_eval") / "html_assets" / name).read_text(encoding="utf-8")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    caption = f"<caption>{_e(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def tables_html(report: dict) -> str:
    """The report's tables (as report.md has them), every text escaped."""
    from fvlm_eval.report import fmt

    benchmarks = report["benchmarks"]
    titles = [BENCHMARKS[b]().title for b in benchmarks]
    formulations = report.get("formulations", {})
    parts = ["<h2>Main comparison</h2>",
             "<p>Accuracy %, 95% interval (clustered by video), coverage and the chance level of a uniform guess on the "
             f"same questions; failed questions count as wrong. ⚠: not significantly above chance (exact test, alpha "
             f"{_e(report['alpha'])}) or not above always answering one letter.</p>",
             _table(["model and mode", "formulation", "protocol", *titles],
                    [[label, formulations.get(label, ""), report["protocols"][label],
                      *[fmt(report["main"][label].get(b, {}), b) for b in benchmarks]] for label in report["rows"]])]
    used = list(dict.fromkeys(formulations[label] for label in report["rows"] if label in formulations))
    parts.append("<ul>" + "".join(f"<li><b>{_e(f)}</b>: {_e(formulation_label(f))}</li>" for f in used) + "</ul>")
    flags = [f"{label} on {BENCHMARKS[b]().title}: {f}" for label in report["run_rows"] for b in benchmarks
             for f in report["main"][label].get(b, {}).get("flags", [])]
    if report.get("warnings") or flags:
        parts.append("<ul class='warn'>" + "".join(f"<li>{_e(w)}</li>" for w in report.get("warnings", []))
                     + "".join(f"<li>⚠ {_e(f)}</li>" for f in flags) + "</ul>")
    if report.get("full"):
        rows = []
        for row in report["full"]:
            cells = []
            for b in benchmarks:
                cell = row["cells"].get(b, {})
                chance = f" (chance {cell['chance']:.1f})" if cell.get("chance") is not None else ""
                cells.append(fmt(cell, b, with_coverage=False) + chance)
            rows.append([f"{row['run']} {row['mode']}", row["formulation"], row["protocol"], *cells])
        parts += ["<h2>Every protocol recorded, by formulation</h2>",
                  _table(["model and mode", "formulation", "protocol", *titles], rows)]
    for benchmark, table in report["breakdowns"].items():
        columns = [c for c in report["rows"] if any(c in r for r in table["rows"].values())]
        rows = [[value, *[fmt(cells.get(c, {}), with_coverage=False) for c in columns]] for value, cells in table["rows"].items()]
        parts += [f"<h2>{_e(BENCHMARKS[benchmark]().title)} by {_e(table['field'])}</h2>",
                  _table([table["field"], *columns], rows)]
    if report.get("sources"):
        parts.append("<h2>Sources</h2><ul>" + "".join(f"<li>{_e(c)}: {_e(s)}</li>" for c, s in report["sources"].items())
                     + "</ul>")
    return "\n".join(parts)


def render(report: dict, data: dict, charts: list[Path], warnings: list[str] = ()) -> str:
    script = _asset("browser.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    policy = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
              "base-uri 'none'; form-action 'none'")
    images = "".join(f'<figure><img alt="{_e(path.stem)}" src="data:image/png;base64,'
                     f'{base64.b64encode(path.read_bytes()).decode("ascii")}"><figcaption>{_e(path.name)}</figcaption></figure>'
                     for path in charts if path.is_file())
    notes = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fvlm-eval report</title>
<style>{_asset("browser.css")}</style></head>
<body>
<h1>fvlm-eval report</h1>
<nav><a href="#tables">Tables</a> · <a href="#charts">Charts</a> · <a href="#browser">Questions</a></nav>
<section id="tables">{tables_html(report)}</section>
<section id="charts"><h2>Charts</h2>{images}</section>
<section id="browser"><h2>Questions</h2>
<ul class="warn" id="browser-warnings">{notes}</ul>
<noscript>The question browser needs JavaScript; the tables above do not.</noscript>
<div id="filters"></div><p id="count" role="status"></p><div id="pager-top" class="pager"></div>
<table id="questions"><thead></thead><tbody></tbody></table><div id="pager-bottom" class="pager"></div>
</section>
<script type="application/json" id="fvlm-data">{json_for_script(data)}</script>
<script>{script}</script>
</body></html>
"""


def write_html(report: dict, runs: list[Path], folder: Path, charts: list[Path],
               thumbnails_per_media: int = THUMBNAILS, frame_cache: Path | None = None, workers: int | None = None,
               say=None) -> Path:
    """Write ``folder/report.html`` (see the module's docstring) and return its path."""
    from fvlm_eval.records import write_text_atomic

    warnings: list[str] = []
    data = browser_data(runs, thumbnails_per_media, frame_cache, warnings, workers, say)
    path = Path(folder) / "report.html"
    write_text_atomic(path, render(report, data, charts, warnings))
    return path
