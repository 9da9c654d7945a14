"""Sharded runs: each shard (``--shard i/n``, or a torchrun rank) scores whole videos into its own
record file and leaves a completion marker; ``merge`` joins finished shards of every (benchmark, mode)
folder into ``samples.jsonl`` and ``summary.json``, refusing, with the reason, shards that are
missing, unfinished (stopped, or still being written) or made otherwise, folder by folder: the
others are merged all the same."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.files import not_a_folder, read_json
from fvlm_eval.folder_holders import writers
from fvlm_eval.models import family_module
from fvlm_eval.records import Record
from fvlm_eval.run.folder import SAMPLES, read_all_records, write_summary
from fvlm_eval.run.lock import FolderLock, RunRefused
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
    """Shards that cannot be joined yet (missing, unfinished, or made with other settings). ``merged``: the
    summaries of the folders that were joined all the same (their shards had all finished)."""

    def __init__(self, message: str, merged: dict[tuple[str, str], Summary] | None = None):
        super().__init__(message)
        self.merged = merged or {}


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
    ``summary.json``, in the order a run shows them (``in_run_order``). A folder whose shards are missing,
    unfinished (records but no completion marker: stopped, killed, or still running) or mismatched is not
    joined: every other one is, then ``MergeRefused`` names each such folder and what to do (``merged``: what
    was joined). A run merged already is no error: ``say`` (default: a ``note:`` line on stderr) tells it, and
    its summaries are returned as they are. Shard lock files no process holds are removed from the folders
    merged."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MergeRefused(f"{run_dir}: {not_a_folder(run_dir)}")
    folders = sorted({p.parent for p in run_dir.glob("*/*/shard-*-of-*.json")})
    unfinished = _unfinished(run_dir, set(folders))
    if not folders and not unfinished:
        if not list(run_dir.glob("*/*/summary.json")):
            raise MergeRefused(f"{run_dir}: no shard results (*/*/shard-I-of-N.json) to merge")
        for folder in sorted({p.parent for p in run_dir.glob("*/*/.fvlm-eval.shard-*-of-*.lock")}):
            remove_shard_locks(folder)  # those an earlier merge left behind
        (say or _note)(f"{run_dir}: merged already (every finished shard is in samples.jsonl): nothing left to merge")
        return in_run_order(_merged(run_dir))
    summaries, refused = {}, []
    for folder in folders:
        try:
            lock = FolderLock(folder).acquire()
        except RunRefused as error:  # a shard (or a run) still writes it
            who = writers([folder]).get(folder)
            refused.append(
                f"{folder}: being written now by {who.here}: merge once it ends"
                if who and who.here
                else error.cli_message
            )
            continue
        try:
            summaries.update(_merge_folder(folder))
            remove_shard_locks(folder)
        except MergeRefused as error:
            refused.append(str(error))
        finally:
            lock.release()
    summaries = in_run_order(summaries)
    if unfinished or refused:
        done = ", ".join(f"{b}/{m}" for b, m in summaries)
        merged = f"merged {done} under {run_dir} (their shards had all finished); " if summaries else ""
        raise MergeRefused(merged + "; ".join(unfinished + refused), summaries)
    return summaries


def _unfinished(run_dir: Path, marked: set[Path]) -> list[str]:
    """Folders with shard records but no shard's completion marker, grouped by what is to be done: the shards
    being written now (merge once they end), or stopped or killed before their marker (rerun them)."""
    shards: dict[Path, list[str]] = {}
    for path in sorted(run_dir.glob("*/*/samples.shard-*-of-*.jsonl")):
        match = re.fullmatch(r"samples\.shard-(\d+)-of-(\d+)\.jsonl", path.name)
        if path.parent not in marked and match and path.stat().st_size:
            shards.setdefault(path.parent, []).append(f"{match.group(1)}/{match.group(2)}")
    live = writers(shards)
    said: dict[str, list[str]] = {}
    for folder, names in shards.items():
        which = f"shard{'s' if len(names) > 1 else ''} {', '.join(names)}"
        if folder in live and live[folder].here:
            what = f"{which} recorded questions and {'are' if len(names) > 1 else 'is'} being written now by "
            what += f"{live[folder].here}: merge once {'they end' if len(names) > 1 else 'it ends'}"
        else:
            what = (
                f"{which} recorded questions but never finished (stopped or killed before the completion marker, "
                f"shard-I-of-N.json): rerun {'them' if len(names) > 1 else 'it'} to resume (the same `fvlm-eval run "
                "... --shard I/N` command; under torchrun, the same torchrun command), then merge again"
            )
        said.setdefault(what, []).append(str(folder.relative_to(run_dir)))
    return [f"{run_dir}: {', '.join(where)}: {what}" for what, where in said.items()]


def _note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr, flush=True)


def in_run_order(summaries: dict[tuple[str, str], Summary]) -> dict[tuple[str, str], Summary]:
    """``summaries`` in the order a run shows them, not by folder name: benchmarks in the order they were scored
    (their summaries' ``created``; the registry's order within a second), each one's modes in its model family's
    order (``coarse_only``, ``coarse_fine``, ``autoregressive``); what is not known, after, by name."""
    from fvlm_eval.tasks import BENCHMARKS  # made when first used: loading plugins on import slowed --help

    registry = list(BENCHMARKS)
    started: dict[str, str] = {}
    for (benchmark, _), summary in summaries.items():
        created = str(summary.manifest.get("created") or "")
        started[benchmark] = min(started.get(benchmark, created), created)

    def place(key: tuple[str, str]) -> tuple:
        benchmark, mode = key
        variants = _variants(summaries[key].manifest.get("model"))
        return (
            started[benchmark],
            registry.index(benchmark) if benchmark in registry else len(registry),
            benchmark,
            variants.index(mode) if mode in variants else len(variants),
            mode,
        )

    return {key: summaries[key] for key in sorted(summaries, key=place)}


def _variants(model: object) -> tuple[str, ...]:
    """The modes of the family a manifest's ``model`` names, in its order (none for a family not installed now)."""
    family = model.get("family") if isinstance(model, dict) else None
    if not isinstance(family, str):
        return ()
    try:
        return tuple(family_module(family).VARIANTS)
    except (FvlmEvalError, ImportError, AttributeError, TypeError):
        return ()


def _merged(run_dir: Path) -> dict[tuple[str, str], Summary]:
    """The summaries a run folder holds (one of another version, or unreadable, is left out: a report says why)."""
    found = {}
    for path in sorted(run_dir.glob("*/*/summary.json")):
        try:
            found[(path.parent.parent.name, path.parent.name)] = Summary.from_json(read_json(path))
        except (FvlmEvalError, KeyError, TypeError, ValueError, AttributeError):
            continue
    return found


def remove_shard_locks(folder: Path) -> None:
    """The shard lock files of a merged folder (or one a whole run has summarised), each unless a process holds
    it."""
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
    headlines = {index: marker["protocol"] for (index, _), marker in sorted(markers.items())}
    if len(set(headlines.values())) > 1:  # merged, shard 0's would be the run's headline, which regress compares
        told = "; ".join(f"shard {index}: {protocol}" for index, protocol in headlines.items())
        raise MergeRefused(
            f"{folder}: the shards were given different headline protocols ({told}); rerun the shards that differ "
            "with the same --protocol (it scores nothing again), then merge"
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
