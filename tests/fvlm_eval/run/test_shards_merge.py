"""Merging shards again, after a shard was rerun, and what merge and a refused run leave in the run folder."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fvlm_eval.models import load_model
from fvlm_eval.records import read_records
from fvlm_eval.run.lock import FolderLock, RunRefused
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.run.shards import MergeRefused, Shard, merge
from fvlm_eval.tasks import write_fixtures

BENCHMARK = "scienceqa"
MODE = "coarse_fine"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def fvlm(model_dir):
    return load_model(str(model_dir), device="cpu")


def settings(data, output, shard=None, **extra):
    return RunSettings(
        benchmarks=(BENCHMARK,), modes=(MODE,), data_dir=data, output_dir=output, workers=0, shard=shard, **extra
    )


def sharded(data, fvlm, output, count=2):
    for index in range(count):
        assert run(settings(data, output, Shard(index, count)), fvlm, progress=False).exit_code == 0
    return output / BENCHMARK / MODE


def test_merging_a_merged_run_again_says_so_and_exits_0(data, fvlm, tmp_path, capsys):
    """`fvlm-eval merge` run twice (a CI step rerun) said "error: no shard results ... (it holds merged results
    already)" and exited 1 though the results were complete."""
    from fvlm_eval.cli import main

    output = tmp_path / "run"
    folder = sharded(data, fvlm, output)
    first = merge(output)
    summary = (folder / "summary.json").read_text()
    capsys.readouterr()
    assert main(["merge", str(output)]) == 0
    said = capsys.readouterr()
    assert f"note: {output}: merged already" in said.err and "error" not in said.err
    assert f"{BENCHMARK}: accuracy %" in said.out  # the merged results, as the first merge showed them
    assert merge(output, say=lambda line: None).keys() == first.keys()
    assert (folder / "summary.json").read_text() == summary  # nothing written again


def test_shards_never_finished_are_still_refused_when_nothing_was_merged(data, fvlm, tmp_path):
    """Only "no shard results to merge" was said of a shard stopped before its completion marker, not which; and
    a run merged already is no error now: one with unfinished shards still is."""
    output = tmp_path / "run"
    assert run(settings(data, output, Shard(0, 2)), fvlm, progress=False).exit_code == 0
    (output / BENCHMARK / MODE / "shard-0-of-2.json").unlink()  # as if it had stopped before its marker
    with pytest.raises(MergeRefused, match=f"{BENCHMARK}/{MODE}: shard 0/2 recorded questions but never finished"):
        merge(output)


def test_a_shard_rerun_after_a_merge_merges_with_the_merged_records(data, fvlm, tmp_path):
    """A shard rerun after the merge (it scores nothing) left its marker alone: merge said "shard(s) 0 of 2 have
    not finished" though their records were merged already."""
    output = tmp_path / "run"
    folder = sharded(data, fvlm, output)
    merge(output)
    before = json.loads((folder / "summary.json").read_text())
    assert run(settings(data, output, Shard(1, 2)), fvlm, progress=False).exit_code == 0
    summaries = merge(output)
    records = read_records(folder / "samples.jsonl")
    assert len(records) == len({r.id for r in records}) == before["coverage"]["recorded"]  # none lost, none twice
    after = json.loads((folder / "summary.json").read_text())
    assert after["coverage"] == before["coverage"] and after["questions"] == before["questions"]
    assert after["accuracy"] == before["accuracy"] and summaries[(BENCHMARK, MODE)].coverage.recorded == len(records)
    assert not list(folder.glob("shard-*.json")) and not list(folder.glob("samples.shard-*"))
    generating = settings(data, output, Shard(1, 2), generate=True, max_new_tokens=2)
    assert run(generating, fvlm, progress=False).exit_code == 0
    with pytest.raises(MergeRefused, match="shard\\(s\\) 0 of 2 have not finished"):
        merge(output)  # the merged records of shard 0 were not asked to generate: they cannot stand for it


def test_merge_removes_the_shard_locks_no_process_holds(data, fvlm, tmp_path):
    """The shard lock files stayed in the folder after a successful merge (docs: they exist "while sharded")."""
    output = tmp_path / "run"
    folder = sharded(data, fvlm, output, count=3)
    assert len(list(folder.glob(".fvlm-eval.shard-*.lock"))) == 3
    held = FolderLock(folder, ".fvlm-eval.shard-2-of-3.lock").acquire()  # a process holds this one
    try:
        merge(output)
        assert sorted(p.name for p in folder.glob(".fvlm-eval.shard-*.lock")) == [".fvlm-eval.shard-2-of-3.lock"]
    finally:
        held.release()
    merge(output, say=lambda line: None)  # merged already: what the earlier merge had to leave goes too
    assert not list(folder.glob(".fvlm-eval.shard-*.lock"))
    assert sorted(p.name for p in folder.iterdir()) == [
        ".fvlm-eval.lock",
        "data_dir.json",
        "samples.jsonl",
        "settings.json",
        "summary.json",
    ]


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    from fvlm_model.loading import ModelSpec, load_tokenizer, save_model_folder
    from tests.conftest import TINY_DINO, TINY_LLM, TINY_QUERY_DIM, tiny_model

    folder = tmp_path_factory.mktemp("other-model")
    save_model_folder(tiny_model(seed=1), folder, ModelSpec(TINY_LLM, TINY_DINO, TINY_QUERY_DIM), load_tokenizer(None))
    return load_model(str(folder), device="cpu")


@pytest.mark.parametrize("shard", [None, Shard(0, 2)], ids=["whole", "shard"])
def test_a_refused_run_leaves_no_folder_and_no_lock(data, fvlm, other, tmp_path, shard):
    """Another model's run refused (exit 3) left its new <benchmark>/<mode> folder behind, holding its lock file."""
    output = tmp_path / "run"
    assert run(settings(data, output, limit=2), fvlm, progress=False).exit_code == 0
    before = sorted(p.relative_to(output) for p in output.rglob("*"))
    for benchmark in (BENCHMARK, "mvbench"):  # a new mode folder in a benchmark folder there, a new benchmark folder
        refused = dataclasses.replace(
            settings(data, output, shard, limit=2), benchmarks=(benchmark,), modes=("coarse_only",)
        )
        with pytest.raises(RunRefused, match="holds another model's runs"):
            run(refused, other, progress=False)
    assert sorted(p.relative_to(output) for p in output.rglob("*")) == before
    (output / "mvbench" / "coarse_only").mkdir(parents=True)  # a folder made by hand stays; only the lock goes
    with pytest.raises(RunRefused):
        run(refused, other, progress=False)
    assert (output / "mvbench" / "coarse_only").is_dir() and not any((output / "mvbench" / "coarse_only").iterdir())


def test_a_run_refused_in_its_second_mode_takes_back_the_first_modes_new_folder(data, fvlm, tmp_path):
    """The first mode's new folder (its settings.json and lock) stayed when the second mode's folder was refused."""
    output = tmp_path / "run"
    assert run(settings(data, output, limit=2, cloze_framing="chat"), fvlm, progress=False).exit_code == 0
    both = dataclasses.replace(settings(data, output, limit=2), modes=("coarse_only", MODE))
    with pytest.raises(RunRefused, match="cloze_framing differ"):
        run(both, fvlm, progress=False)
    assert sorted(p.name for p in (output / BENCHMARK).iterdir()) == [MODE]


def test_a_shard_rerun_for_another_measure_counts_its_own_questions(data, fvlm, tmp_path):
    """A shard rerun with --generate after a merge said "9 recorded questions scored again" of a shard that scored 4:
    it counted every shard's questions."""
    output = tmp_path / "run"
    folder = sharded(data, fvlm, output)
    merge(output, say=lambda line: None)
    outcome = run(settings(data, output, Shard(1, 2), generate=True, max_new_tokens=2), fvlm, progress=False)
    own = len(read_records(folder / "samples.shard-1-of-2.jsonl"))
    total = len(read_records(folder / "samples.jsonl"))
    assert 0 < own < total
    assert any(f"{own} recorded question" in m and "scored again" in m for m in outcome.messages), outcome.messages


def test_shards_that_recorded_different_steps_are_not_merged(data, fvlm, tmp_path):
    """One shard given `--step 5`, the other taking a checkpoint's own step (or none): merge kept shard 0's step
    without a word, and track placed the run there."""
    output = tmp_path / "run"
    assert run(settings(data, output, Shard(0, 2), step=5), fvlm, progress=False).exit_code == 0
    assert run(settings(data, output, Shard(1, 2), step=1000), fvlm, progress=False).exit_code == 0
    with pytest.raises(MergeRefused, match=r"recorded different training steps \(shard 0: 5; shard 1: 1000\)"):
        merge(output)
    assert run(settings(data, output, Shard(1, 2), step=5), fvlm, progress=False).exit_code == 0
    merged = merge(output)[(BENCHMARK, MODE)]
    assert merged.manifest["step"] == 5


def _two_modes(data, output, shard, **extra):
    return dataclasses.replace(settings(data, output, shard, **extra), modes=("coarse_only", MODE))


def test_merge_names_the_folders_whose_shards_never_finished_exits_1_and_merges_the_rest(data, fvlm, tmp_path, capsys):
    """Every shard stopped (SIGTERM, a SLURM time limit) in one mode: merge merged the other, exited 0 and never named
    the unfinished one; `report` then said "run `fvlm-eval merge` first", which had just succeeded."""
    from fvlm_eval.cli import main

    output = tmp_path / "run"
    for index in range(2):
        assert run(_two_modes(data, output, Shard(index, 2)), fvlm, progress=False).exit_code == 0
    for marker in (output / BENCHMARK / MODE).glob("shard-*-of-2.json"):
        marker.unlink()  # as if both shards had stopped in this mode
    with pytest.raises(MergeRefused) as refused:
        merge(output)
    said = str(refused.value)
    assert said.startswith(f"merged {BENCHMARK}/coarse_only under {output} (their shards had all finished); ")
    assert f"{output}: {BENCHMARK}/{MODE}: shards 0/2, 1/2 recorded questions but never finished" in said
    assert "rerun them to resume" in said and "then merge again" in said
    assert list(refused.value.merged) == [(BENCHMARK, "coarse_only")]
    assert (output / BENCHMARK / "coarse_only" / "summary.json").is_file()
    assert not (output / BENCHMARK / MODE / "summary.json").exists()
    capsys.readouterr()
    assert main(["merge", str(output)]) == 1  # again: nothing else left to merge, the same folder named
    assert f"{BENCHMARK}/{MODE}: shards 0/2, 1/2 recorded questions" in capsys.readouterr().err


def test_merge_says_shards_still_being_written_are_being_written(data, fvlm, tmp_path):
    """Merge run while a rank or shard was still in a later benchmark merged the finished ones and said nothing of
    the rest; "rerun them" would be wrong too: they are running."""
    from tests.fvlm_eval.test_folder_holders import holding

    output = tmp_path / "run"
    assert run(_two_modes(data, output, Shard(0, 2)), fvlm, progress=False).exit_code == 0
    assert run(_two_modes(data, output, Shard(1, 2)), fvlm, progress=False).exit_code == 0
    folder = output / BENCHMARK / MODE
    for marker in folder.glob("shard-*-of-2.json"):
        marker.unlink()
    with holding(folder, shared=True), holding(folder, ".fvlm-eval.shard-1-of-2.lock") as pid:
        with pytest.raises(MergeRefused) as refused:
            merge(output)
    said = str(refused.value)
    assert f"{BENCHMARK}/{MODE}: shards 0/2, 1/2 recorded questions and are being written now by " in said
    assert f"pid {pid} on " in said and "merge once they end" in said and "rerun" not in said


def test_shards_given_different_headline_protocols_are_not_merged(data, fvlm, tmp_path):
    """One shard run with `--protocol reference`, the other with the default: merge kept the lowest shard's headline
    without a word (report and regress read the headline from the summary)."""
    output = tmp_path / "run"
    assert run(settings(data, output, Shard(0, 2), protocol="reference"), fvlm, progress=False).exit_code == 0
    assert run(settings(data, output, Shard(1, 2)), fvlm, progress=False).exit_code == 0
    with pytest.raises(MergeRefused, match=r"different headline protocols \(shard 0: reference; shard 1: cloze_pmi\)"):
        merge(output)
    assert not (output / BENCHMARK / MODE / "summary.json").exists()
    assert run(settings(data, output, Shard(1, 2), protocol="reference"), fvlm, progress=False).exit_code == 0
    assert merge(output)[(BENCHMARK, MODE)].headline_protocol == "reference"


def test_a_merged_run_lists_its_modes_in_the_order_a_run_shows_them(data, fvlm, tmp_path):
    """The tables after merge (and torchrun) listed autoregressive, coarse_fine, coarse_only: by folder name, not
    coarse_only, coarse_fine, autoregressive as a run of the same command shows them."""
    output = tmp_path / "run"
    modes = ("coarse_only", "coarse_fine", "autoregressive")
    for index in range(2):
        every = dataclasses.replace(settings(data, output, Shard(index, 2), limit=2), modes=modes)
        assert run(every, fvlm, progress=False).exit_code == 0
    assert [mode for _, mode in merge(output)] == list(modes)
    assert [mode for _, mode in merge(output, say=lambda line: None)] == list(modes)  # merged already: likewise


def test_a_whole_run_resuming_shards_removes_their_lock_files(data, fvlm, tmp_path):
    """A plain run resuming a folder that a killed torchrun (or shards) left folded their records in but left the
    `.fvlm-eval.shard-*-of-2.lock` files behind."""
    output = tmp_path / "run"
    folder = sharded(data, fvlm, output)
    (folder / "shard-1-of-2.json").unlink()  # as if rank 1 had been killed
    assert len(list(folder.glob(".fvlm-eval.shard-*.lock"))) == 2
    assert run(settings(data, output), fvlm, progress=False).exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        ".fvlm-eval.lock",
        "data_dir.json",
        "samples.jsonl",
        "settings.json",
        "summary.json",
    ]


def test_shards_whose_data_moved_between_them_merge(fvlm, tmp_path):
    """Where the data was is recorded (for report, before any summary), and is no setting: shards run on the data
    before and after it was moved are merged."""
    import shutil

    from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa

    write_scienceqa(tmp_path / "data")
    output = tmp_path / "run"
    assert run(settings(tmp_path / "data", output, Shard(0, 2)), fvlm, progress=False).exit_code == 0
    shutil.move(tmp_path / "data", tmp_path / "moved")
    assert run(settings(tmp_path / "moved", output, Shard(1, 2)), fvlm, progress=False).exit_code == 0
    assert list(merge(output, say=lambda line: None)) == [(BENCHMARK, MODE)]
    assert json.loads((output / BENCHMARK / MODE / "data_dir.json").read_text())["data_dir"] == str(tmp_path / "data")
