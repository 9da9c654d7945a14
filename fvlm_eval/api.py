"""The Python API: ``evaluate`` a model from a training loop or a notebook, through the same code
as ``fvlm-eval run`` (which is a thin layer over it), with the same records.

``model`` is any of:
- an ``fvlm_model.FoveatedVLM`` as training code holds it (wrapped in DDP or ``torch.compile``
  too), with its ``tokenizer``; evaluated on its own device in its own dtype, in eval mode, then
  each submodule put back in the mode it was in (a frozen encoder kept in eval mode stays so);
- a transformers ``SmolVLMForConditionalGeneration`` with its ``processor`` (or ``tokenizer`` and
  ``image_processor``);
- an adapter already built (``fvlm_eval.models.load_model``, ``adapter_for``, or a family of your
  own): it may be handed to every step of a training loop, as each call drops what it computed from
  earlier weights and hashes in-memory weights anew;
- a path or hub id, as ``--model`` takes (loaded on ``device`` in ``dtype``).

``output_dir=None`` runs in a temporary folder removed afterwards: the records are the ones the
CLI writes, kept in memory when ``keep_records`` (a run stopped by Ctrl-C keeps none). A wrong
argument raises ``SettingsError`` naming the argument (``error.cli_message`` names its CLI flag
instead, which ``fvlm-eval run`` shows) and a ``data_dir`` that does not exist (or is a file)
``tasks.DataMissing``, both before the model is loaded; a model that cannot be loaded
``ModelLoadError``; the run's own outcome (a question that failed, every question failing) is in
``Evaluation.exit_code`` and ``messages``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from fvlm_eval import models
from fvlm_eval.api_checks import (
    check_benchmark_names,
    checked_console,
    checked_run_settings,
    data_folder_there,
    in_a_temporary_folder,
)
from fvlm_eval.errors import INTERRUPT_EXIT_CODES, ExitCode, NotEvaluated, SettingsError
from fvlm_eval.models import ModelLoadError, detect_family, family_module, resolve_device
from fvlm_eval.models.devices import check_device_name
from fvlm_eval.models.fvlm_folder import ExportRefused, export_checkpoint, save_model_folder
from fvlm_eval.models.memory import adapter_for, unwrap
from fvlm_eval.models.training_state import evaluating
from fvlm_eval.records import latest_by_id, read_records
from fvlm_eval.run.folder import SAMPLES
from fvlm_eval.run.options import (
    apart_from_inputs,
    at_home,
    boolean,
    check_benchmarks,
    check_options,
    choose_modes,
    device_argument,
    folder_argument,
    frame_cache_folder,
    from_cli,
    in_memory_arguments,
    names,
    path_argument,
    text_argument,
    whole_number,
)
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.summary import ProtocolResult, Summary


def _pair(key) -> tuple:
    """An ``Evaluation`` key as a tuple (empty when it is no pair's shape: a string, a number)."""
    return tuple(key) if isinstance(key, (tuple, list)) else ()


class Measured(dict):
    """``BenchmarkResult.accuracy``: a ``ProtocolResult`` per protocol measured; another is ``NotEvaluated``."""

    def __init__(self, results: dict[str, ProtocolResult], where: str):
        super().__init__(results)
        self.where = where

    def __missing__(self, protocol: str):
        from fvlm_eval.protocols import ALL_PROTOCOLS, CIRCULAR, GENERATED, PERMUTATION_AVERAGED

        if protocol == GENERATED:
            why = ": it needs generate=True"
        elif str(protocol).startswith((CIRCULAR, PERMUTATION_AVERAGED)) and protocol in ALL_PROTOCOLS:
            why = ": it needs circular=True"
        else:
            why = "" if protocol in ALL_PROTOCOLS else " (no protocol has that name)"
        raise NotEvaluated(f"{self.where}: protocol {protocol!r} was not measured{why}; measured: {', '.join(self)}")


@dataclass(frozen=True)
class BenchmarkResult:
    """One (benchmark, mode): its ``summary`` (every protocol's ``ProtocolResult`` in ``accuracy``), its
    folder (``None`` when the run was in a temporary folder) and, when kept, the records in the summary's
    question order."""

    summary: Summary = field(repr=False)
    folder: Path | None = None
    records: tuple | None = field(default=None, repr=False)

    benchmark = property(lambda self: self.summary.benchmark)
    mode = property(lambda self: self.summary.mode)
    headline_protocol = property(lambda self: self.summary.headline_protocol)
    accuracy = property(lambda self: Measured(self.summary.accuracy, f"{self.benchmark} {self.mode}"))

    @property
    def headline(self) -> ProtocolResult:
        return self.summary.headline

    def __repr__(self) -> str:
        return f"BenchmarkResult({self.benchmark!r}, {self.mode!r}, headline={self.headline_protocol!r})"


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` returns: one ``BenchmarkResult`` per (benchmark, mode), the run's exit code
    (0 done; 1 a question set failed; 130 interrupted) and what the user must hear."""

    results: tuple[BenchmarkResult, ...]
    exit_code: int = 0
    messages: tuple[str, ...] = ()
    output_dir: Path | None = None

    def __iter__(self):
        """The results, one per (benchmark, mode) (``for result in evaluation``: not the ``__getitem__`` fallback,
        which asked for result 0)."""
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def _found(self, key) -> BenchmarkResult | None:
        return next((r for r in self.results if (r.benchmark, r.mode) == _pair(key)), None)

    def __contains__(self, key) -> bool:
        """``(benchmark, mode) in evaluation`` as ``evaluation[(benchmark, mode)]`` finds it (a result too)."""
        return key in self.results if isinstance(key, BenchmarkResult) else self._found(key) is not None

    def __getitem__(self, key: tuple[str, str]) -> BenchmarkResult:
        found = self._found(key)
        if found is not None:
            return found
        pair = _pair(key)
        modes: dict[str, list[str]] = {}
        for result in self.results:
            modes.setdefault(result.benchmark, []).append(result.mode)
        evaluated = "; ".join(f"{b} in {', '.join(m)}" for b, m in modes.items()) or "nothing"
        if len(pair) != 2:
            asked = f"evaluation[{key!r}]: give a (benchmark, mode) pair"
        elif pair[0] in modes:
            asked = f"{pair[0]} was not evaluated in mode {pair[1]!r}"
        else:
            asked = f"benchmark {pair[0]!r} was not evaluated"
        raise NotEvaluated(f"{asked}; evaluated: {evaluated}")

    @property
    def summaries(self) -> dict[tuple[str, str], Summary]:
        return {(r.benchmark, r.mode): r.summary for r in self.results}

    def accuracy(self, benchmark: str, mode: str, protocol: str | None = None) -> float | None:
        result = self[(benchmark, mode)]
        return result.accuracy[protocol or result.headline_protocol].accuracy


def evaluate(
    model: Any,
    benchmarks: str | Iterable[str],
    *,
    modes: str | Iterable[str] | None = None,
    protocol: str | None = None,
    limit: int | None = None,
    frames: int | None = None,
    data_dir: str | Path = "data",
    output_dir: str | Path | None = None,
    frame_cache: str | Path | bool = True,
    generate: bool = False,
    circular: bool = False,
    step: int | None = None,
    sampling: Literal["benchmark", "model"] = "benchmark",
    tokenizer=None,
    processor=None,
    image_processor=None,
    family: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    name: str | None = None,
    keep_records: bool = False,
    console=None,
    progress: bool = True,
    distributed: bool = False,
    on_interrupt: Literal["raise", "return"] = "raise",
    **run_settings: Any,
) -> Evaluation:
    """Score ``benchmarks`` (names, or a suite: ``"video"`` every video benchmark, ``"all"`` every
    benchmark; mixed, each once) in each of ``modes`` (default: the model's default mode; ``"all"``:
    every one) and return their summaries; see the module docstring for ``model``.

    ``protocol``: the headline (every protocol is recorded; default: the run's default).
    ``limit``: the first N questions of each benchmark, stratified by category (one of each, then
    each in proportion to its size; a fixed subset: the same N every call). ``frame_cache``: True
    (the default folder), False, or a folder: a second checkpoint on the same data decodes
    nothing. ``step``: the training step, written into the manifest (``fvlm-eval track`` reads it;
    default: a ``.pt`` checkpoint's own). ``keep_records``: also return every record. Any other
    ``fvlm_eval.run.settings.RunSettings`` field (``batch_size``, ``workers``, ``subtitles``,
    ``max_new_tokens``, ``keep_going``, ``cloze_framing``, ``shard``, ...) passes through.
    ``distributed``: under torchrun, each rank one shard, rank 0 merging (what the CLI does; off by
    default, so that a training job under torchrun keeps its own process group).
    ``on_interrupt``: Ctrl-C re-raises ``KeyboardInterrupt`` (records so far kept in ``output_dir``)
    or returns exit code 130. ``console``: a rich Console for the progress bar and notes (default: stdout).
    """
    console = checked_console(console)  # first: rich's import is made here, Python's random state kept
    check_benchmark_names(benchmarks)
    chosen = check_benchmarks(benchmarks)
    check_options(protocol, generate, circular, sampling, dtype)
    if modes is not None and not names(modes, "modes"):
        raise SettingsError(
            "modes=[]: no mode given; give a mode, 'all', or None for the model's default", "--mode: no mode given"
        )
    whole_number("limit", limit, 1)
    whole_number("frames", frames, 1, 1024)
    if on_interrupt not in ("raise", "return"):
        raise SettingsError(f"on_interrupt={on_interrupt!r}: choose 'raise' or 'return'")
    for argument, value in (("keep_records", keep_records), ("progress", progress), ("distributed", distributed)):
        boolean(argument, value)
    path_argument("data_dir", data_dir)
    # `--output-dir=~/runs` (no shell expands ~ after =) made a folder named ~ here; every path is expanded
    data_dir, output_dir, model = at_home(data_dir), at_home(output_dir), at_home(model)
    frame_cache = frame_cache if isinstance(frame_cache, bool) else at_home(frame_cache)
    if output_dir is not None:
        folder_argument("output_dir", output_dir)
        apart_from_inputs(output_dir, data_dir, model)
    if frame_cache is not None and not isinstance(frame_cache, bool):
        folder_argument("frame_cache", frame_cache)
    for argument, value in (("name", name), ("family", family)):
        text_argument(argument, value)
    device = device_argument(device)
    if isinstance(model, (str, Path)):  # the cheap checks first: loading a model takes seconds to minutes
        if not str(model).strip():  # `--model "$MODEL"` with MODEL unset: not the current folder
            raise SettingsError("model is empty", "--model is empty")
        try:
            check_device_name(device)
        except ModelLoadError as error:
            raise from_cli(str(error)) from error
    else:
        in_memory_arguments(model, family, device, dtype)
    run_settings = checked_run_settings(run_settings, step)
    launch = None
    if distributed:
        from fvlm_eval.run import distributed as torchrun

        try:
            launch = torchrun.launch()
        except torchrun.LaunchError as error:
            raise from_cli(str(error)) from error
        if launch is not None:
            if run_settings.get("shard") is not None:
                raise SettingsError(
                    "shard is for independent processes; under torchrun the ranks are the shards",
                    "--shard is for independent processes; under torchrun the ranks are the shards",
                )
            run_settings["shard"] = launch.shard
            device = torchrun.device_for(launch, device)
    if isinstance(model, (str, Path)) and family is not None and family not in models.FAMILIES:
        why = models.PLUGINS.unusable(family) or f"choose from {', '.join(models.FAMILIES)}"
        raise SettingsError(f"family={family!r}: {why}", f"--family {family}: {why}")
    if isinstance(model, (str, Path)):
        _check_modes_before_loading(model, family, modes, device)
    data_folder_there(chosen, data_dir)  # every flag checked first (exit 2), then the folder (exit 1)
    adapter = adapter_for(
        model,
        tokenizer=tokenizer,
        processor=processor,
        image_processor=image_processor,
        family=family,
        device=device,
        dtype=dtype,
        name=name,
    )
    begin_run = getattr(adapter, "begin_run", None)  # caches of earlier weights dropped, in-memory ones hashed anew
    if begin_run is not None:
        begin_run()
    chosen_modes = choose_modes(modes, adapter.family, tuple(adapter.variants), adapter.default_variant)
    if progress:
        for note in adapter.describe().get("notes") or ():
            console.print(f"note: {note}", style="yellow", markup=False, highlight=False)
    run_settings.setdefault(
        "command_line",
        f"fvlm_eval.evaluate({adapter.describe().get('name')!r}, {list(chosen)!r}, modes={list(chosen_modes)!r})",
    )
    if protocol is not None:
        run_settings["protocol"] = protocol
    saved_at = adapter.describe().get("checkpoint_step")  # a training checkpoint's own step
    if step is not None and saved_at is not None and step != saved_at and progress:
        console.print(
            f"note: step {step} is recorded, as given; the checkpoint says it was saved at step {saved_at}",
            style="yellow", markup=False, highlight=False,
        )  # fmt: skip
    step = saved_at if step is None else step
    if step is not None:
        run_settings["step"] = step
    temporary = tempfile.TemporaryDirectory(prefix="fvlm-eval-run-") if output_dir is None else None
    output = Path(temporary.name) if temporary else Path(output_dir)
    settings = RunSettings(
        benchmarks=chosen,
        modes=chosen_modes,
        data_dir=Path(data_dir),
        output_dir=output,
        limit=limit,
        frames=frames,
        generate=generate,
        circular=circular,
        model_sampling=sampling == "model",
        frame_cache=frame_cache_folder(frame_cache),
        **run_settings,
    )
    try:
        return _run(adapter, settings, console, progress, launch, keep_records, temporary is None, on_interrupt)
    finally:
        if temporary is not None:
            temporary.cleanup()


def _check_modes_before_loading(model, family: str | None, modes, device: str | None) -> None:
    """A wrong ``--mode`` or ``--device`` is told before minutes of loading (the family from config.json)."""
    try:
        resolve_device(device)
    except ModelLoadError as error:
        raise from_cli(str(error)) from error
    family = family or detect_family(str(model))
    module = family_module(family)
    choose_modes(modes, family, tuple(module.VARIANTS), module.DEFAULT_VARIANT)


def _run(
    adapter,
    settings: RunSettings,
    console,
    progress: bool,
    launch,
    keep_records: bool,
    keep_folder: bool,
    on_interrupt: str,
) -> Evaluation:
    with evaluating(unwrap(getattr(adapter, "model", None))):  # every submodule's mode put back as it was
        outcome = run(settings, adapter, console, progress=progress and (launch is None or launch.rank == 0))
    messages = outcome.messages if keep_folder else in_a_temporary_folder(outcome.messages)
    summaries = outcome.summaries
    if launch is not None:
        from fvlm_eval.run import distributed as torchrun

        summaries = torchrun.finish(launch, settings.output_dir, outcome)
    if outcome.exit_code in INTERRUPT_EXIT_CODES and on_interrupt == "raise":
        from fvlm_eval.interrupts import Terminated  # SIGTERM (exit 143) stays told apart from Ctrl-C

        stop = Terminated if outcome.exit_code == ExitCode.TERMINATED else KeyboardInterrupt
        raise stop("; ".join(messages))
    results = tuple(_result(settings.output_dir, summary, keep_records, keep_folder) for summary in summaries.values())
    return Evaluation(results, outcome.exit_code, tuple(messages), settings.output_dir if keep_folder else None)


def _result(output: Path, summary: Summary, keep_records: bool, keep_folder: bool) -> BenchmarkResult:
    folder = output / summary.benchmark / summary.mode
    records = None
    if keep_records:
        by_id = latest_by_id(read_records(folder / SAMPLES))
        records = tuple(by_id[i] for i in (summary.questions or by_id) if i in by_id)
    return BenchmarkResult(summary, folder if keep_folder else None, records)


__all__ = [
    "BenchmarkResult",
    "Evaluation",
    "ExportRefused",
    "ProtocolResult",
    "SettingsError",
    "adapter_for",
    "evaluate",
    "export_checkpoint",
    "save_model_folder",
]
