"""Where and in what precision a model runs: ``--device`` and ``--dtype`` checked and resolved."""

from __future__ import annotations

import re
from contextlib import contextmanager

from fvlm_eval.interrupts import stops_held
from fvlm_eval.models.base import ModelLoadError

DTYPE_NAMES = ("float32", "bfloat16", "float16")


def import_libraries() -> None:
    """torch and transformers imported with Ctrl-C and SIGTERM held: a stop inside a C extension's first
    import could abort the process (torch) or leave a module half-loaded ("cannot load module more than
    once per process"); held, it is raised once the imports are done."""
    with stops_held():
        import torch  # noqa: F401
        import transformers  # noqa: F401


SUPPORTED_DEVICE = re.compile(r"(cpu|cuda)(:\d+)?")
OTHER_TORCH_DEVICES = ("mps", "xpu", "hip", "meta", "xla", "hpu", "mtia", "ipu", "maia", "lazy", "vulkan", "ve")


def check_device_name(device: str | None) -> None:
    """``--device`` spelled as one this harness runs on (cpu, cuda, cuda:N), checked without torch: ``--device
    tpu`` was told only after torch had been imported (seconds); whether CUDA is there is ``resolve_device``'s."""
    if device is None or SUPPORTED_DEVICE.fullmatch(device):
        return
    if device.split(":", 1)[0] in OTHER_TORCH_DEVICES:
        raise ModelLoadError(f"--device {device}: only cpu and cuda are supported")
    raise ModelLoadError(f"--device {device}: not a device name (cpu, cuda, cuda:1, ...)")


def resolve_device(device: str | None):
    check_device_name(device)
    import_libraries()
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ModelLoadError(f"--device {device}: not a device name (cpu, cuda, cuda:1, ...)") from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"--device {device}: no CUDA device is available here (torch {torch.__version__}); use --device cpu"
            )
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
