"""Sharding by video: --shard processes joined by merge, and ranks under torchrun (gloo on CPU), equal a single run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fvlm_eval.models import load_model
from fvlm_eval.records import read_records
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.run.shards import MergeRefused, Shard, merge, shard_media
from fvlm_eval.tasks import write_fixtures
from fvlm_model.loading import ModelSpec, load_tokenizer, save_model_folder
from tests.conftest import TINY_DINO, TINY_LLM, TINY_QUERY_DIM, tiny_model
from tests.processes import live_processes

BENCHMARKS = ("mvbench", "videomme")
MODE = "coarse_fine"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    model = root / "model"
    save_model_folder(tiny_model(), model, ModelSpec(TINY_LLM, TINY_DINO, TINY_QUERY_DIM), load_tokenizer(None))
    data = write_fixtures(root / "data", faults=True)
    settings = RunSettings(benchmarks=BENCHMARKS, modes=(MODE,), data_dir=data, output_dir=root / "single", workers=0)
    single = run(settings, load_model(str(model), device="cpu"), progress=False)
    return root, model, data, single


def command(model, data, output, *extra):
    return [
        sys.executable,
        "-m",
        "fvlm_eval",
        "run",
        *BENCHMARKS,
        "--mode",
        MODE,
        "--model",
        str(model),
        "--data-dir",
        str(data),
        "--output-dir",
        str(output),
        "--workers",
        "0",
        "--device",
        "cpu",
        "--no-frame-cache",
        *extra,
    ]


def assert_same_records(output, reference):
    for benchmark in BENCHMARKS:
        folder = output / benchmark / MODE
        assert not list(folder.glob("samples.shard-*")) and not list(folder.glob("shard-*.json"))
        merged = read_records(folder / "samples.jsonl")
        single = {r.id: r for r in read_records(reference / benchmark / MODE / "samples.jsonl")}
        assert len(merged) == len({r.id for r in merged}) and {r.id for r in merged} == set(
            single
        )  # none missing, none twice
        for record in merged:
            other = single[record.id]
            assert record.pred == other.pred and record.error == other.error
            for letter, option in (record.options or {}).items():
                assert option["token_ids"] == other.options[letter]["token_ids"]
                assert max(abs(a - b) for a, b in zip(option["logprobs"], other.options[letter]["logprobs"])) < 1e-5
        summary = json.loads((folder / "summary.json").read_text())
        expected = json.loads((reference / benchmark / MODE / "summary.json").read_text())
        assert summary["accuracy"]["reference"]["correct"] == expected["accuracy"]["reference"]["correct"]
        assert summary["coverage"] == expected["coverage"]


def test_shards_take_whole_videos_balanced_and_cover_everything():
    from fvlm_eval.types import Media, Question

    by_media = {
        f"v{i}": [Question(f"q{i}-{j}", "b", Media("video", f"v{i}"), "", (), None, f"v{i}") for j in range(1 + i % 3)]
        for i in range(10)
    }
    parts = [shard_media(by_media, 16, Shard(i, 3)) for i in range(3)]
    assert set().union(*parts) == set(by_media) and sum(map(len, parts)) == 10
    loads = [sum(16 + len(by_media[k]) for k in part) for part in parts]
    assert max(loads) - min(loads) <= 16 + 3


def shard(setup, output, index, count):
    root, model, data, _ = setup
    settings = RunSettings(
        benchmarks=BENCHMARKS, modes=(MODE,), data_dir=data, output_dir=output, workers=0, shard=Shard(index, count)
    )
    return run(settings, load_model(str(model), device="cpu"), progress=False)


def test_shards_and_merge_equal_a_single_run(setup):
    root = setup[0]
    output = root / "sharded"
    assert shard(setup, output, 0, 2).exit_code == 0
    with pytest.raises(MergeRefused, match="shard\\(s\\) 1 of 2 have not finished"):
        merge(output)
    assert shard(setup, output, 1, 2).summaries == {}  # a shard writes no summary: merge does
    merge(output)
    assert_same_records(output, root / "single")


def test_merge_refuses_mismatched_shards(setup, tmp_path):
    output = tmp_path / "mixed"
    shard(setup, output, 0, 2)
    marker = output / "mvbench" / MODE / "shard-0-of-2.json"
    other = json.loads(marker.read_text())
    other.update(shard=1, settings={**other["settings"], "sampling": "uniform:8"})
    (marker.parent / "shard-1-of-2.json").write_text(json.dumps(other))
    with pytest.raises(MergeRefused, match="shard 1 of 2 was made with other settings"):
        merge(output)
    (marker.parent / "shard-1-of-3.json").write_text(json.dumps({**other, "of": 3}))
    with pytest.raises(MergeRefused, match="shards of different splits"):
        merge(output)


def test_shards_made_from_other_annotations_are_said_as_such(setup, tmp_path):
    """Shard 1 run on edited annotations said shard 0's questions had "changed since they were scored: scored
    again" (it scored none of them), and merge said "a shard stopped early: rerun it" (rerunning changed nothing)."""
    import shutil

    root, model, data, _ = setup
    edited = tmp_path / "edited"
    shutil.copytree(data, edited)
    for path in (edited / "mvbench" / "json").glob("*.json"):
        rows = json.loads(path.read_text())
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and isinstance(row.get("question"), str):
                row["question"] += " (edited)"
        path.write_text(json.dumps(rows))
    output = tmp_path / "run"
    assert shard(setup, output, 0, 2).exit_code == 0
    settings = RunSettings(
        benchmarks=BENCHMARKS, modes=(MODE,), data_dir=edited, output_dir=output, workers=0, shard=Shard(1, 2)
    )
    second = run(settings, load_model(str(model), device="cpu"), progress=False)
    assert not any("changed since they were scored" in m for m in second.messages), second.messages
    with pytest.raises(MergeRefused) as refused:
        merge(output)
    assert "shards 0 and 1 of 2 were made from different annotations or prompts (" in str(refused.value)
    assert str(refused.value).endswith("rerun every shard on the same data, then merge")


def test_the_shard_flag_from_the_command_line(setup, tmp_path, capsys):
    from fvlm_eval.cli import main

    root, model, data, _ = setup
    assert (
        main(command(model, data, tmp_path / "cli", "--shard", "1/2")[3:]) == 0
    )  # in this process: the flag is tested
    assert f"fvlm-eval merge {tmp_path / 'cli'}" in " ".join(capsys.readouterr().out.split())
    assert (tmp_path / "cli" / "mvbench" / MODE / "shard-1-of-2.json").is_file()


def test_a_marker_of_another_shape_is_named(tmp_path):
    folder = tmp_path / "run" / "mvbench" / MODE
    folder.mkdir(parents=True)
    (folder / "shard-0-of-2.json").write_text('{"foo": 1}')
    with pytest.raises(MergeRefused, match="shard-0-of-2.json: not a shard result of this version"):
        merge(tmp_path / "run")


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"RANK": "1"}, "sets RANK=1 but not WORLD_SIZE, MASTER_ADDR, MASTER_PORT"),
        ({"RANK": "0", "WORLD_SIZE": "2"}, "sets RANK=0, WORLD_SIZE=2 but not MASTER_ADDR, MASTER_PORT"),
        ({"WORLD_SIZE": "4", "MASTER_ADDR": "localhost"}, "not RANK, MASTER_PORT"),
        ({"RANK": "x", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "must be whole numbers"),
        ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "a rank must be in 0..WORLD_SIZE-1"),
    ],
)
def test_half_a_torchrun_environment_is_named(environ, message):
    from fvlm_eval.run.distributed import LaunchError, launch_from_environment

    with pytest.raises(LaunchError, match=message):
        launch_from_environment(environ)


def test_torchrun_environment_is_read_and_none_is_one_process():
    from fvlm_eval.run.distributed import launch_from_environment

    assert launch_from_environment({"PATH": "/bin", "MASTER_ADDR": "h", "LOCAL_RANK": "0"}) is None
    found = launch_from_environment(
        {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1"}
    )
    assert (found.rank, found.world, found.local_rank) == (3, 4, 1) and found.shard.index == 3


def test_a_stray_rank_at_the_command_line_is_one_line_exit_2(capsys, monkeypatch, model_dir, tmp_path):
    from fvlm_eval.cli import main

    for name in ("WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "0")
    code = main(
        ["run", "mvbench", "--model", str(model_dir), "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "o")]
    )
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    assert "sets RANK=0 but not WORLD_SIZE, MASTER_ADDR, MASTER_PORT" in err and "unset RANK" in err


def test_merge_refuses_shards_that_generated_differently(setup, tmp_path):
    """A --generate shard and a plain one (or two answer limits) would count questions never generated as wrong."""
    root, model, data, _ = setup
    output = tmp_path / "generate-mix"
    adapter = load_model(str(model), device="cpu")
    for index, extra in ((0, dict(generate=True, max_new_tokens=2)), (1, {})):
        run(
            RunSettings(
                benchmarks=("mvbench",),
                modes=(MODE,),
                data_dir=data,
                output_dir=output,
                workers=0,
                shard=Shard(index, 2),
                **extra,
            ),
            adapter,
            progress=False,
        )
    with pytest.raises(
        MergeRefused, match="shard 0: --generate --max-new-tokens 2, no --circular; shard 1: no --generate"
    ):
        merge(output)
    marker = output / "mvbench" / MODE / "shard-1-of-2.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "generate": True, "max_new_tokens": 3}))
    with pytest.raises(MergeRefused, match="--max-new-tokens 2, no --circular; shard 1: --generate --max-new-tokens 3"):
        merge(output)
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "max_new_tokens": 2, "circular": True}))
    with pytest.raises(MergeRefused, match="shard 1: --generate --max-new-tokens 2, --circular"):
        merge(output)


def _torchrun_stopped(launcher, folder, after, stop, tmp_path):
    """Start ``launcher``; once ``after`` records are in ``folder``'s shard files, ``stop(torchrun pid, rank pids)``;
    then no process of the run may remain. Returns (exit code, output)."""
    import signal
    import time

    log = open(tmp_path / f"torchrun-{after}.log", "w+")
    process = subprocess.Popen(
        launcher, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    deadline, ranks = time.time() + 240, []
    while time.time() < deadline and process.poll() is None:
        recorded = sum(p.read_bytes().count(b"\n") for p in folder.glob("samples.shard-*.jsonl"))
        ranks = live_processes(lambda pid, ppid, cmd: ppid == process.pid and "fvlm_eval" in cmd)
        if recorded >= after and len(ranks) == 2:
            break  # records flow from both ranks (their decoding workers may be up or done: under load either)
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the run ended (or never got going) before it could be stopped mid-run")
    stop(process.pid, ranks)
    process.wait(timeout=180)
    deadline, left = time.time() + 5, [0]
    while left and time.time() < deadline:
        time.sleep(0.1)
        left = live_processes(lambda pid, ppid, cmd: str(folder.parents[1]) in cmd)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the stopped run remain: {left}"
    log.seek(0)
    return process.returncode, " ".join(log.read().split())


def test_torchrun_ranks_stopped_or_killed_resume_with_another_count_into_the_single_run(setup, tmp_path):
    """A third of the work done by a 3-way split; then torchrun with 2 ranks, stopped by SIGTERM (what SLURM and
    Kubernetes send), then one rank killed, while decoding workers run: each time nothing of the run remains. The
    last torchrun resumes and merges into the single run's records and summary, each question once."""
    import signal
    import socket

    root, model, data, _ = setup
    output = tmp_path / "torchrun"
    folder = output / "mvbench" / MODE
    assert shard(setup, output, 0, 3).exit_code == 0
    with socket.socket() as probe:  # a free port: other test runs on this machine may hold a fixed one
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        port,
        *command(model, data, output, "--batch-size", "1")[1:],
    ]
    launcher[launcher.index("--workers") + 1] = "2"
    recorded = lambda: sum(p.read_bytes().count(b"\n") for p in folder.glob("samples.shard-*.jsonl"))  # noqa: E731
    code, said = _torchrun_stopped(
        launcher, folder, recorded() + 1, lambda torchrun, ranks: os.kill(torchrun, signal.SIGTERM), tmp_path
    )
    assert code != 0 and "stopped by SIGTERM: mvbench" in said and "rerun the same command to resume" in said
    assert "Exception ignored" not in said and "DataLoader worker" not in said, said[-3000:]
    code, said = _torchrun_stopped(
        launcher, folder, recorded() + 1, lambda torchrun, ranks: os.kill(ranks[-1], signal.SIGKILL), tmp_path
    )
    assert code != 0
    done = subprocess.run(
        launcher, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "mvbench: accuracy %" in done.stdout  # rank 0 printed the merged run's table
    assert_same_records(output, root / "single")


@pytest.mark.parametrize("rank", [0, 1])
def test_a_stray_but_complete_torchrun_environment_gives_up_with_one_line(rank, monkeypatch):
    """RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT all set, but no torchrun: rank 1 finds nothing listening,
    rank 0 hosts and no one comes. Each gives up after the rendezvous limit (it once waited 48 hours)."""
    import socket
    import time

    from fvlm_eval.run import distributed

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    for name, value in {"RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    monkeypatch.setattr(distributed, "RENDEZVOUS_SECONDS", 2)
    started = time.monotonic()
    with pytest.raises(distributed.LaunchError) as refused:
        distributed.launch()
    assert time.monotonic() - started < 30
    said = str(refused.value)
    assert f"rank {rank} of 2" in said and f"127.0.0.1:{port}" in said and "unset them to run as one process" in said
    assert ("nothing answers" if rank else "did not all meet") in said


def test_merge_names_a_missing_folder_and_a_file(tmp_path):
    with pytest.raises(MergeRefused, match="missing: no such folder"):
        merge(tmp_path / "missing")
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(MergeRefused, match="summary.json: a file, not a run folder"):
        merge(tmp_path / "summary.json")


def test_a_long_message_of_a_rank_that_ended_is_cut_at_a_word_with_a_mark(monkeypatch, tmp_path):
    """Gloo's message was cut at 200 characters mid-word: "... Check the logs of the remote w); the records are
    kept"."""
    import torch.distributed as dist

    from fvlm_eval.run.distributed import Launch, finish
    from fvlm_eval.run.settings import RunOutcome

    message = "Connection closed by peer [127.0.0.1]:29500 " + "Check the logs of the remote worker " * 8

    def ended(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(dist, "all_gather", ended)
    outcome = RunOutcome()
    assert finish(Launch(1, 2, 0), tmp_path, outcome) == {} and outcome.exit_code == 1
    (said,) = outcome.messages
    inside = said.split("done (", 1)[1].rsplit("); the records are kept", 1)[0]
    kept = inside.removesuffix("…")
    assert inside.endswith("…") and len(inside) <= 200 and message.startswith(kept) and message[len(kept)] == " "


def test_rank_0_shows_the_folders_it_merged_when_another_cannot_be(setup, monkeypatch, tmp_path):
    """A folder whose shards never finished (left by an earlier attempt) made rank 0 show no table at all, and
    merge said nothing of it; now the rest is merged and shown, and the folder named (exit 1)."""
    import torch.distributed as dist

    from fvlm_eval.run.distributed import Launch, finish
    from fvlm_eval.run.settings import RunOutcome

    output = tmp_path / "run"
    for index in range(2):
        assert shard(setup, output, index, 2).exit_code == 0
    for marker in (output / "videomme" / MODE).glob("shard-*.json"):
        marker.unlink()
    for name in ("all_gather", "all_gather_object", "barrier", "destroy_process_group"):  # each rank ended with 0
        monkeypatch.setattr(dist, name, lambda *args, **kwargs: None)
    outcome = RunOutcome()
    assert list(finish(Launch(0, 2, 0), output, outcome)) == [("mvbench", MODE)]
    (said,) = outcome.messages
    assert outcome.exit_code == 1 and f"videomme/{MODE}: shards 0/2, 1/2 recorded questions but never finished" in said


def test_rank_0_says_what_every_rank_had_to_say(setup, monkeypatch, tmp_path):
    """Only rank 0's messages were printed: another shard's questions whose bound misses the clip (or whose every
    question failed) went unsaid, and the note counted rank 0's share alone."""
    import torch.distributed as dist

    from fvlm_eval.run.distributed import Launch, finish
    from fvlm_eval.run.settings import RunOutcome

    output = tmp_path / "run"
    for index in range(2):
        assert shard(setup, output, index, 2).exit_code == 0
    own = "mvbench (shard 1/2): 1 question has a bound wholly outside the clip"
    others = "mvbench (shard 2/2): 2 questions have bounds wholly outside the clip"

    def gathered(said, mine):
        said[:] = [mine, [others, "the frame cache is read-only"]]

    monkeypatch.setattr(dist, "all_gather_object", gathered)
    for name in ("all_gather", "barrier", "destroy_process_group"):
        monkeypatch.setattr(dist, name, lambda *args, **kwargs: None)
    outcome = RunOutcome(messages=[own, "the frame cache is read-only"])
    assert set(finish(Launch(0, 2, 0), output, outcome)) == {("mvbench", MODE), ("videomme", MODE)}
    assert outcome.messages == [own, "the frame cache is read-only", others] and outcome.exit_code == 0
