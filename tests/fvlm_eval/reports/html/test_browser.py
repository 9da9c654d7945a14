"""The question browser's data: gathered folder by folder, each record kept as its compact row only."""

from __future__ import annotations

import gc
import json

from fvlm_eval.records import Record
from fvlm_eval.reports.freshness import load_run_folder
from fvlm_eval.reports.html import browser
from fvlm_eval.reports.html.browser import _compact, browser_data
from fvlm_eval.reports.report import write_report
from tests.fvlm_eval.constructed import write_run


def _live_records() -> int:
    """How many ``Record`` objects this process holds now."""
    gc.collect()
    return sum(isinstance(thing, Record) for thing in gc.get_objects())


def _runs(tmp_path):
    """Two runs of two modes each; the second with generated answers and cloze protocols the first lacks."""
    first = write_run(tmp_path / "step_100", [True, False, True] * 4)
    write_run(tmp_path / "step_100", [False, True] * 5, mode="coarse_only")
    second = write_run(tmp_path / "step_200", [True] * 7 + [False] * 5, generated=True, cloze_framing="plain")
    write_run(tmp_path / "step_200", [True, False] * 5, mode="coarse_only", generated=True, cloze_framing="plain")
    return [first, second]


def test_the_question_browser_keeps_each_records_row_not_the_record(tmp_path, monkeypatch):
    """The browser kept every record of every run (token log-probabilities, cloze and circular blocks) until the
    page was written, compacting them only then: 1.16 GB for one full checkpoint, 6.8 GB for 20. Once every folder
    is read (when the thumbnails are made), it holds no record: only the rows the page shows."""
    runs = _runs(tmp_path)
    held: list[int] = []
    thumbnails = browser.all_thumbnails

    def counting(tasks, workers=None, say=None):
        held.append(_live_records())
        return thumbnails(tasks, workers, say)

    monkeypatch.setattr(browser, "all_thumbnails", counting)
    before = _live_records()
    write_report(runs, None, tmp_path / "out", show=False, thumbnails=0)
    blob = browser_data(runs, 0, tmp_path / "cache", [])
    assert len(held) == 2 and max(held) <= before, (held, before)  # the report's browser, then one on its own
    assert len(blob["results"]) == 12 + 10 + 12 + 10


def test_rows_of_folders_that_recorded_other_protocols_line_up_with_the_pages_protocols(tmp_path):
    """A row is compacted as its folder is read, before the page's protocols (every run's) are known: it is
    aligned with its own folder's, then with the page's. Each row reads as the record compacted with the page's
    protocols, whichever run comes first."""
    runs = _runs(tmp_path)
    for order in (runs, runs[::-1]):
        blob = browser_data(order, 0, tmp_path / "cache", [])
        protocols = tuple(p["name"] for p in blob["protocols"])
        assert {"generated", "cloze_sum"} <= set(protocols)
        for q, run, mode, pred, correct, scores, *_ in blob["results"]:
            question = blob["questions"][q]["id"]
            record = load_run_folder(order[run] / "videomme" / blob["modes"][mode]).records[question]
            assert [pred, correct, scores] == json.loads(json.dumps(_compact(record, protocols)))
