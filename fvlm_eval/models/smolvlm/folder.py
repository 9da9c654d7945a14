"""A SmolVLM2 model folder (hub id or path): its files checked, its processor settings read, its weights loaded."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.models.base import ModelLoadError, read_json_object
from fvlm_eval.models.smolvlm.frames import MAX_FRAME_EDGE, PIL_FILTERS

# SmolVLM2's video settings when a folder does not say (fps 1, at most 64 frames; frames resized first so
# that their longest edge is SmolVLMVideoProcessor's default size, 4 x 364, then squared).
DEFAULT_FPS = 1.0
DEFAULT_MAX_FRAMES = 64
DEFAULT_VIDEO_EDGE = 4 * 364
DEFAULT_RESAMPLE = 1  # PIL's LANCZOS, SmolVLMVideoProcessor's default
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "tokenizer*"]
# transformers 5 saves a processor as one processor_config.json, its image and video processors nested in it
NESTED = "processor_config.json"
IMAGE_CONFIG = "preprocessor_config.json"
VIDEO_CONFIG = "video_preprocessor_config.json"


@dataclass(frozen=True)
class Settings:
    """What a SmolVLM folder says beyond the network: the image tokens per tile and the video input."""

    image_seq_len: int
    tile_size: int  # S: the image processor's max_image_size longest edge
    video_longest_edge: int  # the video processor's size, a frame's longest edge before it is squared (<= 4096)
    fps: float
    max_frames: int
    resample: str  # the video processor's filter: a name of PIL_FILTERS


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


def nested(folder: Path, key: str) -> dict | None:
    """processor_config.json's ``key`` ("image_processor", "video_processor"), where transformers 5 saves a
    processor's parts; None when it holds none."""
    path = folder / NESTED
    part = read_json_object(path).get(key) if path.is_file() else None
    return part if isinstance(part, dict) else None


def require_image_processor(folder: Path) -> None:
    """A SmolVLM folder's image processor config: preprocessor_config.json, or processor_config.json's
    "image_processor" (a processor saved by transformers 5), or a ``ModelLoadError`` saying what was looked for."""
    if not (folder / IMAGE_CONFIG).is_file() and nested(folder, "image_processor") is None:
        raise ModelLoadError(
            f"{folder}: not a SmolVLM folder: the image processor config is missing (looked for {IMAGE_CONFIG}, and "
            f'for "image_processor" in {NESTED}, where transformers 5 saves it)'
        )


def image_processor_config(folder: Path) -> tuple[Path, dict, str]:
    """The image processor's settings where transformers reads them (processor_config.json's "image_processor",
    else preprocessor_config.json): the file, its settings, and the prefix of their keys in it."""
    inner = nested(folder, "image_processor")
    if inner is not None:
        return folder / NESTED, inner, "image_processor."
    path = folder / IMAGE_CONFIG
    return path, read_json_object(path) if path.is_file() else {}, ""


def video_processor_config(folder: Path) -> tuple[Path, dict, str]:
    """The video processor's settings where ``SmolVLMVideoProcessor.from_pretrained`` reads them:
    processor_config.json's "video_processor", else video_preprocessor_config.json, else preprocessor_config.json
    (the image processor's file, with its ``video_sampling``); the file, its settings, the prefix of their keys."""
    inner = nested(folder, "video_processor")
    if inner is not None:
        return folder / NESTED, inner, "video_processor."
    for name in (VIDEO_CONFIG, IMAGE_CONFIG):
        if (folder / name).is_file():
            return folder / name, read_json_object(folder / name), ""
    return folder / IMAGE_CONFIG, {}, ""


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
    image_path, image_settings, image_prefix = image_processor_config(folder)
    if tile <= 0:
        raise ModelLoadError(f"{image_path}: {image_prefix}max_image_size has no longest_edge")
    vision = config.vision_config
    if tile != vision.image_size:  # the encoder takes tiles of its image size: any other fails on every question
        empty = " (the file holds no settings)" if not image_settings else ""
        said = (
            f"{image_prefix}max_image_size.longest_edge is {tile}"
            if "max_image_size" in image_settings
            else f"{image_prefix}max_image_size is not set{empty}, so the image processor's default, {tile}, was taken"
        )
        raise ModelLoadError(
            f"{image_path}: {said}; the model's tiles are {vision.image_size} px (config.json's "
            "vision_config.image_size): the image processor config is not this model's"
        )
    seq_len = int((vision.image_size // vision.patch_size) ** 2 // config.scale_factor**2)
    processor_path = folder / NESTED
    processor = read_json_object(processor_path) if processor_path.is_file() else {}
    if "image_seq_len" in processor:
        given = positive(processor["image_seq_len"], processor_path, "image_seq_len", whole=True)
        if given != seq_len:  # a prompt with another count of image tokens than the encoder gives fails always
            raise ModelLoadError(
                f"{processor_path}: image_seq_len is {given}, but the model gives {seq_len} image tokens per tile "
                f"(config.json: ({vision.image_size} // patch_size {vision.patch_size})^2 / scale_factor "
                f"{config.scale_factor}^2): the processor config is not this model's"
            )
    return Settings(seq_len, tile, *video_settings(folder, tile))


def video_settings(folder: Path, tile: int) -> tuple[int, float, int, str]:
    """(longest edge, fps, max frames, filter) as ``SmolVLMVideoProcessor`` takes them from its config: with a
    ``video_sampling``, its fps and max_frames, and a ``size`` beside it is the size (its ``__init__`` puts it in
    ``video_sampling.video_size``), else that video_size; without, the config's own size, fps and num_frames. Frames
    are squared to the model's tile: a config saying another max_image_size is not this model's."""
    path, video, prefix = video_processor_config(folder)
    square = video.get("max_image_size")
    if square is not None and (not isinstance(square, dict) or square.get("longest_edge") != tile):
        raise ModelLoadError(
            f"{path}: {prefix}max_image_size is {square!r}; the model's tiles are {tile} px (config.json's "
            "vision_config.image_size): the video processor config is not this model's"
        )
    sampling = video.get("video_sampling")
    if isinstance(sampling, dict):
        size_key = "size" if video.get("size") is not None else "video_sampling.video_size"
        size = video.get("size") if video.get("size") is not None else sampling.get("video_size")
        fps, fps_key = sampling.get("fps"), "video_sampling.fps"
        frames, frames_key = sampling.get("max_frames"), "video_sampling.max_frames"
    else:
        size_key, size = "size", video.get("size")
        fps, fps_key, frames, frames_key = video.get("fps"), "fps", video.get("num_frames"), "num_frames"
    if size is None:
        edge = DEFAULT_VIDEO_EDGE
    elif not isinstance(size, dict) or size.get("longest_edge") is None:
        raise ModelLoadError(
            f"{path}: {prefix}{size_key} must give a longest_edge (SmolVLM resizes a frame's longest edge to it, then "
            f"squares it), not {size!r}"
        )
    else:
        edge = positive(size["longest_edge"], path, f"{prefix}{size_key}.longest_edge", whole=True)
    resample = video.get("resample", DEFAULT_RESAMPLE)
    if not isinstance(resample, int) or isinstance(resample, bool) or resample not in PIL_FILTERS:
        known = ", ".join(f"{number} {name}" for number, name in PIL_FILTERS.items())
        raise ModelLoadError(f"{path}: {prefix}resample is {resample!r}, not one of PIL's filters ({known})")
    return (
        min(edge, MAX_FRAME_EDGE),
        positive(DEFAULT_FPS if fps is None else fps, path, prefix + fps_key),
        positive(DEFAULT_MAX_FRAMES if frames is None else frames, path, prefix + frames_key, whole=True),
        PIL_FILTERS[resample],
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
