"""Model families behind one boundary (``base.ModelAdapter``), in a plain registry: name -> ``Family``.

A family module (``Family.module``, imported only when used) has ``FAMILY``, ``VARIANTS``,
``DEFAULT_VARIANT``, ``load(source, device, dtype) -> ModelAdapter`` (a hub id, folder or weights
file) and ``from_memory(model, *, tokenizer, processor, image_processor, name) -> ModelAdapter`` (a
model as a training loop holds it). ``--model`` takes a hub id, a folder or a weights file; the
family is read from its ``config.json`` (``Family.recognises``) unless ``--family`` says it.

``FAMILIES`` is made when first used (``fvlm_eval.models.FAMILIES``, or imported by name): the
built-in families, then those installed packages add through the entry-point group
``fvlm_eval.families`` (``fvlm_eval.plugins``; ``families.plugin_family`` says what an entry point
may name), so that importing the package and ``fvlm-eval --help`` import no plugin.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from fvlm_eval.models.base import ModelAdapter, ModelLoadError, read_json_object
from fvlm_eval.models.devices import quiet_transformers, resolve_device, resolve_dtype
from fvlm_eval.models.families import BUILT_IN, DEFAULT_MODEL, Family, plugin_family
from fvlm_eval.models.hub import hub_error, hub_file, is_hub_id, not_found
from fvlm_eval.plugins import Plugins, raised_at, raised_words

PLUGINS = Plugins("fvlm_eval.families", "model family")
MODULE_NEEDS = ("VARIANTS", "DEFAULT_VARIANT", "load")  # what the harness reads of every family module


def __getattr__(name: str):
    """``FAMILIES``, made when first used (see the module docstring)."""
    if name == "FAMILIES":
        return _registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _registry() -> dict[str, Family]:
    registry = globals().get("FAMILIES")
    if registry is None:
        registry = globals()["FAMILIES"] = {family.name: family for family in BUILT_IN}  # a plain attribute now
        load_plugins()
    return registry


def load_plugins() -> None:
    """Add the families of installed plugins not added yet (the first use of ``FAMILIES`` does it; call it
    again after installing a plugin into a running process). A plugin refused is one line on stderr."""
    reserved = {family.name: "a built-in family's name (the built-in is kept)" for family in BUILT_IN}
    PLUGINS.add_to(_registry(), plugin_family, reserved)


def unknown_family(name: str) -> str:
    """Why ``name`` is not a family to use, in one line: a refused plugin's, or an unknown name."""
    return PLUGINS.unusable(name) or f"unknown model family {name!r}; known: {', '.join(_registry())}"


def family_module(family: str) -> ModuleType:
    """The family's module, imported; a module that cannot be imported, or lacks what a family module has,
    is a ``ModelLoadError`` naming it and what to do."""
    if family not in _registry():
        raise ModelLoadError(unknown_family(family))
    declared = _registry()[family]
    told = _told(family)
    try:
        module = importlib.import_module(declared.module)
    except ModuleNotFoundError as error:
        if error.name and (declared.module + ".").startswith(error.name + "."):  # the module itself is not found
            raise ModelLoadError(
                f"{told}: its module {declared.module!r} cannot be found: install the package that provides it, "
                "or put the folder holding it on PYTHONPATH (the fvlm-eval command does not look in the current "
                "folder: PYTHONPATH=. fvlm-eval ...)"
            ) from error
        raise ModelLoadError(f"{told}: its module {declared.module!r} needs {error.name!r}, not installed") from error
    except (Exception, SystemExit) as error:  # a module that calls sys.exit() at import ends nothing
        raise ModelLoadError(
            f"{told}: its module {declared.module!r} fails to import: {type(error).__name__}: {error}"
        ) from error
    missing = [name for name in MODULE_NEEDS if not hasattr(module, name)]
    if missing:
        raise ModelLoadError(
            f"{told}: its module {declared.module!r} ({module.__file__}) has no {', '.join(missing)}; a family "
            "module has FAMILY, VARIANTS, DEFAULT_VARIANT, load and from_memory (docs/extending.md)"
        )
    return module


def _told(family: str) -> str:
    """A family as a message names it: ``model family 'blind' (plugin 'blind' from my-fvlm-plugins 0.1.0 (entry
    point ...))``; one registered in code by its name alone."""
    return f"model family {family!r}" + (f" (plugin {PLUGINS.added[family]})" if family in PLUGINS.added else "")


def _bare_weights_family(source: str) -> str:
    """The family of a weights file or folder without config.json (its loader says what it assumed)."""
    family = next((f for f in _registry().values() if f.bare_weights), None)
    if family is None:
        raise ModelLoadError(f"--model {source}: no config.json to tell its family from; pass --family")
    return family.name


def detect_family(source: str) -> str:
    """The family of a hub id, folder or weights file, from its ``config.json``."""
    source = str(source)
    path = Path(source).expanduser()
    known = next((f.name for f in _registry().values() if source in f.hub_ids), None)
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
        raise ModelLoadError(not_found(source))
    config = read_json_object(config_path)
    found = next((f.name for f in _registry().values() if f.recognises(config)), None)
    if found:
        return found
    raise ModelLoadError(
        f"cannot tell the model family of {source} from {config_path} "
        f"(model_type {config.get('model_type')!r}); pass --family {' or --family '.join(_registry())}"
    )


def family_holding(model) -> Family | None:
    """The family of an in-memory model (by its class), or ``None``."""
    return next((f for f in _registry().values() if f.holds(model)), None)


def published_name(description: dict) -> str | None:
    """The name a run's model goes by in the published figures (``SmolVLM2-256M``), from its ``describe()``."""
    family = _registry().get(str(description.get("family")))
    return family.published_as(description) if family is not None and family.published_as else None


def write_tiny_model(family: str, folder: Path) -> Path:
    """The family's tiny random model folder (``Family.tiny``), written once, offline: into a sibling folder
    renamed into place when whole, so that a demo killed while writing it leaves no half model behind (its
    rerun found ``config.json`` without the weights or the processor, and failed on every rerun)."""
    import os
    import shutil

    from fvlm_eval.files import process_alive

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return folder
    module, _, function = _registry()[family].tiny.partition(":")
    for stale in folder.parent.glob(f".{folder.name}.partial-*"):  # left by a killed writer
        pid = stale.name.rpartition("-")[2]
        if not (pid.isdigit() and process_alive(int(pid))):
            shutil.rmtree(stale, ignore_errors=True)
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    try:
        getattr(importlib.import_module(module), function)(partial)
        if folder.exists():  # empty, or half written by a version that wrote in place: never whole
            shutil.rmtree(folder)
        os.replace(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def load_model(
    source: str, family: str | None = None, device: str | None = None, dtype: str | None = None
) -> ModelAdapter:
    """The model at ``source`` behind the boundary, on ``device`` in ``dtype`` (defaults: CUDA
    when there is one, bfloat16 there and float32 on CPU)."""
    family = family or detect_family(source)
    module = family_module(family)
    resolved = resolve_device(device)
    if _plainly_absent(str(source)):  # as detect_family says it, also when a family is named (--family)
        raise ModelLoadError(not_found(str(source)))
    try:
        with quiet_transformers():
            return module.load(source, resolved, resolve_dtype(dtype, resolved))
    except ModelLoadError:
        raise
    except (Exception, SystemExit) as error:
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        if isinstance(error, (HfHubHTTPError, LocalEntryNotFoundError, ConnectionError)) and is_hub_id(str(source)):
            raise ModelLoadError(hub_error(str(source), error)) from error
        if family in (f.name for f in BUILT_IN):  # a bug of fvlm-eval's own: reported as one
            raise
        raise ModelLoadError(_load_failed(family, module, source, error)) from error


def _plainly_absent(source: str) -> bool:
    """Whether ``source`` is plainly a local path (from the root, here, above or home, or in a folder that is
    there) that names nothing: no family's ``load`` is asked for it (a plugin's raised a hub library's error
    about repo ids, "report it")."""
    path = Path(source).expanduser()
    if path.exists():
        return False
    local = source.startswith(("/", "~", "./", "../")) or source in (".", "..")
    return local or ("/" in source.strip("/") and str(path.parent) != "." and path.parent.is_dir())


def _load_failed(family: str, module: ModuleType, source, error: BaseException) -> str:
    """One line for a family (a plugin's, as a rule) whose ``load`` raised: the family and its plugin, the source,
    what it raised and where in the family's own module (it passed through as a bare ValueError or OSError, and the
    CLI called it an unexpected error of fvlm-eval's)."""
    file = getattr(module, "__file__", None)
    own = None if not file else Path(file).parent if hasattr(module, "__path__") else Path(file)  # a package: all
    at = raised_at(error, lambda name: own is not None and (Path(name) == own or own in Path(name).parents))
    return f"{_told(family)}: its load({str(source)!r}) failed: {raised_words(error)}{at}"


__all__ = [
    "DEFAULT_MODEL",
    "FAMILIES",
    "PLUGINS",
    "Family",
    "ModelAdapter",
    "ModelLoadError",
    "detect_family",
    "family_holding",
    "family_module",
    "load_model",
    "load_plugins",
    "published_name",
    "unknown_family",
    "write_tiny_model",
    "resolve_device",
    "resolve_dtype",
]
