"""The report's charts, and how report.html shows them: a name from data is drawn as it is (a ``$`` never
matplotlib mathtext), a breakdown chart reads top to bottom as its table does, and report.html shows a wide
chart at its own size and a long category without widening the page (found in the audit of the reports)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fvlm_eval.reports import charts as charts_module
from fvlm_eval.reports.build import build
from fvlm_eval.reports.charts import charts
from tests.fvlm_eval.constructed import write_run

DOLLARS = ["money: $5 vs $10", "price in $US_$", "a\\$b", "$x^2$"]


def _fields(run: Path, field: str, values: list[str]) -> Path:
    """Give ``run``'s records the values of ``field`` in turn (the records are the truth: the report reads them)."""
    samples = run / "videomme/coarse_fine/samples.jsonl"
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["fields"][field] = values[i % len(values)]
    samples.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return run


@pytest.fixture
def drawn(tmp_path, monkeypatch):
    """``draw(runs)``: the report's charts of ``runs``, written, and each figure kept ({file name: figure})."""
    figures = {}
    save = charts_module.save_figure

    def keep(figure, path, **options):
        figures[path.name] = figure
        save(figure, path, **options)

    monkeypatch.setattr(charts_module, "save_figure", keep)

    def draw(runs: list[Path]):
        report = build(runs, [])
        (tmp_path / "charts").mkdir(exist_ok=True)
        assert [p.name for p in charts(report, tmp_path / "charts")] == ["comparison.png", "breakdown_videomme.png"]
        return report, figures

    return draw


def _drawn_as(text, expected: str) -> bool:
    """Whether matplotlib draws ``text`` as the plain string ``expected`` (by its width: mathtext is drawn otherwise,
    ``$x^2$`` as x², and an unescaped ``\\$`` as ``$``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    figure = text.get_figure(root=True)
    renderer = FigureCanvasAgg(figure).get_renderer()  # a closed figure keeps no canvas of its own
    plain = Text(0, 0, expected, fontproperties=text.get_fontproperties(), parse_math=False)
    plain.set_figure(figure)
    return text.get_window_extent(renderer).width == pytest.approx(plain.get_window_extent(renderer).width)


def test_a_dollar_in_a_run_or_category_name_is_drawn_as_it_is(tmp_path, drawn):
    """``run_$\\frac{$`` failed the whole report (a mathtext ParseSyntaxException, exit 1), ``run_$x^2$`` was drawn
    as run_x², a category ``money: $5 vs $10`` as an italic "money: 5vs10"; a run named ``_hidden`` was left out of
    the legend (matplotlib skips a label starting with ``_``)."""
    names = ["run_$\\frac{$", "run_$x^2$", "_hidden"]
    runs = [_fields(write_run(tmp_path / name, [True, False, True] * 4), "task_type", DOLLARS) for name in names]
    report, figures = drawn(runs)
    table = report.breakdowns["videomme"]
    for name in ("comparison.png", "breakdown_videomme.png"):
        legend = figures[name].axes[0].get_legend().get_texts()
        rows = (
            report.rows
            if name == "comparison.png"
            else [r for r in report.rows if any(r in c for c in table.rows.values())]
        )
        shown = [report.series(label) for label in rows]
        assert len(shown) >= len(names) and all(any(series.startswith(n) for series in shown) for n in names)
        assert len(legend) == len(shown) + 1  # and the chance line
        for text, series in zip(legend, shown):
            assert _drawn_as(text, series), (text.get_text(), series)
    axis = figures["breakdown_videomme.png"].axes[0]
    ticks = axis.get_yticklabels()
    assert len(ticks) == len(DOLLARS) == len(table.rows)
    for text, category in zip(ticks, table.rows):
        assert _drawn_as(text, category), (text.get_text(), category)


def test_a_breakdown_chart_reads_top_to_bottom_as_its_table_with_its_scale_at_the_top(tmp_path, drawn):
    """The categories ran Z→A up the chart while the tables run A→Z, each category's bars in the reverse of the
    legend's order, and a tall chart's accuracy axis was only at its bottom."""
    runs = [
        _fields(write_run(tmp_path / name, [True, False] * 6), "task_type", ["alpha", "beta", "gamma"]) for name in "ab"
    ]
    report, figures = drawn(runs)
    axis = figures["breakdown_videomme.png"].axes[0]
    categories = list(report.breakdowns["videomme"].rows)
    assert categories == ["alpha", "beta", "gamma"]
    assert [t.get_text() for t in axis.get_yticklabels()] == categories
    heights = [axis.transData.transform((0, y))[1] for y in axis.get_yticks()]  # on the screen, upward
    assert heights == sorted(heights, reverse=True)  # the first category at the top
    bars = axis.patches  # each series' bars, one per category, series after series
    first, second = (axis.transData.transform((0, bars[k].get_y()))[1] for k in (0, len(categories)))
    assert first > second  # within a category: the legend's first series on top
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    assert legend[:2] == [report.series(label) for label in report.rows[:2]] and legend[:2][0].startswith("a ")
    tick = axis.xaxis.get_major_ticks()[0]
    assert tick.label1.get_visible() and tick.label2.get_visible()  # the accuracy scale at the bottom and the top


def test_a_long_category_is_wrapped_whole_on_a_breakdown_chart(tmp_path, drawn):
    long = "x" * 300
    runs = [_fields(write_run(tmp_path / "run", [True, False] * 6), "task_type", [long, "short"])]
    report, figures = drawn(runs)
    ticks = {
        t.get_text().replace("\n", ""): t.get_text()
        for t in figures["breakdown_videomme.png"].axes[0].get_yticklabels()
    }
    assert set(ticks) == {long, "short"} and ticks["short"] == "short"
    assert max(len(line) for line in ticks[long].splitlines()) <= 60 < len(long)  # wrapped, not squeezing the plot


# ----- report.html in a real browser ------------------------------------------------------------------------


def test_report_html_shows_a_wide_chart_at_its_own_size_and_a_long_category_within_the_page(tmp_path, chromium):
    """The comparison chart was shrunk to the window's width (its legend unreadable, and no way to see it whole);
    a 300-character category widened the category filter, and the page scrolled sideways."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from fvlm_eval.reports.report import write_report

    runs = [
        _fields(write_run(tmp_path / f"run_{i}", [True, False] * 6), "duration", ["c" * 300, "short"]) for i in "ab"
    ]
    written = write_report(runs, None, tmp_path / "out", show=False, thumbnails=0)
    html = next(p for p in written if p.suffix == ".html")
    webdriver, options, service = chromium
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(service=service, options=options)
    try:
        browser.set_window_size(900, 1200)  # narrower than the comparison chart
        browser.get(html.as_uri())
        WebDriverWait(browser, 30).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        page, window = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert page <= window * 1.05, (page, window)
        natural, shown, box, inside = browser.execute_script(
            "const figure = document.querySelector('#charts figure'), image = figure.querySelector('img');"
            "return [image.naturalWidth, image.getBoundingClientRect().width, figure.clientWidth, figure.scrollWidth];"
        )
        assert natural > window and shown >= natural  # at its own size, never shrunk ...
        assert box < window and inside > box  # ... in a box that scrolls sideways, within the page
        options_text = browser.execute_script(
            "return [...document.querySelectorAll('#f-category option')].map((o) => o.textContent)"
        )
        assert any("c" * 300 in text for text in options_text)  # the long category is among its choices
        width = browser.find_element(By.ID, "f-category").rect["width"]
        assert width < window / 2, width
    finally:
        browser.quit()
