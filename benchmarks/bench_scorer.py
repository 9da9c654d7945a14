"""Time the fast scorer against a naive per-option scorer on the same model and inputs.

The naive scorer is the public fVLM benchmark scorer's method: per question, the frames are
copied once per option and the mode's full forward runs over that batch (vision encode, visual
tokens and the whole text, for every option). Predictions of both must agree; the script fails
otherwise. Prints ms per question for each and the ratio, per frame count and mode.

    python benchmarks/bench_scorer.py                       # CPU, small random model
    python benchmarks/bench_scorer.py --size real --device cuda --dtype bfloat16 --frames 8 16 64
"""

from __future__ import annotations

import argparse
import time

import torch

from fvlm_eval.fvlm_backend import ChatTokens, FVLMChoiceModel
from fvlm_eval.media import Clip
from fvlm_eval.scoring import predict, protocol_scores
from fvlm_eval.types import MediaNote, OptionLogprobs, ScoreRequest
from model import MODES, FoveatedVLM
from model.loading import default_spec, load_tokenizer

SMALL_LLM = dict(hidden_size=192, intermediate_size=512, num_hidden_layers=6, num_attention_heads=3, num_key_value_heads=1,
                 vocab_size=49152, tie_word_embeddings=True, rope_theta=100000.0, max_position_embeddings=2048,
                 rms_norm_eps=1e-5, pad_token_id=2)
SMALL_DINO = dict(hidden_size=96, num_hidden_layers=4, num_attention_heads=3, image_size=224, patch_size=14, mlp_ratio=4,
                  layerscale_value=1.0, layer_norm_eps=1e-6, qkv_bias=True)


def build(size: str, device: str, dtype: torch.dtype) -> FoveatedVLM:
    torch.manual_seed(0)
    if size == "real":
        spec = default_spec()
        model = FoveatedVLM.from_configs(spec.llm, spec.dino, spec.query_dim, spec.visual_scale)
    else:
        model = FoveatedVLM.from_configs(SMALL_LLM, SMALL_DINO, query_dim=96)
    return model.to(device=device, dtype=dtype).eval()


def requests_for(n_questions: int, per_video: int):
    requests = []
    for q in range(n_questions):
        options = [f"{'ABCD'[k]}. option {k} of question {q} about the {['cup', 'door', 'ball', 'dog'][k]}" for k in range(4)]
        prompt = f"Question {q}: what happens in the video after the person opens the door?\n" + "\n".join(options)
        requests.append(ScoreRequest(f"video{q // per_video}", prompt, tuple(options)))
    return requests


@torch.no_grad()
def naive_scores(model, chat: ChatTokens, clips, requests, mode):
    """Per question: frames copied per option, the mode's full forward over the options' full texts."""
    results = []
    device = next(model.parameters()).device
    for request in requests:
        tokenized = chat(request.prompt, request.answers)
        fulls = [list(f) for f in tokenized.fulls]
        longest = max(map(len, fulls))
        ids = torch.full((len(fulls), longest), chat.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, full in enumerate(fulls):
            ids[i, : len(full)] = torch.tensor(full)
            mask[i, : len(full)] = 1
        clip = clips[request.clip_key]
        frames = clip.pixels[list(clip.frame_map)].to(device, next(model.parameters()).dtype)
        logits = model(frames.unsqueeze(0).expand(len(fulls), -1, -1, -1, -1), ids.to(device), mask.to(device), mode=mode)["logits"]
        logprobs = logits.float().log_softmax(-1)
        options = []
        start = len(tokenized.prompt)
        for i, full in enumerate(fulls):
            values = [logprobs[i, p - 1, full[p]].item() for p in range(start, len(full))]
            options.append(OptionLogprobs(tuple(full[start:]), tuple(values), tokenized.n_text[i], "", chat.pad_id))
        results.append(options)
    return results


def timed(fn, device):
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    value = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["small", "real"], default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--per-video", type=int, default=1, help="questions sharing one video (Video-MME: 3)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    dtype = getattr(torch, args.dtype)
    model = build(args.size, args.device, dtype)
    chat = ChatTokens(load_tokenizer(None))
    print(f"size={args.size} device={args.device} dtype={args.dtype} questions={args.questions} per_video={args.per_video} options=4")
    print(f"{'frames':>6} {'mode':>15} {'naive ms/q':>11} {'fast ms/q':>10} {'ratio':>7}  agree")
    failures = 0
    for n_frames in args.frames:
        requests = requests_for(args.questions, args.per_video)
        generator = torch.Generator().manual_seed(n_frames)
        keys = dict.fromkeys(r.clip_key for r in requests)
        clips = {k: Clip(k, torch.randn(n_frames, 3, 224, 224, generator=generator), tuple(range(n_frames)),
                         MediaNote(tuple(range(n_frames)), n_frames)) for k in keys}
        for mode in args.modes:
            naive_scores(model, chat, clips, requests[:1], mode)  # warm-up
            naive, naive_s = timed(lambda: naive_scores(model, chat, clips, requests, mode), args.device)
            scorer = FVLMChoiceModel(model, chat.tokenizer)

            def fast_run():
                out = []
                for s in range(0, len(requests), args.batch_size):
                    batch = requests[s : s + args.batch_size]
                    scorer.prepare([clips[k] for k in dict.fromkeys(r.clip_key for r in batch)])
                    out += scorer.score(batch, mode)
                    scorer.release(list(keys))
                return out

            fast_run()  # warm-up
            fast, fast_s = timed(fast_run, args.device)
            letters = ("A", "B", "C", "D")
            agree = all(predict(p, protocol_scores(letters, a)[p]) == predict(p, protocol_scores(letters, b)[p])
                        for a, b in zip(naive, fast) for p in ("reference", "sum", "mean"))
            failures += not agree
            per_q = lambda seconds: 1000 * seconds / len(requests)
            print(f"{n_frames:>6} {mode:>15} {per_q(naive_s):>11.1f} {per_q(fast_s):>10.1f} {naive_s / fast_s:>6.1f}x  {agree}")
    if failures:
        raise SystemExit(f"{failures} settings where the two scorers' predictions disagree")


if __name__ == "__main__":
    main()
