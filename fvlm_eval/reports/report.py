"""``fvlm-eval report``: runs of any families side by side with the published figures, written as
``report.md``, ``report.csv``, ``report.json``, the charts and ``report.html`` (see ``build`` for
what the report holds).

A report folder holds only what the last report wrote: every file is made first in a staging folder
beside them (``.report-staging-<pid>``), and only when all of them are made do they replace the
previous report's, whose files this report did not write (a chart of a benchmark no longer in it)
are removed. The files a report wrote are listed in ``.fvlm-eval-report.json``, so the next one
removes those and nothing else of the folder (it may be a folder of the user's own). A report that
fails leaves the previous one as it was (and no staging folder: a left-over one, from a report that
was killed, is removed by the next).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from fvlm_eval import terminal
from fvlm_eval.errors import RecordError
from fvlm_eval.files import process_alive, read_json, write_json_atomic, write_text_atomic
from fvlm_eval.reports.baselines import read_baselines
from fvlm_eval.reports.build import build
from fvlm_eval.reports.charts import charts
from fvlm_eval.reports.html.browser import QuestionBrowser
from fvlm_eval.reports.html.page import write_html
from fvlm_eval.reports.markdown import csv_text, markdown
from fvlm_eval.reports.printable import printable, printable_lines
from fvlm_eval.reports.report_table import print_report
from fvlm_eval.tasks import BENCHMARKS

WRITTEN = ".fvlm-eval-report.json"  # the names of the files the last report wrote into its folder
STAGING = ".report-staging-"
FIXED_NAMES = ("report.md", "report.csv", "report.json", "comparison.png", "report.html")


def _previous(folder: Path) -> set[str]:
    """The names the last report wrote here: its list, or (a report made before the list) the names a
    report writes, charts of every known benchmark included."""
    try:
        listed = read_json(folder / WRITTEN) if (folder / WRITTEN).is_file() else None
    except (RecordError, OSError):  # an unreadable list: fall back to the names a report writes
        listed = None
    if isinstance(listed, dict) and isinstance(listed.get("written"), list):
        return {name for name in listed["written"] if isinstance(name, str) and "/" not in name and name[:1] != "."}
    return {*FIXED_NAMES, *(f"breakdown_{name}.png" for name in BENCHMARKS)}


def _staging(folder: Path) -> Path:
    """A fresh staging folder in ``folder``; those left by reports that were killed are removed."""
    for old in folder.glob(f"{STAGING}*"):
        pid = old.name[len(STAGING) :]
        if old.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    staging = folder / f"{STAGING}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def write_report(
    runs: list[Path],
    baselines_path: Path | None = None,
    output_dir: Path | None = None,
    alpha: float = 0.05,
    protocols: list[str] | None = None,
    show: bool = True,
    thumbnails: int = 4,
    frame_cache: Path | None = None,
) -> list[Path]:
    """report.md, .csv, .json, the charts and report.html (``thumbnails`` frames per media in its
    question browser, 0 for none; ``frame_cache``: where to look for decoded frames first)."""
    runs = [Path(r) for r in runs]
    shown: list[str] = []  # what the question browser cannot show, and why: said with the report's warnings
    browser = QuestionBrowser(runs, thumbnails, frame_cache, shown)  # handed each folder as the tables read it
    report = build(runs, read_baselines(baselines_path), alpha, protocols, each=browser.add)
    folder = Path(output_dir) if output_dir else runs[0] / "report"
    folder.mkdir(parents=True, exist_ok=True)
    staging = _staging(folder)
    try:
        data = browser.data(say=terminal.echo if show else None)
        report = dataclasses.replace(report, warnings=[*report.warnings, *(printable(w) for w in shown)])
        write_text_atomic(staging / "report.md", printable_lines(markdown(report)))
        write_text_atomic(staging / "report.csv", csv_text(report))
        write_json_atomic(staging / "report.json", report.to_json())
        images = charts(report, staging)
        made = [staging / "report.md", staging / "report.csv", staging / "report.json"] + images
        made.append(write_html(report, data, staging, images))
        stale = _previous(folder) - {path.name for path in made}
        for path in made:
            os.replace(path, folder / path.name)
        for name in stale:
            (folder / name).unlink(missing_ok=True)
        write_json_atomic(folder / WRITTEN, {"written": [path.name for path in made]})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written = [folder / path.name for path in made]
    if show:
        print_report(report, folder, terminal.console())
    return written
