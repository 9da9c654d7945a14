"""``fvlm-eval``: a thin Typer front. Heavy imports (torch, transformers) happen inside commands.

Every user-facing failure is one line naming the file, row, key or flag, with its exit code (the
table: ``fvlm_eval.errors``). ``--debug`` (or ``FVLM_EVAL_DEBUG=1``) shows the Python traceback as well.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from fvlm_eval import protocols
from fvlm_eval.errors import INTERRUPT_EXIT_CODES, ExitCode, FvlmEvalError, exit_code_of_error
from fvlm_eval.interrupts import exit_code_of, now_stopping, sigterm_as_interrupt, sigterm_received
from fvlm_eval.protocols import GENERATED, PROTOCOLS
from fvlm_eval.tasks import BENCHMARKS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Evaluate fVLM checkpoints (and SmolVLM2) on MVBench, Video-MME and ScienceQA.",
)

DEFAULT_MODEL = "sanps/fVLM-135M"
_STOP_REPORTED = False  # a run that stopped on Ctrl-C has said so itself


class UserError(FvlmEvalError):
    """A failure the user can act on: shown as one line, exit ``code``."""

    def __init__(self, message: str, code: int = ExitCode.FAILED):
        super().__init__(message)
        self.exit_code = code


def _fail(message: str, code: int = ExitCode.USAGE) -> None:
    raise UserError(message, code)


def _benchmarks(names: list[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        _fail(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return tuple(dict.fromkeys(names))


def _show_version(value: bool) -> None:
    if value:
        from fvlm_eval import __version__

        typer.echo(f"fvlm-eval {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_show_version, help="print the version and exit"
    ),
    debug: bool = typer.Option(
        False, "--debug", help="show the Python traceback of an error (also FVLM_EVAL_DEBUG=1); may follow any command"
    ),
) -> None:
    """Evaluate fVLM checkpoints (and SmolVLM2) on MVBench, Video-MME and ScienceQA."""


def _readable_help() -> None:
    """Typer prints a type for every parameter (``<bool>`` beside a flag, ``<list[Path]>``,
    ``{benchmarks}...``): show the metavar given, a plain word for a type, nothing for a flag."""
    from typer import core

    words = {
        "int": "N",
        "int range": "N",
        "float": "NUMBER",
        "float range": "NUMBER",
        "Path": "PATH",
        "path": "PATH",
        "str": "TEXT",
        "file": "FILE",
        "directory": "DIR",
    }
    original = core._TyperParameter.display_type

    def option_type(self, ctx):
        if getattr(self, "is_flag", False):
            return None
        if self.metavar:
            return self.metavar
        label = str(original(self, ctx)).strip("<>")
        many = label.startswith("list[")
        label = label[5:-1] if many else label
        return words.get(label, label.upper()) + ("..." if many else "")

    def argument_name(self):
        return self.metavar or self.name.upper()

    def argument_usage(self):
        name = argument_name(self)
        name = name if self.nargs == 1 or name.endswith("...") else f"{name}..."
        return name if self.required else f"[{name}]"

    if hasattr(core, "TyperOption") and hasattr(core, "TyperArgument"):
        core.TyperOption.display_type_rich = option_type
        core.TyperArgument.display_type_rich = lambda self, ctx: None
        core.TyperArgument.display_name_raw = property(argument_name)
        core.TyperArgument._usage_display_name = argument_usage


_readable_help()


def _run_default(name: str):
    """``RunSettings``' default for ``name``, for help texts (the runner imports without torch)."""
    import dataclasses

    from fvlm_eval.run.settings import RunSettings

    return next(f.default for f in dataclasses.fields(RunSettings) if f.name == name)


def default_output(model: str) -> Path:
    return Path("results/runs") / Path(str(model).rstrip("/")).name.replace(".safetensors", "")


@app.command()
def run(
    benchmarks: list[str] = typer.Argument(..., metavar="BENCHMARK...", help="mvbench, videomme, scienceqa"),
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
        None, metavar="FAMILY", help="fvlm or smolvlm (default: read from the model's config.json)"
    ),
    data_dir: Path = typer.Option(Path("data"), metavar="DIR", help="folder holding <benchmark>/ for each benchmark"),
    output_dir: Optional[str] = typer.Option(None, metavar="DIR", help="default: results/runs/<model name>"),
    limit: Optional[int] = typer.Option(
        None,
        min=1,
        metavar="N",
        help="score only the first N questions of each benchmark (round-robin over categories)",
    ),
    frames: Optional[int] = typer.Option(
        None, min=1, max=1024, metavar="N", help="frames per video (images are one frame; fVLM shows it 8 times)"
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
        None, min=0, metavar="N", help="decoding processes (default: the cores, bounded by the work; 0: this process)"
    ),
    subtitles: bool = typer.Option(
        False, help="Video-MME: the subtitle lines at the sampled frames' times in the prompt"
    ),
    generate: bool = typer.Option(
        False, help="also generate an answer per question and read its letter (protocol 'generated')"
    ),
    max_new_tokens: int = typer.Option(16, min=1, max=512, metavar="N", help="longest generated answer, in tokens"),
    circular: bool = typer.Option(
        False,
        help="also ask each question with its options rotated through every position "
        "(circular_* and permavg_* protocols)",
    ),
    cloze_framing: Optional[str] = typer.Option(
        None,
        metavar="plain|chat",
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
        metavar="N",
        help="the checkpoint's training step, written into the manifest (for `fvlm-eval track`)",
    ),
    keep_going: bool = typer.Option(False, help="do not stop when the first questions all fail alike"),
) -> None:
    """Score every question of BENCHMARK... in each mode; write per-sample JSONL and a summary. Reruns resume.
    (A thin layer over the Python API, fvlm_eval.evaluate.)"""
    if frame_cache is not None and no_frame_cache:
        _fail("--frame-cache and --no-frame-cache contradict each other")
    if output_dir is not None and not str(output_dir).strip():
        _fail("--output-dir is empty")
    if cloze_framing is not None and cloze_framing not in ("plain", "chat"):
        _fail(f"--cloze-framing {cloze_framing}: choose plain or chat")
    from fvlm_eval import terminal
    from fvlm_eval.api import SettingsError, evaluate
    from fvlm_eval.reports.tables import print_run_tables

    output = Path(output_dir) if output_dir else default_output(model)
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
            max_new_tokens=max_new_tokens,
            shard=shard,
            keep_going=keep_going,
            command_line=" ".join(["fvlm-eval", *sys.argv[1:]]),
            **({"cloze_framing": cloze_framing} if cloze_framing else {}),
        )
    except SettingsError as error:
        _fail(getattr(error, "cli_message", None) or str(error))
    summaries = evaluation.summaries
    if summaries:
        print_run_tables(summaries, console)
    for message in evaluation.messages:
        console.print(message, style="yellow", markup=False, highlight=False)
    global _STOP_REPORTED
    _STOP_REPORTED = evaluation.exit_code in INTERRUPT_EXIT_CODES
    import shlex

    from rich.markup import escape

    shown, quoted = (
        escape(str(output)),
        escape(shlex.quote(str(output))),
    )  # pasted into a shell, read by rich: neither reinterprets it
    if shard is not None:
        console.print(
            f"shard {escape(shard.strip())} recorded under {shown}; when every shard has finished: "
            f"fvlm-eval merge {quoted}"
        )
    elif summaries:
        console.print(f"records and summaries: [bold]{shown}[/]  (next: fvlm-eval report {quoted})")
    raise typer.Exit(evaluation.exit_code)


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
        0.05, min=0.0, max=1.0, metavar="ALPHA", help="significance level of the consecutive comparisons (above 0)"
    ),
    seed: int = typer.Option(0, metavar="N", help="bootstrap seed"),
) -> None:
    """Accuracy against training step per benchmark, mode and protocol (intervals, chance, the best
    checkpoint and what it is worth, consecutive checkpoints compared as regress does): track.md,
    track.csv, track.png. The step is the manifest's (run --step N) or the folder name's (step_9000)."""
    from fvlm_eval.reports.track import TrackError, best_caveat
    from fvlm_eval.reports.track import track as write_track

    if alpha <= 0:
        _fail(f"--alpha {alpha}: must be above 0")
    unknown = [p for p in protocol or () if p not in protocols.ALL_PROTOCOLS]
    if unknown:
        _fail(f"--protocol {', '.join(unknown)}: no such protocol; choose from {', '.join(protocols.ALL_PROTOCOLS)}")
    try:
        written, analysis = write_track(runs, output, protocol, alpha, seed)
    except TrackError as error:
        raise UserError(str(error), ExitCode.FAILED) from error
    from fvlm_eval.terminal import echo

    for row in analysis["best"]:
        chance = "n/a" if row["chance"] is None else f"{100 * row['chance']:.1f}%"
        echo(
            f"{row['benchmark']} {row['mode']} {row['protocol']}: "
            f"{'best' if row['checkpoints'] > 1 else 'only'} step {row['step']} "
            f"({100 * row['accuracy']:.1f}%, chance {chance}; {best_caveat(row)})"
        )
    for row in analysis["pairs"]:
        if row.get("not_measured"):
            echo(
                f"{row['benchmark']} {row['mode']} {row['protocol']}: steps {row['from']} → {row['to']} not "
                f"compared: step {' and '.join(map(str, row['not_measured']))} did not measure it"
            )
    for path in written:
        echo(f"wrote {path}")


@app.command("export-checkpoint")
def export_checkpoint(
    checkpoint: Path = typer.Argument(
        ..., metavar="CHECKPOINT.pt", help="a training checkpoint: a state dict, or a dict with 'model_state_dict'"
    ),
    folder: Path = typer.Argument(
        ..., metavar="FOLDER", help="the model folder to write (model.safetensors, config.json, tokenizer)"
    ),
    config: Optional[Path] = typer.Option(
        None,
        metavar="CONFIG.json",
        help="the model's config.json (default: one beside the checkpoint, else fVLM-135M's)",
    ),
    force: bool = typer.Option(False, "--force", help="overwrite a folder that already holds a model"),
) -> None:
    """Turn a training checkpoint into a model folder that `run --model` (and `load_fvlm`) reads."""
    from fvlm_eval.api import export_checkpoint as export

    written = export(checkpoint, folder, config, force=force)
    typer.echo(f"wrote {written}")


@app.command()
def merge(run_dir: Path = typer.Argument(..., help="the --output-dir the shards wrote into")) -> None:
    """Join the shards of a run (`fvlm-eval run --shard i/n`) into samples.jsonl and summary.json."""
    from fvlm_eval import terminal
    from fvlm_eval.reports.tables import print_run_tables
    from fvlm_eval.run.shards import merge as merge_shards

    summaries = merge_shards(run_dir)
    print_run_tables(summaries, terminal.console())


@app.command("benchmarks")
def list_benchmarks(
    data_dir: Path = typer.Option(Path("data"), help="folder holding <benchmark>/ for each benchmark"),
) -> None:
    """List the benchmarks and the state of their data."""
    from fvlm_eval.tasks.prepare import status
    from fvlm_eval.terminal import echo

    for name, cls in BENCHMARKS.items():
        benchmark = cls()
        echo(f"{name:10s} v{benchmark.version}  {benchmark.sampling.describe():24s} {status(benchmark, data_dir)}")


@app.command()
def prepare(
    benchmark: str = typer.Argument(..., help="mvbench, videomme or scienceqa"),
    data_dir: Path = typer.Option(Path("data"), help="folder holding <benchmark>/ for each benchmark"),
    download: Optional[bool] = typer.Option(None, "--download/--no-download", help="default: only when absent"),
    revision: Optional[str] = typer.Option(None, help="hub revision (default: the benchmark's pinned one)"),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="decode every media file once to find unreadable ones"),
    workers: Optional[int] = typer.Option(None, min=0, help="decoding processes for the probe"),
) -> None:
    """Fetch BENCHMARK from the hub (with network), then verify it and print its coverage."""
    (name,) = _benchmarks([benchmark])
    from fvlm_eval.tasks import DataMissing, get_benchmark
    from fvlm_eval.tasks.prepare import fetch, print_verification, verify

    adapter = get_benchmark(name)
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
            raise UserError(
                f"download failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
                "place the files by hand as the benchmark's docstring says"
            ) from error
    result = verify(adapter, data_dir, probe=probe, workers=workers, progress=True)
    print_verification(result)
    if not result.complete:
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def report(
    runs: list[Path] = typer.Argument(
        ..., help="run folders (the --output-dir of fvlm-eval run), any number, any families"
    ),
    baselines: Optional[Path] = typer.Option(
        None, help="baseline CSV (default: the published figures shipped with fvlm-eval)"
    ),
    output_dir: Optional[Path] = typer.Option(None, help="where to write (default: the first run folder)/report"),
    alpha: float = typer.Option(0.05, help="significance level of the above-chance test; 0 < alpha < 1"),
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
    from fvlm_eval.terminal import echo

    if not 0 < alpha < 1:
        _fail(f"--alpha {alpha:g}: must be above 0 and below 1")
    for path in write_report(runs, baselines, output_dir, alpha, thumbnails=thumbnails, frame_cache=frame_cache):
        echo(f"wrote {path}")


@app.command()
def regress(
    baseline: Path = typer.Option(..., help="run folder of the reference checkpoint"),
    current: Path = typer.Option(..., help="run folder of the checkpoint under test"),
    max_drop: float = typer.Option(1.0, min=0.0, help="fail when accuracy drops by more than this many points ..."),
    alpha: float = typer.Option(
        0.05,
        help="... and the drop is significant at this level (exact sign-flip test over videos, one-sided); "
        "0 < alpha < 1",
    ),
    protocol: Optional[str] = typer.Option(
        None, help="the protocol compared (default: the headline protocol, the same in both runs)"
    ),
    allow_underpowered: bool = typer.Option(
        False, help="pass (with a warning) when a drop of --max-drop could not have been detected"
    ),
    min_overlap: float = typer.Option(
        0.9, min=0.0, max=1.0, help="unusable when the runs share fewer than this share of either run's questions"
    ),
    allow_mismatch: bool = typer.Option(
        False, help="compare even when settings differ (never a protocol one run lacks)"
    ),
    seed: int = typer.Option(0, help="bootstrap seed"),
    output: Optional[Path] = typer.Option(None, help="report folder (default: <current>/regress)"),
) -> None:
    """Paired comparison of two runs question by question. Exit 0 pass, 1 significant drop,
    3 settings or protocol differ, 4 not comparable (nothing or too little shared, or an unusable
    folder), 5 underpowered (a drop of --max-drop could not have been detected)."""
    from fvlm_eval.reports.regress import regress as compare

    if not 0 < alpha < 1:
        _fail(f"--alpha {alpha:g}: must be above 0 and below 1")
    if protocol is not None and protocol not in protocols.ALL_PROTOCOLS:
        _fail(f"--protocol {protocol}: unknown; known: {', '.join(protocols.ALL_PROTOCOLS)}")
    raise typer.Exit(
        compare(
            baseline, current, max_drop, alpha, allow_mismatch, seed, output, min_overlap, protocol, allow_underpowered
        )
    )


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("fvlm-demo"), help="where the demo writes everything"),
    workers: int = typer.Option(0, min=0, help="decoding worker processes"),
) -> None:
    """The whole pipeline offline: synthetic data, a tiny random fVLM and a tiny random SmolVLM, run, report."""
    from fvlm_eval.demo import run_demo

    run_demo(output_dir, workers)


def _message(error: BaseException, command: str = "") -> tuple[str, int]:
    """One line for an error a user can act on, and its exit code (``errors``); ("", 0) for anything else."""
    code = exit_code_of_error(error)
    if code is not None:
        return str(error), code
    if isinstance(error, OSError) and error.errno is not None:
        where = f" {error.filename}" if error.filename else ""
        kept = "; records written before this are kept (rerun the same command to resume)" if command == "run" else ""
        return f"cannot read or write{where}: {error.strerror}{kept}", ExitCode.FAILED
    return "", 0


def main(argv: list[str] | None = None) -> int:
    """The console script: runs ``app``, turning known failures into one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("FVLM_EVAL_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    global _STOP_REPORTED
    _STOP_REPORTED = False
    try:
        with sigterm_as_interrupt():  # SIGTERM stops a command as Ctrl-C does (exit 143)
            command = typer.main.get_command(app)
            code = command.main(args, prog_name="fvlm-eval", standalone_mode=False)  # an Exit comes back as its code
    except KeyboardInterrupt as interrupt:
        now_stopping()
        code = exit_code_of(interrupt)
    except Exception as error:
        if hasattr(error, "exit_code") and not isinstance(error, FvlmEvalError):  # click's usage errors and exits
            if hasattr(error, "show"):
                error.show()
            code = error.exit_code
        elif type(error).__name__ == "Abort":  # click's Ctrl-D / Ctrl-C at a prompt
            code = exit_code_of(error)
        else:
            message, code = _message(error, next((a for a in args if not a.startswith("-")), ""))
            if debug:
                import traceback

                traceback.print_exc()
            if not message:
                message = (
                    f"{type(error).__name__}: {error} (an unexpected error: rerun with --debug for the "
                    "traceback, and report it)"
                )
                code = ExitCode.FAILED
            typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    if "fvlm_eval.terminal" in sys.modules and sys.modules["fvlm_eval.terminal"].stdout_closed_early():
        typer.secho(
            "note: stdout was closed early (broken pipe): the rest of the printed output was dropped; the "
            "command went on to the end and wrote its files",
            err=True,
            fg=typer.colors.YELLOW,
        )
    if code == ExitCode.INTERRUPTED and sigterm_received():  # typer returns 130 for any KeyboardInterrupt
        code = ExitCode.TERMINATED
    if code in INTERRUPT_EXIT_CODES and not _STOP_REPORTED:  # Ctrl-C or SIGTERM before a run could say so
        return main_interrupted(code, next((a for a in args if not a.startswith("-")), ""))
    return code if isinstance(code, int) else 0


def main_interrupted(code: int = ExitCode.INTERRUPTED, command: str = "run") -> int:
    now_stopping()
    how = "stopped by SIGTERM" if code == ExitCode.TERMINATED else "interrupted"
    kept = (
        "records written so far are kept: rerun the same command to resume"
        if command in ("run", "demo")
        else "every file it wrote is whole: rerun the same command"
    )
    typer.secho(f"{how} before `{command or 'the command'}` finished; {kept}", err=True, fg=typer.colors.YELLOW)
    return code


if __name__ == "__main__":
    sys.exit(main())
