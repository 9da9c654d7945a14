"""``fvlm-eval report``: runs of any families side by side with the published figures, written as
``report.md``, ``report.csv``, ``report.json``, the charts and ``report.html`` (see ``build`` for
what the report holds)."""

from __future__ import annotations

from pathlib import Path

from fvlm_eval import terminal
from fvlm_eval.files import write_json_atomic, write_text_atomic
from fvlm_eval.reports.baselines import read_baselines
from fvlm_eval.reports.build import build
from fvlm_eval.reports.charts import charts
from fvlm_eval.reports.html.page import write_html
from fvlm_eval.reports.markdown import csv_text, markdown
from fvlm_eval.reports.tables import print_report


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
    report = build([Path(r) for r in runs], read_baselines(baselines_path), alpha, protocols)
    folder = Path(output_dir) if output_dir else Path(runs[0]) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "report.md", markdown(report))
    write_text_atomic(folder / "report.csv", csv_text(report))
    write_json_atomic(folder / "report.json", report.to_json())
    images = charts(report, folder)
    written = [folder / "report.md", folder / "report.csv", folder / "report.json"] + images
    written.append(
        write_html(
            report,
            [Path(r) for r in runs],
            folder,
            images,
            thumbnails,
            frame_cache,
            say=terminal.echo if show else None,
        )
    )  # prints that survive a closed stdout
    if show:
        print_report(report, folder, terminal.console())
    return written
