"""SmolVLM2's processor settings as transformers reads and applies them: a transparent image as its image processor
shows it, video frames resized to its video processor's size with its filter, a folder saved by transformers 5
(its processor nested in processor_config.json). Each against transformers' own SmolVLM processors."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fvlm_eval.media.decode import load_clip
from fvlm_eval.media.frame_cache import FrameCache
from fvlm_eval.models import ModelLoadError, smolvlm
from fvlm_eval.models.base import FrameTransform
from fvlm_eval.models.smolvlm import folder as smolvlm_folder
from fvlm_eval.models.smolvlm import tiny as smolvlm_tiny
from fvlm_eval.types import Media, Sampling

VIDEO_PROCESSING = pytest.importorskip("transformers.models.smolvlm.video_processing_smolvlm")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return smolvlm_tiny.save_tiny_smolvlm(tmp_path_factory.mktemp("smolvlm") / "tiny", seed=0)


@pytest.fixture(scope="module")
def adapter(folder):
    return smolvlm.load(str(folder), CPU, torch.float32)


def copied(folder: Path, target: Path, **files: dict) -> Path:
    """A copy of ``folder`` with ``files`` (name with "_" for ".": settings) written over its JSON files' keys."""
    shutil.copytree(folder, target)
    for name, settings in files.items():
        path = target / name.replace("_json", ".json")
        path.write_text(json.dumps({**(json.loads(path.read_text()) if path.is_file() else {}), **settings}))
    return target


def saved_by_transformers_5(source: Path, target: Path) -> Path:
    """``source``'s model with its processor saved as transformers 5 saves one (``SmolVLMProcessor.save_pretrained``:
    one processor_config.json, the image and video processors nested in it, no preprocessor_config.json)."""
    from transformers import AutoTokenizer, SmolVLMProcessor
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    target.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        if (source / name).is_file():
            shutil.copy(source / name, target / name)
    # SmolVLMProcessor(...) checks its arguments through torchvision's registry (not installed); its save does not
    processor = SmolVLMProcessor.__new__(SmolVLMProcessor)
    processor.__dict__.update(
        image_processor=smolvlm_folder.image_processor_class().from_pretrained(source),
        tokenizer=AutoTokenizer.from_pretrained(source),
        video_processor=VIDEO_PROCESSING.SmolVLMVideoProcessor.from_pretrained(source),
        image_seq_len=json.loads((source / "processor_config.json").read_text())["image_seq_len"],
        chat_template=DEFAULT_CHAT_TEMPLATE,
        _auto_class=None,
    )
    processor.save_pretrained(target)
    assert not (target / "preprocessor_config.json").exists()
    assert {"image_processor", "video_processor"} <= set(json.loads((target / "processor_config.json").read_text()))
    return target


# ----- a transparent image -----------------------------------------------------------------------


def transparent_png(mode: str) -> bytes:
    """Black ink on a transparent page with a red box (a diagram), as RGBA, LA or a palette with transparency."""
    page = np.zeros((48, 64, 4), dtype=np.uint8)
    page[20:28, 8:56, 3] = 255
    page[4:12, 40:60] = (200, 30, 30, 255)
    image = Image.fromarray(page, mode="RGBA")
    if mode == "LA":
        image = image.convert("LA")
    elif mode == "P":
        image = image.convert("P")
        image.info["transparency"] = image.getpixel((0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_a_transparent_image_reaches_smolvlm_as_its_image_processor_shows_it(adapter, mode):
    """The decoder dropped the alpha before SmolVLM's image processor saw the image, which composites transparency
    onto white: a diagram in black ink on a transparent page reached the model all black (pixel values -1, where
    transformers gives a white page, 1)."""
    data = transparent_png(mode)
    clip = load_clip(Media("image", "diagram.png", data=data), Sampling(), adapter.frame_transform)
    pixels, _, rows, cols = adapter.pixels(clip)
    theirs = adapter.image_processor(
        images=[[Image.open(io.BytesIO(data))]], return_row_col_info=True, return_tensors="pt"
    )
    assert (rows, cols) == (int(theirs["rows"][0][0]), int(theirs["cols"][0][0]))
    assert torch.equal(pixels, torch.as_tensor(theirs["pixel_values"])[0].float())
    assert pixels[-1, :, 0, 0].tolist() == [1.0, 1.0, 1.0]  # the global image's corner: the white page


def test_the_frame_cache_never_serves_smolvlms_white_page_to_a_model_that_drops_the_alpha(tmp_path, adapter):
    """The frame transform's key, which names a frame-cache entry, says that images are composited onto white: a
    transform with the same resize that drops the alpha (fVLM's way) neither shares SmolVLM's entries nor its pixels."""
    media, sampling = Media("image", "diagram.png", data=transparent_png("RGBA")), Sampling()
    transform = adapter.frame_transform
    dropping = FrameTransform((transform.tile, transform.tile), "lanczos", images_as_is=True)
    assert dropping.key != transform.key and "on-white" in transform.key
    cache = FrameCache(tmp_path / "cache")
    cache.put(cache.key(media, sampling, transform.key), media, load_clip(media, sampling, transform))
    served, outcome = cache.get(cache.key(media, sampling, transform.key), media)
    assert outcome == "hit" and served.frames[0, 0, 0].tolist() == [255, 255, 255]
    assert cache.get(cache.key(media, sampling, dropping.key), media) == (None, "miss")
    assert load_clip(media, sampling, dropping).frames[0, 0, 0].tolist() == [0, 0, 0]


# ----- video frames --------------------------------------------------------------------------------


def reference_frame(frame: np.ndarray, processor, resample) -> np.ndarray:
    """A frame resized as ``SmolVLMVideoProcessor.resize`` sizes it (its own size function: longest edge to its
    ``size``, capped at 4096, then ``max_image_size`` square), in PIL with ``resample``."""
    height, width = VIDEO_PROCESSING.get_resize_output_image_size(
        torch.from_numpy(frame).permute(2, 0, 1), processor.size["longest_edge"]
    )
    tile = processor.max_image_size["longest_edge"]
    first = Image.fromarray(frame).resize((width, height), resample)
    return np.asarray(first.resize((tile, tile), resample))


VIDEO_CONFIGS = {
    # preprocessor_config.json alone: its size (64, the image size) beside video_sampling.video_size (32) wins
    "preprocessor_config.json": {},
    "video_preprocessor_config.json": {
        "video_preprocessor_config_json": {
            "size": {"longest_edge": 48},
            "fps": 2,
            "num_frames": 8,
            "max_image_size": {"longest_edge": 32},
        }
    },
    "video_sampling without size": {
        "video_preprocessor_config_json": {
            "video_sampling": {"fps": 3, "max_frames": 6, "video_size": {"longest_edge": 40}},
            "max_image_size": {"longest_edge": 32},
        }
    },
    "capped at 4096": {
        "video_preprocessor_config_json": {"size": {"longest_edge": 5000}, "max_image_size": {"longest_edge": 32}}
    },
}


@pytest.mark.parametrize("variant", list(VIDEO_CONFIGS))
def test_video_frames_are_resized_as_smolvlms_video_processor_resizes(tmp_path, folder, variant):
    """SmolVLMVideoProcessor resizes a frame's longest edge to its ``size`` (the image size in SmolVLM2's
    preprocessor_config.json, where a size beside video_sampling replaces its video_size), at most 4096, then squares
    it; the harness took video_sampling.video_size (32 here, where transformers takes 64), so a non-square frame lost
    its short side's lines before being stretched back to the tile."""
    model_folder = copied(folder, tmp_path / "model", **VIDEO_CONFIGS[variant])
    theirs = VIDEO_PROCESSING.SmolVLMVideoProcessor.from_pretrained(model_folder)
    adapter = smolvlm.load(str(model_folder), CPU, torch.float32)
    settings = adapter.settings
    edge = min(4096, theirs.size["longest_edge"])
    fps, frames = theirs.fps or smolvlm_folder.DEFAULT_FPS, theirs.num_frames or smolvlm_folder.DEFAULT_MAX_FRAMES
    assert (settings.video_longest_edge, settings.fps, settings.max_frames) == (edge, fps, frames)
    assert adapter.frame_transform.key == f"pil-lanczos-edge{edge}-32x32-images-as-is-on-white"
    assert adapter.describe()["video"]["longest_edge"] == edge
    frame = np.random.default_rng(0).integers(0, 256, (36, 64, 3), dtype=np.uint8)  # 16:9, fine detail
    mine = adapter.frame_transform(frame[None], "video")[0]
    assert np.array_equal(mine, reference_frame(frame, theirs, Image.Resampling.LANCZOS))


@pytest.mark.parametrize("resample", [0, 2, 3, 4, 5])
def test_the_folders_video_filter_is_the_one_used(tmp_path, folder, resample):
    """A ``resample`` other than 1 (LANCZOS) or 2 (BILINEAR) was taken as LANCZOS for video frames (and named so in
    the frame-cache key), where transformers' video processor uses the folder's filter."""
    model_folder = copied(folder, tmp_path / "model", preprocessor_config_json={"resample": resample})
    theirs = VIDEO_PROCESSING.SmolVLMVideoProcessor.from_pretrained(model_folder)
    assert int(theirs.resample) == resample
    adapter = smolvlm.load(str(model_folder), CPU, torch.float32)
    name = Image.Resampling(resample).name.lower()
    assert adapter.settings.resample == name and adapter.frame_transform.key.startswith(f"pil-{name}-edge64-")
    frame = np.random.default_rng(1).integers(0, 256, (36, 64, 3), dtype=np.uint8)
    mine = adapter.frame_transform(frame[None], "video")[0]
    assert np.array_equal(mine, reference_frame(frame, theirs, Image.Resampling(resample)))


@pytest.mark.parametrize("resample", [7, "bicubic", None, [1]])
def test_a_filter_pil_has_not_is_refused_naming_its_file_and_key(tmp_path, folder, resample):
    model_folder = copied(folder, tmp_path / "model", video_preprocessor_config_json={"resample": resample})
    with pytest.raises(ModelLoadError) as refused:
        smolvlm.load(str(model_folder), CPU, torch.float32)
    assert str(refused.value) == (
        f"{model_folder / 'video_preprocessor_config.json'}: resample is {resample!r}, not one of PIL's filters "
        "(0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)"
    )


@pytest.mark.parametrize("size", [{"height": 32, "width": 32}, 48, {}])
def test_a_video_size_without_a_longest_edge_is_refused(tmp_path, folder, size):
    """Such a size fell back to the tile size without a word."""
    model_folder = copied(folder, tmp_path / "model", video_preprocessor_config_json={"size": size})
    with pytest.raises(ModelLoadError, match=r"video_preprocessor_config.json: size must give a longest_edge"):
        smolvlm.load(str(model_folder), CPU, torch.float32)


def test_a_video_config_squaring_frames_to_another_tile_is_refused(tmp_path, folder):
    """transformers would square the frames to 364 px (its default) where the model takes 32 px tiles."""
    model_folder = copied(
        folder, tmp_path / "model", video_preprocessor_config_json={"max_image_size": {"longest_edge": 364}}
    )
    with pytest.raises(ModelLoadError) as refused:
        smolvlm.load(str(model_folder), CPU, torch.float32)
    assert str(refused.value) == (
        f"{model_folder / 'video_preprocessor_config.json'}: max_image_size is {{'longest_edge': 364}}; the model's "
        "tiles are 32 px (config.json's vision_config.image_size): the video processor config is not this model's"
    )


# ----- a folder saved by transformers 5 --------------------------------------------------------------


def test_a_folder_saved_by_transformers_5_loads_with_its_nested_processor(tmp_path, folder, adapter):
    """transformers 5 saves a processor as one processor_config.json (image and video processors nested in it, no
    preprocessor_config.json); such a folder, a fine-tune saved as usual, was refused as "not a SmolVLM folder"."""
    saved = saved_by_transformers_5(folder, tmp_path / "finetuned")
    loaded = smolvlm.load(str(saved), CPU, torch.float32)
    assert loaded.settings == adapter.settings
    assert loaded.frame_transform.key == adapter.frame_transform.key
    assert loaded.image_processor.to_dict() == adapter.image_processor.to_dict()
    processor = json.loads((saved / "processor_config.json").read_text())
    processor["video_processor"].update(size={"longest_edge": 48}, fps=2)
    processor["video_processor"]["video_sampling"].update(fps=3, max_frames=5)
    (saved / "processor_config.json").write_text(json.dumps(processor))
    theirs = VIDEO_PROCESSING.SmolVLMVideoProcessor.from_pretrained(saved)
    settings = smolvlm.load(str(saved), CPU, torch.float32).settings
    assert (settings.video_longest_edge, settings.fps, settings.max_frames) == (48, theirs.fps, theirs.num_frames)
    assert (theirs.size["longest_edge"], theirs.fps, theirs.num_frames) == (48, 3, 5)


def test_a_nested_setting_is_named_with_its_place_in_processor_config(tmp_path, folder):
    saved = saved_by_transformers_5(folder, tmp_path / "finetuned")
    processor = json.loads((saved / "processor_config.json").read_text())
    processor["video_processor"]["video_sampling"]["fps"] = "one"
    (saved / "processor_config.json").write_text(json.dumps(processor))
    with pytest.raises(ModelLoadError) as refused:
        smolvlm.load(str(saved), CPU, torch.float32)
    assert str(refused.value) == (
        f"{saved / 'processor_config.json'}: video_processor.video_sampling.fps must be a positive number, not 'one'"
    )


def test_a_folder_without_an_image_processor_config_says_what_it_looked_for(tmp_path, folder):
    saved = saved_by_transformers_5(folder, tmp_path / "finetuned")
    processor = json.loads((saved / "processor_config.json").read_text())
    del processor["image_processor"]
    (saved / "processor_config.json").write_text(json.dumps(processor))
    with pytest.raises(ModelLoadError) as refused:
        smolvlm.load(str(saved), CPU, torch.float32)
    assert str(refused.value) == (
        f"{saved}: not a SmolVLM folder: the image processor config is missing (looked for preprocessor_config.json, "
        'and for "image_processor" in processor_config.json, where transformers 5 saves it)'
    )
