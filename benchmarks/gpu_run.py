"""The GPU measurement, prepared to run in one go on a CUDA machine (under 8 minutes): one JSON.

Frames are synthetic (random uint8, given: no decoder is needed, so no decord or PyAV); the model
is fVLM at real size (DINOv2-small + SmolLM2-135M-Instruct) with random weights from a fixed seed,
in bfloat16. Sections, each written into the JSON as soon as it is done (a section that fails
records its error and the others still run):

- ``suite``: the full suite's fast path, as ``fvlm-eval run all three benchmarks --mode all`` asks it
  (``fvlm_eval.run.asking.Asking``: multiple choice and cloze, batches of whole clips at the
  adapter's suggested batch size, each benchmark's own frame count): per benchmark its questions,
  the seconds measured and scaled to its full count when a time budget (``--suite-budget-s``)
  stopped it early, questions per second per mode (a mode alone: its asking plus the shared encode)
  and for all three, and the peak memory (``torch.cuda.max_memory_allocated``);
- ``public``: the public fVLM scorer (nanoSmol ``benchmark.py``, unchanged; ``--public PATH`` or
  ``$FVLM_PUBLIC``) on a sample, its ms/question per mode (its cost is per option: counted at the
  options per question of the suite's timed questions) beside ours from ``suite``, the ratio, max
  abs delta of the per-option loss and the predictions that agree; skipped, saying why, without a checkout;
- ``batch_invariance``: a sample asked at batch size 1 and at the default: predictions (``reference``
  and ``cloze_sum``) that change and the largest score difference;
- ``gpu_busy``: one batch per benchmark under ``torch.profiler``: CUDA kernel time / wall time.

``--dry-run`` runs the same code end to end on the CPU with a tiny model, a few questions and at most 16
frames per video (< 1 min).

    bash benchmarks/gpu.sh                                  # on the GPU machine: $OUT/gpu_run.json
    python benchmarks/gpu_run.py --dry-run --out /tmp/gpu_dry.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
import traceback
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_public, public_shim

import bench_public as bp  # noqa: E402

from fvlm_eval.models.fvlm import FVLMAdapter  # noqa: E402

MODES = bp.MODES
ALL = bp.ALL
SUITE = ("mvbench", "videomme", "scienceqa")
PROTOCOLS = ("reference", "cloze_sum")


def suite_shape(name: str, max_frames: int | None = None):
    """The suite's shape of a benchmark: its own frame count (a run's; at most ``max_frames``) and full
    question count."""
    from fvlm_eval.tasks import get_benchmark

    benchmark = get_benchmark(name)
    shape = bp.SHAPES[name]
    frames = shape.frames if shape.image else min(benchmark.sampling.frames, max_frames or benchmark.sampling.frames)
    return dataclasses.replace(shape, frames=frames, questions=sum(benchmark.expected().values()))


def sync(device) -> None:
    bp.sync(device)


def timed(device, fn):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def peak_reset(device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak(device) -> int | None:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


# ----- sections -------------------------------------------------------------------------------


def suite(model, tokenizer, args, device) -> dict:
    """Every benchmark, every mode, both formulations, as a run asks them; stopped per benchmark at its
    share of the budget and scaled to its full count."""
    out = {"benchmarks": {}, "budget_s": args.suite_budget_s}
    share = args.suite_budget_s / len(SUITE)
    for name in SUITE:
        shape = suite_shape(name, args.max_frames)
        count = args.questions or shape.questions
        benchmark, questions, clips = bp.make_questions(shape, count, args.frame_size, seed=len(name), pool=64)
        adapter = FVLMAdapter(model, tokenizer)
        asking = bp.make_asking(benchmark, adapter, questions, MODES)
        batch_size = args.batch_size or adapter.suggested_batch_size(shape.frames)
        seconds = {"encode": 0.0, "forget": 0.0, **{m: 0.0 for m in MODES}}
        done, batches_done = 0, 0
        peak_reset(device)
        started = time.perf_counter()
        for batch in bp.batches(questions, batch_size):
            if done and time.perf_counter() - started > share:
                break
            keys = list(dict.fromkeys(q.media.key for q in batch))
            batch_clips = [clips[k] for k in keys]  # made outside the timers (a run decodes in workers)
            took, _ = timed(device, partial(adapter.load_clips, batch_clips))
            seconds["encode"] += took
            for mode in MODES:
                took, _ = timed(device, partial(asking.records, batch, clips, mode))
                seconds[mode] += took
            took, _ = timed(device, partial(adapter.forget_clips, keys))
            seconds["forget"] += took
            done += len(batch)
            batches_done += 1
        total = sum(seconds.values())
        scale = len(questions) / done
        per_mode = {m: done / (seconds[m] + seconds["encode"] + seconds["forget"]) for m in MODES}
        out["benchmarks"][name] = {
            "questions": len(questions),
            "timed_questions": done,
            "options_per_q": bp.options_per_question(questions[:done]),
            "batches": batches_done,
            "batch_size": batch_size,
            "frames": shape.frames,
            "image": shape.image,
            "seconds": total,
            "scaled_seconds": total * scale,
            "phase_seconds": seconds,
            "q_per_s": {**per_mode, ALL: done / total},
            "ms_per_q": {**{m: 1000 / v for m, v in per_mode.items()}, ALL: 1000 * total / done},
            "peak_memory_bytes": peak(device),
            "frames_encoded": adapter.frames_encoded,
        }
        print(f"  suite {name}: {done}/{len(questions)} questions in {total:.1f} s", flush=True)
    out["suite_seconds"] = sum(b["scaled_seconds"] for b in out["benchmarks"].values())
    out["measured_seconds"] = sum(b["seconds"] for b in out["benchmarks"].values())
    out["complete"] = all(b["timed_questions"] == b["questions"] for b in out["benchmarks"].values())
    peaks = [b["peak_memory_bytes"] for b in out["benchmarks"].values() if b["peak_memory_bytes"] is not None]
    out["peak_memory_bytes"] = max(peaks) if peaks else None
    return out


def public_section(model, tokenizer, args, device, suite_result: dict | None) -> dict:
    from public_shim import PublicMissing, load_public, public_model

    if args.no_public:
        return {"skipped": "--no-public"}
    try:
        public = load_public(args.public)
    except PublicMissing as error:
        return {"skipped": str(error)}
    pmodel = public_model(public, model)
    out = {"folder": str(public.folder), "sample_per_benchmark": args.public_questions, "benchmarks": {}}
    for name in SUITE:
        shape = suite_shape(name, args.max_frames)
        benchmark, questions, clips = bp.make_questions(shape, args.public_questions, args.frame_size, seed=len(name))
        ran = bp.run_public(public, pmodel, tokenizer, benchmark, questions, clips, MODES)  # warm-up included
        ran = bp.run_public(public, pmodel, tokenizer, benchmark, questions, clips, MODES)
        _, _, records = bp.run_ours(model, tokenizer, benchmark, questions, clips, MODES)
        sampled = {m: 1000 * sum(per_mode[m][0] for _, _, per_mode in ran) / len(ran) for m in MODES}
        sampled[ALL] = sum(sampled[m] for m in MODES)
        suite_numbers = (suite_result or {}).get("benchmarks", {}).get(name, {})
        # the public cost is per option: counted at the options per question of the suite's timed questions
        sample_options = bp.options_per_question(questions)
        options = suite_numbers.get("options_per_q") or sample_options
        scale = options / sample_options
        ms = {k: v * scale for k, v in sampled.items()}
        deltas, same, compared = [], 0, 0
        for mode in MODES:
            by_id = {r.id: r for r in records[mode]}
            for question, _, per_mode in ran:
                losses, record = per_mode[mode][2], by_id[question.id]
                deltas += [abs(losses[k] - record.scores["reference"][k]) for k in losses]
                same += min(losses, key=losses.get) == record.pred["reference"]
                compared += 1
        ours = suite_numbers.get("ms_per_q", {})
        out["benchmarks"][name] = {
            "questions": len(ran),
            "options_per_q": {"public_sample": sample_options, "suite": options},
            "public_sample_ms_per_q": sampled,
            "public_ms_per_q": ms,
            "ours_ms_per_q": ours or None,
            "ratio": {k: ms[k] / ours[k] for k in ms if ours.get(k)} or None,
            "max_abs_delta": max(deltas) if deltas else None,
            "same_predictions": f"{same}/{compared}",
        }
        print(f"  public {name}: {ms[ALL]:.0f} ms/q (all three)", flush=True)
    return out


def batch_invariance(model, tokenizer, args, device) -> dict:
    out = {"sample_per_benchmark": args.invariance_questions, "benchmarks": {}}
    for name in SUITE:
        shape = suite_shape(name, args.max_frames)
        benchmark, questions, clips = bp.make_questions(
            shape, args.invariance_questions, args.frame_size, seed=len(name) + 1
        )
        default = args.batch_size or FVLMAdapter(model, tokenizer).suggested_batch_size(shape.frames)
        _, _, batched = bp.run_ours(model, tokenizer, benchmark, questions, clips, MODES, batch_size=default)
        _, _, alone = bp.run_ours(model, tokenizer, benchmark, questions, clips, MODES, batch_size=1)
        result = {"questions": len(questions), "batch_size": default}
        for mode in MODES:
            pairs = list(zip(batched[mode], alone[mode]))
            for protocol in PROTOCOLS:
                changed = sum(a.pred[protocol] != b.pred[protocol] for a, b in pairs)
                delta = max(
                    (abs(a.scores[protocol][k] - b.scores[protocol][k]) for a, b in pairs for k in a.scores[protocol]),
                    default=0.0,
                )
                result[f"{mode}/{protocol}"] = {"changed": changed, "max_abs_delta": delta}
        out["benchmarks"][name] = result
        print(f"  batch invariance {name}: done", flush=True)
    out["changed"] = sum(v["changed"] for b in out["benchmarks"].values() for k, v in b.items() if "/" in k)
    return out


def ask_all(adapter, asking, batch, clips) -> None:
    """One batch as a run asks it: its clips loaded, every mode asked, its clips forgotten."""
    keys = list(dict.fromkeys(q.media.key for q in batch))
    adapter.load_clips([clips[k] for k in keys])
    for mode in MODES:
        asking.records(batch, clips, mode)
    adapter.forget_clips(keys)


def gpu_busy(model, tokenizer, args, device) -> dict:
    """One batch per benchmark, every mode, under the profiler: device kernel time / wall time."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    out = {"benchmarks": {}}
    if not cuda:
        out["note"] = "no CUDA device: the profiler ran on the CPU only; busy fractions are null"
    for name in SUITE:
        shape = suite_shape(name, args.max_frames)
        adapter = FVLMAdapter(model, tokenizer)
        count = args.batch_size or adapter.suggested_batch_size(shape.frames)
        count = min(count, args.busy_questions) if args.busy_questions else count
        benchmark, questions, clips = bp.make_questions(shape, count, args.frame_size, seed=len(name) + 2, pool=64)
        asking = bp.make_asking(benchmark, adapter, questions, MODES)
        work = partial(ask_all, adapter, asking, questions, clips)

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            wall, _ = timed(device, work)
        kernel_us = None
        if cuda:
            kernel_us = sum(
                getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0) or 0
                for e in prof.key_averages()
            )
        unprofiled, _ = timed(device, work)
        out["benchmarks"][name] = {
            "questions": len(questions),
            "wall_s_profiled": wall,
            "wall_s": unprofiled,
            "kernel_s": kernel_us / 1e6 if kernel_us is not None else None,
            "busy_fraction": kernel_us / 1e6 / unprofiled if kernel_us is not None else None,
            "busy_fraction_profiled_wall": kernel_us / 1e6 / wall if kernel_us is not None else None,
        }
        print(f"  gpu busy {name}: done", flush=True)
    return out


# ----- the run --------------------------------------------------------------------------------


def environment(device) -> dict:
    import transformers

    env = {
        "device": str(device),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        env.update(gpu=properties.name, gpu_memory_bytes=properties.total_memory, cuda=torch.version.cuda)
    return env


def default_out() -> Path:
    folder = os.environ.get("OUT")
    return Path(folder) / "gpu_run.json" if folder else Path("gpu_run.json")


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dry-run", action="store_true", help="the same code on the CPU, a tiny model, a few questions"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="the JSON (default: $OUT/gpu_run.json, else ./gpu_run.json)"
    )
    parser.add_argument("--public", default=None, help="a nanoSmol checkout (default: $FVLM_PUBLIC, /tmp/nanoSmol)")
    parser.add_argument("--no-public", action="store_true")
    parser.add_argument("--sections", nargs="+", default=["suite", "public", "batch_invariance", "gpu_busy"])
    parser.add_argument("--suite-budget-s", type=float, default=240.0, help="the suite's time, shared by benchmarks")
    parser.add_argument("--questions", type=int, default=0, help="per benchmark in the suite (0: its full count)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the adapter's suggestion")
    parser.add_argument("--public-questions", type=int, default=4, help="per benchmark, for the public ratio")
    parser.add_argument("--invariance-questions", type=int, default=16, help="per benchmark")
    parser.add_argument("--busy-questions", type=int, default=0, help="per profiled batch (0: a default batch)")
    parser.add_argument("--max-frames", type=int, default=None, help="fewer frames per video than a run's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.dry_run:  # every section, every benchmark and mode, in seconds
        args.questions = args.questions or 3
        args.public_questions = min(args.public_questions, 1)
        args.invariance_questions = min(args.invariance_questions, 2)
        args.busy_questions = args.busy_questions or 2
        args.batch_size = args.batch_size or 2
        args.max_frames = args.max_frames or 16
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    started = time.perf_counter()
    device = torch.device("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    size = "tiny" if args.dry_run else "real"
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    args.frame_size = bp.FRAME_SIZE[size]
    if device.type == "cpu":
        torch.set_num_threads(1 if args.dry_run else torch.get_num_threads())
    out_path = args.out or default_out()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "schema": 1,
        "dry_run": args.dry_run,
        "command": "python benchmarks/gpu_run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "args": {k: v for k, v in vars(args).items()},
        "environment": environment(device),
        "model": {"size": size, "dtype": str(dtype).replace("torch.", ""), "seed": args.seed},
        "errors": {},
    }
    if device.type == "cpu" and not args.dry_run:
        result["errors"]["device"] = "no CUDA device: these are CPU figures at real size, not the GPU run"

    def write():
        result["seconds"] = time.perf_counter() - started
        out_path.write_text(json.dumps(result, indent=2, default=str))

    from fvlm_model import parameter_count
    from fvlm_model.loading import load_tokenizer

    model = bp.build_model(size, device=str(device), dtype=dtype, seed=args.seed)
    result["model"]["parameters"] = parameter_count(model)
    tokenizer = load_tokenizer(None)
    write()
    sections = {
        "suite": lambda: suite(model, tokenizer, args, device),
        "public": lambda: public_section(model, tokenizer, args, device, result.get("suite")),
        "batch_invariance": lambda: batch_invariance(model, tokenizer, args, device),
        "gpu_busy": lambda: gpu_busy(model, tokenizer, args, device),
    }
    for name in args.sections:
        print(f"{name} ...", flush=True)
        section_start = time.perf_counter()
        try:
            result[name] = sections[name]()
            result[name]["section_seconds"] = time.perf_counter() - section_start
        except Exception as error:  # one section failing must not lose the others
            result[name] = None
            result["errors"][name] = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=8)}"
            print(f"{name} failed: {type(error).__name__}: {error}", flush=True)
        write()
    print(f"wrote {out_path} ({time.perf_counter() - started:.0f} s)")
    return result


if __name__ == "__main__":
    main()
