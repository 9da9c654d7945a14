"""Loading released and training checkpoints: key spellings, tied embeddings, bad files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from fvlm_model import CheckpointError, FoveatedVLM, load_fvlm, parameter_count
from fvlm_model.dino_names import NEW_TO_OLD, OLD_TO_NEW, rename_key
from fvlm_model.loading import ModelSpec, default_spec, save_model_folder
from tests.conftest import TINY_DINO, TINY_IMAGE, TINY_LLM, TINY_QUERY_DIM, tiny_model

torch.set_grad_enabled(False)
TINY_SPEC = ModelSpec(llm=TINY_LLM, dino=TINY_DINO, query_dim=TINY_QUERY_DIM, visual_scale=0.14)


def logits_of(model):
    frames = torch.randn(1, 2, 3, TINY_IMAGE, TINY_IMAGE, generator=torch.Generator().manual_seed(0))
    return model(frames, torch.tensor([[1, 2, 3]]), mode="coarse_fine")["logits"]


def write_folder(folder, state_dict):
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.clone().contiguous() for k, v in state_dict.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(TINY_SPEC.to_json()))
    return folder


def test_state_dict_uses_release_names_on_any_transformers(model):
    keys = set(model.state_dict())
    assert "encoder.dino.encoder.layer.0.attention.attention.query.weight" in keys
    assert "encoder.dino.encoder.layer.1.attention.output.dense.bias" in keys
    assert not any("q_proj" in k and k.startswith("encoder.dino") for k in keys)


@pytest.mark.parametrize("with_head", [True, False])
@pytest.mark.parametrize("spelling", ["old", "new"])
def test_checkpoint_spellings_load_with_identical_logits(tmp_path, model, with_head, spelling):
    state = dict(model.state_dict())
    if not with_head:
        del state["llm.lm_head.weight"]
    if spelling == "new":
        state = {rename_key(k, OLD_TO_NEW): v for k, v in state.items()}
        assert any(".attention.q_proj." in k for k in state)
    folder = write_folder(tmp_path / "ckpt", state)
    loaded, tokenizer = load_fvlm(folder, device="cpu")
    assert not loaded.training and tokenizer.pad_token == "<|im_end|>"
    torch.testing.assert_close(logits_of(loaded), logits_of(model), atol=0, rtol=0)


def test_training_checkpoint_with_compile_prefix(tmp_path, model):
    state = {f"_orig_mod.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "step_1000.pt"
    torch.save({"model_state_dict": state, "step": 1000, "optimizer_state_dict": {}}, path)
    (tmp_path / "config.json").write_text(json.dumps(TINY_SPEC.to_json()))
    loaded, _ = load_fvlm(path, device="cpu")
    torch.testing.assert_close(logits_of(loaded), logits_of(model), atol=0, rtol=0)


def test_release_config_without_our_keys_falls_back_to_135m_defaults(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "fvlm", "architectures": ["FoveatedVLM"]}))
    from fvlm_model.loading import read_spec

    spec = read_spec(tmp_path)
    assert spec.llm["hidden_size"] == 576 and spec.dino["hidden_size"] == 384
    assert spec.query_dim == 384 and spec.visual_scale == 0.14


def test_missing_and_unexpected_keys_are_named(tmp_path, model):
    state = dict(model.state_dict())
    del state["q_init"]
    state["extra.weight"] = torch.zeros(1)
    folder = write_folder(tmp_path / "bad", state)
    with pytest.raises(CheckpointError, match=r"missing keys q_init.*unexpected keys extra\.weight"):
        load_fvlm(folder, device="cpu")


def test_untied_head_is_an_error(tmp_path, model):
    state = dict(model.state_dict())
    state["llm.lm_head.weight"] = state["llm.lm_head.weight"] + 1
    with pytest.raises(CheckpointError, match="differs"):
        load_fvlm(write_folder(tmp_path / "untied", state), device="cpu")


@pytest.mark.parametrize(
    "name,content",
    [
        ("model.safetensors", b"this is not a checkpoint"),
        ("weights.pt", b"neither is this"),
    ],
)
def test_non_checkpoint_files_are_clear_errors(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_fvlm(path, device="cpu")


def test_an_empty_pt_file_says_so(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(
        CheckpointError, match=r"empty\.pt is not a readable PyTorch checkpoint: EOFError: it is empty$"
    ):
        load_fvlm(tmp_path / "empty.pt", device="cpu")


def test_a_plain_pickle_is_a_clear_error_cut_at_a_word(tmp_path):
    import pickle
    import warnings

    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps({"step": 3}))
    with pytest.raises(pickle.UnpicklingError) as torch_said, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch notes the pickle protocol
        torch.load(str(path), weights_only=True)
    whole = " ".join(str(torch_said.value).split())
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint") as refused:
        load_fvlm(path, device="cpu")
    reason = str(refused.value).split("checkpoint (", 1)[1]
    assert reason.endswith("...)") and len(reason) <= 121  # torch's long message, cut
    kept = reason[: -len("...)")]
    assert whole.startswith(kept) and whole[len(kept)] == " "  # at a space, never inside a word


def test_shortened_cuts_at_a_word():
    from fvlm_model.loading import shortened

    assert shortened("one two\nthree", 50) == "one two three"
    assert shortened("alpha beta gamma delta", 15) == "alpha beta..."
    assert shortened("x" * 30, 10) == "xxxxxxx..."  # no space to cut at


def test_pt_without_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"step": 3}, path)
    with pytest.raises(CheckpointError, match="holds no state dict"):
        load_fvlm(path, device="cpu")


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="neither"):
        load_fvlm(tmp_path / "nowhere" / "model.safetensors", device="cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_fvlm(empty, device="cpu")


def test_save_model_folder_round_trips(tmp_path, model, tokenizer):
    save_model_folder(model, tmp_path / "m", TINY_SPEC, tokenizer)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m" / "model.safetensors"), "pt") as handle:
        assert "llm.lm_head.weight" not in handle.keys()
    loaded, loaded_tokenizer = load_fvlm(tmp_path / "m", device="cpu")
    torch.testing.assert_close(logits_of(loaded), logits_of(model), atol=0, rtol=0)
    assert loaded_tokenizer.chat_template == tokenizer.chat_template


def test_full_size_skeleton_matches_the_spec_table():
    spec = default_spec()
    with torch.device("meta"):
        model = FoveatedVLM.from_configs(spec.llm, spec.dino, spec.query_dim, spec.visual_scale)
    state = model.state_dict()
    shapes = {
        "encoder.query_input_proj.weight": (384, 384),
        "encoder.output_proj.weight": (384, 384),
        "encoder.output_proj.bias": (384,),
        "dino_to_llm.weight": (576, 384),
        "dino_to_llm.bias": (576,),
        "llm_to_query.weight": (384, 576),
        "llm_to_query.bias": (384,),
        "q_static": (1, 384),
        "q_init": (1, 384),
        "llm.model.embed_tokens.weight": (49152, 576),
        "encoder.dino.embeddings.position_embeddings": (1, 1370, 384),
        "encoder.dino.encoder.layer.11.attention.attention.query.weight": (384, 384),
        "encoder.dino.encoder.layer.11.attention.output.dense.weight": (384, 384),
        "encoder.dino.encoder.layer.11.mlp.fc1.weight": (1536, 384),
        "llm.model.layers.29.self_attn.k_proj.weight": (192, 576),
        "llm.model.layers.29.mlp.gate_proj.weight": (1536, 576),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    named = {k for k in state if not k.startswith(("encoder.dino.", "llm."))}
    assert named == {k for k in shapes if not k.startswith(("encoder.dino.", "llm."))}
    assert not any(part in k for k in state for part in NEW_TO_OLD if k.startswith("encoder.dino."))
    assert sum(k.startswith("encoder.dino.encoder.layer.") for k in state) == 12 * 18
    assert sum(k.startswith("llm.model.layers.") for k in state) == 30 * 9
    # The spec's table sums to 157.31M (22.06M DINOv2-small + 134.52M SmolLM2 + 0.74M fVLM parts);
    # its prose rounds to "about 157.6M" (see the closing note of the model issue).
    assert abs(parameter_count(model) - 157.31e6) < 0.2e6
    assert abs(parameter_count(model.encoder.dino) - 22.06e6) < 0.05e6
    assert abs(parameter_count(model.llm) - 134.52e6) < 0.05e6


def test_seed_api_builds_from_local_backbone_folders(tmp_path):
    from transformers import Dinov2Model, LlamaForCausalLM

    reference = tiny_model()
    reference.encoder.dino.save_pretrained(tmp_path / "dino")
    reference.llm.save_pretrained(tmp_path / "llm")
    model = FoveatedVLM(
        llm_name=str(tmp_path / "llm"),
        dino_name=str(tmp_path / "dino"),
        query_dim=TINY_QUERY_DIM,
        visual_scale=0.14,
        deep_query=True,
    )
    assert isinstance(model.encoder.dino, Dinov2Model) and isinstance(model.llm, LlamaForCausalLM)
    for key, value in reference.state_dict().items():
        if key.startswith(("encoder.dino.", "llm.")):
            torch.testing.assert_close(model.state_dict()[key], value, atol=0, rtol=0)


def test_a_pickle_that_runs_code_is_refused_and_never_run(tmp_path):
    import os

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    path = tmp_path / "evil.pt"
    torch.save({"model_state_dict": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused: it holds posix.system besides tensors"):
        load_fvlm(path, device="cpu")
    assert not (tmp_path / "PWNED").exists()


def test_a_smolvlm_folder_given_as_fvlm_says_so(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "smolvlm", "text_config": {}}))
    save_file({"x": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"a SmolVLM model's config .* \(leave --family out\); export-checkpoint makes fVLM"
    ):
        load_fvlm(tmp_path, device="cpu")


def test_missing_keys_say_when_the_135m_configuration_was_assumed(tmp_path, model):
    save_file(
        {k: v.clone().contiguous() for k, v in model.state_dict().items() if k != "llm.lm_head.weight"},
        str(tmp_path / "model.safetensors"),
    )  # a tiny model's weights, but no config.json to say so
    with pytest.raises(
        CheckpointError,
        match=rf"^{tmp_path} has no config.json, so the model's family and architecture cannot be known: .* "
        r"\(fVLM-135M was assumed, and .*model.safetensors does not match the fVLM architecture: missing keys ",
    ):
        load_fvlm(tmp_path, device="cpu")


def test_weights_holding_nan_or_infinity_are_refused_naming_the_tensors(tmp_path, model):
    state = dict(model.state_dict())
    state["q_init"] = torch.full_like(state["q_init"], float("nan"))
    state["llm.model.norm.weight"] = state["llm.model.norm.weight"].clone()
    state["llm.model.norm.weight"][0] = float("inf")
    folder = write_folder(tmp_path / "diverged", state)
    with pytest.raises(
        CheckpointError, match=r"2 of its \d+ tensors hold NaN or infinity \(llm\.model\.norm\.weight, q_init\)"
    ):
        load_fvlm(folder, device="cpu")


def test_a_ddp_checkpoint_loads_and_key_lists_stay_short(tmp_path, model):
    """``module.`` (DistributedDataParallel) is cut off when every key has it, as ``_orig_mod.`` is; a key list
    in an error names a few keys and how many more."""
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "ddp.pt")
    (tmp_path / "config.json").write_text(json.dumps(TINY_SPEC.to_json()))
    loaded, _ = load_fvlm(tmp_path / "ddp.pt", device="cpu")
    assert torch.equal(logits_of(loaded), logits_of(model))
    renamed = {f"other.{k}": v for k, v in model.state_dict().items()}
    folder = write_folder(tmp_path / "renamed", renamed)
    with pytest.raises(CheckpointError) as raised:
        load_fvlm(folder, device="cpu")
    assert len(str(raised.value)) < 600 and "more)" in str(raised.value)


def test_weights_of_another_shape_than_the_config_are_one_line(tmp_path, model):
    """A config.json of another size printed torch's load_state_dict report: a line per tensor (90 at 30 layers)."""
    state = dict(model.state_dict())
    folder = write_folder(tmp_path / "bigger", state)
    config = json.loads((folder / "config.json").read_text())
    config["llm"]["intermediate_size"] *= 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as raised:
        load_fvlm(folder, device="cpu")
    (line,) = str(raised.value).splitlines()
    layers = TINY_LLM["num_hidden_layers"]
    assert f": {3 * layers} tensor(s) of another shape than its config.json builds (weights vs config): " in line
    assert "mlp.down_proj.weight" in line or "mlp.gate_proj.weight" in line or "mlp.up_proj.weight" in line
    assert line.endswith("more); is the config this checkpoint's?") and len(line) < 500


def test_a_tokenizer_without_its_vocabulary_is_refused_at_load(tmp_path, model_dir):
    """A folder whose tokenizer.json was lost loaded a 3-token tokenizer; every question then failed with
    "an answer needs a prompt or media before it"."""
    import shutil

    from fvlm_model.loading import load_tokenizer

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    assert load_tokenizer(folder).encode("Answer: A")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError) as raised:
        load_tokenizer(folder)
    assert str(raised.value).startswith(f"{folder}: its tokenizer (tokenizer_config.json) turns text into no tokens")


def test_a_partial_llm_block_keeps_the_135m_constants_it_lacks(tmp_path):
    """A config.json whose llm block lacked rope_theta got transformers' 10000 (fVLM-135M: 100000) and rms_norm_eps
    1e-6 (1e-5): the model loaded and scored otherwise, without a word. The shapes it gives stay its own."""
    from fvlm_model.loading import default_spec, read_spec

    llm = {k: v for k, v in default_spec().llm.items() if k not in ("rope_theta", "rms_norm_eps")}
    llm["hidden_size"] = 64
    (tmp_path / "config.json").write_text(json.dumps({"llm": llm}))
    spec = read_spec(tmp_path)
    assert spec.llm["rope_theta"] == 100000.0 and spec.llm["rms_norm_eps"] == 1e-5 and spec.llm["hidden_size"] == 64
    (note,) = spec.notes
    assert "'llm' block lacks rope_theta, rms_norm_eps: the fVLM-135M values are used" in note


def test_trainers_checkpoint_layouts_are_read_and_a_refusal_says_what_and_how(tmp_path):
    """nanoGPT's {"model": sd, ...} and Lightning's {"state_dict": sd, ...} were "holds no state dict" (false); a
    checkpoint holding argparse.Namespace was refused without naming it or the way out."""
    import argparse

    from fvlm_model.state_dicts import read_state_dict

    weights = tiny_model().state_dict()
    for key in ("model", "state_dict", "model_state_dict"):
        torch.save({key: weights, "optimizer": {}, "iter_num": 9000}, tmp_path / f"{key}.pt")
        assert read_state_dict(tmp_path / f"{key}.pt").keys() == weights.keys()
    torch.save({"weights": weights, "step": 3}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"holds no state dict \(a dict of weights, step; expected names"):
        read_state_dict(tmp_path / "other.pt")
    torch.save({"model_state_dict": weights, "args": argparse.Namespace(lr=1e-3)}, tmp_path / "args.pt")
    with pytest.raises(CheckpointError, match=r"it holds argparse.Namespace besides tensors .*torch.save\(checkpoint"):
        read_state_dict(tmp_path / "args.pt")


def test_a_tokenizer_with_ids_beyond_the_llms_vocabulary_is_refused_at_load(tmp_path):
    """Another model's tokenizer loaded, and every question failed as a bare "IndexError: index out of range"."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from fvlm_model.loading import load_tokenizer

    save_model_folder(tiny_model(), tmp_path, ModelSpec(TINY_LLM, TINY_DINO, TINY_QUERY_DIM), load_tokenizer(None))
    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "A": 10, "[UNK]": 60000}
    words = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=words, eos_token="<|im_end|>", unk_token="[UNK]").save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match=r"its tokenizer has ids up to 60000, the LLM's vocabulary 49152"):
        load_fvlm(tmp_path, device="cpu")


def test_a_checkpoint_with_both_dinov2_spellings_of_a_tensor_is_refused(tmp_path):
    """Renamed to the release spelling, the two names of one tensor merged and the later won: 88 tensors in, 72
    loaded, no error (a state dict updated with model.state_dict() after the transformers 5.18 upgrade)."""
    weights = tiny_model().state_dict()
    both = dict(weights)
    for key, value in weights.items():
        if rename_key(key, OLD_TO_NEW) != key:
            both[rename_key(key, OLD_TO_NEW)] = torch.zeros_like(value)
    assert len(both) > len(weights)
    torch.save(both, tmp_path / "both.pt")
    (tmp_path / "config.json").write_text(json.dumps({"llm": TINY_LLM, "dino": TINY_DINO, "query_dim": TINY_QUERY_DIM}))
    with pytest.raises(CheckpointError, match=r"holds both DINOv2 spellings of \d+ tensor"):
        load_fvlm(tmp_path / "both.pt", device="cpu")
