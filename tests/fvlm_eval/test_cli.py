"""Bad input at the command line: one clear line naming the flag, file or key, the right exit code, no traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from fvlm_eval.cli import main
from fvlm_eval.tasks import write_fixtures
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub was imported
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("FVLM_EVAL_FRAME_CACHE", str(tmp_path / "cache"))


def call(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


BAD_FLAGS = [
    (["run", "mvbench", "--mode", "all", "--mode", "bogus"], "--mode bogus"),
    (["run", "mvbench", "--shard", "0/99999999999999999999999"], "--shard 0/99999999999999999999999"),
    (["run", "mvbench", "--output-dir", ""], "--output-dir is empty"),
    (["run", "nosuch"], "unknown benchmark nosuch"),
    (["run", "scienceqa,video"], "scienceqa,video: benchmarks are separated by spaces, not commas: scienceqa video"),
    (["run", "scienceqa,"], "scienceqa,: benchmarks are separated by spaces, not commas: scienceqa"),
    (
        ["prepare", "scienceqa,mvbench"],
        "one benchmark at a time: fvlm-eval prepare scienceqa; fvlm-eval prepare mvbench",
    ),
    (
        ["demo", "-b", "scienceqa,mvbench"],
        "--benchmark scienceqa,mvbench: one benchmark per -b (-b scienceqa -b mvbench)",
    ),
    (["run", "mvbench", "--mode", "fast"], "--mode fast: fvlm has coarse_only, coarse_fine, autoregressive"),
    (["run", "mvbench", "--limit", "-1"], "--limit"),
    (["run", "mvbench", "--limit", "0"], "--limit"),
    (["run", "mvbench", "--frames", "0"], "--frames"),
    (["run", "mvbench", "--frames", "-3"], "--frames"),
    (["run", "mvbench", "--batch-size", "0"], "--batch-size"),
    (["run", "mvbench", "--workers", "-1"], "--workers"),
    (["run", "mvbench", "--shard", "3/2"], "--shard 3/2"),
    (["run", "mvbench", "--shard", "x"], "--shard x"),
    (["run", "mvbench", "--protocol", "best"], "--protocol best"),
    (["run", "mvbench", "--protocol", "generated"], "--protocol generated needs --generate"),
    (["run", "mvbench", "--dtype", "float8"], "--dtype float8"),
    (["run", "mvbench", "--family", "llava"], "--family llava"),
    (["run", "mvbench", "--sampling", "random"], "--sampling random"),
    (["run", "mvbench", "--frame-cache", "c", "--no-frame-cache"], "contradict"),
    (["report"], "Missing argument"),
    (["regress", "--baseline", "a"], "Missing option"),
    (["nonsense"], "No such command"),
]


@pytest.mark.parametrize("args, message", BAD_FLAGS)
def test_wrong_flags_exit_2_with_one_line(capsys, model_dir, args, message):
    code, output = call(capsys, *args, *(["--model", model_dir] if args[0] == "run" and "--family" not in args else []))
    assert code == 2 and message in output


def test_unknown_and_offline_models_say_what_to_do(capsys, data, tmp_path):
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", tmp_path / "nowhere")
    assert code == 1 and "no such file or folder" in output
    (tmp_path / "link").symlink_to(tmp_path / "moved-model")  # a link to a model folder moved away
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", tmp_path / "link")
    assert (
        code == 1
        and f"--model {tmp_path / 'link'}: {tmp_path / 'link'} is a link to {tmp_path / 'moved-model'}" in output
    )
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", "someone/no-such-model")
    assert code == 1 and "pass a local model folder" in output
    assert "--model someone/no-such-model: no file or folder of that name here, so a hub id; cannot download" in output
    code, output = call(capsys, "run", "mvbench", "--data-dir", data)  # the default model, offline
    assert code == 1 and "sanps/fVLM-135M" in output and "--model path/to/folder" in output


def test_a_typo_of_a_local_folder_is_not_sent_to_the_hub(capsys, data, tmp_path, monkeypatch):
    """`--model demo/modell` (demo/ is here) went to the hub as an owner/name id: 25 s of retries and 11 lines."""
    import huggingface_hub

    def no_hub(*args, **kwargs):
        raise AssertionError("the hub was asked")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_hub)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_hub)
    (tmp_path / "demo").mkdir()
    monkeypatch.chdir(tmp_path)
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", "demo/modell")
    assert code == 1 and output.strip() == (
        "error: --model demo/modell: no such file or folder (demo/ is a folder here, so it is read as a path, not "
        "fetched from the hub: a typo? To fetch the hub model of that name, run from another folder)"
    )


@pytest.mark.parametrize("family_model", ["owner/fvlm-model", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"])
def test_a_hub_cache_that_cannot_be_written_says_hf_home_not_offline(capsys, data, monkeypatch, family_model):
    """A download refused by the disk (HF_HOME read-only or full) read "cannot download it from the hub ...;
    offline, pass a local model folder": the network was fine, the cache folder was not."""
    import errno

    import huggingface_hub

    kept = "/ro/hf/hub/models--owner--name/blobs/0a1b"

    def refused(*args, **kwargs):
        try:
            raise OSError(errno.EROFS, "Read-only file system", kept)
        except OSError as error:  # as huggingface_hub wraps some of its errors
            raise RuntimeError("download failed") from error

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refused)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refused)
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", family_model)
    assert code == 1 and output.strip() == (
        f"error: --model {family_model}: cannot write the download to the Hugging Face cache {kept} (Read-only file "
        "system); point HF_HOME at a writable folder with space, or pass a local model folder: --model path/to/folder"
    )


def test_a_flag_that_changes_nothing_in_the_run_is_said(capsys, model_dir, data, tmp_path):
    """--max-new-tokens without --generate and --subtitles on MVBench were accepted without a word."""
    args = ["run", "mvbench", "--data-dir", data, "--model", model_dir, "--limit", "1", "--frames", "2"]
    code, output = call(capsys, *args, "--output-dir", tmp_path / "a", "--subtitles", "--max-new-tokens", "32")
    assert code == 0
    assert "note: --max-new-tokens: no answer is generated without --generate" in output
    assert "note: --subtitles: only videomme has subtitles, and this run has none of it" in output
    code, output = call(capsys, *args[:2], "videomme", *args[2:], "--output-dir", tmp_path / "b", "--subtitles")
    assert code == 0 and "note:" not in output


def test_an_unwritable_path_of_thousands_of_characters_is_one_short_line(capsys, model_dir, data, tmp_path):
    long = tmp_path / ("y" * 400)
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", model_dir, "--output-dir", long)
    (line,) = output.strip().splitlines()
    assert (
        code == 1
        and line.startswith("error: cannot read or write ")
        and line.endswith("characters): File name too long; give a shorter --output-dir or --frame-cache")
    )
    assert len(line) < 300


def test_a_quoted_tilde_is_the_home_folder_not_a_folder_named_tilde(capsys, model_dir, data, tmp_path, monkeypatch):
    """`--output-dir=~/o` (no shell expands ~ after =) wrote into ./~/o; `--model='~/m'` failed for fVLM only."""
    import shutil

    home, here = tmp_path / "home", tmp_path / "here"
    here.mkdir()
    shutil.copytree(model_dir, home / "m")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(here)
    args = ["run", "scienceqa", "--data-dir", data, "--limit", "1", "--frames", "2"]
    code, output = call(capsys, *args, "--model", "~/m", "--output-dir", "~/o", "--frame-cache", "~/fc")
    assert code == 0 and (home / "o" / "scienceqa" / "coarse_fine" / "summary.json").is_file()
    assert (home / "fc").is_dir() and not (here / "~").exists()
    assert f"next: fvlm-eval report {home / 'o'})" in output.splitlines()[-1]


def test_an_output_folder_that_is_the_data_or_in_the_model_is_refused(capsys, model_dir, data):
    """`--output-dir demo/data` wrote mvbench/coarse_fine/samples.jsonl in beside the benchmark's json/ and video/."""
    args = ["run", "mvbench", "--data-dir", data, "--model", model_dir, "--limit", "1"]
    code, output = call(capsys, *args, "--output-dir", data)
    assert code == 2 and f"error: --output-dir {data} is --data-dir {data}: runs are written apart from it" in output
    code, output = call(capsys, *args, "--output-dir", model_dir / "runs")
    assert code == 2 and f"--output-dir {model_dir / 'runs'} is inside --model {model_dir}: runs are written" in output
    assert not (data / "mvbench" / "coarse_fine").exists() and not (model_dir / "runs").exists()


def test_a_link_that_leads_nowhere_is_named_wherever_a_folder_is_given(capsys, model_dir, data, tmp_path):
    """A dangling --output-dir link said "File exists"; a link loop was "an unexpected error: RuntimeError:
    Symlink loop" in run (output, frame cache), report and track; each is now one line saying which link."""
    (tmp_path / "dangling").symlink_to(tmp_path / "gone" / "out")
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    dangling = f"{tmp_path / 'dangling'} is a link to {tmp_path / 'gone' / 'out'}, which does not exist"
    loop = f"{tmp_path / 'loop-a'} is a link that leads back to itself"
    args = ["run", "scienceqa", "--data-dir", data, "--model", model_dir, "--limit", "1", "--frames", "2"]
    for flags, said in (
        (["--output-dir", tmp_path / "dangling"], dangling),
        (["--output-dir", tmp_path / "dangling" / "sub"], dangling),
        (["--output-dir", tmp_path / "loop-a"], loop),
        (["--output-dir", tmp_path / "out", "--frame-cache", tmp_path / "loop-a"], loop),
    ):
        code, output = call(capsys, *args, *flags)
        assert code == 1 and said in output and len(output.strip().splitlines()) == 1, output
    for command in (["report", tmp_path / "loop-a"], ["track", tmp_path / "loop-a"]):
        code, output = call(capsys, *command)
        assert code == 1 and f"error: {tmp_path / 'loop-a'}: {loop}" in output, output
    code, output = call(capsys, "regress", "--baseline", tmp_path / "dangling", "--current", tmp_path / "loop-a")
    assert code == 4 and dangling in output
    assert not (tmp_path / "gone").exists() and not (tmp_path / "out").exists()


def test_run_from_inside_the_model_folder_names_the_default_output_it_would_write_into(
    capsys, model_dir, data, monkeypatch
):
    """`cd model; fvlm-eval run ... --model .`: "--output-dir results/runs is inside --model ." though no
    --output-dir was given (and the default was results/runs itself: `.` has no name)."""
    from fvlm_eval.cli.run_commands import default_output
    from fvlm_eval.models.hub import model_name

    monkeypatch.chdir(model_dir)
    assert default_output(".") == Path("results/runs") / model_dir.name
    assert model_name(".") == model_name(f"{model_dir}/") == model_dir.name  # the manifest's name: it was "."
    assert model_name("owner/some-model") == "some-model"
    code, output = call(capsys, "run", "scienceqa", "--model", ".", "--data-dir", data, "--limit", "1")
    assert code == 2 and output.strip() == (
        f"error: the default --output-dir, results/runs/{model_dir.name}, is inside the model folder --model . (run "
        "from inside it?): give --output-dir a folder outside it"
    )
    assert not (model_dir / "results").exists()


def test_an_error_naming_a_path_with_a_line_break_is_still_one_line(capsys, model_dir, tmp_path):
    """`--data-dir $'a\\nb'`: the error came out as two lines, the second looking like another message."""
    odd = tmp_path / "a\nb"
    code, output = call(
        capsys, "run", "mvbench", "--model", model_dir, "--data-dir", odd, "--output-dir", tmp_path / "o"
    )
    (line,) = output.strip().splitlines()
    assert code == 1 and f"--data-dir {tmp_path}/a\\nb does not exist" in line


def test_a_data_folder_one_level_off_says_which_to_give(capsys, model_dir, data, tmp_path):
    """`--data-dir data/mvbench` said only "expected data/mvbench/mvbench/json/<task>.json (run prepare)"."""
    args = ["run", "mvbench", "--model", model_dir, "--output-dir", tmp_path / "out", "--data-dir"]
    code, output = call(capsys, *args, data / "mvbench")
    assert code == 1 and f"looks like the mvbench folder itself: give the folder above it, --data-dir {data}" in output
    code, output = call(capsys, *args, data / "mvbench" / "json")  # deeper still: ScienceQA-IMG, json/, video/
    assert (
        code == 1
        and f"inside the mvbench folder {data / 'mvbench'}: give the folder above that, --data-dir {data}" in output
    )
    (tmp_path / "outer").mkdir()
    (tmp_path / "outer" / "data").symlink_to(data)
    code, output = call(capsys, *args, tmp_path / "outer")
    assert code == 1 and f"it is in a folder below: --data-dir {tmp_path / 'outer' / 'data'}" in output
    code, output = call(capsys, *args, tmp_path / "nowhere")
    assert code == 1 and f"--data-dir {tmp_path / 'nowhere'} does not exist" in output


def test_cuda_on_a_machine_without_it(capsys, model_dir, data):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", model_dir, "--device", "cuda")
    assert code == 2 and "--device cuda: no CUDA device is available here" in output
    for device in ("tpu", "cuda:abc"):
        code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", model_dir, "--device", device)
        assert code == 2 and f"--device {device}" in output


@pytest.mark.parametrize(
    "config, message",
    [
        ({"query_dim": "big"}, "key 'query_dim' must be a positive int, not 'big'"),
        ({"llm": "oops"}, "key 'llm' must be an object"),
        ({"visual_scale": -1}, "key 'visual_scale' must be a positive float"),
        ({"llm": {"hidden_size": "wide"}}, "cannot build the model from it"),
    ],
)
def test_a_config_value_of_the_wrong_type_names_the_file_and_key(capsys, model_dir, data, tmp_path, config, message):
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    spec = json.loads((folder / "config.json").read_text())
    spec.update(config)
    (folder / "config.json").write_text(json.dumps(spec))
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", folder, "--family", "fvlm")
    assert code == 1 and message in output and "config.json" in output


def test_a_folder_without_config_says_it_uses_the_135m_configuration(capsys, model_dir, tmp_path):
    from fvlm_model.loading import read_spec

    spec = read_spec(tmp_path)
    assert "has no config.json: using the fVLM-135M configuration" in spec.notes[0]


def test_a_file_that_is_not_a_model(capsys, data, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    code, output = call(capsys, "run", "mvbench", "--data-dir", data, "--model", tmp_path / "notes.txt")
    assert code == 1 and "notes.txt: a file that is not a weights file" in output


def test_a_benchmark_with_no_questions_exits_1(capsys, model_dir, tmp_path):
    (tmp_path / "data/mvbench/json").mkdir(parents=True)
    code, output = call(
        capsys,
        "run",
        "mvbench",
        "--data-dir",
        tmp_path / "data",
        "--model",
        model_dir,
        "--output-dir",
        tmp_path / "out",
        "--workers",
        "0",
    )
    assert code == 1 and "no questions found" in output


def test_missing_data_names_the_prepare_command_for_the_folder_given(capsys, model_dir, tmp_path):
    """The advice was a bare `fvlm-eval prepare videomme`, which downloads into ./data, not into --data-dir."""
    (tmp_path / "my data").mkdir()
    code, output = call(capsys, "run", "videomme", "--data-dir", tmp_path / "my data", "--model", model_dir)
    assert code == 1 and "Video-MME annotations not found" in output
    assert f"`fvlm-eval prepare videomme --data-dir '{tmp_path / 'my data'}'` fetches it" in output
    code, output = call(capsys, "prepare", "videomme", "--data-dir", tmp_path / "my data", "--no-download")
    assert code == 1 and output.count("error:") == 1
    assert (
        f"`fvlm-eval prepare videomme --data-dir '{tmp_path / 'my data'}'` fetches it (without --no-download)" in output
    )
    code, output = call(capsys, "run", "videomme", "--data-dir", tmp_path / "none yet", "--model", model_dir)
    assert code == 1 and "does not exist" in output  # the first run before any prepare: the command still said
    assert f"`fvlm-eval prepare videomme --data-dir '{tmp_path / 'none yet'}'` fetches it" in output


def test_one_benchmark_without_data_is_not_scored_and_the_others_are(capsys, model_dir, data, tmp_path):
    """`run scienceqa egoschema mvbench` with egoschema's data missing scored scienceqa, then stopped at egoschema:
    mvbench, whose data was there, was never scored, and the end-of-run tables were not printed."""
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("scienceqa", "mvbench"):
        (partial / name).symlink_to(data / name)
    args = ["run", "scienceqa", "egoschema", "mvbench", "--data-dir", partial, "--model", model_dir]
    code, output = call(capsys, *args, "--output-dir", tmp_path / "out", "--mode", "coarse_only", "--limit", "2")
    assert code == 1
    assert output.index("note: no data for egoschema under") < output.index("scienceqa coarse_only: 2/2")
    assert "EgoSchema subset annotations not found" in output and "the run's other benchmarks go on" in output
    assert (tmp_path / "out" / "mvbench" / "coarse_only" / "summary.json").is_file()
    assert "coverage" in output and not (tmp_path / "out" / "egoschema").exists()
    code, output = call(capsys, "run", "egoschema", "--data-dir", partial, "--model", model_dir)
    assert code == 1 and "; it is not scored" in output and "other benchmarks" not in output  # there are none


def test_missing_data_and_unwritable_output(capsys, model_dir, data, tmp_path):
    (tmp_path / "empty").mkdir()  # a data folder without the benchmark (one that does not exist: told up front)
    code, output = call(capsys, "run", "videomme", "--data-dir", tmp_path / "empty", "--model", model_dir)
    assert code == 1 and "Video-MME annotations not found" in output
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    code, output = call(
        capsys, "run", "scienceqa", "--data-dir", data, "--model", model_dir, "--output-dir", blocked / "out"
    )
    assert code == 1 and "cannot read or write" in output and "a-file" in output
    locked = tmp_path / "readonly"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        code, output = call(
            capsys, "run", "scienceqa", "--data-dir", data, "--model", model_dir, "--output-dir", locked / "out"
        )
        assert code == 1 and "cannot read or write" in output and "Permission denied" in output
    finally:
        os.chmod(locked, 0o700)


def test_messages_show_paths_as_they_are_not_as_markup(capsys, model_dir, tmp_path, monkeypatch):
    """A folder named like rich markup ("[red]") is printed as named, in the run's end messages too."""
    monkeypatch.setenv("COLUMNS", "1000")
    data = tmp_path / "data [red]x"
    write_mvbench(data)
    (data / "mvbench" / "json" / "action_antonym.json").write_text("{broken")
    code, output = call(
        capsys,
        "run",
        "mvbench",
        "--data-dir",
        data,
        "--model",
        model_dir,
        "--output-dir",
        tmp_path / "out",
        "--workers",
        "0",
        "--limit",
        "2",
        "--mode",
        "coarse_only",
    )
    assert code == 1 and f"annotation file {data}/mvbench/json/action_antonym.json cannot be read" in output


def test_report_regress_and_merge_on_broken_folders(capsys, tmp_path):
    code, output = call(capsys, "report", tmp_path / "missing")
    assert code == 1 and "no such run folder" in output
    (tmp_path / "empty").mkdir()
    code, output = call(capsys, "report", tmp_path / "empty")
    assert code == 1 and "no <benchmark>/<mode>/summary.json" in output
    code, output = call(capsys, "regress", "--baseline", tmp_path / "missing", "--current", tmp_path / "empty")
    assert code == 4 and "--baseline" in output and "no such folder" in output
    code, output = call(capsys, "merge", tmp_path / "empty")
    assert code == 1 and "no shard results" in output
    code, output = call(capsys, "report", tmp_path / "empty", "--output-dir", tmp_path / "missing" / "x")
    assert code == 1
    bad = tmp_path / "bad.csv"
    bad.write_bytes(bytes(range(256)) * 4)
    code, output = call(capsys, "report", tmp_path / "empty", "--baselines", bad)
    assert code == 1


def test_a_run_that_works_exits_0_and_prints_chance(capsys, model_dir, data, tmp_path):
    code, output = call(
        capsys,
        "run",
        "scienceqa",
        "--data-dir",
        data,
        "--model",
        model_dir,
        "--output-dir",
        tmp_path / "out",
        "--workers",
        "0",
        "--mode",
        "all",
    )
    assert code == 0 and "chance" in output and "fvlm-eval report" in output


def test_a_suite_runs_each_of_its_benchmarks_once(capsys, model_dir, data, tmp_path):
    from fvlm_eval.tasks import suite

    args = ["--data-dir", data, "--model", model_dir, "--output-dir", tmp_path / "out", "--workers", "0"]
    code, output = call(capsys, "run", "mvbench", "video", *args, "--limit", "1", "--mode", "coarse_only")
    assert code == 0, output
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == sorted(suite("video"))
    assert all(
        len((tmp_path / "out" / b / "coarse_only/samples.jsonl").read_text().splitlines()) == 1 for b in suite("video")
    )


# ----- progress and help ----------------------------------------------------------------------------


def squashed(text: str) -> str:
    return " ".join(text.split())


def test_help_version_debug_and_readable_metavars(capsys):
    from fvlm_eval import __version__

    code, output = call(capsys, "-h")
    assert code == 0 and "--version" in output and "--debug" in output and "track" in output
    code, output = call(capsys, "--version")
    assert code == 0 and output.strip() == f"fvlm-eval {__version__}"
    for command in ("run", "report", "regress", "track", "prepare", "merge", "benchmarks", "demo", "export-checkpoint"):
        code, output = call(capsys, command, "-h")
        assert code == 0 and f"Usage: fvlm-eval {command}" in squashed(output)
        for unreadable in ("<bool>", "<list[", "<int", "<str>", "<path>", "<float", "{benchmarks}", "{runs}"):
            assert unreadable not in output, (command, unreadable)
    code, output = call(capsys, "run", "-h")
    assert "BENCHMARK..." in output and "--limit" in output and " N " in output


COMMANDS = ("run", "merge", "demo", "report", "regress", "track", "benchmarks", "prepare", "export-checkpoint")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_help_reads_whole_at_80_columns(capsys, monkeypatch, command):
    """`COLUMNS=80 fvlm-eval <command> --help`: nothing cut with "…" (rich's panels once showed
    ``--allow-underp…``), every line within 80 columns, every flag's name whole on one line."""
    import re

    import typer

    from fvlm_eval.cli.app import app

    monkeypatch.setenv("COLUMNS", "80")
    code, output = call(capsys, command, "--help")
    assert code == 0 and "…" not in output, output
    assert max(len(line) for line in output.splitlines()) <= 80, output
    shown = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", output))
    (found,) = [c for c in typer.main.get_command(app).commands.values() if c.name == command]
    flags = [f for p in found.params for f in (*p.opts, *p.secondary_opts) if f.startswith("-")]
    assert not set(flags) - shown, (command, set(flags) - shown)


def test_progress_lines_say_what_is_left(capsys, model_dir, data, tmp_path):
    args = [
        "run",
        "scienceqa",
        "--data-dir",
        data,
        "--model",
        model_dir,
        "--output-dir",
        tmp_path / "out",
        "--workers",
        "0",
        "--mode",
        "coarse_only",
        "--mode",
        "coarse_fine",
    ]
    code, output = call(capsys, *args, "--limit", "2")
    assert code == 0 and "resuming" not in output and "nothing to score" not in output
    code, output = call(capsys, *args, "--limit", "4")
    assert code == 0 and (
        "resuming scienceqa (4 questions): recorded coarse_only 2/4, coarse_fine 2/4; 2 to score" in squashed(output)
    )
    code, output = call(capsys, *args, "--limit", "4")
    assert code == 0 and "scienceqa: nothing to score: all 4 questions are already recorded in every mode" in squashed(
        output
    )
    assert "0/0" not in output and "q/s" not in output


def test_the_bar_counts_questions_whichever_mode_is_left(capsys, model_dir, data, tmp_path):
    """Resuming a run whose first mode is complete: the bar still moves, once per question (not once per mode)."""
    args = [
        "run",
        "scienceqa",
        "--data-dir",
        data,
        "--model",
        model_dir,
        "--output-dir",
        tmp_path / "out",
        "--workers",
        "0",
        "--limit",
        "3",
    ]

    def bar(output):  # the bar's last state: "scienceqa coarse_only ━━━ 3/3 2.1 q/s failed 0 0:00:00"
        return [line.split() for line in output.splitlines() if "q/s" in line][-1]

    code, output = call(capsys, *args, "--mode", "coarse_only")
    assert code == 0 and "3/3" in bar(output)
    code, output = call(capsys, *args, "--mode", "coarse_only", "--mode", "coarse_fine", "--mode", "autoregressive")
    assert code == 0 and "3 to score" in squashed(output)
    assert "3/3" in bar(output) and bar(output)[bar(output).index("failed") + 1] == "0"


def test_a_shard_speaks_of_its_own_share(capsys, model_dir, data, tmp_path):
    args = [
        "run",
        "scienceqa",
        "--data-dir",
        data,
        "--model",
        model_dir,
        "--output-dir",
        tmp_path / "out",
        "--workers",
        "0",
    ]
    code, output = call(capsys, *args, "--shard", "0/2")
    assert code == 0 and "resuming" not in output
    code, output = call(capsys, *args, "--shard", "1/2")  # the other shard's records are not this shard's to resume
    assert code == 0 and "resuming" not in output and "nothing to score" not in output
    code, output = call(capsys, *args, "--shard", "1/2")
    assert code == 0 and "nothing to score: all shard 1/2's 3 of 6 questions are already recorded" in squashed(output)


def test_prepare_shows_the_probe_progress(capsys, data):
    code, output = call(capsys, "prepare", "scienceqa", "--data-dir", data, "--no-download", "--workers", "0")
    assert "probing scienceqa media" in output and "6/6" in output


def test_prepare_with_subtitles_checks_the_subtitle_files_run_subtitles_reads(capsys, tmp_path):
    """`prepare videomme --no-download` passed a copy whose subtitle files `run --subtitles` then failed on."""
    from fvlm_eval.tasks.fixtures.videomme import write_videomme

    write_videomme(tmp_path / "data")
    srt = tmp_path / "data/videomme/subtitle/fFjv93ACGo8.srt"
    srt.write_bytes("1\n00:00:00,000 --> 00:00:01,500\nWelcome\n".encode("utf-16"))
    args = ["prepare", "videomme", "--data-dir", tmp_path / "data", "--no-download", "--no-probe"]
    _, output = call(capsys, *args)
    assert "fFjv93ACGo8.srt" not in output  # a run without --subtitles does not read them
    _, output = call(capsys, *args, "--subtitles")
    assert "subtitle/fFjv93ACGo8.srt is UTF-16 (a byte-order mark), not UTF-8" in squashed(output)
    _, output = call(capsys, "prepare", "scienceqa", "--data-dir", tmp_path / "data", "--no-download", "--subtitles")
    assert "note: --subtitles: scienceqa has no subtitles; nothing more is checked" in squashed(output)
    srt.unlink()
    _, output = call(capsys, *args, "--subtitles")
    assert "subtitles: 2 of 3 videos have a subtitle file" in output and "no video has" not in output
    shutil.rmtree(tmp_path / "data/videomme/subtitle")  # subtitle.zip never extracted: said, not silent
    _, output = call(capsys, *args, "--subtitles")
    assert "subtitles: 0 of 3 videos have a subtitle file" in output
    assert "warning: no video has a subtitle file: is the subtitle archive extracted?" in squashed(output)


@pytest.mark.parametrize(
    "signal_name, code, said", [("SIGTERM", 143, "stopped by SIGTERM"), ("SIGINT", 130, "interrupted")]
)
def test_a_stop_before_a_command_can_say_so_has_its_own_code_and_words(
    capsys, monkeypatch, model_dir, data, tmp_path, signal_name, code, said
):
    """SIGTERM while the model loads (typer turns every KeyboardInterrupt into 130) or while report writes: 143
    for SIGTERM, 130 for Ctrl-C, and words that fit the command (report keeps no records)."""
    import signal
    import threading

    from fvlm_eval import api
    from fvlm_eval.reports import report as report_module

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    sent = getattr(signal, signal_name)

    def stopped(*args, **kwargs):
        os.kill(os.getpid(), sent)
        raise AssertionError("the signal should have stopped this")

    run_args = [
        "run",
        "scienceqa",
        "--data-dir",
        data,
        "--model",
        model_dir,
        "--output-dir",
        tmp_path / "out",
        "--workers",
        "0",
        "--limit",
        "2",
        "--mode",
        "coarse_only",
    ]
    with monkeypatch.context() as patched:
        patched.setattr(api, "adapter_for", stopped)
        got, output = call(capsys, *run_args)
    assert got == code and f"{said} before `run` finished; records written so far are kept" in squashed(output)
    assert call(capsys, *run_args)[0] == 0
    monkeypatch.setattr(report_module, "write_html", stopped)
    got, output = call(capsys, "report", tmp_path / "out", "--output-dir", tmp_path / "report")
    assert got == code and f"{said} before `report` finished; every file it wrote is whole" in squashed(output)


def test_a_negative_seed_is_a_bad_flag_not_an_unexpected_error(capsys, tmp_path):
    """`regress --seed -1` and `track --seed -1` ended as "an unexpected error ... report it", exit 1: in regress
    the code of a significant drop."""
    from tests.fvlm_eval.constructed import write_run

    base, current = write_run(tmp_path / "a", [True] * 9), write_run(tmp_path / "b", [True] * 9)
    for command in (
        ["regress", "--baseline", base, "--current", current, "--seed", "-1"],
        ["track", base, current, "--seed", "-1"],
    ):
        code, output = call(capsys, *command)
        assert code == 2 and "Invalid value for '--seed'" in output and "unexpected" not in output, output


def test_an_empty_model_or_data_dir_is_refused_not_taken_as_the_current_folder(capsys, model_dir, data, tmp_path):
    """`--model "$MODEL"` with MODEL unset read the current folder (and said the output was inside --model .,
    "the two swapped?"); `--data-dir ""` read the current folder's benchmarks; `--output-dir ""` was refused."""
    args = ["run", "scienceqa", "--output-dir", tmp_path / "out"]
    code, output = call(capsys, *args, "--model", "", "--data-dir", data)
    assert code == 2 and output.strip() == "error: --model is empty"
    code, output = call(capsys, *args, "--model", model_dir, "--data-dir", "")
    assert code == 2 and output.strip() == "error: --data-dir is empty"
    assert not (tmp_path / "out").exists()


def test_a_data_dir_that_is_not_there_is_told_before_the_model_is_loaded(capsys, model_dir, monkeypatch, tmp_path):
    """`--data-dir /nonexist` was told after the model had loaded (8.7 s with the tiny demo model; minutes from the
    hub); a data folder that lacks only some benchmarks' data still lets the others be scored (the runner's)."""
    from fvlm_eval import api

    def not_loaded(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(api, "adapter_for", not_loaded)
    (tmp_path / "a-file").write_text("")
    args = ["run", "scienceqa", "mvbench", "--model", model_dir, "--output-dir", tmp_path / "out", "--data-dir"]
    code, output = call(capsys, *args, tmp_path / "nowhere")
    assert code == 1 and output.strip() == (
        f"error: --data-dir {tmp_path / 'nowhere'} does not exist; `fvlm-eval prepare scienceqa --data-dir "
        f"{tmp_path / 'nowhere'}` fetches it; `fvlm-eval prepare mvbench --data-dir {tmp_path / 'nowhere'}` fetches "
        "it; nothing was scored"
    )
    code, output = call(capsys, *args, tmp_path / "a-file")
    assert code == 1 and output.strip() == (
        f"error: --data-dir {tmp_path / 'a-file'} is a file, not the data folder; nothing was scored"
    )
    code, output = call(capsys, *args, tmp_path / "nowhere", "--mode", "fast")  # a bad flag is told first, exit 2
    assert code == 2 and "--mode fast" in output
    everything = ["run", "video", "--model", model_dir, "--output-dir", tmp_path / "out", "--data-dir"]
    code, output = call(capsys, *everything, tmp_path / "nowhere")  # one command for many, not one each in a line
    assert code == 1 and output.count("fvlm-eval prepare") == 1
    assert f"`fvlm-eval prepare <benchmark> --data-dir {tmp_path / 'nowhere'}` fetches each of mvbench, " in output


@pytest.mark.parametrize(
    "number, strerror, said",
    [
        ("EFBIG", "File too large", "no record was written (raise the file-size limit (ulimit -f), then rerun the "),
        ("EROFS", "Read-only file system", "no record was written (make it writable, then rerun the same command)"),
    ],
)
def test_a_write_error_before_any_record_says_what_a_rerun_needs(
    capsys, model_dir, data, tmp_path, monkeypatch, number, strerror, said
):
    """A fresh run on a read-only folder said "records written before this are kept" though none had been written;
    a file-size limit (`ulimit -f`) said only "rerun", which meets the same limit again."""
    import errno

    from fvlm_eval.run import benchmark_run

    def refused(path, records):
        raise OSError(getattr(errno, number), strerror, str(path))

    monkeypatch.setattr(benchmark_run, "append_records", refused)
    args = ["run", "scienceqa", "--model", model_dir, "--data-dir", data, "--output-dir", tmp_path / "out"]
    code, output = call(capsys, *args, "--workers", "0", "--no-frame-cache", "--limit", "2")
    assert code == 1 and f"{strerror}; {said}" in output and "records written before" not in output, output


def test_report_into_a_file_or_a_read_only_run_says_what_to_give(capsys, tmp_path, monkeypatch):
    """`report RUN --output-dir FILE` said "File exists" (and "Not a directory" below it), where run says "a file,
    not a folder"; a read-only run folder said "Read-only file system" without naming --output-dir, the flag that
    fixes it."""
    import errno

    from fvlm_eval.reports import report as report_module
    from tests.fvlm_eval.constructed import write_run

    run = write_run(tmp_path / "run", [True, False] * 5)
    (tmp_path / "a-file").write_text("")
    code, output = call(capsys, "report", run, "--thumbnails", "0", "--output-dir", tmp_path / "a-file")
    assert code == 1 and output.strip() == f"error: cannot read or write {tmp_path / 'a-file'}: a file, not a folder"
    code, output = call(capsys, "report", run, "--thumbnails", "0", "--output-dir", tmp_path / "a-file" / "r")
    assert code == 1 and f"{tmp_path / 'a-file'} is a file, not a folder" in output

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    def reading_fails(runs, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(run / "scienceqa"))

    monkeypatch.setattr(report_module, "_staging", read_only)
    code, output = call(capsys, "report", run, "--thumbnails", "0")
    assert code == 1 and output.strip() == (
        f"error: cannot read or write {run / 'report'}: Read-only file system; the run folder takes no report there: "
        "give --output-dir a folder you can write"
    )
    monkeypatch.setattr(report_module, "write_report", reading_fails)  # a run's own file: no advice about output
    code, output = call(capsys, "report", run, "--thumbnails", "0")
    assert code == 1 and output.strip() == f"error: cannot read or write {run / 'scienceqa'}: Permission denied"
