"""``fvlm-eval demo``: the whole pipeline offline, in about a minute on two CPU cores.

Writes synthetic copies of the three benchmarks in their real layouts, a small randomly
initialised fVLM in the release folder format (real SmolLM2 tokenizer and chat template) and a
tiny random SmolVLM, runs every benchmark in every mode of both (log-likelihood and generated
answers) through the same code as ``fvlm-eval run``, then ``report`` puts both families side by
side. A second invocation resumes: nothing already recorded is computed again.
"""

from __future__ import annotations

from pathlib import Path

DEMO_LLM = dict(
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
DEMO_DINO = dict(
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
DEMO_QUERY_DIM = 48


def build_demo_model(folder: Path) -> Path:
    """A tiny random fVLM saved as a release-format folder (model.safetensors, config.json, tokenizer)."""
    import torch

    from fvlm_model import FoveatedVLM
    from fvlm_model.loading import ModelSpec, load_tokenizer, save_model_folder

    if (folder / "model.safetensors").is_file():
        return folder
    torch.manual_seed(0)
    model = FoveatedVLM.from_configs(DEMO_LLM, DEMO_DINO, query_dim=DEMO_QUERY_DIM)
    spec = ModelSpec(DEMO_LLM, DEMO_DINO, DEMO_QUERY_DIM, 0.14, extra={"note": "fvlm-eval demo: RANDOM weights"})
    save_model_folder(model, folder, spec, load_tokenizer(None))
    return folder


def run_demo(output_dir: Path, workers: int = 0) -> None:
    import shlex

    from rich.console import Console
    from rich.markup import escape

    from fvlm_eval.models import load_model
    from fvlm_eval.models.smolvlm.tiny import save_tiny_smolvlm
    from fvlm_eval.reports.report import write_report
    from fvlm_eval.reports.tables import print_run_tables
    from fvlm_eval.run.runner import run
    from fvlm_eval.run.settings import RunSettings
    from fvlm_eval.tasks.fixtures import write_all

    console = Console()
    output_dir = Path(output_dir)
    data_dir = output_dir / "data"
    if not (data_dir / ".complete").is_file():
        write_all(data_dir)
        (data_dir / ".complete").write_text("synthetic fixtures written by fvlm-eval demo\n")
    console.print(f"synthetic benchmarks (real layouts, real encoded media): {escape(str(data_dir))}")
    models = {"fvlm": build_demo_model(output_dir / "model"), "smolvlm": output_dir / "smolvlm"}
    if not (models["smolvlm"] / "config.json").is_file():
        save_tiny_smolvlm(models["smolvlm"])
    console.print(
        f"model folders: {escape(str(models['fvlm']))} (fVLM, release format), {escape(str(models['smolvlm']))} "
        "(SmolVLM)"
    )
    console.print("[bold yellow]the demo models have RANDOM weights: their accuracy is at chance by design[/]")
    runs = []
    for family, folder in models.items():
        model = load_model(str(folder), family, device="cpu", dtype="float32")
        settings = RunSettings(
            benchmarks=("mvbench", "videomme", "scienceqa"),
            modes=model.variants,
            data_dir=data_dir,
            output_dir=output_dir / "runs" / family,
            batch_size=16,
            workers=workers,
            generate=True,
            max_new_tokens=8,
            frame_cache=output_dir / "frame-cache",
            command_line=f"fvlm-eval demo --output-dir {shlex.quote(str(output_dir))}",
        )
        outcome = run(settings, model, console)
        print_run_tables(outcome.summaries, console)
        runs.append(settings.output_dir)
    written = write_report(runs, None, output_dir / "report", show=False)
    console.print("\n[bold]where everything went[/]")
    shown = escape(str(output_dir))  # a folder named "[bold]x" is text, not markup
    console.print(
        f"  data:    {escape(str(data_dir))}\n  records: {shown}/runs/<family>/<benchmark>/<mode>/samples.jsonl"
        f"\n  summary: {shown}/runs/<family>/<benchmark>/<mode>/summary.json"
    )
    for path in written:
        console.print(f"  report:  {escape(str(path))}")
    runs_quoted = " ".join(shlex.quote(str(r)) for r in runs)
    console.print(
        escape(f"  again:   fvlm-eval report {runs_quoted} --output-dir {shlex.quote(str(output_dir / 'report'))}"),
        highlight=False,
    )
    console.print(
        "\n[bold]next, on real data[/]\n"
        "  fvlm-eval prepare mvbench --data-dir data\n"
        "  fvlm-eval run mvbench videomme scienceqa --mode all --data-dir data\n"
        "  fvlm-eval run mvbench videomme scienceqa --model HuggingFaceTB/SmolVLM2-256M-Video-Instruct --generate "
        "--data-dir data\n"
        "  fvlm-eval report results/runs/fVLM-135M results/runs/SmolVLM2-256M-Video-Instruct\n"
        "  fvlm-eval regress --baseline results/runs/old --current results/runs/fVLM-135M"
    )
