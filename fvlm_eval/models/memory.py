"""Models as a training loop or a notebook holds them, behind the boundary.

``adapter_for`` takes any of: an adapter already built; a path or hub id (loaded as ``--model``
is); an in-memory model of a registered family (``Family.memory_classes``), unwrapped from
DistributedDataParallel, DataParallel or ``torch.compile`` first, handed to its family's
``from_memory``. In-memory weights are identified by ``state_dict_sha256`` (``HeldWeights``: hashed anew
for every run, as a training loop changes them between calls): a run folder refuses to be resumed by
other weights, as with a checkpoint file's hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fvlm_eval.errors import SettingsError
from fvlm_eval.models.base import ModelLoadError
from fvlm_eval.plugins import kind_of
from fvlm_eval.wording import agreeing, counted


def state_dict_sha256(module) -> str:
    """SHA-256 over every tensor of ``module.state_dict()``: its name, dtype, shape and bytes."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name} {data.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class HeldWeights:
    """The identity of weights a program holds and changes between runs (a training loop's model, its adapter
    built once): ``state_dict_sha256``, hashed when first asked after ``renew`` (once per run; an adapter that
    kept the first step's hash resumed, and labelled, the first step's records at every later step)."""

    def __init__(self, module):
        self.module = module
        self._sha256: str | None = None

    def renew(self) -> None:
        """The weights may have changed since the last run: hash them again when next asked."""
        self._sha256 = None

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = state_dict_sha256(self.module)
        return self._sha256


def nonfinite_tensors(module) -> list[str]:
    """The names of ``module``'s floating-point tensors (parameters and buffers) holding a NaN or an infinity."""
    return [name for name, tensor in module.state_dict().items() if not finite(tensor.detach())]


def finite(tensor) -> bool:
    """Whether a tensor holds no NaN and no infinity (its sum first: NaN and infinity carry into it, and it is
    ~7x faster than an element-wise test, which only a sum that overflowed is checked by)."""
    if not tensor.is_floating_point() or bool(tensor.sum().isfinite()):
        return True
    return bool(tensor.isfinite().all())


def listing(names: list[str], limit: int = 4) -> str:
    """The first ``limit`` names and how many more: a key list stays one readable line."""
    shown = ", ".join(names[:limit])
    return f"{shown} (+{len(names) - limit} more)" if len(names) > limit else shown


def check_finite(adapter) -> None:
    """A model whose weights hold NaN or infinity (a diverged training step) is refused before scoring,
    naming the tensors: its log-probabilities would all be NaN, and every prediction the first letter."""
    module = unwrap(getattr(adapter, "model", None))
    if not hasattr(module, "state_dict"):
        return  # an adapter of the user's own, with no torch module to read
    bad = nonfinite_tensors(module)
    if bad:
        source = adapter.describe().get("source") or type(module).__name__
        import torch

        half = any(p.dtype == torch.float16 for p in module.parameters())  # a finite weight beyond its range
        why = (
            "the weights diverged, or float16 cannot hold them (beyond ±65504 a weight becomes infinite: try "
            "--dtype bfloat16 or float32)"
            if half
            else "the weights diverged"
        )
        raise ModelLoadError(
            f"{source}: {counted(len(bad), 'weight tensor')} {agreeing(len(bad), 'holds', 'hold')} NaN or infinity "
            f"({listing(bad)}): {why}; nothing was evaluated"
        )


def unwrap(model):
    """The module inside DistributedDataParallel / DataParallel (``.module``) or ``torch.compile``
    (``._orig_mod``)."""
    for _ in range(4):
        inner = getattr(model, "_orig_mod", None) or (
            getattr(model, "module", None)
            if hasattr(model, "no_sync") or type(model).__name__ == "DataParallel"
            else None
        )
        if inner is None:
            return model
        model = inner
    return model


def is_adapter(model) -> bool:
    return all(hasattr(model, name) for name in ("score", "load_clips", "forget_clips", "describe", "variants"))


def dtype_of(model) -> str:
    """The dtype of a model's first parameter, as text (``float32``), or ``unknown``."""
    parameter = next(iter(getattr(unwrap(model), "parameters", lambda: iter(()))()), None)
    return str(parameter.dtype).replace("torch.", "") if parameter is not None else "unknown"


def device_of(model) -> str:
    """The device of a model's first parameter, as text (``cuda:0``), or ``unknown``."""
    module = unwrap(getattr(model, "model", model) if is_adapter(model) else model)
    parameter = next(iter(getattr(module, "parameters", lambda: iter(()))()), None)
    return str(parameter.device) if parameter is not None else "unknown"


def adapter_for(
    model,
    *,
    tokenizer=None,
    processor=None,
    image_processor=None,
    family: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    name: str | None = None,
):
    """A ``ModelAdapter`` for ``model`` (see the module docstring), its weights checked (``check_finite``)."""
    adapter = _adapter(model, tokenizer, processor, image_processor, family, device, dtype, name)
    check_finite(adapter)
    return adapter


def _adapter(model, tokenizer, processor, image_processor, family, device, dtype, name):
    from fvlm_eval.models import FAMILIES, detect_family, family_holding, family_module, load_model

    given = [
        n
        for n, v in (("tokenizer", tokenizer), ("processor", processor), ("image_processor", image_processor))
        if v is not None
    ]
    if given and (is_adapter(model) or isinstance(model, (str, Path))):  # said, never silently ignored
        what = "an adapter already built has its own" if is_adapter(model) else "a model folder or hub id has its own"
        raise SettingsError(f"{given[0]}=: {what}; leave {given[0]}=None (it is for a model held in memory)")
    if is_adapter(model):
        return model
    if isinstance(model, (str, Path)):
        return load_model(str(model), family or detect_family(str(model)), device, dtype)
    inner = unwrap(model)
    found = family_holding(inner)
    if found is None:
        hints = ", ".join(
            f.memory_hint or f"a {' or '.join(f.memory_classes)}" for f in FAMILIES.values() if f.memory_classes
        )
        raise SettingsError(
            f"model: {kind_of(model)} is not something fvlm-eval can evaluate: give {hints}, "
            "a ModelAdapter, or a model folder, weights file or hub id"
        )
    return family_module(found.name).from_memory(
        inner, tokenizer=tokenizer, processor=processor, image_processor=image_processor, name=name
    )
