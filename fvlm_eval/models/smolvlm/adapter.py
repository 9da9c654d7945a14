"""SmolVLM2 behind the model boundary: its own prompt, its own pixels, the shared option scoring.

Video frames arrive as uint8 S x S (``frame_transform``, ``frames.SmolVLMFrameTransform``: PIL, the
longest edge to the video processor's ``size`` first, at most 4096, then the square S x S, with its filter, as
SmolVLM's video processor resizes), where S is the image processor's ``max_image_size``; here they are rescaled
by 1/255 and normalised with the image processor's mean and std. Images arrive as they are (their transparency
composited onto white, as that processor's ``convert_to_rgb`` does) and go through SmolVLM's own image processor
(``SmolVLMImageProcessorPil``: resized, tiled into rows x cols of S x S plus the whole image).
Per clip: one vision encoder + connector pass over its distinct frames (or its tiles), batched
across clips, kept as the features that replace its ``<image>`` tokens.

The text is what ``SmolVLMProcessor`` and SmolVLM2's chat template make of a video or an image
followed by the question: no system prompt; a video is introduced by its frame count in words
and its duration, each frame by its timestamp; an image by its tiles' row/column tokens. Then
``lm.py`` scores both formulations in one packed pass (a clip's sequences in one prefix tree:
what they share computed once), or ``generation.py`` generates.

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fvlm_eval.models.chat_tokens import ChatTokens
from fvlm_eval.models.generation import generate_answers
from fvlm_eval.models.lm import Media, TextModel, fallbacks, score_formulations
from fvlm_eval.models.smolvlm.folder import Settings, longest_edge
from fvlm_eval.models.smolvlm.frames import SmolVLMFrameTransform
from fvlm_eval.models.smolvlm.text import END_OF_UTTERANCE, IMAGE_TOKEN, UNKNOWN_FPS, image_prompt, render, video_prompt
from fvlm_eval.types import (
    ChoiceRequest,
    ChoiceResult,
    Clip,
    ClozeRequest,
    ClozeResult,
    GenerateRequest,
    Generation,
    Sampling,
)

FAMILY = "smolvlm"
VARIANTS = ("standard",)
DEFAULT_VARIANT = "standard"
SKIP_SECONDS = 1.0  # cut from both ends of a long enough video by SmolVLM2's own sampling
ENCODE_BATCH = 64  # images per vision-encoder pass


@dataclass
class _Loaded:
    """A clip's text (the media part of the user turn) and its features, one row per ``<image>``."""

    text: str
    features: torch.Tensor


class SmolVLMAdapter:
    """``ModelAdapter`` for ``SmolVLMForConditionalGeneration`` (SmolVLM2)."""

    family = FAMILY
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT

    def __init__(
        self,
        model,
        tokenizer,
        image_processor,
        settings: Settings,
        description: dict[str, object] | None = None,
        held=None,
    ):
        self.model = model
        self.held = held  # in-memory weights (``memory.HeldWeights``): their sha256 is taken anew for every run
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.settings = settings
        self.frame_transform = SmolVLMFrameTransform(settings.tile_size, settings.video_longest_edge, settings.resample)
        self.tokens = ChatTokens(tokenizer, self.render)
        text_config = model.config.text_config
        self.lm = TextModel(
            model.model.text_model, model.lm_head, model.get_input_embeddings(), text_config.max_position_embeddings
        )
        self.image_token_id = int(model.config.image_token_id)
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self._description = description or {}
        self._clips: dict[str, _Loaded] = {}
        self._neutral: dict[tuple[str, str], tuple[float, ...]] = {}  # (framing, option text) -> log-probs, for PMI
        self.fallback_count = 0
        self.images_encoded = 0
        # The end of the turn, the tokenizer's eos, and whatever the model's generation config stops at.
        configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        configured = list(configured) if isinstance(configured, (list, tuple)) else [configured]
        self.stop_ids = {
            int(i)
            for i in (tokenizer.convert_tokens_to_ids(END_OF_UTTERANCE), tokenizer.eos_token_id, *configured)
            if i is not None
        }
        mean = torch.tensor(image_processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(image_processor.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        self._normalisation = (float(image_processor.rescale_factor), mean, std)

    render = staticmethod(render)

    def describe(self) -> dict[str, object]:
        s = self.settings
        return {
            "family": FAMILY,
            **self._description,
            **({"sha256": self.held.sha256} if self.held is not None else {}),
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "prompt_format": (
                "SmolVLM2 chat template (User:/Assistant:, <end_of_utterance>), no system prompt; "
                "videos: the harness's frames with their timestamps in SmolVLM2's video prompt; "
                f"images: SmolVLM2's tiling ({s.tile_size}px tiles + the global image); "
                f"{s.image_seq_len} image tokens per frame or tile"
            ),
            "frame_transform": self.frame_transform.key,
        }

    def begin_run(self) -> None:
        """Called by ``evaluate`` before every run: an adapter handed to each step of a training loop scores the
        weights it holds now. The clips' features and PMI's neutral log-probabilities (computed from the weights
        of an earlier run) are dropped, and in-memory weights are hashed anew."""
        self._clips.clear()
        self._neutral.clear()
        if self.held is not None:
            self.held.renew()

    def video_sampling(self, frames: int | None) -> Sampling:
        """SmolVLM2's own video input: ``fps`` frames a second, at most ``max_frames``, 1 s cut from
        both ends of a long enough clip."""
        return Sampling(
            "fps_spread", frames or self.settings.max_frames, fps=self.settings.fps, skip_seconds=SKIP_SECONDS
        )

    def suggested_batch_size(self, frames: int) -> int:
        """Questions per batch: 16 on CPU; on CUDA as many as a third of the free memory holds (per
        question: its prefix KV cache, the prefix pass's largest activations and attention mask,
        its image features; an image counts as its most tiles)."""
        if self.device.type != "cuda":
            return 16
        free, _ = torch.cuda.mem_get_info(self.device)
        text = self.model.config.text_config
        width = torch.finfo(self.dtype).bits // 8
        tile = self.settings.tile_size
        tiles = (longest_edge(self.image_processor.size, tile) // tile) ** 2 + 1
        images = max(frames, tiles)
        positions = images * (self.settings.image_seq_len + 12) + 512
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        cache = positions * text.num_hidden_layers * 2 * text.num_key_value_heads * head_dim * width
        passing = positions * (3 * text.intermediate_size + 2 * text.hidden_size) * width + positions**2
        features = images * self.settings.image_seq_len * text.hidden_size * width
        per_question = cache + passing + features + 64 * text.vocab_size * 4
        return int(max(1, min(256, free // 3 // per_question)))

    # ----- vision ---------------------------------------------------------------------------

    def normalise(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [N,H,W,3] -> float32 [N,3,H,W], rescaled and normalised as SmolVLM's processors do."""
        factor, mean, std = self._normalisation
        pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() * factor
        return (pixels - mean) / std

    def image_inputs(self, clip: Clip) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """An image through SmolVLM's image processor: its tiles [N,3,S,S], their pixel masks, rows, cols."""
        from PIL import Image

        out = self.image_processor(
            images=[[Image.fromarray(np.ascontiguousarray(clip.frames[0]))]],
            return_row_col_info=True,
            return_tensors="pt",
        )
        pixels = torch.as_tensor(out["pixel_values"])[0].float()
        mask = out.get("pixel_attention_mask")
        mask = (
            torch.as_tensor(mask)[0]
            if mask is not None
            else torch.ones(pixels.shape[0], *pixels.shape[2:], dtype=torch.long)
        )
        return pixels, mask, int(out["rows"][0][0]), int(out["cols"][0][0])

    @torch.no_grad()
    def encode_images(self, pixels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Vision encoder + connector over [N,3,S,S] (with [N,S,S] pixel masks): [N, image_seq_len, hidden]."""
        vision = self.model.model.vision_model
        patch = self.model.config.vision_config.patch_size
        outputs = []
        for start in range(0, pixels.shape[0], ENCODE_BATCH):
            chunk = pixels[start : start + ENCODE_BATCH].to(self.device, self.dtype)
            if mask is None:
                patches = torch.ones(
                    chunk.shape[0],
                    chunk.shape[2] // patch,
                    chunk.shape[3] // patch,
                    dtype=torch.bool,
                    device=self.device,
                )
            else:
                sub = mask[start : start + ENCODE_BATCH].to(self.device)
                sub = sub.unfold(1, patch, patch).unfold(2, patch, patch)
                patches = sub.sum(dim=(-1, -2)) > 0
            hidden = vision(pixel_values=chunk, patch_attention_mask=patches).last_hidden_state
            outputs.append(self.model.model.connector(hidden))
        self.images_encoded += pixels.shape[0]
        return torch.cat(outputs)

    def media_text(self, clip: Clip, rows: int = 0, cols: int = 0) -> str:
        seq = self.settings.image_seq_len
        if clip.kind == "image":
            return image_prompt(rows, cols, seq)
        timestamps = list(clip.timestamps) if clip.timestamps is not None else [i / UNKNOWN_FPS for i in clip.indices]
        return video_prompt(timestamps, clip.duration, seq)

    def pixels(self, clip: Clip) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """What the vision tower sees of a clip: [N,3,S,S] pixels, [N,S,S] pixel masks, rows, cols
        (a video: its distinct frames, rows = cols = 0; an image: its tiles and the global image)."""
        if clip.kind == "image":
            return self.image_inputs(clip)
        size = self.settings.tile_size
        if clip.frames.shape[1:3] != (size, size):
            raise ValueError(
                f"the frames of {clip.key} are {clip.frames.shape[2]}x{clip.frames.shape[1]}; "
                f"SmolVLM takes {size}x{size} frames (its frame transform {self.frame_transform.key})"
            )
        return self.normalise(clip.frames), torch.ones(clip.frames.shape[0], size, size, dtype=torch.long), 0, 0

    @torch.no_grad()
    def load_clips(self, clips: list[Clip]) -> None:
        """The vision tower over every clip not yet loaded, in passes of about ``ENCODE_BATCH`` images
        across clips (only those passes' float pixels exist at once)."""
        clips = [c for c in dict((c.key, c) for c in clips).values() if c.key not in self._clips]
        pending: list[tuple[Clip, torch.Tensor, torch.Tensor, int, int]] = []

        def flush() -> None:
            features = self.encode_images(torch.cat([p[1] for p in pending]), torch.cat([p[2] for p in pending]))
            offset = 0
            for clip, pixels, _, rows, cols in pending:
                mine = features[offset : offset + pixels.shape[0]]
                offset += pixels.shape[0]
                if clip.kind == "video":
                    mine = mine[torch.tensor(clip.frame_map, device=mine.device)]
                self._clips[clip.key] = _Loaded(self.media_text(clip, rows, cols), mine.reshape(-1, mine.shape[-1]))
            pending.clear()

        for clip in clips:
            pending.append((clip, *self.pixels(clip)))
            if sum(p[1].shape[0] for p in pending) >= ENCODE_BATCH:
                flush()
        if pending:
            flush()

    def forget_clips(self, keys: list[str]) -> None:
        for key in keys:
            self._clips.pop(key, None)

    # ----- language -------------------------------------------------------------------------

    def _check(self, variant: str) -> None:
        if variant not in self.variants:
            raise ValueError(f"SmolVLM2 has no variant {variant!r}; its variants: {', '.join(self.variants)}")

    def _loaded(self, key: str) -> _Loaded:
        if key not in self._clips:
            raise KeyError(f"clip {key!r} is not loaded (load_clips first)")
        return self._clips[key]

    def embed(self, ids, features: torch.Tensor) -> torch.Tensor:
        """[L, hidden] input embeddings of ``ids`` with ``features`` at the ``<image>`` positions."""
        ids = torch.as_tensor(ids, device=self.device, dtype=torch.long)
        embeds = self.lm.embed(ids)
        where = (ids == self.image_token_id).nonzero().squeeze(-1)
        if where.numel() != features.shape[0]:
            raise ValueError(
                f"the text holds {where.numel()} {IMAGE_TOKEN} tokens but its media gives "
                f"{features.shape[0]} image features (is {IMAGE_TOKEN} written in the question?)"
            )
        embeds[where] = features.to(embeds.dtype)
        return embeds

    @torch.no_grad()
    def score(self, requests: list[ChoiceRequest], variant: str) -> list[ChoiceResult]:
        return self.score_formulations(requests, [], variant)[0]

    @torch.no_grad()
    def score_cloze(self, requests: list[ClozeRequest], variant: str) -> list[ClozeResult]:
        """The cloze formulation: the clip's media text, the question, then each text."""
        return self.score_formulations([], requests, variant)[1]

    @torch.no_grad()
    def score_formulations(
        self, choices: list[ChoiceRequest], clozes: list[ClozeRequest], variant: str
    ) -> tuple[list[ChoiceResult], list[ClozeResult]]:
        """Both formulations in one packed pass: a clip's sequences share one prefix tree."""
        self._check(variant)
        results = score_formulations(
            self.lm,
            self.tokens,
            [(self._loaded(r.clip_key).text + r.prompt, r.options, self._media(r.clip_key)) for r in choices],
            [(self._loaded(r.clip_key).text + r.prompt, r.texts, r.framing, self._media(r.clip_key)) for r in clozes],
            self._neutral,
        )
        self.fallback_count += fallbacks(results[0])
        return results

    @torch.no_grad()
    def generate(self, requests: list[GenerateRequest], variant: str) -> list[Generation]:
        self._check(variant)
        return generate_answers(
            self.lm,
            self.tokens,
            [self._loaded(r.clip_key).text + r.prompt for r in requests],
            [r.max_new_tokens for r in requests],
            self.stop_ids,
            [self._media(r.clip_key) for r in requests],
        )

    def _media(self, key: str) -> Media:
        """A clip's input embeddings for any ids: the text's, with its image features at ``<image>``."""
        features = self._loaded(key).features
        return Media(key, lambda ids: self.embed(ids, features))
