"""The commands about model folders: ``export-checkpoint``."""

from __future__ import annotations

from typing import Optional

import typer

from fvlm_eval.cli.app import app, fail


@app.command("export-checkpoint")
def export_checkpoint(
    checkpoint: str = typer.Argument(
        ..., metavar="CHECKPOINT.pt", help="a training checkpoint: a state dict, or a dict with 'model_state_dict'"
    ),
    folder: str = typer.Argument(
        ..., metavar="FOLDER", help="the model folder to write (model.safetensors, config.json, tokenizer)"
    ),
    config: Optional[str] = typer.Option(
        None,
        metavar="CONFIG.json",
        help="the model's config.json (default: one beside the checkpoint, else fVLM-135M's)",
    ),
    force: bool = typer.Option(False, "--force", help="overwrite a folder that already holds a model"),
) -> None:
    """Turn a training checkpoint into a model folder that `run --model` (and `load_fvlm`) reads."""
    from fvlm_eval.api import ExportRefused, SettingsError
    from fvlm_eval.api import export_checkpoint as export

    try:  # text, not Path: an empty argument stays empty (Path("") is the current folder)
        written = export(checkpoint, folder, config, force=force)
    except (SettingsError, ExportRefused) as error:  # said with the CLI's names (FOLDER, --force), not Python's
        fail(error.cli_message, error.exit_code)
    from fvlm_eval.terminal import echo

    echo(f"wrote {written}")  # a folder named beyond ASCII, on a stdout that cannot encode it: a stand-in, no crash
