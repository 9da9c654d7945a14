"""Time the SmolVLM2 adapter's fast path against a naive per-option scorer, same model and inputs.

The naive scorer is how a public per-option scorer runs SmolVLM: for every option of every
question, one full ``SmolVLMForConditionalGeneration`` forward over the whole text with the
pixels (the frames or tiles re-encoded by the vision tower for each option). The fast path is
the adapter: the vision tower once per clip (batched over clips), each question's prefix once,
every option on its KV cache. Both see the same token ids; predictions of every protocol must
agree (the script fails otherwise). Prints ms per question for image and video questions.

    python benchmarks/bench_smolvlm.py                           # CPU, tiny random model
    python benchmarks/bench_smolvlm.py --size small --frames 8 16 32
    python benchmarks/bench_smolvlm.py --model HuggingFaceTB/SmolVLM2-256M-Video-Instruct --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # script_args, when this file is loaded by path

from script_args import at_least  # noqa: E402

from fvlm_eval.models import detect_family, smolvlm  # noqa: E402
from fvlm_eval.models.base import ModelLoadError  # noqa: E402
from fvlm_eval.models.smolvlm import tiny as smolvlm_tiny  # noqa: E402
from fvlm_eval.protocols import PROTOCOLS  # noqa: E402
from fvlm_eval.scoring import predict, protocol_scores  # noqa: E402
from fvlm_eval.types import ChoiceRequest, Clip, Option, OptionLogprobs  # noqa: E402

SIZES = {
    "tiny": ({}, {}),  # save_tiny_smolvlm's own: 32px tiles, 4 tokens each, 2+2 layers
    "small": (
        dict(
            hidden_size=192,
            intermediate_size=768,
            num_hidden_layers=6,
            num_attention_heads=3,
            image_size=64,
            patch_size=8,
        ),
        dict(hidden_size=256, intermediate_size=768, num_hidden_layers=8, num_attention_heads=4, num_key_value_heads=2),
    ),
}
SUBJECTS = ("cup", "door", "ball", "dog")


def build(args, folder: Path) -> smolvlm.SmolVLMAdapter:
    """The adapter of ``--model`` (a SmolVLM2 folder or hub id) or of a random model; a model that cannot be
    timed here is one line (``SystemExit``, exit 1)."""
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if args.model:
        try:
            family = detect_family(args.model)
            if family != smolvlm.FAMILY:
                raise SystemExit(
                    f"error: --model {args.model}: a model of the {family} family; this script times SmolVLM2 only "
                    "(leave --model out for a random one)"
                )
            return smolvlm.load(args.model, device, dtype)
        except ModelLoadError as error:
            raise SystemExit(f"error: {error}") from None
    vision, text = SIZES[args.size]
    return smolvlm.load(str(smolvlm_tiny.save_tiny_smolvlm(folder, vision=vision, text=text)), device, dtype)


def questions(kind: str, n_questions: int, per_clip: int) -> list[ChoiceRequest]:
    requests = []
    for q in range(n_questions):
        options = tuple(Option("ABCD"[k], f"option {k} of question {q} about the {SUBJECTS[k]}") for k in range(4))
        prompt = (
            f"Question {q}: what happens in the {kind} after the person opens the door?\n"
            + "\n".join(o.answer for o in options)
            + "\n"
        )
        requests.append(ChoiceRequest(f"{kind}{q // per_clip}", prompt, options))
    return requests


def make_clips(adapter, kind: str, keys, frames: int, seed: int) -> dict[str, Clip]:
    rng = np.random.RandomState(seed)
    clips = {}
    for key in keys:
        if kind == "image":  # larger than a tile: SmolVLM tiles it
            tile = adapter.settings.tile_size
            image = rng.randint(0, 256, (1, tile * 3 // 2, tile * 2, 3), dtype=np.uint8)
            clips[key] = Clip(key, "image", image, (0,), (0,), None, 1)
        else:
            raw = rng.randint(0, 256, (frames, 90, 160, 3), dtype=np.uint8)
            times = tuple(round(1.0 + 2.0 * t, 6) for t in range(frames))
            clips[key] = Clip(
                key,
                "video",
                adapter.frame_transform(raw, "video"),
                tuple(range(frames)),
                tuple(int(t * 25) for t in times),
                times,
                int((2 * frames + 2) * 25),
                2.0 * frames + 2,
            )
    return clips


def pixel_inputs(adapter, clip: Clip) -> tuple[torch.Tensor, torch.Tensor]:
    """[1,N,3,S,S] pixel values and [1,N,S,S] masks, as SmolVLM's processors give them."""
    if clip.kind == "image":
        pixels, mask, _, _ = adapter.image_inputs(clip)
    else:
        pixels = adapter.normalise(clip.frames[list(clip.frame_map)])
        mask = torch.ones(pixels.shape[0], *pixels.shape[2:], dtype=torch.long)
    return pixels[None].to(adapter.device, adapter.dtype), mask[None].to(adapter.device)


@torch.no_grad()
def naive_scores(adapter, clips: dict[str, Clip], requests: list[ChoiceRequest]) -> list[list[OptionLogprobs]]:
    """Per question, per option: the whole text and the pixels through the full model."""
    results = []
    for request in requests:
        clip = clips[request.clip_key]
        media = adapter.media_text(clip, *_rows_cols(adapter, clip))
        tokenized = adapter.tokens.choice(media + request.prompt, request.options)
        start = len(tokenized.prompt)
        options = []
        for k, full in enumerate(tokenized.fulls):
            pixels, mask = pixel_inputs(adapter, clip)  # re-prepared and re-encoded for every option
            logits = adapter.model(
                input_ids=torch.tensor([full], device=adapter.device), pixel_values=pixels, pixel_attention_mask=mask
            ).logits[0]
            logprobs = logits[start - 1 : len(full) - 1].float().log_softmax(-1)  # the rows that predict the answer
            values = tuple(logprobs[p - start, full[p]].item() for p in range(start, len(full)))
            options.append(
                OptionLogprobs(
                    tuple(full[start:]),
                    values,
                    tokenized.n_text[k],
                    tokenized.own_text[k],
                    adapter.tokens.token_text(full[start]),
                    adapter.tokens.pad_id,
                )
            )
        results.append(options)
    return results


def _rows_cols(adapter, clip: Clip) -> tuple[int, int]:
    if clip.kind != "image":
        return 0, 0
    _, _, rows, cols = adapter.image_inputs(clip)
    return rows, cols


def fast_scores(adapter, clips: dict[str, Clip], requests: list[ChoiceRequest], batch_size: int):
    out = []
    for start in range(0, len(requests), batch_size):
        batch = requests[start : start + batch_size]
        keys = list(dict.fromkeys(r.clip_key for r in batch))
        adapter.load_clips([clips[k] for k in keys])
        out += [list(result.options) for result in adapter.score(batch, "standard")]
        adapter.forget_clips(keys)
    return out


def timed(fn, device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    value = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return value, time.perf_counter() - start


def agreement(requests, naive, fast) -> tuple[bool, float]:
    same, worst = True, 0.0
    for request, a, b in zip(requests, naive, fast):
        letters = tuple(o.letter for o in request.options)
        texts = tuple(o.text for o in request.options)
        sa, sb = protocol_scores(letters, texts, a), protocol_scores(letters, texts, b)
        same &= all(predict(p, sa[p]) == predict(p, sb[p]) for p in PROTOCOLS)
        for x, y in zip(a, b):
            same &= x.token_ids == y.token_ids
            worst = max(worst, float(np.max(np.abs(np.array(x.logprobs) - np.array(y.logprobs)))))
    return same, worst


def device_name(text: str) -> str:
    """An argparse type: a torch device that is here (``cpu``, ``cuda``, ``cuda:1``)."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: CUDA is not available here")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="random model size (without --model)")
    parser.add_argument("--model", help="a SmolVLM2 folder or hub id instead of a random model")
    parser.add_argument("--device", type=device_name, default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--frames", type=at_least(1), nargs="+", default=[8, 16], help="frames per video")
    parser.add_argument("--questions", type=at_least(1), default=4)
    parser.add_argument("--per-clip", type=at_least(1), default=1, help="questions sharing one clip (Video-MME: 3)")
    parser.add_argument("--batch-size", type=at_least(1), default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        adapter = build(args, Path(scratch) / "model")
        name = args.model or f"random {args.size}"
        print(
            f"model={name} device={args.device} dtype={args.dtype} questions={args.questions} "
            f"per_clip={args.per_clip} options=4 image_seq_len={adapter.settings.image_seq_len} "
            f"tile={adapter.settings.tile_size}"
        )
        print(f"{'kind':>6} {'frames':>6} {'naive ms/q':>11} {'fast ms/q':>10} {'ratio':>7} {'max |dlogp|':>12}  agree")
        failures = 0
        settings = [("image", 1)] + [("video", f) for f in args.frames]
        for kind, frames in settings:
            requests = questions(kind, args.questions, args.per_clip)
            clips = make_clips(adapter, kind, dict.fromkeys(r.clip_key for r in requests), frames, seed=frames)
            naive_scores(adapter, clips, requests[:1])  # warm-up
            naive, naive_s = timed(lambda: naive_scores(adapter, clips, requests), args.device)  # noqa: B023 (called here)
            fast_scores(adapter, clips, requests[:1], args.batch_size)  # warm-up
            fast, fast_s = timed(lambda: fast_scores(adapter, clips, requests, args.batch_size), args.device)  # noqa: B023
            same, worst = agreement(requests, naive, fast)
            failures += not same

            def per_q(seconds, count=len(requests)):
                return 1000 * seconds / count

            shown = "tiles" if kind == "image" else frames
            print(
                f"{kind:>6} {shown:>6} {per_q(naive_s):>11.1f} {per_q(fast_s):>10.1f} {naive_s / fast_s:>6.1f}x "
                f"{worst:>12.2e}  {same}"
            )
    if failures:
        raise SystemExit(f"{failures} settings where the two scorers' predictions disagree")


if __name__ == "__main__":
    main()
