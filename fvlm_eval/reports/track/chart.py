"""``track.png``: per benchmark and mode, accuracy against training step with its 95% interval and the chance line.

Only comparable checkpoints are joined by a line: one line per group of checkpoints that share their settings (the
first group solid, a group made with other settings dotted, with hollow markers), so no line runs through a change
of settings; a checkpoint whose questions all failed is no point at 0 but a grey ``x`` marked ``failed`` at the
foot of the axis. The best checkpoint is starred only when it is above chance (Holm-adjusted over every cell of the
track) and above always answering one letter.
"""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.reports.charts import literal, save_figure
from fvlm_eval.reports.track.analysis import settings_groups


def _draw_line(axis, line: list, colour, label: str) -> None:
    """One protocol's points: a line and band per settings group, and the all-failed points marked."""
    usable = [p for p in line if not p.all_failed]
    for number, group in enumerate(settings_groups(usable)):
        steps = [p.step for p in group]
        other = number > 0
        axis.plot(
            steps,
            [100 * p.accuracy for p in group],
            marker="o",
            color=colour,
            linestyle=":" if other else "-",
            markerfacecolor="white" if other else colour,
            label=label if not other else f"{label} (other settings)",
        )
        axis.fill_between(
            steps,
            [100 * (p.low if p.low is not None else p.accuracy) for p in group],
            [100 * (p.high if p.high is not None else p.accuracy) for p in group],
            color=colour,
            alpha=0.08 if other else 0.15,
        )
    for point in (p for p in line if p.all_failed):
        axis.plot([point.step], [0], marker="x", color="grey", linestyle="none", markersize=9)
        axis.annotate("failed", (point.step, 0), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)


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
            colour = colours(number % 10)
            _draw_line(axis, line, colour, protocol)
            starred = {  # none when no best step could be named, or the best is not above chance
                b["step"]
                for b in analysis["best"]
                if (b["benchmark"], b["mode"], b["protocol"]) == key + (protocol,) and not b.get("flags")
            }
            for best in [p for p in line if p.step in starred and not p.all_failed]:
                axis.plot([best.step], [100 * best.accuracy], marker="*", markersize=14, color=colour, linestyle="none")
            chance = chance if chance is not None else next((p.chance for p in line if not p.all_failed), None)
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
        "accuracy against training step, 95% intervals\n★ the best checkpoint (biased upward: see track.md; "
        "none where it is not above chance)\na line joins checkpoints with the same settings only; x: every question "
        "failed",
        fontsize=10,
    )
    figure.tight_layout()
    save_figure(figure, path, dpi=110)
    plt.close(figure)


__all__ = ["chart"]
