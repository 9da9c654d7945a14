"""Getting a benchmark's files into its folder for ``fvlm-eval prepare``: from the hub at the benchmark's
revision (its mirrors tried in order), or offline from the Hugging Face cache when the dataset is held there;
then its archives extracted, also ones found in the folder unextracted (fetched by hand with
``huggingface-cli download``, an extraction that was cut short), which needs no network.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.tasks.base import Benchmark, HubSource
from fvlm_eval.tasks.own_code import FAILURES, OwnCodeFailed, failure

PREPARED_FILE = ".fvlm-prepared.json"
LAYOUTS = "docs/running.md#layouts-read"  # where every benchmark's layout is written for a CLI user
_NETWORK_ERRORS = {"ConnectError", "ConnectTimeout", "ConnectionError", "NetworkError", "Timeout", "TimeoutException"}


class HubRefused(FvlmEvalError):
    """The hub refused the download of a gated dataset: the line names the page whose conditions to accept."""


class NotFetched(FvlmEvalError):
    """The files could not be got into the folder (offline and not cached, an archive damaged or that cannot be
    written): one line naming the file or the cause, and what to do."""


def fetch(
    benchmark: Benchmark, data_dir: Path, revision: str | None = None, say: Callable[[str], None] = print
) -> Path:
    """Download the benchmark's files from the hub at its revision and extract its archives. The repository's
    mirrors are tried, in order, when it is not found; a gated one refused is ``HubRefused``. Offline
    (``HF_HUB_OFFLINE``, or no connection), the Hugging Face cache's snapshot of it is used when there is one
    (``NotFetched`` when there is none). ``say``: where the lines on what was done go."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    source = benchmark.hub()
    folder = benchmark.folder(data_dir)
    revision = revision or source.revision
    repos = (source.repo, *source.mirrors)
    for repo in repos:
        try:
            sha = HfApi().dataset_info(repo, revision=revision).sha
            snapshot_download(
                repo,
                repo_type="dataset",
                revision=sha,
                local_dir=str(folder),
                allow_patterns=list(source.allow_patterns) or None,
            )
            break
        except GatedRepoError as error:
            raise gated(repo) from error
        except RepositoryNotFoundError:
            if repo == repos[-1]:
                raise
        except HfHubHTTPError as error:
            if getattr(error.response, "status_code", None) in (401, 403):
                raise gated(repo) from error
            raise
        except Exception as error:
            why = offline_reason(error)
            if why is None:
                raise
            repo, sha = _from_cache(benchmark, source, Path(data_dir), revision, why, say)
            break
    extract_pending(benchmark, folder, say)
    (folder / PREPARED_FILE).write_text(json.dumps({"repo": repo, "revision": revision, "sha": sha}, indent=2))
    return folder


def gated(repo: str) -> HubRefused:
    """One line: the form to accept, and what to do then."""
    return HubRefused(
        f"the hub refused {repo}: it is gated; accept its conditions at https://huggingface.co/datasets/{repo} "
        "(logged in), log in here (`huggingface-cli login` or HF_TOKEN), then rerun"
    )


def offline_reason(error: BaseException) -> str | None:
    """Why the hub cannot be reached, when that is what ``error`` says (``HF_HUB_OFFLINE`` set, or no connection:
    the connection errors of requests and httpx, known by name across huggingface_hub's versions); else None."""
    from huggingface_hub.utils import OfflineModeIsEnabled

    if isinstance(error, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set"
    if any(kind.__name__ in _NETWORK_ERRORS for kind in type(error).__mro__):
        said = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        return f"the hub cannot be reached: {type(error).__name__}{': ' + said if said else ''}"
    return None


def _from_cache(
    benchmark: Benchmark, source: HubSource, data_dir: Path, revision: str, why: str, say: Callable[[str], None]
) -> tuple[str, str]:
    """The first of the repositories held in the Hugging Face cache at ``revision``: its files (those the
    benchmark fetches) linked into the benchmark's folder; returns the repository and the snapshot's commit.
    ``NotFetched`` when none is held: where the files go, and where their layout is written."""
    import shlex

    from huggingface_hub import constants, snapshot_download

    folder = benchmark.folder(data_dir)
    unusable = ""
    for repo in (source.repo, *source.mirrors):
        try:
            snapshot = Path(snapshot_download(repo, repo_type="dataset", revision=revision, local_files_only=True))
        except Exception as error:  # not held (LocalEntryNotFoundError), or held in part (IncompleteSnapshotError)
            if type(error).__name__ != "LocalEntryNotFoundError" and not unusable:
                unusable = f" (its cached snapshot cannot be used: {str(error).strip().splitlines()[0][:160]})"
            continue
        linked = _link_snapshot(snapshot, folder, source.allow_patterns)
        say(
            f"offline ({why}): {linked} file(s) of {repo} linked into {folder} from the Hugging Face cache "
            f"({snapshot}; removing it from the cache breaks them)"
        )
        return repo, snapshot.name
    held = unusable or f" is not in the Hugging Face cache ({constants.HF_HUB_CACHE})"
    patterns = ", ".join(source.allow_patterns) or "every file"
    given = "" if data_dir == Path("data") else f" --data-dir {shlex.quote(str(data_dir))}"
    raise NotFetched(
        f"offline ({why}) and {source.repo} at {revision}{held}: place the files under {folder} as {LAYOUTS} "
        f"lists (or the hub's {patterns}, fetched where there is a network: its archives are extracted here), "
        f"then rerun `fvlm-eval prepare {benchmark.name}{given}`"
    )


def _link_snapshot(snapshot: Path, folder: Path, allow_patterns: tuple[str, ...]) -> int:
    """Link each file of a cached snapshot that the benchmark fetches into ``folder`` (a file already there is
    kept): the cache's copy is not duplicated (Video-MME's videos are about 100 GB). Returns how many."""
    from huggingface_hub.utils import filter_repo_objects

    files = [
        (Path(top) / name).relative_to(snapshot).as_posix() for top, _, names in os.walk(snapshot) for name in names
    ]
    linked = 0
    for relative in filter_repo_objects(files, allow_patterns=list(allow_patterns) or None):
        target = folder / relative
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(snapshot / relative)
        linked += 1
    return linked


def archives(benchmark: Benchmark, folder: Path) -> list[Path]:
    """The files in ``folder`` matching the benchmark's archive patterns (none for one without a hub copy); a
    plugin's ``hub()`` that raises otherwise (or gives no ``HubSource``) is ``OwnCodeFailed``, naming it."""
    try:
        patterns = tuple(benchmark.hub().archives)
    except NotImplementedError:
        return []
    except FAILURES as error:
        raise OwnCodeFailed(benchmark, failure(benchmark, "hub()", error)) from error
    return sorted({path for pattern in patterns for path in folder.glob(pattern) if path.is_file()})


def pending(benchmark: Benchmark, folder: Path) -> list[Path]:
    """The benchmark's archives in ``folder`` not (wholly) extracted: a member missing beside it, or of
    another size (an extraction cut short); a damaged archive counts as pending (extracting it names it)."""
    return [archive for archive in archives(benchmark, folder) if not _extracted(archive)]


def extract_pending(benchmark: Benchmark, folder: Path, say: Callable[[str], None] = print) -> int:
    """Extract the benchmark's archives lying in ``folder`` unextracted, each beside itself (no network); one line
    each. Returns how many were extracted; ``NotFetched`` names a damaged one."""
    todo = pending(benchmark, folder)
    for archive in todo:
        say(f"extracting {archive} (not extracted yet) ...")
        extract(archive, archive.parent)
    return len(todo)


def _extracted(archive: Path) -> bool:
    """Every member of ``archive`` is beside it as it is in it; False too when it cannot be read as a zip."""
    try:
        with zipfile.ZipFile(archive) as handle:
            return not _to_extract(handle, archive.parent)
    except (zipfile.BadZipFile, OSError):
        return False


def _to_extract(handle: zipfile.ZipFile, destination: Path) -> list[zipfile.ZipInfo]:
    """The file members not in ``destination`` as they are in the archive (missing, or of another size)."""
    return [
        member
        for member in handle.infolist()
        if not member.is_dir()
        and not (
            (destination / member.filename).is_file()
            and (destination / member.filename).stat().st_size == member.file_size
        )
    ]


def extract(archive: Path, destination: Path) -> None:
    """Unzip the members not already there, refusing any member that would land outside ``destination``. A file
    that is no zip, or a damaged one, is ``NotFetched`` naming it and what to do."""
    destination = destination.resolve()
    again = "delete it and rerun with --download"
    try:
        handle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as error:
        raise NotFetched(f"{archive} is not a zip (cut short?): {again}") from error
    except OSError as error:
        raise NotFetched(f"{archive} cannot be read ({error.strerror or error})") from error
    with handle:
        for member in handle.namelist():
            target = (destination / member).resolve()
            if target != destination and destination not in target.parents:
                raise NotFetched(f"{archive}: member {member!r} would be written outside {destination}: not extracted")
        member = None
        try:
            for member in _to_extract(handle, destination):  # the ones there already are kept (a rerun resumes)
                handle.extract(member, destination)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            if member is not None:  # its bad bytes, written whole, would pass for extracted next time
                (destination / member.filename).unlink(missing_ok=True)
            raise NotFetched(f"{archive} is damaged ({error}): {again}") from error
        except OSError as error:
            raise NotFetched(
                f"extracting {archive} into {destination} failed ({error.strerror or error}): make room or make the "
                "folder writable, then rerun"
            ) from error
