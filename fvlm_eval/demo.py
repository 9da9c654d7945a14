"""``fvlm-eval demo``: the whole pipeline offline, in about a minute on two CPU cores.

Writes a synthetic copy of every benchmark it runs in its real layout (a plugin's benchmark that
has no ``write_fixture``, or one that raises, is left out, and said so) and a tiny random model
of every registered family that has one (``Family.tiny``: fVLM in the release folder format with
the real SmolLM2 tokenizer and chat template, SmolVLM), runs every benchmark in every mode of each
(log-likelihood and generated answers) through the same code as ``fvlm-eval run``, then
``report`` puts the families side by side. A second invocation resumes: nothing already recorded
is computed again. The default model's family writes its folder to ``model/``, the others to
``<family>/``. The tiny models run on one CPU thread: on matrices this small torch's threads only
wait for each other (the whole demo on two busy cores: 31 s of CPU and 50 s, against 126 s of CPU
and 3 min 45 s with torch's two threads).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from fvlm_eval import terminal
from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.models import DEFAULT_MODEL, FAMILIES, detect_family, write_tiny_model
from fvlm_eval.tasks import BENCHMARKS, get_benchmark, with_fixtures

COMPLETE = ".complete"  # in the demo's data folder: its first line WRITTEN_BY, then each benchmark written, a line each
WRITTEN_BY = "synthetic fixtures written by fvlm-eval demo:"


def run_demo(output_dir: Path, workers: int = 0, only: tuple[str, ...] = ()) -> None:
    """The demo; ``only``: these benchmarks and suites (``demo_benchmarks``), else every one with a synthetic copy."""
    import shlex

    from rich.markup import escape

    from fvlm_eval.models import load_model
    from fvlm_eval.reports.report import write_report
    from fvlm_eval.reports.tables import print_run_tables
    from fvlm_eval.run.runner import run
    from fvlm_eval.run.settings import RunSettings

    chosen, left_out = demo_benchmarks(only, with_fixtures())
    console = terminal.console()
    output_dir = Path(output_dir)
    data_dir = output_dir / "data"
    benchmarks, failed = write_demo_data(data_dir, chosen)
    console.print(f"synthetic benchmarks (real layouts, real encoded media): {escape(str(data_dir))}")
    if left_out:
        console.print(f"left out (no synthetic copy): {escape(', '.join(left_out))}", style="yellow")
    for line in failed:
        console.print(f"left out: {escape(line)}", style="yellow")
    if not benchmarks:
        raise FvlmEvalError(f"no synthetic copy could be written: {failed[0]}")
    default_family = detect_family(DEFAULT_MODEL)
    runs = []
    with one_torch_thread():
        models = {
            name: write_tiny_model(name, output_dir / ("model" if name == default_family else name))
            for name, family in FAMILIES.items()
            if family.tiny
        }
        console.print(f"model folders: {', '.join(escape(f'{folder} ({name})') for name, folder in models.items())}")
        console.print("[bold yellow]the demo models have RANDOM weights: their accuracy is at chance by design[/]")
        for family, folder in models.items():
            model = load_model(str(folder), family, device="cpu", dtype="float32")
            settings = RunSettings(
                benchmarks=benchmarks,
                modes=model.variants,
                data_dir=data_dir,
                output_dir=output_dir / "runs" / family,
                batch_size=16,
                workers=workers,
                generate=True,
                max_new_tokens=8,
                frame_cache=output_dir / "frame-cache",
                command_line=f"fvlm-eval demo --output-dir {shlex.quote(str(output_dir))}",
            )
            outcome = run(settings, model, console)
            print_run_tables(outcome.summaries, console)
            runs.append(settings.output_dir)
    written = write_report(runs, None, output_dir / "report", show=False)
    console.print("\n[bold]where everything went[/]")
    shown = escape(str(output_dir))  # a folder named "[bold]x" is text, not markup
    console.print(
        f"  data:    {escape(str(data_dir))}\n  records: {shown}/runs/<family>/<benchmark>/<mode>/samples.jsonl"
        f"\n  summary: {shown}/runs/<family>/<benchmark>/<mode>/summary.json"
    )
    for path in written:
        console.print(f"  report:  {escape(str(path))}")
    runs_quoted = " ".join(shlex.quote(str(r)) for r in runs)
    console.print(
        escape(f"  again:   fvlm-eval report {runs_quoted} --output-dir {shlex.quote(str(output_dir / 'report'))}"),
        highlight=False,
    )
    console.print("\n[bold]next, on real data[/]", highlight=False)
    for line in next_commands():
        console.print(f"  {escape(line)}", highlight=False)


def write_demo_data(data_dir: Path, names: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """The synthetic copies of the benchmarks ``names`` under ``data_dir``, each written once (``COMPLETE`` lists
    those written: a second demo rewrites none, a demo of others adds theirs); returns those whose copy is there,
    and one line for each whose ``write_fixture`` raised (a plugin's: left out, the rest of the demo goes on). It
    wrote every registered benchmark's whatever ``--benchmark`` said, and one plugin's that raised ended the demo
    for every benchmark as "an unexpected error"."""
    from fvlm_eval.tasks.own_code import FAILURES, OwnCodeFailed, failure

    marker = Path(data_dir) / COMPLETE
    written = marker.read_text().splitlines()[1:] if marker.is_file() else []
    ready, failed = [], []
    for name in names:
        if name not in written:
            benchmark = get_benchmark(name)
            try:
                benchmark.write_fixture(Path(data_dir))
            except FAILURES as error:
                failed.append(str(OwnCodeFailed(benchmark, failure(benchmark, "write_fixture()", error))))
                continue
            written.append(name)
            marker.write_text("".join(f"{line}\n" for line in (WRITTEN_BY, *written)))
        ready.append(name)
    return tuple(ready), failed


def demo_benchmarks(only: tuple[str, ...], copies: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """What the demo runs, of the benchmarks with a synthetic copy (``copies``): those named in ``only``, in the
    order given, each once, a suite (``video``, ``all``) standing for its benchmarks as in ``fvlm-eval run``
    (every one when ``only`` is empty); and those left out for want of a copy. A name that is neither, or a
    benchmark without a copy named alone, is a ``SettingsError`` (exit 2)."""
    from fvlm_eval.errors import SettingsError
    from fvlm_eval.run.options import check_benchmarks
    from fvlm_eval.tasks import PLUGINS, SUITES, several_in_one

    for name in only:
        if several_in_one(name):
            raise SettingsError(f"--benchmark {name}: one benchmark per -b (-b {' -b '.join(several_in_one(name))})")
        if name not in SUITES and name not in copies:
            why = PLUGINS.unusable(name) or "the demo has no synthetic copy of it"
            raise SettingsError(
                f"--benchmark {name}: {why}; choose from {', '.join(copies)}, or a suite: {', '.join(SUITES)}"
            )
    asked = check_benchmarks(only or ("all",))  # suites stand for their benchmarks, each once, as in `run`
    chosen = tuple(name for name in asked if name in copies)
    if not chosen:
        raise SettingsError(f"--benchmark {' '.join(only)}: the demo has a synthetic copy of none of its benchmarks")
    return chosen, [name for name in asked if name not in copies]


@contextmanager
def one_torch_thread():
    """torch on one intra-op thread while the tiny models run (see the module docstring); then as it was."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def next_commands() -> list[str]:
    """What to type on real data: prepare, score the default model and another family's published model on
    every benchmark (the suite ``all``), report."""
    first, *others = BENCHMARKS
    lines = [
        f"fvlm-eval prepare {first} --data-dir data" + (f"   (likewise {', '.join(others)})" if others else ""),
        "fvlm-eval run all --mode all --data-dir data",
    ]
    default_family = detect_family(DEFAULT_MODEL)
    runs = [f"results/runs/{DEFAULT_MODEL.split('/')[-1]}"]
    for family in FAMILIES.values():
        if family.name != default_family and family.hub_ids:
            lines.append(f"fvlm-eval run all --model {family.hub_ids[0]} --generate --data-dir data")
            runs.append(f"results/runs/{family.hub_ids[0].split('/')[-1]}")
    return lines + [
        f"fvlm-eval report {' '.join(runs)}",
        f"fvlm-eval regress --baseline results/runs/old --current {runs[0]}",
    ]
