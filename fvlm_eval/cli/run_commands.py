"""``run`` (score benchmarks, a thin layer over ``fvlm_eval.evaluate``), ``merge`` (join shards) and ``demo``."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from fvlm_eval import protocols
from fvlm_eval.cli.app import STOP, RegistryHelp, UserError, app, fail, os_error_line
from fvlm_eval.errors import INTERRUPT_EXIT_CODES, ExitCode, FvlmEvalError
from fvlm_eval.models import DEFAULT_MODEL
from fvlm_eval.protocols import GENERATED, PROTOCOLS
from fvlm_eval.types import CLOZE_FRAMINGS


def _run_default(name: str):
    """``RunSettings``' default for ``name``, for help texts (the runner imports without torch)."""
    from fvlm_eval.run.settings import RunSettings

    return next(f.default for f in dataclasses.fields(RunSettings) if f.name == name)


def default_output(model: str) -> Path:
    """``results/runs/<model name>`` (``models.hub.model_name``: ``--model .`` is the folder's name)."""
    from fvlm_eval.models.hub import model_name

    return Path("results/runs") / model_name(model)


@app.command(cls=RegistryHelp)
def run(
    benchmarks: list[str] = typer.Argument(
        ..., metavar="BENCHMARK...", help="benchmarks: {benchmarks}; or a suite: {suites}"
    ),
    mode: Optional[list[str]] = typer.Option(
        None,
        "--mode",
        "-m",
        metavar="MODE",
        help="the model's modes (fVLM: coarse_only, coarse_fine, autoregressive) or all; repeatable; "
        "default: the model's default",
    ),
    model: str = typer.Option(DEFAULT_MODEL, metavar="PATH|HUB_ID", help="hub id, model folder, or weights file"),
    family: Optional[str] = typer.Option(
        None, metavar="FAMILY", help="{families} (default: read from the model's config.json)"
    ),
    data_dir: str = typer.Option("data", metavar="DIR", help="folder holding <benchmark>/ for each benchmark"),
    output_dir: Optional[str] = typer.Option(None, metavar="DIR", help="default: results/runs/<model name>"),
    limit: Optional[int] = typer.Option(
        None,
        min=1,
        metavar="N",
        help="score only the first N questions of each benchmark (stratified: one of each category, then each in "
        "proportion to its size)",
    ),
    frames: Optional[int] = typer.Option(
        None,
        min=1,
        max=1024,
        metavar="N",
        help="frames per video (an image is one frame; a model may show it several times)",
    ),
    batch_size: Optional[int] = typer.Option(
        None, min=1, metavar="N", help="questions per model batch (default: from free GPU memory; 16 on CPU)"
    ),
    device: Optional[str] = typer.Option(
        None, metavar="DEVICE", help="cpu, cuda, cuda:1 ... (default: cuda if available, else cpu)"
    ),
    dtype: Optional[str] = typer.Option(
        None, metavar="DTYPE", help="float32, bfloat16 or float16 (default: bfloat16 on cuda, float32 on cpu)"
    ),
    protocol: Optional[str] = typer.Option(
        None,
        metavar="PROTOCOL",
        help=f"headline protocol (all are recorded): {', '.join(PROTOCOLS)}; {', '.join(protocols.CLOZE_PROTOCOLS)}; "
        f"{GENERATED} (with --generate); circular_* and permavg_* (with --circular); "
        f"default: {_run_default('protocol')}",
    ),
    workers: Optional[int] = typer.Option(
        None,
        min=0,
        metavar="N",
        help="decoding processes (default: the CPUs this process may use, bounded by the work; 0: this process)",
    ),
    subtitles: bool = typer.Option(
        False, help="Video-MME: the subtitle lines at the sampled frames' times in the prompt"
    ),
    generate: bool = typer.Option(
        False, help="also generate an answer per question and read its letter (protocol 'generated')"
    ),
    max_new_tokens: Optional[int] = typer.Option(
        None, min=1, max=512, metavar="N", help="longest generated answer, in tokens (with --generate; default 16)"
    ),
    circular: bool = typer.Option(
        False,
        help="also ask each question with its options rotated through every position "
        "(circular_* and permavg_* protocols)",
    ),
    cloze_framing: Optional[str] = typer.Option(
        None,
        metavar="|".join(CLOZE_FRAMINGS),
        help=f"the cloze prompt: plain text, or the chat template (default: {_run_default('cloze_framing')})",
    ),
    sampling: str = typer.Option(
        "benchmark",
        metavar="benchmark|model",
        help="video frames: 'benchmark' (the benchmark's rule, the same for every model) or 'model' (the model's own)",
    ),
    frame_cache: Optional[Path] = typer.Option(
        None, metavar="DIR", help="frame cache folder (default: $FVLM_EVAL_FRAME_CACHE or ~/.cache/fvlm-eval/frames)"
    ),
    no_frame_cache: bool = typer.Option(False, "--no-frame-cache", help="decode every clip; read and write no cache"),
    shard: Optional[str] = typer.Option(
        None, metavar="I/N", help="score shard I of N only (whole videos); join with `fvlm-eval merge`"
    ),
    step: Optional[int] = typer.Option(
        None,
        min=0,
        max=2**63 - 1,  # an int64, as track and every plotting library read it
        metavar="N",
        help="the checkpoint's training step, written into the manifest (for `fvlm-eval track`); default: a .pt "
        "checkpoint's own step key",
    ),
    keep_going: bool = typer.Option(False, help="do not stop when the first questions all fail alike"),
) -> None:
    """Score every question of BENCHMARK... (or of a suite: `run video`, `run all`) in each mode; write
    per-sample JSONL and a summary. Reruns resume. (A thin layer over the Python API, fvlm_eval.evaluate.)"""
    if frame_cache is not None and no_frame_cache:
        fail("--frame-cache and --no-frame-cache contradict each other")
    for flag, given in (("--model", model), ("--data-dir", data_dir), ("--output-dir", output_dir)):
        if given is not None and not given.strip():  # text, not Path: `--model "$UNSET"` is not the current folder
            fail(f"{flag} is empty")
    if cloze_framing is not None and cloze_framing not in CLOZE_FRAMINGS:
        fail(f"--cloze-framing {cloze_framing}: choose {' or '.join(CLOZE_FRAMINGS)}")
    from fvlm_eval import terminal
    from fvlm_eval.api import SettingsError, evaluate
    from fvlm_eval.reports.tables import print_run_tables

    _say_unused(benchmarks, subtitles, generate, max_new_tokens)
    output = Path(output_dir).expanduser() if output_dir else default_output(model)
    inside = Path(os.path.realpath(Path(model).expanduser()))
    if output_dir is None and inside.is_dir() and inside in Path(os.path.realpath(output)).parents:
        fail(
            f"the default --output-dir, {output}, is inside the model folder --model {model} (run from inside it?): "
            "give --output-dir a folder outside it"
        )
    console = terminal.console()  # `run ... | head -1` goes on to the end; main says so once on stderr
    try:
        evaluation = evaluate(
            model,
            benchmarks,
            modes=mode,
            protocol=protocol,
            limit=limit,
            frames=frames,
            data_dir=data_dir,
            output_dir=output,
            frame_cache=False if no_frame_cache else (frame_cache or True),
            generate=generate,
            circular=circular,
            step=step,
            sampling=sampling,
            family=family,
            device=device,
            dtype=dtype,
            console=console,
            distributed=True,
            on_interrupt="return",
            batch_size=batch_size,
            workers=workers,
            subtitles=subtitles,
            **({"max_new_tokens": max_new_tokens} if max_new_tokens is not None else {}),
            shard=shard,
            keep_going=keep_going,
            command_line=" ".join(["fvlm-eval", *sys.argv[1:]]),
            **({"cloze_framing": cloze_framing} if cloze_framing else {}),
        )
    except SettingsError as error:
        fail(getattr(error, "cli_message", None) or str(error))
    except OSError as error:
        if error.errno is None or isinstance(error, FvlmEvalError):  # DataMissing: its own line
            raise
        raise UserError(os_error_line(error) + _after(error.errno, _holds_records(output)), ExitCode.FAILED) from error
    summaries = evaluation.summaries
    if summaries:
        print_run_tables(summaries, console)
    for message in evaluation.messages:
        console.print(message, style="yellow", markup=False, highlight=False)
    STOP.reported = evaluation.exit_code in INTERRUPT_EXIT_CODES
    import shlex

    from rich.markup import escape

    shown, quoted = (
        escape(str(output)),
        escape(shlex.quote(str(output))),
    )  # pasted into a shell, read by rich: neither reinterprets it
    if shard is not None and evaluation.exit_code not in INTERRUPT_EXIT_CODES:  # stopped: its line says resume
        console.print(
            f"shard {escape(shard.strip())} recorded under {shown}; when every shard has finished: "
            f"fvlm-eval merge {quoted}"
        )
    elif summaries:
        console.print(f"records and summaries: [bold]{shown}[/]  (next: fvlm-eval report {quoted})")
    raise typer.Exit(evaluation.exit_code)


def _after(number: int, records_kept: bool) -> str:
    """What to do after a write error of ``run``: rerun, first fixing what a rerun alone would meet again (a full
    disk, a folder not writable, a file-size limit, a name too long to be made); records written before it are
    kept, said only where there are some (a fresh run on a read-only folder has none)."""
    import errno

    if number == errno.ENAMETOOLONG:
        return "; give a shorter --output-dir or --frame-cache"
    first = ""
    if number in (errno.ENOSPC, errno.EDQUOT):
        first = "free some space, then "
    elif number in (errno.EACCES, errno.EPERM, errno.EROFS):
        first = "make it writable, then "
    elif number == errno.EFBIG:  # a rerun under the same `ulimit -f` meets the same wall
        first = "raise the file-size limit (ulimit -f), then "
    if records_kept:
        return f"; records written before this are kept ({first}rerun the same command to resume)"
    return f"; no record was written ({first}rerun the same command)"


def _holds_records(output: Path) -> bool:
    """Whether the run folder holds any record (``<benchmark>/<mode>/samples*.jsonl`` not empty)."""
    try:
        return any(path.stat().st_size > 0 for path in output.glob("*/*/samples*.jsonl"))
    except OSError:
        return False


def _say_unused(benchmarks: list[str], subtitles: bool, generate: bool, max_new_tokens: int | None) -> None:
    """A note on stderr for a flag that changes nothing in this run (it was accepted without a word)."""
    from fvlm_eval.api import SettingsError
    from fvlm_eval.run.options import check_benchmarks
    from fvlm_eval.tasks import BENCHMARKS

    unused = []
    if max_new_tokens is not None and not generate:
        unused.append("--max-new-tokens: no answer is generated without --generate")
    try:
        chosen = check_benchmarks(benchmarks)
    except SettingsError:
        chosen = ()  # said as the error it is, by evaluate
    taking = [name for name, benchmark in BENCHMARKS.items() if "subtitles" in benchmark.run_options]
    if subtitles and chosen and not any(name in taking for name in chosen):
        unused.append(f"--subtitles: only {', '.join(taking)} has subtitles, and this run has none of it")
    for line in unused:
        typer.secho(f"note: {line}", err=True, fg=typer.colors.YELLOW)


@app.command()
def merge(run_dir: Path = typer.Argument(..., help="the --output-dir the shards wrote into")) -> None:
    """Join the shards of a run (`fvlm-eval run --shard i/n`) into samples.jsonl and summary.json."""
    from fvlm_eval import terminal
    from fvlm_eval.reports.tables import print_run_tables
    from fvlm_eval.run.shards import MergeRefused
    from fvlm_eval.run.shards import merge as merge_shards

    try:
        summaries = merge_shards(run_dir)
    except MergeRefused as error:  # the folders it did merge are shown, as a full merge shows them, then the error
        if error.merged:
            print_run_tables(error.merged, terminal.console())
        raise
    print_run_tables(summaries, terminal.console())


@app.command(cls=RegistryHelp)
def demo(
    output_dir: Path = typer.Option(Path("fvlm-demo"), help="where the demo writes everything"),
    workers: int = typer.Option(0, min=0, help="decoding worker processes"),
    benchmark: list[str] = typer.Option(
        [],
        "--benchmark",
        "-b",
        metavar="BENCHMARK",
        help="only this benchmark, or a suite ({suites}), with a synthetic copy; repeatable: -b NAME -b NAME; "
        "default: every one",
    ),
    extra: Optional[list[str]] = typer.Argument(None, hidden=True),  # to say how to give several benchmarks
) -> None:
    """The whole pipeline offline: synthetic data, a tiny random fVLM and a tiny random SmolVLM, run, report."""
    if extra:  # `-b scienceqa mvbench`: click's "unexpected extra argument" said nothing of how to give several
        several = " ".join(f"-b {name}" for name in [*benchmark[-1:], *extra])
        fail(f"demo takes no argument ({' '.join(extra)}); several benchmarks: repeat the flag, {several}")
    from fvlm_eval.demo import run_demo

    run_demo(output_dir, workers, tuple(benchmark))
