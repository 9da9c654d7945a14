"""report on constructed runs: coverage, chance, flags, protocols, both families, broken folders."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from fvlm_eval.models.families import smolvlm2_published_name as smolvlm2_size
from fvlm_eval.reports import ReportError
from fvlm_eval.reports.baselines import baselines_file, read_baselines
from fvlm_eval.reports.build import build
from fvlm_eval.reports.markdown import markdown
from fvlm_eval.reports.report import write_report
from tests.fvlm_eval.constructed import choose, choosing, write_run


def test_report_shows_coverage_protocol_interval_and_chance(tmp_path):
    run = write_run(tmp_path / "myrun", [True] * 30 + [False] * 70)
    report = build([run], read_baselines(None))
    text = markdown(report)
    row = next(line for line in text.splitlines() if line.startswith("| myrun coarse_fine"))
    assert "30.0 [" in row and "(100/2700 q, 2/3 durations; chance 25.0)" in row
    assert "generated answer (VLMEvalKit)" in text and "option log-likelihood (reference" in text
    assert "| SmolVLM2-256M (published) | generated | generated answer (VLMEvalKit) | 33.7 |" in text
    written = write_report([run], None, tmp_path / "out", show=False, thumbnails=0)
    names = {p.name for p in written}
    assert {
        "report.md",
        "report.csv",
        "report.json",
        "comparison.png",
        "breakdown_videomme.png",
        "report.html",
    } <= names
    assert all(p.stat().st_size > 0 for p in written)
    # the question browser's warning is the report's too (it was said in report.html alone)
    shown = "myrun videomme: the run's manifest names no data folder; questions show without their text"
    assert (tmp_path / "out" / "report.md").read_text() == markdown(dataclasses.replace(report, warnings=[shown]))
    assert shown in json.loads((tmp_path / "out" / "report.json").read_text())["warnings"]


def test_a_run_at_chance_is_flagged(tmp_path):
    run = write_run(tmp_path / "lucky", [True] * 26 + [False] * 74)  # 26% with 4 options: chance
    cell = build([run], []).to_json()["main"]["lucky coarse_fine [reference]"]["videomme"]
    assert any("not significantly above chance" in f for f in cell["flags"])
    assert any("not above always answering A" in f for f in cell["flags"])  # every gold is A here
    assert "⚠" in markdown(build([run], []))


def test_report_markdown_snapshot(tmp_path):
    run = write_run(tmp_path / "snap", [True, False, True, True] * 5)
    text = markdown(build([run], read_baselines(None)))
    expected = (Path(__file__).parent / "golden_report.md").read_text()
    assert text == expected


def test_both_families_side_by_side_with_the_smolvlm2_line(tmp_path):
    fvlm = write_run(tmp_path / "fVLM-135M", [True] * 30 + [False] * 70, generated=True)
    smol = write_run(
        tmp_path / "SmolVLM2-256M-Video-Instruct",
        [True] * 40 + [False] * 60,
        family="smolvlm",
        mode="standard",
        generated=True,
        model={
            "family": "smolvlm",
            "name": "SmolVLM2-256M-Video-Instruct",
            "source": "HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
        },
    )
    report = build([fvlm, smol], read_baselines(None))
    assert {
        "fVLM-135M coarse_fine [reference]",
        "fVLM-135M coarse_fine [generated]",
        "SmolVLM2-256M-Video-Instruct standard [reference]",
        "SmolVLM2-256M-Video-Instruct standard [generated]",
    } <= set(report.to_json()["run_rows"])
    (line,) = report.to_json()["published_comparisons"]
    assert (
        line["published_model"] == "SmolVLM2-256M"
        and line["published"] == 33.7
        and line["difference"] == pytest.approx(40.0 - 33.7)
    )
    assert "SmolVLM2-256M-Video-Instruct standard [generated] (SmolVLM2-256M) on Video-MME: ours 40.0" in markdown(
        report
    )


def test_smolvlm2_published_figures_go_to_the_model_its_name_says_only():
    """By parameter count within 10% a fine-tuned checkpoint got its base model's published figures, and the first
    SmolVLM (`SmolVLM-256M-Instruct`, an image model: the "2" was optional) SmolVLM2-256M's."""
    assert smolvlm2_size({"name": "SmolVLM2-500M-Video-Instruct"}) == "SmolVLM2-500M"
    cached = "/home/u/.cache/huggingface/hub/models--HuggingFaceTB--SmolVLM2-2.2B-Instruct/snapshots/0a1b"
    assert smolvlm2_size({"name": "0a1b", "source": cached}) == "SmolVLM2-2.2B"
    assert smolvlm2_size({"name": "smolvlm2_256m"}) == "SmolVLM2-256M"
    assert smolvlm2_size({"name": "my-finetune", "parameters": 2.2e9}) is None
    assert smolvlm2_size({"name": "SmolVLM-256M-Instruct", "parameters": 256e6}) is None
    # a fine-tune's usual name, and a checkpoint in a folder below the base model's: not that model
    assert smolvlm2_size({"name": "SmolVLM2-256M-Video-Instruct-finetuned-mvbench"}) is None
    assert smolvlm2_size({"name": "checkpoint-500", "source": "/m/SmolVLM2-256M-Video-Instruct/checkpoint-500"}) is None
    hub = {"name": "SmolVLM2-256M-Video-Instruct", "source": "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"}
    assert smolvlm2_size(hub) == "SmolVLM2-256M"
    assert (
        smolvlm2_size({"name": "x", "source": "/m/SmolVLM2-500M-Video-Instruct/model.safetensors"}) == "SmolVLM2-500M"
    )
    assert smolvlm2_size({"name": "tiny", "parameters": 1e6}) is None


def test_empty_benchmark_shows_n_a(tmp_path):
    run = write_run(tmp_path / "empty", [])
    text = markdown(build([run], []))
    assert "| empty coarse_fine [reference] |" in text and "n/a" in text and "0.0 [0.0, 0.0]" not in text


def test_broken_run_folders_are_named(tmp_path):
    with pytest.raises(ReportError, match="no such run folder"):
        build([tmp_path / "missing"], [])
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(ReportError, match="summary.json: a file, not a run folder"):
        build([tmp_path / "summary.json"], [])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no <benchmark>/<mode>/summary.json"):
        build([tmp_path / "empty"], [])
    run = write_run(tmp_path / "run", [True] * 4)
    with pytest.raises(ReportError, match="give the run folder"):
        build([run / "videomme" / "coarse_fine"], [])
    summary = run / "videomme/coarse_fine/summary.json"
    summary.write_text(summary.read_text()[:50])
    with pytest.raises(ReportError, match="summary.json: not readable JSON"):
        build([run], [])
    summary.write_text(json.dumps({"benchmark": "videomme", "mode": "x"}))
    with pytest.raises(ReportError, match="not a summary of this version"):
        build([run], [])


def test_baselines_ship_with_the_package_and_bad_rows_are_named(tmp_path):
    assert baselines_file().is_file() and baselines_file().parent.parent.name == "reports"
    bad = tmp_path / "b.csv"
    bad.write_text("model,benchmark,mode,breakdown,value,accuracy,protocol,source\nX,mvbench,,,,high,p,s\n")
    with pytest.raises(ReportError, match="b.csv:2"):
        read_baselines(bad)
    # a wrong header read as no rows: every published figure left the report, exit 0, no word
    for text, said in (("a,b\n", "its header lacks model, benchmark, mode"), ("", "it is empty")):
        bad.write_text(text)
        with pytest.raises(ReportError, match=f"b.csv: {said}"):
            read_baselines(bad)
    shipped = baselines_file().read_bytes()
    bad.write_bytes(b"\xef\xbb\xbf" + shipped)  # as a spreadsheet saves it: read, not "its header lacks model"
    assert read_baselines(bad) == read_baselines(None)
    bad.write_text("model,benchmark,mode,value,accuracy,protocol,source\nX,mvbench,,,30,p,s\n")  # no breakdown
    with pytest.raises(ReportError, match="b.csv: its header lacks breakdown "):
        read_baselines(bad)


def test_runs_with_the_same_folder_name_keep_their_own_rows(tmp_path):
    first = write_run(tmp_path / "a" / "cx1", [True] * 30 + [False] * 70)
    second = write_run(tmp_path / "b" / "cx1", [True] * 10 + [False] * 90)
    report = build([first, second], [])
    assert report.to_json()["main"]["a/cx1 coarse_fine [reference]"]["videomme"]["accuracy"] == pytest.approx(30.0)
    assert report.to_json()["main"]["b/cx1 coarse_fine [reference]"]["videomme"]["accuracy"] == pytest.approx(10.0)
    with pytest.raises(ReportError, match="the same run folder is given twice: "):
        build([first, first], [])


def test_a_summary_older_than_its_records_is_warned_about(tmp_path):
    import os

    run = write_run(tmp_path / "run", [True] * 10)
    samples = run / "videomme/coarse_fine/samples.jsonl"
    later = samples.stat().st_mtime + 60
    os.utime(samples, (later, later))
    text = markdown(build([run], []))
    assert "summary.json is older than samples.jsonl" in text and "computed from the records" in text


def test_records_are_the_truth_a_stale_or_missing_summary_is_recomputed(tmp_path):
    import os

    run = write_run(tmp_path / "run", [True] * 10 + [False] * 10)
    samples = run / "videomme/coarse_fine/samples.jsonl"
    lines = samples.read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for row in rows[10:15]:  # five wrong answers rescored: the gold letter A wins
        row["scores"]["reference"], row["pred"]["reference"], row["correct"]["reference"] = (
            choosing("A", "reference"),
            "A",
            True,
        )
    samples.write_text("".join(json.dumps(row) + "\n" for row in rows))
    later = samples.stat().st_mtime + 60
    os.utime(samples, (later, later))
    report = build([run], [])
    assert report.to_json()["main"]["run coarse_fine [reference]"]["videomme"]["accuracy"] == pytest.approx(75.0)
    (run / "videomme/coarse_fine/summary.json").unlink()
    report = build([run], [])
    assert report.to_json()["main"]["run coarse_fine [reference]"]["videomme"]["accuracy"] == pytest.approx(75.0)
    assert any("no summary.json beside samples.jsonl" in w for w in report.to_json()["warnings"])


def test_written_files_are_readable_by_the_team(tmp_path):
    import stat

    run = write_run(tmp_path / "run", [True] * 10)
    for path in [
        *write_report([run], None, tmp_path / "out", show=False, thumbnails=0),
        run / "videomme/coarse_fine/summary.json",
    ]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path  # as the umask allows (mkstemp alone: 0600)


# ----- formulations side by side, failed and unparseable cells ----------------------------------------


def _edit_summary(run: Path, change) -> None:
    path = run / "videomme/coarse_fine/summary.json"
    summary = json.loads(path.read_text())
    change(summary)
    path.write_text(json.dumps(summary))


def _edit_records(run: Path, change) -> None:
    """Rewrite each record of ``run`` as ``change(index, row)`` makes it; the summary stays newer than the records."""
    import os

    folder = run / "videomme/coarse_fine"
    samples = folder / "samples.jsonl"
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    for index, row in enumerate(rows):
        change(index, row)
    samples.write_text("".join(json.dumps(row) + "\n" for row in rows))
    os.utime(folder / "summary.json", (samples.stat().st_mtime + 5,) * 2)


def _with_cloze(index: int, row: dict) -> None:
    """Cloze and circular predictions recorded beside the multiple-choice one (the same letter)."""
    for name in ("cloze_sum", "cloze_token", "cloze_byte", "cloze_pmi", "circular_reference"):
        row["pred"][name] = row["pred"]["reference"]
        row["correct"][name] = row["correct"]["reference"]


def _unparseable(row: dict) -> None:
    row["generated"] = {"text": "\n", "letter": None, "status": "empty"}
    row["pred"]["generated"], row["correct"]["generated"] = None, False


def test_formulations_side_by_side_each_named_with_its_chance(tmp_path):
    run = write_run(tmp_path / "run", [True] * 30 + [False] * 70, generated=True)
    _edit_records(run, _with_cloze)
    report = build([run], read_baselines(None))
    assert report.to_json()["warnings"] == []
    shown = {label: report.to_json()["formulations"][label] for label in report.to_json()["run_rows"]}
    assert shown == {
        "run coarse_fine [reference]": "multiple_choice",
        "run coarse_fine [cloze_pmi]": "cloze",
        "run coarse_fine [generated]": "generated",
        "run coarse_fine [circular_reference]": "circular",
    }
    assert (
        report.to_json()["formulations"]["SmolVLM2-256M (published)"] == "generated"
    )  # published keep their own protocol
    text = markdown(report)
    assert "| run coarse_fine [cloze_pmi] | cloze | cloze: " in text and "`cloze`: " in text
    full = [(row["formulation"], row["protocol"]) for row in report.to_json()["full"]]
    assert [p for f, p in full if f == "cloze"] == ["cloze_sum", "cloze_token", "cloze_byte", "cloze_pmi"]
    assert [f for f, _ in full] == sorted(
        [f for f, _ in full], key=["multiple_choice", "cloze", "generated", "circular"].index
    )
    for row in text.split("## Every protocol recorded")[1].splitlines():
        if row.startswith("| run coarse_fine"):  # every number beside its chance level; circular's is its plain one's
            assert "(chance 25.0)" in row, row
    import csv
    import io

    from fvlm_eval.reports.markdown import csv_text

    lines = list(csv.DictReader(io.StringIO(csv_text(report))))
    by_row = {line["row"]: line for line in lines if not line["breakdown"]}
    assert by_row["run coarse_fine [cloze_byte]"]["formulation"] == "cloze"  # beyond the main table's rows too
    assert by_row["run coarse_fine [generated]"]["formulation"] == "generated"
    assert all(line["formulation"] for line in lines)


def test_a_run_killed_before_its_summary_is_headlined_by_the_runs_default_protocol(tmp_path):
    """Without a summary.json (killed before it was written) report and track headlined `reference`, regress
    compared it, though a run headlines cloze_pmi unless told otherwise."""
    from fvlm_eval.protocols import DEFAULT_PROTOCOL
    from fvlm_eval.reports.regress.compare import compare_runs

    runs = [write_run(tmp_path / name, [True, False] * 6, cloze_framing="plain") for name in ("a", "b")]
    for run in runs:
        (run / "videomme" / "coarse_fine" / "summary.json").unlink()
    report = build(runs[:1], [])
    assert list(report.to_json()["main"])[0] == f"a coarse_fine [{DEFAULT_PROTOCOL}]"  # the headline row first
    assert compare_runs(runs[0], runs[1]).rows[0].protocol == DEFAULT_PROTOCOL


def test_a_run_whose_questions_all_failed_says_so_not_zero(tmp_path):
    run = write_run(tmp_path / "dead", [False] * 6, generated=True)
    _edit_records(run, lambda i, row: row.update(error="video missing"))
    report = build([run], [])
    text = markdown(report)
    assert "0.0 [0.0" not in text
    assert (
        "| dead coarse_fine [reference] | multiple_choice | headline: option log-likelihood (reference: mean CE, the "
        "public fVLM scorer's) | all 6 failed (6/2700 q recorded, none scored) |" in text
    )
    assert "| Counting Problem | all 6 failed |" in text  # the breakdown too


def test_generated_answers_all_unparseable_say_so_and_counts_are_shown(tmp_path):
    run = write_run(tmp_path / "run", [False] * 10, generated=True)
    _edit_records(run, lambda i, row: _unparseable(row))
    assert "every answer unparseable (10/10): 0.0 [" in markdown(build([run], []))
    run = write_run(tmp_path / "three", [False] * 10, generated=True)
    _edit_records(run, lambda i, row: _unparseable(row) if i < 3 else None)
    row = next(line for line in markdown(build([run], [])).splitlines() if "[generated]" in line)
    assert "; 3 unparseable)" in row


def _generation_failed(row: dict) -> None:
    error = "does not fit the model's context: 146 positions + 512 new tokens > 200"
    row["generated"] = {"text": "", "letter": None, "status": "failed", "error": error}
    row["pred"]["generated"], row["correct"]["generated"] = None, False


def test_generations_that_all_failed_say_so_not_a_bare_zero(tmp_path, capsys):
    """Every answer failed to generate (no room in the context for --max-new-tokens): the run table and the
    report showed `generated 0.0 [0.0-56.1]` with no word, though summary.json counted generation_failed."""
    from fvlm_eval.reports.read import read_summaries
    from fvlm_eval.reports.tables import print_run_tables

    run = write_run(tmp_path / "run", [False] * 10, generated=True)
    _edit_records(run, lambda i, row: _generation_failed(row))
    report = build([run], [])
    assert "every generation failed (10/10): 0.0 [" in markdown(report)
    assert report.to_json()["main"]["run coarse_fine [generated]"]["videomme"]["generation_failed"] == 10
    print_run_tables({key: s for key, s in read_summaries(run).items()})
    assert "all 10 generations failed (samples.jsonl: generated.error)" in " ".join(capsys.readouterr().out.split())
    run = write_run(tmp_path / "three", [False] * 10, generated=True)
    _edit_records(run, lambda i, row: _generation_failed(row) if i < 3 else None)
    row = next(line for line in markdown(build([run], [])).splitlines() if "[generated]" in line)
    assert "; 3 generations failed)" in row and "every generation" not in row


def test_charts_one_colour_per_series_zero_drawn_apart_from_not_measured():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fvlm_eval.reports.charts import _bars, palette

    for count in (3, 10, 16, 40):
        colours = [tuple(round(c, 3) for c in colour) for colour in palette(count)]
        assert len(set(colours)) == count
    figure, axis = plt.subplots()
    from fvlm_eval.reports.cells import Cell

    _bars(
        axis,
        [0, 1, 2, 3],
        [
            Cell("measured", 0.0, ci95=(0.0, 12.0)),
            None,
            Cell("failed", failed=3),
            Cell("measured", 40.0, ci95=(30.0, 50.0)),
        ],
        0.8,
        "C0",
        "run",
    )
    heights = [bar.get_height() for bar in axis.patches]
    assert heights[0] > 0 and heights[3] == 40.0  # 0% is a visible stub
    assert [t.get_text() for t in axis.texts] == ["0", "n/m", "failed"]
    plt.close(figure)


def test_terminal_tables_never_cut_a_name(tmp_path):
    import io

    from rich.console import Console

    from fvlm_eval.reports.tables import print_run_tables
    from fvlm_eval.summary import Summary

    summaries = {}
    for mode in ("coarse_only", "coarse_fine", "autoregressive"):
        run = write_run(tmp_path / "r", [True, False, True, True] * 5, mode=mode, generated=True)
        stated = json.loads((run / "videomme" / mode / "summary.json").read_text())
        stated["accuracy"]["generated"]["unparseable"] = 2
        summaries[("videomme", mode)] = Summary.from_json(stated)
    for width in (80, 48):
        out = io.StringIO()
        print_run_tables(summaries, Console(width=width, file=out, force_terminal=False, color_system=None))
        text = out.getvalue()
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
        words = text.split()
        for name in ("coarse_only", "coarse_fine", "autoregressive", "reference", "generated", "20/2700"):
            assert any(w.strip(";") == name for w in words), (width, name)
        assert "Counting Problem" in " ".join(words)
        assert "2 unparseable" in text and "gen = generated answer" in " ".join(words)
    assert "mode: autoregressive;" in text  # folded into rows at 48 columns


def test_the_report_in_the_terminal_cuts_no_name_and_reads_no_markup(tmp_path):
    import io

    from rich.console import Console

    from fvlm_eval.reports.report_table import print_report

    long = write_run(
        tmp_path / "SmolVLM2-256M-Video-Instruct-finetuned-step_120000",
        [True] * 40 + [False] * 60,
        family="smolvlm",
        mode="standard",
        generated=True,
        model={"family": "smolvlm", "name": "SmolVLM2-256M-Video-Instruct"},
    )
    odd = write_run(tmp_path / "run [bold]x[red]", [True] * 30 + [False] * 70)
    report = build([long, odd], read_baselines(None))
    out = io.StringIO()
    print_report(report, tmp_path / "out", Console(width=80, file=out, force_terminal=False, color_system=None))
    text = out.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "R1 = SmolVLM2-256M-Video-Instruct-finetuned-step_120000" in text
    assert "R2 = run [bold]x[red]" in text  # a name is data, never rich markup
    assert re.search(r"^R1 +standard +gen +generated +40\.0 \[", text, re.MULTILINE)
    assert "(SmolVLM2-256M) on Video-MME: ours 40.0" in " ".join(text.split())
    assert any(line.startswith("P4 = SmolVLM2-256M (published): generated answer") for line in text.splitlines())


def test_a_protocol_measured_on_part_of_the_run_shows_its_own_n(tmp_path):
    import io

    from rich.console import Console

    from fvlm_eval.reports.read import read_summaries
    from fvlm_eval.reports.tables import print_run_tables

    run = write_run(tmp_path / "run", [False] * 10, generated=True)

    def partial(index, row):  # 3 generated answers of 10 recorded questions, all unparseable
        if index < 3:
            _unparseable(row)
        else:
            row["generated"] = None
            del row["pred"]["generated"], row["correct"]["generated"]

    _edit_records(run, partial)
    text = markdown(build([run], []))
    row = next(line for line in text.splitlines() if line.startswith("| run coarse_fine [generated]"))
    assert "every answer unparseable (3/3)" in row and "(on 3 of 10 recorded q; 10/2700 q" in row
    full = next(line for line in text.splitlines() if line.startswith("| run coarse_fine | generated"))
    assert "(on 3 of 10 recorded q)" in full
    reference = next(line for line in text.splitlines() if line.startswith("| run coarse_fine [reference]"))
    assert "recorded q" not in reference  # measured on every recorded question: the run's coverage alone
    summary = read_summaries(run)[("videomme", "coarse_fine")]
    out = io.StringIO()
    print_run_tables({("videomme", "coarse_fine"): summary}, Console(width=200, file=out, color_system=None))
    assert "on 3 of 10" in out.getvalue() and "all 3 unparseable" in out.getvalue()


def test_report_alpha_must_lie_between_0_and_one_half(tmp_path, capsys):
    """Over its whole range: a one-sided test at 0.5 or more calls a coin flip significant; 1e-17 is a level."""
    from fvlm_eval.cli import main

    run = write_run(tmp_path / "run", [True, False] * 5)
    for alpha in ("0", "0.5", "0.7", "1", "-0.1", "nan", "inf"):
        assert main(["report", str(run), "--alpha", alpha, "--output-dir", str(tmp_path / "out")]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"error: --alpha {float(alpha):g}: must be above 0 and below 0.5"), line
    assert not (tmp_path / "out").exists()
    assert main(["report", str(run), "--alpha", "1e-17", "--thumbnails", "0", "--output-dir", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o/report.json").read_text())["alpha"] == 1e-17


def test_circular_generated_unparseable_under_every_rotation_says_so(tmp_path):
    import dataclasses

    from fvlm_eval.reports.cells import fmt, run_cell
    from fvlm_eval.reports.freshness import load_run_folder
    from fvlm_eval.summarize import circular_unparseable as _circular_unparseable

    run = write_run(tmp_path / "run", [False] * 4, generated=True)
    records = list(load_run_folder(run / "videomme/coarse_fine").records.values())
    empty = {"generated": {"text": "\n", "letter": None, "status": "empty"}}
    read = {"generated": {"text": "B", "letter": "B", "status": "letter"}}
    records = [
        dataclasses.replace(r, circular={"rotations": [empty, empty if i < 3 else read]}) for i, r in enumerate(records)
    ]
    from fvlm_eval.summary import ProtocolResult, Summary

    summary = Summary.from_json(json.loads((run / "videomme/coarse_fine/summary.json").read_text()))
    plain = summary.accuracy["generated"]
    circular = ProtocolResult("circular_generated", "circular", plain.overall, letters=plain.letters)
    block = _circular_unparseable(circular, records)
    assert (block.unparseable, block.unparseable_all) == (4, 3)  # 4 with some rotation unreadable, 3 with all
    summary = summary.replace(accuracy={**summary.accuracy, "circular_generated": block})
    text = fmt(run_cell(summary, "circular_generated"), "videomme")
    assert "None" not in text and "; 4 unparseable" in text and "every answer" not in text
    records = [dataclasses.replace(r, circular={"rotations": [empty, empty]}) for r in records]
    summary = summary.replace(
        accuracy={**summary.accuracy, "circular_generated": _circular_unparseable(circular, records)}
    )
    assert fmt(run_cell(summary, "circular_generated"), "videomme").startswith("every answer unparseable (4/4)")


# ----- the records decide: a summary's numbers are never shown ---------------------------------------


def test_a_hand_edited_summary_changes_no_number_and_is_warned_about(tmp_path):
    run = write_run(tmp_path / "run", [True] * 3 + [False] * 6, cloze_framing="plain")
    _edit_records(run, lambda i, row: choose(row, ["cloze_pmi"], "A") if i < 6 else None)  # cloze_pmi: 6 of 9
    path = run / "videomme/coarse_fine/summary.json"

    def perfect(summary):  # 9/9 under every protocol, and the headline moved to cloze_pmi
        summary["headline_protocol"] = "cloze_pmi"
        for block in summary["accuracy"].values():
            block.update(accuracy=1.0, correct=block["n"], ci95=[1.0, 1.0])

    _edit_summary(run, perfect)
    report = build([run], [])
    main = report.to_json()["main"]
    assert main["run coarse_fine [reference]"]["videomme"]["accuracy"] == pytest.approx(100 / 3)
    assert main["run coarse_fine [cloze_pmi]"]["videomme"]["accuracy"] == pytest.approx(200 / 3)
    (warning,) = report.to_json()["warnings"]
    assert warning.startswith(
        f"{path}: its numbers disagree with its records (reference 9/9 stated, 3/9 in the records;"
    )
    assert "**Warning:** " + warning in markdown(report) and "100.0 [" not in markdown(report)


def test_an_emptied_selection_counts_every_record_and_says_so(tmp_path):
    run = write_run(tmp_path / "run", [True] * 6 + [False] * 3)
    _edit_summary(run, lambda s: s.update(questions=[]))
    report = build([run], [])
    assert report.to_json()["main"]["run coarse_fine [reference]"]["videomme"]["accuracy"] == pytest.approx(200 / 3)
    assert any(
        "`questions` is empty while" in w and "ignored: every record counts" in w for w in report.to_json()["warnings"]
    )


def test_a_summary_without_its_records_shows_no_number_and_names_the_file(tmp_path, capsys):
    from fvlm_eval.cli import main

    run = write_run(tmp_path / "run", [True] * 9)
    write_run(tmp_path / "run", [True] * 3 + [False] * 6, mode="coarse_only")
    samples = run / "videomme/coarse_fine/samples.jsonl"
    for make_it in ("deleted", "a folder"):
        if make_it == "a folder":
            samples.mkdir()
        else:
            samples.unlink()
        report = build([run], [])
        cell = report.to_json()["main"]["run coarse_fine [reference]"]["videomme"]
        assert cell["accuracy"] is None  # shown n/a, never the summary's 100.0
        assert (
            "| run coarse_fine [reference] | multiple_choice | headline: option log-likelihood (reference: mean CE, "
            "the public fVLM scorer's) | n/a |" in markdown(report)
        )
        assert report.to_json()["main"]["run coarse_only [reference]"]["videomme"]["accuracy"] == pytest.approx(100 / 3)
        (warning,) = report.to_json()["warnings"]
        assert warning.startswith(
            f"{samples}: {'missing' if make_it == 'deleted' else 'not a file'}, so "
            f"{samples.parent / 'summary.json'} has no records behind it"
        )
    assert main(["report", str(run), "--thumbnails", "0", "--output-dir", str(tmp_path / "out")]) == 0
    assert str(samples) in capsys.readouterr().out.replace("\n", "")  # said in the terminal too


def test_a_utf16_records_line_is_named_as_utf16(tmp_path, capsys):
    from fvlm_eval.cli import main

    run = write_run(tmp_path / "run", [True] * 4)
    samples = run / "videomme/coarse_fine/samples.jsonl"
    lines = samples.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].decode().encode("utf-16")  # a line appended by a UTF-16 editor or shell: BOM first
    samples.write_bytes(b"".join(lines))
    assert main(["report", str(run), "--thumbnails", "0", "--output-dir", str(tmp_path / "out")]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert (
        line == f"error: {samples}:3: the file is UTF-16 (this line starts with a UTF-16 byte-order mark), not "
        "UTF-8 JSON lines; convert it to UTF-8"
    )
    samples.write_bytes(samples.read_bytes().replace(b"\xff\xfe", b""))  # no mark: the NUL bytes give it away
    with pytest.raises(ReportError, match=r"samples.jsonl:3: not UTF-8 JSON lines \(this line holds NUL bytes"):
        build([run], [])


# ----- issue 23: statistics that cannot flatter, a named headline, grouped reasons, clean text, clean folders ---


def _lucky(index: int, row: dict) -> None:
    """cloze_pmi right on 6 of 9 questions (p = 0.01 against 25%), every other protocol on 2."""
    choose(row, ["cloze_pmi"], "A" if index < 6 else "B")


def test_a_lucky_cell_among_many_is_not_called_above_chance(tmp_path):
    """The demo's random fVLM read MVBench coarse_fine cloze_pmi 66.7 [34.9, 88.2], p = 0.015, with no ⚠: one
    of dozens of cells tested at 0.05 each. The report's verdicts are one family, Holm-adjusted."""
    runs = []
    for name in ("a", "b"):
        groups = [f"v{i}" for i in range(9)]  # one question a video: 6 right is 6 chances (three a video: 2)
        run = write_run(tmp_path / name, [True] * 2 + [False] * 7, generated=True, cloze_framing="plain", groups=groups)
        _edit_records(run, _lucky)
        runs.append(run)
    report = build(runs, [])
    cell = report.to_json()["main"]["a coarse_fine [cloze_pmi]"]["videomme"]
    assert cell["accuracy"] == pytest.approx(200 / 3) and cell["above_chance_p"] < 0.02
    tested = report.to_json()["above_chance_test"]
    assert tested["correction"] == "holm" and tested["cells"] == 2 * 11  # 6 multiple choice, 4 cloze, generated
    assert cell["above_chance_p_adjusted"] == pytest.approx(min(1.0, 22 * cell["above_chance_p"]))
    assert any(
        f.startswith("not significantly above chance") and "Holm-adjusted over 22 cells" in f for f in cell["flags"]
    )
    assert "Holm-adjusted over the 22 run cells of this report" in markdown(report)


def test_the_headline_and_the_cloze_framing_are_named_in_every_table(tmp_path):
    import io

    from rich.console import Console

    from fvlm_eval.reports.markdown import csv_text
    from fvlm_eval.reports.report_table import print_report

    run = write_run(tmp_path / "run", [True] * 5 + [False] * 4, cloze_framing="plain")
    _edit_summary(run, lambda s: s.update(headline_protocol="cloze_pmi"))
    report = build([run], read_baselines(None))
    text = markdown(report)
    assert "| run coarse_fine [cloze_pmi] | cloze (plain framing) | headline: cloze: " in text
    assert "| run coarse_fine | cloze (plain framing) | cloze_pmi (headline) |" in text  # every protocol's table
    assert "| run coarse_fine [reference] | multiple_choice | option log-likelihood" in text  # not the headline
    breakdown = text.split("## Video-MME by task_type")[1]
    assert "run coarse_fine [cloze_pmi]: cloze, plain framing, headline" in breakdown
    assert "fVLM-135M coarse_fine (published): multiple_choice" in breakdown  # a published figure's formulation
    line = next(r for r in csv_text(report).splitlines() if r.startswith("videomme,,,run coarse_fine [cloze_pmi]"))
    assert line.endswith(",headline,plain")
    out = io.StringIO()
    print_report(report, None, Console(width=100, file=out, color_system=None))
    assert "headline R1 cloze_pmi; cloze framing plain" in " ".join(out.getvalue().split())
    assert report.to_json()["headlines"] == {"run coarse_fine [cloze_pmi]": "headline"}


def test_circular_figures_reach_the_main_table_with_the_cloze_headline(tmp_path):
    from fvlm_eval.protocols import main_protocols

    recorded = ["reference", "cloze_pmi", "generated", "circular_reference", "circular_generated", "circular_sum"]
    assert main_protocols(recorded, "cloze_pmi") == [
        "cloze_pmi",
        "reference",
        "generated",
        "circular_reference",
        "circular_generated",
    ]
    run = write_run(tmp_path / "run", [True] * 30 + [False] * 70, cloze_framing="plain")
    _edit_records(run, _with_cloze)
    _edit_summary(run, lambda s: s.update(headline_protocol="cloze_pmi"))
    assert "run coarse_fine [circular_reference]" in build([run], []).to_json()["run_rows"]


def test_the_reasons_are_grouped_one_line_per_run_and_reason(tmp_path):
    runs = [write_run(tmp_path / "r", [False] * 12, mode=mode, generated=True) for mode in ("m1", "m2", "m3")]
    report = build(runs[:1], [])
    assert len(report.flagged()) == 3 * 2 * 2  # three modes, two protocols, two reasons: twelve items before
    text = markdown(report)
    reasons = text.split("⚠ reasons")[1].split("\n\n")[1].splitlines()
    assert len(reasons) == 2, reasons
    assert reasons[0].startswith("- r: not significantly above chance (one-sided test, Holm-adjusted over the report's")
    assert "m1 [reference, generated] on Video-MME" in reasons[0] and "m3 [reference, generated]" in reasons[0]
    assert reasons[1].startswith("- r: not above always answering one letter")
    import io

    from rich.console import Console

    from fvlm_eval.reports.read import read_summaries
    from fvlm_eval.reports.tables import print_run_tables

    out = io.StringIO()
    print_run_tables(read_summaries(runs[0]), Console(width=200, file=out, color_system=None))
    lines = [line for line in out.getvalue().splitlines() if line.startswith("videomme (reference): not")]
    assert len(lines) == 2 and lines[0].endswith(": m1, m2, m3"), lines  # the end of a run: one line per reason too


def test_text_from_data_is_shown_never_obeyed_nor_cut(tmp_path):
    """An escape sequence or a NUL in the data (a category, an error, a folder name) reaches no terminal raw and
    no report.md or report.csv."""
    import io

    from rich.console import Console

    from fvlm_eval.reports.read import read_summaries
    from fvlm_eval.reports.report_table import print_report
    from fvlm_eval.reports.tables import print_run_tables

    run = write_run(tmp_path / "run\x1b[2J", [True] * 6 + [False] * 3)

    def hostile(index, row):
        row["fields"]["task_type"] = "Counting\x1b[31m\x00 Problem\u202e"
        if index == 8:
            row.update(error="decoding failed: \x1b]0;owned\x07", scores={p: None for p in row["scores"]})
            row["pred"] = {p: None for p in row["pred"]}

    _edit_records(run, hostile)
    written = write_report([run], None, tmp_path / "out", show=False, thumbnails=0)
    for path in written:
        if path.suffix in (".md", ".csv"):
            text = path.read_text()
            assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text, path.name
    assert "Counting\\x1b[31m\\x00 Problem\\u202e" in (tmp_path / "out/report.md").read_text()
    out = io.StringIO()
    print_report(build([run], []), None, Console(width=120, file=out, color_system=None))
    print_run_tables(read_summaries(run), Console(width=120, file=out, color_system=None))
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue() and "\\x1b]0;owned" in out.getvalue()


def test_a_report_folder_holds_only_what_the_last_report_wrote(tmp_path, monkeypatch):
    import fvlm_eval.reports.report as report_module

    run = write_run(tmp_path / "run", [True] * 6 + [False] * 3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "breakdown_mvbench.png").write_bytes(b"a chart of an earlier, wider report")
    (out / "notes.txt").write_text("the user's own")
    written = write_report([run], None, out, show=False, thumbnails=0)
    names = sorted(p.name for p in out.iterdir())
    assert "breakdown_mvbench.png" not in names and "notes.txt" in names  # stale removed, the user's kept
    assert sorted(p.name for p in written) == sorted(
        n for n in names if n not in ("notes.txt", ".fvlm-eval-report.json")
    )
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", "report.html")

    monkeypatch.setattr(report_module, "write_html", broken)
    _edit_records(run, lambda i, row: row["fields"].update(task_type="Another"))
    with pytest.raises(OSError):
        write_report([run], None, out, show=False, thumbnails=0)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the previous report, whole; no staging


def test_unmerged_shards_say_how_to_merge(tmp_path):
    run = tmp_path / "run"
    folder = run / "videomme" / "coarse_fine"
    folder.mkdir(parents=True)
    (folder / "samples.shard-0-of-2.jsonl").write_text("")
    (folder / "shard-0-of-2.json").write_text("{}")
    with pytest.raises(ReportError, match=rf"unmerged shards .*run `fvlm-eval merge {re.escape(str(run))}` first"):
        build([run], [])


def test_a_benchmark_scored_as_the_mean_of_its_categories_shows_that_mean_and_says_so(tmp_path, monkeypatch):
    """MLVU's official score is the mean of its tasks' accuracies: a benchmark that declares that rule
    (``aggregation = "category_mean"``) gets that number, its interval and chance, in every table."""
    from dataclasses import dataclass
    from typing import ClassVar

    from fvlm_eval.tasks import BENCHMARKS
    from fvlm_eval.tasks.base import Aggregation
    from fvlm_eval.tasks.videomme import VideoMME

    @dataclass
    class MeanOfDurations(VideoMME):
        aggregation: ClassVar[Aggregation] = "category_mean"

    run = write_run(tmp_path / "run", [True, True, True, False, True, False, True, False, True, False, True, False])
    monkeypatch.setitem(BENCHMARKS, "videomme", MeanOfDurations)  # the constructed runs are Video-MME's
    report = build([run], [])
    cell = report.to_json()["main"]["run coarse_fine [reference]"]["videomme"]
    # short (even ids): 6 of 6 right; long (odd ids): 1 of 6: mean (100 + 16.7) / 2, pooled 7 of 12
    assert cell["accuracy"] == pytest.approx(100 * (1 + 1 / 6) / 2) and cell["pooled"] == pytest.approx(700 / 12)
    assert cell["aggregation"] == "category_mean" and cell["categories_averaged"] == 2
    assert report.to_json()["aggregations"] == {"videomme": "category_mean"}
    text = markdown(report)
    assert "the mean of 2 durations' accuracies; chance 25.0" in text
    assert "Video-MME: the overall number is the mean of its duration accuracies (its official score)" in text
    import csv
    import io

    from fvlm_eval.reports.markdown import csv_text

    row = next(r for r in csv.DictReader(io.StringIO(csv_text(report))) if r["row"] == "run coarse_fine [reference]")
    assert float(row["accuracy"]) == pytest.approx(cell["accuracy"], abs=0.01)


def test_a_run_folder_that_mixes_models_is_said(tmp_path):
    """Written before `run` refused it: another family's (or checkpoint's, or dtype's) runs in one output folder,
    shown as one run without a word."""
    run = write_run(tmp_path / "run", [True] * 3, mode="coarse_only")
    write_run(tmp_path / "run", [False] * 3, mode="coarse_fine", family="smolvlm")
    (warning,) = build([run], []).to_json()["warnings"]
    assert warning == (
        f"{run}: its runs were made by 2 different models (videomme/coarse_fine (smolvlm, sha256 None, bfloat16); "
        "videomme/coarse_only (fvlm, sha256 None, bfloat16)): they are shown as one run"
    )


def test_a_run_folder_whose_model_folder_was_edited_between_modes_is_said(tmp_path):
    """The same weights with another config or tokenizer (settings.json's model_build_sha256) are another model; a
    folder written before the key was recorded is compared without it."""
    run = write_run(tmp_path / "run", [True] * 3, mode="coarse_only", identity={"model_build_sha256": "a" * 64})
    write_run(tmp_path / "run", [False] * 3, mode="coarse_fine", identity={"model_build_sha256": "b" * 64})
    (warning,) = build([run], []).to_json()["warnings"]
    assert warning == (
        f"{run}: its runs were made by 2 different models (videomme/coarse_fine (fvlm, sha256 None, "
        "build bbbbbbbbbbbb, bfloat16); videomme/coarse_only (fvlm, sha256 None, build aaaaaaaaaaaa, bfloat16)): "
        "they are shown as one run"
    )
    older = write_run(tmp_path / "older", [True] * 3, mode="coarse_only", identity={"model_build_sha256": "a" * 64})
    write_run(tmp_path / "older", [False] * 3, mode="coarse_fine")
    assert build([older], []).to_json()["warnings"] == []


def test_a_mean_of_categories_beside_a_published_figure_says_which_average_it_is():
    """MLVU's official number is the mean of its 7 tasks; the published SmolVLM2 figure is VLMEvalKit's, whose M-Avg
    pools: "ours 14.3 vs published 40.6" read as one kind of number (pooled: 25.0)."""
    from fvlm_eval.reports.rows import Comparison

    mean = Comparison(
        "r", "SmolVLM2-256M", "mlvu", 14.3, (5.0, 30.0), 40.6, "generated answer (VLMEvalKit)", -26.3, 25.0
    )
    assert mean.pooled_words() == " (the mean of its categories; pooled 25.0)"
    assert mean.difference_words() == "-26.3 points (-15.6 pooled)"
    assert mean.to_json()["ours_pooled"] == 25.0
    pooled = Comparison("r", "SmolVLM2-256M", "mvbench", 30.0, (25.0, 35.0), 32.7, "generated", -2.7)
    assert pooled.pooled_words() == "" and pooled.difference_words() == "-2.7 points"


def test_every_answer_unparseable_counts_the_answers_not_the_failed_questions(tmp_path):
    """7 unparseable answers and 2 questions whose video was missing read "every answer unparseable (7/9)": the
    label contradicted itself, and the table of every protocol named no failure."""
    run = write_run(tmp_path / "run", [False] * 9, generated=True)
    _edit_records(run, lambda i, row: _unparseable(row) if i < 7 else row.update(error="video missing"))
    text = markdown(build([run], []))
    assert "every answer unparseable (7/9)" not in text
    assert "every answer unparseable (7/7, 2 failed): 0.0 [" in text


def test_a_report_reads_each_run_folder_once_and_holds_one_folders_records_at_a_time(tmp_path, monkeypatch):
    """The tables and the question browser each read, parsed and recomputed every run folder (about a minute of
    one full checkpoint's two), and the tables kept a run's every folder's records until the run was summarized.
    Now one reading serves both, and when a folder is read no other folder's record is held."""
    import gc
    from collections import Counter

    import fvlm_eval.reports.html.browser as browser_module
    import fvlm_eval.reports.read as read_module
    from fvlm_eval.records import Record
    from fvlm_eval.reports.freshness import load_run_folder

    def live_records() -> int:
        gc.collect()
        return sum(isinstance(thing, Record) for thing in gc.get_objects())

    runs = [write_run(tmp_path / "step_100", [True, False] * 6), write_run(tmp_path / "step_200", [True] * 9)]
    for run in runs:
        write_run(run, [False, True, True] * 3, mode="coarse_only", generated=True)
    read, held = Counter(), []

    def counted(folder):
        read[folder] += 1
        held.append(live_records())
        return load_run_folder(folder)

    monkeypatch.setattr(read_module, "load_run_folder", counted)
    monkeypatch.setattr(browser_module, "load_run_folder", counted)
    before = live_records()
    write_report(runs, None, tmp_path / "out", show=False, thumbnails=0)
    folders = [run / "videomme" / mode for run in runs for mode in ("coarse_fine", "coarse_only")]
    assert read == Counter(folders)  # before: each twice
    assert max(held) <= before, (held, before)
    assert len(json.loads((tmp_path / "out" / "report.json").read_text())["main"]) >= 4
