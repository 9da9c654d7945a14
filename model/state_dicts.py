"""Reading a weights file: a safetensors file or a ``.pt`` training checkpoint, as a state dict of tensors,
without the prefixes wrappers add; what cannot be read is a ``CheckpointError`` in words."""

from __future__ import annotations

import re
from pathlib import Path

import torch

STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")  # where training checkpoints keep their weights


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded, with the reason in words."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Weights from a safetensors file or a ``.pt`` training checkpoint (``weights_only=True``)."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from error
        # A tensor at an offset of the file that is not 64-byte aligned makes the CPU kernels take
        # another path (logits differ by an ulp with the file's layout): give those aligned memory.
        return without_wrapper_prefixes({k: v if v.data_ptr() % 64 == 0 else v.clone() for k, v in tensors.items()})
    import pickle
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "unsupported global" not in str(error).lower():  # not a refusal of code: just not a pickle of tensors
            raise CheckpointError(
                f"{path} is not a readable PyTorch checkpoint ({shortened(str(error), 120)})"
            ) from error
        held = re.search(r"GLOBAL ([\w.]+)", str(error))  # torch names the first object it refused
        raise CheckpointError(
            f"{path}: refused: it holds {held[1] if held else 'objects'} besides tensors and plain containers (a "
            "pickle that could run code); re-save its weights alone where it was made: torch.save(checkpoint["
            "'model_state_dict'], 'weights.pt')"
        ) from error
    except Exception as error:  # torch raises many types for a non-checkpoint file
        reason = shortened(str(error), 200) or ("it is empty" if path.stat().st_size == 0 else "cut short?")
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint: {type(error).__name__}: {reason}"
        ) from error
    found = next((key for key in STATE_DICT_KEYS if isinstance(loaded, dict) and isinstance(loaded.get(key), dict)), 0)
    loaded = loaded[found] if found else loaded  # trainers keep the weights under one of these keys
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        held = (
            f"a dict of {', '.join(map(str, list(loaded)[:6]))}" if isinstance(loaded, dict) else type(loaded).__name__
        )
        raise CheckpointError(f"{path} holds no state dict ({held}; expected names to tensors, or those under "
                              f"{', '.join(map(repr, STATE_DICT_KEYS))})")  # fmt: skip
    return without_wrapper_prefixes({key.replace("_orig_mod.", ""): value for key, value in loaded.items()})


def shortened(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word to at most ``limit`` characters (``...`` where it was cut)."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 3].rsplit(" ", 1)[0] if " " in line[: limit - 3] else line[: limit - 3]
    return cut + "..."


WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel / DataParallel, torch.compile


def without_wrapper_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict saved from a wrapped model (``module.`` of DDP, ``_orig_mod.`` of ``torch.compile``,
    nested in any order) with those prefixes cut off, when every key has one (a real module named
    ``module`` among others is left alone)."""
    while state_dict:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state_dict)), None)
        if prefix is None:
            break
        state_dict = {key[len(prefix) :]: value for key, value in state_dict.items()}
    return state_dict


STEP_KEYS = ("step", "global_step")  # where training checkpoints keep the step they were saved at


def training_step(path: Path) -> tuple[int | None, str | None]:
    """(the training step a ``.pt`` checkpoint was saved at, a note when it holds one that cannot be taken). The
    step is its ``step`` or ``global_step``: a whole number (``3000.0`` too), the same in both where it holds
    both (a loop may count batches of an epoch in one), else None with a note saying why; None and no note for
    a safetensors file or weights alone. Memory-mapped where it can be (no tensor read); an older pickle format
    is read whole."""
    if path.suffix == ".safetensors" or not path.is_file():
        return None, None
    import warnings

    loaded = None
    for mmap in (True, False):  # a file of torch's legacy format cannot be mapped
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
            break
        except Exception:  # read_state_dict has said what is wrong with the file
            continue
    if not isinstance(loaded, dict):
        return None, None
    found = {key: _whole(loaded[key]) for key in STEP_KEYS if key in loaded}
    if not found:
        return None, None
    if any(value is None for value in found.values()):
        shown = ", ".join(f"{key} {loaded[key]!r}" for key in found)
        return None, f"{path.name} holds {shown}: not a whole number, so no step is recorded; give --step"
    if len(set(found.values())) > 1:
        shown = " and ".join(f"{key} {value}" for key, value in found.items())
        return None, f"{path.name} holds {shown}: which is the training step is unknown; give --step"
    return next(iter(found.values())), None


def _whole(value) -> int | None:
    """A step as a whole number from 0 to 2^63 - 1 (an int, a whole float, a one-element integer tensor), else None."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None
