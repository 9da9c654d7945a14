"""A training loop's model, evaluated in eval mode and handed back exactly as it was.

``module.train(True)`` afterwards set every submodule to train mode: a frozen encoder the loop keeps in
eval mode (``model.train(); model.encoder.eval()``) came back training, its dropout and norms changed
for the next steps. Each submodule's own ``training`` flag is recorded before and put back after.
"""

from __future__ import annotations

from contextlib import contextmanager


def training_flags(module) -> list[tuple[object, bool]]:
    """Every submodule of ``module`` (itself first) with its ``training`` flag; none for a non-torch object."""
    modules = getattr(module, "modules", None)
    return [(m, bool(m.training)) for m in modules()] if callable(modules) else []


def restore_training_flags(flags: list[tuple[object, bool]]) -> None:
    """Each module's flag as recorded, set on it alone (``train()`` would set its children too)."""
    for module, flag in flags:
        module.training = flag


@contextmanager
def evaluating(module):
    """``module`` in eval mode for the block, every submodule's ``training`` flag put back afterwards, also when
    the block raises (a Ctrl-C, a failed run)."""
    flags = training_flags(module)
    if flags:
        module.eval()
    try:
        yield
    finally:
        restore_training_flags(flags)
