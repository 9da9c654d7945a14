"""Model families behind one boundary (``base.ModelAdapter``), in a plain registry: name -> ``Family``.

A family module (``Family.module``, imported only when used) has ``FAMILY``, ``VARIANTS``,
``DEFAULT_VARIANT``, ``load(source, device, dtype) -> ModelAdapter`` (a hub id, folder or weights
file) and ``from_memory(model, *, tokenizer, processor, image_processor, name) -> ModelAdapter`` (a
model as a training loop holds it). ``--model`` takes a hub id, a folder or a weights file; the
family is read from its ``config.json`` (``Family.recognises``) unless ``--family`` says it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from fvlm_eval.models.base import ModelAdapter, ModelLoadError, read_json_object
from fvlm_eval.models.devices import quiet_transformers, resolve_device, resolve_dtype
from fvlm_eval.models.families import BUILT_IN, DEFAULT_MODEL, Family
from fvlm_eval.models.hub import hub_error, hub_file, is_hub_id

FAMILIES: dict[str, Family] = {family.name: family for family in BUILT_IN}


def family_module(family: str) -> ModuleType:
    if family not in FAMILIES:
        raise ModelLoadError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[family].module)


def _bare_weights_family(source: str) -> str:
    """The family of a weights file or folder without config.json (its loader says what it assumed)."""
    family = next((f for f in FAMILIES.values() if f.bare_weights), None)
    if family is None:
        raise ModelLoadError(f"--model {source}: no config.json to tell its family from; pass --family")
    return family.name


def detect_family(source: str) -> str:
    """The family of a hub id, folder or weights file, from its ``config.json``."""
    source = str(source)
    path = Path(source).expanduser()
    known = next((f.name for f in FAMILIES.values() if source in f.hub_ids), None)
    if known:
        return known
    if path.is_file():
        from fvlm_model.loading import WEIGHT_SUFFIXES

        if path.suffix not in WEIGHT_SUFFIXES:
            raise ModelLoadError(
                f"--model {source}: a file that is not a weights file ({', '.join(WEIGHT_SUFFIXES)}); "
                "give a model folder, a weights file or a hub id"
            )
        config_path = path.parent / "config.json"
        if not config_path.is_file():
            return _bare_weights_family(source)
    elif path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            return _bare_weights_family(source)
    elif is_hub_id(source):
        config_path = hub_file(source, "config.json")
    else:
        raise ModelLoadError(f"--model {source}: no such file or folder, and not a hub id (owner/name)")
    config = read_json_object(config_path)
    found = next((f.name for f in FAMILIES.values() if f.recognises(config)), None)
    if found:
        return found
    raise ModelLoadError(
        f"cannot tell the model family of {source} from {config_path} "
        f"(model_type {config.get('model_type')!r}); pass --family {' or --family '.join(FAMILIES)}"
    )


def family_holding(model) -> Family | None:
    """The family of an in-memory model (by its class), or ``None``."""
    return next((f for f in FAMILIES.values() if f.holds(model)), None)


def published_name(description: dict) -> str | None:
    """The name a run's model goes by in the published figures (``SmolVLM2-256M``), from its ``describe()``."""
    family = FAMILIES.get(str(description.get("family")))
    return family.published_as(description) if family is not None and family.published_as else None


def write_tiny_model(family: str, folder: Path) -> Path:
    """The family's tiny random model folder (``Family.tiny``), written once, offline."""
    module, _, function = FAMILIES[family].tiny.partition(":")
    if not (Path(folder) / "config.json").is_file():
        getattr(importlib.import_module(module), function)(Path(folder))
    return Path(folder)


def load_model(
    source: str, family: str | None = None, device: str | None = None, dtype: str | None = None
) -> ModelAdapter:
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


__all__ = [
    "DEFAULT_MODEL",
    "FAMILIES",
    "Family",
    "ModelAdapter",
    "ModelLoadError",
    "detect_family",
    "family_holding",
    "family_module",
    "load_model",
    "published_name",
    "write_tiny_model",
    "resolve_device",
    "resolve_dtype",
]
