"""``track.md``, ``track.csv`` and ``track.png``: accuracy against training step, in words and a chart."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fvlm_eval.reports.charts import literal, save_figure
from fvlm_eval.reports.printable import md_row, md_text, printable
from fvlm_eval.reports.track.analysis import step_words, verdict
from fvlm_eval.reports.track.checkpoints import Checkpoint
from fvlm_eval.wording import counted


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _points_text(value) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


CAVEAT = (
    "The best checkpoint's figure is the maximum of {k} noisy accuracies: it is biased upward (even "
    "checkpoints that are all equally good would show a best one above their common accuracy), and its "
    "interval does not account for the choice. The honest way: choose the checkpoint on one subset of the "
    "questions and report it on another. Above, under each benchmark, the checkpoints are compared on half A of the "
    "videos "
    "(a fixed split by video, so that no video is in both halves) and the chosen one is reported on half B; "
    "for a final figure, choose on a `--limit` subset and confirm on the full benchmark, or on another "
    "benchmark split."
)


def best_line(row: dict) -> str:
    """The best step of one (benchmark, mode, protocol) in words, or why none is named."""
    measured = row.get("measured")
    sizes = ", ".join(f"step {step}: {counted(n, 'question')}" for step, n in (measured or {}).items())
    if row["step"] is None and row.get("settings_differ"):
        return f"no best step on `{row['protocol']}`: {row['refused']}; run them with the same settings to compare them"
    if row["step"] is None:
        return (
            f"no best step on `{row['protocol']}`: {row['refused']} ({sizes}); run them on the same questions "
            "(the same --limit) to compare them"
        )
    shared = (
        f" on the {counted(row['shared'], 'question')} every checkpoint measured (they measured different ones: "
        f"{sizes})"
        if measured
        else ""
    )
    return (
        f"{best_words(row)}{shared}: step **{row['step']}**, {_pct(row['accuracy'])}% "
        f"[{_pct(row['low'])}, {_pct(row['high'])}] of {counted(row['n'], 'question')}, chance "
        f"{_pct(row['chance'])}% ({best_caveat(row)})"
    )


def console_lines(analysis: dict) -> list[str]:
    """What ``fvlm-eval track`` prints: the warnings, the best step of each (benchmark, mode, protocol),
    the pairs not compared."""
    lines = [f"warning: {printable(w)}" for w in analysis.get("warnings", ())]
    for row in analysis["best"]:
        where = f"{row['benchmark']} {printable(row['mode'])} {row['protocol']}"
        if row["step"] is None:
            lines.append(f"{where}: {best_line(row)}".replace("**", "").replace("`", ""))
            continue
        chance = "n/a" if row["chance"] is None else f"{100 * row['chance']:.1f}%"
        shared = f" on {counted(row['shared'], 'shared question')}" if row.get("measured") else ""
        lines.append(
            f"{where}: {'best' if row['checkpoints'] > 1 else 'only'} step {row['step']}{shared} "
            f"({100 * row['accuracy']:.1f}%, chance {chance}; {best_caveat(row)})"
        )
    for row in analysis["pairs"]:
        if row.get("not_measured"):
            lines.append(
                f"{row['benchmark']} {printable(row['mode'])} {row['protocol']}: steps {row['from']} → {row['to']} not "
                f"compared: step {' and '.join(map(str, row['not_measured']))} did not measure it"
            )
    return lines


def markdown(checkpoints: list[Checkpoint], analysis: dict, protocols: list[str], alpha: float) -> str:
    out = ["# Accuracy against training step", ""]
    out += ["| step | run | step read from |", "|---:|---|---|"]
    out += [md_row(c.step, f"`{c.folder}`", c.step_from) for c in checkpoints]
    if analysis.get("warnings"):
        out += ["", "**Warnings**", ""] + [f"- {md_text(w)}" for w in analysis["warnings"]]
    headlines = {s.headline_protocol for c in checkpoints for s in c.summaries.values()}
    framings = sorted({s.cloze_framing for c in checkpoints for s in c.summaries.values() if s.cloze_framing})
    drawn = ", ".join(f"`{p}`" + (" (headline)" if p in headlines else "") for p in protocols)
    framing = f"; cloze framing: {', '.join(framings)}" if framings else ""
    out += [
        "",
        f"Protocols drawn and compared: {drawn}{framing} "
        "(every protocol is in `track.csv`). Cells: accuracy % [95% interval] (questions); chance beside.",
        "",
    ]
    keys = sorted({(p.benchmark, p.mode) for p in analysis["points"]})
    for benchmark, mode in keys:
        out += [f"## {benchmark} · {md_text(mode)}", ""]
        header = "| step | " + " | ".join(protocols) + " | chance |"
        out += [header, "|---:|" + "---|" * (len(protocols) + 1)]
        for ckpt in checkpoints:
            cells, chance = [], None
            for protocol in protocols:
                found = [
                    p
                    for p in analysis["points"]
                    if (p.step, p.benchmark, p.mode, p.protocol) == (ckpt.step, benchmark, mode, protocol)
                ]
                if found:
                    p = found[0]
                    chance = chance if chance is not None else p.chance
                    cells.append(f"{_pct(p.accuracy)} [{_pct(p.low)}, {_pct(p.high)}] ({p.n})")
                else:
                    cells.append("not measured")
            out.append(f"| {ckpt.step} | " + " | ".join(cells) + f" | {_pct(chance)} |")  # every step: none skipped
        out.append("")
        for row in [b for b in analysis["best"] if (b["benchmark"], b["mode"]) == (benchmark, mode)]:
            out.append(f"- {best_line(row)}")
        for row in [h for h in analysis["halves"] if (h["benchmark"], h["mode"]) == (benchmark, mode)]:
            if row["selected_step"] is None:
                sizes = row.get("half_sizes") or [0, 0]
                out.append(
                    f"- chosen on half A (`{row['protocol']}`): n/a: no checkpoint has questions in both halves "
                    f"of the videos (half A {sizes[0]}, half B {sizes[1]} questions over all checkpoints)"
                )
                continue
            out.append(
                f"- chosen on half A (`{row['protocol']}`): step {row['selected_step']} "
                f"({_pct(row['selection_accuracy'])}% there), confirmed on half B: "
                f"**{_pct(row['confirmation_accuracy'])}%** of {counted(row['confirmation_n'], 'question')}; "
                f"chosen on half B instead: step {row['reverse_selected_step']}, "
                f"{_pct(row['reverse_confirmation_accuracy'])}% on half A"
            )
        pairs = [p for p in analysis["pairs"] if (p["benchmark"], p["mode"]) == (benchmark, mode)]
        if pairs:
            out += [
                "",
                "| from → to | protocol | paired questions | change (points) | 95% interval | p (drop) | "
                "McNemar p | smallest detectable drop (points) | verdict |",
                "|---|---|---:|---:|---|---:|---:|---:|---|",
            ]
            for p in pairs:
                low, high = (p.get("ci95") or [None, None])[:2]
                interval = "n/a" if low is None else f"[{low:+.1f}, {high:+.1f}]"
                p_drop = "n/a" if p.get("p_drop") is None else f"{p['p_drop']:.3g}"
                mcnemar = "n/a" if p.get("mcnemar_p") is None else f"{p['mcnemar_p']:.3g}"
                drop = p.get("detectable_drop")
                detectable = "n/a" if drop is None else "none (> 100)" if drop > 100 else f"{drop:.1f}"
                steps = f"{p['from']} → {p['to']}" + (
                    f" ({step_words(p['skipped'])} not measured)" if p.get("skipped") else ""
                )
                if p.get("not_measured") or p.get("settings_differ"):
                    out.append(
                        f"| {steps} | {p['protocol']} | n/a | n/a | n/a | n/a | n/a | n/a | {verdict(p, alpha)} |"
                    )
                    continue
                out.append(
                    f"| {steps} | {p['protocol']} | {p.get('n', 0)} | {_points_text(p.get('delta'))} "
                    f"| {interval} | {p_drop} | {mcnemar} | {detectable} | {verdict(p, alpha)} |"
                )
        out.append("")
    count = max([row["checkpoints"] for row in analysis["best"]] or [len(checkpoints)])
    caveat = (
        CAVEAT.format(k=count)
        if count > 1
        else (
            "Each protocol above was measured by one checkpoint only: there is nothing to choose between, so its "
            "figure "
            "carries no selection bias; give the runs of more checkpoints to track a curve."
        )
    )
    out += [
        "## Reading the best checkpoint",
        "",
        caveat,
        "",
        f"Consecutive checkpoints are compared with the paired statistics of `fvlm-eval regress` (paired by "
        f"question, resampling videos), each pair on its own at alpha {alpha:g}, not adjusted over the pairs (a "
        "description of the curve: with many pairs some read significant by chance), and with the test's own "
        "detectable drop, not the gate's that `regress` prints for the same two runs.",
        "",
    ]
    return "\n".join(out)


def best_words(row: dict) -> str:
    return (
        f"best on `{row['protocol']}`" if row["checkpoints"] > 1 else f"only checkpoint measuring `{row['protocol']}`"
    )


def best_caveat(row: dict) -> str:
    """What the best checkpoint's figure is worth: the maximum of k noisy accuracies (biased
    upward), or, with one checkpoint, nothing chosen."""
    if row["checkpoints"] > 1:
        return f"the maximum of {row['checkpoints']} checkpoints: biased upward, see below"
    return "one checkpoint measured it: nothing to choose between, so no selection bias"


def csv_text(analysis: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "step",
            "run",
            "benchmark",
            "mode",
            "protocol",
            "formulation",
            "accuracy",
            "ci95_low",
            "ci95_high",
            "correct",
            "n",
            "chance",
        ]
    )
    for p in analysis["points"]:
        writer.writerow(
            [
                p.step,
                printable(p.run),
                p.benchmark,
                printable(p.mode),
                p.protocol,
                p.formulation,
                "" if p.accuracy is None else f"{p.accuracy:.6f}",
                "" if p.low is None else f"{p.low:.6f}",
                "" if p.high is None else f"{p.high:.6f}",
                p.correct,
                p.n,
                "" if p.chance is None else f"{p.chance:.6f}",
            ]
        )
    return buffer.getvalue()


def chart(analysis: dict, protocols: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(p.benchmark, p.mode) for p in analysis["points"]})
    columns = min(3, len(keys)) or 1
    rows = (len(keys) + columns - 1) // columns or 1
    figure, axes = plt.subplots(rows, columns, figsize=(max(6.5, 5.6 * columns), 4.4 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for index, key in enumerate(keys):
        benchmark, mode = key
        axis = axes[index // columns][index % columns]
        chance = None
        for number, protocol in enumerate(protocols):
            line = sorted(
                (
                    p
                    for p in analysis["points"]
                    if (p.benchmark, p.mode, p.protocol) == (benchmark, mode, protocol) and p.accuracy is not None
                ),
                key=lambda p: p.step,
            )
            if not line:
                continue
            steps = [p.step for p in line]
            colour = colours(number % 10)
            axis.plot(steps, [100 * p.accuracy for p in line], marker="o", color=colour, label=protocol)
            axis.fill_between(
                steps,
                [100 * (p.low if p.low is not None else p.accuracy) for p in line],
                [100 * (p.high if p.high is not None else p.accuracy) for p in line],
                color=colour,
                alpha=0.15,
            )
            chosen = next(
                (
                    b["step"]
                    for b in analysis["best"]
                    if (b["benchmark"], b["mode"], b["protocol"]) == key + (protocol,)
                ),
                None,
            )
            for best in [p for p in line if p.step == chosen]:  # none when no best step could be named
                axis.plot([best.step], [100 * best.accuracy], marker="*", markersize=14, color=colour, linestyle="none")
            chance = chance if chance is not None else line[0].chance
        if chance is not None:
            axis.axhline(100 * chance, color="grey", linestyle="--", linewidth=1, label=f"chance {100 * chance:.1f}%")
        axis.set_title(literal(f"{benchmark} · {mode}"))  # a mode (a folder's name) is text, never mathtext
        axis.set_xlabel("training step")
        axis.set_ylabel("accuracy % (95% interval)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    for index in range(len(keys), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle(
        "accuracy against training step, 95% intervals\n★ the best checkpoint (its figure is biased upward: see "
        "track.md)",
        fontsize=10,
    )
    figure.tight_layout()
    save_figure(figure, path, dpi=110)
    plt.close(figure)
