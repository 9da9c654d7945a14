"""A run beside the published figures: what ours was measured on, how it was asked, and which model it is."""

from __future__ import annotations

import io
import json

from rich.console import Console

from fvlm_eval.reports.baselines import read_baselines
from fvlm_eval.reports.build import build
from fvlm_eval.reports.markdown import markdown
from fvlm_eval.reports.report_table import print_report
from tests.fvlm_eval.constructed import write_run

SMOLVLM2 = {"family": "smolvlm", "name": "SmolVLM2-256M-Video-Instruct"}


def _manifest(run, mode, **fields):
    path = run / "videomme" / mode / "summary.json"
    summary = json.loads(path.read_text())
    summary["manifest"].update(fields)
    path.write_text(json.dumps(summary))


def _smolvlm2(folder, correct, mode="standard", **manifest):
    run = write_run(folder, correct, family="smolvlm", mode=mode, generated=True, model=SMOLVLM2)
    if manifest:
        _manifest(run, mode, **manifest)
    return run


def test_a_comparison_says_what_ours_was_measured_on_and_a_part_is_not_like_for_like(tmp_path):
    """A 3-question --limit run read `ours 100.0 (generated answers) vs published 33.7: +66.3 points`, as a
    whole benchmark's number would: nothing said it was 3 of 2,700 questions (the terminal gave no interval)."""
    run = _smolvlm2(tmp_path / "lim3", [True] * 3, limit=3)
    report = build([run], read_baselines(None))
    (line,) = report.to_json()["published_comparisons"]
    assert (line["recorded"], line["expected"], line["limit"], line["whole_benchmark"]) == (3, 2700, 3, False)
    expected = (
        "ours 100.0 [20.7, 100.0] on 3 of 2,700 questions (--limit 3; 2/3 categories): part of the benchmark, not like "
        "for like (generated answers) vs published 33.7"
    )
    assert f"lim3 standard [generated] (SmolVLM2-256M) on Video-MME: {expected}" in markdown(report)
    out = io.StringIO()
    print_report(report, None, Console(width=400, file=out, color_system=None))
    assert f"lim3 standard [generated] (SmolVLM2-256M) on Video-MME: {expected}" in out.getvalue()


def test_runs_asked_otherwise_are_said_and_the_comparison_names_how_ours_was_asked(tmp_path):
    """A SmolVLM2 run on 2 frames with subtitles sat beside 64-frame runs and the published figures, the line
    saying "the harness's frames"; the only trace blamed "another copy of the data"."""
    settings = {"version": "2", "sampling": "uniform:2", "subtitles": True}
    few = _smolvlm2(tmp_path / "f2subs", [True, False] * 3, benchmark_settings=settings)
    usual = write_run(tmp_path / "fvlm", [True] * 6)
    _manifest(usual, "coarse_fine", benchmark_settings={"version": "2", "sampling": "uniform:64", "subtitles": False})
    report = build([few, usual], read_baselines(None))
    assert report.to_json()["warnings"] == [
        "videomme: the runs asked its questions differently (sampling uniform:2, subtitles: f2subs standard; "
        "sampling uniform:64: fvlm coarse_fine): their numbers are not like for like"
    ]
    assert "(generated answers; sampling uniform:2, subtitles) vs published 33.7" in markdown(report)
    older = write_run(tmp_path / "older", [True] * 6)  # no benchmark_settings recorded: unknown, not different
    assert build([usual, older], read_baselines(None)).to_json()["warnings"] == []


def test_a_whole_benchmark_is_said_to_be_so():
    from fvlm_eval.reports.rows import Comparison

    whole = Comparison(
        "r", "SmolVLM2-256M", "mvbench", 30.0, (25.0, 35.0), 32.7, "g", -2.7, recorded=4000, expected=4000
    )
    assert whole.whole and whole.measured_words() == " on all 4,000 questions"
    missing = Comparison("r", "SmolVLM2-256M", "mvbench", 30.0, (25.0, 35.0), 32.7, "g", -2.7, recorded=3800,
                         expected=4000, categories="19/20")  # fmt: skip
    assert (
        missing.measured_words()
        == " on 3,800 of 4,000 questions (19/20 categories): part of the benchmark, not like for like"
    )


def test_report_html_has_the_comparisons_report_md_has(tmp_path):
    """report.html, the report that travels, left out the lines setting ours beside the published figures."""
    import html

    from fvlm_eval.reports.report import write_report

    run = _smolvlm2(tmp_path / "lim3", [True] * 3, limit=3)
    write_report([run], output_dir=tmp_path / "report", show=False, thumbnails=0)
    page = (tmp_path / "report/report.html").read_text()
    line = next(
        x[2:] for x in (tmp_path / "report/report.md").read_text().splitlines() if x.startswith("- lim3 standard")
    )
    assert "Measured here vs published" in page and html.escape(line, quote=True) in page


def test_the_shipped_smolvlm2_mlvu_rows_source_says_what_their_protocol_says():
    """SmolVLM2's MLVU rows were labelled "generated answer (VLMEvalKit)" while their own source said the card
    states "neither harness nor frames": the report set the two side by side. The spec: generated answers,
    VLMEvalKit, up to 64 frames."""
    rows = [b for b in read_baselines(None) if b.model.startswith("SmolVLM2") and b.benchmark == "mlvu"]
    assert sorted(b.accuracy for b in rows) == [40.6, 47.3, 55.2]
    for row in rows:
        assert row.protocol == "generated answer (VLMEvalKit)"
        assert "generated answers, VLMEvalKit, up to 64 frames" in row.source and "neither" not in row.source
