"""``fvlm-eval report``: runs against published baselines, as Markdown, CSV, JSON and PNG charts.

Every number of a run carries its 95% interval and its coverage (questions recorded / in a
complete copy, categories present / expected), so a run on partial data never reads as a full
one. Every column says its protocol: fVLM's option log-likelihood and SmolVLM2's generated
answers are different protocols.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.records import read_json, write_json_atomic, write_text_atomic
from fvlm_eval.tasks import TASKS

BASELINES = Path(__file__).resolve().parents[1] / "results" / "baselines" / "published.csv"
BENCHMARKS = ("mvbench", "videomme", "scienceqa")
TITLES = {"mvbench": "MVBench", "videomme": "Video-MME", "scienceqa": "ScienceQA (IMG test)"}
MAIN_BREAKDOWN = {"mvbench": "task", "videomme": "task_type", "scienceqa": "subject"}


@dataclass(frozen=True)
class Baseline:
    model: str
    benchmark: str
    mode: str
    breakdown: str
    value: str
    accuracy: float
    protocol: str
    source: str

    @property
    def column(self) -> str:
        return f"{self.model} {self.mode}".strip() + " (published)"


def read_baselines(path: Path | None) -> list[Baseline]:
    path = Path(path) if path else BASELINES
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [Baseline(r["model"], r["benchmark"], r["mode"], r["breakdown"], r["value"], float(r["accuracy"]),
                     r["protocol"], r["source"]) for r in rows]


def read_summaries(run: Path) -> dict[tuple[str, str], dict]:
    """(task, mode) -> summary.json of one run folder."""
    found = {}
    for path in sorted(Path(run).glob("*/*/summary.json")):
        summary = read_json(path)
        found[(summary["task"], summary["mode"])] = summary
    if not found:
        raise FileNotFoundError(f"no */*/summary.json under {run}: is it the --output-dir of `fvlm-eval run`?")
    return found


def run_cell(summary: dict, breakdown: tuple[str, str] | None = None) -> dict:
    protocol = summary["headline_protocol"]
    result = summary["accuracy"][protocol]
    if breakdown is not None:
        result = result["breakdowns"].get(breakdown[0], {}).get(breakdown[1])
        if result is None:
            return {}
    coverage = summary["coverage"]
    return {"accuracy": 100 * result["accuracy"], "ci95": [100 * x for x in result["ci95"]], "n": result["n"],
            "recorded": coverage["recorded"], "expected": coverage["expected"], "failed": coverage["failed"],
            "categories": f"{coverage['categories_present']}/{coverage['categories_expected']}", "protocol": protocol}


def fmt(cell: dict, task: str | None = None, with_coverage: bool = True) -> str:
    if not cell:
        return "-"
    if "ci95" not in cell:
        return f"{cell['accuracy']:.1f}"
    text = f"{cell['accuracy']:.1f} [{cell['ci95'][0]:.1f}, {cell['ci95'][1]:.1f}]"
    if with_coverage:
        noun = f"{TASKS[task].category_field}s" if task in TASKS else "categories"
        text += f" ({cell['recorded']}/{cell['expected']} q, {cell['categories']} {noun})"
    return text


def build(runs: list[Path], baselines: list[Baseline]) -> dict:
    """The report as data: columns, the main table, and one breakdown table per benchmark."""
    run_columns = []
    for run in runs:
        for (task, mode), summary in read_summaries(run).items():
            label = f"{Path(run).name} {mode}"
            run_columns.append((label, task, mode, summary))
    labels = list(dict.fromkeys(label for label, *_ in run_columns))
    baseline_labels = list(dict.fromkeys(b.column for b in baselines if not b.breakdown))
    protocols = {label: f"option log-likelihood ({s['headline_protocol']})" for label, _, _, s in run_columns}
    protocols.update({b.column: b.protocol for b in baselines})
    main = {}
    for benchmark in BENCHMARKS:
        row = {label: run_cell(s) for label, task, _, s in run_columns if task == benchmark}
        row.update({b.column: {"accuracy": b.accuracy} for b in baselines if b.benchmark == benchmark and not b.breakdown})
        if any(label in row for label in labels):
            main[benchmark] = row
    breakdowns = {}
    for benchmark in main:
        field = MAIN_BREAKDOWN[benchmark]
        values = set()
        for _, task, _, s in run_columns:
            if task == benchmark:
                values |= set(s["accuracy"][s["headline_protocol"]]["breakdowns"].get(field, {}))
        published = [b for b in baselines if b.benchmark == benchmark and b.breakdown == field]
        values |= {b.value for b in published}
        table = {}
        for value in sorted(values):
            row = {label: run_cell(s, (field, value)) for label, task, _, s in run_columns if task == benchmark}
            row.update({b.column: {"accuracy": b.accuracy} for b in published if b.value == value})
            table[value] = row
        breakdowns[benchmark] = {"field": field, "rows": table}
    columns = labels + [c for c in baseline_labels if c not in labels]
    sources = {b.column: b.source for b in baselines}
    return {"columns": columns, "run_columns": labels, "protocols": protocols, "sources": sources,
            "main": main, "breakdowns": breakdowns}


def markdown(report: dict) -> str:
    columns = report["columns"]
    lines = ["# fvlm-eval report", "",
             "Accuracy %, with the 95% interval (clustered by video) and coverage: questions recorded / in a "
             "complete copy, categories present / expected. Failed questions count as wrong.", "",
             "| benchmark | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|",
             "| *protocol* | " + " | ".join(f"*{report['protocols'].get(c, '')}*" for c in columns) + " |"]
    for benchmark, row in report["main"].items():
        lines.append(f"| {TITLES[benchmark]} | " + " | ".join(fmt(row.get(c, {}), benchmark) for c in columns) + " |")
    for benchmark, table in report["breakdowns"].items():
        cols = [c for c in columns if any(c in r for r in table["rows"].values())]
        lines += ["", f"## {TITLES[benchmark]} by {table['field']}", "",
                  f"| {table['field']} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for value, row in table["rows"].items():
            cells = [fmt(row.get(c, {}), with_coverage=False) + (f" (n={row[c]['n']})" if row.get(c, {}).get("n") else "")
                     for c in cols]
            lines.append(f"| {value} | " + " | ".join(cells) + " |")
    lines += ["", "## Sources", ""] + [f"- {c}: {s}" for c, s in report["sources"].items()]
    return "\n".join(lines) + "\n"


def csv_text(report: dict) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["benchmark", "breakdown", "value", "column", "protocol", "accuracy", "ci95_low", "ci95_high",
                     "n", "recorded", "expected", "categories"])
    def rows(benchmark, field, value, row):
        for column, cell in row.items():
            if cell:
                low, high = cell.get("ci95", ["", ""])
                writer.writerow([benchmark, field, value, column, report["protocols"].get(column, ""),
                                 f"{cell['accuracy']:.2f}", low, high, cell.get("n", ""), cell.get("recorded", ""),
                                 cell.get("expected", ""), cell.get("categories", "")])
    for benchmark, row in report["main"].items():
        rows(benchmark, "", "", row)
    for benchmark, table in report["breakdowns"].items():
        for value, row in table["rows"].items():
            rows(benchmark, table["field"], value, row)
    return buffer.getvalue()


def charts(report: dict, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    columns = report["columns"]
    benchmarks = list(report["main"])
    figure, axis = plt.subplots(figsize=(max(8, 1.2 * len(columns) * len(benchmarks) / 2), 4.5))
    width = 0.8 / max(len(columns), 1)
    for i, column in enumerate(columns):
        values = [report["main"][b].get(column, {}).get("accuracy", np.nan) for b in benchmarks]
        errors = [[v - report["main"][b].get(column, {}).get("ci95", [v, v])[0] for b, v in zip(benchmarks, values)],
                  [report["main"][b].get(column, {}).get("ci95", [v, v])[1] - v for b, v in zip(benchmarks, values)]]
        hatch = "" if column in report["run_columns"] else "//"
        axis.bar(np.arange(len(benchmarks)) + i * width, values, width, label=column, yerr=errors, hatch=hatch, capsize=2)
    axis.set_xticks(np.arange(len(benchmarks)) + width * (len(columns) - 1) / 2, [TITLES[b] for b in benchmarks])
    axis.set_ylabel("accuracy %")
    axis.set_title("fvlm-eval: runs (solid, log-likelihood) vs published (hatched; SmolVLM2 = generated answers)")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    path = folder / "comparison.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)
    for benchmark, table in report["breakdowns"].items():
        values = list(table["rows"])
        cols = [c for c in columns if any(c in r for r in table["rows"].values())]
        figure, axis = plt.subplots(figsize=(7, max(3, 0.35 * len(values) * max(1, len(cols)) / 2)))
        height = 0.8 / max(len(cols), 1)
        for i, column in enumerate(cols):
            data = [table["rows"][v].get(column, {}).get("accuracy", np.nan) for v in values]
            axis.barh(np.arange(len(values)) + i * height, data, height, label=column)
        axis.set_yticks(np.arange(len(values)) + height * (len(cols) - 1) / 2, values, fontsize=7)
        axis.set_xlabel("accuracy %")
        axis.set_title(f"{TITLES[benchmark]} by {table['field']}")
        axis.legend(fontsize=7)
        figure.tight_layout()
        path = folder / f"breakdown_{benchmark}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def write_report(runs: list[Path], baselines_path: Path | None = None, output_dir: Path | None = None) -> list[Path]:
    report = build([Path(r) for r in runs], read_baselines(baselines_path))
    folder = Path(output_dir) if output_dir else Path(runs[0]) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    write_text_atomic(folder / "report.md", text)
    write_text_atomic(folder / "report.csv", csv_text(report))
    write_json_atomic(folder / "report.json", report)
    written = [folder / "report.md", folder / "report.csv", folder / "report.json"] + charts(report, folder)
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(text))
    return written
