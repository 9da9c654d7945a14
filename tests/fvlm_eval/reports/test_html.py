"""report.html: one self-contained file; questions with their frames, escaped; driven in headless Chromium."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fvlm_eval.files import write_json_atomic
from fvlm_eval.media.frame_cache import FrameCache
from fvlm_eval.records import NOT_FINITE, Record, append_records, question_sha256
from fvlm_eval.reports.html.browser import json_for_script
from fvlm_eval.reports.html.thumbnails import parse_sampling, thumbnails
from fvlm_eval.reports.report import write_report
from fvlm_eval.summarize import summarize_records
from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.fixtures.videomme import write_videomme
from fvlm_eval.types import Clip, Media, Sampling

XSS_QUESTION = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script></script> how many apples?'
XSS_OPTION = "</script><svg onload=window.__xss=3>"
XSS_ANSWER = '<img src=y onerror="window.__xss=4">B'


def _hash(question) -> str:
    """The question's hash as the runner records it."""
    benchmark = get_benchmark(question.benchmark)
    return question_sha256(question, benchmark.prompt(question) if question.options else "", benchmark.version)


def _record(question, mode: str, pred: str, error: str | None = None, generated: str | None = None) -> Record:
    letters = question.letters
    scores = {
        "reference": {letter: (0.5 if letter == pred else 2.0 + i) for i, letter in enumerate(letters)},
        "sum": {letter: (-0.5 if letter == pred else -2.0 - i) for i, letter in enumerate(letters)},
    }
    preds = {p: None if error else pred for p in scores}
    if generated is not None:
        preds["generated"] = None if error else pred
    values = dict(
        id=question.id,
        benchmark=question.benchmark,
        mode=mode,
        group=question.group,
        gold=question.gold,
        letters=letters,
        fields=question.field_dict(),
        scores=scores if not error else {p: None for p in scores},
        pred=preds,
        correct={p: error is None and v == question.gold for p, v in preds.items()},
        options=None,
        question_sha256=_hash(question),
        prompt_sha256="p" * 64,
        source=question.source,
        source_sha256=question.source_sha256,
        frames=(0, 5, 10, 15),
        timestamps=None,
        media_note=None,
        error=error,
        generated=None if generated is None else {"text": generated, "letter": pred, "status": "letter"},
        notes=(),
        recorded_at=1.0,
    )
    names = {f.name for f in dataclasses.fields(Record)}
    values.update({name: None for name in names - set(values) if name not in ("schema_version",)})
    return Record(**values)


def _run(
    folder: Path,
    data: Path,
    right: set[int],
    mode: str = "coarse_fine",
    failed: set[int] = frozenset(),
    sampling: str = "uniform:8",
    model_failed: set[int] = frozenset(),
) -> Path:
    """A run folder over the fixture Video-MME copy at ``data``: question i right when i in ``right``; its data
    failed when in ``failed``, the model failed on it (NaN log-probabilities) when in ``model_failed``."""
    benchmark = get_benchmark("videomme")
    questions = benchmark.load(data).questions
    records = [
        _record(
            q,
            mode,
            q.gold if i in right else next(letter for letter in q.letters if letter != q.gold),
            error="decoding failed: test" if i in failed else f"{NOT_FINITE} (test)" if i in model_failed else None,
            generated=XSS_ANSWER,
        )
        for i, q in enumerate(questions)
    ]
    target = folder / "videomme" / mode
    append_records(target / "samples.jsonl", records)
    write_json_atomic(
        target / "settings.json",
        {
            "benchmark": "videomme",
            "mode": mode,
            "sampling": sampling,
            "subtitles": False,
            "frame_transform": "test-transform",
        },
    )
    summary = summarize_records(benchmark, mode, records, len(records)).to_json()
    summary["manifest"] = {"model": {"family": "fvlm", "name": folder.name}, "data_dir": str(data)}
    write_json_atomic(target / "summary.json", summary)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The fixture Video-MME copy (9 questions, 3 real videos) with hostile text in question 0."""
    import pandas as pd

    root = tmp_path_factory.mktemp("data")
    write_videomme(root)
    path = root / "videomme" / "videomme" / "test-00000-of-00001.parquet"
    frame = pd.read_parquet(path)
    frame.at[0, "question"] = XSS_QUESTION
    frame.at[0, "options"] = ["A. Apples.", f"B. {XSS_OPTION}", "C. Berries.", "D. None."]
    frame.to_parquet(path, index=False)
    return root


@pytest.fixture(scope="module")
def report_html(data, tmp_path_factory) -> Path:
    """Two runs on the same questions (4 flips), the HTML written beside report.md."""
    root = tmp_path_factory.mktemp("runs")
    before = _run(root / "step_100", data, right={0, 1, 2, 3, 4})
    after = _run(root / "step_200", data, right={0, 1, 5, 6, 7}, failed={8})
    written = write_report([before, after], None, root / "out", show=False, frame_cache=root / "no-cache")
    (html,) = [p for p in written if p.suffix == ".html"]
    return html


def _blob(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="fvlm-data">(.*?)</script>', html, re.DOTALL)
    return json.loads(match.group(1))


def test_html_is_one_self_contained_file_with_tables_charts_and_every_question(report_html):
    html = report_html.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r'(src|href)="(?!data:|#)', html), "every image inline, no link out of the file"
    assert "Main comparison" in html and html.count("data:image/png;base64,") >= 2  # comparison + breakdown chart
    data = _blob(html)
    assert data["runs"] == ["step_100", "step_200"]
    assert len(data["questions"]) == 9 and len(data["results"]) == 18
    assert {p["name"]: p["formulation"] for p in data["protocols"]}["generated"] == "generated"
    question = data["questions"][0]
    assert question["q"] == XSS_QUESTION and question["options"][1] == ["B", XSS_OPTION]  # the text, verbatim
    strips = {row[9] for row in data["results"] if row[0] == 0}
    assert len(strips) == 1  # both runs saw it alike (uniform:8, one transform): one strip, shared
    media = data["media"][strips.pop()]
    assert media["source"] == "decoded" and len(media["labels"]) == 4 and media["sampled"] == 8
    assert sum(media["widths"]) > 4 * 40  # four 48-px-tall frames side by side


def test_the_html_tables_give_each_category_its_questions_and_chance_as_report_md_does(report_html):
    """A category measured on one question read like any other number in report.html (report.md said n=1)."""
    import html as html_module

    markdown_text = (report_html.parent / "report.md").read_text()
    page = html_module.unescape(report_html.read_text())
    cells = re.findall(r"\d+\.\d \[[^]]*\] \(n=\d+, chance \d+\.\d\)", markdown_text)
    assert cells and all(cell in page for cell in cells)


def test_no_text_from_data_reaches_the_html_unescaped(report_html):
    html = report_html.read_text()
    for payload in ("<img src=x", "<img src=y", "<svg onload", "window.__xss=2</script>"):
        assert payload not in html
    assert html.count("</script>") == 2  # the data blob's end and the code's end: nothing closed them early
    assert json.loads(json_for_script({"t": "</script>&\u2028"})) == {"t": "</script>&\u2028"}
    from fvlm_eval.reports.html.browser import _scores

    assert _scores({"A": -1.23456, "B": float("-inf"), "C": None}, "ABC") == [-1.235, "-inf", None]  # valid JSON


def test_frames_come_from_the_frame_cache_when_the_video_is_gone(tmp_path):
    media = Media("video", "videomme/gone", str(tmp_path / "gone.mp4"))
    sampling = parse_sampling("uniform:8")
    assert sampling == Sampling("uniform", 8) and parse_sampling("fps_spread:64@1fps-skip1s").skip_seconds == 1.0
    assert "frames not available" in thumbnails(media, sampling, "t", tmp_path / "cache", 4)["note"]
    cache = FrameCache(tmp_path / "cache")
    frames = np.full((8, 32, 48, 3), 200, dtype=np.uint8)
    cache.put(
        cache.key(media, sampling, "t"),
        media,
        Clip(
            media.key, "video", frames, tuple(range(8)), tuple(range(0, 80, 10)), tuple(float(i) for i in range(8)), 80
        ),
    )
    found = thumbnails(media, sampling, "t", tmp_path / "cache", 4)
    assert found["source"] == "frame cache" and found["labels"][0] == "#0 0.0s" and found["widths"] == [72] * 4


def test_thumbnails_made_in_worker_processes_equal_those_made_here(data):
    from fvlm_eval.reports.html.thumbnails import all_thumbnails as _all_thumbnails

    questions = get_benchmark("videomme").load(data).questions
    tasks = [(q.media, "uniform:8", None, None, 3) for q in questions] * 8  # 72 tasks: enough for the pool
    lines = []
    assert _all_thumbnails(tasks, 2, lines.append) == _all_thumbnails(tasks, 1)
    assert lines == ["report.html: thumbnails of 72 media (frame cache, else decoded; 2 processes)"]


def test_questions_whose_data_is_gone_still_show_their_records(data, tmp_path):
    run = _run(tmp_path / "run", data, right={0})
    summary_path = run / "videomme/coarse_fine/summary.json"
    summary = json.loads(summary_path.read_text())
    summary["manifest"]["data_dir"] = str(tmp_path / "moved")
    summary_path.write_text(json.dumps(summary))
    written = write_report([run], None, tmp_path / "out", show=False, frame_cache=tmp_path / "cache")
    html = next(p for p in written if p.suffix == ".html").read_text()
    blob = _blob(html)
    assert len(blob["results"]) == 9 and all("q" not in q for q in blob["questions"])
    assert "data not readable" in blob["questions"][0]["missing"] and "questions show without their text" in html


def test_a_question_changed_since_the_run_shows_no_new_text_beside_old_scores(data, tmp_path):
    import pandas as pd

    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    run = _run(tmp_path / "run", copy, right={0, 1})
    path = copy / "videomme" / "videomme" / "test-00000-of-00001.parquet"
    frame = pd.read_parquet(path)
    frame.at[1, "question"] = "EDITED after the run?"
    frame.at[1, "options"] = ["A. New one.", "B. New two.", "C. New three.", "D. New four."]
    frame.to_parquet(path, index=False)
    written = write_report([run], None, tmp_path / "out", show=False, frame_cache=tmp_path / "cache", thumbnails=0)
    html = next(p for p in written if p.suffix == ".html").read_text()
    questions = _blob(html)["questions"]
    assert "EDITED" not in html and "New two" not in html
    changed = [q for q in questions if q.get("changed")]
    assert len(changed) == 1 and changed[0]["missing"] == "question changed since the run: text not shown"
    assert all(text is None for _, text in changed[0]["options"])
    assert sum("q" in q for q in questions) == 8  # the unchanged ones still show today's (same) text


def test_runs_on_two_copies_of_the_data_show_each_question_as_it_was_asked(data, tmp_path):
    """Two runs on copies whose annotation differs (a fix) shared one entry: run B's scores under run A's text,
    gold and category, and the flip filter paired two different questions."""
    import pandas as pd

    fixed = tmp_path / "fixed"
    shutil.copytree(data, fixed)
    path = fixed / "videomme" / "videomme" / "test-00000-of-00001.parquet"
    frame = pd.read_parquet(path)
    frame.at[1, "question"] = "FIXED: how many pears?"
    frame.at[1, "answer"] = "D"
    frame.to_parquet(path, index=False)
    first, second = _run(tmp_path / "a", data, right={0, 1}), _run(tmp_path / "b", fixed, right={0, 1})
    written = write_report(
        [first, second], None, tmp_path / "out", show=False, frame_cache=tmp_path / "c", thumbnails=0
    )
    blob = _blob(next(p for p in written if p.suffix == ".html").read_text())
    entries = [q for q in blob["questions"] if q["id"] == "videomme/001-2"]
    asked = get_benchmark("videomme").load(data).questions[1].question
    assert sorted((q["q"], q["gold"]) for q in entries) == [("FIXED: how many pears?", "D"), (asked, "B")]
    runs_of = {i: {r[1] for r in blob["results"] if r[0] == i} for i, q in enumerate(blob["questions"])}
    assert sorted(runs_of[blob["questions"].index(q)] for q in entries) == [{0}, {1}]
    report = json.loads(next(p for p in written if p.name == "report.json").read_text())
    assert any("1 question id(s) were asked with other text" in w for w in report["warnings"])


# ----- in a real browser ---------------------------------------------------------------------------


def test_the_browser_filters_opens_a_question_and_runs_no_text(chromium, report_html, tmp_path):
    import io

    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    webdriver, options, service = chromium  # skipped before the report is built when Chromium is absent
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(service=service, options=options)
    try:
        browser.get(report_html.as_uri())
        WebDriverWait(browser, 30).until(
            lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
        )
        count = lambda: browser.find_element(By.ID, "count").text  # noqa: E731
        assert count().startswith("9 of 9")
        Select(browser.find_element(By.ID, "f-benchmark")).select_by_value("videomme")
        Select(browser.find_element(By.ID, "f-run")).select_by_visible_text("step_200")
        Select(browser.find_element(By.ID, "f-outcome")).select_by_value("wrong")
        assert count().startswith("4 of 9")  # 5 right in step_200; question 8 failed counts as wrong
        Select(browser.find_element(By.ID, "f-outcome")).select_by_value("")
        Select(browser.find_element(By.ID, "f-flip")).select_by_value("0:1:any")
        assert count().startswith("6 of 9")  # 2, 3, 4 lost; 5, 6, 7 gained
        Select(browser.find_element(By.ID, "f-flip")).select_by_value("0:1:lost")
        assert count().startswith("3 of 9")
        assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.qid")] == [
            "videomme/001-3",
            "videomme/002-1",
            "videomme/002-2",
        ]
        Select(browser.find_element(By.ID, "f-flip")).select_by_value("")
        category = Select(browser.find_element(By.ID, "f-category"))
        category.select_by_visible_text("Video-MME: short")
        assert count().startswith("3 of 9")
        browser.find_elements(By.CSS_SELECTOR, "tr.item")[0].click()  # the hostile question
        WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".question-text"))
        assert browser.find_element(By.CSS_SELECTOR, ".question-text").text == XSS_QUESTION.strip()
        assert XSS_OPTION in [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".option-text")]
        assert browser.find_elements(By.CSS_SELECTOR, ".generated-text")[0].text == XSS_ANSWER
        assert browser.execute_script("return window.__xss === undefined")  # no payload ran
        assert not browser.find_elements(By.CSS_SELECTOR, "#browser svg, #browser script, img[src='x'], img[src='y']")
        (strip,) = browser.find_elements(By.CSS_SELECTOR, "img.strip")  # both runs saw it alike: shown once
        WebDriverWait(browser, 10).until(
            lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", strip)
        )
        assert browser.execute_script("return arguments[0].naturalHeight", strip) == 48
        thumbs = Image.open(io.BytesIO(strip.screenshot_as_png)).convert("L")
        assert np.asarray(thumbs).std() > 5  # real frames drawn, not a blank box
        fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert not [name for name in fetched if not name.startswith("data:")]  # nothing requested outside the file
        shot = browser.get_screenshot_as_png()
    finally:
        browser.quit()
    image = Image.open(io.BytesIO(shot))
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and image.size[0] >= 800 and len(shot) > 20_000
    assert len(set(image.convert("RGB").getdata())) > 50  # text, tables and thumbnails, not an empty page


def test_each_run_shows_the_frames_its_own_model_saw(data, tmp_path, chromium):
    """A question's thumbnails were the first run's only: beside a run with other --frames (or SmolVLM2's transparent
    image on white beside fVLM's on black) its frames and "N of M sampled frames" were shown under both runs, and
    which run's depended on the order the runs were given."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    eight = _run(tmp_path / "eight", data, right={0}, sampling="uniform:8")
    four = _run(tmp_path / "four", data, right={0}, sampling="uniform:4")
    other = _run(tmp_path / "other", data, right={0}, sampling="uniform:4")
    settings_path = other / "videomme/coarse_fine/settings.json"
    settings_path.write_text(json.dumps({**json.loads(settings_path.read_text()), "frame_transform": "on-white"}))
    written = write_report([eight, four, other], None, tmp_path / "out", show=False, frame_cache=tmp_path / "c")
    html = next(p for p in written if p.suffix == ".html")
    blob = _blob(html.read_text())
    seen = {}  # (question, run) -> its row's strip
    for row in blob["results"]:
        seen[(row[0], row[1])] = row[9]
    for question in range(len(blob["questions"])):
        strips = [seen[(question, run)] for run in range(3)]
        assert len(set(strips)) == 3  # another sampling, another transform: each run its own strip
        assert [blob["media"][s]["sampled"] for s in strips] == [8, 4, 4]
    assert len(blob["media"]) == 3 * 3  # 3 videos, 3 ways seen: one strip each, shared by the questions on it
    webdriver, options, service = chromium
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(service=service, options=options)
    try:
        browser.get(html.as_uri())
        WebDriverWait(browser, 30).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        browser.find_elements(By.CSS_SELECTOR, "tr.item")[0].click()
        WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, "img.strip"))
        headings = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".detail h4, .detail figcaption")]
        assert headings == [
            "eight · coarse_fine",
            "4 of 8 sampled frames (#: frame index; decoded)",
            "four · coarse_fine",
            "4 of 4 sampled frames (#: frame index; decoded)",
            "other · coarse_fine",
            "4 of 4 sampled frames (#: frame index; decoded)",
        ]
        sources = browser.execute_script(
            "return Array.from(document.querySelectorAll('img.strip')).map((image) => image.src)"
        )
        assert sources == [f"data:image/jpeg;base64,{blob['media'][seen[(0, run)]]['jpeg']}" for run in range(3)]
    finally:
        browser.quit()


# ----- a report that travels; the headline first; long words; workers that die with the report (issue 23) -----


def test_a_report_made_anywhere_finds_the_runs_data(data, tmp_path, monkeypatch, tokenizer):
    """A run made with a relative --data-dir records it absolute; an older run's relative one is looked for
    from the run folder up. Either way a report made from another folder shows the questions (it used to say
    "question text not available" and "run prepare")."""
    from fvlm_eval import evaluate
    from fvlm_eval.reports.html.browser import browser_data
    from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
    from tests.conftest import tiny_model

    project = tmp_path / "project"
    write_scienceqa(project / "data")
    monkeypatch.chdir(project)
    evaluate(
        tiny_model(),
        "scienceqa",
        tokenizer=tokenizer,
        limit=2,
        data_dir=Path("data"),
        output_dir=Path("runs/new"),
        frame_cache=False,
        workers=0,
        progress=False,
    )
    summary = json.loads((project / "runs/new/scienceqa/coarse_fine/summary.json").read_text())
    assert summary["manifest"]["data_dir"] == str((project / "data").resolve())
    old = _run(project / "runs" / "old", data, right={0})  # made in `data`'s parent, --data-dir typed relative
    shutil.copytree(data / "videomme", project / "videomme-data" / "videomme")
    path = old / "videomme/coarse_fine/summary.json"
    written = json.loads(path.read_text())
    written["manifest"]["data_dir"] = "videomme-data"
    path.write_text(json.dumps(written))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    warnings = []
    blob = browser_data([project / "runs/new", old], 0, tmp_path / "cache", warnings)
    assert warnings == [] and all("q" in q for q in blob["questions"]), warnings


def test_the_browser_starts_on_the_headline_protocol(data, tmp_path, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    run = _run(tmp_path / "run", data, right={0, 1})
    path = run / "videomme/coarse_fine/summary.json"
    summary = json.loads(path.read_text())
    summary["headline_protocol"] = "sum"  # listed after `reference`, which the filter used to start on
    path.write_text(json.dumps(summary))
    written = write_report([run], None, tmp_path / "out", show=False, thumbnails=0)
    html = next(p for p in written if p.suffix == ".html")
    assert _blob(html.read_text())["headline"] == "sum" and "headline protocol, <b>sum</b>" in html.read_text()
    webdriver, options, service = chromium
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(service=service, options=options)
    try:
        browser.get(html.as_uri())
        WebDriverWait(browser, 30).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        chosen = Select(browser.find_element(By.ID, "f-protocol")).first_selected_option
        assert chosen.get_attribute("value") == "sum" and chosen.text.endswith("headline")
        assert "[sum]" in browser.find_element(By.CSS_SELECTOR, "#questions thead").text
    finally:
        browser.quit()


def test_a_very_long_word_does_not_widen_the_page(data, tmp_path, chromium):
    import pandas as pd
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    path = copy / "videomme" / "videomme" / "test-00000-of-00001.parquet"
    frame = pd.read_parquet(path)
    frame.at[3, "question"] = "W" * 6000  # one word, six windows wide at 14 px
    frame.at[3, "options"] = ["A. " + "x" * 3000, "B. b", "C. c", "D. d"]
    frame.to_parquet(path, index=False)
    run = _run(tmp_path / ("run-" + "r" * 60), copy, right={0})
    written = write_report([run], None, tmp_path / "out", show=False, thumbnails=0)
    html = next(p for p in written if p.suffix == ".html")
    webdriver, options, service = chromium
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(service=service, options=options)
    try:
        browser.get(html.as_uri())
        WebDriverWait(browser, 30).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        browser.find_elements(By.CSS_SELECTOR, "tr.item")[3].click()  # open the question with the long word
        WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".question-text"))
        width, window = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert width <= window * 1.05, (width, window)
    finally:
        browser.quit()


def test_thumbnail_workers_end_with_a_report_killed_by_sigkill(tmp_path):
    """A report killed by SIGKILL while its pool makes thumbnails used to leave the workers running under init."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import os, sys, time\n"
        "from fvlm_eval.reports.html.thumbnails import thumbnail_pool\n"
        "pool = thumbnail_pool(2)\n"
        "busy = [pool.submit(time.sleep, 120) for _ in range(2)]\n"
        "pids = set()\n"
        "while len(pids) < 2:\n"
        "    pids = {p for p in pool._processes}\n"
        "    time.sleep(0.1)\n"
        "print(' '.join(map(str, pids)), flush=True)\n"
        "time.sleep(120)\n"
    )
    report = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    workers: list[int] = []
    try:
        workers = [int(pid) for pid in report.stdout.readline().split()]
        assert len(workers) == 2
        os.kill(report.pid, signal.SIGKILL)
        report.wait(timeout=10)
        deadline = time.monotonic() + 10
        alive = workers
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in workers if _running(pid)]
            time.sleep(0.1)
        assert not alive, f"thumbnail workers {alive} outlived the report"
    finally:
        if report.poll() is None:
            report.kill()
        for pid in [pid for pid in workers if _running(pid)]:  # a failed check leaves no orphan behind
            os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended and waiting to be reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# ----- failed questions in the flip filter; a run with no summary yet (findings 10) -----


def test_a_question_whose_data_failed_in_one_run_is_no_flip_but_one_the_model_failed_is(data, tmp_path, chromium):
    """The flip filter counted a question whose video was missing in one run as lost or gained (regress and track:
    no answer, never paired), so the browser listed data faults under "right in base, wrong in cur" where regress
    said 0 lost. A failure the model caused (NaN log-probabilities) is its answer, wrong: still a flip."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base = _run(tmp_path / "base", data, right={0, 1, 2, 3})
    current = _run(tmp_path / "cur", data, right={2}, failed={0}, model_failed={1})  # 3 lost; 4-8 wrong in both
    written = write_report([base, current], None, tmp_path / "out", show=False, thumbnails=0)
    html = next(p for p in written if p.suffix == ".html")
    blob = _blob(html.read_text())
    ids = [q["id"] for q in blob["questions"]]
    ends = {(ids[row[0]], row[1]): row[10:] for row in blob["results"]}
    assert ends[("videomme/001-1", 1)] == [0] and ends[("videomme/001-2", 1)] == [1]  # data's, model's
    assert all(
        end == [] for (qid, run), end in ends.items() if run == 0 or qid not in ("videomme/001-1", "videomme/001-2")
    )
    webdriver, options, service = chromium
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(service=service, options=options)
    try:
        browser.get(html.as_uri())
        WebDriverWait(browser, 30).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        shown = lambda: [e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.qid")]  # noqa: E731
        flip = lambda value: Select(browser.find_element(By.ID, "f-flip")).select_by_value(value)  # noqa: E731
        flip("0:1:lost")
        assert shown() == ["videomme/001-2", "videomme/002-1"]  # the model's failure and a wrong answer
        flip("0:1:any")
        assert shown() == ["videomme/001-2", "videomme/002-1"]
        flip("0:1:gained")
        assert shown() == []
        flip("0:1:failed")  # its own choice: failed for its data in one run only
        assert shown() == ["videomme/001-1"]
        Select(browser.find_element(By.ID, "f-flip")).select_by_value("")
        Select(browser.find_element(By.ID, "f-run")).select_by_value("1")
        Select(browser.find_element(By.ID, "f-outcome")).select_by_value("failed")
        assert shown() == ["videomme/001-1", "videomme/001-2"]  # both failed, whatever failed
        marks = [e.get_attribute("title") for e in browser.find_elements(By.CSS_SELECTOR, "td span.failed")]
        assert marks == ["its data failed (media or row): no answer, never a flip", "the model failed: a wrong answer"]
    finally:
        browser.quit()


def test_a_run_with_no_summary_yet_shows_its_questions_from_the_data_folder_its_run_recorded(data, tmp_path):
    """Only the summary's manifest named the data folder, so a run still writing or killed before its summary showed
    bare ids, warned as "the run's manifest names no data folder". The run records it now in data_dir.json (written
    before the first record; settings.json, where a few folders hold it, is read too); one made before that says the
    true reason. A summary's copy gone, the recorded one is read."""
    from fvlm_eval.files import DATA_DIR_FILE
    from fvlm_eval.reports.html.browser import browser_data

    run = _run(tmp_path / "run", data, right={0})
    folder = run / "videomme/coarse_fine"
    (folder / DATA_DIR_FILE).write_text(json.dumps({"data_dir": str(data)}))
    summary = json.loads((folder / "summary.json").read_text())
    summary["manifest"]["data_dir"] = str(tmp_path / "moved away")
    (folder / "summary.json").write_text(json.dumps(summary))
    warnings = []
    blob = browser_data([run], 0, tmp_path / "cache", warnings)
    assert warnings == [] and all("q" in q for q in blob["questions"]), warnings  # the copy the run was made with
    (folder / "summary.json").unlink()  # killed before its summary
    warnings = []
    blob = browser_data([run], 0, tmp_path / "cache", warnings)
    assert all("q" in q for q in blob["questions"]) and not [w for w in warnings if "text" in w], warnings
    (folder / DATA_DIR_FILE).unlink()  # made before runs recorded it
    warnings = []
    blob = browser_data([run], 0, tmp_path / "cache", warnings)
    assert warnings == [
        "run videomme: no summary yet (its run has not finished): its data folder is unknown (its run wrote no "
        "data_dir.json: it was made before runs recorded their data folder there); questions show without their text"
    ]
    assert all("q" not in q for q in blob["questions"]) and len(blob["results"]) == 9
    (folder / DATA_DIR_FILE).write_text("{")  # cut short
    warnings = []
    browser_data([run], 0, tmp_path / "cache", warnings)
    assert warnings == [
        f"run videomme: no summary yet (its run has not finished): its data folder is unknown ({folder / DATA_DIR_FILE}"
        ": not readable JSON (JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1))); questions show without their text"
    ]
