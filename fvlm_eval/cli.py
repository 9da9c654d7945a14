"""``fvlm-eval``: a thin Typer front. Heavy imports (torch, transformers) happen inside commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Evaluate fVLM checkpoints on MVBench, Video-MME and ScienceQA by option log-likelihood.")

from fvlm_eval.scoring import PROTOCOLS
from fvlm_eval.tasks import TASKS
from fvlm_eval.types import MODES

DEFAULT_MODEL = "sanps/fVLM-135M"


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _modes(modes: list[str]) -> tuple[str, ...]:
    chosen = MODES if "all" in modes else tuple(dict.fromkeys(modes))
    unknown = [m for m in chosen if m not in MODES]
    if unknown:
        _fail(f"unknown mode {', '.join(unknown)}; choose from {', '.join(MODES)} or all")
    return chosen


def _tasks(tasks: list[str]) -> tuple[str, ...]:
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        _fail(f"unknown task {', '.join(unknown)}; known: {', '.join(TASKS)}")
    return tuple(dict.fromkeys(tasks))


def default_output(model: str) -> Path:
    return Path("results/runs") / Path(str(model).rstrip("/")).name.replace(".safetensors", "")


@app.command()
def run(
    tasks: list[str] = typer.Argument(..., help="mvbench, videomme, scienceqa"),
    mode: list[str] = typer.Option(["coarse_fine"], "--mode", "-m", help="coarse_only, coarse_fine, autoregressive or all (repeatable)"),
    model: str = typer.Option(DEFAULT_MODEL, help="hub id, model folder, or weights file"),
    data_dir: Path = typer.Option(Path("data"), help="folder holding <task>/ for each task"),
    output_dir: Optional[Path] = typer.Option(None, help="default: results/runs/<model name>"),
    limit: Optional[int] = typer.Option(None, help="score only the first N questions of each task (round-robin over categories)"),
    frames: Optional[int] = typer.Option(None, help="frames per video (images stay at 8 copies)"),
    batch_size: int = typer.Option(16, help="questions per model batch"),
    device: Optional[str] = typer.Option(None, help="default: cuda if available, else cpu"),
    dtype: Optional[str] = typer.Option(None, help="default: bfloat16 on cuda, float32 on cpu"),
    protocol: str = typer.Option("reference", help="protocol of the headline accuracy (all are recorded)"),
    workers: int = typer.Option(2, help="decoding worker processes (0: decode in this process)"),
    subtitles: bool = typer.Option(False, help="Video-MME: put the subtitles in the prompt"),
    retry_failed: bool = typer.Option(False, help="score again the questions recorded as failed"),
) -> None:
    """Score every question of TASKS in each mode; write per-sample JSONL and a summary. Reruns resume."""
    chosen_tasks, modes = _tasks(tasks), _modes(mode)
    if protocol not in PROTOCOLS:
        _fail(f"unknown protocol {protocol}; choose from {', '.join(PROTOCOLS)}")
    from rich.console import Console

    from fvlm_eval.fvlm_backend import load_choice_model
    from fvlm_eval.runner import RunMismatch, RunSettings
    from fvlm_eval.runner import run as run_tasks
    from fvlm_eval.summary_table import print_run_tables
    from fvlm_eval.tasks import DataMissing
    from model.loading import CheckpointError

    output = output_dir or default_output(model)
    settings = RunSettings(tasks=chosen_tasks, modes=modes, data_dir=data_dir, output_dir=output, limit=limit,
                           frames=frames, batch_size=batch_size, protocol=protocol, workers=workers,
                           subtitles=subtitles, retry_failed=retry_failed,
                           command_line=" ".join(["fvlm-eval", *sys.argv[1:]]))
    console = Console()
    try:
        scorer = load_choice_model(model, device, dtype)
        summaries = run_tasks(settings, scorer, console)
    except (DataMissing, CheckpointError, RunMismatch, ValueError) as error:
        _fail(str(error))
    print_run_tables(summaries, console)
    console.print(f"records and summaries: [bold]{output}[/]  (next: fvlm-eval report {output})")


@app.command("tasks")
def list_tasks(data_dir: Path = typer.Option(Path("data"), help="folder holding <task>/ for each task")) -> None:
    """List the tasks and the state of their data."""
    from fvlm_eval.prepare import status

    for name, cls in TASKS.items():
        task = cls()
        typer.echo(f"{name:10s} v{task.version}  {task.sampling.describe():24s} {status(task, data_dir)}")


@app.command()
def prepare(
    task: str = typer.Argument(..., help="mvbench, videomme or scienceqa"),
    data_dir: Path = typer.Option(Path("data"), help="folder holding <task>/ for each task"),
    download: Optional[bool] = typer.Option(None, "--download/--no-download", help="default: only when absent"),
    revision: Optional[str] = typer.Option(None, help="hub revision (default: the task's pinned one)"),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="decode every media file once to find unreadable ones"),
) -> None:
    """Fetch TASK from the hub (with network), then verify it and print its coverage."""
    (name,) = _tasks([task])
    from fvlm_eval.prepare import fetch, verify
    from fvlm_eval.summary_table import print_verification
    from fvlm_eval.tasks import DataMissing, get_task

    adapter = get_task(name)
    try:
        adapter.load(data_dir)
        present = True
    except DataMissing:
        present = False
    if download or (download is None and not present):
        typer.echo(f"downloading {adapter.hub().repo} into {adapter.folder(data_dir)} ...")
        try:
            fetch(adapter, data_dir, revision)
        except Exception as error:
            _fail(f"download failed ({type(error).__name__}: {error}); place the files by hand as the task's docstring says")
    try:
        result = verify(adapter, data_dir, probe=probe)
    except DataMissing as error:
        _fail(str(error))
    print_verification(result)
    if not result.complete:
        raise typer.Exit(1)


@app.command()
def report(
    runs: list[Path] = typer.Argument(..., help="run folders (the --output-dir of fvlm-eval run)"),
    baselines: Optional[Path] = typer.Option(None, help="baseline CSV (default: results/baselines/published.csv)"),
    output_dir: Optional[Path] = typer.Option(None, help="where to write (default: the first run folder)/report"),
) -> None:
    """Tables (Markdown, CSV, JSON) and charts of runs against the published baselines."""
    from fvlm_eval.report import write_report

    written = write_report(runs, baselines, output_dir)
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
def regress(
    baseline: Path = typer.Option(..., help="run folder of the reference checkpoint"),
    current: Path = typer.Option(..., help="run folder of the checkpoint under test"),
    max_drop: float = typer.Option(1.0, help="fail when accuracy drops by more than this many points ..."),
    alpha: float = typer.Option(0.05, help="... and the drop is significant at this level (McNemar)"),
    allow_mismatch: bool = typer.Option(False, help="compare even when settings differ"),
    seed: int = typer.Option(0, help="bootstrap seed"),
    output: Optional[Path] = typer.Option(None, help="report folder (default: <current>/regress)"),
) -> None:
    """Paired comparison of two runs question by question; non-zero exit on a significant drop."""
    from fvlm_eval.regress import regress as compare

    code = compare(baseline, current, max_drop, alpha, allow_mismatch, seed, output)
    raise typer.Exit(code)


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("fvlm-demo"), help="where the demo writes everything"),
    workers: int = typer.Option(0, help="decoding worker processes"),
) -> None:
    """The whole pipeline offline: synthetic data, a tiny random fVLM, run, report."""
    from fvlm_eval.demo import run_demo

    run_demo(output_dir, workers)


if __name__ == "__main__":
    app()
