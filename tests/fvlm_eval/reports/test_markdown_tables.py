"""Every Markdown table report, regress and track write keeps its columns whatever the data says: a ``|`` in a
run folder's name, a mode or a category (TempCompass-style ``dim: "a|b"``) is escaped, never a cell border.
Found in the hostile round: such a row gained a cell and its numbers sat under the wrong columns."""

from __future__ import annotations

import re

from fvlm_eval.cli import main
from tests.fvlm_eval.constructed import write_run

BORDER = re.compile(r"(?<!\\)\|")


def tables(text: str) -> list[list[str]]:
    """The Markdown tables of ``text``, each as its lines (header, rule, rows)."""
    found, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found


def assert_whole_tables(text: str) -> None:
    for table in tables(text):
        widths = {len(BORDER.split(line)) for line in table}
        assert len(widths) == 1, "\n".join(table)


def test_a_pipe_in_data_never_splits_a_row_of_report_regress_or_track(tmp_path, capsys):
    runs = tmp_path / "runs"
    first = write_run(runs / "x|y_step_1000", [True, False] * 6, mode="coarse|fine")
    second = write_run(runs / "step_2000", [False, True] * 6, mode="coarse|fine")
    assert main(["report", str(first), str(second), "--output-dir", str(tmp_path / "report")]) == 0
    assert main(["regress", "--baseline", str(first), "--current", str(second), "--allow-underpowered"]) in (0, 1)
    assert main(["track", str(runs), "--output", str(tmp_path / "track")]) == 0
    capsys.readouterr()
    report = (tmp_path / "report" / "report.md").read_text()
    regress = (second / "regress" / "regress.md").read_text()
    track = (tmp_path / "track" / "track.md").read_text()
    for text in (report, regress, track):
        assert tables(text)
        assert_whole_tables(text)
    assert "x\\|y_step_1000" in report and "coarse\\|fine" in regress and "x\\|y_step_1000" in track


def test_no_detectable_drop_above_100_points_in_regress_or_track_tables(tmp_path, capsys):
    """An accuracy moves by 100 points at most: a detectable drop beyond that is "none (> 100)", as the terminal
    says (the tables once showed 143.6 and 430.7)."""
    runs = tmp_path / "runs"
    first = write_run(runs / "step_1", [True, False, True])
    second = write_run(runs / "step_2", [False, True, True])
    main(["regress", "--baseline", str(first), "--current", str(second), "--allow-underpowered"])
    assert main(["track", str(runs), "--output", str(tmp_path / "track")]) == 0
    capsys.readouterr()
    for text in ((second / "regress" / "regress.md").read_text(), (tmp_path / "track" / "track.md").read_text()):
        cells = [cell.strip() for table in tables(text) for line in table[2:] for cell in BORDER.split(line)]
        assert "none (> 100)" in cells
        assert not [c for c in cells if re.fullmatch(r"\d+\.\d", c) and float(c) > 100], text


def test_html_in_data_is_shown_never_rendered_in_report_regress_or_track(tmp_path, capsys, monkeypatch):
    """A mode, category or run name holding `<b>`, `<details>`, `<script>` went raw into report.md, regress.md, track.md
    and the step summary, where GitHub renders HTML: shown in bold, an open element, an empty cell."""
    from markdown_it import MarkdownIt

    runs = tmp_path / "runs"
    mode = "<b>fine<details>"  # folder names: no "/", so no closing tags
    first = write_run(runs / "<i>a_step_1000", [True, False] * 6, mode=mode)
    second = write_run(runs / "step_2000", [False, True] * 6, mode=mode)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    assert main(["report", str(first), str(second), "--output-dir", str(tmp_path / "report")]) == 0
    assert main(["regress", "--baseline", str(first), "--current", str(second), "--allow-underpowered"]) in (0, 1)
    assert main(["track", str(runs), "--output", str(tmp_path / "track")]) == 0
    capsys.readouterr()
    written = [tmp_path / "report/report.md", second / "regress/regress.md", tmp_path / "track/track.md"]
    for path in [*written, tmp_path / "summary.md"]:
        rendered = MarkdownIt("commonmark").enable("table").render(path.read_text())  # html on, as GitHub's
        assert "<b>fine" not in rendered and "<i>a" not in rendered, path
        assert "&lt;b&gt;fine&lt;details&gt;" in rendered, path
        assert rendered.count("<details>") == path.read_text().count("<details><summary>"), path  # only its own
