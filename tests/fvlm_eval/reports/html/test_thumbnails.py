"""How many processes make report.html's thumbnails by default."""

from __future__ import annotations

import os


def test_thumbnail_processes_default_to_the_cpus_this_process_may_use(monkeypatch):
    """Under taskset, a cpuset or SLURM (2 of 64 CPUs) the report said "8 processes" and started 8 on 2 CPUs:
    the default counted the machine's cores (os.cpu_count), not the CPUs it may use."""
    from fvlm_eval.reports.html.thumbnails import all_thumbnails

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    said = []
    tasks = [("media", "not a sampling", "transform", None, 4)] * 3  # each a quick "frames not available"
    found = all_thumbnails(tasks, None, said.append)
    assert said == ["report.html: thumbnails of 3 media (frame cache, else decoded; 2 processes)"]
    assert all("frames not available" in thumbnail["note"] for thumbnail in found)


def _thumbnail_pixel(transform_key: str) -> tuple:
    import base64
    import io

    import numpy as np
    from PIL import Image

    from fvlm_eval.reports.html.thumbnails import thumbnails
    from fvlm_eval.types import Media, Sampling

    page = np.zeros((32, 32, 4), np.uint8)  # black ink (fully transparent black page) with one opaque ink square
    page[8:16, 8:16] = (0, 0, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(page, "RGBA").save(buffer, "PNG")
    media = Media("image", "diagram.png", data=buffer.getvalue())
    found = thumbnails(media, Sampling("uniform", 8), transform_key, None, 1)
    strip = Image.open(io.BytesIO(base64.b64decode(found["jpeg"]))).convert("RGB")
    return strip.getpixel((2, 2))


def test_a_transparent_image_is_shown_as_the_runs_model_saw_it():
    """A SmolVLM2 run's model sees a transparent diagram on white (its processor's convert_to_rgb), but report.html
    decoded it for the thumbnail with the alpha dropped: an all-black page, not what was scored. fVLM's release drops
    the alpha: its runs' thumbnails stay black."""
    from fvlm_eval.models.base import FrameTransform
    from fvlm_eval.models.smolvlm.frames import SmolVLMFrameTransform

    assert min(_thumbnail_pixel(SmolVLMFrameTransform(tile=384, longest_edge=384).key)) > 240
    assert max(_thumbnail_pixel(FrameTransform((224, 224)).key)) < 15
