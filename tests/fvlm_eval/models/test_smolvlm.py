"""SmolVLM2 behind the boundary, on a tiny random SmolVLM (float32, CPU).

The fast path (vision once per clip, prefix once per question, options on its KV cache) against
the plain ``SmolVLMForConditionalGeneration`` forward and ``generate`` on text built with
transformers' own chat template and image prompt code; the prompt text against SmolVLM's
processor; a folder from ``save_tiny_smolvlm`` through ``load_model`` and a whole run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fvlm_eval.models import ModelLoadError, load_model, smolvlm
from fvlm_eval.models.generation import generate_greedy
from fvlm_eval.models.smolvlm import adapter as smolvlm_adapter
from fvlm_eval.models.smolvlm import folder as smolvlm_folder
from fvlm_eval.models.smolvlm import text as smolvlm_text
from fvlm_eval.models.smolvlm import tiny as smolvlm_tiny
from fvlm_eval.types import ChoiceRequest, Clip, GenerateRequest, Option, Sampling

PROCESSING = pytest.importorskip("transformers.models.smolvlm.processing_smolvlm")
OPTIONS = (Option("A", "a red square"), Option("B", "blue"), Option("C", "the dog jumps over it"), Option("D", "none"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return smolvlm_tiny.save_tiny_smolvlm(tmp_path_factory.mktemp("smolvlm") / "tiny", seed=0)


@pytest.fixture(scope="module")
def adapter(folder):
    return smolvlm.load(str(folder), torch.device("cpu"), torch.float32)


def image_clip(key: str, height: int, width: int, seed: int) -> Clip:
    image = np.random.RandomState(seed).randint(0, 256, (1, height, width, 3), dtype=np.uint8)
    return Clip(key, "image", image, (0,), (0,), None, 1)


def video_clip(
    adapter, key: str, frame_map: tuple[int, ...], timestamps: tuple[float, ...], duration: float, seed: int
) -> Clip:
    raw = np.random.RandomState(seed).randint(0, 256, (max(frame_map) + 1, 48, 80, 3), dtype=np.uint8)
    frames = adapter.frame_transform(raw, "video")
    indices = tuple(int(t * 10) for t in timestamps)
    return Clip(key, "video", frames, frame_map, indices, timestamps, int(duration * 10), duration)


@pytest.fixture(scope="module")
def clips(adapter):
    return {
        "tiles": image_clip("tiles", 50, 60, seed=1),  # resized to 64 on its longest edge: 2 x 2 tiles + global
        "wide": image_clip("wide", 20, 90, seed=2),  # 1 x 2 tiles + global
        "video": video_clip(adapter, "video", (0, 0, 1, 2, 3, 3), (0.0, 0.5, 5.2, 61.0, 75.9, 76.4), 80.7, seed=3),
        "short": video_clip(adapter, "short", (0, 1, 2), (0.0, 1.0, 2.0), 3.0, seed=4),
    }


# ----- the reference: transformers' template, prompt code and model forward ----------------------


def reference_inputs(adapter, clip: Clip, prompt: str, answer: str | None = None):
    """(text, pixel_values [1,N,3,S,S], pixel_attention_mask [1,N,S,S]) as SmolVLM's processor
    builds them: the chat template with a media placeholder, the placeholder expanded."""
    from PIL import Image

    kind = "image" if clip.kind == "image" else "video"
    messages = [{"role": "user", "content": [{"type": kind}, {"type": "text", "text": prompt}]}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    text = adapter.tokenizer.apply_chat_template(
        messages, chat_template=PROCESSING.DEFAULT_CHAT_TEMPLATE, tokenize=False, add_generation_prompt=answer is None
    )
    seq = adapter.settings.image_seq_len
    if kind == "image":
        out = adapter.image_processor(
            images=[[Image.fromarray(clip.frames[0])]], return_row_col_info=True, return_tensors="pt"
        )
        media = PROCESSING.get_image_prompt_string(
            out["rows"][0][0], out["cols"][0][0], seq, "<fake_token_around_image>", "<image>", "<global-img>"
        )
        return text.replace("<image>", media, 1), out["pixel_values"], out["pixel_attention_mask"]
    frames = torch.from_numpy(clip.frames[list(clip.frame_map)]).permute(0, 3, 1, 2).float() * (1 / 255)
    pixels = ((frames - 0.5) / 0.5)[None]
    mask = torch.ones(1, pixels.shape[1], pixels.shape[3], pixels.shape[4], dtype=torch.long)
    media = smolvlm_text.video_prompt(list(clip.timestamps), clip.duration, seq)
    return text.replace("<video>", media, 1), pixels, mask


def encode(adapter, text: str) -> list[int]:
    return adapter.tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def naive_scores(adapter, clip: Clip, prompt: str, options) -> list[tuple[list[int], list[float]]]:
    """Per option: one full forward of the whole text with the pixels; its answer tokens' log-probs."""
    prompt_text, pixels, mask = reference_inputs(adapter, clip, prompt)
    prompt_ids = encode(adapter, prompt_text)
    scored = []
    for option in options:
        full_text, _, _ = reference_inputs(adapter, clip, prompt, option.answer)
        full = encode(adapter, full_text)
        assert full[: len(prompt_ids)] == prompt_ids
        logits = adapter.model(input_ids=torch.tensor([full]), pixel_values=pixels, pixel_attention_mask=mask).logits[0]
        logprobs = logits.float().log_softmax(-1)
        answer = full[len(prompt_ids) :]
        scored.append((answer, [logprobs[len(prompt_ids) - 1 + j, t].item() for j, t in enumerate(answer)]))
    return scored


def assert_matches(result, reference, tolerance=1e-4):
    assert result.error is None
    assert len(result.options) == len(reference)
    for option, (ids, logprobs) in zip(result.options, reference):
        assert list(option.token_ids) == ids
        assert not option.fallback
        np.testing.assert_allclose(option.logprobs, logprobs, atol=tolerance, rtol=0)


# ----- 1. the fast path is the plain forward ---------------------------------------------------------


@pytest.mark.parametrize("key", ["tiles", "wide", "video"])
def test_fast_scores_equal_a_full_forward_per_option(adapter, clips, key):
    clip = clips[key]
    prompt = "Question: what is shown?\nOptions:\n" + "\n".join(o.answer for o in OPTIONS) + "\n"
    adapter.load_clips([clip])
    try:
        [result] = adapter.score([ChoiceRequest(key, prompt, OPTIONS)], "standard")
    finally:
        adapter.forget_clips([key])
    assert_matches(result, naive_scores(adapter, clip, prompt, OPTIONS))
    if key == "tiles":  # the image really was tiled
        assert "<row_2_col_2>" in reference_inputs(adapter, clip, prompt)[0]


def test_scores_do_not_depend_on_the_batch(adapter, clips, monkeypatch):
    requests = [
        ChoiceRequest("tiles", "Which one?\n", OPTIONS),
        ChoiceRequest("video", "What happens?\n", OPTIONS[:3]),
        ChoiceRequest("short", "And here?\n", OPTIONS[1:]),
        ChoiceRequest("wide", "Colour?\n", OPTIONS[:2]),
    ]
    alone = []
    for request in requests:
        adapter.load_clips([clips[request.clip_key]])
        alone += adapter.score([request], "standard")
        adapter.forget_clips([request.clip_key])
    monkeypatch.setattr(smolvlm_adapter, "ENCODE_BATCH", 4)  # several vision passes, clips split across them
    adapter.load_clips(list(clips.values()))
    try:
        mixed = adapter.score(requests[::-1], "standard")[::-1]
    finally:
        adapter.forget_clips(list(clips))
    for one, together in zip(alone, mixed):
        assert one.prompt_sha256 == together.prompt_sha256
        assert_matches(together, [(list(o.token_ids), list(o.logprobs)) for o in one.options], tolerance=1e-5)


# ----- 2. generation is transformers' greedy generate -------------------------------------------------


@torch.no_grad()
def reference_generate(adapter, clip: Clip, prompt: str, new_tokens: int, stop_ids) -> list[int]:
    text, pixels, mask = reference_inputs(adapter, clip, prompt)
    ids = torch.tensor([encode(adapter, text)])
    out = adapter.model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=pixels,
        pixel_attention_mask=mask,
        max_new_tokens=new_tokens,
        do_sample=False,
        eos_token_id=sorted(stop_ids),
        pad_token_id=adapter.tokenizer.pad_token_id,
    )
    return out[0, ids.shape[1] :].tolist()


def test_generate_equals_transformers_generate(adapter, clips):
    keys, prompt, limit = ("tiles", "video", "short"), "Answer with the option's letter.", 8
    references = {k: reference_generate(adapter, clips[k], prompt, limit, adapter.stop_ids) for k in keys}
    adapter.load_clips([clips[k] for k in keys])
    try:
        generations = adapter.generate([GenerateRequest(k, prompt, limit) for k in keys], "standard")
        for key, generation in zip(keys, generations):
            reference = references[key]
            ended = bool(reference) and reference[-1] in adapter.stop_ids
            tokens = reference[:-1] if ended else reference
            assert generation.error is None and generation.stopped == ended
            assert generation.new_tokens == len(tokens)
            assert generation.text == adapter.tokenizer.decode(tokens, skip_special_tokens=True)
            text, _, _ = reference_inputs(adapter, clips[key], prompt)
            assert generation.prompt_sha256 == hashlib.sha256(text.encode()).hexdigest()
            ids, _ = adapter.tokens.prompt(adapter._clips[key].text + prompt)
            [(greedy, _)] = generate_greedy(
                adapter.lm, [adapter.embed(ids, adapter._clips[key].features)], adapter.stop_ids, [limit]
            )
            assert greedy == tokens  # token for token

        # A stop token (here: a later token of the video's answer) ends both the same way.
        video = references["video"]
        at = next(j for j in range(2, len(video)) if video[j] not in video[:j])
        stop = video[at]
        saved = adapter.stop_ids
        adapter.stop_ids = {stop}
        try:
            [stopped] = adapter.generate([GenerateRequest("video", prompt, limit)], "standard")
        finally:
            adapter.stop_ids = saved
        reference = reference_generate(adapter, clips["video"], prompt, limit, {stop})
        assert reference[-1] == stop and stopped.stopped and stopped.new_tokens == len(reference) - 1 == at
        assert stopped.text == adapter.tokenizer.decode(reference[:-1], skip_special_tokens=True)
    finally:
        adapter.forget_clips(list(keys))


def test_a_request_keeps_its_own_token_limit(adapter, clips):
    adapter.load_clips([clips["short"]])
    try:
        short, long = adapter.generate(
            [GenerateRequest("short", "Q?", 2), GenerateRequest("short", "Q?", 6)], "standard"
        )
    finally:
        adapter.forget_clips(["short"])
    assert short.new_tokens == 2 and long.new_tokens == 6 and not short.stopped


# ----- 3. the text -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["image", "video", "text"])
@pytest.mark.parametrize("answer", [None, "B. blue"])
def test_render_is_the_jinja_chat_template(adapter, kind, answer):
    question = "What is it?\nA. x\nB. blue"
    content = (
        [{"type": kind}, {"type": "text", "text": question}] if kind != "text" else [{"type": "text", "text": question}]
    )
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    rendered = adapter.tokenizer.apply_chat_template(
        messages, chat_template=PROCESSING.DEFAULT_CHAT_TEMPLATE, tokenize=False, add_generation_prompt=answer is None
    )
    media = {
        "image": smolvlm_text.image_prompt(2, 3, 4),
        "video": smolvlm_text.video_prompt([0.0, 1.5], 2.0, 4),
        "text": "",
    }[kind]
    expected = rendered.replace(f"<{kind}>", media, 1) if kind != "text" else rendered
    assert smolvlm_text.render(media + question, answer) == expected


def test_image_prompts_are_the_processors():
    for rows, cols in ((0, 0), (1, 2), (3, 2), (4, 4)):
        assert smolvlm_text.image_prompt(rows, cols, 5) == PROCESSING.get_image_prompt_string(
            rows, cols, 5, "<fake_token_around_image>", "<image>", "<global-img>"
        )


def test_number_words():
    spot = {
        0: "zero",
        7: "seven",
        16: "sixteen",
        20: "twenty",
        21: "twenty-one",
        64: "sixty-four",
        100: "one hundred",
        101: "one hundred and one",
        128: "one hundred and twenty-eight",
        999: "nine hundred and ninety-nine",
        1000: "one thousand",
        1001: "one thousand and one",
        1100: "one thousand, one hundred",
        123456: "one hundred and twenty-three thousand, four hundred and fifty-six",
    }
    assert {n: smolvlm_text.number_words(n) for n in spot} == spot
    with pytest.raises(ValueError):
        smolvlm_text.number_words(1_000_000)


def test_number_words_agree_with_num2words():
    num2words = pytest.importorskip("num2words").num2words
    numbers = list(range(0, 2100)) + [9999, 10_000, 10_001, 10_100, 99_999, 100_000, 100_001, 250_075, 999_999]
    assert [smolvlm_text.number_words(n) for n in numbers] == [num2words(n) for n in numbers]


GOLDEN_VIDEO = (
    "You are provided the following series of sixteen frames from a 0:01:20 [H:MM:SS] video.\n"
    + "".join(
        f"\nFrame from {stamp}:<fake_token_around_image><global-img><image><image><fake_token_around_image>"
        for stamp in (
            "00:00",
            "00:05",
            "00:10",
            "00:15",
            "00:20",
            "00:25",
            "00:30",
            "00:35",
            "00:40",
            "00:45",
            "00:50",
            "00:55",
            "01:00",
            "01:05",
            "01:10",
            "01:15",
        )
    )
    + "\n\n"
)


def sixteen_frames() -> list[float]:
    return [round(5.0 * i + 0.4, 6) for i in range(16)]  # 0.4, 5.4, ..., 75.4 seconds


def test_video_prompt_for_sixteen_frames():
    assert smolvlm_text.video_prompt(sixteen_frames(), 80.9, 2) == GOLDEN_VIDEO
    assert smolvlm_text.video_prompt([0.0, 3599.0, 3600.5], None, 1).startswith(
        "You are provided the following series of three frames from a 1:00:00 [H:MM:SS] video.\n"
        "\nFrame from 00:00:<fake_token_around_image><global-img><image><fake_token_around_image>"
        "\nFrame from 59:59:"
    )  # minutes keep counting past the hour, as the processor writes them


def test_video_prompt_is_the_processors():
    pytest.importorskip("num2words")
    from transformers.video_utils import VideoMetadata

    fps = 10.0
    metadata = VideoMetadata(
        total_num_frames=809, fps=fps, duration=80.9, frames_indices=[round(t * fps) for t in sixteen_frames()]
    )
    processor = SimpleNamespace(
        image_seq_len=2,
        image_token="<image>",
        fake_image_token="<fake_token_around_image>",
        global_image_token="<global-img>",
    )
    inputs = {"pixel_values": torch.zeros(1, 16, 3, 2, 2), "video_metadata": [metadata]}
    assert PROCESSING.SmolVLMProcessor.replace_video_token(processor, inputs, 0) == GOLDEN_VIDEO


# ----- 4. the adapter's settings ---------------------------------------------------------------------


def test_settings_transform_and_description(adapter, folder):
    assert adapter.frame_transform.key == "pil-lanczos-edge64-32x32-images-as-is-on-white"
    assert adapter.video_sampling(None) == Sampling("fps_spread", 16, fps=1.0, skip_seconds=1.0)
    assert adapter.video_sampling(8).frames == 8
    assert adapter.suggested_batch_size(16) == 16
    frames = adapter.frame_transform(np.zeros((2, 30, 90, 3), dtype=np.uint8), "video")
    assert frames.shape == (2, 32, 32, 3)
    image = np.zeros((1, 30, 90, 3), dtype=np.uint8)
    assert adapter.frame_transform(image, "image") is image
    description = adapter.describe()
    assert description["family"] == "smolvlm" and description["name"] == "tiny" and description["dtype"] == "float32"
    assert len(description["sha256"]) == 64 and description["parameters"] > 0
    assert "no system prompt" in description["prompt_format"]
    with pytest.raises(ValueError, match="no variant"):
        adapter.score([], "coarse_fine")


def test_batch_size_on_cuda_follows_free_memory(adapter, monkeypatch):
    monkeypatch.setattr(adapter, "device", torch.device("cuda"))
    sizes = {}
    for free in (2 * 10**8, 2 * 10**9, 4 * 10**10):
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device, free=free: (free, free))
        sizes[free] = [adapter.suggested_batch_size(frames) for frames in (1, 16, 64)]
    for row in sizes.values():
        assert all(1 <= size <= 256 for size in row) and row[0] >= row[1] >= row[2]
    assert sizes[2 * 10**8][2] < sizes[2 * 10**9][2] <= sizes[4 * 10**10][2] == 256


def test_missing_files_are_named(tmp_path, folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(folder / "config.json", empty / "config.json")
    with pytest.raises(ModelLoadError, match="preprocessor_config.json"):
        smolvlm.load(str(empty), torch.device("cpu"), torch.float32)
    for name in ("preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(folder / name, empty / name)
    with pytest.raises(ModelLoadError, match=r"weights are missing \(model.safetensors"):
        smolvlm.load(str(empty), torch.device("cpu"), torch.float32)
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        smolvlm.load(str(tmp_path / "nothing" / "here"), torch.device("cpu"), torch.float32)


def test_a_weights_file_given_is_the_one_scored_or_refused(tmp_path, folder, adapter):
    """`--model folder/ema.safetensors` scored folder/model.safetensors without a word, and the manifest hashed
    both files as the model's weights."""
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    shutil.copy(copy / "model.safetensors", copy / "ema.safetensors")
    with pytest.raises(ModelLoadError, match=r"ema.safetensors: a SmolVLM folder is scored with its own weights"):
        smolvlm.load(str(copy / "ema.safetensors"), torch.device("cpu"), torch.float32)
    given = smolvlm.load(str(copy / "model.safetensors"), torch.device("cpu"), torch.float32).describe()
    assert given["sha256"] == adapter.describe()["sha256"]  # the file loaded, alone: not the EMA copy beside it
    assert given["weights"] == [str(copy / "model.safetensors")]


@pytest.mark.parametrize("name", ["processor_config.json", "preprocessor_config.json"])
def test_an_unreadable_processor_file_is_the_one_named(tmp_path, folder, name):
    """A garbage processor_config.json was blamed on preprocessor_config.json."""
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / name).write_text("garbage")
    with pytest.raises(ModelLoadError) as raised:
        smolvlm.load(str(copy), torch.device("cpu"), torch.float32)
    assert str(raised.value).startswith(f"{copy / name}: cannot load the image processor (")


@pytest.mark.parametrize("damage", ["missing", "more layers"])
def test_weights_that_do_not_match_the_config_are_refused(tmp_path, folder, damage):
    """transformers would initialise absent weights at random and go on; the harness refuses to score that."""
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    if damage == "missing":
        weights = load_file(str(broken / "model.safetensors"))
        save_file(
            {k: v for k, v in weights.items() if "layers.1.mlp" not in k},
            str(broken / "model.safetensors"),
            metadata={"format": "pt"},
        )
    else:
        config = json.loads((broken / "config.json").read_text())
        config["text_config"]["num_hidden_layers"] = 3
        (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="the weights do not match config.json \\(missing: .*layers\\.[12]\\."):
        smolvlm.load(str(broken), torch.device("cpu"), torch.float32)


def test_image_seq_len_falls_back_to_the_model_config(adapter, folder):
    config = adapter.model.config
    settings = smolvlm_folder.read_settings(folder, config, adapter.image_processor)
    computed = (config.vision_config.image_size // config.vision_config.patch_size) ** 2 // config.scale_factor**2
    assert (
        settings.image_seq_len
        == computed
        == json.loads((folder / "processor_config.json").read_text())["image_seq_len"]
    )


@pytest.mark.parametrize(
    "file, key, value",
    [
        ("processor_config.json", "image_seq_len", "four"),
        ("processor_config.json", "image_seq_len", 0),
        ("preprocessor_config.json", "video_sampling.fps", "one"),
        ("preprocessor_config.json", "video_sampling.max_frames", 6.5),
    ],
)
def test_a_wrong_processor_setting_names_its_file_and_key(tmp_path, folder, file, key, value):
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    settings = json.loads((broken / file).read_text())
    inner = settings
    *outer, last = key.split(".")
    for name in outer:
        inner = inner.setdefault(name, {})
    inner[last] = value
    (broken / file).write_text(json.dumps(settings))
    with pytest.raises(ModelLoadError, match=rf"{file}: {key} must be a positive (whole )?number, not {value!r}"):
        smolvlm.load(str(broken), torch.device("cpu"), torch.float32)


def test_an_image_token_in_the_question_fails_alone(adapter, clips):
    adapter.load_clips([clips["short"]])
    try:
        with pytest.raises(ValueError, match="image features"):
            adapter.score([ChoiceRequest("short", "What is <image>?", OPTIONS)], "standard")
    finally:
        adapter.forget_clips(["short"])


# ----- 5. a whole run ----------------------------------------------------------------------------


def test_tiny_folder_loads_and_runs_end_to_end(folder, tmp_path):
    from fvlm_eval.protocols import PROTOCOLS
    from fvlm_eval.records import read_records
    from fvlm_eval.run.runner import run
    from fvlm_eval.run.settings import RunSettings
    from fvlm_eval.tasks import write_fixtures

    model = load_model(str(folder), device="cpu")
    assert model.family == "smolvlm"
    data = write_fixtures(tmp_path / "data")
    settings = RunSettings(
        benchmarks=("scienceqa", "mvbench"),
        modes=("standard",),
        data_dir=data,
        output_dir=tmp_path / "run",
        workers=0,
        generate=True,
        frame_cache=None,
    )
    outcome = run(settings, model, progress=False)
    for benchmark in ("scienceqa", "mvbench"):
        records = read_records(tmp_path / "run" / benchmark / "standard" / "samples.jsonl")
        assert records
        for record in records:
            assert record.error is None, record.error
            assert set(PROTOCOLS) <= set(record.scores) and all(record.scores[p] for p in PROTOCOLS)
            assert record.generated is not None and record.generated["error"] is None
        assert (benchmark, "standard") in outcome.summaries


@torch.no_grad()
@pytest.mark.parametrize("key", ["video", "short"])
def test_cloze_fast_scores_equal_a_full_forward_per_option(adapter, clips, key):
    from fvlm_eval.types import ClozeRequest

    clip = clips[key]
    prompt = "Question: what happens in the video?"
    texts = tuple(o.text for o in OPTIONS)
    adapter.load_clips([clip])
    try:
        [result] = adapter.score_cloze([ClozeRequest(key, prompt, texts)], "standard")
    finally:
        adapter.forget_clips([key])
    assert result.error is None
    _, pixels, mask = reference_inputs(adapter, clip, prompt)
    media = smolvlm_text.video_prompt(list(clip.timestamps), clip.duration, adapter.settings.image_seq_len)
    prompt_ids = encode(adapter, media + prompt + "\nAnswer:")
    neutral_ids = encode(adapter, "Answer:")
    for text, ids, logprobs, neutral in zip(texts, result.token_ids, result.logprobs, result.neutral):
        answer = encode(adapter, " " + text)
        assert list(ids) == answer
        logits = (
            adapter.model(input_ids=torch.tensor([prompt_ids + answer]), pixel_values=pixels, pixel_attention_mask=mask)
            .logits[0]
            .float()
            .log_softmax(-1)
        )
        np.testing.assert_allclose(
            logprobs, [logits[len(prompt_ids) - 1 + j, t].item() for j, t in enumerate(answer)], atol=1e-4, rtol=0
        )
        plain = adapter.model(input_ids=torch.tensor([neutral_ids + answer])).logits[0].float().log_softmax(-1)
        np.testing.assert_allclose(
            neutral, [plain[len(neutral_ids) - 1 + j, t].item() for j, t in enumerate(answer)], atol=1e-4, rtol=0
        )
