"""A report's charts: ``comparison.png`` (every row on every benchmark) and ``breakdown_<benchmark>.png``
(per category), written atomically as PNGs. Every series is named in the legend with its formulation
(a cloze one with its framing; a published figure's its own) and its run's headline marked
(``Report.series``).

Names from data (run folders, categories) are text, shown as they are (``literal``): a ``$`` is never
read as matplotlib mathtext, a name starting with ``_`` is never left out of a legend, and a control
character is written visibly."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from fvlm_eval.files import write_bytes_atomic
from fvlm_eval.reports.cells import Cell
from fvlm_eval.reports.printable import printable
from fvlm_eval.reports.rows import Report
from fvlm_eval.tasks import BENCHMARKS


def save_figure(figure, path: Path, **options) -> None:
    """A matplotlib figure as a PNG, written atomically (never a partial file; an error names ``path``)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **options)
    write_bytes_atomic(path, buffer.getvalue())


def literal(text) -> str:
    """``text`` as a chart shows it, literally: control characters written visibly (``printable``) and every
    ``$`` escaped, so that matplotlib never reads a name as mathtext (``$x^2$`` shown as x², a lone ``$\\frac{$``
    an error that failed the whole report)."""
    return printable(text).replace("$", r"\$")


CATEGORY_WIDTH = 48  # a breakdown chart's category name wraps at this many characters, never squeezing the plot


def palette(count: int) -> list:
    """``count`` distinct colours: matplotlib's tab10 up to 10 series, then evenly spaced hues
    (two lightness levels alternating), so no two series ever share a colour."""
    import colorsys
    import math

    import matplotlib

    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    stride = max(
        k for k in range(1, max(2, round(0.38 * count)) + 1) if math.gcd(k, count) == 1
    )  # neighbours far apart
    return [
        colorsys.hls_to_rgb((i * stride % count) / count, 0.42 if i % 2 else 0.6, 0.75) + (1.0,) for i in range(count)
    ]


ZERO_STUB = 0.6  # a 0% bar is drawn this many points tall (and labelled "0"); not measured: "n/m", no bar


def _bars(
    axis,
    positions,
    cells: list[Cell | None],
    size: float,
    colour,
    label: str,
    horizontal: bool = False,
    hatch: str = "",
):
    """One series: bars with their 95% intervals; 0% as a visible stub labelled 0, unmeasured as
    "n/m", a cell whose questions all failed as "failed". Returns the bars (the legend's handle)."""
    import numpy as np

    values = [c.accuracy if c is not None else None for c in cells]
    drawn = [np.nan if v is None else max(v, ZERO_STUB) for v in values]
    bars = (axis.barh if horizontal else axis.bar)(
        positions, drawn, size, color=colour, label=label, hatch=hatch, edgecolor="black", linewidth=0.4
    )
    with_interval = [
        (x, v, c.ci95) for x, v, c in zip(positions, values, cells) if v is not None and c.ci95 is not None
    ]
    if with_interval:
        xs, vs, cis = zip(*with_interval)
        errors = [[max(0.0, v - ci[0]) for v, ci in zip(vs, cis)], [max(0.0, ci[1] - v) for v, ci in zip(vs, cis)]]
        if horizontal:
            axis.errorbar(vs, xs, xerr=errors, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
        else:
            axis.errorbar(xs, vs, yerr=errors, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    for position, value, cell in zip(positions, values, cells):
        failed = cell is not None and cell.kind == "failed"
        text = "failed" if failed else "n/m" if value is None else "0" if value == 0 else None
        if text:
            xy = (ZERO_STUB + 0.5, position) if horizontal else (position, ZERO_STUB + 0.5)
            axis.annotate(
                text,
                xy,
                fontsize=7,
                color="dimgray",
                ha="left" if horizontal else "center",
                va="center" if horizontal else "bottom",
                rotation=0 if horizontal else 90,
            )
    return bars


def _legend(axis, handles: list, names: list[str]) -> None:
    """The legend beside the plot, its entries in the given order and each name shown as it is (passed
    explicitly: matplotlib would leave out a label that starts with ``_``)."""
    axis.legend(
        handles,
        [literal(n) for n in names],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        frameon=False,
    )


def charts(report: Report, folder: Path) -> list[Path]:
    """comparison.png (every row, its interval, chance per benchmark) and breakdown_<benchmark>.png
    (per category: every run's accuracy with its interval and the category's chance level). One
    colour per series; legends beside the plot, never over the bars; 0% drawn as a stub labelled
    "0", a value not measured marked "n/m"; every name shown as it is (``literal``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    labels, benchmarks = report.rows, report.benchmarks
    colours = dict(zip(labels, palette(len(labels))))
    titles = [textwrap.fill(BENCHMARKS[b]().title, 16) for b in benchmarks]  # many side by side: no label overlaps
    widest = max(16.0, 2.0 * len(benchmarks))
    figure, axis = plt.subplots(figsize=(min(max(7.0, 0.35 * len(labels) * len(benchmarks) + 2), widest) + 4.5, 5))
    width = 0.8 / max(len(labels), 1)
    handles, names = [], []
    for i, label in enumerate(labels):
        cells = [report.cell(label, b) for b in benchmarks]
        hatch = "" if label in report.run_rows else "//"
        series = report.series(label)
        handles.append(
            _bars(axis, np.arange(len(benchmarks)) + i * width, cells, width, colours[label], series, hatch=hatch)
        )
        names.append(series)
    for j, benchmark in enumerate(benchmarks):
        chances = [cell.chance for label in report.run_rows if (cell := report.cell(label, benchmark)) is not None]
        _chance_line(axis.hlines, chances, j - width / 2, j + width * (len(labels) - 0.5), handles, names)
    axis.set_xticks(np.arange(len(benchmarks)) + width * (len(labels) - 1) / 2, titles)
    axis.set_ylabel("accuracy % (95% interval)")
    axis.set_ylim(0, 100)
    axis.set_title(
        "fvlm-eval: runs (solid) vs published (hatched), each series named with its formulation and the "
        "headline marked\ndashed: chance; n/m: not measured",
        fontsize=10,
    )
    _legend(axis, handles, names)
    figure.tight_layout()
    path = folder / "comparison.png"
    save_figure(figure, path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    written.append(path)
    for benchmark, table in report.breakdowns.items():
        written.append(_breakdown(report, benchmark, table, colours, folder))
    return written


CHANCE = "chance (uniform guess)"


def _chance_line(draw, chances: list, start: float, end: float, handles: list, names: list) -> None:
    """The dashed chance level (the mean of the known ``chances``) across one group of bars, drawn with
    ``axis.hlines`` or ``axis.vlines``; named once in the legend."""
    known = [c for c in chances if c is not None]
    if known:
        line = draw(sum(known) / len(known), start, end, colors="black", linestyles="--", linewidth=1.2)
        if CHANCE not in names:
            handles.append(line)
            names.append(CHANCE)


def _category(value) -> str:
    """A category as a breakdown chart's axis names it: ``literal``, a long name over lines of ``CATEGORY_WIDTH``
    characters (a short one exactly as it is)."""
    shown = printable(value)
    lines = textwrap.wrap(shown, CATEGORY_WIDTH) if len(shown) > CATEGORY_WIDTH else [shown]
    return "\n".join(line.replace("$", r"\$") for line in lines)


def _breakdown(report: Report, benchmark: str, table, colours: dict, folder: Path) -> Path:
    """breakdown_<benchmark>.png: read top to bottom as the tables are, the categories in the table's order and
    each category's bars in the legend's order; the accuracy axis at the top and at the bottom."""
    import matplotlib.pyplot as plt
    import numpy as np

    values = list(table.rows)
    columns = [c for c in report.rows if any(c in r for r in table.rows.values())]
    ticks = [_category(v) for v in values]
    lines = max([t.count("\n") + 1 for t in ticks] or [1])
    per_category = max(0.3 * max(1, len(columns)), 0.15 * lines)  # a wrapped name never runs into the next
    figure, axis = plt.subplots(figsize=(11, min(max(3.0, per_category * len(values) + 1), 30.0)))
    height = 0.8 / max(len(columns), 1)
    handles, names = [], []
    for i, column in enumerate(columns):
        cells = [table.rows[v].get(column) for v in values]
        hatch = "" if column in report.run_rows else "//"
        series = report.series(column)
        positions = np.arange(len(values)) + i * height
        handles.append(_bars(axis, positions, cells, height, colours[column], series, horizontal=True, hatch=hatch))
        names.append(series)
    for k, value in enumerate(values):
        chances = [c.chance for c in table.rows[value].values() if c is not None]
        _chance_line(axis.vlines, chances, k - height / 2, k + height * (len(columns) - 0.5), handles, names)
    axis.set_yticks(np.arange(len(values)) + height * (len(columns) - 1) / 2, ticks, fontsize=8)
    axis.invert_yaxis()  # the first category, and each category's first series, at the top
    axis.set_xlim(0, 100)
    axis.tick_params(axis="x", top=True, labeltop=True)  # a tall chart's top rows have their scale too
    axis.set_xlabel("accuracy % (95% interval); dashed: chance; n/m: not measured")
    axis.set_title(
        f"{literal(BENCHMARKS[benchmark]().title)} by {literal(table.field)}: each run on its headline protocol, each "
        "published figure in its own formulation (named in the legend)",
        fontsize=9,
    )
    _legend(axis, handles, names)
    figure.tight_layout()
    path = folder / f"breakdown_{benchmark}.png"
    save_figure(figure, path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
