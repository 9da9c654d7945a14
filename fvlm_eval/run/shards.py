"""Sharded runs: each shard (``--shard i/n``, or a torchrun rank) scores whole videos into its own
record file and leaves a completion marker; ``merge`` joins finished shards of every (benchmark, mode)
folder into ``samples.jsonl`` and ``summary.json``, refusing, with the reason, shards that are
missing, unfinished or made otherwise."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.files import not_a_folder, read_json
from fvlm_eval.records import Record
from fvlm_eval.run.folder import SAMPLES, read_all_records, write_summary
from fvlm_eval.run.lock import FolderLock
from fvlm_eval.summary import Summary
from fvlm_eval.tasks import get_benchmark
from fvlm_eval.types import Question
from fvlm_eval.wording import agreeing, counted


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @property
    def name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    @staticmethod
    def parse(text: str) -> "Shard":
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or not 0 <= int(match.group(1)) < int(match.group(2)) <= 100_000:
            raise ValueError(f"--shard {text}: expected i/n with 0 <= i < n <= 100000, e.g. 0/4")
        return Shard(int(match.group(1)), int(match.group(2)))


def shard_media(by_media: dict[str, list[Question]], frames: int, shard: Shard) -> set[str]:
    """The media of shard ``shard``: whole videos (all their questions), balanced by work (frames
    plus questions), the heaviest first to the lightest shard; the same for every process."""
    load = [0] * shard.count
    mine = set()
    for key in sorted(by_media, key=lambda k: (-(frames + len(by_media[k])), k)):
        target = min(range(shard.count), key=lambda i: (load[i], i))
        load[target] += frames + len(by_media[key])
        if target == shard.index:
            mine.add(key)
    return mine


class MergeRefused(FvlmEvalError, RuntimeError):
    """Shards that cannot be joined yet (missing, unfinished, or made with other settings)."""


def _asked(marker: dict) -> str:
    """How a shard asked its questions beyond the settings: "--generate --max-new-tokens N" or "no
    --generate", and "--circular" or "no --circular"."""
    generate = marker.get("generate", marker.get("manifest", {}).get("generate"))
    circular = marker.get("circular", marker.get("manifest", {}).get("circular"))
    return (f"--generate --max-new-tokens {marker.get('max_new_tokens')}" if generate else "no --generate") + (
        ", --circular" if circular else ", no --circular"
    )


def merge(run_dir: Path, say: Callable[[str], None] | None = None) -> dict[tuple[str, str], Summary]:
    """Join the shards of every (benchmark, mode) folder under ``run_dir`` into ``samples.jsonl`` and
    ``summary.json``; refuses, naming what is wrong, when a shard is missing, unfinished or mismatched.
    A run merged already is no error: ``say`` (default: a ``note:`` line on stderr) tells it, and its
    summaries are returned as they are. Shard lock files no process holds are removed from the folders merged."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MergeRefused(f"{run_dir}: {not_a_folder(run_dir)}")
    folders = sorted({p.parent for p in run_dir.glob("*/*/shard-*-of-*.json")})
    if not folders:
        unfinished = sorted(p for p in run_dir.glob("*/*/samples.shard-*-of-*.jsonl") if p.stat().st_size)
        if unfinished or not list(run_dir.glob("*/*/summary.json")):
            started = f"; {unfinished[0]} holds records of a shard that has not finished" if unfinished else ""
            raise MergeRefused(f"{run_dir}: no shard results (*/*/shard-I-of-N.json) to merge{started}")
        for folder in sorted({p.parent for p in run_dir.glob("*/*/.fvlm-eval.shard-*-of-*.lock")}):
            _remove_shard_locks(folder)  # those an earlier merge left behind
        (say or _note)(f"{run_dir}: merged already (every finished shard is in samples.jsonl): nothing left to merge")
        return _merged(run_dir)
    summaries = {}
    for folder in folders:
        lock = FolderLock(folder).acquire()
        try:
            summaries.update(_merge_folder(folder))
            _remove_shard_locks(folder)
        finally:
            lock.release()
    return summaries


def _note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr, flush=True)


def _merged(run_dir: Path) -> dict[tuple[str, str], Summary]:
    """The summaries a run folder holds (one of another version, or unreadable, is left out: a report says why)."""
    found = {}
    for path in sorted(run_dir.glob("*/*/summary.json")):
        try:
            found[(path.parent.parent.name, path.parent.name)] = Summary.from_json(read_json(path))
        except (FvlmEvalError, KeyError, TypeError, ValueError, AttributeError):
            continue
    return found


def _remove_shard_locks(folder: Path) -> None:
    """The shard lock files of a merged folder, each unless a process holds it."""
    for path in sorted(folder.glob(".fvlm-eval.shard-*-of-*.lock")):
        FolderLock(folder, path.name).remove_if_free()


def _merge_folder(folder: Path) -> dict[tuple[str, str], Summary]:
    markers = {}
    needed = (
        "shard",
        "of",
        "benchmark",
        "mode",
        "settings",
        "order",
        "question_sha256",
        "notes",
        "problems",
        "protocol",
        "manifest",
        "timing",
    )
    for path in sorted(folder.glob("shard-*-of-*.json")):
        marker = read_json(path)
        if not isinstance(marker, dict) or any(key not in marker for key in needed):
            raise MergeRefused(f"{path}: not a shard result of this version of fvlm-eval; rerun that shard")
        markers[(marker["shard"], marker["of"])] = marker
    counts = {of for _, of in markers}
    if len(counts) != 1:
        raise MergeRefused(
            f"{folder}: shards of different splits ({', '.join(f'of {n}' for n in sorted(counts))}); "
            "remove the stale shard-*.json files of the old split"
        )
    count = counts.pop()
    missing = [i for i in range(count) if (i, count) not in markers]
    unfinished = MergeRefused(
        f"{folder}: shard(s) {', '.join(map(str, missing))} of {count} have not finished; "
        "run them (--shard i/n) and merge again"
    )
    started = [i for i in missing if (folder / f"samples.shard-{i}-of-{count}.jsonl").is_file()]
    if missing and (started or not (folder / SAMPLES).is_file()):  # no merged records to stand for them
        raise unfinished
    first = markers[min(markers)]
    settings = read_json(folder / "settings.json") if (folder / "settings.json").is_file() else first["settings"]
    for (index, _), marker in markers.items():
        if marker["settings"] != settings or marker["order"] != first["order"]:
            raise MergeRefused(f"{folder}: shard {index} of {count} was made with other settings or questions")
    asked = {index: _asked(marker) for (index, _), marker in sorted(markers.items())}
    if len(set(asked.values())) > 1:
        told = "; ".join(f"shard {index}: {text}" for index, text in asked.items())
        raise MergeRefused(
            f"{folder}: the shards did not all ask their questions alike ({told}); rerun the shards that "
            "differ with the same --generate, --max-new-tokens and --circular, then merge"
        )
    steps = {index: marker["manifest"].get("step") for (index, _), marker in sorted(markers.items())}
    if len(set(steps.values())) > 1:  # merged, shard 0's would be the run's, and track would place it there
        told = "; ".join(f"shard {index}: {'none' if step is None else step}" for index, step in steps.items())
        raise MergeRefused(
            f"{folder}: the shards recorded different training steps ({told}); rerun the shards that differ with "
            "the same --step (without it, a .pt checkpoint's own step is taken), then merge"
        )
    hashes = first["question_sha256"]
    for (index, _), marker in sorted(markers.items()):
        differ = [i for i in first["order"] if marker["question_sha256"].get(i) != hashes.get(i)]
        if differ:  # not "a shard stopped early": rerunning either would not help
            raise MergeRefused(
                f"{folder}: shards {first['shard']} and {index} of {count} were made from different annotations or "
                f"prompts ({counted(len(differ), 'question')} differ, e.g. {differ[0]}); rerun every shard on the "
                "same data, then merge"
            )
    records = read_all_records(folder)
    if missing and not all(_stands_for(records.get(i), hashes[i], first) for i in first["order"]):
        raise unfinished  # merged records stand for the shards not rerun only when they hold what these asked
    absent = [i for i in first["order"] if i not in records or records[i].question_sha256 != hashes[i]]
    if absent:
        raise MergeRefused(
            f"{folder}: {counted(len(absent), 'question')} {agreeing(len(absent), 'has', 'have')} no record yet (e.g. "
            f"{absent[0]}); a shard stopped "
            "early: rerun it and merge again"
        )
    benchmark = get_benchmark(first["benchmark"], subtitles=first.get("subtitles", False))
    timing = {
        "seconds": max(m["timing"]["seconds"] for m in markers.values()),
        "scored_this_invocation": sum(m["timing"]["scored_this_invocation"] for m in markers.values()),
        "failed_this_invocation": sum(m["timing"]["failed_this_invocation"] for m in markers.values()),
        "clips": {k: sum(m["timing"]["clips"][k] for m in markers.values()) for k in first["timing"]["clips"]},
        "shards": count,
    }
    summary = write_summary(
        folder,
        benchmark,
        first["order"],
        first["protocol"],
        first["notes"],
        first["problems"],
        {**first["manifest"], "shard": None, "merged_shards": count},
        timing,
    )
    for path in folder.glob("shard-*-of-*.json"):
        path.unlink()
    return {(first["benchmark"], first["mode"]): summary}


def _stands_for(record: Record | None, sha256: str, marker: dict) -> bool:
    """Whether a merged record counts as done for a shard not rerun since the merge: made from this question,
    and (unless it failed: it counts as wrong, as it did) holding what the shards rerun asked."""
    if record is None or record.question_sha256 != sha256:
        return False
    generate = marker.get("generate", marker["manifest"].get("generate"))
    circular = marker.get("circular", marker["manifest"].get("circular"))
    return record.failed or (
        (not generate or (record.generated or {}).get("max_new_tokens") == marker.get("max_new_tokens"))
        and (not circular or record.circular is not None)
    )
