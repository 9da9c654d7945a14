"""SmolVLM2's frame preparation, run by the harness in its decoding workers (what the frame cache stores).

Video frames are resized as transformers' ``SmolVLMVideoProcessor.resize`` does: the longest edge to the video
processor's ``size`` (capped at 4096, its ``MAX_IMAGE_SIZE``; the other edge scaled, truncated and rounded up to
even), then to the square tile S x S, both with the folder's filter. transformers runs that resize in torchvision,
which has no LANCZOS before 0.27 on CPU (it falls back to BICUBIC there); the harness runs it in PIL, the same on
every machine, so pixels may differ from transformers' by its filter's rounding, not by the sizes. Images pass as
they are (SmolVLM's own image processor tiles them), their transparency composited onto white by the decoder
(``images_on_white``), as transformers' ``convert_to_rgb`` does in that processor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fvlm_eval.media.decode import ON_WHITE

MAX_FRAME_EDGE = 4096  # transformers' MAX_IMAGE_SIZE: SmolVLM's video processor never resizes a frame above it
# PIL's filters by the number a processor config holds (``resample``), as transformers' PILImageResampling numbers them
PIL_FILTERS = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def first_resize(width: int, height: int, longest: int) -> tuple[int, int]:
    """(width, height) after the first resize: transformers' smolvlm ``get_resize_output_image_size``."""
    longest = min(MAX_FRAME_EDGE, longest)
    ratio = width / height
    if width >= height:
        width, height = longest, int(longest / ratio)
        height += height % 2
    else:
        height, width = longest, int(longest * ratio)
        width += width % 2
    return max(width, 1), max(height, 1)


@dataclass(frozen=True)
class SmolVLMFrameTransform:
    """uint8 video frames [N,H,W,3] -> [N,S,S,3]: the longest edge to ``longest_edge``, then S x S (``tile``), with
    PIL's ``resample`` filter (a name of ``PIL_FILTERS``); images as they are. ``key`` names it in frame-cache keys:
    equal keys, equal pixels (an image composited onto white is never served to a model that drops the alpha)."""

    tile: int
    longest_edge: int
    resample: str = "lanczos"
    images_on_white = True  # read by the decoder: an image's transparency onto white, not dropped

    @property
    def key(self) -> str:
        edge = min(MAX_FRAME_EDGE, self.longest_edge)
        return f"pil-{self.resample}-edge{edge}-{self.tile}x{self.tile}-images-as-is{ON_WHITE}"

    def __call__(self, frames: np.ndarray, kind: str) -> np.ndarray:
        if kind == "image":
            return frames
        return np.stack([self._one(frame) for frame in frames])

    def _one(self, frame: np.ndarray) -> np.ndarray:
        from PIL import Image

        method = Image.Resampling[self.resample.upper()]
        image = Image.fromarray(frame)
        image = image.resize(first_resize(image.width, image.height, self.longest_edge), method)
        return np.asarray(image.resize((self.tile, self.tile), method))
