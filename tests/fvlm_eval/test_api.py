"""The Python API: an in-memory model scores exactly as the CLI on the same weights in a folder;
records in memory; model folders from in-memory models and from training checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from fvlm_eval import Evaluation, SettingsError, evaluate, export_checkpoint, save_model_folder
from fvlm_eval.api import ExportRefused
from fvlm_eval.cli import main
from fvlm_eval.records import read_records
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.conftest import TINY_DINO, TINY_LLM, TINY_QUERY_DIM, tiny_model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_mvbench(root)
    write_scienceqa(root)
    return root


def comparable(record):
    return (
        record.id,
        record.mode,
        record.gold,
        record.pred,
        record.correct,
        record.scores,
        record.options,
        record.prompt_sha256,
        record.question_sha256,
        record.frames,
        record.error,
    )


def test_an_in_memory_model_scores_as_the_cli_on_its_saved_folder(capsys, model_dir, data, tmp_path, tokenizer):
    code = main(
        [
            "run",
            "scienceqa",
            "mvbench",
            "--model",
            str(model_dir),
            "--data-dir",
            str(data),
            "--mode",
            "coarse_only",
            "--mode",
            "autoregressive",
            "--limit",
            "2",
            "--workers",
            "0",
            "--no-frame-cache",
            "--output-dir",
            str(tmp_path / "cli"),
        ]
    )
    assert code == 0, capsys.readouterr()
    model = tiny_model().train()  # as a training loop holds it
    evaluation = evaluate(
        model,
        ["scienceqa", "mvbench"],
        tokenizer=tokenizer,
        modes=["coarse_only", "autoregressive"],
        limit=2,
        data_dir=data,
        output_dir=tmp_path / "api",
        frame_cache=False,
        workers=0,
        keep_records=True,
        progress=False,
    )
    assert model.training  # put back as it was
    assert isinstance(evaluation, Evaluation) and evaluation.exit_code == 0
    assert {(r.benchmark, r.mode) for r in evaluation.results} == {
        (b, m) for b in ("scienceqa", "mvbench") for m in ("coarse_only", "autoregressive")
    }
    for result in evaluation.results:
        cli = read_records(tmp_path / "cli" / result.benchmark / result.mode / "samples.jsonl")
        api = read_records(tmp_path / "api" / result.benchmark / result.mode / "samples.jsonl")
        assert len(cli) == len(api) == 2
        assert [comparable(r) for r in api] == [comparable(r) for r in cli]
        assert [comparable(r) for r in result.records] == [comparable(r) for r in cli]
        cli_summary = json.loads((tmp_path / "cli" / result.benchmark / result.mode / "summary.json").read_text())
        for protocol, block in cli_summary["accuracy"].items():
            assert result.accuracy[protocol].accuracy == block["accuracy"]
            assert result.accuracy[protocol].n == block["n"] == 2
        assert result.headline_protocol == cli_summary["headline_protocol"]
        assert result.accuracy[result.headline_protocol].formulation
        assert result.summary.model["source"] == "in-memory FoveatedVLM"
    assert (
        evaluation.accuracy("mvbench", "autoregressive") == evaluation[("mvbench", "autoregressive")].headline.accuracy
    )
    assert list(evaluation) == list(evaluation.results) and len(evaluation) == 4  # `for r in evaluation` raised


def test_records_in_memory_leave_no_folder_and_a_rerun_resumes(model_dir, data, tmp_path, tokenizer, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    model = tiny_model()
    evaluation = evaluate(
        model,
        "scienceqa",
        tokenizer=tokenizer,
        limit=3,
        data_dir=data,
        frame_cache=tmp_path / "cache",
        workers=0,
        keep_records=True,
        progress=False,
        step=1200,
    )
    (result,) = evaluation.results
    assert evaluation.output_dir is None and result.folder is None and list((tmp_path / "tmp").iterdir()) == []
    assert [r.id for r in result.records] == list(result.summary.questions) and len(result.records) == 3
    assert result.summary.manifest["step"] == 1200 and result.mode == "coarse_fine"
    assert result.summary.timing["clips"]["decoded"] == 3
    again = evaluate(
        model,
        "scienceqa",
        tokenizer=tokenizer,
        limit=3,
        data_dir=data,
        frame_cache=tmp_path / "cache",
        workers=0,
        progress=False,
    )  # a later checkpoint on the same subset decodes nothing
    assert again.results[0].summary.timing["clips"] == {**result.summary.timing["clips"], "decoded": 0, "from_cache": 3}


def test_other_weights_cannot_resume_a_folder(data, tmp_path, tokenizer):
    from fvlm_eval.run.lock import RunRefused

    evaluate(
        tiny_model(0),
        "scienceqa",
        tokenizer=tokenizer,
        limit=2,
        data_dir=data,
        output_dir=tmp_path,
        frame_cache=False,
        workers=0,
        progress=False,
    )
    with pytest.raises(RunRefused, match="model_sha256"):
        evaluate(
            tiny_model(1),
            "scienceqa",
            tokenizer=tokenizer,
            limit=2,
            data_dir=data,
            output_dir=tmp_path,
            frame_cache=False,
            workers=0,
            progress=False,
        )


@pytest.mark.parametrize(
    "call, message",
    [
        (dict(benchmarks="nosuch"), "benchmarks: unknown benchmark nosuch"),
        (dict(benchmarks=5), "benchmarks=5: give a name or a list of names"),
        (
            dict(
                benchmarks=[],
            ),
            "benchmarks: no benchmark given",
        ),
        (dict(benchmarks="scienceqa", modes="fast"), "modes='fast': fvlm has coarse_only"),
        (dict(benchmarks="scienceqa", modes=[]), r"modes=\[\]: no mode given"),
        (dict(benchmarks="scienceqa", protocol="generated"), "protocol='generated' needs generate=True"),
        (dict(benchmarks="scienceqa", batch_sise=4), "unknown settings batch_sise"),
        (dict(benchmarks="scienceqa", step=-1), "step=-1"),
        (dict(benchmarks="scienceqa", step=2**63), "step=9223372036854775808: must be a whole number from 0 to"),
        (dict(benchmarks="scienceqa", shard="3/2"), "shard 3/2"),
        (dict(benchmarks="scienceqa", limit="2"), "limit='2': must be a whole number"),
        (dict(benchmarks="scienceqa", limit=1.5), "limit=1.5: must be a whole number"),
        (dict(benchmarks="scienceqa", frames=0), "frames=0: must be a whole number"),
        (dict(benchmarks="scienceqa", frames=-3), "frames=-3"),
        (dict(benchmarks="scienceqa", on_interrupt="bogus"), "on_interrupt='bogus': choose 'raise' or 'return'"),
        (dict(benchmarks="scienceqa", cloze_framing="bogus"), "cloze_framing='bogus': choose 'plain' or 'chat'"),
        (dict(benchmarks="scienceqa", generate="no"), "generate='no': must be True or False"),
        (dict(benchmarks="scienceqa", circular=1), "circular=1: must be True or False"),
        (dict(benchmarks="scienceqa", tokenizer="nonsense"), "tokenizer: a str is not a tokenizer"),
        (dict(benchmarks="scienceqa", dtype="float16"), "dtype='float16': not applied to a model already in memory"),
        (dict(benchmarks="scienceqa", device="cpu"), "device='cpu': not applied to a model already in memory"),
        (dict(benchmarks="scienceqa", family="smolvlm"), "family='smolvlm': the model in memory is of family 'fvlm'"),
        (dict(benchmarks="scienceqa", device=3), "device=3: give a device name"),
        (dict(benchmarks="scienceqa", batch_size="4"), "batch_size='4': must be a whole number at least 1"),
        (dict(benchmarks="scienceqa", workers=-1), "workers=-1: must be a whole number at least 0"),
        (dict(benchmarks="scienceqa", max_new_tokens=0), "max_new_tokens=0: must be a whole number at least 1"),
        (dict(benchmarks="scienceqa", subtitles="yes"), "subtitles='yes': must be True or False"),
        (dict(benchmarks="scienceqa", keep_going="no"), "keep_going='no': must be True or False"),
        (dict(benchmarks="scienceqa", keep_records="yes"), "keep_records='yes': must be True or False"),
        (dict(benchmarks="scienceqa", progress="no"), "progress='no': must be True or False"),
        (dict(benchmarks="scienceqa", distributed="false"), "distributed='false': must be True or False"),
        (dict(benchmarks="scienceqa", data_dir=5), "data_dir=5: must be a path"),
        (dict(benchmarks="scienceqa", output_dir=3.5), "output_dir=3.5: must be a path"),
        (dict(benchmarks="scienceqa", output_dir=" "), "output_dir is empty"),
        (dict(benchmarks="scienceqa", frame_cache=7), "frame_cache=7: must be a path"),
        (dict(benchmarks="scienceqa", name=5), "name=5: must be text"),
        (dict(benchmarks="scienceqa", shard=5), "shard=5: give 'i/n'"),
        (dict(benchmarks="scienceqa", command_line=["x"]), r"command_line=\['x'\]: must be text"),
    ],
)
def test_wrong_arguments_name_the_setting(data, tmp_path, tokenizer, call, message):
    call = {"tokenizer": tokenizer, "data_dir": data, "output_dir": tmp_path, "progress": False, **call}
    with pytest.raises(SettingsError, match=message) as raised:
        evaluate(tiny_model(), **call)
    assert "--" not in str(raised.value).split(":")[0]  # the Python argument, not a CLI flag
    assert not (tmp_path / "scienceqa").exists()  # refused before any record was written
    with pytest.raises(SettingsError, match="not something fvlm-eval can evaluate"):
        evaluate(torch.nn.Linear(2, 2), "scienceqa", data_dir=data, progress=False)


def test_save_model_folder_round_trips(model_dir, tmp_path, tokenizer):
    from fvlm_model.loading import load_fvlm

    model = tiny_model(3)
    folder = save_model_folder(model, tmp_path / "saved", tokenizer)
    loaded, _ = load_fvlm(folder, device="cpu")
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert json.loads((folder / "config.json").read_text())["query_dim"] == TINY_QUERY_DIM


def test_a_training_checkpoint_becomes_a_model_folder(capsys, tmp_path):
    from fvlm_model.loading import load_fvlm

    model = tiny_model(4)
    checkpoint = tmp_path / "ckpt" / "step_300.pt"
    checkpoint.parent.mkdir()
    torch.save({"model_state_dict": model.state_dict(), "step": 300, "optimizer": {"lr": 1e-4}}, checkpoint)
    config = tmp_path / "model-config.json"
    config.write_text(json.dumps({"llm": TINY_LLM, "dino": TINY_DINO, "query_dim": TINY_QUERY_DIM}))
    folder = export_checkpoint(checkpoint, tmp_path / "api-folder", config)
    loaded, _ = load_fvlm(folder, device="cpu")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    code = main(["export-checkpoint", str(checkpoint), str(tmp_path / "cli-folder"), "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0 and "cli-folder" in out
    assert (tmp_path / "cli-folder/model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    code = main(["export-checkpoint", str(tmp_path / "missing.pt"), str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 1 and "missing.pt: no such checkpoint file" in err and "Traceback" not in err
    code = main(["export-checkpoint", str(tmp_path), str(tmp_path / "x")])  # a folder given for the file
    assert code == 1 and "a folder, not a checkpoint file (give the weights file in it)" in capsys.readouterr().err
    code = main(["export-checkpoint", str(checkpoint), str(tmp_path / "y")])  # no config: the 135M shape does not fit
    err = capsys.readouterr().err
    assert code == 1 and "does not match the fVLM architecture" in err and "Traceback" not in err
    assert (
        f"{checkpoint} does not match" in err and "fvlm-eval-export-" not in err
    )  # the user's file, not a staging copy
    before = (tmp_path / "cli-folder/model.safetensors").read_bytes()
    code = main(["export-checkpoint", str(checkpoint), str(tmp_path / "cli-folder"), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 3 and "cli-folder already holds a model (config.json, model.safetensors" in err and "--force" in err
    assert (tmp_path / "cli-folder/model.safetensors").read_bytes() == before
    code = main(
        ["export-checkpoint", str(checkpoint), str(tmp_path / "cli-folder"), "--config", str(config), "--force"]
    )
    assert code == 0 and "cli-folder" in capsys.readouterr().out
    with pytest.raises(ExportRefused, match="already holds a model"):
        export_checkpoint(checkpoint, folder, config)
    assert export_checkpoint(checkpoint, folder, config, force=True) == folder
    code = main(["export-checkpoint", str(checkpoint), str(tmp_path / "z"), "--config", str(checkpoint)])
    err = capsys.readouterr().err
    assert code == 1 and "step_300.pt: the checkpoint itself was given as the config" in err and "unexpected" not in err
    (tmp_path / "a-file").write_text("x")
    code = main(["export-checkpoint", str(checkpoint), str(tmp_path / "a-file" / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "a-file" in err and "cannot write there" in err and "Traceback" not in err


def test_an_in_memory_smolvlm_scores_as_its_folder(data, tmp_path):
    from transformers import AutoTokenizer, SmolVLMForConditionalGeneration

    from fvlm_eval.models import load_model
    from fvlm_eval.models.smolvlm.folder import image_processor_class as _image_processor_class
    from fvlm_eval.models.smolvlm.tiny import save_tiny_smolvlm

    folder = save_tiny_smolvlm(tmp_path / "smolvlm")
    common = dict(limit=3, data_dir=data, frame_cache=False, workers=0, keep_records=True, progress=False)
    from_folder = evaluate(load_model(str(folder), device="cpu"), "scienceqa", **common)
    model = SmolVLMForConditionalGeneration.from_pretrained(folder)
    in_memory = evaluate(
        model,
        "scienceqa",
        tokenizer=AutoTokenizer.from_pretrained(folder),
        image_processor=_image_processor_class().from_pretrained(folder),
        **common,
    )
    assert [comparable(r) for r in in_memory.results[0].records] == [
        comparable(r) for r in from_folder.results[0].records
    ]


def test_diverged_weights_are_refused_before_scoring(data, tmp_path, tokenizer, model_dir):
    """A model holding NaN (in memory, or an adapter already built) is refused naming the tensor; nothing is
    written: never a run that says "always A" with exit code 0."""
    from fvlm_eval.models import ModelLoadError, load_model

    model = tiny_model()
    with torch.no_grad():
        model.llm.model.layers[0].mlp.up_proj.weight[0, 0] = float("nan")
    common = dict(data_dir=data, output_dir=tmp_path / "out", frame_cache=False, workers=0, progress=False)
    with pytest.raises(
        ModelLoadError, match=r"1 weight tensor holds NaN .*llm\.model\.layers\.0\.mlp\.up_proj\.weight"
    ):
        evaluate(model, "scienceqa", tokenizer=tokenizer, **common)
    adapter = load_model(str(model_dir), device="cpu")
    with torch.no_grad():
        adapter.model.q_init.fill_(float("inf"))
    with pytest.raises(ModelLoadError, match=r"q_init\): the weights diverged; nothing"):
        evaluate(adapter, "scienceqa", **common)
    assert not (tmp_path / "out").exists()
    healthy = tiny_model()  # finite, but one weight beyond float16's range: not "diverged" alone
    with torch.no_grad():
        healthy.llm_to_query.weight[0, 0] = 1e5
    with pytest.raises(ModelLoadError, match=r"or float16 cannot hold them .*try --dtype bfloat16 or float32"):
        evaluate(healthy.half(), "scienceqa", tokenizer=tokenizer, **common)


def test_export_names_non_finite_tensors_and_takes_ddp_checkpoints(capsys, tmp_path):
    model = tiny_model(5)
    config = tmp_path / "model-config.json"
    config.write_text(json.dumps({"llm": TINY_LLM, "dino": TINY_DINO, "query_dim": TINY_QUERY_DIM}))
    diverged = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    torch.save({"model_state_dict": diverged}, tmp_path / "nan.pt")
    code = main(["export-checkpoint", str(tmp_path / "nan.pt"), str(tmp_path / "out-nan"), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 1 and "nan.pt: 73 of its 73 tensors hold NaN or infinity (q_static, q_init" in err, err
    assert "(+69 more)" in err and "differs" not in err and not (tmp_path / "out-nan").exists()
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "ddp.pt")
    folder = export_checkpoint(tmp_path / "ddp.pt", tmp_path / "out-ddp", config)
    assert (folder / "model.safetensors").is_file()


def test_none_stands_for_the_default_of_a_setting(data, tmp_path, tokenizer):
    """``cloze_framing=None`` is the default framing, recorded as such (it once ran the chat framing, recorded
    ``null``); a family given for an in-memory model is accepted when it is the model's own."""
    common = dict(data_dir=data, frame_cache=False, workers=0, keep_records=True, progress=False, limit=1)
    got = evaluate(tiny_model(), "scienceqa", tokenizer=tokenizer, cloze_framing=None, family="fvlm", **common)
    plain = evaluate(tiny_model(), "scienceqa", tokenizer=tokenizer, **common)
    (record,), (expected,) = got.results[0].records, plain.results[0].records
    assert record.cloze["framing"] == "plain" and record.scores == expected.scores


def test_finite_weights_are_told_apart_even_when_their_sum_overflows():
    from fvlm_eval.models.memory import finite

    assert finite(torch.full((4,), 3e38)) and finite(torch.arange(5))  # sum inf, every value finite; integers
    assert not finite(torch.tensor([1.0, float("nan")])) and not finite(torch.tensor([float("-inf"), 1.0]))
    assert not finite(torch.tensor([float("inf"), float("-inf")]).to(torch.bfloat16))


def test_a_folder_argument_where_a_file_is_is_one_error_not_an_os_error(data, tmp_path, tokenizer):
    """evaluate(output_dir=<a file>) raised a raw NotADirectoryError from deep in the run."""
    from fvlm_eval.errors import FvlmEvalError

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    common = {"tokenizer": tokenizer, "data_dir": data, "progress": False}
    for argument, value, said in (
        ("output_dir", blocked, f"cannot read or write {blocked}: a file, not a folder"),
        ("output_dir", blocked / "out", f"cannot read or write {blocked / 'out'}: {blocked} is a file, not a folder"),
        ("frame_cache", blocked / "c", f"cannot read or write {blocked / 'c'}: {blocked} is a file, not a folder"),
    ):
        with pytest.raises(FvlmEvalError) as raised:
            evaluate(tiny_model(), "scienceqa", **{"output_dir": tmp_path / "run", **common, argument: value})
        assert str(raised.value).startswith(said) and raised.value.exit_code == 1
    assert not (tmp_path / "run").exists()


def test_asking_an_evaluation_for_what_it_did_not_measure_names_what_it_has(data, tokenizer):
    """`evaluation.accuracy("scienceqa", "coarse_fine", "generated")` without `generate` raised a bare
    `KeyError: 'generated'`, a benchmark or mode not evaluated a KeyError of tuples: each is a SettingsError
    (a KeyError still) naming what was asked and what the evaluation holds."""
    common = dict(data_dir=data, frame_cache=False, workers=0, progress=False, limit=1)
    evaluation = evaluate(tiny_model(), "scienceqa", tokenizer=tokenizer, **common)
    accuracy, held = evaluation.accuracy, "evaluated: scienceqa in coarse_fine"
    for asked, said in (
        (lambda: accuracy("scienceqa", "coarse_fine", "generated"), "'generated' was not measured: it needs generate="),
        (lambda: evaluation[("scienceqa", "coarse_fine")].accuracy["permavg_sum"], "circular=True; measured: refer"),
        (lambda: accuracy("mvbench", "coarse_fine"), f"benchmark 'mvbench' was not evaluated; {held}"),
        (lambda: evaluation[("scienceqa", "fast")], f"scienceqa was not evaluated in mode 'fast'; {held}"),
        (lambda: evaluation["scienceqa"], f"evaluation['scienceqa']: give a (benchmark, mode) pair; {held}"),
    ):
        with pytest.raises(SettingsError) as raised:
            asked()
        assert said in str(raised.value) and isinstance(raised.value, KeyError), str(raised.value)
    assert ("scienceqa", "coarse_fine") in evaluation and ("mvbench", "coarse_fine") not in evaluation  # `in` was False


def test_a_training_checkpoints_own_step_is_the_manifests_unless_one_is_given(data, tmp_path, capsys):
    """`--model ckpt.pt` of a trainer that saved its step: track read the step from the manifest (never written
    without --step) or the folder's name (the output folder's, not the checkpoint's)."""
    model = tiny_model(4)
    folder = tmp_path / "ckpts"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"llm": TINY_LLM, "dino": TINY_DINO, "query_dim": TINY_QUERY_DIM}))
    torch.save({"model_state_dict": model.state_dict(), "step": 300, "optimizer": {"lr": 1e-4}}, folder / "a.pt")
    torch.save({"model": model.state_dict(), "global_step": torch.tensor(700)}, folder / "b.pt")
    torch.save({"model_state_dict": model.state_dict(), "step": 2.5}, folder / "c.pt")  # no whole step: none
    torch.save({"model_state_dict": model.state_dict(), "step": 3000.0}, folder / "d.pt")  # a whole float
    legacy = {"model_state_dict": model.state_dict(), "step": 4000}
    torch.save(legacy, folder / "e.pt", _use_new_zipfile_serialization=False)  # cannot be memory-mapped
    torch.save({"model_state_dict": model.state_dict(), "step": 5, "global_step": 5000}, folder / "f.pt")
    common = dict(limit=1, data_dir=data, workers=0, device="cpu", modes=["coarse_only"])

    def step(checkpoint, **given):
        output = tmp_path / f"out-{checkpoint}-{given}"
        evaluate(folder / checkpoint, "scienceqa", output_dir=output, **common, **given)
        return json.loads((output / "scienceqa/coarse_only/summary.json").read_text())["manifest"]["step"]

    assert (step("a.pt"), step("b.pt"), step("d.pt"), step("e.pt")) == (300, 700, 3000, 4000)
    assert "note" not in capsys.readouterr().out
    assert (step("c.pt"), step("f.pt")) == (None, None)  # each said, never dropped without a word
    said = " ".join(capsys.readouterr().out.split())
    assert "note: c.pt holds step 2.5: not a whole number, so no step is recorded; give --step" in said
    assert "note: f.pt holds step 5 and global_step 5000: which is the training step is unknown; give --step" in said
    assert step("a.pt", step=5) == 5  # given: recorded as given, and said
    assert "note: step 5 is recorded, as given; the checkpoint says it was saved at step 300" in capsys.readouterr().out
    code = main(["run", "scienceqa", "--model", str(folder / "a.pt"), "--data-dir", str(data), "--limit", "1",
                 "--mode", "coarse_only", "--output-dir", str(tmp_path / "cli"), "--workers", "0"])  # fmt: skip
    assert code == 0
    assert json.loads((tmp_path / "cli/scienceqa/coarse_only/summary.json").read_text())["manifest"]["step"] == 300


def test_cheap_mistakes_are_told_before_torch_or_the_model_is_loaded(model_dir, tmp_path, monkeypatch):
    """A misspelled device was told after torch's import (seconds), an empty model path was read as the current
    folder, and a data folder that is not there was told after the model had loaded (minutes from the hub)."""
    import subprocess
    import sys
    import textwrap

    from fvlm_eval import api

    script = textwrap.dedent("""
        import sys
        from fvlm_eval import SettingsError, evaluate

        for model, device in ((sys.argv[1], "tpu"), ("", None)):
            try:
                evaluate(model, "scienceqa", device=device, progress=False)
            except SettingsError as error:
                print(error.cli_message)
        print("torch imported:", "torch" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(model_dir)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "--device tpu: not a device name (cpu, cuda, cuda:1, ...)",
        "--model is empty",
        "torch imported: False",
    ]

    def not_loaded(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(api, "adapter_for", not_loaded)
    nowhere = tmp_path / "nowhere"
    for model in (str(model_dir), tiny_model()):
        with pytest.raises(FileNotFoundError) as raised:
            evaluate(model, "scienceqa", data_dir=nowhere, output_dir=tmp_path / "run", progress=False)
        assert str(raised.value).startswith(f"--data-dir {nowhere} does not exist; `fvlm-eval prepare scienceqa")
        assert raised.value.exit_code == 1
    assert not (tmp_path / "run").exists()
