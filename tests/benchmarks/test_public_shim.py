"""``benchmarks/public_shim.py``: the public fVLM scorer run unchanged, its known messages silenced while it
scores (and only those)."""

from __future__ import annotations

import logging
import types
import warnings
from pathlib import Path

from tests.benchmarks.scripts import script


class Collected(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_the_public_scorers_past_key_values_deprecation_line_is_silenced():
    """transformers 5.25 says "`past_key_values`/`cache_params` are deprecated" through its own logger, which
    the ``warnings`` filters never reached: before, every public run printed it though the docstring said it
    was silenced."""
    shim = script("public_shim")
    logger = logging.getLogger(shim.DEPRECATION_LOGGER)
    collected = Collected()
    logger.addHandler(collected)

    def score_options_batched(*args):  # as the public scorer's call into transformers says it
        logger.warning("`past_key_values`/`cache_params` are deprecated. Use `cache` instead.")
        logger.warning("another message")
        warnings.warn("torch.cuda.amp.autocast is deprecated", FutureWarning, stacklevel=1)
        return {"A": 1.0}

    public = shim.Public(Path("."), None, None, types.SimpleNamespace(score_options_batched=score_options_batched))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert public.score(None, None, None, "question", {"A": "a"}, "coarse_only", "cpu") == {"A": 1.0}
        logger.warning("`past_key_values` said outside the public scorer")
    finally:
        logger.removeHandler(collected)
    assert collected.lines == ["another message", "`past_key_values` said outside the public scorer"]
    assert caught == []
