"""The Hugging Face hub, as a model source: what is a hub id, one file of a hub model, and its errors in words."""

from __future__ import annotations

import os
from pathlib import Path

from fvlm_eval.files import broken_link
from fvlm_eval.models.base import ModelLoadError


def is_hub_id(source: str) -> bool:
    """``owner/name`` that is no local path; not when ``owner/`` is a local folder (``demo/modell``: a typo of a
    folder, sent to the hub, spent half a minute retrying before it failed)."""
    path = Path(source)
    return _shaped(source) and not path.exists() and not path.parent.is_dir()


def _shaped(source: str) -> bool:
    """``owner/name``: one slash, not a path that starts here, at the root or at home."""
    return not str(source).startswith((".", "/", "~")) and str(source).count("/") == 1


def not_found(source: str) -> str:
    """Why ``--model source`` names nothing: no such path, and not a hub id (or a hub id's shape whose owner
    is a local folder)."""
    parent = Path(source).parent
    broken = broken_link(Path(source).expanduser())
    if broken:
        return f"--model {source}: {broken}"
    if _shaped(source) and parent.is_dir():
        return (
            f"--model {source}: no such file or folder ({parent}/ is a folder here, so it is read as a path, not "
            "fetched from the hub: a typo? To fetch the hub model of that name, run from another folder)"
        )
    return f"--model {source}: no such file or folder, and not a hub id (owner/name)"


def hub_file(repo: str, filename: str) -> Path:
    """One file of a hub model (cached), or a clear error when it cannot be had."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as error:  # offline, unknown repo, gated, HTTP errors: all told the same way
        raise ModelLoadError(hub_error(repo, error)) from error


def hub_error(repo: str, error: Exception) -> str:
    unwritable = _write_error(error)
    if unwritable is not None:  # not "offline": the download came, and could not be kept
        where = f" {unwritable.filename}" if unwritable.filename else ""
        return (
            f"--model {repo}: cannot write the download to the Hugging Face cache{where} ({unwritable.strerror}); "
            "point HF_HOME at a writable folder with space, or pass a local model folder: --model path/to/folder"
        )
    name = type(error).__name__
    if "RepositoryNotFound" in name or "404" in str(error):
        return f"--model {repo}: no such model on the Hugging Face hub (or it is private)"
    reason = " ".join(str(error).split())
    reason = reason if len(reason) <= 160 else reason[:160].rsplit(" ", 1)[0] + " …"
    return (
        f"--model {repo}: no file or folder of that name here, so a hub id; cannot download it from the Hugging "
        f"Face hub ({name}: {reason}); offline, pass a local model folder instead: --model path/to/folder"
    )


def _write_error(error: BaseException) -> OSError | None:
    """The error, or one it was raised from, when it is a write refused by the disk (no space, read-only, no
    permission): a cache folder to fix, not a network to reach."""
    import errno

    unwritable = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, OSError) and error.errno in unwritable:
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def model_name(source) -> str:
    """A model's name for records and the default output folder: a local file or folder's own name (``--model .``
    is the folder's), ``.safetensors`` dropped; a hub id's last part."""
    local = Path(str(source)).expanduser()
    if not local.exists():
        return str(source).rstrip("/").split("/")[-1]
    cached = _hub_cache_repo(Path(os.path.abspath(local)))
    name = cached if cached is not None else Path(os.path.realpath(local)).name
    return name.removesuffix(".safetensors")


def _hub_cache_repo(path: Path) -> str | None:
    """The repo's name for a folder in the Hugging Face cache (``models--owner--name/snapshots/<commit>``) or a
    file in one: the run was named after the commit, or after the blob's sha256 that the file links to."""
    for folder in (path, *path.parents):
        if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
            return folder.parent.parent.name.split("--")[-1]
    return None
