"""Today's text of a run's questions for the question browser: where the run's data folder is, and its questions
loaded from there with the hash the runner gives each (a question whose hash is not its record's changed since the
run, so its text is not shown beside the old scores).

The data folder is the one the summary's manifest names (``data_dir``), else the one the run recorded in
``data_dir.json`` beside its settings before its first record, so a run still writing or killed before its summary
shows its questions too; absolute since it is recorded so; an older run's relative one is looked for from the run
folder up, then from here (``data_folder``).
"""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.errors import RecordError
from fvlm_eval.files import DATA_DIR_FILE, read_json
from fvlm_eval.records import question_sha256
from fvlm_eval.tasks import get_benchmark


def data_folder(data_dir: str, benchmark: str, run: Path) -> Path:
    """The data folder a manifest names: as recorded when absolute; a relative one (an older run recorded
    it as typed) from the run folder or the first folder above it that holds the benchmark's copy, else
    from the current folder."""
    path = Path(data_dir).expanduser()
    if path.is_absolute():
        return path
    run = Path(run).resolve()
    for base in (run, *run.parents):
        if get_benchmark(benchmark).folder(base / path).exists():
            return base / path
    return path.resolve()


def data_folders(summary: dict | None, benchmark: str, run: Path, folder: Path) -> tuple[Path, ...]:
    """Where a run's data may be, best first: its summary's manifest's ``data_dir`` (the run that wrote the
    summary), then the one its run recorded in ``folder`` (``DATA_DIR_FILE``, before the first record: a run still
    writing, or killed before its summary, has no manifest), each found by ``data_folder``."""
    manifest = (summary or {}).get("manifest")
    named = [
        manifest.get("data_dir") if isinstance(manifest, dict) else None,
        recorded_data_dir(folder)[0],
    ]
    found = [data_folder(d, benchmark, run) for d in named if isinstance(d, str) and d]
    return tuple(dict.fromkeys(found))


def recorded_data_dir(folder: Path) -> tuple[str | None, str | None]:
    """The data folder the run of ``folder`` recorded in its ``DATA_DIR_FILE``, or (None, why not: None when there
    is none, as for a run made before runs recorded it there)."""
    path = Path(folder) / DATA_DIR_FILE
    if not path.exists():
        return None, None
    try:
        recorded = read_json(path)
    except RecordError as error:
        return None, str(error)
    found = recorded.get("data_dir") if isinstance(recorded, dict) else None
    return (found, None) if isinstance(found, str) and found else (None, f"{path}: names no data_dir")


def no_data_folder(summary: dict | None, folder: Path) -> str:
    """Why a run's data folder is unknown, as it is (its run wrote no data_dir.json: made before runs recorded it
    there; or one that cannot be read): no summary yet (a run still writing or killed before it), one that is no
    summary, or a manifest that names none."""
    unreadable = recorded_data_dir(folder)[1]
    why = unreadable or f"its run wrote no {DATA_DIR_FILE}: it was made before runs recorded their data folder there"
    if not (folder / "summary.json").is_file():
        return f"no summary yet (its run has not finished): its data folder is unknown ({why})"
    if not summary:
        return f"its summary.json is not a summary: its data folder is unknown ({why})"
    return "the run's manifest names no data folder" + (f" ({unreadable})" if unreadable else "")


def first_readable(
    benchmark: str, settings: dict, folders: tuple[Path, ...], why_none: str
) -> tuple[dict, dict, str | None]:
    """``load_questions`` of the first of ``folders`` that reads, else why the first does not (``why_none`` when
    there is none): the copy a summary names gone, the one the run was first made with may still be there."""
    if not folders:
        return {}, {}, why_none
    first = load_questions(benchmark, settings, folders[0])
    for folder in folders[1:] if first[2] else ():
        found = load_questions(benchmark, settings, folder)
        if found[2] is None:
            return found
    return first


def load_questions(benchmark: str, settings: dict, data_dir: Path) -> tuple[dict, dict, str | None]:
    """(id -> Question of the benchmark's copy at ``data_dir``, id -> its ``question_sha256`` today,
    computed as the runner does), or ({}, {}, why not)."""
    try:
        adapter = get_benchmark(benchmark, subtitles=bool(settings.get("subtitles")))
        loaded = adapter.load(Path(data_dir))
        hashes = {
            q.id: question_sha256(q, adapter.prompt(q) if q.options else "", adapter.version) for q in loaded.questions
        }
    except Exception as error:  # a moved or partial copy: the browser still shows the records
        return {}, {}, f"{benchmark} data not readable at {data_dir} ({type(error).__name__}: {str(error)[:200]})"
    return {q.id: q for q in loaded.questions}, hashes, None
