"""A tiny random SmolVLM folder (offline) for tests, the demo and benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from fvlm_eval.files import current_umask
from fvlm_eval.models.smolvlm.text import IMAGE_TOKEN, MAX_TILES_PER_SIDE, SPECIAL_TOKENS

TINY_VISION = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8
)
TINY_TEXT = dict(
    model_type="llama",
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
)
TINY_SCALE_FACTOR = 2


def save_tiny_smolvlm(folder: Path, seed: int = 0, *, vision: dict | None = None, text: dict | None = None) -> Path:
    """Write a tiny random SmolVLM folder (offline): the bundled SmolLM2 tokenizer with SmolVLM's
    tokens, a 2-layer vision tower on 32x32 tiles (4 image tokens each), a 2-layer Llama, the image
    processor config (tiles of 32, images resized to 64: 2x2 tiles + the global image) with its
    ``video_sampling``, and processor_config.json. Weights are drawn so that logits are spread.
    ``vision``/``text``: config values over the tiny ones (a bigger random model for benchmarks)."""
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

    from fvlm_model.loading import load_tokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(None)
    tiles = [f"<row_{r}_col_{c}>" for r in range(1, MAX_TILES_PER_SIDE + 1) for c in range(1, MAX_TILES_PER_SIDE + 1)]
    tokenizer.add_special_tokens({"additional_special_tokens": [*SPECIAL_TOKENS, *tiles]})
    tokenizer.save_pretrained(folder)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    vision = dict(TINY_VISION, **(vision or {}))
    text = dict(
        TINY_TEXT,
        **(text or {}),
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = SmolVLMConfig(
        vision_config=vision,
        text_config=text,
        scale_factor=TINY_SCALE_FACTOR,
        image_token_id=image_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = SmolVLMForConditionalGeneration(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2:  # weights: unit-variance outputs (embedding tables: unit entries)
                fan_in = 1 if "embed" in name and "patch" not in name else int(np.prod(param.shape[1:]))
                param.copy_(torch.randn(param.shape, generator=generator) / fan_in**0.5)
    from fvlm_eval.models.devices import quiet_transformers

    with quiet_transformers():  # no "Writing model shards" bar (the demo writes this model)
        model.save_pretrained(folder)
    for weights in folder.glob("*.safetensors"):  # safetensors renames a temporary (0600) into place: as the umask says
        weights.chmod(0o666 & ~current_umask())
    tile = vision["image_size"]
    preprocessor = {
        "do_convert_rgb": True,
        "do_image_splitting": True,
        "do_normalize": True,
        "do_pad": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "image_processor_type": "SmolVLMImageProcessor",
        "max_image_size": {"longest_edge": tile},
        "processor_class": "SmolVLMProcessor",
        "resample": 1,
        "rescale_factor": 1 / 255,
        "size": {"longest_edge": 2 * tile},
        "video_sampling": {"fps": 1, "max_frames": 16, "video_size": {"longest_edge": tile}},
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    seq_len = (tile // vision["patch_size"]) ** 2 // TINY_SCALE_FACTOR**2
    (folder / "processor_config.json").write_text(
        json.dumps({"image_seq_len": seq_len, "processor_class": "SmolVLMProcessor"}, indent=2) + "\n"
    )
    return folder
