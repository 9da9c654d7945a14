"""The commands that read run folders: ``report``, ``regress`` and ``track``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fvlm_eval import protocols
from fvlm_eval.cli.app import UserError, app, fail, os_error_line
from fvlm_eval.errors import ExitCode, FvlmEvalError


@app.command()
def report(
    runs: list[Path] = typer.Argument(
        ..., help="run folders (the --output-dir of fvlm-eval run), any number, any families"
    ),
    baselines: Optional[Path] = typer.Option(
        None, help="baseline CSV (default: the published figures shipped with fvlm-eval)"
    ),
    output_dir: Optional[Path] = typer.Option(None, help="where to write (default: <the first run folder>/report)"),
    alpha: float = typer.Option(
        0.05, help="significance level of the above-chance test (Holm over the report's cells); 0 < alpha < 0.5"
    ),
    thumbnails: int = typer.Option(
        4, min=0, max=16, metavar="N", help="report.html: sampled frames shown per video (0: none)"
    ),
    frame_cache: Optional[Path] = typer.Option(
        None, metavar="DIR", help="report.html: frame cache to read thumbnails from (default: the run's default)"
    ),
) -> None:
    """Tables (Markdown, CSV, JSON), charts and report.html (tables, charts and a question browser in one
    self-contained file) of runs side by side with the published figures."""
    from fvlm_eval.reports.report import write_report
    from fvlm_eval.stats import significance_level
    from fvlm_eval.terminal import echo

    significance_level(alpha)
    try:
        written = write_report(runs, baselines, output_dir, alpha, thumbnails=thumbnails, frame_cache=frame_cache)
    except OSError as error:
        _not_writable(error, Path(output_dir) if output_dir else Path(runs[0]) / "report", output_dir is None)
        raise
    for path in written:
        echo(f"wrote {path}")


def _not_writable(error: OSError, folder: Path, default: bool) -> None:
    """A report folder that takes no file (a shared or archived run, read-only) is said with the flag that fixes
    it: ``cannot read or write <run>/report: Read-only file system`` named no way out."""
    import errno

    if isinstance(error, FvlmEvalError) or error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
        return
    failed = Path(error.filename) if error.filename else None
    if failed is None or (failed != folder and folder not in failed.parents):
        return  # reading a run's file: not the report folder's fault
    where = "the run folder takes no report there" if default else "the report is not written"
    raise UserError(f"{os_error_line(error)}; {where}: give --output-dir a folder you can write") from error


@app.command()
def regress(
    baseline: Path = typer.Option(..., help="run folder of the reference checkpoint"),
    current: Path = typer.Option(..., help="run folder of the checkpoint under test"),
    max_drop: float = typer.Option(1.0, help="fail when accuracy drops by more than this many points (0 to 100) ..."),
    alpha: float = typer.Option(
        0.05,
        help="... and the drop is significant at this level (exact sign-flip test over videos, one-sided, "
        "Holm-adjusted over the benchmark x mode comparisons); 0 < alpha < 0.5",
    ),
    protocol: Optional[str] = typer.Option(
        None, help="the protocol compared (default: the headline protocol, the same in both runs)"
    ),
    allow_underpowered: bool = typer.Option(
        False, help="pass (with a warning) when a true drop of --max-drop would be significant < 80% of the time"
    ),
    min_overlap: float = typer.Option(
        0.9, min=0.0, max=1.0, help="unusable when the runs share fewer than this share of either run's questions"
    ),
    allow_mismatch: bool = typer.Option(
        False, help="compare even when settings differ (never a protocol one run lacks)"
    ),
    seed: int = typer.Option(0, min=0, help="bootstrap seed"),
    output: Optional[Path] = typer.Option(None, help="report folder (default: <current>/regress)"),
) -> None:
    """Paired comparison of two runs question by question. Exit 0 pass, 1 significant drop (wins over
    the others), 2 a bad flag (or --output not writable), 3 settings or protocol differ, 4 not
    comparable (nothing or too little shared, a benchmark/mode the current run lacks, an unusable or
    unfinished folder), 5 underpowered (a true drop of --max-drop might be significant less than 80%
    of the time)."""
    from fvlm_eval.reports.regress import regress as compare
    from fvlm_eval.reports.regress.compare import drop_in_points
    from fvlm_eval.stats import significance_level

    significance_level(alpha)
    max_drop = drop_in_points(max_drop)
    if protocol is not None and protocol not in protocols.ALL_PROTOCOLS:
        fail(f"--protocol {protocol}: unknown; known: {', '.join(protocols.ALL_PROTOCOLS)}")
    raise typer.Exit(
        compare(
            baseline, current, max_drop, alpha, allow_mismatch, seed, output, min_overlap, protocol, allow_underpowered
        )
    )


@app.command()
def track(
    runs: list[Path] = typer.Argument(
        ..., metavar="RUN...", help="run folders (one per checkpoint), or a folder whose sub-folders are runs"
    ),
    protocol: Optional[list[str]] = typer.Option(
        None,
        "--protocol",
        "-p",
        metavar="PROTOCOL",
        help="protocols to draw and compare, repeatable (default: the headline one, and generated when recorded)",
    ),
    output: Optional[Path] = typer.Option(
        None, metavar="DIR", help="where to write (default: <the folder of runs>/track)"
    ),
    alpha: float = typer.Option(
        0.05,
        metavar="ALPHA",
        help="significance level: each pair of consecutive checkpoints is tested on its own (not adjusted over the "
        "pairs), two-sided: a drop and a gain each at alpha / 2 (exact sign-flip test over videos); also the "
        "above-chance verdicts, Holm-adjusted over every cell of the tables (and the half-split figures over the "
        "lines); 0 < alpha < 0.5",
    ),
    seed: int = typer.Option(0, min=0, metavar="N", help="bootstrap seed"),
) -> None:
    """Accuracy against training step per benchmark, mode and protocol (intervals, chance, the best
    checkpoint and what it is worth, consecutive checkpoints compared as regress does): track.md,
    track.csv, track.png. The step is the manifest's (run --step N, or the .pt checkpoint's own) or the folder
    name's (step_9000)."""
    from fvlm_eval.reports.track import TrackError, console_lines
    from fvlm_eval.reports.track import track as write_track
    from fvlm_eval.stats import significance_level

    significance_level(alpha)
    unknown = [p for p in protocol or () if p not in protocols.ALL_PROTOCOLS]
    if unknown:
        fail(f"--protocol {', '.join(unknown)}: no such protocol; choose from {', '.join(protocols.ALL_PROTOCOLS)}")
    try:
        written, analysis = write_track(runs, output, protocol, alpha, seed)
    except TrackError as error:
        raise UserError(str(error), ExitCode.FAILED) from error
    from fvlm_eval.terminal import echo

    for line in console_lines(analysis):
        echo(line)
    for path in written:
        echo(f"wrote {path}")
