"""A run's manifest: what made its numbers (harness version and commit, model, benchmark, frames,
decoder, options, command line), written into every summary."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import fvlm_eval
from fvlm_eval.media.decode import video_decoder
from fvlm_eval.models.base import ModelAdapter
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks import Benchmark, distribution_of

# How ``--limit`` chooses its questions (``runner.select``); a manifest made before records none: round-robin
LIMIT_SELECTION = "stratified"


def git_commit() -> str | None:
    """The harness's own commit, only when it runs from its own checkout (never a user's repo's)."""
    top = (
        Path(fvlm_eval.__file__).resolve().parent.parent
    )  # the checkout holding the package, whatever this file's depth
    if (
        not (top / ".git").exists()
        or not (top / "pyproject.toml").is_file()
        or 'name = "fvlm-eval"' not in (top / "pyproject.toml").read_text()
    ):
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=top, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def manifest(benchmark: Benchmark, mode: str, settings: RunSettings, model: ModelAdapter, batch_size: int) -> dict:
    return {
        "package_version": fvlm_eval.__version__,
        "git_commit": git_commit(),
        "model": model.describe(),
        "benchmark": benchmark.name,
        "benchmark_settings": benchmark.settings(),
        "mode": mode,
        "frames": benchmark.sampling.describe(),
        "video_decoder": video_decoder(),
        "limit": settings.limit,
        "limit_selection": LIMIT_SELECTION if settings.limit is not None else None,  # which questions --limit took
        "batch_size": batch_size,
        "protocol": settings.protocol,
        "generate": settings.generate,
        "circular": settings.circular,
        "cloze_framing": settings.cloze_framing,
        "step": settings.step,
        "data_dir": os.path.realpath(settings.data_dir),  # absolute: a report made elsewhere finds it
        "shard": settings.shard.name if settings.shard else None,
        "command_line": settings.command_line or " ".join(sys.argv),
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # a plugin's benchmark: a report made once the plugin is uninstalled can name it
        **({"benchmark_plugin": plugin} if (plugin := distribution_of(benchmark.name)) else {}),
    }
