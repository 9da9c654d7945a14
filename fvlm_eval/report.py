"""``fvlm-eval report``: runs of any families side by side with the published figures.

One row per (run, mode, protocol) and per published figure, one column per benchmark. Every
number of a run carries its 95% interval, its coverage (questions recorded / in a complete copy,
categories present / expected) and the chance level on the same questions; a ⚠ marks one that is
not significantly above chance or not above always answering one letter. Every row names its
protocol: option log-likelihood (which), a generated answer read by fvlm-eval, or the published
source's. Per SmolVLM2 size, a line sets our generated-answer figure beside the published one.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fvlm_eval import scoring
from fvlm_eval.records import RecordError, write_bytes_atomic, write_json_atomic, write_text_atomic
from fvlm_eval.scoring import GENERATED
from fvlm_eval.summary import flags
from fvlm_eval.tasks import BENCHMARKS

PROTOCOL_NAMES = {
    "reference": "option log-likelihood (reference: mean CE, the public fVLM scorer's)",
    "sum": "option log-likelihood (sum)",
    "mean": "option log-likelihood (mean)",
    "letter": "log p of the letter",
    "option_text": "log p of the option's own text (sum)",
    "option_text_norm": "log p of the option's own text per byte",
    GENERATED: "generated answer, letter read by fvlm-eval",
    "cloze_sum": "cloze: log p of the option's text (sum)",
    "cloze_token": "cloze: log p of the option's text per token",
    "cloze_byte": "cloze: log p of the option's text per byte",
    "cloze_pmi": "cloze: log p of the text minus its log p after a neutral prompt (PMI)",
}


def protocol_name(protocol: str) -> str:
    """What a protocol's number is, in words (circular and permutation-averaged variants by their base)."""
    for prefix, words in (("circular_", "circular, right under every rotation: "),
                          ("permavg_", "permutation-averaged: ")):
        if protocol.startswith(prefix):
            return words + protocol_name(protocol[len(prefix):])
    return PROTOCOL_NAMES.get(protocol, protocol)
SMOLVLM2_SIZES = {"256M": 256e6, "500M": 507e6, "2.2B": 2.25e9}
CLOZE_ORDER = ("cloze_pmi", "cloze_byte", "cloze_token", "cloze_sum")  # the main table shows the first recorded
FORMULATION_ORDER = ("multiple_choice", "cloze", "generated", "circular", "permutation_averaged", "published")


def formulation_of(protocol: str, block: dict | None = None) -> str:
    """The formulation a protocol's number comes from: the summary's own word, else ``scoring.formulation``."""
    return (block or {}).get("formulation") or scoring.formulation(protocol)


def formulation_label(formulation: str) -> str:
    return {**scoring.FORMULATION_LABELS, "published": "published figure (its own protocol)"}.get(formulation, formulation)


def published_formulation(protocol: str) -> str:
    """A published figure's formulation, read from its protocol text (it keeps its own label)."""
    text = protocol.lower()
    if "generat" in text:
        return "generated"
    if "cloze" in text:
        return "cloze"
    return "multiple_choice" if "likelihood" in text or "log p" in text else "published"


def main_protocols(summary: dict) -> list[str]:
    """The protocols a run's row set shows in the main table: the headline, ``reference`` (the
    published fVLM figures' protocol), the best-known cloze protocol recorded, ``generated`` and the
    circular headline when recorded."""
    recorded = summary["accuracy"]
    headline = summary["headline_protocol"]
    shown = [headline] + [p for p in ("reference",) if p in recorded]  # the published fVLM figures' protocol
    shown += [p for p in CLOZE_ORDER if p in recorded][:1]
    shown += [p for p in (GENERATED, f"circular_{headline}", f"circular_{GENERATED}") if p in recorded]
    return list(dict.fromkeys(shown))


def protocol_order(protocols) -> list[str]:
    """Protocols grouped by formulation (multiple choice, cloze, generated, circular, ...), in recorded order."""
    protocols = list(dict.fromkeys(protocols))
    rank = {f: i for i, f in enumerate(FORMULATION_ORDER)}
    return sorted(protocols, key=lambda p: (rank.get(formulation_of(p), len(rank)), protocols.index(p)))


class ReportError(ValueError):
    """A run folder or baseline file a report cannot be made from, named."""


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
    def label(self) -> str:
        return f"{self.model} {self.mode}".strip() + " (published)"


def baselines_file() -> Path:
    return Path(str(resources.files("fvlm_eval") / "baselines" / "published.csv"))


def read_baselines(path: Path | None) -> list[Baseline]:
    path = Path(path) if path else baselines_file()
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ReportError(f"baselines {path}: {error.strerror or error}") from error
    except (UnicodeDecodeError, csv.Error) as error:
        raise ReportError(f"baselines {path}: not a UTF-8 CSV file ({type(error).__name__})") from error
    result = []
    for number, r in enumerate(rows, start=2):
        try:
            baseline = Baseline(r["model"], r["benchmark"], r["mode"] or "", r["breakdown"] or "", r["value"] or "",
                                float(r["accuracy"]), r["protocol"], r["source"])
            if baseline.benchmark not in BENCHMARKS:
                raise ValueError(f"benchmark {baseline.benchmark!r} is not one of {', '.join(BENCHMARKS)}")
            if not 0.0 <= baseline.accuracy <= 100.0:  # also refuses nan
                raise ValueError(f"accuracy {r['accuracy']!r} is not a percentage")
            if not baseline.model:
                raise ValueError("no model named")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ReportError(f"baselines {path}:{number}: not a baseline row ({type(error).__name__}: {error})") from error
        result.append(baseline)
    return result


def read_summaries(run: Path, warnings: list[str] | None = None) -> dict[tuple[str, str], dict]:
    """(benchmark, mode) -> the summary of each ``<benchmark>/<mode>`` folder of one run, always
    computed from its records by the one rule of ``freshness.load_run_folder`` (``correct``
    recomputed from pred and gold; the summary supplies only its selection of questions, headline
    protocol, manifest and annotation problems, never a number); every warning of that rule (a
    stale, missing or hand-edited summary, a summary with no readable records) is appended to
    ``warnings``."""
    from fvlm_eval.freshness import load_run_folder
    from fvlm_eval.summary import summarize_records
    from fvlm_eval.tasks import get_benchmark

    run = Path(run)
    if not run.is_dir():
        raise ReportError(f"{run}: no such run folder")
    found = {}
    folders = sorted({p.parent for name in ("summary.json", "samples.jsonl") for p in run.glob(f"*/*/{name}")})
    for folder in folders:
        path = folder / "summary.json"
        try:
            loaded = load_run_folder(folder)
            stated = loaded.summary or {}
            if loaded.summary is not None:  # a summary of this version names these (its numbers are not read)
                for name in ("headline_protocol", "accuracy", "coverage"):
                    stated[name]
        except RecordError as error:
            raise ReportError(str(error)) from error
        except (KeyError, TypeError) as error:
            raise ReportError(f"{path}: not a summary of this version of fvlm-eval (no {error})") from error
        benchmark, mode = folder.parent.name, folder.name  # where the runner wrote them, as regress pairs them
        if benchmark not in BENCHMARKS:
            raise ReportError(f"{folder}: {benchmark!r} is not a benchmark of fvlm-eval ({', '.join(BENCHMARKS)})")
        records = list(loaded.records.values())
        coverage = stated.get("coverage") if isinstance(stated.get("coverage"), dict) else {}
        selected = coverage.get("selected")
        selected = selected if isinstance(selected, int) and selected >= len(records) else len(records)
        problems = [p for p in stated.get("problems") or [] if isinstance(p, dict) and isinstance(p.get("expected", 0), int)]
        notes = [n for n in stated.get("notes") or [] if isinstance(n, str)]
        summary = summarize_records(get_benchmark(benchmark), mode, records, selected,
                                    loaded.headline_protocol or "reference", notes, problems)
        summary["manifest"] = stated.get("manifest") if isinstance(stated.get("manifest"), dict) else {}
        if warnings is not None:
            warnings.extend(loaded.warnings)
            if not loaded.warnings and loaded.summary is not None:
                warnings.extend(_disagreement(path, stated, summary))
        _circular_unparseable(summary, records)
        found[(benchmark, mode)] = summary
    if not found:
        hint = " (it holds samples.jsonl: give the run folder, two levels up)" if (run / "samples.jsonl").is_file() else ""
        raise ReportError(f"{run}: no <benchmark>/<mode>/summary.json under it{hint}; is it the --output-dir of `fvlm-eval run`?")
    return found


def _disagreement(path: Path, stated: dict, computed: dict) -> list[str]:
    """A warning when a summary's own counts differ from its records' (a hand edit: the report shows the records')."""
    accuracy = stated.get("accuracy") if isinstance(stated.get("accuracy"), dict) else {}
    differ = []
    for protocol, block in computed["accuracy"].items():
        claim = accuracy.get(protocol)
        claimed = (claim.get("correct"), claim.get("n")) if isinstance(claim, dict) else None
        if claimed is not None and claimed != (block["correct"], block["n"]):
            differ.append(f"{protocol} {claimed[0]}/{claimed[1]} stated, {block['correct']}/{block['n']} in the records")
    if not differ:
        return []
    return [f"{path}: its numbers disagree with its records ({'; '.join(differ[:2])}"
            f"{f'; {len(differ) - 2} more' if len(differ) > 2 else ''}): hand-edited? the records' numbers are shown"]


def save_figure(figure, path: Path, **options) -> None:
    """A matplotlib figure as a PNG, written atomically (never a partial file; an error names ``path``)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **options)
    write_bytes_atomic(path, buffer.getvalue())


PARSED_STATUSES = ("letter", "text", "failed")  # a generated answer's status that is not "unparseable" (summary's rule)


def _circular_unparseable(summary: dict, records) -> None:
    """Fill ``circular_generated``'s ``unparseable`` (the summary leaves it None) from the records:
    questions with an unparseable generated answer under some rotation (each counts wrong), and
    ``unparseable_all``: those unparseable under every rotation."""
    block = summary.get("accuracy", {}).get(f"circular_{GENERATED}")
    if block is None or block.get("unparseable") is not None:
        return
    some = every = 0
    for record in records:
        rotations = (getattr(record, "circular", None) or {}).get("rotations") or []
        statuses = [(rotation.get("generated") or {}).get("status") for rotation in rotations
                    if isinstance(rotation, dict) and rotation.get("generated") is not None]
        bad = [status not in PARSED_STATUSES for status in statuses]
        some += any(bad)
        every += bool(bad) and all(bad)
    block["unparseable"], block["unparseable_all"] = some, every


def run_cell(summary: dict, protocol: str, breakdown: tuple[str, str] | None = None, alpha: float = 0.05) -> dict:
    result = summary["accuracy"].get(protocol)
    formulation = formulation_of(protocol, result)
    if result is not None and breakdown is not None:
        result = result["breakdowns"].get(breakdown[0], {}).get(breakdown[1])
    if result is None:
        return {}
    coverage = summary["coverage"]
    if coverage.get("recorded") and not coverage.get("scored"):
        # every question failed: the accuracy (0 of n) says nothing about the model; say what happened
        if breakdown is not None:
            return {"accuracy": None, "all_failed": True, "failed": result.get("n", 0), "formulation": formulation}
        return {"accuracy": None, "all_failed": True, "failed": coverage["failed"], "recorded": coverage["recorded"],
                "expected": coverage["expected"], "protocol": protocol, "formulation": formulation}
    if result.get("accuracy") is None:
        return {"accuracy": None, "formulation": formulation}
    cell = {"accuracy": 100 * result["accuracy"], "ci95": [100 * x for x in result["ci95"]], "n": result["n"],
            "chance": 100 * result["chance"] if result.get("chance") is not None else None,
            "above_chance_p": result.get("above_chance_p"), "protocol": protocol, "formulation": formulation}
    if breakdown is None:
        best = result.get("letters", {}).get("best_constant", {})
        cell.update(recorded=coverage["recorded"], expected=coverage["expected"], failed=coverage["failed"],
                    categories=f"{coverage['categories_present']}/{coverage['categories_expected']}",
                    constant_letter={"letter": best.get("letter"), "accuracy": 100 * best.get("accuracy", 0.0)},
                    flags=flags(result, alpha))
        if result.get("not_measured"):  # measured on part of the recorded questions: its own n, not the run's
            cell["not_measured"] = result["not_measured"]
        if protocol.endswith(GENERATED):
            cell["unparseable"] = result.get("unparseable") or 0
            answered = result["n"] - coverage["failed"]  # the protocol's own answers (failed ones are in its n)
            every = result.get("unparseable_all", cell["unparseable"])  # circular: unparseable under every rotation
            cell["all_unparseable"] = answered > 0 and (every or 0) >= answered
    return cell


def measured_on(cell: dict) -> str:
    """``on 1 of 6 recorded q`` for a protocol measured on part of the recorded questions, else ``""``."""
    if not cell.get("not_measured") or "n" not in cell:
        return ""
    return f"on {cell['n']} of {cell['n'] + cell['not_measured']} recorded q"


def fmt(cell: dict, benchmark: str | None = None, with_coverage: bool = True) -> str:
    """A cell as text: ``-`` not measured, ``n/a`` measured on no question, ``all N failed`` when no
    question could be scored (never ``0.0 [0.0, 0.0]``), else accuracy [95% interval] (coverage)."""
    if cell.get("all_failed"):
        where = f" ({cell['recorded']}/{cell['expected']} q recorded, none scored)" if with_coverage and "expected" in cell else ""
        return f"all {cell['failed']} failed{where}"
    if not cell or cell.get("accuracy") is None:
        return "n/a" if cell else "-"
    if "ci95" not in cell:
        return f"{cell['accuracy']:.1f}"
    text = f"{cell['accuracy']:.1f} [{cell['ci95'][0]:.1f}, {cell['ci95'][1]:.1f}]"
    if cell.get("all_unparseable"):
        text = f"every answer unparseable ({cell['unparseable']}/{cell['n']}): {text}"
    if cell.get("flags"):
        text += " ⚠"
    if with_coverage:
        noun = f"{BENCHMARKS[benchmark].category_field}s" if benchmark in BENCHMARKS else "categories"
        chance = f"; chance {cell['chance']:.1f}" if cell.get("chance") is not None else ""
        failed = f"; {cell['failed']} failed" if cell.get("failed") else ""
        unparseable = f"; {cell['unparseable']} unparseable" if cell.get("unparseable") and not cell.get("all_unparseable") else ""
        partial = f"{measured_on(cell)}; " if measured_on(cell) else ""
        text += f" ({partial}{cell['recorded']}/{cell['expected']} q, {cell['categories']} {noun}{chance}{failed}{unparseable})"
    elif measured_on(cell):
        text += f" ({measured_on(cell)})"
    return text


def run_names(runs: list[Path]) -> list[str]:
    """A distinct name per run: its folder's name, with as many parent folders as it takes to tell
    two runs apart (``a/step_9000`` and ``b/step_9000``)."""
    paths = [Path(r).resolve() for r in runs]
    if len(set(paths)) < len(paths):
        raise ReportError("the same run folder is given twice")
    depth = 1
    while True:
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names) or depth >= max(len(p.parts) for p in paths):
            return names
        depth += 1


def _run_rows(runs: list[Path], protocols: list[str] | None, every: bool = False,
              warnings: list[str] | None = None) -> list[dict]:
    """One row per (run, mode, protocol shown): its label and its summaries by benchmark. Shown:
    ``protocols`` when given, else every recorded one (``every``), else ``main_protocols``."""
    rows: dict[tuple, dict] = {}
    for run, name in zip(runs, run_names(runs)):
        for (benchmark, mode), summary in read_summaries(run, warnings).items():
            shown = protocols or (protocol_order(summary["accuracy"]) if every else main_protocols(summary))
            for protocol in dict.fromkeys(shown):
                if protocol not in summary["accuracy"]:
                    continue
                key = (str(run), mode, protocol)
                model = summary.get("manifest", {}).get("model", {})
                row = rows.setdefault(key, {"label": f"{name} {mode} [{protocol}]", "run": name,
                                            "mode": mode, "protocol": protocol, "family": model.get("family", "fvlm"),
                                            "formulation": formulation_of(protocol, summary["accuracy"][protocol]),
                                            "model": model, "summaries": {}})
                row["summaries"][benchmark] = summary
    if every:
        order = {name: i for i, name in enumerate(run_names(runs))}
        rank = {f: i for i, f in enumerate(FORMULATION_ORDER)}
        return sorted(rows.values(), key=lambda r: (order[r["run"]], r["mode"], rank.get(r["formulation"], len(rank))))
    return list(rows.values())


def smolvlm2_size(model: dict) -> str | None:
    """Which published SmolVLM2 a run's model is: by its name, else by its parameter count (within 10%)."""
    text = f"{model.get('name', '')} {model.get('source', '')}"
    for size in SMOLVLM2_SIZES:
        if re.search(rf"SmolVLM2?-{re.escape(size)}", text, re.IGNORECASE):
            return size
    count = model.get("parameters")
    for size, parameters in SMOLVLM2_SIZES.items():
        if count and abs(count - parameters) / parameters < 0.1:
            return size
    return None


def build(runs: list[Path], baselines: list[Baseline], alpha: float = 0.05, protocols: list[str] | None = None) -> dict:
    """The report as data: rows (runs and published), the main table, breakdowns, comparisons."""
    warnings: list[str] = []
    run_rows = _run_rows(runs, protocols, warnings=warnings)
    published = {}
    for b in baselines:
        if not b.breakdown:
            published.setdefault(b.label, {"label": b.label, "protocol": b.protocol, "source": b.source, "cells": {}})
            published[b.label]["cells"][b.benchmark] = {"accuracy": b.accuracy}
    benchmarks = [b for b in BENCHMARKS if any(b in row["summaries"] for row in run_rows)]
    main = {row["label"]: {b: run_cell(row["summaries"][b], row["protocol"], alpha=alpha) for b in row["summaries"]}
            for row in run_rows}
    main.update({p["label"]: p["cells"] for p in published.values()})
    protocols_of = {row["label"]: protocol_name(row["protocol"]) for row in run_rows}
    protocols_of.update({p["label"]: p["protocol"] for p in published.values()})
    formulations = {row["label"]: row["formulation"] for row in run_rows}
    formulations.update({p["label"]: published_formulation(p["protocol"]) for p in published.values()})
    full = [{"label": row["label"], "run": row["run"], "mode": row["mode"], "protocol": row["protocol"],
             "formulation": row["formulation"], "name": protocol_name(row["protocol"]),
             "cells": {b: run_cell(row["summaries"][b], row["protocol"], alpha=alpha) for b in row["summaries"]}}
            for row in _run_rows(runs, protocols, every=True)]
    breakdowns = {}
    for benchmark in benchmarks:
        field = BENCHMARKS[benchmark]().main_breakdown
        headline = [row for row in run_rows if benchmark in row["summaries"]
                    and row["protocol"] == row["summaries"][benchmark]["headline_protocol"]]
        values = set()
        for row in headline:
            values |= set(row["summaries"][benchmark]["accuracy"][row["protocol"]]["breakdowns"].get(field, {}))
        per_category = [b for b in baselines if b.benchmark == benchmark and b.breakdown == field]
        values |= {b.value for b in per_category}
        table = {}
        for value in sorted(values):
            cells = {row["label"]: run_cell(row["summaries"][benchmark], row["protocol"], (field, value)) for row in headline}
            cells.update({b.label: {"accuracy": b.accuracy} for b in per_category if b.value == value})
            table[value] = cells
        breakdowns[benchmark] = {"field": field, "rows": table}
    comparisons = []
    for row in run_rows:
        if row["family"] != "smolvlm" or row["protocol"] != GENERATED:
            continue
        size = smolvlm2_size(row["model"])
        for benchmark, summary in row["summaries"].items():
            ours = run_cell(summary, GENERATED, alpha=alpha)
            theirs = next((b for b in baselines if b.model == f"SmolVLM2-{size}" and b.benchmark == benchmark
                           and not b.breakdown), None) if size else None
            comparisons.append({"run": row["label"], "size": size, "benchmark": benchmark, "ours": ours.get("accuracy"),
                                "ci95": ours.get("ci95"), "published": theirs.accuracy if theirs else None,
                                "published_protocol": theirs.protocol if theirs else None,
                                "difference": ours["accuracy"] - theirs.accuracy if theirs and ours.get("accuracy") is not None else None})
    sources = {p["label"]: p["source"] for p in published.values()}
    misreads = {f"{row['run']} {row['mode']} on {benchmark}": (summary.get("regex_misreads", 0), summary["coverage"]["recorded"])
                for row in run_rows for benchmark, summary in row["summaries"].items() if summary.get("regex_misreads")}
    return {"warnings": warnings, "regex_misreads": misreads, "alpha": alpha,
            "benchmarks": benchmarks, "rows": [row["label"] for row in run_rows] + list(published),
            "run_rows": [row["label"] for row in run_rows], "protocols": protocols_of, "sources": sources,
            "formulations": formulations, "full": full,
            "row_parts": {row["label"]: [row["run"], row["mode"], row["protocol"]] for row in run_rows},
            "main": main, "breakdowns": breakdowns, "smolvlm2": comparisons}


def markdown(report: dict) -> str:
    benchmarks = report["benchmarks"]
    titles = {b: BENCHMARKS[b]().title for b in benchmarks}
    lines = ["# fvlm-eval report", "",
             "Accuracy %, with the 95% interval (clustered by video), coverage (questions recorded / in a complete "
             "copy, categories present / expected) and the chance level of a uniform guess on the same questions. "
             "Failed questions count as wrong. "
             f"⚠: not significantly above chance (exact test, alpha {report['alpha']:g}) or not above always "
             "answering one letter.", "",
             "Each number names its formulation; formulations are never mixed in one number, and each has its own "
             "chance level.", "",
             "| model and mode | formulation | protocol | " + " | ".join(titles[b] for b in benchmarks) + " |",
             "|---|---|---" + "|---" * len(benchmarks) + "|"]
    formulations = report.get("formulations", {})
    for label in report["rows"]:
        cells = [fmt(report["main"][label].get(b, {}), b) for b in benchmarks]
        lines.append(f"| {label} | {formulations.get(label, '')} | {report['protocols'][label]} | " + " | ".join(cells) + " |")
    used = list(dict.fromkeys(formulations[label] for label in report["rows"] if label in formulations))
    if used:
        lines += ["", "Formulations: " + "; ".join(f"`{f}`: {formulation_label(f)}" for f in used) + "."]
    if report.get("warnings"):
        lines += [""] + [f"**Warning:** {w}" for w in report["warnings"]]
    warnings = [(label, b, f) for label in report["run_rows"] for b in benchmarks
                for f in report["main"][label].get(b, {}).get("flags", [])]
    if warnings:
        lines += ["", "⚠ reasons:", ""] + [f"- {label} on {titles[b]}: {f}" for label, b, f in warnings]
    if report.get("full"):
        lines += ["", "## Every protocol recorded, by formulation", "",
                  "Accuracy % [95% interval] (chance %); `-`: not measured; failed questions count as wrong.", "",
                  "| model and mode | formulation | protocol | " + " | ".join(titles[b] for b in benchmarks) + " |",
                  "|---|---|---" + "|---" * len(benchmarks) + "|"]
        for row in report["full"]:
            cells = []
            for b in benchmarks:
                cell = row["cells"].get(b, {})
                extra = f" (chance {cell['chance']:.1f})" if cell.get("chance") is not None else ""
                extra += f" ({cell['unparseable']} unparseable)" if cell.get("unparseable") and not cell.get("all_unparseable") else ""
                cells.append(fmt(cell, b, with_coverage=False) + extra)
            lines.append(f"| {row['run']} {row['mode']} | {row['formulation']} | {row['protocol']} | " + " | ".join(cells) + " |")
    if report["smolvlm2"]:
        lines += ["", "## SmolVLM2: measured here vs published", ""]
        for c in report["smolvlm2"]:
            ours = "n/a" if c["ours"] is None else f"{c['ours']:.1f} [{c['ci95'][0]:.1f}, {c['ci95'][1]:.1f}]"
            if c["published"] is None:
                lines.append(f"- {c['run']} on {titles[c['benchmark']]}: {ours}; no published figure for this model"
                             + (f" (SmolVLM2-{c['size']} has none on this benchmark)" if c["size"] else ""))
            else:
                lines.append(f"- SmolVLM2-{c['size']} on {titles[c['benchmark']]}: ours {ours} (generated answers, the "
                             f"harness's frames and prompt) vs published {c['published']:.1f} ({c['published_protocol']}): "
                             f"{c['difference']:+.1f} points")
    for benchmark, table in report["breakdowns"].items():
        columns = [c for c in report["rows"] if any(c in r for r in table["rows"].values())]
        lines += ["", f"## {titles[benchmark]} by {table['field']}", "",
                  f"| {table['field']} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for value, row in table["rows"].items():
            cells = []
            for c in columns:
                cell = row.get(c, {})
                extra = f" (n={cell['n']}, chance {cell['chance']:.1f})" if cell.get("n") and cell.get("chance") is not None else ""
                cells.append(fmt(cell, with_coverage=False) + extra)
            lines.append(f"| {value} | " + " | ".join(cells) + " |")
    if report.get("regex_misreads"):
        lines += ["", "## Questions the public fVLM scorer misreads", "",
                  "Its option regex (`([A-Z])\\.\\s*(.+?)(?=\\n[A-Z]\\.|$)` over the prompt) reads another option set from "
                  "these questions' prompts (e.g. \"U.S.\" or \"World War II.\" in a question): published figures made "
                  "with it scored them with wrong options.", ""]
        lines += [f"- {where}: {count} of {total}" for where, (count, total) in report["regex_misreads"].items()]
    lines += ["", "## Sources", ""] + [f"- {c}: {s}" for c, s in report["sources"].items()]
    return "\n".join(lines) + "\n"


def csv_text(report: dict) -> str:
    """Every number of the report, one line each, with its formulation; every protocol recorded
    (the main table's rows and the rest), breakdowns; a cell whose questions all failed keeps its
    line, with an empty accuracy and its failed count."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["benchmark", "breakdown", "value", "row", "formulation", "protocol", "accuracy", "ci95_low",
                     "ci95_high", "n", "chance", "flags", "recorded", "expected", "categories", "failed", "unparseable"])
    formulations = dict(report.get("formulations", {}))
    names = dict(report["protocols"])
    for row in report.get("full", []):
        formulations.setdefault(row["label"], row["formulation"])
        names.setdefault(row["label"], row["name"])

    def rows(benchmark, field, value, label, cell):
        if not cell or (cell.get("accuracy") is None and not cell.get("all_failed")):
            return
        low, high = cell.get("ci95", ["", ""])
        chance = "" if cell.get("chance") is None else f"{cell['chance']:.2f}"
        accuracy = "" if cell.get("accuracy") is None else f"{cell['accuracy']:.2f}"
        writer.writerow([benchmark, field, value, label, formulations.get(label, ""), names.get(label, ""), accuracy,
                         low, high, cell.get("n", ""), chance, "; ".join(cell.get("flags", [])), cell.get("recorded", ""),
                         cell.get("expected", ""), cell.get("categories", ""), cell.get("failed", ""),
                         cell.get("unparseable", "")])
    for label, cells in report["main"].items():
        for benchmark, cell in cells.items():
            rows(benchmark, "", "", label, cell)
    for row in report.get("full", []):
        if row["label"] not in report["main"]:
            for benchmark, cell in row["cells"].items():
                rows(benchmark, "", "", row["label"], cell)
    for benchmark, table in report["breakdowns"].items():
        for value, cells in table["rows"].items():
            for label, cell in cells.items():
                rows(benchmark, table["field"], value, label, cell)
    return buffer.getvalue()


def palette(count: int) -> list:
    """``count`` distinct colours: matplotlib's tab10 up to 10 series, then evenly spaced hues
    (two lightness levels alternating), so no two series ever share a colour."""
    import colorsys

    import matplotlib

    import math

    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    stride = max(k for k in range(1, max(2, round(0.38 * count)) + 1) if math.gcd(k, count) == 1)  # neighbours far apart
    return [colorsys.hls_to_rgb((i * stride % count) / count, 0.42 if i % 2 else 0.6, 0.75) + (1.0,) for i in range(count)]


ZERO_STUB = 0.6  # a 0% bar is drawn this many points tall (and labelled "0"); not measured: "n/m", no bar


def _bars(axis, positions, cells: list[dict], size: float, colour, label: str, horizontal: bool = False, hatch: str = ""):
    """One series: bars with their 95% intervals; 0% as a visible stub labelled 0, unmeasured as
    "n/m", a cell whose questions all failed as "failed"."""
    import numpy as np

    values = [c.get("accuracy") for c in cells]
    drawn = [np.nan if v is None else max(v, ZERO_STUB) for v in values]
    (axis.barh if horizontal else axis.bar)(positions, drawn, size, color=colour, label=label, hatch=hatch,
                                            edgecolor="black", linewidth=0.4)
    with_interval = [(x, v, c["ci95"]) for x, v, c in zip(positions, values, cells) if v is not None and "ci95" in c]
    if with_interval:
        xs, vs, cis = zip(*with_interval)
        errors = [[max(0.0, v - ci[0]) for v, ci in zip(vs, cis)], [max(0.0, ci[1] - v) for v, ci in zip(vs, cis)]]
        if horizontal:
            axis.errorbar(vs, xs, xerr=errors, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
        else:
            axis.errorbar(xs, vs, yerr=errors, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    for position, value, cell in zip(positions, values, cells):
        text = "failed" if cell.get("all_failed") else "n/m" if value is None else "0" if value == 0 else None
        if text:
            xy = (ZERO_STUB + 0.5, position) if horizontal else (position, ZERO_STUB + 0.5)
            axis.annotate(text, xy, fontsize=7, color="dimgray", ha="left" if horizontal else "center",
                          va="center" if horizontal else "bottom", rotation=0 if horizontal else 90)


def charts(report: dict, folder: Path) -> list[Path]:
    """comparison.png (every row, its interval, chance per benchmark) and breakdown_<benchmark>.png
    (per category: every run's accuracy with its interval and the category's chance level). One
    colour per series; legends beside the plot, never over the bars; 0% drawn as a stub labelled
    "0", a value not measured marked "n/m"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    labels, benchmarks = report["rows"], report["benchmarks"]
    colours = dict(zip(labels, palette(len(labels))))
    titles = [BENCHMARKS[b]().title for b in benchmarks]
    figure, axis = plt.subplots(figsize=(min(max(7.0, 0.35 * len(labels) * len(benchmarks) + 2), 16.0) + 4.5, 5))
    width = 0.8 / max(len(labels), 1)
    for i, label in enumerate(labels):
        cells = [report["main"][label].get(b, {}) for b in benchmarks]
        hatch = "" if label in report["run_rows"] else "//"
        _bars(axis, np.arange(len(benchmarks)) + i * width, cells, width, colours[label], label, hatch=hatch)
    for j, benchmark in enumerate(benchmarks):
        chances = [report["main"][label].get(benchmark, {}).get("chance") for label in report["run_rows"]]
        chances = [c for c in chances if c is not None]
        if chances:
            level = sum(chances) / len(chances)
            axis.hlines(level, j - width / 2, j + width * (len(labels) - 0.5), colors="black", linestyles="--", linewidth=1.2,
                        label="chance (uniform guess)" if j == 0 else None)
    axis.set_xticks(np.arange(len(benchmarks)) + width * (len(labels) - 1) / 2, titles)
    axis.set_ylabel("accuracy % (95% interval)")
    axis.set_ylim(0, 100)
    axis.set_title("fvlm-eval: runs (solid) vs published (hatched); dashed: chance; n/m: not measured")
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    figure.tight_layout()
    path = folder / "comparison.png"
    save_figure(figure, path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    written.append(path)
    for benchmark, table in report["breakdowns"].items():
        values = list(table["rows"])
        columns = [c for c in labels if any(c in r for r in table["rows"].values())]
        figure, axis = plt.subplots(figsize=(11, min(max(3.0, 0.3 * len(values) * max(1, len(columns)) + 1), 30.0)))
        height = 0.8 / max(len(columns), 1)
        for i, column in enumerate(columns):
            cells = [table["rows"][v].get(column, {}) for v in values]
            hatch = "" if column in report["run_rows"] else "//"
            _bars(axis, np.arange(len(values)) + i * height, cells, height, colours[column], column, horizontal=True,
                  hatch=hatch)
        labelled = False
        for k, value in enumerate(values):
            chances = [c["chance"] for c in table["rows"][value].values() if c.get("chance") is not None]
            if chances:
                level = sum(chances) / len(chances)
                axis.vlines(level, k - height / 2, k + height * (len(columns) - 0.5), colors="black", linestyles="--",
                            linewidth=1.2, label=None if labelled else "chance (uniform guess)")
                labelled = True
        axis.set_yticks(np.arange(len(values)) + height * (len(columns) - 1) / 2, values, fontsize=8)
        axis.set_xlim(0, 100)
        axis.set_xlabel("accuracy % (95% interval); dashed: chance; n/m: not measured")
        axis.set_title(f"{BENCHMARKS[benchmark]().title} by {table['field']}")
        handles, names = axis.get_legend_handles_labels()
        unique = dict(zip(names, handles))
        axis.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    borderaxespad=0.0, frameon=False)
        figure.tight_layout()
        path = folder / f"breakdown_{benchmark}.png"
        save_figure(figure, path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def write_report(runs: list[Path], baselines_path: Path | None = None, output_dir: Path | None = None,
                 alpha: float = 0.05, protocols: list[str] | None = None, show: bool = True,
                 thumbnails: int = 4, frame_cache: Path | None = None) -> list[Path]:
    """report.md, .csv, .json, the charts and report.html (``thumbnails`` frames per media in its
    question browser, 0 for none; ``frame_cache``: where to look for decoded frames first)."""
    from fvlm_eval.html_report import write_html

    report = build([Path(r) for r in runs], read_baselines(baselines_path), alpha, protocols)
    folder = Path(output_dir) if output_dir else Path(runs[0]) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    write_text_atomic(folder / "report.md", text)
    write_text_atomic(folder / "report.csv", csv_text(report))
    write_json_atomic(folder / "report.json", report)
    images = charts(report, folder)
    written = [folder / "report.md", folder / "report.csv", folder / "report.json"] + images
    from fvlm_eval import terminal  # prints that survive a closed stdout (`report ... | head -1`)

    written.append(write_html(report, [Path(r) for r in runs], folder, images, thumbnails, frame_cache,
                              say=terminal.echo if show else None))
    if show:
        from fvlm_eval.summary_table import print_report

        print_report(report, folder, terminal.console())
    return written
