"""``benchmarks/bench_report_html.py``: report.html at the full suite's size, made as ``fvlm-eval report`` makes it.
Run here at its smallest size (a few questions, no thumbnails, no browser), so that it cannot break unseen."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import script


def test_bench_report_html_makes_the_page_from_real_run_folders(tmp_path):
    """Before, the script handed ``render`` a plain dict for the typed Report (since f82f986) and crashed with
    AttributeError after building its data; no test ran it."""
    out = tmp_path / "out"
    result = script("bench_report_html").main(
        ["--questions", "4", "--modes", "1", "--thumbnails", "1", "--no-browser", "--keep", str(out)]
    )
    assert result["questions"] == 12 and result["results"] == 12 and result["report_warnings"] == []
    assert result["media"] == 4 + 1 + 4  # MVBench a clip per question, Video-MME one per 3, ScienceQA an image each
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "step_1000 coarse_only [cloze_pmi]" in page  # the run's rows in the report's tables
    assert "MVBench" in page and "Video-MME" in page and "ScienceQA" in page
    assert "Question 3: what does the person" in page  # the browser's questions, with their text
    assert (out / "runs" / "step_1000" / "videomme" / "coarse_only" / "summary.json").is_file()


@pytest.mark.parametrize("flags", [["--modes", "4"], ["--questions", "0"], ["--runs", "x"]])
def test_bench_report_html_refuses_a_wrong_number_in_one_line(flags, capsys):
    with pytest.raises(SystemExit) as stop:
        script("bench_report_html").main([*flags, "--no-browser"])
    assert stop.value.code == 2 and f"argument {flags[0]}:" in capsys.readouterr().err
