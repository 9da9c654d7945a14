"""fvlm-eval against the real public fVLM scorer, same weights, same tokenizer, same questions: one command.

The public scorer is nanoSmol's ``fVLM/benchmark.py`` ``score_options_batched``, unchanged (a
checkout of it is needed: ``--public PATH`` or ``$FVLM_PUBLIC``; ``public_shim.py`` checks its files
by SHA-256 and says how to get it; a ``--public PATH`` that is missing or altered is that one line and exit
1, while without ``--public`` a missing checkout is said and ours timed alone). Both models are built at
the size asked (``real``: DINOv2-small + SmolLM2-135M-Instruct, random weights from a fixed seed) with the
same weights (the public model gets our ``state_dict``), and score the same synthetic questions of three
benchmark shapes, with prompts of real length through the benchmarks' own prompt code:

- ScienceQA: one image shown as 8 copies, 2-5 options, a context on every other question;
- MVBench: 16 frames, 3-5 options;
- Video-MME: 32 frames, 4 options, 3 questions per video.

Per shape and mode (``coarse_only``, ``coarse_fine``, ``autoregressive``) and for all three together:

- public ms/question: ``score_options_batched`` once per mode (it encodes the frames again for each
  option and each mode); all three is their sum, as the public loop runs them;
- ours ms/question: the harness's real path, ``fvlm_eval.run.asking.Asking`` over batches of whole
  clips as a run makes them (clips loaded once per batch, every mode asked, clips forgotten), so
  both formulations (multiple choice and cloze, the default) are timed exactly as a run does them,
  whatever adapter methods ``Asking`` calls; a mode alone is a run of that mode alone (its own
  encode), all three is ``--mode all`` (one encode);
- MC only: the multiple-choice formulation alone (``adapter.score``), and the cloze cost (default /
  MC only) beside the cloze positions (the positions of the default run's packed passes over the MC
  run's: the share of the language model's work the cloze formulation adds, the bound of its cost);
  with ``--circular``, the run with ``--circular`` and its cost over the default (both for all three
  modes; for each mode too with ``--per-mode-variants``);
- the ratio public / ours, wall clock and CPU time (``time.process_time``). The public scorer's cost
  is per option (every option's row runs all the frames through DINOv2 and the LLM), so its time is
  taken per option on the questions it ran and counted at the options per question of all the
  questions ours ran (its ms/q on its own sample is shown beside it). Its default sample is one
  cycle of the shape's question mix (``--public-questions``: ScienceQA 4, 2-5 options with a context
  on every other; MVBench 3; Video-MME 1), whose option mix is the set's;
- max |Δ| between the public per-option loss and ours (``reference``: the mean negative log-prob of
  the answer tokens), and whether the predictions are the same, on the questions the public scorer
  ran (``--public-questions`` per shape).

Medians of ``--repeats``; one thread by default (``--threads``); the load average before and after.

    python benchmarks/bench_public.py --public /tmp/nanoSmol --out bench.json --md bench.md   # ~20 min, 2 cores
    python benchmarks/bench_public.py --quick                  # a small random model, one repeat: a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # public_shim, when this file is loaded by path

from script_args import at_least  # noqa: E402

from fvlm_eval.circular import rotated  # noqa: E402
from fvlm_eval.models import lm  # noqa: E402
from fvlm_eval.models.fvlm import FVLMAdapter, normalise, shown_frames  # noqa: E402
from fvlm_eval.records import question_sha256  # noqa: E402
from fvlm_eval.run.asking import Asking  # noqa: E402
from fvlm_eval.run.settings import RunSettings  # noqa: E402
from fvlm_eval.tasks import get_benchmark  # noqa: E402
from fvlm_eval.tasks.base import lettered  # noqa: E402
from fvlm_eval.types import ChoiceRequest, Clip, Media, Question  # noqa: E402

MODES = ("coarse_only", "coarse_fine", "autoregressive")
ALL = "all three"

SMALL_LLM = dict(
    hidden_size=192,
    intermediate_size=512,
    num_hidden_layers=6,
    num_attention_heads=3,
    num_key_value_heads=1,
    vocab_size=49152,
    tie_word_embeddings=True,
    rope_theta=100000.0,
    max_position_embeddings=8192,
    rms_norm_eps=1e-5,
    pad_token_id=2,
)
SMALL_DINO = dict(
    hidden_size=96,
    num_hidden_layers=4,
    num_attention_heads=3,
    image_size=224,
    patch_size=14,
    mlp_ratio=4,
    layerscale_value=1.0,
    layer_norm_eps=1e-6,
    qkv_bias=True,
)
TINY_LLM = dict(SMALL_LLM, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
TINY_LLM.update(num_key_value_heads=2, max_position_embeddings=2048)
TINY_DINO = dict(SMALL_DINO, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=28)
QUERY_DIM = {"small": 96, "tiny": 32}
FRAME_SIZE = {"real": 224, "small": 224, "tiny": 28}


@dataclass(frozen=True)
class Shape:
    """A benchmark's shape: ``frames`` the model sees (an image: one frame shown as 8 copies), option
    counts cycled over the questions, questions per clip, words of context / question / each option."""

    name: str  # the registered benchmark whose prompt code is used
    title: str
    frames: int
    image: bool
    options: tuple[int, ...]
    per_clip: int
    context_words: int
    question_words: int
    option_words: tuple[int, int]
    questions: int  # timed through the harness by default (whole clips)


SHAPES = {
    "scienceqa": Shape("scienceqa", "ScienceQA (image x8, 2-5 options)", 8, True, (2, 3, 4, 5), 1, 30, 14, (1, 4), 4),
    "mvbench": Shape("mvbench", "MVBench (16 frames, 3-5 options)", 16, False, (3, 4, 5), 1, 0, 14, (2, 6), 3),
    "videomme": Shape("videomme", "Video-MME (32 frames, 4 options, 3 q/video)", 32, False, (4,), 3, 0, 22, (4, 12), 3),
}
WORDS = (
    "the a person man woman child dog cat car ball cup door table chair window box bag phone book water tree "
    "red blue green yellow small large left right top bottom first last before after during while opens closes "
    "picks puts moves walks runs holds throws turns shows video frame scene camera object action happens what "
    "which where when why how many most likely following describes best correct plant animal energy force "
    "magnet cell map state capital temperature liquid solid gas weather rock soil"
).split()


# ----- the model, the questions -------------------------------------------------------------


def build_model(size: str, device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0):
    """Our fVLM at ``size`` with random weights from ``seed``: linear and embedding weights N(0, 0.02),
    norms 1, biases 0, layer scales 1, ``q_static``/``q_init`` N(0, 1) (the public initialisation)."""
    from fvlm_model import FoveatedVLM
    from fvlm_model.loading import build_skeleton, default_spec

    torch.manual_seed(seed)
    if size == "real":
        model = build_skeleton(default_spec()).to_empty(device="cpu")
        # to_empty leaves computed buffers (the rotary inv_freq) uninitialised, and no longer on the meta
        # device, so _materialize_buffers would not see them: rebuild those modules from their configs
        for name, module in list(model.named_modules()):
            if type(module).__name__.endswith("RotaryEmbedding"):
                parent, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent), child, type(module)(config=module.config))
    else:
        llm, dino = (SMALL_LLM, SMALL_DINO) if size == "small" else (TINY_LLM, TINY_DINO)
        model = FoveatedVLM.from_configs(llm, dino, query_dim=QUERY_DIM[size])
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("q_static") or name.endswith("q_init"):
                parameter.normal_(0, 1)
            elif "norm" in name and name.endswith("weight") or "lambda1" in name:
                parameter.fill_(1.0)
            elif name.endswith("bias"):
                parameter.zero_()
            else:
                parameter.normal_(0, 0.02)
    if model.llm.config.tie_word_embeddings:
        model.llm.lm_head.weight = model.llm.model.embed_tokens.weight
    return model.to(device=device, dtype=dtype).eval()


def _words(rng, count: int) -> str:
    return " ".join(rng.choice(WORDS, count))


class PooledClips(Mapping):
    """Clips made when asked, their frames copied from a pool of random frames (the whole suite's
    pixels would not fit in memory); the most recent ones kept."""

    def __init__(self, distinct: dict[str, int], image: bool, pool: np.ndarray, keep: int = 1024):
        self.distinct, self.image, self.pool, self.keep = distinct, image, pool, keep
        self._made: OrderedDict[str, Clip] = OrderedDict()

    def __getitem__(self, key: str) -> Clip:
        if key not in self._made:
            n = self.distinct[key]
            start = zlib.crc32(key.encode()) % len(self.pool)
            frames = self.pool[(start + np.arange(n)) % len(self.pool)]
            self._made[key] = _clip(key, frames, self.image)
            while len(self._made) > self.keep:
                self._made.popitem(last=False)
        return self._made[key]

    def __iter__(self):
        return iter(self.distinct)

    def __len__(self) -> int:
        return len(self.distinct)


def _clip(key: str, frames: np.ndarray, image: bool) -> Clip:
    frame_map = tuple(range(frames.shape[0]))
    timestamps = None if image else tuple(float(i) for i in frame_map)
    return Clip(key, "image" if image else "video", frames, frame_map, frame_map, timestamps, len(frame_map))


def make_questions(shape: Shape, count: int, frame_size: int = 224, seed: int = 0, pool: int = 0):
    """``count`` questions of ``shape`` (whole clips: rounded up to ``per_clip``), their clips (random
    uint8 frames; with ``pool``, ``PooledClips`` over that many random frames), and the benchmark object
    whose prompt code asks them."""
    rng = np.random.default_rng(seed)
    benchmark = get_benchmark(shape.name)
    count = -(-count // shape.per_clip) * shape.per_clip
    distinct = 1 if shape.image else shape.frames
    pooled = rng.integers(0, 256, (pool, frame_size, frame_size, 3), dtype=np.uint8) if pool else None
    questions, clips, sizes = [], {}, {}
    for q in range(count):
        key = f"{shape.name}/clip{q // shape.per_clip}"
        if key not in sizes:
            sizes[key] = distinct
            if pooled is None:
                frames = rng.integers(0, 256, (distinct, frame_size, frame_size, 3), dtype=np.uint8)
                clips[key] = _clip(key, frames, shape.image)
        n_options = shape.options[q % len(shape.options)]
        texts = [
            _words(rng, int(rng.integers(shape.option_words[0], shape.option_words[1] + 1))) for _ in range(n_options)
        ]
        context = _words(rng, shape.context_words) + "." if shape.context_words and q % 2 == 0 else ""
        questions.append(
            Question(
                id=f"{shape.name}-{q}",
                benchmark=shape.name,
                media=Media("image" if shape.image else "video", key),
                question=_words(rng, shape.question_words).capitalize() + "?",
                options=lettered(texts),
                gold="A",
                group="synthetic",
                context=context,
            )
        )
    return benchmark, questions, (clips if pooled is None else PooledClips(sizes, shape.image, pooled))


def batches(questions: list[Question], batch_size: int) -> list[list[Question]]:
    """Whole clips per batch, until a batch holds ``batch_size`` questions (as the runner makes them)."""
    by_clip: dict[str, list[Question]] = {}
    for question in questions:
        by_clip.setdefault(question.media.key, []).append(question)
    out, current = [], []
    for group in by_clip.values():
        current += group
        if len(current) >= batch_size:
            out.append(current)
            current = []
    return out + ([current] if current else [])


def sync(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# ----- ours: the harness's real path ----------------------------------------------------------


def make_asking(benchmark, adapter, questions, modes, circular: bool = False) -> Asking:
    """How a run with these settings asks ``questions`` (the prompts and hashes a run makes)."""
    settings = RunSettings(
        benchmarks=(benchmark.name,),
        modes=tuple(modes),
        data_dir=Path("."),
        output_dir=Path("."),
        circular=circular,
    )
    prompts = {q.id: benchmark.prompt(q) for q in questions}
    hashes = {q.id: question_sha256(q, prompts[q.id], benchmark.version) for q in questions}
    return Asking(benchmark, adapter, settings, prompts, hashes, str(adapter.dtype).replace("torch.", ""))


POSITIONS = {"nodes": 0, "padded": 0}  # the last run_ours's packed passes: tree nodes, positions run
_PASSES = lm.TextModel.passes


def _counted_passes(self, trees, embeddings):
    made = _PASSES(self, trees, embeddings)
    POSITIONS["nodes"] += sum(len(t) for t in trees)
    POSITIONS["padded"] += sum(c.positions_run for c in made)
    return made


def run_ours(model, tokenizer, benchmark, questions, clips, modes, *, what="default", circular=False, batch_size=None):
    """One run's worth of asking (a fresh adapter, as a new run has): per batch of whole clips, load
    them, ask every mode in ``modes``, forget them. ``what``: ``default`` (``Asking``: every
    formulation a run asks) or ``mc`` (``adapter.score`` alone). (wall s, CPU s, records per mode);
    ``POSITIONS``: the positions its packed passes held (the language model's work but the visual tokens')."""
    POSITIONS.update(nodes=0, padded=0)
    lm.TextModel.passes = _counted_passes  # counted from outside: the harness is unchanged
    adapter = FVLMAdapter(model, tokenizer)
    device = adapter.device
    asking = make_asking(benchmark, adapter, questions, modes, circular)
    batch_size = batch_size or adapter.suggested_batch_size(benchmark.sampling.frames)  # as the runner asks
    records = {mode: [] for mode in modes}
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches(questions, batch_size):
        keys = list(dict.fromkeys(q.media.key for q in batch))
        adapter.load_clips([clips[k] for k in keys])
        for mode in modes:
            if what == "mc":
                asked = [rotated(q, s)[0] if s else q for q in batch for s in range(len(q.options) if circular else 1)]
                adapter.score([ChoiceRequest(q.media.key, benchmark.prompt(q), q.options) for q in asked], mode)
            else:
                records[mode] += asking.records(batch, clips, mode)
        adapter.forget_clips(keys)
    sync(device)
    return time.perf_counter() - wall, time.process_time() - cpu, records


# ----- the public scorer ----------------------------------------------------------------------


def public_frames(clip: Clip, device, dtype) -> torch.Tensor:
    """[1, T, 3, 224, 224] as ``prepare_frames_tensor`` makes them (a single frame, image or video: 8 copies), in
    ``dtype``."""
    return normalise(clip.frames[list(shown_frames(clip))]).unsqueeze(0).to(device, dtype)


def run_public(public, pmodel, tokenizer, benchmark, questions, clips, modes):
    """The public loop: per question its frames once, then ``score_options_batched`` per mode.
    Per question and mode: (wall s, CPU s, {letter: loss}); also the options the public scorer read."""
    parameter = next(pmodel.parameters())
    device, dtype = parameter.device, parameter.dtype
    out = []
    for question in questions:
        text = benchmark.prompt(question)
        options = public.options(text)
        frames = public_frames(clips[question.media.key], device, dtype)
        per_mode = {}
        for mode in modes:
            sync(device)
            wall, cpu = time.perf_counter(), time.process_time()
            losses = public.score(pmodel, tokenizer, frames, text, options, mode, str(device))
            sync(device)
            per_mode[mode] = (time.perf_counter() - wall, time.process_time() - cpu, losses)
        out.append((question, options, per_mode))
    return out


# ----- the measurement ------------------------------------------------------------------------


def mix_cycle(shape: Shape) -> int:
    """Questions in one cycle of the shape's synthetic mix (its option counts, and a context on every other
    question where it has one): the first this many have the option mix of any whole number of cycles."""
    return math.lcm(len(shape.options), 2 if shape.context_words else 1)


def options_per_question(questions: list[Question]) -> float:
    return sum(len(q.options) for q in questions) / len(questions)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_shape(shape, args, model, tokenizer, public, pmodel) -> list[dict]:
    frame_size = FRAME_SIZE[args.size]
    count = args.questions if args.questions is not None else shape.questions
    benchmark, questions, clips = make_questions(shape, count, frame_size, seed=len(shape.name))
    sample = args.public_questions if args.public_questions is not None else mix_cycle(shape)
    public_questions = questions[:sample] if public is not None else []
    n, n_public = len(questions), len(public_questions)
    runs = [(m,) for m in MODES] + [MODES]  # each mode alone, then all three in one run
    times: dict[tuple, list[tuple[float, float]]] = {}
    positions: dict[tuple, dict[str, int]] = {}
    records, public_losses, public_options = {}, {}, {}
    # warm-up: one small run of everything (first calls allocate and tokenize)
    warm = questions[: shape.per_clip]
    run_ours(model, tokenizer, benchmark, warm, clips, MODES, batch_size=args.batch_size)
    for repeat in range(args.repeats):
        for modes in runs if repeat < args.mode_repeats else [MODES]:
            label = ALL if len(modes) > 1 else modes[0]
            kinds = [("default", False)]
            if label == ALL or args.per_mode_variants:
                kinds += [("mc", False)] + ([("default", True), ("mc", True)] if args.circular else [])
            for what, circular in kinds:
                wall, cpu, got = run_ours(
                    model, tokenizer, benchmark, questions, clips, modes, what=what, circular=circular,
                    batch_size=args.batch_size,
                )  # fmt: skip
                times.setdefault((label, what, circular), []).append((wall / n, cpu / n))
                positions[(label, what, circular)] = dict(POSITIONS)
                if repeat == 0 and what == "default" and not circular and label == ALL:
                    records = got
        if public_questions:
            for question, options, per_mode in run_public(
                public, pmodel, tokenizer, benchmark, public_questions, clips, MODES
            ):
                public_options[question.id] = options
                for mode, (wall, cpu, losses) in per_mode.items():
                    times.setdefault(("public", mode, question.id), []).append((wall, cpu))
                    public_losses[(question.id, mode)] = losses
        print(f"  {shape.name}: repeat {repeat + 1}/{args.repeats} done ({os.getloadavg()[0]:.2f} load)", flush=True)
    rows, repeats = [], range(args.repeats)
    for label in (*MODES, ALL):
        modes = MODES if label == ALL else (label,)

        def ours(what, circular=False, k=0, label=label):
            values = times.get((label, what, circular))
            return median([v[k] for v in values]) * 1000 if values else None

        row = {"shape": shape.name, "title": shape.title, "mode": label, "questions": n, "public_questions": n_public}
        row.update(
            ours_ms=ours("default"),
            ours_cpu_ms=ours("default", k=1),
            mc_ms=ours("mc"),
            mc_cpu_ms=ours("mc", k=1),
            circular_ms=ours("default", True),
            mc_circular_ms=ours("mc", True),
        )
        if row["ours_ms"] is None:  # a mode alone was not timed (--mode-repeats 0)
            continue
        row["cloze_cost"] = row["ours_ms"] / row["mc_ms"] if row["mc_ms"] else None
        default, mc = positions.get((label, "default", False)), positions.get((label, "mc", False))
        row["positions"], row["mc_positions"] = default, mc
        # the cloze formulation's own positions, over the multiple-choice ones: the bound of its cost
        row["cloze_positions"] = default["nodes"] / mc["nodes"] if default and mc and mc["nodes"] else None
        row["circular_cost"] = row["circular_ms"] / row["ours_ms"] if row["circular_ms"] else None
        row["mc_circular_cost"] = row["mc_circular_ms"] / row["mc_ms"] if row["mc_circular_ms"] else None
        if n_public:
            # per repeat: the sum over the public questions (and, for all three, over the modes)
            per_repeat = [
                [sum(times[("public", m, q.id)][r][k] for q in public_questions for m in modes) for r in repeats]
                for k in (0, 1)
            ]
            # its cost is per option: counted at the options per question of all the questions ours ran
            row["options_per_q"] = options_per_question(questions)
            row["public_options_per_q"] = options_per_question(public_questions)
            scale = row["options_per_q"] / row["public_options_per_q"]
            row["public_sample_ms"] = median(per_repeat[0]) * 1000 / n_public
            row["public_per_question"] = [  # the per-option cost, seen question by question
                {
                    "id": q.id,
                    "options": len(q.options),
                    "ms": median([sum(times[("public", m, q.id)][r][0] for m in modes) for r in repeats]) * 1000,
                }
                for q in public_questions
            ]
            row["public_ms"] = row["public_sample_ms"] * scale
            row["public_cpu_ms"] = median(per_repeat[1]) * 1000 / n_public * scale
            row["ratio"] = row["public_ms"] / row["ours_ms"]
            row["cpu_ratio"] = row["public_cpu_ms"] / row["ours_cpu_ms"]
            row["mc_ratio"] = row["public_ms"] / row["mc_ms"] if row["mc_ms"] else None
            deltas, same, compared, misread, failed = [], 0, 0, 0, []
            by_id = {mode: {r.id: r for r in records[mode]} for mode in modes}
            for question in public_questions:
                expected = {o.letter: f"{o.letter}. {o.text.strip()}" for o in question.options}
                misread += public_options[question.id] != expected
                for mode in modes:
                    losses = public_losses[(question.id, mode)]
                    record = by_id[mode][question.id]
                    ours_scores = record.scores.get("reference")
                    if record.error or ours_scores is None:
                        failed.append(f"{question.id} {mode}: {record.error}")
                        continue
                    deltas += [abs(losses[k] - ours_scores[k]) for k in losses if k in ours_scores]
                    same += min(losses, key=losses.get) == record.pred["reference"]
                    compared += 1
            row["max_abs_delta"] = max(deltas) if deltas else None
            row["same_predictions"] = f"{same}/{compared}"
            row["public_options_misread"] = misread
            row["ours_failed"] = failed  # records that failed (no score to compare): each with its error
            if failed:
                print(f"  {shape.name} {label}: our records failed: {failed}", flush=True)
        rows.append(row)
    return rows


def fmt(value, spec: str, suffix: str = "") -> str:
    return "-" if value is None or (isinstance(value, float) and value != value) else format(value, spec) + suffix


def markdown(result: dict) -> str:
    circular = result["args"]["circular"]
    has_public = any("public_ms" in r for r in result["rows"])
    head = ["shape", "mode"]
    if has_public:
        head += ["options/q (public's, ours)", "public ms/q (its questions)", "public ms/q (ours' options)"]
        head += ["ours ms/q (MC + cloze)", "ratio", "CPU ratio"]
    else:
        head += ["ours ms/q (MC + cloze)"]
    head += ["ours MC only ms/q"] + (["ratio (MC only)"] if has_public else []) + ["cloze cost", "cloze positions"]
    if circular:
        head += ["--circular ms/q", "circular cost", "MC circular cost"]
    if has_public:
        head += ["max abs delta", "same predictions"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(result["rows"]):
        first = i == 0 or result["rows"][i - 1]["shape"] != r["shape"]
        cells = [r["title"] if first else "", r["mode"]]
        if has_public:
            cells += [f"{fmt(r.get('public_options_per_q'), '.2f')}, {fmt(r.get('options_per_q'), '.2f')}"]
            cells += [fmt(r.get("public_sample_ms"), ".0f"), fmt(r.get("public_ms"), ".0f"), fmt(r["ours_ms"], ".0f")]
            cells += [fmt(r.get("ratio"), ".1f", suffix="x"), fmt(r.get("cpu_ratio"), ".1f", suffix="x")]
        else:
            cells += [fmt(r["ours_ms"], ".0f")]
        cells += [fmt(r["mc_ms"], ".0f")] + ([fmt(r.get("mc_ratio"), ".1f", suffix="x")] if has_public else [])
        cells += [fmt(r["cloze_cost"], ".2f", suffix="x"), fmt(r.get("cloze_positions"), ".2f", suffix="x")]
        if circular:
            cells += [fmt(r["circular_ms"], ".0f"), fmt(r["circular_cost"], ".2f", suffix="x")]
            cells += [fmt(r["mc_circular_cost"], ".2f", suffix="x")]
        if has_public:
            cells += [fmt(r.get("max_abs_delta"), ".1e"), r.get("same_predictions", "-")]
        lines.append("| " + " | ".join(cells) + " |")
    a = result["args"]
    notes = [
        f"`{result['command']}`",
        "",
        f"size {a['size']}, {result['dtype']}, {result['device']}, torch {result['torch']}, "
        f"{a['threads']} thread(s), {result['cpus']} CPUs ({result['machine']}); medians of {a['repeats']} "
        f"(a mode alone: of {a.get('mode_repeats', a['repeats'])}); "
        f"load average before {result['load_before']}, after {result['load_after']}; "
        f"{result['seconds']:.0f} s in all; code: {result['code']}.",
        "ms/q: milliseconds per question (wall); a mode alone is a run of that mode (its own encode), "
        "all three one run of every mode (one encode); the public scorer's all three is the sum of its modes.",
    ]
    if has_public:
        notes.append(
            "The public scorer ran the first "
            + ", ".join(
                f"{r['public_questions']} of {r['questions']} ({r['shape']})"
                for r in {r["shape"]: r for r in result["rows"]}.values()
            )
            + " questions; max abs delta and same predictions compare its per-option loss with ours (`reference`). "
            "Its cost is per option (every option's row runs all the frames): its time per option on its questions "
            "is counted at the options per question of ours (the ratios use that column)."
        )
    else:
        notes.append(f"No public scorer: {result.get('public_skipped')}")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def code_version() -> str:
    import subprocess

    import fvlm_eval

    root = Path(fvlm_eval.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "fvlm_eval", "model"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return f"{root} {commit or '(not a git checkout)'}{' + uncommitted changes' if dirty else ''}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--public", default=None, help="a nanoSmol checkout (default: $FVLM_PUBLIC, /tmp/nanoSmol)")
    parser.add_argument("--no-public", action="store_true", help="time ours only")
    parser.add_argument("--size", choices=["real", "small", "tiny"], default=None, help="default: real")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--questions", type=at_least(1), default=None, help="per shape, timed through the harness")
    parser.add_argument(
        "--public-questions",
        type=at_least(0),
        default=None,
        help="per shape, timed with the public scorer (default: one cycle of the shape's question mix: 4, 3, 1)",
    )
    parser.add_argument("--repeats", type=at_least(1), default=3)
    parser.add_argument(
        "--mode-repeats",
        type=at_least(0),
        default=None,
        help="repeats of each mode alone (default: --repeats; all three: --repeats)",
    )
    parser.add_argument("--threads", type=at_least(1), default=1, help="torch.set_num_threads")
    parser.add_argument(
        "--batch-size",
        type=at_least(1),
        default=None,
        help="questions per batch (default: the adapter's suggestion, as the runner asks it: 16, images 32 on CPU)",
    )
    parser.add_argument("--circular", action="store_true", help="also time --circular (default and MC only)")
    parser.add_argument(
        "--per-mode-variants",
        action="store_true",
        help="also time MC only (and --circular) for each mode alone (default: for all three only)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke test: --size small --repeats 1 --questions 2")
    parser.add_argument("--out", default=None, help="write the JSON here")
    parser.add_argument("--md", default=None, help="write the markdown table here")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.repeats, args.questions = args.size or "small", 1, args.questions or 2
    args.mode_repeats = args.repeats if args.mode_repeats is None else min(args.mode_repeats, args.repeats)
    args.size = args.size or "real"
    if args.public is not None and not args.no_public:  # asked for by name: no comparison is a failure, not a skip
        from public_shim import PublicMissing, find_public

        try:
            find_public(args.public)
        except PublicMissing as error:
            print(f"error: --public {args.public}: {error}", file=sys.stderr)
            raise SystemExit(1) from None
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    print(f"load average before: {load_before}", flush=True)
    from fvlm_model.loading import load_tokenizer

    model = build_model(args.size, seed=args.seed)
    tokenizer = load_tokenizer(None)
    public = pmodel = None
    skipped = None
    if not args.no_public:
        from public_shim import PublicMissing, load_public, public_model

        try:
            public = load_public(args.public)
            pmodel = public_model(public, model)
        except PublicMissing as error:
            skipped = str(error)
            print(f"public scorer skipped: {skipped}", flush=True)
    else:
        skipped = "--no-public"
    if skipped is None and args.public_questions == 0:
        skipped = "--public-questions 0"
    rows = []
    for name in args.shapes:
        print(f"{name}: timing ...", flush=True)
        rows += measure_shape(SHAPES[name], args, model, tokenizer, public, pmodel)
    result = {
        "command": "python benchmarks/bench_public.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "args": vars(args),
        "size": args.size,
        "dtype": "float32",
        "device": "cpu",
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "code": code_version(),
        "public": str(public.folder) if public else None,
        "public_skipped": skipped,
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": time.perf_counter() - started,
        "shapes": {name: asdict(SHAPES[name]) for name in args.shapes},
        "rows": rows,
    }
    table = markdown(result)
    print(table)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    if args.md:
        Path(args.md).write_text(table)
    return result


if __name__ == "__main__":
    main()
