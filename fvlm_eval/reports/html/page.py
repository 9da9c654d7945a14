"""``report.html``: the report's tables and charts and a question browser (``browser``), in one
self-contained file.

No network and no external file: charts are inline PNG ``data:`` URIs, thumbnails inline JPEG.
The questions travel as one JSON blob in a ``<script type="application/json">`` element
(``browser.json_for_script``), parsed once by the page's script, which builds every text node with
``textContent`` (never HTML from data). A Content-Security-Policy allows only the page's own script
(by its hash) and ``data:`` images: no request can leave.
"""

from __future__ import annotations

import base64
import hashlib
import html
from importlib import resources
from pathlib import Path

from fvlm_eval.files import write_text_atomic
from fvlm_eval.protocols import formulation_label
from fvlm_eval.reports.cells import fmt
from fvlm_eval.reports.html.browser import json_for_script
from fvlm_eval.reports.markdown import (
    BREAKDOWN_NOTE,
    aggregation_words,
    breakdown_cell,
    chance_note,
    headline_words,
    verdict_words,
)
from fvlm_eval.reports.reasons import grouped_reasons
from fvlm_eval.reports.rows import Report
from fvlm_eval.tasks import BENCHMARKS


def _asset(name: str) -> str:
    return (resources.files("fvlm_eval.reports.html") / "assets" / name).read_text(encoding="utf-8")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _plain(markdown_text: str) -> str:
    """A sentence written for report.md, as plain text (no backticks, ``\\n`` a line break's mark)."""
    return markdown_text.replace("`", "").replace("\\n", "⏎")


def _table(headers: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    caption = f"<caption>{_e(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def tables_html(report: Report) -> str:
    """The report's tables (as report.md has them), every text escaped."""
    benchmarks = report.benchmarks
    titles = [BENCHMARKS[b]().title for b in benchmarks]
    formulations = report.formulations
    parts = [
        "<h2>Main comparison</h2>",
        "<p>Accuracy %, 95% interval (clustered by video), coverage and the chance level of a uniform guess on the "
        f"same questions; failed questions count as wrong. {_e(verdict_words(report))}</p>",
        f"<p>{_e(_plain(headline_words(report)))}</p>",
        *[f"<p>{_e(_plain(sentence))}</p>" for sentence in aggregation_words(report, dict(zip(benchmarks, titles)))],
        _table(
            ["model and mode", "formulation", "protocol", *titles],
            [
                [
                    label,
                    report.formulation_text(label),
                    report.protocol_text(label),
                    *[fmt(report.cell(label, b), b) for b in benchmarks],
                ]
                for label in report.rows
            ],
        ),
    ]
    used = list(dict.fromkeys(formulations[label] for label in report.rows if label in formulations))
    parts.append("<ul>" + "".join(f"<li><b>{_e(f)}</b>: {_e(formulation_label(f))}</li>" for f in used) + "</ul>")
    reasons = grouped_reasons(report)
    if report.warnings or reasons:
        parts.append(
            "<ul class='warn'>"
            + "".join(f"<li>{_e(w)}</li>" for w in report.warnings)
            + "".join(f"<li>⚠ {_e(f)}</li>" for f in reasons)
            + "</ul>"
        )
    if report.full:
        rows = []
        for row in report.full:
            cells = []
            for b in benchmarks:
                cells.append(fmt(row.cells.get(b), b, with_coverage=False) + chance_note(row.cells.get(b)))
            formulation = f"{row.formulation} ({row.framing} framing)" if row.framing else row.formulation
            protocol = f"{row.protocol} ({row.headline})" if row.headline else row.protocol
            rows.append([f"{row.run} {row.mode}", formulation, protocol, *cells])
        parts += [
            "<h2>Every protocol recorded, by formulation</h2>",
            _table(["model and mode", "formulation", "protocol", *titles], rows),
        ]
    for benchmark, table in report.breakdowns.items():
        columns = [c for c in report.rows if any(c in r for r in table.rows.values())]
        rows = [[value, *[breakdown_cell(cells.get(c)) for c in columns]] for value, cells in table.rows.items()]
        parts += [
            f"<h2>{_e(BENCHMARKS[benchmark]().title)} by {_e(table.field)}</h2>",
            f"<p>{_e(BREAKDOWN_NOTE)}</p>",
            _table([table.field, *[report.series(c) for c in columns]], rows),
        ]
    if report.comparisons:
        parts += [
            "<h2>Measured here vs published (generated answers)</h2>",
            "<ul>"
            + "".join(f"<li>{_e(c.sentence(BENCHMARKS[c.benchmark]().title))}</li>" for c in report.comparisons)
            + "</ul>",
        ]
    if report.sources:
        parts.append(
            "<h2>Sources</h2><ul>" + "".join(f"<li>{_e(c)}: {_e(s)}</li>" for c, s in report.sources.items()) + "</ul>"
        )
    return "\n".join(parts)


def render(report: Report, data: dict, charts: list[Path]) -> str:
    """The page: the report's tables (its warnings, the question browser's among them), the charts and the
    question browser over ``data`` (``browser.QuestionBrowser.data``)."""
    script = _asset("browser.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    policy = (
        f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
        "base-uri 'none'; form-action 'none'"
    )
    images = "".join(  # each chart at its own size, scrolling sideways when wider than the window (never shrunk)
        f'<figure class="chart" tabindex="0"><img alt="{_e(path.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode("ascii")}"><figcaption>{_e(path.name)} (full size: '
        "scroll sideways when it is wider than the window)</figcaption></figure>"
        for path in charts
        if path.is_file()
    )
    headline = data.get("headline")
    framings = data.get("framings") or []
    starts = (
        f"<p id='browser-headline'>The protocol filter starts on the runs' headline protocol, "
        f"<b>{_e(headline)}</b>{_e(' (cloze framing: ' + ', '.join(framings) + ')' if framings else '')}.</p>"
        if headline
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fvlm-eval report</title>
<style>{_asset("browser.css")}</style></head>
<body>
<h1>fvlm-eval report</h1>
<nav><a href="#tables">Tables</a> · <a href="#charts">Charts</a> · <a href="#browser">Questions</a></nav>
<section id="tables">{tables_html(report)}</section>
<section id="charts"><h2>Charts</h2>{images}</section>
<section id="browser"><h2>Questions</h2>
{starts}
<noscript>The question browser needs JavaScript; the tables above do not.</noscript>
<div id="filters"></div><p id="count" role="status"></p><div id="pager-top" class="pager"></div>
<table id="questions"><thead></thead><tbody></tbody></table><div id="pager-bottom" class="pager"></div>
</section>
<script type="application/json" id="fvlm-data">{json_for_script(data)}</script>
<script>{script}</script>
</body></html>
"""


def write_html(report: Report, data: dict, folder: Path, charts: list[Path]) -> Path:
    """Write ``folder/report.html`` (see the module's docstring) and return its path."""
    path = Path(folder) / "report.html"
    write_text_atomic(path, render(report, data, charts))
    return path
