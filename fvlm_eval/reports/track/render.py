"""``track.md`` and ``track.csv`` (``chart``: ``track.png``): accuracy against training step, in words.

A cell says what ``report``'s does: its failed questions (``all 9 failed`` when nothing was scored, never
``0.0 [0.0, 38.1]``), a generated answer's unparseable ones, and a ⚠ where the number is not significantly above
chance (its p-value Holm-adjusted over every cell of the track, every checkpoint's: ``checkpoints.points``) or not
above always answering one letter. A best checkpoint so flagged is not bolded (nor starred on the chart): it is no
winner."""

from __future__ import annotations

import csv
import io

from fvlm_eval.reports.cells import of_the_answered
from fvlm_eval.reports.printable import md_row, md_text, printable
from fvlm_eval.reports.track.checkpoints import Checkpoint, Point
from fvlm_eval.reports.track.pairs import SIDES, step_words, verdict
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


def cell_text(point: Point) -> str:
    """One step's cell: ``all 9 failed`` when nothing was scored, else accuracy [95% interval], a ⚠ when the run's
    own summary flags it, and (questions; failed; unparseable)."""
    if point.all_failed:
        return f"all {point.n} failed"
    text = f"{_pct(point.accuracy)} [{_pct(point.low)}, {_pct(point.high)}]"
    if point.all_unparseable:
        text = f"every answer unparseable ({of_the_answered(point.unparseable, point.n, point.failed)}): {text}"
    text += " ⚠" if point.flags else ""
    counts = [str(point.n)] + ([f"{point.failed} failed"] if point.failed else [])
    counts += [f"{point.unparseable} unparseable"] if point.unparseable and not point.all_unparseable else []
    return f"{text} ({'; '.join(counts)})"


def flagged(row: dict) -> str:
    """A best (or confirmed) figure's reasons not to read it as skill, as ``⚠ ...: no winner``; ``""`` for none."""
    reasons = row.get("flags") or row.get("confirmation_flags") or []
    whose = f"step {row['step']}'s run: " if row.get("measured") and row.get("step") is not None else ""
    return f" ⚠ {whose}{'; '.join(reasons)}: no winner" if reasons else ""


def _left_out(row: dict) -> str:
    """`` (not ranked: step 200 made with other settings; step 600 every question failed)`` or ``""``."""
    left = row.get("left_out") or {}
    by_reason: dict[str, list[int]] = {}
    for step, reason in left.items():
        by_reason.setdefault(reason, []).append(int(step))
    said = "; ".join(f"{step_words(steps)} {reason}" for reason, steps in by_reason.items())
    return f" (not ranked: {said})" if said else ""


def best_line(row: dict) -> str:
    """The best step of one (benchmark, mode, protocol) in words, or why none is named; a best that is flagged (not
    above chance over the track's cells, not above always answering one letter) is said so and not bolded."""
    measured = row.get("measured")
    failed = row.get("failed") or {}
    sizes = ", ".join(
        f"step {step}: {counted(n, 'question')}" + (f" (and {failed[step]} failed)" if failed.get(step) else "")
        for step, n in (measured or {}).items()
    )
    among = f" among the checkpoints with {row['settings']}" if row.get("settings") else ""
    if row["step"] is None and (row.get("settings_differ") or row.get("all_failed")):
        hint = "run them with the same settings to compare them" if row.get("settings_differ") else "nothing to rank"
        return f"no best step on `{row['protocol']}`: {row['refused']}; {hint}"
    if row["step"] is None:
        return (
            f"no best step on `{row['protocol']}`: {row['refused']} ({sizes}); run them on the same questions "
            "(the same --limit) to compare them"
        )
    shared = (
        f" on the {counted(row['shared'], 'question')} every checkpoint measured and scored (they measured "
        f"different ones: {sizes})"
        if measured
        else ""
    )
    step = f"step {row['step']}" if row.get("flags") else f"step **{row['step']}**"
    return (
        f"{best_words(row)}{among}{shared}{_left_out(row)}: {step}, {_pct(row['accuracy'])}% "
        f"[{_pct(row['low'])}, {_pct(row['high'])}] of {counted(row['n'], 'question')}, chance "
        f"{_pct(row['chance'])}%{flagged(row)} ({best_caveat(row)})"
    )


def console_lines(analysis: dict) -> list[str]:
    """What ``fvlm-eval track`` prints: the warnings, the best step of each (benchmark, mode, protocol), and per
    protocol the steps that did not measure it (once, not per pair; nothing where one checkpoint measured it:
    its best line says so)."""
    lines = [f"warning: {printable(w)}" for w in analysis.get("warnings", ())]
    for row in analysis["best"]:
        where = f"{row['benchmark']} {printable(row['mode'])} {row['protocol']}"
        if row["step"] is None:
            lines.append(f"{where}: {best_line(row)}".replace("**", "").replace("`", ""))
            continue
        chance = "n/a" if row["chance"] is None else f"{100 * row['chance']:.1f}%"
        shared = f" on {counted(row['shared'], 'shared question')}" if row.get("measured") else ""
        among = f" among the checkpoints with {row['settings']}" if row.get("settings") else ""
        lines.append(
            f"{where}: {'best' if row['checkpoints'] > 1 else 'only'} step {row['step']}{among}{shared} "
            f"({100 * row['accuracy']:.1f}%, chance {chance}{flagged(row)}; {best_caveat(row)})"
        )
    unmeasured: dict[tuple, set[int]] = {}
    for row in analysis["pairs"]:
        if row.get("not_measured"):
            unmeasured.setdefault((row["benchmark"], row["mode"], row["protocol"]), set()).update(row["not_measured"])
    measured_by = {(b["benchmark"], b["mode"], b["protocol"]): b["checkpoints"] for b in analysis["best"]}
    for (benchmark, mode, protocol), steps in unmeasured.items():
        if measured_by.get((benchmark, mode, protocol), 0) > 1:
            lines.append(
                f"{benchmark} {printable(mode)} {protocol}: not measured at {step_words(sorted(steps))}, so not "
                "compared there"
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
        "(every protocol is in `track.csv`). Cells: accuracy % [95% interval] (questions; failed; unparseable), "
        "⚠ when it is not significantly above chance (Holm-adjusted over every cell of these tables, so a cell can "
        "carry one that its run's own report does not) or not above always answering one letter, `all N failed` when "
        "no question could be scored; chance beside.",
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
                    chance = chance if chance is not None or p.all_failed else p.chance
                    cells.append(cell_text(p))
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
            figure = f"{_pct(row['confirmation_accuracy'])}%"
            among = f" among the checkpoints with {row['settings']}" if row.get("settings") else ""
            out.append(
                f"- chosen on half A (`{row['protocol']}`{among}): step {row['selected_step']} "
                f"({_pct(row['selection_accuracy'])}% there), confirmed on half B: "
                f"{figure if row.get('confirmation_flags') else f'**{figure}**'} "
                f"[{_pct(row.get('confirmation_low'))}, {_pct(row.get('confirmation_high'))}] of "
                f"{counted(row['confirmation_n'], 'question')}, chance {_pct(row.get('confirmation_chance'))}%"
                f"{flagged({'flags': row.get('confirmation_flags')})}; "
                f"chosen on half B instead: step {row['reverse_selected_step']}, "
                f"{_pct(row['reverse_confirmation_accuracy'])}% on half A"
            )
        pairs = [p for p in analysis["pairs"] if (p["benchmark"], p["mode"]) == (benchmark, mode)]
        if pairs:
            out += [
                "",
                "| from → to | protocol | paired questions | change (points) | 95% interval | p (drop) | p (gain) | "
                "McNemar p | smallest detectable drop (points) | verdict |",
                "|---|---|---:|---:|---|---:|---:|---:|---:|---|",
            ]
            for p in pairs:
                low, high = (p.get("ci95") or [None, None])[:2]
                interval = "n/a" if low is None else f"[{low:+.1f}, {high:+.1f}]"
                tests = ["n/a" if p.get(k) is None else f"{p[k]:.3g}" for k in ("p_drop", "p_gain", "mcnemar_p")]
                drop = p.get("detectable_drop")
                detectable = "n/a" if drop is None else "none (> 100)" if drop > 100 else f"{drop:.1f}"
                steps = f"{p['from']} → {p['to']}{passed_over(p)}"
                if p.get("n") is None:
                    out.append(
                        f"| {steps} | {p['protocol']} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | {verdict(p, alpha)} |"
                    )
                    continue
                out.append(
                    f"| {steps} | {p['protocol']} | {p.get('n', 0)} | {_points_text(p.get('delta'))} "
                    f"| {interval} | {' | '.join(tests)} | {detectable} | {verdict(p, alpha)} |"
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
        f"Consecutive comparable checkpoints (the same settings, something scored) are compared with the paired "
        f"statistics of `fvlm-eval regress` (paired by question, resampling videos) on the questions both scored (a "
        f"question whose media or row could not be read in either is left out and counted in the verdict; one the "
        f"model failed on, NaN or an error, is kept, wrong), each pair on its own and two-sided at alpha "
        f"{alpha:g}, not adjusted over the pairs (a description of the curve: with many pairs some read "
        f"significant by chance): a significant drop when the exact sign-flip test's one-sided p (drop) is below "
        f"{alpha / SIDES:g} (alpha / 2), a significant gain when its p (gain) is, so two checkpoints that do not "
        f"differ are called a significant change at most {alpha:g} of the time. The 95% interval (a paired "
        f"bootstrap) is descriptive: it decides nothing. The smallest detectable drop is the test's own at "
        f"{alpha / SIDES:g}, not the gate's that `regress` prints for the same two runs. A cell with ⚠ is not "
        f"significantly above chance at {alpha:g}, its p-value Holm-adjusted over every cell of these tables (every "
        "checkpoint's: the best of many random checkpoints is no winner but at that rate), or not above always "
        "answering one letter; a best checkpoint so marked is no winner. The half-split figures are one family "
        "too, Holm-adjusted over every line.",
        "",
    ]
    return "\n".join(out)


def passed_over(pair: dict) -> str:
    """What a pair is compared across, in words: `` (step 50 not measured; step 60 other settings)``."""
    kinds = (
        ("skipped", "not measured"),
        ("not_measured_between", f"did not measure {pair['protocol']}"),
        ("all_failed_between", "every question failed"),
        ("other_settings", "other settings"),
    )
    said = [f"{step_words(pair[key])} {words}" for key, words in kinds if pair.get(key)]
    return f" ({'; '.join(said)})" if said else ""


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
            "failed",
            "unparseable",
            "flags",
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
                "" if p.accuracy is None or p.all_failed else f"{p.accuracy:.6f}",
                "" if p.low is None or p.all_failed else f"{p.low:.6f}",
                "" if p.high is None or p.all_failed else f"{p.high:.6f}",
                p.correct,
                p.n,
                "" if p.chance is None else f"{p.chance:.6f}",
                p.failed,
                "" if p.unparseable is None else p.unparseable,
                printable("; ".join(p.flags)),
            ]
        )
    return buffer.getvalue()
