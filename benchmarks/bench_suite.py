"""The full suite's shape through the fVLM fast path, and the public scorer's per-option method beside it.

The suite: MVBench 3,800 questions (one 16-frame clip each), Video-MME 2,700 questions (900
videos x 3 questions, 64 frames), ScienceQA 2,017 questions (one image each, shown as 8 copies),
4 options, prompts of the benchmarks' lengths; all three modes. Frames are given (random uint8
at 224 px: no decoding is timed), weights are random at the real size (or a small model).

``--questions N`` times N questions per benchmark and mode with the fast path and scales the
time to the benchmark's full count (the suite's seconds are that sum: a sample on CPU, the whole
thing when N is the full count). The public fVLM scorer's method (frames copied once per option,
each mode's full forward over the options' full texts) runs on ``--naive-questions`` of them:
its ms per question gives the ratio, and the predictions of both are compared (reference
protocol; a disagreement must be a near-tie). Every question is also scored in the cloze formulation
(question alone, each option's text; the harness always does both, on the same visual tokens):
``fast ms/q`` is both, ``cloze x`` the time of both over the multiple-choice formulation alone
(the cloze protocols' cost: one more prompt pass per question and the option texts on its
cache, so about 2x at most). With ``--batch-invariance``, the fast path runs
the sample again at batch size 1 and counts predictions that change (bfloat16: expected a few
near-ties; float32: none).

    python benchmarks/bench_suite.py --size small --questions 8                 # CPU smoke run
    python benchmarks/bench_suite.py --size real --questions 16                 # CPU, real size, a sample
    python benchmarks/bench_suite.py --size real --device cuda --questions 0 --batch-invariance   # GPU: the whole suite
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np
import torch
from bench_public import SMALL_DINO, SMALL_LLM, build_model  # benchmarks/ is on sys.path when run as a script

from fvlm_eval.models.fvlm import FVLMAdapter, normalise
from fvlm_eval.scoring import predict, protocol_scores
from fvlm_eval.types import ChoiceRequest, Clip, ClozeRequest, Option
from fvlm_model import MODES, FoveatedVLM
from fvlm_model.loading import load_tokenizer


@dataclass(frozen=True)
class Shape:
    name: str
    questions: int
    per_clip: int  # questions sharing one clip
    frames: int  # frames the model sees
    image: bool  # one distinct frame shown `frames` times
    question_words: int


SUITE = (
    Shape("mvbench", 3800, 1, 16, False, 12),
    Shape("videomme", 2700, 3, 64, False, 28),
    Shape("scienceqa", 2017, 1, 8, True, 30),
)
WORDS = "the person opens door cup ball red blue moves left right after before small large video frame".split()


def build(size: str, device: str, dtype: torch.dtype) -> FoveatedVLM:
    """Random weights at ``size``: real (bench_public's model: its rotary buffers rebuilt after
    ``to_empty``, which leaves them uninitialised) or small."""
    if size == "real":
        return build_model("real", device, dtype)
    torch.manual_seed(0)
    return FoveatedVLM.from_configs(SMALL_LLM, SMALL_DINO, query_dim=96).to(device=device, dtype=dtype).eval()


def questions_for(shape: Shape, count: int, seed: int) -> tuple[list[ChoiceRequest], dict[str, Clip]]:
    rng = np.random.default_rng(seed)
    requests, clips = [], {}
    for q in range(count):
        key = f"{shape.name}/clip{q // shape.per_clip}"
        if key not in clips:
            distinct = 1 if shape.image else shape.frames
            frames = rng.integers(0, 256, (distinct, 224, 224, 3), dtype=np.uint8)
            frame_map = (0,) if shape.image else tuple(range(shape.frames))
            clips[key] = Clip(
                key,
                "image" if shape.image else "video",
                frames,
                frame_map,
                frame_map,
                None if shape.image else tuple(float(i) for i in frame_map),
                len(frame_map),
            )
        question = " ".join(rng.choice(WORDS, shape.question_words)) + "?"
        options = tuple(Option("ABCD"[k], " ".join(rng.choice(WORDS, 3 + k))) for k in range(4))
        requests.append(ChoiceRequest(key, question + "\n" + "\n".join(o.answer for o in options), options))
    return requests, clips


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def fast(model, tokenizer, requests, clips, mode, batch_size, device, cloze=True):
    """The harness's fast path, batch by batch as the runner drives it (with ``cloze``, both
    formulations, as the runner always does); (multiple-choice results, seconds)."""
    adapter = FVLMAdapter(model, tokenizer)
    sync(device)
    start = time.perf_counter()
    results = []
    for first in range(0, len(requests), batch_size):
        batch = requests[first : first + batch_size]
        keys = list(dict.fromkeys(r.clip_key for r in batch))
        adapter.load_clips([clips[k] for k in keys])
        results += adapter.score(batch, mode)
        if cloze:
            adapter.score_cloze(
                [
                    ClozeRequest(r.clip_key, "Question: " + r.prompt.split("\n")[0], tuple(o.text for o in r.options))
                    for r in batch
                ],
                mode,
            )
        adapter.forget_clips(keys)
    sync(device)
    return results, time.perf_counter() - start


@torch.no_grad()
def naive(model, tokenizer, requests, clips, mode, device):
    """The public scorer's method: per question, frames copied per option, the mode's full forward."""
    adapter = FVLMAdapter(model, tokenizer)  # only for its chat text
    dtype = next(model.parameters()).dtype
    sync(device)
    start = time.perf_counter()
    results = []
    for request in requests:
        tokenized = adapter.tokens.choice(request.prompt, request.options)
        fulls = [list(f) for f in tokenized.fulls]
        longest = max(map(len, fulls))
        ids = torch.full((len(fulls), longest), adapter.tokens.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, full in enumerate(fulls):
            ids[i, : len(full)] = torch.tensor(full)
            mask[i, : len(full)] = 1
        clip = clips[request.clip_key]
        frame_map = (0,) * 8 if clip.kind == "image" else clip.frame_map
        frames = normalise(clip.frames[list(frame_map)]).to(device, dtype)
        logits = model(
            frames.unsqueeze(0).expand(len(fulls), -1, -1, -1, -1), ids.to(device), mask.to(device), mode=mode
        )["logits"]
        logprobs = logits.float().log_softmax(-1)
        start_at = len(tokenized.prompt)
        scores = {}
        for i, full in enumerate(fulls):
            values = [logprobs[i, p - 1, full[p]].item() for p in range(start_at, len(full))]
            losses = [0.0 if t == adapter.tokens.pad_id else -v for t, v in zip(full[start_at:], values)]
            scores["ABCD"[i]] = sum(losses) / len(losses)
        results.append(scores)
    sync(device)
    return results, time.perf_counter() - start


def reference_prediction(result) -> str:
    letters = tuple(o.first_token.strip()[:1] or "ABCD"[i] for i, o in enumerate(result.options))
    scores = protocol_scores(
        tuple("ABCD"[: len(result.options)]), tuple("x" for _ in result.options), list(result.options)
    )
    return predict("reference", scores["reference"]) if letters else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["small", "real"], default="small")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default=None, help="default: bfloat16 on cuda")
    parser.add_argument("--questions", type=int, default=8, help="per benchmark and mode (0: the full count)")
    parser.add_argument("--naive-questions", type=int, default=2, help="per benchmark and mode, for the ratio")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--benchmarks", nargs="+", default=[s.name for s in SUITE], choices=[s.name for s in SUITE])
    parser.add_argument("--batch-size", type=int, default=None, help="default: the adapter's suggestion (16 on CPU)")
    parser.add_argument("--batch-invariance", action="store_true", help="also run the sample at batch size 1")
    parser.add_argument("--json", default=None, help="write the measurements here")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32"))
    model = build(args.size, args.device, dtype)
    tokenizer = load_tokenizer(None)
    print(
        f"size={args.size} device={args.device} dtype={str(dtype).replace('torch.', '')} "
        f"threads={torch.get_num_threads()} questions={args.questions or 'all'} naive={args.naive_questions}"
    )
    print(
        f"{'benchmark':>10} {'mode':>15} {'batch':>5} {'timed q':>7} {'fast ms/q':>9} {'cloze x':>7} {'suite s':>8} "
        f"{'naive ms/q':>10} {'ratio':>6} {'agree':>7} {'bs1 changes':>11}"
    )
    rows, total = [], 0.0
    for shape in (s for s in SUITE if s.name in args.benchmarks):
        count = args.questions or shape.questions
        requests, clips = questions_for(shape, count, seed=len(shape.name))
        batch = args.batch_size or FVLMAdapter(model, tokenizer).suggested_batch_size(shape.frames)
        for mode in args.modes:
            fast(model, tokenizer, requests[: min(2, count)], clips, mode, batch, args.device)  # warm-up
            results, seconds = fast(model, tokenizer, requests, clips, mode, batch, args.device)
            _, choice_seconds = fast(model, tokenizer, requests, clips, mode, batch, args.device, cloze=False)
            suite_seconds = seconds * shape.questions / count
            total += suite_seconds
            sample = requests[: args.naive_questions]
            naive_scores, naive_seconds = (
                naive(model, tokenizer, sample, clips, mode, args.device) if sample else ([], 0.0)
            )
            agree = sum(predict("reference", n) == reference_prediction(r) for n, r in zip(naive_scores, results))
            changes = None
            if args.batch_invariance:
                alone, _ = fast(model, tokenizer, requests, clips, mode, 1, args.device)
                changes = sum(reference_prediction(a) != reference_prediction(b) for a, b in zip(alone, results))
            fast_ms, naive_ms = 1000 * seconds / count, (1000 * naive_seconds / len(sample) if sample else float("nan"))
            row = {
                "benchmark": shape.name,
                "mode": mode,
                "batch_size": batch,
                "timed_questions": count,
                "fast_ms_per_q": fast_ms,
                "cloze_cost_ratio": seconds / choice_seconds,
                "suite_seconds": suite_seconds,
                "naive_ms_per_q": naive_ms,
                "ratio": naive_ms / fast_ms,
                "agree": f"{agree}/{len(sample)}",
                "batch1_changes": changes,
            }
            rows.append(row)
            print(
                f"{shape.name:>10} {mode:>15} {batch:>5} {count:>7} {fast_ms:>9.1f} {row['cloze_cost_ratio']:>6.2f}x "
                f"{suite_seconds:>8.1f} {naive_ms:>10.1f} "
                f"{row['ratio']:>5.1f}x {row['agree']:>7} {'-' if changes is None else f'{changes}/{count}':>11}"
            )
    print(
        f"whole suite (3 benchmarks x {len(args.modes)} modes), fast path: {total:.1f} s "
        f"({'measured' if not args.questions else 'scaled from the timed questions'})"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "rows": rows, "suite_seconds": total}, handle, indent=2)


if __name__ == "__main__":
    main()
