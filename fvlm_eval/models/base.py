"""The model boundary: what the harness asks of a model family, and nothing more.

Benchmarks never see tensors or tokenizers; a model never sees dataset rows. The harness decodes
a question's media into uint8 frames (``Clip``) after the model's own ``frame_transform`` (run
in the decoding workers, and what the frame cache stores), and asks the model to encode clips
once, then to score every option of many questions at once (in the multiple-choice formulation,
options listed in the prompt, and in the cloze formulation, the question alone), or to generate
answers. The model
owns everything else: normalisation, how an image is shown (fVLM: a single frame as 8 copies;
SmolVLM2: its tiling), the chat template and system prompt, its variants.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.types import ChoiceRequest, ChoiceResult, Clip, ClozeRequest, ClozeResult, GenerateRequest, Generation


class ModelAdapter(Protocol):
    family: str
    variants: tuple[str, ...]  # fVLM: its three inference modes; SmolVLM2: one
    default_variant: str
    frame_transform: "FrameTransform"

    def describe(self) -> dict[str, object]:
        """What identifies the model in a run manifest: family, source, sha256, dtype, device,
        prompt format (anything that changes its scores)."""

    def load_clips(self, clips: list[Clip]) -> None:
        """The per-clip work (the vision encode), once; requests then name clips by key."""

    def forget_clips(self, keys: list[str]) -> None:
        """Drop what ``load_clips`` kept for these clips."""

    def score(self, requests: list[ChoiceRequest], variant: str) -> list[ChoiceResult]:
        """Per request, each option's per-token log-probabilities (see ``OptionLogprobs``)."""

    def score_cloze(self, requests: list[ClozeRequest], variant: str) -> list[ClozeResult]:
        """Per request, the cloze formulation: each option's text scored as the answer to the
        question alone (its per-token log-probabilities, and after the neutral prompt for PMI)."""

    def generate(self, requests: list[GenerateRequest], variant: str) -> list[Generation]:
        """Per request, a greedy answer that stops at the end of the turn."""

    # Optional: ``score_formulations(choices, clozes, variant) -> (score(choices), score_cloze(clozes))``
    # in one pass, sharing what the two formulations share (fVLM and SmolVLM2 have it).
    # Optional: ``begin_run()``, called by ``evaluate`` before every run: drop whatever was computed from the
    # weights (caches of clips, PMI's neutral log-probabilities) and take in-memory weights' identity anew, as
    # an adapter built once may be handed to every step of a training loop (fVLM and SmolVLM2 have it).

    @property
    def fallback_count(self) -> int:
        """Options scored by a full pass because the prompt was not a token prefix."""


def score_formulations(
    model: ModelAdapter, choices: list[ChoiceRequest], clozes: list[ClozeRequest], variant: str
) -> tuple[list[ChoiceResult], list[ClozeResult]]:
    """Both formulations of a batch: in one pass where the family offers it, else one call each."""
    both = getattr(model, "score_formulations", None)
    if both is not None:
        return both(choices, clozes, variant)
    return model.score(choices, variant), model.score_cloze(clozes, variant)


class ModelLoadError(FvlmEvalError, ValueError):
    """A model that cannot be found or loaded, with the reason in words."""


def read_json_object(path) -> dict:
    """A JSON object from a model folder's file, or a ``ModelLoadError`` naming the file."""
    import json

    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: not a readable JSON file ({type(error).__name__}: {error})") from error
    if not isinstance(value, dict):
        raise ModelLoadError(f"{path}: must hold a JSON object")
    return value


Resample = Literal["bilinear", "lanczos"]


@dataclass(frozen=True)
class FrameTransform:
    """A model's uint8 -> uint8 frame preparation, run by the harness in its decoding workers.

    Video frames (and images, unless ``images_as_is``) are resized with PIL to ``size`` (w, h).
    ``key`` names the transform in frame-cache keys: equal keys, equal pixels. (SmolVLM2's own
    two-step resize is ``models/smolvlm/frames.py``.)
    """

    size: tuple[int, int]
    resample: Resample = "bilinear"
    images_as_is: bool = False

    @property
    def key(self) -> str:
        return f"pil-{self.resample}-{self.size[0]}x{self.size[1]}" + ("-images-as-is" if self.images_as_is else "")

    def __call__(self, frames: np.ndarray, kind: str) -> np.ndarray:
        if kind == "image" and self.images_as_is:
            return frames
        return np.stack([self._one(frame) for frame in frames])

    def _one(self, frame: np.ndarray) -> np.ndarray:
        from PIL import Image

        method = Image.Resampling.BILINEAR if self.resample == "bilinear" else Image.Resampling.LANCZOS
        image = Image.fromarray(frame)
        if image.size != self.size:
            image = image.resize(self.size, method)
        return np.asarray(image)


def build_sha256(config, tokenizer, *more: str) -> str:
    """The SHA-256 of what shapes a model's scores besides its weights: its configuration (a JSON value), its
    tokenizer's vocabulary, special tokens and chat template, and ``more`` (e.g. an image processor's config). A
    run folder is resumed only by the same weights *and* the same of these (an edited config.json or chat
    template resumed a folder with another model's records)."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    vocabulary = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    digest.update(json.dumps(sorted(vocabulary.items(), key=lambda item: item[1])).encode())
    digest.update(str(getattr(tokenizer, "chat_template", None) or "").encode())
    digest.update(json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str).encode())
    for part in more:
        digest.update(part.encode())
    return digest.hexdigest()
