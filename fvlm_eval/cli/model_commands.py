"""The commands about model folders: ``export-checkpoint``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fvlm_eval.cli.app import app


@app.command("export-checkpoint")
def export_checkpoint(
    checkpoint: Path = typer.Argument(
        ..., metavar="CHECKPOINT.pt", help="a training checkpoint: a state dict, or a dict with 'model_state_dict'"
    ),
    folder: Path = typer.Argument(
        ..., metavar="FOLDER", help="the model folder to write (model.safetensors, config.json, tokenizer)"
    ),
    config: Optional[Path] = typer.Option(
        None,
        metavar="CONFIG.json",
        help="the model's config.json (default: one beside the checkpoint, else fVLM-135M's)",
    ),
    force: bool = typer.Option(False, "--force", help="overwrite a folder that already holds a model"),
) -> None:
    """Turn a training checkpoint into a model folder that `run --model` (and `load_fvlm`) reads."""
    from fvlm_eval.api import export_checkpoint as export

    written = export(checkpoint, folder, config, force=force)
    typer.echo(f"wrote {written}")
