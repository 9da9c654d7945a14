"""The README's worked examples, run as written: the code blocks are read out of README.md (a
block starting ``# file: NAME.py`` is a module; the training-loop block is run with stand-ins for
the training code), so the README cannot drift from what works."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from fvlm_eval import evaluate
from fvlm_eval.records import read_records
from fvlm_eval.tasks.fixtures.media import png_bytes
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.conftest import TINY_LLM, tiny_model

README = Path(__file__).resolve().parents[2] / "README.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def module_files() -> dict[str, str]:
    found = {}
    for block in code_blocks("python"):
        first = block.splitlines()[0]
        if first.startswith("# file: "):
            found[first[len("# file: ") :].strip()] = block
    return found


@pytest.fixture()
def examples(tmp_path, monkeypatch):
    """The README's modules written to a folder on sys.path; registries restored afterwards."""
    from fvlm_eval.models import FAMILIES
    from fvlm_eval.tasks import BENCHMARKS

    folder = tmp_path / "examples"
    folder.mkdir()
    for name, code in module_files().items():
        (folder / name).write_text(code)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setitem(BENCHMARKS, "myqa", None)  # undone after the test, whatever the example registers
    monkeypatch.setitem(FAMILIES, "blind", None)  # undone after the test, whatever the example registers
    yield folder
    for name in module_files():
        sys.modules.pop(name.removesuffix(".py"), None)


def test_the_readme_keeps_its_two_setup_commands_first():
    first = code_blocks("bash")[0].strip().splitlines()
    assert first == ['pip install -e ".[dev]" "torch==2.13.0"', "pytest"]
    assert set(module_files()) == {"my_benchmark.py", "blind.py"}


def write_myqa(data: Path) -> None:
    folder = data / "myqa"
    (folder / "images").mkdir(parents=True)
    rows = [
        {
            "id": "q1",
            "image": "images/q1.png",
            "question": "Which animal is shown?",
            "options": ["cat", "dog"],
            "answer": 1,
            "subject": "biology",
        },
        {
            "id": "q2",
            "image": "images/q2.png",
            "question": "Which colour dominates?",
            "options": ["red", "green", "blue"],
            "answer": 0,
            "subject": "biology",
        },
        {
            "id": "q3",
            "image": "images/q3.png",
            "question": "Which continent?",
            "options": ["Asia", "Europe"],
            "answer": 5,
            "subject": "geography",
        },
    ]  # a malformed row: recorded as failed, not dropped
    for seed, row in enumerate(rows):
        (folder / row["image"]).write_bytes(png_bytes(seed))
    (folder / "questions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_adding_a_benchmark(examples, tmp_path, tokenizer):
    import my_benchmark  # noqa: F401  (registers "myqa")

    write_myqa(tmp_path / "data")
    evaluation = evaluate(
        tiny_model(),
        "myqa",
        tokenizer=tokenizer,
        data_dir=tmp_path / "data",
        output_dir=tmp_path / "run",
        frame_cache=False,
        workers=0,
        progress=False,
    )
    (result,) = evaluation.results
    records = {r.id: r for r in read_records(tmp_path / "run/myqa/coarse_fine/samples.jsonl")}
    assert set(records) == {"myqa/q1", "myqa/q2", "myqa/q3"}
    assert records["myqa/q1"].error is None and records["myqa/q1"].gold == "B" and len(records["myqa/q2"].letters) == 3
    assert "answer 5 is not an option index" in records["myqa/q3"].error
    coverage = result.summary.coverage
    assert (coverage.scored, coverage.failed, coverage.expected) == (2, 1, 3)
    assert result.headline.n == 3 and result.summary.benchmark == "myqa"


def test_adding_a_model_family(examples, tmp_path, tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path / "smollm2-tiny"
    LlamaForCausalLM(LlamaConfig(**TINY_LLM)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    root = tmp_path / "data"
    write_scienceqa(root)
    from fvlm_eval.models import FAMILIES, Family

    FAMILIES["blind"] = Family("blind", "blind")  # as the README registers it
    evaluation = evaluate(
        str(folder),
        "scienceqa",
        family="blind",
        data_dir=root,
        output_dir=tmp_path / "run",
        limit=3,
        frame_cache=False,
        workers=0,
        generate=True,
        max_new_tokens=4,
        keep_records=True,
        progress=False,
    )
    (result,) = evaluation.results
    assert evaluation.exit_code == 0 and result.mode == "text_only" and result.headline.n == 3
    assert all(r.error is None and r.options and r.generated is not None for r in result.records)
    assert result.summary.model["family"] == "blind"


def test_the_training_loop_example(tmp_path, tokenizer, monkeypatch):
    (block,) = [b for b in code_blocks("python") if "train_step" in b]
    write_mvbench(tmp_path / "data")
    write_scienceqa(tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # the example's relative data/, runs/ and frame-cache/
    logged, trained = [], []
    namespace = {
        "start": 0,
        "total_steps": 2,
        "model": tiny_model().train(),
        "tokenizer": tokenizer,
        "batch": None,
        "train_step": lambda model, batch: trained.append(model.training),
        "log": lambda *values: logged.append(values),
    }
    exec(compile(block, str(README), "exec"), namespace)
    assert trained == [True, True]  # evaluated at step 0, back in training mode for step 1
    assert [entry[0] for entry in logged] == ["eval/mvbench/coarse_fine", "eval/scienceqa/coarse_fine"]
    summary = json.loads((tmp_path / "runs/step_0/mvbench/coarse_fine/summary.json").read_text())
    assert summary["manifest"]["step"] == 0 and list((tmp_path / "frame-cache").iterdir())
