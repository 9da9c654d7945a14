"""``fvlm-eval run`` and ``merge`` at the command line: what a shard says when it ends (stopped: resume, never
merge yet) and what merge shows when it could join some folders but not all."""

from __future__ import annotations

import pytest

from fvlm_eval.cli import main
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.run.shards import Shard
from fvlm_eval.tasks import write_fixtures


def _evaluated(monkeypatch, exit_code: int, messages: tuple[str, ...] = ()):
    """``evaluate`` replaced by one that ends as told (the CLI's own words are what is tested)."""
    import fvlm_eval.api
    from fvlm_eval.api import Evaluation

    monkeypatch.setattr(
        fvlm_eval.api, "evaluate", lambda *args, **kwargs: Evaluation((), exit_code=exit_code, messages=messages)
    )


@pytest.mark.parametrize("stopped_with", [130, 143])
def test_a_stopped_shard_says_how_to_resume_and_not_to_merge(monkeypatch, capsys, tmp_path, stopped_with):
    """A shard stopped by Ctrl-C or SIGTERM said "stopped ...: rerun the same command to resume", then "shard 0/2
    recorded under X; when every shard has finished: fvlm-eval merge X", as if it had finished."""
    stopped = "stopped: mvbench coarse_fine 3/9 recorded; rerun the same command to resume"
    _evaluated(monkeypatch, stopped_with, (stopped,))
    code = main(["run", "mvbench", "--shard", "0/2", "--output-dir", str(tmp_path / "run")])
    said = " ".join(capsys.readouterr().out.split())
    assert code == stopped_with and stopped in said
    assert "fvlm-eval merge" not in said and "recorded under" not in said, said


def test_a_finished_shard_says_to_merge_once_every_shard_has_finished(monkeypatch, capsys, tmp_path):
    _evaluated(monkeypatch, 0)
    assert main(["run", "mvbench", "--shard", "1/2", "--output-dir", str(tmp_path / "run")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"shard 1/2 recorded under {tmp_path / 'run'}; when every shard has finished: fvlm-eval merge" in said


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("data"))


def test_merge_shows_the_tables_of_what_it_merged_before_refusing_the_rest(data, model_dir, tmp_path, capsys):
    """Merge joined the folders whose shards had all finished but, refusing another, showed none of their tables:
    only the one-line error, though `run` and a torchrun rank 0 show what they merged."""
    from fvlm_eval.models import load_model

    model = load_model(str(model_dir), device="cpu")
    output = tmp_path / "run"
    for index in range(2):
        settings = RunSettings(
            benchmarks=("scienceqa",),
            modes=("coarse_only", "coarse_fine"),
            data_dir=data,
            output_dir=output,
            workers=0,
            shard=Shard(index, 2),
        )
        assert run(settings, model, progress=False).exit_code == 0
    for marker in (output / "scienceqa" / "coarse_fine").glob("shard-*-of-2.json"):
        marker.unlink()  # as if both shards had stopped in this mode
    capsys.readouterr()
    assert main(["merge", str(output)]) == 1
    said = capsys.readouterr()
    assert "scienceqa: accuracy %" in said.out and "coarse_only" in said.out, said.out
    assert "coarse_fine" not in said.out  # the folder it refused has no table
    assert said.err.startswith("error: merged scienceqa/coarse_only under ") and "Traceback" not in said.err
    assert "scienceqa/coarse_fine: shards 0/2, 1/2 recorded questions but never finished" in said.err
