"""``fvlm-eval demo``: the whole pipeline offline, in about a minute on two CPU cores.

Writes synthetic copies of the three benchmarks in their real layouts, a small randomly
initialised fVLM in the release folder format (real SmolLM2 tokenizer and chat template), runs
all tasks in all modes through the same code as ``fvlm-eval run``, then ``report``. A second
invocation resumes: nothing already recorded is computed again.
"""

from __future__ import annotations

from pathlib import Path

DEMO_LLM = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=49152, tie_word_embeddings=True, rope_theta=100000.0,
                max_position_embeddings=2048, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=2)
DEMO_DINO = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=3, image_size=224, patch_size=14,
                 mlp_ratio=2, layerscale_value=1.0, layer_norm_eps=1e-6, qkv_bias=True)
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
    from rich.console import Console

    from fvlm_eval import fixtures
    from fvlm_eval.models import load_model
    from fvlm_eval.report import write_report
    from fvlm_eval.runner import RunSettings, run
    from fvlm_eval.summary_table import print_run_tables

    console = Console()
    output_dir = Path(output_dir)
    data_dir, model_dir, run_dir = output_dir / "data", output_dir / "model", output_dir / "run"
    if not (data_dir / ".complete").is_file():
        fixtures.write_all(data_dir)
        (data_dir / ".complete").write_text("synthetic fixtures written by fvlm-eval demo\n")
    console.print(f"synthetic benchmarks (real layouts, real encoded media): {data_dir}")
    build_demo_model(model_dir)
    console.print(f"model folder (release format): {model_dir}")
    console.print("[bold yellow]the demo model has RANDOM weights: its accuracy is at chance by design[/]")
    settings = RunSettings(benchmarks=("mvbench", "videomme", "scienceqa"),
                           modes=("coarse_only", "coarse_fine", "autoregressive"), data_dir=data_dir, output_dir=run_dir,
                           batch_size=16, workers=workers, generate=True, frame_cache=output_dir / "frame-cache",
                           command_line=f"fvlm-eval demo --output-dir {output_dir}")
    model = load_model(str(model_dir), "fvlm", device="cpu", dtype="float32")
    outcome = run(settings, model, console)
    print_run_tables(outcome.summaries, console)
    runs = [run_dir]
    written = write_report(runs, None, run_dir / "report")
    console.print("\n[bold]where everything went[/]")
    console.print(f"  data:    {data_dir}\n  model:   {model_dir}\n  records: {run_dir}/<benchmark>/<mode>/samples.jsonl"
                  f"\n  summary: {run_dir}/<benchmark>/<mode>/summary.json")
    for path in written:
        console.print(f"  report:  {path}")
    console.print("\n[bold]next, on real data[/]\n"
                  "  fvlm-eval prepare mvbench --data-dir data\n"
                  "  fvlm-eval run mvbench videomme scienceqa --mode all --data-dir data\n"
                  "  fvlm-eval report results/runs/fVLM-135M\n"
                  "  fvlm-eval regress --baseline results/runs/old --current results/runs/fVLM-135M")
