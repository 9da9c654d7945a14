"""Visual tokens of clips of any frame layout, batched, against each clip's own ``visual_tokens``."""

from __future__ import annotations

import pytest
import torch

from fvlm_model import MODES, VisionKV
from fvlm_model.clip_tokens import clip_tokens
from tests.conftest import TINY_IMAGE

torch.set_grad_enabled(False)


def frames(n, seed):
    return torch.randn(n, 3, TINY_IMAGE, TINY_IMAGE, generator=torch.Generator().manual_seed(seed))


def alone(model, pixels, rows, mode):
    """One clip's tokens by the model's own path: its frames laid out one by one."""
    return model.visual_tokens(model.encode(pixels[list(rows)]), len(rows), mode)[0]


LAYOUTS = {
    "repeats and lengths differ": [(0, 0, 1, 2, 2), (3, 4), (5, 5, 5, 5, 5, 6)],
    "an image as 8 copies beside a video": [(0,) * 8, (1, 2, 3)],
    "regular, contiguous": [(0, 1, 2), (3, 4, 5)],
    "regular, images": [(0,) * 8, (1,) * 8, (2,) * 8],
    "some rows unused": [(1, 3), (4, 4, 2)],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_clip_equals_its_own_pass(model, mode, layout):
    rows = LAYOUTS[layout]
    pixels = frames(7, seed=3)
    together = clip_tokens(model, model.encode(pixels), rows, mode)
    for clip, tokens in zip(rows, together):
        assert tokens.shape[0] == len(clip)
        torch.testing.assert_close(tokens, alone(model, pixels, clip, mode), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_regular_clips_read_their_kv_in_place(model, mode, monkeypatch):
    copied = []
    original = VisionKV.select
    monkeypatch.setattr(VisionKV, "select", lambda self, index: copied.append(index) or original(self, index))
    clip_tokens(model, model.encode(frames(3, seed=4)), [(0,) * 8, (1,) * 8, (2,) * 8], mode)
    clip_tokens(model, model.encode(frames(6, seed=4)), [(0, 1, 2), (3, 4, 5)], mode)
    assert copied == []


def test_an_uneven_layout_steps_once_for_all_clips(model):
    steps = []
    original = model.llm_hidden
    model.llm_hidden = lambda embeds, **k: steps.append(embeds.shape) or original(embeds, **k)
    try:
        clip_tokens(model, model.encode(frames(7, seed=5)), LAYOUTS["repeats and lengths differ"], "autoregressive")
    finally:
        del model.llm_hidden
    assert [tuple(s[:2]) for s in steps] == [(3, 1)] * 5  # the longest clip's 6 frames: 5 LLM steps, all clips in each
