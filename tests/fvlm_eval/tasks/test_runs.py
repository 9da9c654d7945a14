"""The five video benchmarks end to end, from their fixtures through ``fvlm_eval.evaluate`` and the CLI's
``run``: a record for every question, the multiple-choice and cloze formulations and a generated answer,
with the tiny fVLM and the tiny SmolVLM (random weights: only that every question is asked and recorded)."""

from __future__ import annotations

import os

import pytest

from fvlm_eval import evaluate
from fvlm_eval.cli import main
from fvlm_eval.protocols import CLOZE_PROTOCOLS, PROTOCOLS
from fvlm_eval.records import read_records
from fvlm_eval.tasks import get_benchmark

NEW = ("perceptiontest", "mlvu", "tempcompass", "tempcompass_yes_no", "nextqa", "egoschema")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for name in NEW:
        get_benchmark(name).write_fixture(root)
    return root


def asked_fully(record) -> bool:
    """Scored in both formulations (every protocol has a score per option) and answered in words."""
    return (
        record.error is None
        and all(record.scores.get(p) for p in (*PROTOCOLS, *CLOZE_PROTOCOLS))
        and record.cloze is not None
        and record.generated is not None
        and record.generated["error"] is None
    )


def test_every_question_of_every_new_benchmark_is_recorded_with_fvlm(model_dir, data, tmp_path):
    evaluation = evaluate(
        str(model_dir),
        list(NEW),
        modes="coarse_fine",
        generate=True,
        data_dir=data,
        output_dir=tmp_path,
        frame_cache=False,
        workers=0,
        device="cpu",
        progress=False,
    )
    assert evaluation.exit_code == 0, evaluation.messages
    for name in NEW:
        questions = get_benchmark(name).load(data).questions
        records = read_records(tmp_path / name / "coarse_fine" / "samples.jsonl")
        assert sorted(r.id for r in records) == sorted(q.id for q in questions), name
        assert all(asked_fully(r) for r in records), [r.error for r in records if not asked_fully(r)]
        assert len(records[0].letters) == len(questions[0].options)
        coverage = evaluation[(name, "coarse_fine")].summary.coverage
        assert coverage.scored == len(questions) and coverage.failed == 0


def test_the_cli_runs_them_in_every_mode(capsys, model_dir, data, tmp_path):
    code = main(
        ["run", "tempcompass_yes_no", "egoschema", "--model", str(model_dir), "--data-dir", str(data)]
        + ["--mode", "all", "--limit", "2", "--generate", "--workers", "0", "--no-frame-cache"]
        + ["--output-dir", str(tmp_path)]
    )
    assert code == 0, capsys.readouterr()
    for name in ("tempcompass_yes_no", "egoschema"):
        for mode in ("coarse_only", "coarse_fine", "autoregressive"):
            records = read_records(tmp_path / name / mode / "samples.jsonl")
            assert len(records) == 2 and all(asked_fully(r) for r in records), (name, mode)


def test_the_tiny_smolvlm_runs_them_too(data, tmp_path, monkeypatch):
    from fvlm_eval.models import load_model
    from fvlm_eval.models.smolvlm.tiny import save_tiny_smolvlm

    monkeypatch.setitem(os.environ, "HF_HUB_OFFLINE", "1")
    model = load_model(str(save_tiny_smolvlm(tmp_path / "smolvlm", seed=0)), device="cpu")
    evaluation = evaluate(
        model,
        list(NEW),
        generate=True,
        limit=2,
        frames=8,
        data_dir=data,
        output_dir=tmp_path / "run",
        frame_cache=False,
        workers=0,
        progress=False,
    )
    assert evaluation.exit_code == 0, evaluation.messages
    for name in NEW:
        records = read_records(tmp_path / "run" / name / "standard" / "samples.jsonl")
        assert len(records) == 2 and all(asked_fully(r) for r in records), name


def test_the_benchmarks_command_has_a_line_for_each(capsys, data):
    assert main(["benchmarks", "--data-dir", str(data)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "6/19140 questions usable" in lines["perceptiontest"] and "8/2175" in lines["mlvu"]
    assert "7/1580" in lines["tempcompass"] and "6/2453" in lines["tempcompass_yes_no"]
    assert "7/8564" in lines["nextqa"] and "uniform:32" in lines["nextqa"]
    assert "5/500 questions usable; the 500-question subset (the full set's 5,031 answers are not public" in " ".join(
        lines["egoschema"].split()
    )
