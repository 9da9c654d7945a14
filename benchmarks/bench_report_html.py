"""report.html at the full suite's size: its file size, the time to make it, and the time headless Chromium takes
to open it.

Run folders shaped like a full-suite run are written (records, settings and summary, as ``fvlm-eval run``
writes them): MVBench 4,000 questions (one clip each), Video-MME 2,700 (900 videos x 3 questions),
ScienceQA 2,017 (one image each; ``--questions N``: at most N per benchmark); every question in ``--modes``
modes of ``--runs`` runs, with random scores under the 6 multiple-choice and 4 cloze protocols and a
generated answer. The page is made from them as ``fvlm-eval report`` makes it: the report (``build``, with
the published figures), its charts, the question browser's data (``browser_data``) and ``render``. Only what
a run's data folder would supply is synthetic: each question's text and options, and ``--thumbnails``
frames per media as one 48-px JPEG strip (crops of a real photograph, so they compress as real frames do).
The page is opened in headless Chromium (Debian's chromium + chromedriver) through selenium:
time to the page's ready mark (load, JSON parse, first page of questions), the page's own
parse-and-render time, a filter change, and opening one question with its thumbnails.

    python benchmarks/bench_report_html.py                       # 1 run x 3 modes, 4 thumbnails
    python benchmarks/bench_report_html.py --runs 2 --modes 3    # two checkpoints side by side
    python benchmarks/bench_report_html.py --questions 20 --modes 1 --thumbnails 0 --no-browser   # a smoke test
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # script_args, when this file is loaded by path

from script_args import at_least  # noqa: E402

from fvlm_eval.answers import LETTER_READER  # noqa: E402
from fvlm_eval.files import write_json_atomic  # noqa: E402
from fvlm_eval.protocols import DEFAULT_PROTOCOL, PROTOCOLS  # noqa: E402
from fvlm_eval.records import Record, append_records  # noqa: E402
from fvlm_eval.reports.baselines import read_baselines  # noqa: E402
from fvlm_eval.reports.build import build  # noqa: E402
from fvlm_eval.reports.charts import charts  # noqa: E402
from fvlm_eval.reports.html.browser import browser_data  # noqa: E402
from fvlm_eval.reports.html.page import render  # noqa: E402
from fvlm_eval.reports.html.thumbnails import _strip  # noqa: E402
from fvlm_eval.scoring import predict  # noqa: E402
from fvlm_eval.summarize import summarize_records  # noqa: E402
from fvlm_eval.tasks import get_benchmark  # noqa: E402

SUITE = {"mvbench": (4000, 4000), "videomme": (2700, 900), "scienceqa": (2017, 2017)}  # questions, media
MODES = ("coarse_only", "coarse_fine", "autoregressive")
LETTERS = ("A", "B", "C", "D")
OTHER_VALUES = 12  # values of a breakdown field other than the one coverage counts (task types, grades, ...)
SAMPLED = 16  # frames a video question records


def photo() -> np.ndarray:
    """A real photograph (matplotlib's sample image), so thumbnails compress as real frames do."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return np.asarray(image.convert("RGB"))


def frames(rng, count: int, source: np.ndarray) -> list[np.ndarray]:
    """``count`` different 16:9 crops of ``source`` (video-frame-like)."""
    height, width = source.shape[1] * 9 // 16, source.shape[1]
    return [source[y : y + height, :width] for y in rng.integers(0, source.shape[0] - height, count)]


def sizes(questions: int | None) -> dict[str, tuple[int, int]]:
    """benchmark -> (questions, media): the suite's, at most ``questions`` per benchmark (media in proportion)."""
    if questions is None:
        return dict(SUITE)
    return {b: (min(n, questions), max(1, min(n, questions) * media // n)) for b, (n, media) in SUITE.items()}


@functools.cache
def _fields(benchmark: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """A benchmark's breakdown fields, the one coverage counts, and that one's categories."""
    plugin = get_benchmark(benchmark)
    return tuple(plugin.breakdowns), plugin.category_field, tuple(plugin.expected())


def question_fields(benchmark: str, i: int) -> dict[str, str]:
    """A question's breakdown fields: the category coverage counts from the benchmark's own categories."""
    fields, counted, names = _fields(benchmark)
    return {field: names[i % len(names)] if field == counted else f"{field} {i % OTHER_VALUES}" for field in fields}


def records(benchmark: str, mode: str, count: int, media: int, rng) -> list[Record]:
    """One mode's records of ``count`` questions: random scores under every protocol (each ``pred`` its scores'
    choice, a cloze block the cloze scores come from), a generated answer, the sampled frames."""
    scores = rng.normal(-5, 2, (count, len(PROTOCOLS) + 2, len(LETTERS)))  # MC; then cloze: answer, neutral
    byte = rng.normal(-2, 0.5, (count, len(LETTERS)))
    generated = rng.integers(0, len(LETTERS), count)
    video = benchmark != "scienceqa"
    found = []
    for i in range(count):
        by_protocol = {p: dict(zip(LETTERS, scores[i, k].tolist())) for k, p in enumerate(PROTOCOLS)}
        answer, neutral = scores[i, -2].tolist(), scores[i, -1].tolist()
        cloze = dict(zip(LETTERS, answer))
        by_protocol.update(
            cloze_sum=cloze,
            cloze_token=dict(cloze),
            cloze_byte=dict(zip(LETTERS, byte[i].tolist())),
            cloze_pmi={letter: a - n for letter, a, n in zip(LETTERS, answer, neutral)},
        )
        pred = {p: predict(p, s) for p, s in by_protocol.items()}
        letter = LETTERS[generated[i]]
        pred["generated"] = letter
        gold = LETTERS[i % len(LETTERS)]
        found.append(
            Record(
                id=f"{benchmark}/{i:05d}",
                benchmark=benchmark,
                mode=mode,
                group=f"{benchmark}/video{i * media // count}" if benchmark == "videomme" else f"{benchmark}/{i:05d}",
                gold=gold,
                letters=LETTERS,
                fields=question_fields(benchmark, i),
                scores=by_protocol,
                pred=pred,
                correct={p: v == gold for p, v in pred.items()},
                options=None,
                question_sha256=f"{i:064x}",
                prompt_sha256="p" * 64,
                source="synthetic",
                source_sha256="s" * 64,
                frames=tuple(range(0, 10 * SAMPLED, 10)) if video else (0,),
                timestamps=tuple(k * 0.4 for k in range(SAMPLED)) if video else None,
                media_note=None,
                error=None,
                generated={
                    "text": f"{letter}. option text",
                    "letter": letter,
                    "status": "letter",
                    "reader": LETTER_READER,
                },
                cloze={
                    "framing": "plain",
                    "prompt_sha256": "c" * 64,
                    "options": {
                        option: {"token_ids": [100 + k], "logprobs": [answer[k]], "neutral_logprobs": [neutral[k]]}
                        for k, option in enumerate(LETTERS)
                    },
                },
                circular=None,
                notes=(),
                recorded_at=1.0,
            )
        )
    return found


def write_runs(root: Path, runs: int, modes: int, shape: dict[str, tuple[int, int]], seed: int = 0) -> list[Path]:
    """``runs`` run folders (``step_1000``, ``step_2000``...) under ``root``, as ``fvlm-eval run`` writes them."""
    rng = np.random.default_rng(seed)
    folders = []
    for r in range(runs):
        run = root / f"step_{1000 * (r + 1)}"
        for benchmark, (count, media) in shape.items():
            for mode in MODES[:modes]:
                target = run / benchmark / mode
                made = records(benchmark, mode, count, media, rng)
                append_records(target / "samples.jsonl", made)
                settings = {"benchmark": benchmark, "mode": mode, "family": "fvlm", "cloze_framing": "plain"}
                write_json_atomic(target / "settings.json", {**settings, "sampling": "uniform:16", "dtype": "float32"})
                summary = summarize_records(get_benchmark(benchmark), mode, made, len(made), DEFAULT_PROTOCOL).to_json()
                summary["manifest"] = {"model": {"family": "fvlm", "name": run.name}}
                summary["questions"] = [record.id for record in made]
                write_json_atomic(target / "summary.json", summary)
        folders.append(run)
    return folders


def with_questions_and_media(data: dict, shape: dict[str, tuple[int, int]], thumbs: int, seed: int = 0) -> dict:
    """The question browser's data with what a run's data folder would supply: each question's text and options,
    and ``thumbs`` frames per media (a video's; an image: one) as one JPEG strip."""
    rng = np.random.default_rng(seed)
    source = photo() if thumbs else None
    first_media = {}
    for benchmark, (_, media) in shape.items():
        first_media[benchmark] = len(data["media"])
        for v in range(media if thumbs else 0):
            n = 1 if benchmark == "scienceqa" else thumbs
            strip = _strip(frames(rng, n, source), [f"frame {k * 10} · {k * 0.4:.1f}s" for k in range(n)])
            data["media"].append({"key": f"{benchmark}/{v}", **strip, "source": "decoded", "sampled": SAMPLED})
    strip_of = {}  # question index -> its media strip (the page reads it from each result row: a run's own view)
    for index, question in enumerate(data["questions"]):
        benchmark, i = question["b"], int(question["id"].split("/")[1])
        count, media = shape[benchmark]
        question.pop("missing", None)
        question["q"] = (
            f"Question {i}: what does the person in the video do after picking up the object on the table, and why?"
        )
        question["context"] = None
        question["options"] = [
            [letter, f"option {letter}: the person does something plausible number {i}"] for letter in LETTERS
        ]
        strip_of[index] = first_media[benchmark] + i * media // count if thumbs else None
    for row in data["results"]:
        row[9] = strip_of[row[0]]
    return data


def open_in_chromium(path: Path) -> dict:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")), options=options
    )
    try:
        start = time.perf_counter()
        browser.get(path.as_uri())
        WebDriverWait(browser, 300, poll_frequency=0.02).until(
            lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
        )
        ready = time.perf_counter() - start
        inside = browser.execute_script("return window.fvlmReport.renderMs")
        heap = browser.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : null")
        start = time.perf_counter()
        Select(browser.find_element(By.ID, "f-outcome")).select_by_value("wrong")
        assert browser.find_element(By.ID, "count").text  # the count is shown: the filter has run
        filtered = time.perf_counter() - start
        start = time.perf_counter()
        browser.find_elements(By.CSS_SELECTOR, "tr.item")[0].click()
        WebDriverWait(browser, 30, poll_frequency=0.02).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".detail"))
        for strip in browser.find_elements(By.CSS_SELECTOR, "img.strip"):
            WebDriverWait(browser, 30, poll_frequency=0.02).until(
                lambda b, strip=strip: b.execute_script(
                    "return arguments[0].complete && arguments[0].naturalWidth > 0", strip
                )
            )
        opened = time.perf_counter() - start
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return {
        "ready_s": ready,
        "parse_render_ms": inside,
        "heap_mb": heap / 1e6 if heap else None,
        "filter_s": filtered,
        "open_question_s": opened,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=at_least(1), default=1)
    parser.add_argument("--modes", type=at_least(1), default=3, help="1 to 3: coarse_only, coarse_fine, autoregressive")
    parser.add_argument("--thumbnails", type=at_least(0), default=4)
    parser.add_argument("--questions", type=at_least(1), help="at most this many per benchmark (default: the suite's)")
    parser.add_argument(
        "--keep", type=Path, help="write the run folders and the HTML here (default: a temporary folder)"
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open the page in Chromium")
    args = parser.parse_args(argv)
    if args.modes > len(MODES):
        parser.error(f"argument --modes: {args.modes} is above {len(MODES)}")
    shape = sizes(args.questions)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-html-"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            parser.error(f"argument --keep: {folder} is not empty")
    except OSError as error:
        parser.error(f"argument --keep: {folder}: {error.strerror or error}")
    try:
        return _measure(args, shape, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def _measure(args, shape: dict[str, tuple[int, int]], folder: Path) -> dict:
    """Write the runs, make the page as ``fvlm-eval report`` does (each step timed), open it in Chromium."""
    seconds = {}
    start = time.perf_counter()
    runs = write_runs(folder / "runs", args.runs, args.modes, shape)
    seconds["run folders"] = time.perf_counter() - start
    start = time.perf_counter()
    report = build(runs, read_baselines(None))
    seconds["report"] = time.perf_counter() - start
    start = time.perf_counter()
    data = with_questions_and_media(browser_data(runs, 0, warnings=[]), shape, args.thumbnails)
    seconds["browser data"] = time.perf_counter() - start
    start = time.perf_counter()
    images = charts(report, folder)
    seconds["charts"] = time.perf_counter() - start
    path = folder / "report.html"
    start = time.perf_counter()
    path.write_text(render(report, data, images), encoding="utf-8")
    seconds["render + write"] = time.perf_counter() - start
    thumbs_mb = sum(len(m["jpeg"]) for m in data["media"]) / 1e6
    result = {
        "questions": len(data["questions"]),
        "results": len(data["results"]),
        "media": len(data["media"]),
        "report_rows": len(report.rows),
        "report_warnings": report.warnings,
        "file_mb": path.stat().st_size / 1e6,
        "thumbnails_mb": thumbs_mb,
        "seconds": seconds,
        "chromium": None,
    }
    print(
        f"questions {result['questions']}, results {result['results']}, media {result['media']}, report rows "
        f"{result['report_rows']}; file {result['file_mb']:.1f} MB (thumbnails {thumbs_mb:.1f} MB base64); "
        + ", ".join(f"{step} {s:.1f} s" for step, s in seconds.items())
    )
    for warning in report.warnings:
        print(f"report warning: {warning}")
    if args.no_browser:
        print("chromium: not opened (--no-browser)")
    elif shutil.which("chromium") and shutil.which("chromedriver"):
        result["chromium"] = open_in_chromium(path)
        print(
            "chromium: "
            + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result["chromium"].items())
        )
    else:
        print("chromium not installed: open time not measured")
    return result


if __name__ == "__main__":
    main()
