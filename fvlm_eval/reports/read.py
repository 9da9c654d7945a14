"""A run's summaries, computed from its records by the one rule of ``freshness.load_run_folder``.

The records are the truth: ``correct`` recomputed from pred and gold; a ``summary.json`` supplies
only its selection of questions, headline protocol, manifest and annotation problems, never a
number; every warning of that rule (a stale, missing or hand-edited summary, a summary with no
readable records) is collected, and one per folder whose generated answers were read by an older letter
reader (``letter_readings``: their letters may not be today's reading).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from fvlm_eval.errors import RecordError
from fvlm_eval.files import not_a_folder
from fvlm_eval.folder_holders import writers
from fvlm_eval.letter_readings import stale_readings, stale_readings_said
from fvlm_eval.protocols import DEFAULT_PROTOCOL
from fvlm_eval.reports import ReportError
from fvlm_eval.reports.freshness import RunFolder, load_run_folder
from fvlm_eval.reports.printable import printable
from fvlm_eval.reports.where import STOPPED_EARLY, WRITING_NOTHING_YET, not_a_run_hint
from fvlm_eval.summarize import mixed_answer_limits, summarize_records
from fvlm_eval.summary import Summary
from fvlm_eval.tasks import BENCHMARKS, get_benchmark
from fvlm_eval.types import identity_keys


def read_summaries(
    run: Path, warnings: list[str] | None = None, each: Callable[[RunFolder], None] | None = None
) -> dict[tuple[str, str], Summary]:
    """(benchmark, mode) -> the summary of each ``<benchmark>/<mode>`` folder of one run (see the module
    docstring); every warning is appended to ``warnings``; ``each``, when given, is handed every folder read,
    records and all (the report's question browser keeps what it shows of them: no folder is read twice). The
    records are let go folder by folder."""
    return {key: summary for key, (summary, _) in read_run(run, warnings, each=each, keep_records=False).items()}


def read_run(
    run: Path,
    warnings: list[str] | None = None,
    uninstalled: dict[tuple[str, str], dict] | None = None,
    *,
    each: Callable[[RunFolder], None] | None = None,
    keep_records: bool = True,
) -> dict[tuple[str, str], tuple[Summary, RunFolder]]:
    """(benchmark, mode) -> (its summary computed from its records, the folder as read by the one rule:
    its records, its ``summary.json``) for each ``<benchmark>/<mode>`` folder of one run; a run whose
    shards were not merged is refused, saying how to merge them. A benchmark that is not installed now (a
    plugin's, uninstalled since) is left out with one warning naming it and the plugin that made it (the whole
    run was refused, built-in benchmarks and all); ``uninstalled``, when given, receives each such folder's
    manifest, and a run holding nothing else is then no error. ``each``, when given, is handed each folder read
    (of a benchmark installed now) once its summary is made; without ``keep_records`` the folders returned hold
    no records (they are let go before the next folder is read: memory for one folder at a time)."""
    run = Path(run)
    if not run.is_dir():
        raise ReportError(f"{run}: {not_a_folder(run, 'no such run folder')}")
    shards = sorted(run.glob("*/*/samples.shard-*.jsonl"))
    if shards:
        live = [who.here for who in writers({p.parent for p in shards}).values() if who.here]
        raise ReportError(
            f"{run}: holds unmerged shards ({shards[0].relative_to(run)}); "
            + (
                f"shards are writing it now ({live[0]}): once every shard has finished, merge it (`fvlm-eval merge "
                f"{run}`; under torchrun, rank 0 merges) and report again"
                if live
                else f"run `fvlm-eval merge {run}` first (once every shard has finished)"
            )
        )
    found, left_out = {}, {}
    folders = sorted({p.parent for name in ("summary.json", "samples.jsonl") for p in run.glob(f"*/*/{name}")})
    for folder in folders:
        loaded = records = None  # the last folder's records go before this one's are read
        path = folder / "summary.json"
        try:
            loaded = load_run_folder(folder)
            stated = loaded.summary or {}
            if loaded.summary is not None:  # a summary of this version names these (its numbers are not read)
                for name in ("headline_protocol", "accuracy", "coverage"):
                    stated[name]
        except RecordError as error:
            raise ReportError(str(error)) from error
        except (KeyError, TypeError) as error:
            raise ReportError(f"{path}: not a summary of this version of fvlm-eval (no {error})") from error
        benchmark, mode = folder.parent.name, folder.name  # where the runner wrote them, as regress pairs them
        if benchmark not in BENCHMARKS:
            manifest = stated.get("manifest") if isinstance(stated.get("manifest"), dict) else {}
            left_out.setdefault(benchmark, (manifest.get("benchmark_plugin"), []))[1].append(mode)
            if uninstalled is not None:
                uninstalled[(benchmark, mode)] = manifest
            continue
        records = list(loaded.records.values())
        coverage = stated.get("coverage") if isinstance(stated.get("coverage"), dict) else {}
        selected = coverage.get("selected")
        selected = selected if isinstance(selected, int) and selected >= len(records) else len(records)
        problems = [
            p for p in stated.get("problems") or [] if isinstance(p, dict) and isinstance(p.get("expected", 0), int)
        ]
        notes = [n for n in stated.get("notes") or [] if isinstance(n, str)]
        headline = loaded.headline_protocol or DEFAULT_PROTOCOL  # no summary to name it: the run's default
        summary = summarize_records(get_benchmark(benchmark), mode, records, selected, headline, notes, problems)
        summary = summary.replace(manifest=stated.get("manifest") if isinstance(stated.get("manifest"), dict) else {})
        if warnings is not None:
            warnings.extend(loaded.warnings)
            if not loaded.warnings and loaded.summary is not None:
                warnings.extend(_disagreement(path, stated, summary))
            mixed = mixed_answer_limits(records)
            if mixed:
                warnings.append(f"{folder}: {mixed}")
            stale = stale_readings(records)  # letters another reader read: not today's rule's, maybe
            if stale:
                warnings.append(f"{folder}: {stale_readings_said(len(stale), run)}")
        if each is not None:
            each(loaded)
        found[(benchmark, mode)] = (summary, loaded if keep_records else dataclasses.replace(loaded, records={}))
    said = [_not_installed(run, benchmark, plugin, modes) for benchmark, (plugin, modes) in left_out.items()]
    if left_out and not found and uninstalled is None:
        raise ReportError(f"{run}: nothing to read: {'; '.join(said)}")
    if warnings is not None:
        warnings.extend(said)
        warnings.extend(_models_mixed(run, [loaded for _, loaded in found.values()]))
        warnings.extend(_settings_only(sorted({p.parent for p in run.glob("*/*/settings.json")} - set(folders))))
    if not found and not left_out:
        raise ReportError(f"{run}: no <benchmark>/<mode>/summary.json under it; {not_a_run_hint(run)}")
    return found


def _settings_only(folders: list[Path]) -> list[str]:
    """A warning per folder holding settings.json only: a run writing it now that has recorded nothing yet
    (this machine's process holds its lock), else one SIGKILLed before its first record, to be rerun."""
    live = writers(folders) if folders else {}
    said = []
    for folder in folders:
        who = live.get(folder)
        if who and who.here:
            said.append(f"{folder}: a run ({who.here}) is {WRITING_NOTHING_YET}: not shown; report again when it ends")
        else:
            elsewhere = f" (unless it still runs: its lock names {who.elsewhere})" if who else ""
            said.append(f"{folder}: its run was {STOPPED_EARLY}{elsewhere} (settings.json only): not shown; rerun it")
    return said


def _not_installed(run: Path, benchmark: str, plugin: object, modes: list[str]) -> str:
    """One line for a benchmark of ``run`` that is not installed now, naming the plugin that made it when its
    manifest says."""
    left = f"{run / benchmark}: left out ({', '.join(modes)})"
    if isinstance(plugin, str):
        return (
            f"{left}: its benchmark came from the plugin {plugin}, which is not installed now (install it to read it)"
        )
    return (
        f"{left}: {benchmark!r} is not a benchmark here: a plugin's not installed now, or one registered in a "
        "notebook (install or register it to read it)"
    )


def _models_mixed(run: Path, folders: list[RunFolder]) -> list[str]:
    """A warning when the ``<benchmark>/<mode>`` folders of one run were made by different models (another
    checkpoint, family or dtype: folders written before ``run`` refused that), else none."""
    read = [loaded for loaded in folders if isinstance(loaded.settings, dict)]  # else: warned where it is read
    keys = identity_keys(*(loaded.settings for loaded in read))
    made: dict[tuple, list[str]] = {}
    for loaded in read:
        key = tuple(str(loaded.settings.get(k)) for k in keys)
        made.setdefault(key, []).append(f"{loaded.folder.parent.name}/{loaded.folder.name}")
    if len(made) < 2:
        return []
    groups = "; ".join(f"{', '.join(where)} ({_identity_words(dict(zip(keys, key)))})" for key, where in made.items())
    return [f"{run}: its runs were made by {len(made)} different models ({groups}): they are shown as one run"]


def _identity_words(identity: dict[str, str]) -> str:
    """``fvlm, sha256 0123456789ab, build 0123456789ab, float32``: a model's identity, its hashes shortened."""
    words = {"model_sha256": "sha256 ", "model_build_sha256": "build "}
    return ", ".join(f"{words.get(k, '')}{v[:12] if k in words else v}" for k, v in identity.items())


def _disagreement(path: Path, stated: dict, computed: Summary) -> list[str]:
    """A warning when a summary's own counts differ from its records' (a hand edit: the report shows the records')."""
    accuracy = stated.get("accuracy") if isinstance(stated.get("accuracy"), dict) else {}
    differ = []
    for protocol, result in computed.accuracy.items():
        claim = accuracy.get(protocol)
        claimed = (claim.get("correct"), claim.get("n")) if isinstance(claim, dict) else None
        if claimed is not None and claimed != (result.correct, result.n):
            differ.append(f"{protocol} {claimed[0]}/{claimed[1]} stated, {result.correct}/{result.n} in the records")
    if not differ:
        return []
    return [
        f"{path}: its numbers disagree with its records ({'; '.join(differ[:2])}"
        f"{f'; {len(differ) - 2} more' if len(differ) > 2 else ''}): hand-edited? the records' numbers are shown"
    ]


def run_names(runs: list[Path]) -> list[str]:
    """A distinct, ``printable`` name per run: its folder's name, with as many parent folders as it takes to
    tell two runs apart (``a/step_9000`` and ``b/step_9000``); ``#2``, ``#3``... after a name that only a
    control character told apart."""
    paths = [Path(os.path.realpath(r)) for r in runs]  # realpath: a link loop is no error here
    if len(set(paths)) < len(paths):
        twice = next(Path(r) for r, p in zip(runs, paths) if paths.count(p) > 1)
        raise ReportError(f"the same run folder is given twice: {twice}")
    depth = 1
    while True:
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names) or depth >= max(len(p.parts) for p in paths):
            break
        depth += 1
    shown: list[str] = []
    for name in map(printable, names):
        shown.append(name if name not in shown else f"{name} #{len(shown) + 1}")
    return shown
