"""Shared fixtures: tiny random fVLM configs (float32, CPU) and the real SmolLM2 tokenizer."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch; inherited by every subprocess a test starts

import pytest  # noqa: E402
import torch  # noqa: E402

# The tests' models are tiny: torch's intra-op threads only spin against each other (and against the
# other processes on a shared 2-core machine): one forward of the tiny fVLM took 1.1-1.7 s with 2
# threads under load, 0.19 s with 1. OMP_NUM_THREADS set by hand is kept.
torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])) if os.environ["OMP_NUM_THREADS"].isdigit() else 1)

TINY_LLM = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=49152,
    tie_word_embeddings=True,
    rope_theta=100000.0,
    max_position_embeddings=1024,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)
TINY_DINO = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=28,
    patch_size=14,
    mlp_ratio=4,
    layerscale_value=1.0,
    layer_norm_eps=1e-6,
    qkv_bias=True,
)
TINY_QUERY_DIM = 32
TINY_IMAGE = 28


def tiny_model(seed: int = 0):
    """A random fVLM with the real vocabulary; q_static and q_init differ; layer scales random."""
    from fvlm_model import FoveatedVLM

    torch.manual_seed(seed)
    model = FoveatedVLM.from_configs(TINY_LLM, TINY_DINO, query_dim=TINY_QUERY_DIM, visual_scale=0.14)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lambda1" in name or name.endswith("q_static") or name.endswith("q_init"):
                param.copy_(torch.randn_like(param))
    return model.eval()


@pytest.fixture(scope="session")
def tokenizer():
    from fvlm_model.loading import load_tokenizer

    return load_tokenizer(None)


@pytest.fixture()
def model():
    return tiny_model()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """The tiny random fVLM saved as a release-format model folder (config.json, weights, tokenizer)."""
    from fvlm_model.loading import ModelSpec, load_tokenizer, save_model_folder

    folder = tmp_path_factory.mktemp("tiny-fvlm")
    save_model_folder(tiny_model(), folder, ModelSpec(TINY_LLM, TINY_DINO, TINY_QUERY_DIM), load_tokenizer(None))
    return folder


def pytest_collection_modifyitems(config, items):
    """Slow tests (a real-size model, ~3 min) run when asked for: ``pytest -m slow`` or FVLM_EVAL_SLOW=1."""
    import os

    if "slow" in (config.getoption("markexpr") or "") or os.environ.get("FVLM_EVAL_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest -m slow` (or FVLM_EVAL_SLOW=1)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
