"""SmolVLM2 behind the model boundary: its own prompt, its own pixels, the shared option scoring.

Video frames arrive as uint8 S x S (``frame_transform``: PIL, longest edge to the video size
first, then the square S x S, as SmolVLM's video processor resizes), where S is the image
processor's ``max_image_size``; here they are rescaled by 1/255 and normalised with the image
processor's mean and std. Images arrive as they are and go through SmolVLM's own image processor
(``SmolVLMImageProcessorPil``: resized, tiled into rows x cols of S x S plus the whole image).
Per clip: one vision encoder + connector pass over its distinct frames (or its tiles), batched
across clips, kept as the features that replace its ``<image>`` tokens.

The text is what ``SmolVLMProcessor`` and SmolVLM2's chat template make of a video or an image
followed by the question: no system prompt; a video is introduced by its frame count in words
and its duration, each frame by its timestamp; an image by its tiles' row/column tokens. Then
``lm.py`` scores the options (the prefix once, every option on its KV cache) or generates.

``save_tiny_smolvlm`` writes a tiny random SmolVLM folder (offline) for tests and the demo.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch

from fvlm_eval.models.base import FrameTransform, ModelLoadError, read_json_object
from fvlm_eval.models.lm import ChatTokens, TextModel, fallbacks, generate_answers, score_choices, score_cloze
from fvlm_eval.types import ChoiceRequest, ChoiceResult, Clip, ClozeRequest, ClozeResult, Generation, GenerateRequest, Sampling

FAMILY = "smolvlm"
VARIANTS = ("standard",)
DEFAULT_VARIANT = "standard"

FAKE_TOKEN = "<fake_token_around_image>"
IMAGE_TOKEN = "<image>"
GLOBAL_TOKEN = "<global-img>"
END_OF_UTTERANCE = "<end_of_utterance>"
MAX_TILES_PER_SIDE = 6  # the <row_r_col_c> tokens SmolVLM's tokenizer has
SPECIAL_TOKENS = (FAKE_TOKEN, IMAGE_TOKEN, GLOBAL_TOKEN, END_OF_UTTERANCE)
VIDEO_INTRO = "You are provided the following series of {count} frames from a {duration} [H:MM:SS] video.\n"
FRAME_MESSAGE = "\nFrame from {timestamp}:"
MEDIA_OUTTRO = "\n\n"
UNKNOWN_FPS = 24  # what SmolVLM's processor assumes of a video without a frame rate

# SmolVLM2's video settings when a folder does not say (fps 1, at most 64 frames; frames resized
# so that their longest edge is the tile size S before being squared).
DEFAULT_FPS = 1.0
DEFAULT_MAX_FRAMES = 64
SKIP_SECONDS = 1.0
ENCODE_BATCH = 64  # images per vision-encoder pass
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "tokenizer*"]


# ----- text ---------------------------------------------------------------------------------------

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """``n`` (0..999,999) in English words, as ``num2words`` writes them ("one hundred and
    twenty-eight", "one thousand, two hundred and five")."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number_words covers 0..999999, not {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    words = f"{number_words(thousands)} thousand"
    if not rest:
        return words
    return words + (", " if rest >= 100 else " and ") + number_words(rest)


def image_prompt(rows: int, cols: int, seq_len: int) -> str:
    """SmolVLM's text for one image: each of its rows x cols tiles, then the whole image (or,
    unsplit, the image alone)."""
    image = IMAGE_TOKEN * seq_len
    whole = f"{FAKE_TOKEN}{GLOBAL_TOKEN}{image}{FAKE_TOKEN}"
    if rows == 0 and cols == 0:
        return whole
    text = ""
    for r in range(rows):
        text += "".join(f"{FAKE_TOKEN}<row_{r + 1}_col_{c + 1}>{image}" for c in range(cols)) + "\n"
    return text + "\n" + whole


def video_prompt(timestamps: list[float], duration: float | None, seq_len: int) -> str:
    """SmolVLM's text for a video of ``len(timestamps)`` frames (times in seconds)."""
    seconds = int(duration) if duration is not None else int(timestamps[-1])
    text = VIDEO_INTRO.format(count=number_words(len(timestamps)), duration=str(timedelta(seconds=seconds)))
    frame = f"{FAKE_TOKEN}{GLOBAL_TOKEN}{IMAGE_TOKEN * seq_len}{FAKE_TOKEN}"
    for second in timestamps:
        text += FRAME_MESSAGE.format(timestamp=f"{int(second // 60):02d}:{int(second % 60):02d}") + frame
    return text + MEDIA_OUTTRO


def render(user: str, answer: str | None = None) -> str:
    """SmolVLM2's chat template for one user turn (and the assistant's ``answer``): no system
    prompt; no space after ``User:`` when the turn starts with an image."""
    space = "" if user.startswith((FAKE_TOKEN, IMAGE_TOKEN)) else " "
    text = f"<|im_start|>User:{space}{user}{END_OF_UTTERANCE}\nAssistant:"
    if answer is not None:
        text += f" {answer}{END_OF_UTTERANCE}\n"
    return text


# ----- the adapter --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What a SmolVLM folder says beyond the network: the image tokens per tile and the video input."""

    image_seq_len: int
    tile_size: int  # S: the image processor's max_image_size longest edge
    video_longest_edge: int
    fps: float
    max_frames: int
    resample: str  # "lanczos" or "bilinear"


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

    def __init__(self, model, tokenizer, image_processor, settings: Settings, description: dict[str, object] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.settings = settings
        self.frame_transform = FrameTransform((settings.tile_size, settings.tile_size), settings.resample,
                                              longest_edge=settings.video_longest_edge, images_as_is=True)
        self.tokens = ChatTokens(tokenizer, self.render)
        text_config = model.config.text_config
        self.lm = TextModel(model.model.text_model, model.lm_head, model.get_input_embeddings(),
                            text_config.max_position_embeddings)
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
        self.stop_ids = {int(i) for i in (tokenizer.convert_tokens_to_ids(END_OF_UTTERANCE), tokenizer.eos_token_id,
                                          *configured) if i is not None}
        mean = torch.tensor(image_processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(image_processor.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        self._normalisation = (float(image_processor.rescale_factor), mean, std)

    render = staticmethod(render)

    def describe(self) -> dict[str, object]:
        s = self.settings
        return {"family": FAMILY, **self._description, "device": str(self.device),
                "dtype": str(self.dtype).replace("torch.", ""),
                "prompt_format": ("SmolVLM2 chat template (User:/Assistant:, <end_of_utterance>), no system prompt; "
                                  "videos: the harness's frames with their timestamps in SmolVLM2's video prompt; "
                                  f"images: SmolVLM2's tiling ({s.tile_size}px tiles + the global image); "
                                  f"{s.image_seq_len} image tokens per frame or tile"),
                "frame_transform": self.frame_transform.key}

    def video_sampling(self, frames: int | None) -> Sampling:
        """SmolVLM2's own video input: ``fps`` frames a second, at most ``max_frames``, 1 s cut from
        both ends of a long enough clip."""
        return Sampling("smolvlm", frames or self.settings.max_frames, fps=self.settings.fps, skip_seconds=SKIP_SECONDS)

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
        tiles = (_longest_edge(self.image_processor.size, tile) // tile) ** 2 + 1
        images = max(frames, tiles)
        positions = images * (self.settings.image_seq_len + 12) + 512
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        cache = positions * text.num_hidden_layers * 2 * text.num_key_value_heads * head_dim * width
        passing = positions * (3 * text.intermediate_size + 2 * text.hidden_size) * width + positions ** 2
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

        out = self.image_processor(images=[[Image.fromarray(np.ascontiguousarray(clip.frames[0]))]],
                                   return_row_col_info=True, return_tensors="pt")
        pixels = torch.as_tensor(out["pixel_values"])[0].float()
        mask = out.get("pixel_attention_mask")
        mask = torch.as_tensor(mask)[0] if mask is not None else torch.ones(pixels.shape[0], *pixels.shape[2:], dtype=torch.long)
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
                patches = torch.ones(chunk.shape[0], chunk.shape[2] // patch, chunk.shape[3] // patch,
                                     dtype=torch.bool, device=self.device)
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
            raise ValueError(f"the frames of {clip.key} are {clip.frames.shape[2]}x{clip.frames.shape[1]}; "
                             f"SmolVLM takes {size}x{size} frames (its frame transform {self.frame_transform.key})")
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
            raise ValueError(f"the text holds {where.numel()} {IMAGE_TOKEN} tokens but its media gives "
                             f"{features.shape[0]} image features (is {IMAGE_TOKEN} written in the question?)")
        embeds[where] = features.to(embeds.dtype)
        return embeds

    @torch.no_grad()
    def score(self, requests: list[ChoiceRequest], variant: str) -> list[ChoiceResult]:
        self._check(variant)
        loaded = [self._loaded(r.clip_key) for r in requests]
        results = score_choices(self.lm, self.tokens, [c.text + r.prompt for c, r in zip(loaded, requests)],
                                [r.options for r in requests], lambda i, ids: self.embed(ids, loaded[i].features))
        self.fallback_count += fallbacks(results)
        return results

    @torch.no_grad()
    def score_cloze(self, requests: list[ClozeRequest], variant: str) -> list[ClozeResult]:
        """The cloze formulation: the clip's media text, the question, then each text."""
        self._check(variant)
        loaded = [self._loaded(r.clip_key) for r in requests]
        return score_cloze(self.lm, self.tokens, [c.text + r.prompt for c, r in zip(loaded, requests)],
                           [r.texts for r in requests], [r.framing for r in requests],
                           lambda i, ids: self.embed(ids, loaded[i].features), self._neutral)

    @torch.no_grad()
    def generate(self, requests: list[GenerateRequest], variant: str) -> list[Generation]:
        self._check(variant)
        loaded = [self._loaded(r.clip_key) for r in requests]
        return generate_answers(self.lm, self.tokens, [c.text + r.prompt for c, r in zip(loaded, requests)],
                                [r.max_new_tokens for r in requests], self.stop_ids,
                                lambda i, ids: self.embed(ids, loaded[i].features))


# ----- loading ------------------------------------------------------------------------------------


def _image_processor_class():
    """``SmolVLMImageProcessorPil`` (transformers with backends); before that the PIL/numpy one was
    ``SmolVLMImageProcessor`` (the torchvision one is not used: no torchvision here)."""
    try:
        from transformers import SmolVLMImageProcessorPil

        return SmolVLMImageProcessorPil
    except ImportError:
        from transformers.models.smolvlm.image_processing_smolvlm import SmolVLMImageProcessor

        return SmolVLMImageProcessor


def _longest_edge(size, default: int) -> int:
    """``size["longest_edge"]`` of a processor's size (a dict, or a ``SizeDict`` in newer transformers)."""
    value = size.get("longest_edge") if hasattr(size, "get") else getattr(size, "longest_edge", None)
    return int(value or default)


def resolve_folder(source) -> Path:
    """The model folder of a folder, a file in one, or a hub id (downloaded once, here)."""
    from fvlm_eval.models import hub_error, is_hub_id

    path = Path(str(source)).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent
    if not is_hub_id(str(source)):
        raise ModelLoadError(f"--model {source}: no such file or folder, and not a hub id (owner/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(source), allow_patterns=WEIGHT_PATTERNS))
    except Exception as error:
        raise ModelLoadError(hub_error(str(source), error)) from error


def _require(folder: Path, names: tuple[str, ...], what: str) -> None:
    if not any((folder / name).is_file() for name in names):
        raise ModelLoadError(f"{folder}: not a SmolVLM folder: {what} is missing ({' or '.join(names)})")


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file())


def weights_sha256(files: list[Path]) -> str:
    """One file: its SHA-256; several (shards): the SHA-256 of their sorted "name sha256" lines."""
    from fvlm_model.loading import file_sha256

    hashes = [(p.name, file_sha256(p)) for p in sorted(files, key=lambda p: p.name)]
    if len(hashes) == 1:
        return hashes[0][1]
    return hashlib.sha256("".join(f"{name} {sha}\n" for name, sha in hashes).encode()).hexdigest()


def read_settings(folder: Path, config, image_processor) -> Settings:
    """Image tokens per tile and the video input, from the folder's processor configs (SmolVLM2's
    defaults where they are silent)."""
    tile = _longest_edge(image_processor.max_image_size, 0)
    if tile <= 0:
        raise ModelLoadError(f"{folder}/preprocessor_config.json: max_image_size has no longest_edge")
    processor_path = folder / "processor_config.json"
    processor = read_json_object(processor_path) if processor_path.is_file() else {}
    if "image_seq_len" in processor:
        seq_len = int(processor["image_seq_len"])
    else:
        vision = config.vision_config
        seq_len = int((vision.image_size // vision.patch_size) ** 2 // config.scale_factor ** 2)
    preprocessor = read_json_object(folder / "preprocessor_config.json")
    video = preprocessor.get("video_sampling")
    if not isinstance(video, dict):
        video_path = folder / "video_preprocessor_config.json"
        saved = read_json_object(video_path) if video_path.is_file() else {}
        video = saved.get("video_sampling") if isinstance(saved.get("video_sampling"), dict) else {
            "fps": saved.get("fps"), "max_frames": saved.get("num_frames"), "video_size": saved.get("size")}
    size = video.get("video_size") or {}
    edge = size.get("longest_edge") if isinstance(size, dict) else None
    resample = "bilinear" if int(getattr(image_processor, "resample", 1) or 1) == 2 else "lanczos"
    return Settings(image_seq_len=seq_len, tile_size=tile, video_longest_edge=int(edge or tile),
                    fps=float(video.get("fps") or DEFAULT_FPS), max_frames=int(video.get("max_frames") or DEFAULT_MAX_FRAMES),
                    resample=resample)


def load(source, device: torch.device, dtype: torch.dtype | None) -> SmolVLMAdapter:
    """A SmolVLM2 model (hub id or folder) behind the model boundary, on ``device`` in ``dtype``."""
    from transformers import AutoTokenizer, SmolVLMConfig, SmolVLMForConditionalGeneration

    folder = resolve_folder(source)
    _require(folder, ("config.json",), "the model config")
    _require(folder, ("preprocessor_config.json",), "the image processor config")
    _require(folder, ("tokenizer.json", "tokenizer_config.json"), "the tokenizer")
    weights = weight_files(folder)
    if not weights:
        raise ModelLoadError(f"{folder}: not a SmolVLM folder: the weights are missing (*.safetensors)")
    try:
        config = SmolVLMConfig.from_pretrained(folder)
    except Exception as error:
        raise ModelLoadError(f"{folder}/config.json: not a SmolVLM config ({_first_line(error)})") from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as error:
        raise ModelLoadError(f"{folder}: cannot load its tokenizer ({_first_line(error)})") from error
    vocabulary = tokenizer.get_vocab()
    missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
    if missing:
        raise ModelLoadError(f"{folder}: its tokenizer lacks SmolVLM's tokens {', '.join(missing)}")
    if tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) != config.image_token_id:
        raise ModelLoadError(f"{folder}: the tokenizer's {IMAGE_TOKEN} is id {tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)}, "
                             f"config.json's image_token_id is {config.image_token_id}")
    try:
        image_processor = _image_processor_class().from_pretrained(folder)
    except Exception as error:
        raise ModelLoadError(f"{folder}/preprocessor_config.json: cannot load the image processor "
                             f"({_first_line(error)})") from error
    settings = read_settings(folder, config, image_processor)
    try:
        model, info = SmolVLMForConditionalGeneration.from_pretrained(folder, dtype=dtype or torch.float32,
                                                                      attn_implementation="sdpa", output_loading_info=True)
    except Exception as error:
        raise ModelLoadError(f"{folder}: cannot load the SmolVLM weights ({_first_line(error)})") from error
    problems = {kind: sorted(map(str, info.get(key) or ())) for kind, key in
                (("missing", "missing_keys"), ("unexpected", "unexpected_keys"), ("of another shape", "mismatched_keys"))}
    if any(problems.values()):  # transformers would fill a missing weight at random and go on: never score that
        listed = "; ".join(f"{kind}: {', '.join(keys[:6])}{f' (+{len(keys) - 6} more)' if len(keys) > 6 else ''}"
                           for kind, keys in problems.items() if keys)
        raise ModelLoadError(f"{folder}: the weights do not match config.json ({listed})")
    model = model.to(device).eval()
    name = str(source).rstrip("/").split("/")[-1] if not Path(str(source)).expanduser().exists() else folder.name
    return SmolVLMAdapter(model, tokenizer, image_processor, settings,
                          {"name": name, "source": str(source), "weights": [str(p) for p in weights],
                           "sha256": weights_sha256(weights), "parameters": sum(p.numel() for p in model.parameters()),
                           "image_seq_len": settings.image_seq_len,
                           "video": {"fps": settings.fps, "max_frames": settings.max_frames,
                                     "longest_edge": settings.video_longest_edge, "tile": settings.tile_size}})


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


# ----- a tiny random model (tests, demo) ----------------------------------------------------------

TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                   image_size=32, patch_size=8)
TINY_TEXT = dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
                 tie_word_embeddings=False)
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
    text = dict(TINY_TEXT, **(text or {}), vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    config = SmolVLMConfig(vision_config=vision, text_config=text, scale_factor=TINY_SCALE_FACTOR,
                           image_token_id=image_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = SmolVLMForConditionalGeneration(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2:  # weights: unit-variance outputs (embedding tables: unit entries)
                fan_in = 1 if "embed" in name and "patch" not in name else int(np.prod(param.shape[1:]))
                param.copy_(torch.randn(param.shape, generator=generator) / fan_in ** 0.5)
    from fvlm_eval.models import quiet_transformers

    with quiet_transformers():  # no "Writing model shards" bar (the demo writes this model)
        model.save_pretrained(folder)
    tile = vision["image_size"]
    preprocessor = {
        "do_convert_rgb": True, "do_image_splitting": True, "do_normalize": True, "do_pad": True, "do_rescale": True,
        "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
        "image_processor_type": "SmolVLMImageProcessor", "max_image_size": {"longest_edge": tile},
        "processor_class": "SmolVLMProcessor", "resample": 1, "rescale_factor": 1 / 255,
        "size": {"longest_edge": 2 * tile},
        "video_sampling": {"fps": 1, "max_frames": 16, "video_size": {"longest_edge": tile}},
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    seq_len = (tile // vision["patch_size"]) ** 2 // TINY_SCALE_FACTOR ** 2
    (folder / "processor_config.json").write_text(json.dumps({"image_seq_len": seq_len,
                                                              "processor_class": "SmolVLMProcessor"}, indent=2) + "\n")
    return folder
