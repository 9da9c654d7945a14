"""Thumbnails for the question browser: a strip of a few of a media's sampled frames, read from the
frame cache when the run's entry is there, else decoded once with the run's sampling; made in worker
processes when there are many (``thumbnail_pool``), which end with the report that started them, even
when it is killed by SIGKILL (``media.workers.die_with_parent``, as the run's decoding workers do)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from fvlm_eval.types import Sampling

THUMBNAILS = 4  # per media, evenly spread over its sampled frames
THUMB_HEIGHT = 48  # px (benchmarks/RESULTS.md: file size and open time at the full suite's size)
THUMB_QUALITY = 60  # JPEG


def parse_sampling(text: str) -> Sampling:
    """The inverse of ``Sampling.describe`` (``uniform:64``, ``fps:64@1fps-whole``, ``fps_spread:64@1fps-skip1s``;
    an older run's ``fps:64@1fps`` is read as today's ``fps``)."""
    match = re.fullmatch(r"(\w+):(\d+)(?:@([\d.]+)fps)?(?:-skip([\d.]+)s)?(?:-whole)?", text or "")
    if not match:
        raise ValueError(f"not a sampling description: {text!r}")
    policy, frames, fps, skip = match.groups()
    return Sampling(policy, int(frames), float(fps) if fps else None, float(skip) if skip else 0.0)


def _strip(frames, labels: list[str]) -> dict:
    """Frames (uint8 HxWx3) as one JPEG strip THUMB_HEIGHT tall, base64, with each frame's width."""
    from PIL import Image

    images = []
    for frame in frames:
        image = Image.fromarray(frame)
        width = max(1, round(image.width * THUMB_HEIGHT / max(image.height, 1)))
        images.append(image.resize((width, THUMB_HEIGHT), Image.BILINEAR))
    strip = Image.new("RGB", (sum(i.width for i in images), THUMB_HEIGHT))
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width
    buffer = io.BytesIO()
    strip.save(buffer, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return {
        "jpeg": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "widths": [i.width for i in images],
        "labels": labels,
    }


def _pick(count: int, wanted: int) -> list[int]:
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)}) if wanted > 1 else [count // 2]


def thumbnails(media, sampling: Sampling, transform_key: str | None, cache_dir: Path | None, count: int) -> dict:
    """A thumbnail strip of ``count`` of the media's sampled frames, or ``{"note": why not}``; a transparent
    image as the run's model saw it (on white where its transform's key says so, else its alpha dropped)."""
    from fvlm_eval.media import MediaError
    from fvlm_eval.media.decode import ON_WHITE, decode
    from fvlm_eval.media.frame_cache import FrameCache

    clip = None
    if cache_dir is not None and transform_key:
        cache = FrameCache(cache_dir)
        try:
            clip, _ = cache.get(cache.key(media, sampling, transform_key), media)
        except OSError:
            clip = None
    try:
        if clip is not None:
            frames, frame_map, indices, times = clip.frames, clip.frame_map, clip.indices, clip.timestamps
            source = "frame cache"
        else:
            decoded = decode(media, sampling, images_on_white=(transform_key or "").endswith(ON_WHITE))
            frames, frame_map, indices, times = decoded.frames, decoded.frame_map, decoded.indices, decoded.timestamps
            source = "decoded"
        chosen = _pick(len(frame_map), count)
        labels = [f"#{indices[i]}" + (f" {times[i]:.1f}s" if times else "") for i in chosen]
        return {**_strip([frames[frame_map[i]] for i in chosen], labels), "source": source, "sampled": len(frame_map)}
    except MediaError as error:
        return {"note": f"frames not available: {error}"}
    except Exception as error:  # a thumbnail must never stop the report
        return {"note": f"frames not available: {type(error).__name__}: {error}"}


def _thumbnail_task(task: tuple) -> dict:
    media, sampling_text, transform_key, cache_dir, count = task
    try:
        sampling = parse_sampling(sampling_text)
    except ValueError as error:
        return {"note": f"frames not available: {error}"}
    return thumbnails(media, sampling, transform_key, cache_dir, count)


def all_thumbnails(tasks: list[tuple], workers: int | None, say=None) -> list[dict]:
    """Every media's thumbnails, in order: in ``workers`` processes (default: the CPUs this process may use, at
    most 8: under taskset, a cpuset or SLURM fewer than the machine's cores) when there are many, else here."""
    from fvlm_eval.media.workers import usable_cpus

    workers = min(usable_cpus(), 8) if workers is None else workers
    if say and tasks:
        say(f"report.html: thumbnails of {len(tasks)} media (frame cache, else decoded; {max(workers, 1)} processes)")
    if workers <= 1 or len(tasks) < 64:  # a pool costs seconds to start
        return [_thumbnail_task(task) for task in tasks]
    with thumbnail_pool(workers) as pool:
        return list(pool.map(_thumbnail_task, tasks, chunksize=8))


def thumbnail_pool(workers: int):
    """A pool of ``workers`` spawned processes, each of which ends when this process ends, however it ends
    (no worker is left running under init after a SIGKILL of the report)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from fvlm_eval.media.workers import die_with_parent

    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
