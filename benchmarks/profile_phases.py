"""Where the time goes, per phase, for one benchmark shape asked as a run asks it: so the next optimisation is aimed.

Wrappers are put around the harness from outside (nothing in it changes): the model's DINOv2
encode and visual tokens (per mode), the adapter's formulations, and whichever of the language
model helpers exist (prefix passes, option passes, the neutral pass, full-pass fallbacks), found
by name in every ``fvlm_eval.models`` and ``fvlm_model`` module; and hooks on the LLM's forward count its calls, the
positions it ran (batch x length) and the share of them that were padding (attention mask zeros).
Phases nest: each line is inclusive of what runs inside it, the LLM columns too (an LLM forward counts in
every phase it ran inside: "both formulations" holds the LLM packed passes it made), so neither column
sums to a total; the line after the table gives every LLM forward once. A phase that runs inside itself
counts its time once (its outermost call).

    python benchmarks/profile_phases.py --shape mvbench --questions 4          # real size, 1 thread
    python benchmarks/profile_phases.py --shape videomme --size small --json phases.json
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_public as bp  # noqa: E402

# function name (in any fvlm_eval.models module, or a method of the adapter) -> phase
HELPERS = {
    "run_prefixes": "LLM prefix pass",
    "score_options": "LLM option passes",
    "_packed_continuations": "LLM option passes (packed)",
    "fill_neutral": "neutral pass (PMI)",
    "_full_pass": "full-pass fallback",
    "generate_greedy": "generation",
    "score_packed": "LLM packed passes",
    "_neutral_jobs": "neutral pass (PMI)",
    "clip_tokens": "visual tokens",
    "coarse_pass": "visual tokens: coarse pass",
    "fine_tokens": "visual tokens: coarse_fine",
    "autoregressive_tokens": "visual tokens: autoregressive",
}
ADAPTER = {"score": "multiple choice", "score_cloze": "cloze", "score_formulations": "both formulations"}
TOTAL = "(every LLM forward)"  # not a phase: the forwards counted once, kept apart from the phases' rows


class Phases:
    def __init__(self):
        self.stack: list[str] = []
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)
        self.llm = defaultdict(lambda: {"seconds": 0.0, "calls": 0, "positions": 0, "padding": 0})
        self._llm_start: list[float] = []

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            phase = name
            if name == "visual tokens":
                mode = kwargs.get("mode", args[3] if len(args) > 3 else "?")
                phase = f"visual tokens: {mode}"
            outermost = phase not in self.stack  # one inside itself: its time is already the outer call's
            self.stack.append(phase)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if outermost:
                    self.seconds[phase] += time.perf_counter() - start
                self.calls[phase] += 1
                self.stack.pop()

        timed.__wrapped_phase__ = True
        return timed

    def llm_pre(self, module, args, kwargs):
        self._llm_start.append(time.perf_counter())

    def llm_post(self, module, args, kwargs, output):
        embeds = kwargs.get("inputs_embeds")
        mask = kwargs.get("attention_mask")
        padding = int((mask == 0).sum()) if isinstance(mask, torch.Tensor) and mask.dim() == 2 else 0  # 0: padding
        positions = embeds.shape[0] * embeds.shape[1] if embeds is not None else 0
        self.record(time.perf_counter() - self._llm_start.pop(), positions, padding)

    def record(self, took: float, positions: int, padding: int) -> None:
        """One LLM forward, counted in every phase it ran inside (each once) and in ``total``."""
        for phase in [*dict.fromkeys(self.stack or ["(outside any phase)"]), TOTAL]:
            entry = self.llm[phase]
            entry["seconds"] += took
            entry["calls"] += 1
            entry["positions"] += positions
            entry["padding"] += padding

    @property
    def total(self) -> dict:
        """Every LLM forward, once: seconds, calls, positions, padding."""
        return dict(self.llm.get(TOTAL, {"seconds": 0.0, "calls": 0, "positions": 0, "padding": 0}))

    def flat(self, hidden):
        """``FlatDecoder.hidden`` (the CPU's packed pass runs the decoder's layers itself) as an LLM call."""

        @functools.wraps(hidden)
        def timed(decoder, call, reads=None):
            start = time.perf_counter()
            try:
                return hidden(decoder, call, reads)
            finally:
                self.record(time.perf_counter() - start, call.positions_run, 0)

        return timed


def instrument(phases: Phases, model) -> None:
    from fvlm_eval.models import fvlm as fvlm_adapter

    cls = type(model)
    cls.encode = phases.wrap("DINOv2 encode", cls.encode)
    cls.visual_tokens = phases.wrap("visual tokens", cls.visual_tokens)
    for method, phase in ADAPTER.items():
        if hasattr(fvlm_adapter.FVLMAdapter, method):
            setattr(fvlm_adapter.FVLMAdapter, method, phases.wrap(phase, getattr(fvlm_adapter.FVLMAdapter, method)))
    for name, module in list(sys.modules.items()):
        if not name.startswith(("fvlm_eval.models", "fvlm_model")) or module is None:
            continue
        for helper, phase in HELPERS.items():
            fn = getattr(module, helper, None)
            if callable(fn) and not getattr(fn, "__wrapped_phase__", False):
                setattr(module, helper, phases.wrap(phase, fn))
    from fvlm_eval.models.flat_pass import FlatDecoder

    FlatDecoder.hidden = phases.flat(FlatDecoder.hidden)
    model.llm.model.register_forward_pre_hook(phases.llm_pre, with_kwargs=True)
    model.llm.model.register_forward_hook(phases.llm_post, with_kwargs=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=list(bp.SHAPES), default="mvbench")
    parser.add_argument("--size", choices=["real", "small", "tiny"], default="real")
    parser.add_argument(
        "--questions", type=bp.at_least(1), default=None, help="default: the shape's bench_public count"
    )
    parser.add_argument("--modes", nargs="+", default=list(bp.MODES), choices=list(bp.MODES))
    parser.add_argument("--threads", type=bp.at_least(1), default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from fvlm_model.loading import load_tokenizer

    shape = bp.SHAPES[args.shape]
    model = bp.build_model(args.size)
    tokenizer = load_tokenizer(None)
    benchmark, questions, clips = bp.make_questions(
        shape, args.questions or shape.questions, bp.FRAME_SIZE[args.size], seed=len(shape.name)
    )
    bp.run_ours(model, tokenizer, benchmark, questions[: shape.per_clip], clips, args.modes)  # warm-up
    phases = Phases()
    instrument(phases, model)
    wall, _, _ = bp.run_ours(model, tokenizer, benchmark, questions, clips, args.modes)
    rows = []
    for phase in sorted((set(phases.seconds) | set(phases.llm)) - {TOTAL}, key=lambda p: -phases.seconds.get(p, 0.0)):
        llm = phases.llm.get(phase, {"seconds": 0.0, "calls": 0, "positions": 0, "padding": 0})
        rows.append(
            {
                "phase": phase,
                "seconds": phases.seconds.get(phase),
                "share": phases.seconds.get(phase, 0.0) / wall,
                "calls": phases.calls.get(phase, 0),
                "llm_seconds": llm["seconds"],
                "llm_calls": llm["calls"],
                "llm_positions": llm["positions"],
                "llm_padding_share": llm["padding"] / llm["positions"] if llm["positions"] else None,
            }
        )
    print(
        f"{shape.title}, {len(questions)} questions, modes {', '.join(args.modes)}, size {args.size}, "
        f"{args.threads} thread(s): {wall:.2f} s ({1000 * wall / len(questions):.0f} ms/question); phases nest"
    )
    print(f"{'phase':<34} {'s':>8} {'share':>6} {'calls':>5} {'LLM s':>7} {'LLM calls':>9} {'positions':>9} {'pad':>5}")
    for r in rows:
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.3f}"
        pad = "-" if r["llm_padding_share"] is None else f"{r['llm_padding_share']:.0%}"
        print(
            f"{r['phase']:<34} {seconds:>8} {r['share']:>6.1%} {r['calls']:>5} {r['llm_seconds']:>7.3f} "
            f"{r['llm_calls']:>9} {r['llm_positions']:>9} {pad:>5}"
        )
    total = phases.total
    print(
        f"every LLM forward once: {total['seconds']:.3f} s, {total['calls']} calls, {total['positions']} positions "
        "(the LLM columns nest as the seconds do: a forward counts in every phase it ran inside)"
    )
    result = {
        "shape": shape.name,
        "questions": len(questions),
        "size": args.size,
        "wall_seconds": wall,
        "rows": rows,
        "llm_total": total,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
