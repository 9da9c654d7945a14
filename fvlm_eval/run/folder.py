"""A run's output folder: the settings it was made with, its record files, and its summary (locks: ``lock``).

Per (benchmark, mode) a folder holds ``samples.jsonl`` (or, while sharded, one
``samples.shard-I-of-N.jsonl`` per shard plus a ``shard-I-of-N.json`` completion marker),
``settings.json`` (what a resumed run must match, and where its data is) and ``summary.json``. One process holds a
folder at a time (``lock.FolderLock``); ``shards.merge`` joins finished shards into ``samples.jsonl`` and
``summary.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

from fvlm_eval.errors import RecordError
from fvlm_eval.files import DATA_DIR_FILE, read_json, write_json_atomic
from fvlm_eval.models.base import ModelAdapter
from fvlm_eval.protocols import recorded_framing
from fvlm_eval.records import Record, latest_by_id, read_records, write_records
from fvlm_eval.run.lock import RunRefused, created, models_decided
from fvlm_eval.summarize import summarize_records
from fvlm_eval.summary import Summary
from fvlm_eval.tasks import Benchmark
from fvlm_eval.types import IDENTITY_ADDED_SINCE, identity_keys

SAMPLES = "samples.jsonl"
ADDED_SINCE = IDENTITY_ADDED_SINCE  # settings recorded since: a folder made before is compared without them


def comparable_settings(benchmark: Benchmark, mode: str, model: ModelAdapter, cloze_framing: str) -> dict:
    """What must not change between a run and its resumption (or between two compared runs)."""
    description = model.describe()
    one_frame = not benchmark.uses_images and benchmark.sampling.frames == 1 and description.get("single_frame")
    return {
        "benchmark": benchmark.name,
        "mode": mode,
        **benchmark.settings(),
        "family": description.get("family"),
        "model_sha256": description.get("sha256"),
        "model_build_sha256": description.get("build_sha256"),  # its config, tokenizer, chat template
        "prompt": description.get("prompt_format"),
        "cloze_framing": cloze_framing,
        "frame_transform": description.get("frame_transform"),
        "dtype": description.get("dtype"),
        **({"single_frame": description["single_frame"]} if one_frame else {}),  # how a model shows one frame
    }


def check_settings(folder: Path, current: dict, data_dir: Path | None = None) -> None:
    """Refuse ``folder`` when what is in it was made otherwise (``settings_refusal``); a new folder gets
    ``current`` as its ``settings.json``, once the output folder's other runs are known to be this model's.
    ``data_dir`` is recorded beside it (``DATA_DIR_FILE``, absolute, never compared: data moved is the same run): a
    summary names it only at the run's end, and a report of a run still writing, or killed before it, shows its
    questions from there. A resumed folder's files are left as they are (a run refused later leaves the folder as
    it found it)."""
    refused = settings_refusal(folder, current)
    if refused is not None:
        raise refused
    path = folder / "settings.json"
    if not path.is_file():
        with models_decided(folder.parent.parent):  # two models' runs started together: one is refused
            _one_model(folder, current)
            write_json_atomic(path, current)
        created(folder, path.name)  # taken away again if the run writes nothing beside it (refused later, stopped)
        if data_dir is not None:
            write_json_atomic(folder / DATA_DIR_FILE, {"data_dir": os.path.realpath(data_dir)})
            created(folder, DATA_DIR_FILE)


def _why_sampling(previous: dict, current: dict) -> str:
    """Why the same command is now another sampling, where it is fVLM's own of before (``fps:64@1fps``, exact
    seconds, now ``...-whole``: whole frames, as its release steps)."""
    before, now = str(previous.get("sampling", "")), str(current.get("sampling", ""))
    if now.endswith("-whole") and before == now.removesuffix("-whole"):
        return ": fVLM's own sampling now steps by whole frames, as its release decodes; that folder took exact seconds"
    return ""


def _framing_recorded(folder: Path, asked: str) -> str | None:
    """The cloze framing of a folder made before settings.json recorded it, as its records hold it (every one
    since the cloze formulation was recorded): a folder made with the framing asked was refused as "cloze_framing
    differs"; ``asked`` when no record holds one (nothing to mix), None when they hold several."""
    records = [r for r in read_all_records(folder).values() if isinstance(r.cloze, dict)]
    return recorded_framing(records) if records else asked


def settings_refusal(folder: Path, current: dict) -> RunRefused | None:
    """Why a run made with ``current`` must not write into ``folder`` (its settings.json differs or is no
    object, or records lie there without one), else None; nothing is written (a run asks this of every
    benchmark's folders before it scores the first)."""
    path = folder / "settings.json"
    if path.is_file():
        previous = read_json(path)
        if not isinstance(previous, dict):
            return RunRefused(
                f"{path}: not a settings object, so what made the records beside it is unknown; use another "
                "--output-dir or remove that folder"
            )
        if "cloze_framing" in current and "cloze_framing" not in previous:  # made before it was a setting
            previous["cloze_framing"] = _framing_recorded(folder, current["cloze_framing"])
        current = {k: v for k, v in current.items() if k in previous or k not in ADDED_SINCE}  # an older folder
        if previous != current:
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            return RunRefused(
                f"{folder} holds records made with other settings ({', '.join(changed)} "
                f"{'differs' if len(changed) == 1 else 'differ'}{_why_sampling(previous, current)}); "
                "use another --output-dir or remove that folder"
            )
        return None
    recorded = [f.name for f in record_files(folder) if f.is_file() and f.stat().st_size]
    if recorded:  # records of unknown settings: any model, frames or dtype could have made them
        return RunRefused(
            f"{folder} holds records ({', '.join(recorded)}) but no settings.json, so what made them is unknown; "
            "use another --output-dir, or remove those record files to score again"
        )
    return None


def _one_model(folder: Path, current: dict) -> None:
    """Refuse a new ``<benchmark>/<mode>`` folder in an output folder whose other runs another model made (another
    checkpoint, family or dtype): a report would show them side by side as one run."""
    output = folder.parent.parent
    for other in sorted(output.glob("*/*/settings.json")):
        if other.parent == folder:
            continue
        try:
            settings = read_json(other)
        except RecordError:
            continue  # unreadable: said where it is read
        if not isinstance(settings, dict):
            continue  # no settings object: said where it is read
        differ = [k for k in identity_keys(settings, current) if settings.get(k) != current.get(k)]
        if differ:
            shown = "; ".join(f"{k} {str(settings.get(k))[:12]!r} vs {str(current.get(k))[:12]!r}" for k in differ)
            raise RunRefused(
                f"{output} holds another model's runs ({other.parent.relative_to(output)}: {shown}): one output "
                "folder holds one model's; use another --output-dir"
            )


def record_files(folder: Path) -> list[Path]:
    """``samples.jsonl`` and every shard's record file in ``folder`` (the merged one first)."""
    return [folder / SAMPLES] + sorted(folder.glob("samples.shard-*.jsonl"))


def read_all_records(folder: Path) -> dict[str, Record]:
    """One record per id over every record file; the most recently recorded wins."""
    merged: dict[str, Record] = {}
    for path in record_files(folder):
        for record in latest_by_id(read_records(path)).values():
            if record.id not in merged or record.recorded_at >= merged[record.id].recorded_at:
                merged[record.id] = record
    return merged


def consolidate(folder: Path, order: list[str]) -> dict[str, Record]:
    """Fold every shard record file of ``folder`` into ``samples.jsonl`` (the selected questions in
    order, then any other recorded ids: nothing recorded is dropped), and remove the shard files."""
    records = read_all_records(folder)
    shard_files = list(folder.glob("samples.shard-*.jsonl"))
    if shard_files:
        chosen = set(order)
        write_records(
            folder / SAMPLES,
            [records[i] for i in order if i in records] + [records[i] for i in sorted(records) if i not in chosen],
        )
        for path in shard_files:
            path.unlink()
    return records


def write_summary(
    folder: Path, benchmark: Benchmark, order: list[str], protocol: str, notes, problems, manifest_: dict, timing: dict
) -> Summary:
    """``summary.json`` of one (benchmark, mode) folder from its records of the selected questions
    (shard record files left by an earlier sharded attempt are folded in first)."""
    records = consolidate(folder, order)
    selected = [records[i] for i in order if i in records]
    seconds = timing.get("seconds") or 0.0
    timing = {**timing, "questions_per_second": timing.get("scored_this_invocation", 0) / seconds if seconds else 0.0}
    summary = summarize_records(benchmark, folder.name, selected, len(order), protocol, notes, problems).replace(
        timing=_earlier_timing(folder, timing) if _scored_nothing(timing) else timing,
        manifest=manifest_,
        questions=tuple(i for i in order if i in records),
    )  # the selection this summary counts
    write_json_atomic(folder / "summary.json", summary.to_json())
    return summary


def _scored_nothing(timing: dict) -> bool:
    """Whether an invocation recorded no answer: nothing to score, or only failed questions asked again that
    failed again (a missing video is retried by every rerun: its 0.1 s had replaced the run's timing)."""
    return (timing.get("scored_this_invocation") or 0) <= (timing.get("failed_this_invocation") or 0)


def _earlier_timing(folder: Path, timing: dict) -> dict:
    """The timing of the summary a rerun that recorded no answer replaces, when that one did: such a rerun ("nothing
    to score", or failed questions failing again) wrote its own seconds and 0 clips decoded over the run's, and how
    long the scoring took and what the frame cache served were lost. Otherwise (no earlier summary, or one that
    recorded no answer either) ``timing``, this invocation's."""
    try:
        earlier = read_json(folder / "summary.json")
    except RecordError:
        return timing
    kept = earlier.get("timing") if isinstance(earlier, dict) else None
    return kept if isinstance(kept, dict) and not _scored_nothing(kept) else timing
