"""fVLM model folders: an in-memory model saved in the release format, a training checkpoint turned into
one (what ``--model`` and ``fvlm_model.load_fvlm`` read), and a tiny random one for the demo."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

from fvlm_eval.errors import ExitCode, FvlmEvalError, SettingsError
from fvlm_eval.files import write_bytes_atomic
from fvlm_eval.models.memory import unwrap


def weight_suffixes() -> tuple[str, ...]:
    from fvlm_model.loading import WEIGHT_SUFFIXES

    return WEIGHT_SUFFIXES


def save_model_folder(model, folder: str | Path, tokenizer=None) -> Path:
    """Write an in-memory ``FoveatedVLM`` as a release-format model folder (``model.safetensors``,
    ``config.json``, tokenizer): what ``--model`` and ``load_fvlm`` read. Returns the folder."""
    from fvlm_model import FoveatedVLM
    from fvlm_model.loading import ModelSpec, load_tokenizer
    from fvlm_model.loading import save_model_folder as save

    model = unwrap(model)
    if not isinstance(model, FoveatedVLM):
        raise SettingsError(f"save_model_folder: expected an fvlm_model.FoveatedVLM, got {type(model).__name__}")
    spec = ModelSpec(
        llm=_config_dict(model.llm.config),
        dino=_config_dict(model.encoder.dino.config),
        query_dim=int(model.query_dim),
        visual_scale=float(model.visual_scale),
        deep_query=bool(model.deep_query),
    )
    folder = Path(folder)
    save(model, folder, spec, tokenizer or load_tokenizer(None), write_bytes=write_bytes_atomic)
    return folder


def _config_dict(config) -> dict:
    drop = {
        "architectures",
        "transformers_version",
        "_name_or_path",
        "torch_dtype",
        "dtype",
        "_attn_implementation_autoset",
    }
    return {k: v for k, v in config.to_dict().items() if k not in drop}


MODEL_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")


class ExportRefused(FvlmEvalError, ValueError):
    """``export_checkpoint`` would overwrite a model folder (pass ``force=True``, ``--force``). ``str(error)``
    says so with the Python argument, ``cli_message`` with the CLI's flag."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, cli_message: str | None = None):
        super().__init__(message)
        self.cli_message = cli_message or message


def _check_export_folder(folder: Path, force: bool) -> None:
    """Before any work: ``folder`` is a folder (or can be made) that this user can write, and holds
    no model unless ``force``."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder: give the model folder to write", str(folder))
    if folder.is_dir() and not force:
        held = sorted(p.name for p in folder.iterdir() if p.name in MODEL_FILES or p.suffix in weight_suffixes())
        if held:
            told = f"{folder} already holds a model ({', '.join(held)}); give an empty or new folder, or overwrite it"
            raise ExportRefused(f"{told} (force=True)", f"{told} (--force)")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():  # a file above the folder: no folder can be made under it (filename2: that file)
        raise NotADirectoryError(
            errno.ENOTDIR, f"cannot write there ({existing} is a file, not a folder)", str(folder), None, str(existing)
        )
    try:  # a real probe, whose own error is said (os.access said "permission denied" on a read-only file system)
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".fvlm-eval-write-probe-"):
            pass
    except OSError as error:  # OSError(errno): the class its errno names (EROFS is no PermissionError)
        raise OSError(
            error.errno or errno.EACCES,
            f"cannot write there ({existing} takes no new file: {error.strerror or error})",
            str(folder),
        ) from error


def _check_config_file(config: Path, checkpoint: Path) -> None:
    import json

    if not config.is_file():
        raise _checkpoint_error(f"{config}: no such config file")
    if config.resolve() == checkpoint.resolve():
        raise _checkpoint_error(
            f"{config}: the checkpoint itself was given as the config; the config is the "
            "model's config.json (or leave it out to use one beside the checkpoint)"
        )
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise _checkpoint_error(f"{config}: not a config.json (not JSON text: {type(error).__name__})") from error


def _checkpoint_error(message: str):
    from fvlm_model.loading import CheckpointError

    return CheckpointError(message)


def export_checkpoint(
    checkpoint: str | Path, folder: str | Path, config: str | Path | None = None, force: bool = False
) -> Path:
    """A training checkpoint (``.pt``: a state dict, or a dict with ``model_state_dict``; read with
    ``weights_only=True``) as a model folder. ``config``: the model's ``config.json`` (default: one
    beside the checkpoint, else the fVLM-135M configuration); the tokenizer and chat template beside it go with it,
    as ``--model CHECKPOINT`` reads them (else the bundled ones). A folder that already holds a model is
    refused (``ExportRefused``) unless ``force``; errors name the files given, never a staging copy."""
    import shutil

    from fvlm_model.loading import CheckpointError, load_fvlm, load_tokenizer

    for argument, flag, given, wanted in (
        ("checkpoint", "CHECKPOINT", checkpoint, "the training checkpoint (.pt) to export"),
        ("folder", "FOLDER", folder, "the model folder to write"),
        ("config", "--config", config, "the model's config.json, or leave it out"),
    ):
        if given is not None and not str(given).strip():  # Path("") is ".", the current folder: never what was meant
            raise SettingsError(f"{argument}={given!r} is empty: give {wanted}", f"{flag} is empty: give {wanted}")
    checkpoint, folder = Path(checkpoint), Path(folder)
    if not checkpoint.is_file():
        what = (
            "a folder, not a checkpoint file (give the weights file in it)"
            if checkpoint.is_dir()
            else "no such checkpoint file"
        )
        raise CheckpointError(f"{checkpoint}: {what}")
    if checkpoint.suffix.lower() == ".json":
        what = "a config.json" if checkpoint.name == "config.json" else "a JSON file"
        raise CheckpointError(
            f"{checkpoint}: {what} was given as the checkpoint; give the weights file (.pt: a state dict or a "
            "training checkpoint) as the checkpoint, and its config.json as the config (or beside it)"
        )
    beside = checkpoint.parent / "config.json"
    source = Path(config) if config is not None else beside if beside.is_file() else None
    if source is not None:
        _check_config_file(source, checkpoint)
    _check_export_folder(folder, force)
    with tempfile.TemporaryDirectory(prefix="fvlm-eval-export-") as staging:
        staged = Path(staging) / checkpoint.name
        staged.symlink_to(checkpoint.resolve())
        if source is not None:
            shutil.copyfile(source, Path(staging) / "config.json")
        try:
            model, _ = load_fvlm(staged, device="cpu", dtype=None)
        except CheckpointError as error:  # said with the user's files, not the staging copies
            told = str(error).replace(str(Path(staging) / "config.json"), str(source or "the default config"))
            raise CheckpointError(
                told.replace(str(staged), str(checkpoint)).replace(staging, str(checkpoint.parent))
            ) from error
    # the tokenizer and chat template `--model CHECKPOINT` reads: those beside it, else the bundled ones
    return save_model_folder(model, folder, load_tokenizer(checkpoint.parent))


TINY_LLM = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=49152,
    tie_word_embeddings=True,
    rope_theta=100000.0,
    max_position_embeddings=2048,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)
TINY_DINO = dict(
    hidden_size=48,
    num_hidden_layers=2,
    num_attention_heads=3,
    image_size=224,
    patch_size=14,
    mlp_ratio=2,
    layerscale_value=1.0,
    layer_norm_eps=1e-6,
    qkv_bias=True,
)
TINY_QUERY_DIM = 48


def write_tiny_fvlm(folder: Path) -> Path:
    """A tiny random fVLM saved as a release-format folder (model.safetensors, config.json, the bundled SmolLM2
    tokenizer), offline: for the demo. Written once (an existing folder is kept)."""
    import torch

    from fvlm_model import FoveatedVLM
    from fvlm_model.loading import ModelSpec, load_tokenizer, save_model_folder

    if (folder / "model.safetensors").is_file():
        return folder
    torch.manual_seed(0)
    model = FoveatedVLM.from_configs(TINY_LLM, TINY_DINO, query_dim=TINY_QUERY_DIM)
    spec = ModelSpec(TINY_LLM, TINY_DINO, TINY_QUERY_DIM, 0.14, extra={"note": "fvlm-eval demo: RANDOM weights"})
    save_model_folder(model, folder, spec, load_tokenizer(None), write_bytes=write_bytes_atomic)
    return folder
