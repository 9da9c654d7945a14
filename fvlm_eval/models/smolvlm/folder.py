"""A SmolVLM2 model folder (hub id or path): its files checked, its processor settings read, its weights loaded."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.models.base import ModelLoadError, read_json_object

# SmolVLM2's video settings when a folder does not say (fps 1, at most 64 frames; frames resized
# so that their longest edge is the tile size S before being squared).
DEFAULT_FPS = 1.0
DEFAULT_MAX_FRAMES = 64
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "tokenizer*"]


@dataclass(frozen=True)
class Settings:
    """What a SmolVLM folder says beyond the network: the image tokens per tile and the video input."""

    image_seq_len: int
    tile_size: int  # S: the image processor's max_image_size longest edge
    video_longest_edge: int
    fps: float
    max_frames: int
    resample: str  # "lanczos" or "bilinear"


def image_processor_class():
    """``SmolVLMImageProcessorPil`` (transformers with backends); before that the PIL/numpy one was
    ``SmolVLMImageProcessor`` (the torchvision one is not used: no torchvision here)."""
    try:
        from transformers import SmolVLMImageProcessorPil

        return SmolVLMImageProcessorPil
    except ImportError:
        from transformers.models.smolvlm.image_processing_smolvlm import SmolVLMImageProcessor

        return SmolVLMImageProcessor


def longest_edge(size, default: int) -> int:
    """``size["longest_edge"]`` of a processor's size (a dict, or a ``SizeDict`` in newer transformers)."""
    value = size.get("longest_edge") if hasattr(size, "get") else getattr(size, "longest_edge", None)
    return int(value or default)


def resolve_folder(source) -> Path:
    """The model folder of a folder, a file in one, or a hub id (downloaded once, here)."""
    from fvlm_eval.models.hub import hub_error, is_hub_id, not_found

    path = Path(str(source)).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        if path not in weight_files(path.parent):  # transformers loads the folder's own weights, not this file
            raise ModelLoadError(
                f"{path}: a SmolVLM folder is scored with its own weights ({SINGLE} or its shards), so this file "
                f"would not be: give it a folder of its own, as {SINGLE} beside the config, tokenizer and processor "
                "files"
            )
        return path.absolute().parent  # named in errors: a relative file's parent is "."
    if not is_hub_id(str(source)):
        raise ModelLoadError(not_found(str(source)))
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(source), allow_patterns=WEIGHT_PATTERNS))
    except Exception as error:
        raise ModelLoadError(hub_error(str(source), error)) from error


def require(folder: Path, names: tuple[str, ...], what: str) -> None:
    if not any((folder / name).is_file() for name in names):
        raise ModelLoadError(f"{folder}: not a SmolVLM folder: {what} is missing ({' or '.join(names)})")


SINGLE, INDEX = "model.safetensors", "model.safetensors.index.json"


def weight_files(folder: Path) -> list[Path]:
    """The weights ``from_pretrained`` loads from ``folder``: the shards its index names, else
    model.safetensors (an EMA copy or another step's file beside them is neither loaded nor hashed)."""
    import json

    index = folder / INDEX
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ModelLoadError(f"{index}: not a weights index ({type(error).__name__}: {error})") from error
        return [folder / name for name in shards if (folder / name).is_file()]
    return [folder / SINGLE] if (folder / SINGLE).is_file() else []


def files_sha256(files: list[Path]) -> str:
    """One file: its SHA-256; several (shards): the SHA-256 of their sorted "name sha256" lines."""
    from fvlm_model.loading import file_sha256

    hashes = [(p.name, file_sha256(p)) for p in sorted(files, key=lambda p: p.name)]
    if len(hashes) == 1:
        return hashes[0][1]
    return hashlib.sha256("".join(f"{name} {sha}\n" for name, sha in hashes).encode()).hexdigest()


def read_settings(folder: Path, config, image_processor) -> Settings:
    """Image tokens per tile and the video input, from the folder's processor configs (SmolVLM2's
    defaults where they are silent)."""
    tile = longest_edge(image_processor.max_image_size, 0)
    if tile <= 0:
        raise ModelLoadError(f"{folder}/preprocessor_config.json: max_image_size has no longest_edge")
    vision = config.vision_config
    if tile != vision.image_size:  # the encoder takes tiles of its image size: any other fails on every question
        preprocessor = read_json_object(folder / "preprocessor_config.json")
        said = (
            f"max_image_size.longest_edge is {tile}"
            if "max_image_size" in preprocessor
            else f"max_image_size is not set{' (the file holds no settings)' if not preprocessor else ''}, so the "
            f"image processor's default, {tile}, was taken"
        )
        raise ModelLoadError(
            f"{folder}/preprocessor_config.json: {said}; the model's tiles are {vision.image_size} px (config.json's "
            "vision_config.image_size): the image processor config is not this model's"
        )
    seq_len = int((vision.image_size // vision.patch_size) ** 2 // config.scale_factor**2)
    processor_path = folder / "processor_config.json"
    processor = read_json_object(processor_path) if processor_path.is_file() else {}
    if "image_seq_len" in processor:
        given = positive(processor["image_seq_len"], processor_path, "image_seq_len", whole=True)
        if given != seq_len:  # a prompt with another count of image tokens than the encoder gives fails always
            raise ModelLoadError(
                f"{processor_path}: image_seq_len is {given}, but the model gives {seq_len} image tokens per tile "
                f"(config.json: ({vision.image_size} // patch_size {vision.patch_size})^2 / scale_factor "
                f"{config.scale_factor}^2): the processor config is not this model's"
            )
    video_path = folder / "preprocessor_config.json"
    video = read_json_object(video_path).get("video_sampling")
    prefix = "video_sampling."
    if not isinstance(video, dict):
        video_path = folder / "video_preprocessor_config.json"
        saved = read_json_object(video_path) if video_path.is_file() else {}
        if isinstance(saved.get("video_sampling"), dict):
            video = saved["video_sampling"]
        else:
            video, prefix = (
                {"fps": saved.get("fps"), "num_frames": saved.get("num_frames"), "size": saved.get("size")},
                "",
            )
    size_key, frames_key = ("video_size", "max_frames") if prefix else ("size", "num_frames")
    size = video.get(size_key) or {}
    edge = size.get("longest_edge") if isinstance(size, dict) else None
    resample = "bilinear" if int(getattr(image_processor, "resample", 1) or 1) == 2 else "lanczos"
    return Settings(
        image_seq_len=seq_len,
        tile_size=tile,
        video_longest_edge=positive(edge or tile, video_path, f"{prefix}{size_key}.longest_edge", whole=True),
        fps=positive(video.get("fps") or DEFAULT_FPS, video_path, f"{prefix}fps"),
        max_frames=positive(video.get(frames_key) or DEFAULT_MAX_FRAMES, video_path, prefix + frames_key, whole=True),
        resample=resample,
    )


def positive(value, path: Path, key: str, whole: bool = False):
    """A setting of a model folder's file that must be a positive (whole) number, or a ``ModelLoadError``
    naming the file and the key."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not number or (whole and not float(value).is_integer()):
        kind = "a positive whole number" if whole else "a positive number"
        raise ModelLoadError(f"{path}: {key} must be {kind}, not {value!r}")
    return int(value) if whole else float(value)


def first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"
