"""The commands about data: ``prepare`` (fetch and verify a benchmark) and ``benchmarks`` (what is there)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fvlm_eval.cli.app import RegistryHelp, UserError, app, benchmark_names
from fvlm_eval.errors import ExitCode, FvlmEvalError


@app.command("benchmarks")
def list_benchmarks(
    data_dir: Path = typer.Option(Path("data"), help="folder holding <benchmark>/ for each benchmark"),
) -> None:
    """List the benchmarks, the state of their data, and the suites (names for several benchmarks at once)."""
    from fvlm_eval.tasks import BENCHMARKS, PLUGINS, SUITES, suite
    from fvlm_eval.tasks.own_code import FAILURES, failure
    from fvlm_eval.tasks.prepare import status
    from fvlm_eval.terminal import echo

    width = max(map(len, [*BENCHMARKS, *SUITES]))
    for name, cls in BENCHMARKS.items():
        benchmark = cls()
        plugin = f"  (plugin: {PLUGINS.added[name].distribution})" if name in PLUGINS.added else ""
        try:  # a plugin's sampling that cannot describe itself: that one unusable, the listing goes on
            sampling = f"{benchmark.sampling.describe():24s}"
        except FAILURES as error:
            echo(f"{name:{width}s} unusable: {failure(benchmark, 'sampling.describe()', error)}{plugin}")
            continue
        echo(f"{name:{width}s} v{benchmark.version}  {sampling} {status(benchmark, data_dir)}{plugin}")
    echo("suites (run them by name: fvlm-eval run video):")
    for name, what in SUITES.items():
        echo(f"{name:{width}s} {what}: {' '.join(suite(name))}")
    if not data_dir.is_dir():  # every benchmark "not prepared" said nothing of the folder itself
        _say_no_data_dir(data_dir)


def _say_subtitles(adapter, data_dir: Path) -> None:
    """How many of the benchmark's videos have a subtitle file (a missing one is no problem: not every video has
    subtitles; none at all is: the archive was not extracted, and `run --subtitles` would score without them)."""
    videos: dict[str, bool] = {}
    for question in adapter.load(data_dir).questions:
        videos[question.media.key] = videos.get(question.media.key, False) or bool(question.subtitles)
    with_subtitles = sum(videos.values())
    typer.echo(f"subtitles: {with_subtitles} of {len(videos)} videos have a subtitle file")
    if videos and not with_subtitles:
        typer.secho(
            "warning: no video has a subtitle file: is the subtitle archive extracted? `run --subtitles` would score "
            "without any subtitle",
            err=True,
            fg=typer.colors.YELLOW,
        )


def _say_no_data_dir(data_dir: Path) -> None:
    """One note (exit 0: the listing stands, and nothing prepared is the truth) on a ``--data-dir`` that is not a
    folder: missing, a file, or a link that leads nowhere."""
    import shlex

    from fvlm_eval.files import broken_link
    from fvlm_eval.reports.printable import printable

    if data_dir.is_file():
        what = f"{data_dir} is a file: give the folder that holds <benchmark>/ for each benchmark"
    else:
        what = broken_link(data_dir) or (
            f"{data_dir} does not exist: no benchmark is prepared there "
            f"(`fvlm-eval prepare <benchmark> --data-dir {shlex.quote(str(data_dir))}` fetches one into it)"
        )
    typer.secho(f"note: --data-dir {printable(what)}", err=True, fg=typer.colors.YELLOW)  # a line break: visibly


@app.command(cls=RegistryHelp)
def prepare(
    benchmark: str = typer.Argument(..., help="{benchmarks_or}"),
    data_dir: Path = typer.Option(Path("data"), help="folder holding <benchmark>/ for each benchmark"),
    download: Optional[bool] = typer.Option(None, "--download/--no-download", help="default: only when absent"),
    revision: Optional[str] = typer.Option(None, help="hub revision (default: the benchmark's own, a commit or main)"),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="decode every media file once to find unreadable ones"),
    workers: Optional[int] = typer.Option(None, min=0, help="decoding processes for the probe"),
    subtitles: bool = typer.Option(False, help="Video-MME: also check the subtitle files `run --subtitles` reads"),
) -> None:
    """Fetch BENCHMARK from the hub (with network), then verify it and print its coverage."""
    (name,) = benchmark_names([benchmark])
    import shlex

    from fvlm_eval.tasks import BENCHMARKS, DataMissing, get_benchmark, prepare_command
    from fvlm_eval.tasks.fetching import LAYOUTS, extract_pending, fetch, pending
    from fvlm_eval.tasks.own_code import FAILURES, OwnCodeFailed, failure
    from fvlm_eval.tasks.prepare import print_verification, verify

    if subtitles and "subtitles" not in BENCHMARKS[name].run_options:
        typer.secho(f"note: --subtitles: {name} has no subtitles; nothing more is checked", err=True, fg="yellow")
    adapter = get_benchmark(name, subtitles=subtitles)
    folder = adapter.folder(data_dir)
    if download is None:  # archives fetched by hand, or an extraction cut short: extracted here, no network needed
        extract_pending(adapter, folder, typer.echo)
    elif download is False and (waiting := pending(adapter, folder)):
        more = f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""
        typer.secho(
            f"note: {waiting[0].name}{more} in {folder} not extracted: their media count as missing; "
            f"`fvlm-eval prepare {name} --data-dir {shlex.quote(str(data_dir))}` (without --no-download) extracts them",
            err=True,
            fg=typer.colors.YELLOW,
        )
    try:
        adapter.load(data_dir)
        present = True
    except DataMissing:
        present = False
    except FAILURES:  # its own code failing (a plugin's): said by the verification below, naming it and where
        present = True
    if download or (download is None and not present):
        try:
            source = adapter.hub()
        except NotImplementedError as error:  # a plugin placed by hand (docs/extending.md): its reason, then how
            reason = f" ({error})" if str(error) else ""
            raise UserError(
                f"{name} has no hub copy to download{reason}; place it under {folder}, then "
                f"`fvlm-eval prepare {name} --data-dir {data_dir} --no-download` verifies it"
            ) from error
        except FAILURES as error:  # a plugin's hub() that raises otherwise: named, with where
            raise OwnCodeFailed(adapter, failure(adapter, "hub()", error)) from error
        typer.echo(f"downloading {source.repo} at {revision or source.revision} into {folder} ...")
        try:
            fetch(adapter, data_dir, revision, typer.echo)
        except FvlmEvalError:
            raise  # already one line that says what to do (a gated dataset, offline and not cached, a damaged zip)
        except Exception as error:
            raise UserError(
                f"download failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
                f"place the files by hand as {LAYOUTS} lists"
            ) from error
    try:
        result = verify(adapter, data_dir, probe=probe, workers=workers, progress=True)
    except DataMissing as missing:  # --no-download on a folder without it
        hint = prepare_command(name, data_dir)  # a benchmark placed by hand: where to place it, nothing to fetch
        fetched = " (without --no-download)" if hint.endswith("fetches it") else ""
        raise DataMissing(f"{missing}; {hint}{fetched}") from missing
    print_verification(result)
    if subtitles and "subtitles" in BENCHMARKS[name].run_options:
        _say_subtitles(adapter, data_dir)
    if not result.complete:
        raise typer.Exit(ExitCode.FAILED)
