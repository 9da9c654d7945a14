"""The Hugging Face hub, as a model source: what is a hub id, one file of a hub model, and its errors in words."""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.models.base import ModelLoadError


def is_hub_id(source: str) -> bool:
    path = Path(source)
    return not path.exists() and not str(source).startswith((".", "/", "~")) and str(source).count("/") == 1


def hub_file(repo: str, filename: str) -> Path:
    """One file of a hub model (cached), or a clear error when it cannot be had."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as error:  # offline, unknown repo, gated, HTTP errors: all told the same way
        raise ModelLoadError(hub_error(repo, error)) from error


def hub_error(repo: str, error: Exception) -> str:
    name = type(error).__name__
    if "RepositoryNotFound" in name or "404" in str(error):
        return f"--model {repo}: no such model on the Hugging Face hub (or it is private)"
    reason = " ".join(str(error).split())
    reason = reason if len(reason) <= 160 else reason[:160].rsplit(" ", 1)[0] + " …"
    return (
        f"--model {repo}: cannot download it from the Hugging Face hub ({name}: {reason}); "
        "offline, pass a local model folder instead: --model path/to/folder"
    )
