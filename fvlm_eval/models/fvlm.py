"""fVLM behind the model boundary: every prefix shared, many questions per pass.

Frames arrive as uint8 224x224 (``FRAME_TRANSFORM``: PIL bilinear, as the release's own scorer
resizes, torchvision ``Resize`` on PIL images); here they are scaled to [0, 1] and normalised
with the ImageNet statistics. A single frame (an image, or a video sampled to one) is shown as 8
copies of itself, as the release trained images and its scorer shows any one-frame input, and
encoded once. Per clip: one DINOv2 pass over its distinct frames, the per-layer K/V kept
for every variant and question. Per (clip, mode): the T visual tokens once, for every clip of a
batch together whatever its frame layout (``fvlm_model.clip_tokens``). Per batch: both
formulations in one packed pass of ``lm.py`` over [visual tokens; chat text], a clip's sequences
sharing one prefix tree (its visual tokens computed once for all its questions). Text is
the SmolLM2 chat template with the system prompt the release always sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fvlm_eval.models.base import FrameTransform, build_sha256
from fvlm_eval.models.chat_tokens import ChatTokens
from fvlm_eval.models.generation import generate_answers
from fvlm_eval.models.hub import model_name
from fvlm_eval.models.lm import Media, Past, TextModel, fallbacks, score_formulations
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
from fvlm_model.clip_tokens import CoarsePass, autoregressive_tokens, coarse_pass, fine_tokens

FAMILY = "fvlm"
VARIANTS = ("coarse_only", "coarse_fine", "autoregressive")  # fvlm_model.MODES, importable without torch
DEFAULT_VARIANT = "coarse_fine"
SYSTEM_PROMPT = "You are a helpful AI assistant."
IMAGE_SIZE = 224
IMAGE_COPIES = 8
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FRAME_TRANSFORM = FrameTransform((IMAGE_SIZE, IMAGE_SIZE), "bilinear")


def normalise(frames: np.ndarray) -> torch.Tensor:
    """uint8 [N,H,W,3] -> float32 [N,3,H,W]: scaled to [0, 1], ImageNet mean and std."""
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


@dataclass(frozen=True)
class _Layout:
    """Where a loaded clip's frames sit: frame t is row ``offset + frame_map[t]`` of encode batch
    ``batch``'s K/V (a single frame: one row, ``IMAGE_COPIES`` times)."""

    batch: int
    offset: int
    frame_map: tuple[int, ...]

    @property
    def rows(self) -> tuple[int, ...]:
        return tuple(self.offset + i for i in self.frame_map)


def shown_frames(clip: Clip) -> tuple[int, ...]:
    """The clip's frames as fVLM is shown them: a single frame, an image or a video sampled to one (``--frames 1``,
    or ``--sampling model`` on a clip under a second), as ``IMAGE_COPIES`` copies. The release's scorer replicates
    any one-frame input (nanoSmol ``benchmark.py:prepare_frames_tensor``: ``frames.shape[0] == 1``), image or video;
    a one-frame video shown once got one visual token, and scores the public scorer never gives."""
    if clip.kind == "image" or len(clip.frame_map) == 1:
        return (clip.frame_map[0] if clip.frame_map else 0,) * IMAGE_COPIES
    return clip.frame_map


class FVLMAdapter:
    """``ModelAdapter`` for ``fvlm_model.FoveatedVLM``."""

    family = FAMILY
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT
    frame_transform = FRAME_TRANSFORM

    def __init__(self, model, tokenizer, description: dict[str, object] | None = None, held=None):
        self.model = model
        self.held = held  # in-memory weights (``memory.HeldWeights``): their sha256 is taken anew for every run
        self.tokenizer = tokenizer
        self.tokens = ChatTokens(tokenizer, self.render)
        self.lm = TextModel(
            model.llm.model,
            model.llm.lm_head,
            model.llm.get_input_embeddings(),
            model.llm.config.max_position_embeddings,
        )
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self._description = description or {}
        self._batches: dict[int, object] = {}  # batch id -> VisionKV of its distinct frames
        self._layouts: dict[str, _Layout] = {}
        self._visual: dict[tuple[str, str], torch.Tensor] = {}
        self._past: dict[tuple[str, str], Past] = {}  # (clip, mode) -> the LLM's K/V over its first visual tokens
        self._coarse: dict[str, CoarsePass] = {}  # clip -> its coarse pass, for both coarse modes
        self._next_batch = 0
        self._neutral: dict[tuple[str, str], tuple[float, ...]] = {}  # (framing, option text) -> log-probs, for PMI
        self.fallback_count = 0
        self.frames_encoded = 0
        self.stop_ids = {
            i for i in (tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id) if i is not None
        }

    def render(self, user: str, answer: str | None = None) -> str:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None)

    def describe(self) -> dict[str, object]:
        return {
            "family": FAMILY,
            **self._description,
            **({"sha256": self.held.sha256} if self.held is not None else {}),
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "prompt_format": f"SmolLM2 chat template, system prompt {SYSTEM_PROMPT!r}; images as {IMAGE_COPIES} copies",
            # a video sampled to one frame, shown once before: a run folder's setting where a run samples one
            "single_frame": f"{IMAGE_COPIES} copies, image or video",
            "frame_transform": FRAME_TRANSFORM.key,
        }

    def begin_run(self) -> None:
        """Called by ``evaluate`` before every run: an adapter handed to each step of a training loop scores the
        weights it holds now. Everything computed from the weights is dropped (the neutral log-probabilities of
        PMI kept step 0's, and the headline with them), and in-memory weights are hashed anew."""
        self._batches.clear()
        self._layouts.clear()
        self._visual.clear()
        self._past.clear()
        self._coarse.clear()
        self._neutral.clear()
        if self.held is not None:
            self.held.renew()

    def video_sampling(self, frames: int | None) -> Sampling:
        """The release's own video input: every ``int(fps)``-th frame from the start (one a second at a whole frame
        rate), the first 64 kept."""
        return Sampling("fps", frames or 64, fps=1.0)

    def suggested_batch_size(self, frames: int) -> int:
        """Questions per batch. On CPU 16, and 32 of images (``frames`` 1): each step of the autoregressive
        loop reads all of the LLM's weights once for the whole batch, so more clips share that read (4.7%
        less time on ScienceQA's shape at real size, ``bench_public.py --batch-size``), while a video's
        DINOv2 K/V (16 to 64 frames a clip) bounds its batch. On CUDA as many as a quarter of the free
        memory holds (each clip's DINOv2 K/V, its LLM prefix cache repeated per option, the logits)."""
        if self.device.type != "cuda":
            return 32 if frames <= 1 else 16
        free, _ = torch.cuda.mem_get_info(self.device)
        dino, llm = self.model.encoder.dino.config, self.model.llm.config
        width = torch.finfo(self.dtype).bits // 8
        vision = frames * dino.num_hidden_layers * 2 * (1 + (224 // dino.patch_size) ** 2) * dino.hidden_size * width
        heads = llm.num_key_value_heads * (llm.hidden_size // llm.num_attention_heads)
        text = (frames + 512) * llm.num_hidden_layers * 2 * heads * width * 2 + 64 * llm.vocab_size * 4
        return int(max(1, min(256, free // 4 // (vision + text))))

    # ----- vision ---------------------------------------------------------------------------

    @torch.no_grad()
    def load_clips(self, clips: list[Clip]) -> None:
        """One DINOv2 pass over the distinct frames of every clip not yet loaded."""
        clips = [c for c in dict((c.key, c) for c in clips).values() if c.key not in self._layouts]
        if not clips:
            return
        pixels = normalise(np.concatenate([c.frames for c in clips])).to(self.device, self.dtype)
        batch = self._next_batch
        self._next_batch += 1
        self._batches[batch] = self.model.encode(pixels)
        self.frames_encoded += pixels.shape[0]
        offset = 0
        for clip in clips:
            self._layouts[clip.key] = _Layout(batch, offset, shown_frames(clip))
            offset += clip.frames.shape[0]

    def forget_clips(self, keys: list[str]) -> None:
        for key in keys:
            self._layouts.pop(key, None)
            self._coarse.pop(key, None)
            for mode in self.variants:
                self._visual.pop((key, mode), None)
                self._past.pop((key, mode), None)
        live = {layout.batch for layout in self._layouts.values()}
        for batch in [b for b in self._batches if b not in live]:
            del self._batches[batch]

    @torch.no_grad()
    def _visual_tokens(self, keys: list[str], mode: str) -> None:
        """Visual tokens of every clip in ``keys`` not yet computed for ``mode``: per encode batch, one
        call for its clips whatever their frame layouts (``fvlm_model.clip_tokens``). The LLM's keys and
        values over them are kept where a mode makes them: ``coarse_only``'s whole prefix (the coarse
        pass, run once for both coarse modes), all of the autoregressive prefix but its last token."""
        todo = [k for k in dict.fromkeys(keys) if (k, mode) not in self._visual]
        by_batch: dict[int, list[str]] = {}
        for key in todo:
            by_batch.setdefault(self._layouts[key].batch, []).append(key)
        for batch, group in by_batch.items():
            group.sort(key=lambda k: self._layouts[k].offset)
            rows = [self._layouts[k].rows for k in group]
            kv = self._batches[batch]
            if mode == "autoregressive":
                made = autoregressive_tokens(self.model, kv, rows)
            else:
                missing = [(k, r) for k, r in zip(group, rows) if k not in self._coarse]
                if missing:
                    self._coarse.update(
                        zip((k for k, _ in missing), coarse_pass(self.model, kv, [r for _, r in missing]))
                    )
                passes = [self._coarse[k] for k in group]
                if mode == "coarse_only":
                    made = [(p.tokens, p.prefix) for p in passes]
                else:
                    made = [(t, None) for t in fine_tokens(self.model, kv, rows, [p.hidden for p in passes])]
            for key, (tokens, prefix) in zip(group, made):
                self._visual[(key, mode)] = tokens
                if prefix is not None:
                    self._past[(key, mode)] = Past(prefix.keys, prefix.values)

    # ----- language -------------------------------------------------------------------------

    def _check(self, mode: str) -> None:
        if mode not in self.variants:
            raise ValueError(f"fVLM has no mode {mode!r}; its modes: {', '.join(self.variants)}")

    @torch.no_grad()
    def score(self, requests: list[ChoiceRequest], variant: str) -> list[ChoiceResult]:
        return self.score_formulations(requests, [], variant)[0]

    @torch.no_grad()
    def score_cloze(self, requests: list[ClozeRequest], variant: str) -> list[ClozeResult]:
        """The cloze formulation on the same visual tokens: [visual tokens; question] then each text."""
        return self.score_formulations([], requests, variant)[1]

    @torch.no_grad()
    def score_formulations(
        self, choices: list[ChoiceRequest], clozes: list[ClozeRequest], variant: str
    ) -> tuple[list[ChoiceResult], list[ClozeResult]]:
        """Both formulations in one packed pass: a clip's visual tokens once for all its sequences."""
        self._check(variant)
        self._visual_tokens([r.clip_key for r in (*choices, *clozes)], variant)
        results = score_formulations(
            self.lm,
            self.tokens,
            [(r.prompt, r.options, self._media(r.clip_key, variant)) for r in choices],
            [(r.prompt, r.texts, r.framing, self._media(r.clip_key, variant)) for r in clozes],
            self._neutral,
        )
        self.fallback_count += fallbacks(results[0])
        return results

    @torch.no_grad()
    def generate(self, requests: list[GenerateRequest], variant: str) -> list[Generation]:
        self._check(variant)
        self._visual_tokens([r.clip_key for r in requests], variant)
        return generate_answers(
            self.lm,
            self.tokens,
            [r.prompt for r in requests],
            [r.max_new_tokens for r in requests],
            self.stop_ids,
            [self._media(r.clip_key, variant) for r in requests],
        )

    def _media(self, key: str, variant: str) -> Media:
        """A clip's input embeddings for any ids: its visual tokens, then the text."""
        visual = self._visual[(key, variant)].to(self.dtype)
        return Media(key, lambda ids: torch.cat([visual, self.lm.embed(ids)]), self._past.get((key, variant)))


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load(source, device: torch.device, dtype: torch.dtype | None) -> FVLMAdapter:
    """An fVLM checkpoint (hub id, folder or file) behind the model boundary."""
    from fvlm_model import parameter_count
    from fvlm_model.loading import file_sha256, load_fvlm, read_spec, resolve_source
    from fvlm_model.state_dicts import training_step

    weights, folder = resolve_source(source)  # a hub id is downloaded once, here
    model, tokenizer = load_fvlm(weights, device=device, dtype=dtype)
    spec = read_spec(folder)
    step, step_note = training_step(weights)
    notes = list(spec.notes) + ([step_note] if step_note else [])
    name = model_name(source)
    return FVLMAdapter(
        model,
        tokenizer,
        {
            "name": name,
            "source": str(source),
            "weights": str(weights),
            "sha256": file_sha256(weights),
            "build_sha256": build_sha256(spec.to_json(), tokenizer),
            "parameters": parameter_count(model),
            "notes": notes,
            **({"checkpoint_step": step} if step is not None else {}),
        },
    )


def from_memory(model, *, tokenizer=None, processor=None, image_processor=None, name: str | None = None) -> FVLMAdapter:
    """An in-memory ``FoveatedVLM`` (as training code holds it) with its tokenizer (default: the bundled
    SmolLM2-135M-Instruct tokenizer, as a folder without one gets)."""
    from fvlm_eval.errors import SettingsError
    from fvlm_eval.models.memory import HeldWeights
    from fvlm_eval.plugins import kind_of
    from fvlm_model import parameter_count

    for argument, value in (("processor", processor), ("image_processor", image_processor)):
        if value is not None:  # never silently ignored: fVLM's frames are prepared by the harness
            raise SettingsError(
                f"{argument}=: fVLM takes no {argument.replace('_', ' ')} (the harness prepares its frames); give "
                f"tokenizer= only, or nothing for the bundled tokenizer"
            )
    if tokenizer is None:
        from fvlm_model.loading import load_tokenizer

        tokenizer = load_tokenizer(None)
    missing = [a for a in ("apply_chat_template", "convert_tokens_to_ids", "encode") if not hasattr(tokenizer, a)]
    if missing or not callable(tokenizer):
        raise SettingsError(
            f"tokenizer: {kind_of(tokenizer)} is not a tokenizer "
            f"(no {', '.join(missing) or '__call__'}); "
            "give the model's transformers tokenizer (load_fvlm returns it), or None for the bundled one"
        )
    return FVLMAdapter(
        model,
        tokenizer,
        {
            "name": name or "in-memory-fvlm",
            "source": "in-memory FoveatedVLM",
            "parameters": parameter_count(model),
            "notes": [],
        },
        held=HeldWeights(model),
    )
