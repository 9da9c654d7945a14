"""report.html at the full suite's size: its file size and the time headless Chromium takes to open it.

Synthetic browser data shaped like a full-suite run: MVBench 4,000 questions (one clip each),
Video-MME 2,700 (900 videos x 3 questions), ScienceQA 2,017 (one image each); every question in
``--modes`` modes of ``--runs`` runs; per result the 6 multiple-choice, 4 cloze and the generated
protocol with 4 options' scores, a generated text and 16 frame indices; ``--thumbnails`` frames
per media as one 48-px JPEG strip (crops of a real photograph, so they compress as real frames do).
The page is opened in headless Chromium (Debian's chromium + chromedriver) through selenium:
time to the page's ready mark (load, JSON parse, first page of questions), the page's own
parse-and-render time, a filter change, and opening one question with its thumbnails.

    python benchmarks/bench_report_html.py                       # 1 run x 3 modes, 4 thumbnails
    python benchmarks/bench_report_html.py --runs 2 --modes 3    # two checkpoints side by side
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from fvlm_eval.protocols import formulation_label
from fvlm_eval.reports.html.page import render
from fvlm_eval.reports.html.thumbnails import _strip

SUITE = {
    "mvbench": (4000, 4000, "task", 20),
    "videomme": (2700, 900, "duration", 3),
    "scienceqa": (2017, 2017, "subject", 3),
}
MC = ("reference", "sum", "mean", "letter", "option_text", "option_text_norm")
CLOZE = ("cloze_sum", "cloze_token", "cloze_byte", "cloze_pmi")


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


def synthetic(runs: int, modes: int, thumbs: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    source = photo()
    protocols = [*MC, *CLOZE, "generated"]
    questions, media, results = [], [], []
    for benchmark, (count, videos, field, categories) in SUITE.items():
        first_media = len(media)
        for v in range(videos if thumbs else 0):
            n = 1 if benchmark == "scienceqa" else thumbs
            media.append(
                {
                    "key": f"{benchmark}/{v}",
                    **_strip(frames(rng, n, source), [f"frame {i * 10} · {i:.1f}s" for i in range(n)]),
                    "source": "decoded",
                    "sampled": 16,
                }
            )
        for i in range(count):
            questions.append(
                {
                    "id": f"{benchmark}/{i:05d}",
                    "b": benchmark,
                    "gold": "ABCD"[i % 4],
                    "letters": list("ABCD"),
                    "fields": {field: f"category {i % categories}"},
                    "m": first_media + i * videos // count if thumbs else None,
                    "q": f"Question {i}: what does the person in the video do after picking up the object "
                    "on the table, and why?",
                    "context": None,
                    "options": [
                        [letter, f"option {letter}: the person does something plausible number {i}"]
                        for letter in "ABCD"
                    ],
                }
            )
    modes_named = ["coarse_only", "coarse_fine", "autoregressive"][:modes]
    for run in range(runs):
        for m, _mode in enumerate(modes_named):
            for q, question in enumerate(questions):
                pred = "".join("ABCD"[k] for k in rng.integers(0, 4, len(protocols)))
                scores = [[float(f"{x:.4g}") for x in rng.normal(-5, 2, 4)] for p in protocols if p != "generated"]
                results.append(
                    [
                        q,
                        run,
                        m,
                        pred,
                        "".join("1" if c == question["gold"] else "0" for c in pred),
                        scores,
                        [f"{pred[-1]}. option text", pred[-1], "letter", None],
                        None,
                        [0, 150, 16],
                    ]
                )
    formulations = {"multiple_choice": 0, "cloze": 0, "generated": 0}
    return {
        "runs": [f"step_{1000 * (r + 1)}" for r in range(runs)],
        "modes": modes_named,
        "benchmarks": {b: {"title": b, "category": SUITE[b][2]} for b in SUITE},
        "protocols": [
            {
                "name": p,
                "formulation": "cloze" if p in CLOZE else "generated" if p == "generated" else "multiple_choice",
                "label": p,
            }
            for p in protocols
        ],
        "formulations": {f: formulation_label(f) for f in formulations},
        "questions": questions,
        "media": media,
        "results": results,
    }


EMPTY_REPORT = {
    "benchmarks": [],
    "rows": [],
    "run_rows": [],
    "main": {},
    "protocols": {},
    "breakdowns": {},
    "alpha": 0.05,
    "sources": {},
}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--modes", type=int, default=3)
    parser.add_argument("--thumbnails", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="write the HTML here (default: a temporary folder)")
    args = parser.parse_args()
    start = time.perf_counter()
    data = synthetic(args.runs, args.modes, args.thumbnails)
    built = time.perf_counter() - start
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-html-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.html"
    start = time.perf_counter()
    path.write_text(render(EMPTY_REPORT, data, []))
    written = time.perf_counter() - start
    thumbs_mb = sum(len(m["jpeg"]) for m in data["media"]) / 1e6
    print(
        f"questions {len(data['questions'])}, results {len(data['results'])}, media {len(data['media'])}; "
        f"file {path.stat().st_size / 1e6:.1f} MB (thumbnails {thumbs_mb:.1f} MB base64); "
        f"synthetic data {built:.1f} s, render + write {written:.1f} s"
    )
    if shutil.which("chromium") and shutil.which("chromedriver"):
        timings = open_in_chromium(path)
        print(
            "chromium: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in timings.items())
        )
    else:
        print("chromium not installed: open time not measured")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
