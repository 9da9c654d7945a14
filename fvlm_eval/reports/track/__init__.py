"""``fvlm-eval track``: accuracy against training step, over the runs of many checkpoints.

Each run folder (the ``--output-dir`` of ``fvlm-eval run``) is one checkpoint, read as ``report`` reads a
run: the records are the truth (``checkpoints``); its training step is the manifest's ``step``
(``run --step N``, ``evaluate(step=N)``, else a ``.pt`` checkpoint's own) or, failing that, read from
the folder's name (``step_9000``, ``checkpoint-9000``, ``ckpt9000``, ``global_step9000``,
``iter_9000``, or just ``9000``). Per benchmark, mode and protocol: the accuracy at each step with its
95% interval and the chance level (``track.png``, ``track.md``, ``track.csv``); the best
checkpoint, with what its number is worth (the maximum of noisy accuracies is biased upward) and
the honest alternative computed on the same records: the best on one half of the videos,
confirmed on the other half; and each checkpoint against the one before it with the paired
statistics of ``fvlm-eval regress`` (``regress.compare_pair``: only questions both runs asked
alike and both scored are paired), tested two-sided at ``alpha`` (``pairs``). Only comparable checkpoints are
ranked and compared (``analysis``): a step whose questions all failed, or made with other settings, is passed
over; failed questions are counted in every cell, never read as answers (``regress.failures``).
"""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.errors import SettingsError
from fvlm_eval.files import write_json_atomic, write_text_atomic
from fvlm_eval.reports.regress.folders import file_in_the_way
from fvlm_eval.reports.track.analysis import analyse
from fvlm_eval.reports.track.chart import chart
from fvlm_eval.reports.track.checkpoints import (
    TrackError,
    chosen_protocols,
    find_runs,
    load_checkpoints,
    step_from_name,
)
from fvlm_eval.reports.track.render import best_caveat, console_lines, csv_text, markdown
from fvlm_eval.stats import significance_level

DEFAULT_SEED = 0


def default_output(paths: list[Path]) -> Path:
    first = Path(paths[0])
    is_run = any(first.glob("*/*/summary.json")) or any(first.glob("*/*/samples.jsonl"))
    return (first.parent if is_run else first) / "track"


def output_folder(output: Path | None, paths: list[Path]) -> Path:
    """Where track writes: ``output`` (``--output``) or the default; a file there is one line naming the flag
    (exit 2, as a bad flag: the files go into a folder), checked before anything is written."""
    folder = Path(output) if output else default_output(list(paths))
    problem = file_in_the_way(folder)
    if problem:
        flag = f"--output {output}" if output else f"{folder} (track's default output folder; give --output DIR)"
        raise SettingsError(
            f"{flag}: {problem}; track writes track.md, track.csv, track.png and track.json into a folder"
        )
    return folder


def track(
    paths: list[Path],
    output: Path | None = None,
    protocols: list[str] | None = None,
    alpha: float = 0.05,
    seed: int = DEFAULT_SEED,
) -> tuple[list[Path], dict]:
    """Write ``track.md``, ``track.csv``, ``track.png`` (and ``track.json``); returns the paths
    and the analysis (points, best, pairs, halves)."""
    significance_level(alpha)
    checkpoints = load_checkpoints([Path(p) for p in paths])
    output = output_folder(output, paths)
    chosen = chosen_protocols(checkpoints, protocols)
    analysis = analyse(checkpoints, chosen, seed, alpha)
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "track.md", output / "track.csv", output / "track.png", output / "track.json"]
    write_text_atomic(written[0], markdown(checkpoints, analysis, chosen, alpha))
    write_text_atomic(written[1], csv_text(analysis))
    chart(analysis, chosen, written[2])
    write_json_atomic(
        written[3],
        {
            "protocols": chosen,
            "alpha": alpha,
            "seed": seed,
            "checkpoints": [{"step": c.step, "run": str(c.folder), "step_from": c.step_from} for c in checkpoints],
            "best": analysis["best"],
            "halves": analysis["halves"],
            "pairs": analysis["pairs"],
            "warnings": analysis["warnings"],
        },
    )
    return written, analysis


__all__ = ["TrackError", "best_caveat", "console_lines", "find_runs", "load_checkpoints", "step_from_name", "track"]
