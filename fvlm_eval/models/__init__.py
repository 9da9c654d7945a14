"""Model families: a plain dict of family name -> adapter module, imported only when used.

A family module has ``FAMILY``, ``VARIANTS``, ``DEFAULT_VARIANT`` and ``load(source, device,
dtype) -> ModelAdapter``; one family's dependencies never load for another. ``--model`` takes a
hub id, a folder or a weights file; the family is read from its ``config.json`` (SmolVLM's
``model_type``, or fVLM's own keys) unless ``--family`` says it.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from fvlm_eval.models.base import ModelAdapter, ModelLoadError, read_json_object

FAMILIES: dict[str, str] = {"fvlm": "fvlm_eval.models.fvlm", "smolvlm": "fvlm_eval.models.smolvlm"}
KNOWN_HUB_IDS = {
    "sanps/fVLM-135M": "fvlm",
    "HuggingFaceTB/SmolVLM2-256M-Video-Instruct": "smolvlm",
    "HuggingFaceTB/SmolVLM2-500M-Video-Instruct": "smolvlm",
    "HuggingFaceTB/SmolVLM2-2.2B-Instruct": "smolvlm",
}
SMOLVLM_MODEL_TYPES = ("smolvlm",)
FVLM_KEYS = ("llm", "dino", "query_dim", "visual_scale", "deep_query")
DTYPE_NAMES = ("float32", "bfloat16", "float16")
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def family_module(family: str) -> ModuleType:
    if family not in FAMILIES:
        raise ModelLoadError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[family])


def is_hub_id(source: str) -> bool:
    path = Path(source)
    return not path.exists() and not str(source).startswith((".", "/", "~")) and str(source).count("/") == 1


def detect_family(source: str) -> str:
    """The family of a hub id, folder or weights file, from its ``config.json``."""
    source = str(source)
    path = Path(source).expanduser()
    if source in KNOWN_HUB_IDS:
        return KNOWN_HUB_IDS[source]
    if path.is_file():
        if path.suffix not in WEIGHT_SUFFIXES:
            raise ModelLoadError(f"--model {source}: a file that is not a weights file ({', '.join(WEIGHT_SUFFIXES)}); "
                                 "give a model folder, a weights file or a hub id")
        config_path = path.parent / "config.json"
        if not config_path.is_file():
            return "fvlm"  # a bare weights file: fVLM's loader says it uses the 135M configuration
    elif path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            return "fvlm"  # likewise: a folder with weights and no config.json
    elif is_hub_id(source):
        config_path = hub_file(source, "config.json")
    else:
        raise ModelLoadError(f"--model {source}: no such file or folder, and not a hub id (owner/name)")
    config = read_json_object(config_path)
    if config.get("model_type") in SMOLVLM_MODEL_TYPES:
        return "smolvlm"
    if any(key in config for key in FVLM_KEYS):
        return "fvlm"
    raise ModelLoadError(f"cannot tell the model family of {source} from {config_path} "
                         f"(model_type {config.get('model_type')!r}); pass --family {' or --family '.join(FAMILIES)}")


def hub_file(repo: str, filename: str) -> Path:
    """One file of a hub model (cached), or a clear error when it cannot be had."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as error:  # offline, unknown repo, gated, HTTP errors: all told the same way
        raise ModelLoadError(hub_error(repo, error)) from error


def hub_error(repo: str, error: Exception) -> str:
    name = type(error).__name__
    if "RepositoryNotFound" in name or "404" in str(error):
        return f"--model {repo}: no such model on the Hugging Face hub (or it is private)"
    reason = " ".join(str(error).split())
    reason = reason if len(reason) <= 160 else reason[:160].rsplit(" ", 1)[0] + " …"
    return (f"--model {repo}: cannot download it from the Hugging Face hub ({name}: {reason}); "
            "offline, pass a local model folder instead: --model path/to/folder")


def resolve_device(device: str | None):
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ModelLoadError(f"--device {device}: not a device name (cpu, cuda, cuda:1, ...)") from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(f"--device {device}: no CUDA device is available here (torch {torch.__version__}); "
                                 "use --device cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ModelLoadError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif resolved.type != "cpu":
        raise ModelLoadError(f"--device {device}: only cpu and cuda are supported")
    return resolved


def resolve_dtype(dtype: str | None, device):
    import torch

    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPE_NAMES:
        raise ModelLoadError(f"--dtype {dtype}: choose from {', '.join(DTYPE_NAMES)}")
    return getattr(torch, dtype)


@contextmanager
def quiet_transformers():
    """transformers' own progress bars ("Loading weights") off while a model loads, then as they were."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def load_model(source: str, family: str | None = None, device: str | None = None, dtype: str | None = None) -> ModelAdapter:
    """The model at ``source`` behind the boundary, on ``device`` in ``dtype`` (defaults: CUDA
    when there is one, bfloat16 there and float32 on CPU)."""
    family = family or detect_family(source)
    module = family_module(family)
    resolved = resolve_device(device)
    try:
        with quiet_transformers():
            return module.load(source, resolved, resolve_dtype(dtype, resolved))
    except ModelLoadError:
        raise
    except Exception as error:
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        if isinstance(error, (HfHubHTTPError, LocalEntryNotFoundError, ConnectionError)) and is_hub_id(str(source)):
            raise ModelLoadError(hub_error(str(source), error)) from error
        raise


__all__ = ["FAMILIES", "ModelAdapter", "ModelLoadError", "detect_family", "family_module", "load_model"]
