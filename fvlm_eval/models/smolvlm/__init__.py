"""SmolVLM2, a model family: ``load`` a folder or hub id, ``from_memory`` a model a program holds.

``adapter`` holds it behind the boundary, ``text`` writes its prompts, ``frames`` resizes its video
frames, ``folder`` reads a model folder (its processor saved in the files transformers 4 wrote, or nested in
processor_config.json as transformers 5 saves it), ``tiny`` writes a tiny random one (tests, the demo).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from fvlm_eval.models.base import ModelLoadError, build_sha256, read_json_object
from fvlm_eval.models.hub import model_name
from fvlm_eval.models.smolvlm.adapter import DEFAULT_VARIANT, FAMILY, VARIANTS, SmolVLMAdapter
from fvlm_eval.models.smolvlm.folder import (
    SINGLE,
    files_sha256,
    first_line,
    image_processor_class,
    read_settings,
    require,
    require_image_processor,
    resolve_folder,
    weight_files,
)
from fvlm_eval.models.smolvlm.text import IMAGE_TOKEN, SPECIAL_TOKENS


def load(source, device: torch.device, dtype: torch.dtype | None) -> SmolVLMAdapter:
    """A SmolVLM2 model (hub id or folder) behind the model boundary, on ``device`` in ``dtype``."""
    from transformers import AutoTokenizer, SmolVLMConfig, SmolVLMForConditionalGeneration

    folder = resolve_folder(source)
    require(folder, ("config.json",), "the model config")
    config_json = read_json_object(folder / "config.json")
    if {"llm", "dino"} & set(config_json):  # as fVLM says of a SmolVLM config
        raise ModelLoadError(
            f"{folder}/config.json: fVLM's config (llm and dino keys), not a SmolVLM's: leave --family out, "
            "fvlm-eval tells the family from it"
        )
    require_image_processor(folder)
    require(folder, ("tokenizer.json", "tokenizer_config.json"), "the tokenizer")
    weights = weight_files(folder)
    if not weights:
        raise ModelLoadError(f"{folder}: not a SmolVLM folder: the weights are missing ({SINGLE} or its shards' index)")
    try:
        config = SmolVLMConfig.from_pretrained(folder)
    except Exception as error:
        raise ModelLoadError(f"{folder}/config.json: not a SmolVLM config ({first_line(error)})") from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as error:
        raise ModelLoadError(f"{folder}: cannot load its tokenizer ({first_line(error)})") from error
    vocabulary = tokenizer.get_vocab()
    missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
    if missing:
        raise ModelLoadError(f"{folder}: its tokenizer lacks SmolVLM's tokens {', '.join(missing)}")
    if tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) != config.image_token_id:
        raise ModelLoadError(
            f"{folder}: the tokenizer's {IMAGE_TOKEN} is id {tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)}, "
            f"config.json's image_token_id is {config.image_token_id}"
        )
    try:
        image_processor = image_processor_class().from_pretrained(folder)
    except Exception as error:
        named = next((n for n in ("preprocessor_config.json", "processor_config.json") if n in str(error)), None)
        where = f"{folder}/{named}" if named else f"{folder}"  # the file the error is about, not a guess
        raise ModelLoadError(f"{where}: cannot load the image processor ({first_line(error)})") from error
    settings = read_settings(folder, config, image_processor)
    try:
        model, info = SmolVLMForConditionalGeneration.from_pretrained(
            folder, dtype=dtype or torch.float32, attn_implementation="sdpa", output_loading_info=True
        )
    except Exception as error:
        raise ModelLoadError(f"{folder}: cannot load the SmolVLM weights ({first_line(error)})") from error
    problems = {
        kind: sorted(map(str, info.get(key) or ()))
        for kind, key in (
            ("missing", "missing_keys"),
            ("unexpected", "unexpected_keys"),
            ("of another shape", "mismatched_keys"),
        )
    }
    if any(problems.values()):  # transformers would fill a missing weight at random and go on: never score that
        listed = "; ".join(
            f"{kind}: {', '.join(keys[:6])}{f' (+{len(keys) - 6} more)' if len(keys) > 6 else ''}"
            for kind, keys in problems.items()
            if keys
        )
        raise ModelLoadError(f"{folder}: the weights do not match config.json ({listed})")
    model = model.to(device).eval()
    name = model_name(source)
    return SmolVLMAdapter(
        model,
        tokenizer,
        image_processor,
        settings,
        {
            "name": name,
            "source": str(source),
            "weights": [str(p) for p in weights],
            "sha256": files_sha256(weights),
            "build_sha256": build_sha256(config_json, tokenizer, image_processor.to_json_string()),
            "parameters": sum(p.numel() for p in model.parameters()),
            "image_seq_len": settings.image_seq_len,
            "video": {
                "fps": settings.fps,
                "max_frames": settings.max_frames,
                "longest_edge": settings.video_longest_edge,
                "tile": settings.tile_size,
                "resample": settings.resample,
            },
        },
    )


def from_memory(
    model, *, tokenizer=None, processor=None, image_processor=None, name: str | None = None
) -> SmolVLMAdapter:
    """A ``SmolVLMForConditionalGeneration`` in memory with its processor (or tokenizer and image
    processor): the processor's settings are read through the same code as a model folder's (its
    configs saved into a temporary folder and read back)."""
    from fvlm_eval.errors import SettingsError
    from fvlm_eval.models.memory import HeldWeights

    tokenizer = tokenizer or getattr(processor, "tokenizer", None)
    image_processor = image_processor or getattr(processor, "image_processor", None)
    if tokenizer is None or image_processor is None:
        raise SettingsError("processor: a SmolVLM model needs its processor (or tokenizer= and image_processor=)")
    with tempfile.TemporaryDirectory(prefix="fvlm-eval-processor-") as folder:
        image_processor.save_pretrained(folder)
        video = getattr(processor, "video_processor", None)
        if video is not None:
            video.save_pretrained(folder)
        if getattr(processor, "image_seq_len", None):
            (Path(folder) / "processor_config.json").write_text(json.dumps({"image_seq_len": processor.image_seq_len}))
        try:
            settings = read_settings(Path(folder), model.config, image_processor)
        except ModelLoadError as error:  # said of the processor given, not of the temporary folder
            raise SettingsError(f"processor: {str(error).replace(f'{folder}/', '')}") from error
    return SmolVLMAdapter(  # left in its own mode: evaluate records every submodule's before its eval()
        model,
        tokenizer,
        image_processor,
        settings,
        {
            "name": name or "in-memory-smolvlm",
            "source": "in-memory SmolVLMForConditionalGeneration",
            "parameters": sum(p.numel() for p in model.parameters()),
            "image_seq_len": settings.image_seq_len,
        },
        held=HeldWeights(model),
    )


__all__ = ["DEFAULT_VARIANT", "FAMILY", "VARIANTS", "SmolVLMAdapter", "from_memory", "load"]
