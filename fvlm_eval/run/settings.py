"""What a run is asked to do (``RunSettings``) and how it ended (``RunOutcome``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.errors import ExitCode
from fvlm_eval.protocols import DEFAULT_PROTOCOL
from fvlm_eval.run.shards import Shard
from fvlm_eval.summary import Summary


@dataclass(frozen=True)
class RunSettings:
    benchmarks: tuple[str, ...]
    modes: tuple[str, ...]
    data_dir: Path
    output_dir: Path
    limit: int | None = None
    frames: int | None = None
    batch_size: int | None = None  # None: the model's suggestion (from free GPU memory), else 16
    protocol: str = DEFAULT_PROTOCOL
    workers: int | None = None  # None: the CPUs this process may use (media.workers.usable_cpus), bounded by the work
    subtitles: bool = False
    generate: bool = False
    max_new_tokens: int = 16
    circular: bool = False  # also ask every question with its options rotated through every position
    cloze_framing: str = "plain"  # how the cloze formulation's prompt is framed: "plain" or "chat"
    model_sampling: bool = False  # the model's own video sampling instead of the benchmark's
    frame_cache: Path | None = None
    shard: Shard | None = None
    keep_going: bool = False
    command_line: str = ""
    step: int | None = None  # the training step of the checkpoint (manifest only; `fvlm-eval track` reads it)


@dataclass
class RunOutcome:
    summaries: dict[tuple[str, str], Summary] = field(default_factory=dict)
    exit_code: int = ExitCode.OK
    messages: list[str] = field(default_factory=list)  # what the user must hear at the end
