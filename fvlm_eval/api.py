"""The Python API: ``evaluate`` a model from a training loop or a notebook, through the same code
as ``fvlm-eval run`` (which is a thin layer over it), with the same records.

``model`` is any of:
- an ``fvlm_model.FoveatedVLM`` as training code holds it (wrapped in DDP or ``torch.compile``
  too), with its ``tokenizer``; evaluated on its own device in its own dtype, in eval mode, then
  put back in the mode it was in;
- a transformers ``SmolVLMForConditionalGeneration`` with its ``processor`` (or ``tokenizer`` and
  ``image_processor``);
- an adapter already built (``fvlm_eval.models.load_model``, or a family of your own);
- a path or hub id, as ``--model`` takes (loaded on ``device`` in ``dtype``).

``output_dir=None`` runs in a temporary folder removed afterwards: the records are the ones the
CLI writes, kept in memory when ``keep_records``. A wrong argument raises ``SettingsError`` naming
the argument (``error.cli_message`` names its CLI flag instead, which ``fvlm-eval run`` shows); a model that cannot be loaded ``ModelLoadError``; the run's own outcome (a
question that failed, every question failing) is in ``Evaluation.exit_code`` and ``messages``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from fvlm_eval import scoring
from fvlm_eval.scoring import GENERATED
from fvlm_eval.tasks import BENCHMARKS

EXIT_USAGE = 2


class SettingsError(ValueError):
    """An argument that cannot be used (the CLI's exit 2), with its name and what is allowed.

    ``str(error)`` names the Python argument (``modes='fast': ...``); ``cli_message`` says the same
    with the CLI's flag (``--mode fast: ...``), for ``fvlm-eval run``."""

    def __init__(self, message: str, cli_message: str | None = None):
        super().__init__(message)
        self.cli_message = cli_message or message


_ARGUMENT_OF_FLAG = {"mode": "modes", "no-frame-cache": "frame_cache"}


def _from_cli(message: str) -> SettingsError:
    """A message written with CLI flags (by the runner or the model loader), said with argument names."""
    import re

    python = re.sub(r"--([a-z][a-z-]*)", lambda m: _ARGUMENT_OF_FLAG.get(m.group(1), m.group(1).replace("-", "_")), message)
    return SettingsError(python, message)


# ----- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProtocolResult:
    """One protocol's accuracy on one (benchmark, mode): failed questions count as wrong."""

    protocol: str
    formulation: str  # multiple_choice, cloze, generated, circular, permutation_averaged
    accuracy: float | None  # None: no question (shown n/a), never 0
    correct: int
    n: int
    ci95: tuple[float, float] | None
    chance: float | None
    above_chance_p: float | None

    @staticmethod
    def from_block(protocol: str, block: dict) -> "ProtocolResult":
        interval = block.get("ci95")
        return ProtocolResult(protocol, str(block.get("formulation") or scoring.formulation(protocol)), block.get("accuracy"),
                              int(block.get("correct") or 0), int(block.get("n") or 0),
                              tuple(interval) if interval else None, block.get("chance"), block.get("above_chance_p"))


@dataclass(frozen=True)
class BenchmarkResult:
    """One (benchmark, mode): every protocol's accuracy, the raw ``summary.json``, and (when kept)
    the records in the summary's question order."""

    benchmark: str
    mode: str
    headline_protocol: str
    accuracy: dict[str, ProtocolResult]
    summary: dict = field(repr=False)
    folder: Path | None = None  # None when the run was in a temporary folder
    records: tuple | None = field(default=None, repr=False)

    @property
    def headline(self) -> ProtocolResult:
        return self.accuracy[self.headline_protocol]


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` returns: one ``BenchmarkResult`` per (benchmark, mode), the run's exit code
    (0 done; 1 a question set failed; 130 interrupted) and what the user must hear."""

    results: tuple[BenchmarkResult, ...]
    exit_code: int = 0
    messages: tuple[str, ...] = ()
    output_dir: Path | None = None

    def __getitem__(self, key: tuple[str, str]) -> BenchmarkResult:
        for result in self.results:
            if (result.benchmark, result.mode) == tuple(key):
                return result
        raise KeyError(f"no result for {key}; have {[(r.benchmark, r.mode) for r in self.results]}")

    @property
    def summaries(self) -> dict[tuple[str, str], dict]:
        return {(r.benchmark, r.mode): r.summary for r in self.results}

    def accuracy(self, benchmark: str, mode: str, protocol: str | None = None) -> float | None:
        result = self[(benchmark, mode)]
        return result.accuracy[protocol or result.headline_protocol].accuracy


def known_protocols(generate: bool, circular: bool) -> tuple[str, ...]:
    """Every protocol a run with these options records (any of them can be the headline)."""
    return tuple(p for p in scoring.ALL_PROTOCOLS if (generate or GENERATED not in p) and
                 (circular or scoring.formulation(p) not in ("circular", "permutation_averaged")))


# ----- models -----------------------------------------------------------------------------------

def weights_sha256(module) -> str:
    """The identity of in-memory weights: SHA-256 over every tensor's name, dtype, shape and bytes
    (a run folder refuses to be resumed by other weights, as with a checkpoint file's hash)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name} {data.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _unwrap(model):
    """The module inside DistributedDataParallel / DataParallel (``.module``) or ``torch.compile``
    (``._orig_mod``)."""
    for _ in range(4):
        inner = getattr(model, "_orig_mod", None) or (getattr(model, "module", None) if hasattr(model, "no_sync") or
                                                       type(model).__name__ == "DataParallel" else None)
        if inner is None:
            return model
        model = inner
    return model


def _is_adapter(model) -> bool:
    return all(hasattr(model, name) for name in ("score", "load_clips", "forget_clips", "describe", "variants"))


def build_adapter(model, *, tokenizer=None, processor=None, image_processor=None, family: str | None = None,
                  device: str | None = None, dtype: str | None = None, name: str | None = None):
    """A ``ModelAdapter`` for ``model`` (see the module docstring)."""
    from fvlm_eval.models import ModelLoadError, detect_family, load_model, resolve_device

    if _is_adapter(model):
        return model
    if isinstance(model, (str, Path)):
        try:
            resolve_device(device)
        except ModelLoadError as error:
            raise _from_cli(str(error)) from error
        return load_model(str(model), family or detect_family(str(model)), device, dtype)
    inner = _unwrap(model)
    from fvlm_model import FoveatedVLM

    if isinstance(inner, FoveatedVLM):
        return _fvlm_adapter(inner, tokenizer, name)
    if type(inner).__name__ == "SmolVLMForConditionalGeneration":
        return _smolvlm_adapter(inner, processor, tokenizer, image_processor, name)
    raise SettingsError(f"model: a {type(model).__name__} is not something fvlm-eval can evaluate: give an "
                        "fvlm_model.FoveatedVLM (with tokenizer=), a SmolVLMForConditionalGeneration (with processor=), "
                        "a ModelAdapter, or a model folder, weights file or hub id")


def _fvlm_adapter(model, tokenizer, name: str | None):
    from fvlm_model import parameter_count

    from fvlm_eval.models.fvlm import FVLMAdapter

    if tokenizer is None:
        from fvlm_model.loading import load_tokenizer

        tokenizer = load_tokenizer(None)  # the bundled SmolLM2-135M-Instruct tokenizer, as a folder without one gets
    missing = [a for a in ("apply_chat_template", "convert_tokens_to_ids", "encode") if not hasattr(tokenizer, a)]
    if missing or not callable(tokenizer):
        raise SettingsError(f"tokenizer: a {type(tokenizer).__name__} is not a tokenizer (no {', '.join(missing) or '__call__'}); "
                            "give the model's transformers tokenizer (load_fvlm returns it), or None for the bundled one")
    return FVLMAdapter(model, tokenizer, {"name": name or "in-memory-fvlm", "source": "in-memory FoveatedVLM",
                                          "sha256": weights_sha256(model), "parameters": parameter_count(model),
                                          "notes": []})


def _smolvlm_adapter(model, processor, tokenizer, image_processor, name: str | None):
    """SmolVLM in memory: its processor's settings read through the same code as a model folder's
    (the processor's configs are saved into a temporary folder and read back)."""
    import json

    from fvlm_eval.models.smolvlm import SmolVLMAdapter, read_settings

    tokenizer = tokenizer or getattr(processor, "tokenizer", None)
    image_processor = image_processor or getattr(processor, "image_processor", None)
    if tokenizer is None or image_processor is None:
        raise SettingsError("processor: a SmolVLM model needs its processor (or tokenizer= and image_processor=)")
    with tempfile.TemporaryDirectory(prefix="fvlm-eval-processor-") as folder:
        image_processor.save_pretrained(folder)
        video = getattr(processor, "video_processor", None)
        if video is not None:
            video.save_pretrained(folder)
        if getattr(processor, "image_seq_len", None):
            (Path(folder) / "processor_config.json").write_text(json.dumps({"image_seq_len": processor.image_seq_len}))
        settings = read_settings(Path(folder), model.config, image_processor)
    return SmolVLMAdapter(model.eval(), tokenizer, image_processor, settings,
                          {"name": name or "in-memory-smolvlm", "source": "in-memory SmolVLMForConditionalGeneration",
                           "sha256": weights_sha256(model), "parameters": sum(p.numel() for p in model.parameters()),
                           "image_seq_len": settings.image_seq_len})


# ----- settings ---------------------------------------------------------------------------------

def _names(value: str | Iterable[str] | None, argument: str = "benchmarks") -> list[str]:
    """A name or names, as given; anything else (a number, a list of numbers) is a SettingsError."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        names = list(value)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise SettingsError(f"{argument}={value!r}: give a name or a list of names",
                            f"{_FLAG_OF.get(argument, argument)} {value}: give a name or names")
    return names


def choose_modes(requested: str | Iterable[str] | None, family: str, variants: tuple[str, ...], default: str) -> tuple[str, ...]:
    requested = _names(requested, "modes")
    unknown = [m for m in requested if m not in (*variants, "all")]
    if unknown:
        raise SettingsError(f"modes={', '.join(map(repr, unknown))}: {family} has {', '.join(variants)} (or 'all')",
                            f"--mode {', '.join(map(str, unknown))}: {family} has {', '.join(variants)} (or all)")
    if "all" in requested:
        return tuple(variants)
    return tuple(dict.fromkeys(requested or [default]))


def check_benchmarks(benchmarks: str | Iterable[str]) -> tuple[str, ...]:
    names = _names(benchmarks)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        told = (f"unknown benchmark {', '.join(unknown)}" if unknown else "no benchmark given") + f"; known: {', '.join(BENCHMARKS)}"
        raise SettingsError(f"benchmarks: {told}", told)
    return tuple(dict.fromkeys(names))


_FLAG_OF = {"benchmarks": "BENCHMARK", "modes": "--mode", "limit": "--limit", "frames": "--frames", "step": "--step",
            "cloze_framing": "--cloze-framing", "generate": "--generate", "circular": "--circular"}


def _whole_number(argument: str, value, minimum: int, maximum: int | None = None) -> None:
    """``value`` must be an int (not a bool, str or float) in [minimum, maximum]."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingsError(f"{argument}={value!r}: must be a whole number {bound}",
                            f"{_FLAG_OF.get(argument, argument)} {value}: must be a whole number {bound}")


def _boolean(argument: str, value) -> None:
    if not isinstance(value, bool):
        raise SettingsError(f"{argument}={value!r}: must be True or False", f"{_FLAG_OF.get(argument, argument)}: on or off")


def check_options(protocol: str | None, generate: bool, circular: bool, sampling: str, dtype: str | None) -> None:
    _boolean("generate", generate)
    _boolean("circular", circular)
    if protocol is not None and protocol not in known_protocols(generate, circular):
        needs = ("generate" if GENERATED in str(protocol) and not generate else
                 "circular" if str(protocol).startswith(("circular_", "permavg_")) and not circular else "")
        if needs:
            raise SettingsError(f"protocol={protocol!r} needs {needs}=True", f"--protocol {protocol} needs --{needs}")
        choices = ', '.join(known_protocols(True, True))
        raise SettingsError(f"protocol={protocol!r}: choose from {choices}", f"--protocol {protocol}: choose from {choices}")
    if sampling not in ("benchmark", "model"):
        raise SettingsError(f"sampling={sampling!r}: choose 'benchmark' or 'model'", f"--sampling {sampling}: choose benchmark or model")
    if dtype is not None and dtype not in ("float32", "bfloat16", "float16"):
        raise SettingsError(f"dtype={dtype!r}: choose 'float32', 'bfloat16' or 'float16'",
                            f"--dtype {dtype}: choose float32, bfloat16 or float16")


def _dtype_of(model) -> str:
    parameter = next(iter(getattr(_unwrap(model), "parameters", lambda: iter(()))()), None)
    return str(parameter.dtype).replace("torch.", "") if parameter is not None else "unknown"


def _frame_cache(value) -> Path | None:
    from fvlm_eval.frame_cache import default_cache_dir

    if value is True:
        return default_cache_dir()
    if value is False or value is None:
        return None
    return Path(value)


# ----- evaluate ---------------------------------------------------------------------------------

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
    """Score ``benchmarks`` in each of ``modes`` (default: the model's default mode; ``"all"``:
    every one) and return their summaries; see the module docstring for ``model``.

    ``protocol``: the headline (every protocol is recorded; default: the run's default).
    ``limit``: the first N questions of each benchmark, round-robin over categories (a fixed
    subset: the same N every call). ``frame_cache``: True (the default folder), False, or a
    folder: a second checkpoint on the same data decodes nothing. ``step``: the training step,
    written into the manifest (``fvlm-eval track`` reads it). ``keep_records``: also return every
    record. Any other ``fvlm_eval.runner.RunSettings`` field (``batch_size``, ``workers``,
    ``subtitles``, ``max_new_tokens``, ``keep_going``, ``cloze_framing``, ``shard``, ...) passes
    through. ``distributed``: under torchrun, each rank one shard, rank 0 merging (what the CLI
    does; off by default, so that a training job under torchrun keeps its own process group).
    ``on_interrupt``: Ctrl-C re-raises ``KeyboardInterrupt`` (records so far kept) or returns
    exit code 130.
    """
    from rich.console import Console

    from fvlm_eval.runner import RunSettings, Shard

    from fvlm_eval.types import CLOZE_FRAMINGS

    chosen = check_benchmarks(benchmarks)
    check_options(protocol, generate, circular, sampling, dtype)
    if modes is not None and not _names(modes, "modes"):
        raise SettingsError("modes=[]: no mode given; give a mode, 'all', or None for the model's default",
                            "--mode: no mode given")
    _whole_number("limit", limit, 1)
    _whole_number("frames", frames, 1, 1024)
    if on_interrupt not in ("raise", "return"):
        raise SettingsError(f"on_interrupt={on_interrupt!r}: choose 'raise' or 'return'")
    framing = run_settings.get("cloze_framing")
    if framing is not None and framing not in CLOZE_FRAMINGS:
        raise SettingsError(f"cloze_framing={framing!r}: choose {' or '.join(map(repr, CLOZE_FRAMINGS))}",
                            f"--cloze-framing {framing}: choose {' or '.join(CLOZE_FRAMINGS)}")
    if dtype is not None and not isinstance(model, (str, Path)):
        raise SettingsError(f"dtype={dtype!r}: not applied to a model already in memory (it is evaluated in its own "
                            f"dtype, {_dtype_of(model)}); convert it yourself (model.to(torch.{dtype})) or leave dtype=None")
    allowed = {f.name for f in dataclasses.fields(RunSettings)} - {
        "benchmarks", "modes", "data_dir", "output_dir", "limit", "frames", "protocol", "generate", "circular",
        "model_sampling", "frame_cache", "step"}
    unknown = sorted(set(run_settings) - allowed)
    if unknown:
        raise SettingsError(f"evaluate() got unknown settings {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    _whole_number("step", step, 0)
    if output_dir is not None and not str(output_dir).strip():
        raise SettingsError("output_dir is empty", "--output-dir is empty")
    if isinstance(run_settings.get("shard"), str):
        try:
            run_settings["shard"] = Shard.parse(run_settings["shard"])
        except ValueError as error:
            raise _from_cli(str(error)) from error
    launch = None
    if distributed:
        from fvlm_eval import distributed as torchrun

        try:
            launch = torchrun.launch()
        except getattr(torchrun, "LaunchError", RuntimeError) as error:
            raise _from_cli(str(error)) from error
        if launch is not None:
            if run_settings.get("shard") is not None:
                raise SettingsError("shard is for independent processes; under torchrun the ranks are the shards",
                                    "--shard is for independent processes; under torchrun the ranks are the shards")
            run_settings["shard"] = launch.shard
            device = torchrun.device_for(launch, device)
    console = console or Console()
    if isinstance(model, (str, Path)) and family is not None:
        from fvlm_eval.models import FAMILIES

        if family not in FAMILIES:
            raise SettingsError(f"family={family!r}: choose from {', '.join(FAMILIES)}",
                                f"--family {family}: choose from {', '.join(FAMILIES)}")
    if isinstance(model, (str, Path)):
        _check_modes_before_loading(model, family, modes, device)
    adapter = build_adapter(model, tokenizer=tokenizer, processor=processor, image_processor=image_processor,
                            family=family, device=device, dtype=dtype, name=name)
    chosen_modes = choose_modes(modes, adapter.family, tuple(adapter.variants), adapter.default_variant)
    if progress:
        for note in adapter.describe().get("notes") or ():
            console.print(f"note: {note}", style="yellow", markup=False, highlight=False)
    run_settings.setdefault("command_line", f"fvlm_eval.evaluate({adapter.describe().get('name')!r}, "
                                            f"{list(chosen)!r}, modes={list(chosen_modes)!r})")
    if protocol is not None:
        run_settings["protocol"] = protocol
    if step is not None:
        run_settings["step"] = step
    temporary = tempfile.TemporaryDirectory(prefix="fvlm-eval-run-") if output_dir is None else None
    output = Path(temporary.name) if temporary else Path(output_dir)
    settings = RunSettings(benchmarks=chosen, modes=chosen_modes, data_dir=Path(data_dir), output_dir=output, limit=limit,
                           frames=frames, generate=generate, circular=circular, model_sampling=sampling == "model",
                           frame_cache=_frame_cache(frame_cache), **run_settings)
    try:
        return _run(adapter, settings, console, progress, launch, keep_records, temporary is None, on_interrupt)
    finally:
        if temporary is not None:
            temporary.cleanup()


def _check_modes_before_loading(model, family: str | None, modes, device: str | None) -> None:
    """A wrong ``--mode`` or ``--device`` is told before minutes of loading (the family from config.json)."""
    from fvlm_eval.models import ModelLoadError, detect_family, family_module, resolve_device

    try:
        resolve_device(device)
    except ModelLoadError as error:
        raise _from_cli(str(error)) from error
    family = family or detect_family(str(model))
    module = family_module(family)
    choose_modes(modes, family, tuple(module.VARIANTS), module.DEFAULT_VARIANT)


def _run(adapter, settings, console, progress: bool, launch, keep_records: bool, keep_folder: bool,
         on_interrupt: str) -> Evaluation:
    from fvlm_eval import runner

    training = _unwrap(getattr(adapter, "model", None))
    was_training = bool(getattr(training, "training", False))
    if was_training:
        training.eval()
    try:
        outcome = runner.run(settings, adapter, console, progress=progress and (launch is None or launch.rank == 0))
    finally:
        if was_training:
            training.train(True)
    summaries = outcome.summaries
    if launch is not None:
        from fvlm_eval import distributed as torchrun

        summaries = torchrun.finish(launch, settings.output_dir, outcome)
    if outcome.exit_code in (runner.EXIT_INTERRUPTED, runner.EXIT_TERMINATED) and on_interrupt == "raise":
        from fvlm_eval.interrupts import Terminated  # SIGTERM (exit 143) stays told apart from Ctrl-C

        raise (Terminated if outcome.exit_code == runner.EXIT_TERMINATED else KeyboardInterrupt)("; ".join(outcome.messages))
    results = tuple(_result(settings.output_dir, key, summary, keep_records, keep_folder)
                    for key, summary in summaries.items())
    return Evaluation(results, outcome.exit_code, tuple(outcome.messages), settings.output_dir if keep_folder else None)


def _result(output: Path, key: tuple[str, str], summary: dict, keep_records: bool, keep_folder: bool) -> BenchmarkResult:
    from fvlm_eval.records import latest_by_id, read_records

    benchmark, mode = key
    folder = output / benchmark / mode
    records = None
    if keep_records:
        by_id = latest_by_id(read_records(folder / "samples.jsonl"))
        records = tuple(by_id[i] for i in summary.get("questions", by_id) if i in by_id)
    accuracy = {p: ProtocolResult.from_block(p, block) for p, block in summary["accuracy"].items()}
    return BenchmarkResult(benchmark, mode, summary["headline_protocol"], accuracy, summary,
                           folder if keep_folder else None, records)


# ----- model folders ----------------------------------------------------------------------------

def save_model_folder(model, folder: str | Path, tokenizer=None) -> Path:
    """Write an in-memory ``FoveatedVLM`` as a release-format model folder (``model.safetensors``,
    ``config.json``, tokenizer): what ``--model`` and ``load_fvlm`` read. Returns the folder."""
    from fvlm_model import FoveatedVLM
    from fvlm_model.loading import ModelSpec, load_tokenizer
    from fvlm_model.loading import save_model_folder as save

    model = _unwrap(model)
    if not isinstance(model, FoveatedVLM):
        raise SettingsError(f"save_model_folder: expected an fvlm_model.FoveatedVLM, got {type(model).__name__}")
    spec = ModelSpec(llm=_config_dict(model.llm.config), dino=_config_dict(model.encoder.dino.config),
                     query_dim=int(model.query_dim), visual_scale=float(model.visual_scale), deep_query=bool(model.deep_query))
    folder = Path(folder)
    save(model, folder, spec, tokenizer or load_tokenizer(None))
    return folder


def _config_dict(config) -> dict:
    drop = {"architectures", "transformers_version", "_name_or_path", "torch_dtype", "dtype", "_attn_implementation_autoset"}
    return {k: v for k, v in config.to_dict().items() if k not in drop}


MODEL_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


class ExportRefused(ValueError):
    """``export_checkpoint`` would overwrite a model folder (pass ``force=True``, ``--force``)."""


def _check_export_folder(folder: Path, force: bool) -> None:
    """Before any work: ``folder`` is a folder (or can be made) that this user can write, and holds
    no model unless ``force``."""
    import os

    import errno

    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder: give the model folder to write", str(folder))
    if folder.is_dir() and not force:
        held = sorted(p.name for p in folder.iterdir() if p.name in MODEL_FILES or p.suffix in WEIGHT_SUFFIXES)
        if held:
            raise ExportRefused(f"{folder} already holds a model ({', '.join(held)}); give an empty or new folder, "
                                "or overwrite it with --force (force=True)")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:  # a real probe (os.access says yes to root, and to read-only file systems)
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".fvlm-eval-write-probe-"):
            pass
    except OSError as error:
        raise PermissionError(error.errno or errno.EACCES, f"cannot write there ({existing} takes no new file: {error.strerror or error})",
                              str(folder)) from error


def _check_config_file(config: Path, checkpoint: Path) -> None:
    import json

    if not config.is_file():
        raise _checkpoint_error(f"{config}: no such config file")
    if config.resolve() == checkpoint.resolve():
        raise _checkpoint_error(f"{config}: the checkpoint itself was given as the config; the config is the "
                                "model's config.json (or leave it out to use one beside the checkpoint)")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise _checkpoint_error(f"{config}: not a config.json (not JSON text: {type(error).__name__})") from error


def _checkpoint_error(message: str):
    from fvlm_model.loading import CheckpointError

    return CheckpointError(message)


def export_checkpoint(checkpoint: str | Path, folder: str | Path, config: str | Path | None = None,
                      force: bool = False) -> Path:
    """A training checkpoint (``.pt``: a state dict, or a dict with ``model_state_dict``; read with
    ``weights_only=True``) as a model folder. ``config``: the model's ``config.json`` (default: one
    beside the checkpoint, else the fVLM-135M configuration). A folder that already holds a model is
    refused (``ExportRefused``) unless ``force``; errors name the files given, never a staging copy."""
    import shutil

    from fvlm_model.loading import CheckpointError, load_fvlm, load_tokenizer

    checkpoint, folder = Path(checkpoint), Path(folder)
    if not checkpoint.is_file():
        raise CheckpointError(f"{checkpoint}: no such checkpoint file")
    beside = checkpoint.parent / "config.json"
    source = Path(config) if config is not None else beside if beside.is_file() else None
    if source is not None:
        _check_config_file(source, checkpoint)
    _check_export_folder(folder, force)
    with tempfile.TemporaryDirectory(prefix="fvlm-eval-export-") as staging:
        staged = Path(staging) / checkpoint.name
        staged.symlink_to(checkpoint.resolve())
        if source is not None:
            shutil.copyfile(source, Path(staging) / "config.json")
        try:
            model, _ = load_fvlm(staged, device="cpu", dtype=None)
        except CheckpointError as error:  # said with the user's files, not the staging copies
            told = str(error).replace(str(Path(staging) / "config.json"), str(source or "the default config"))
            raise CheckpointError(told.replace(str(staged), str(checkpoint)).replace(staging, str(checkpoint.parent))) from error
    return save_model_folder(model, folder, load_tokenizer(None))


__all__ = ["BenchmarkResult", "Evaluation", "ExportRefused", "ProtocolResult", "SettingsError", "build_adapter", "evaluate",
           "export_checkpoint", "save_model_folder"]
