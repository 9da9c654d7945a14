"""A plugin's media paths kept inside the data folder, by every command that reads its benchmark (``run``,
``prepare``, ``benchmarks``), as the built-ins' are: a path that leaves it is a recorded failure naming it. (The
rule itself: tests/fvlm_eval/tasks/test_checked_load.py.)"""

from __future__ import annotations

import json

import pytest

from fvlm_eval.media import shown
from fvlm_eval.records import read_records
from fvlm_eval.tasks.fixtures.media import png_bytes
from tests.fvlm_eval.test_cli import call
from tests.plugins import plugins_on_path, write_distribution

ESCAPE = """
import json
from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.tasks.base import Benchmark, Loaded, lettered
from fvlm_eval.types import Media, Question, Sampling


@dataclass
class Escape(Benchmark):
    name: str = "escape"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 1))
    category_field: str = "subject"
    uses_images: bool = True

    def load(self, data_dir):
        rows = [json.loads(line) for line in (Path(data_dir) / "escape" / "questions.jsonl").read_text().splitlines()]
        return Loaded(tuple(self.question(data_dir, row) for row in rows))

    def question(self, data_dir, row):
        return Question(
            id=f"escape/{row['id']}",
            benchmark=self.name,
            media=Media("image", f"escape/{row['id']}", str(Path(data_dir) / "escape" / row["image"])),
            question="What colour?",
            options=lettered(["red", "blue"]),
            gold="A",
            group=row["id"],
            fields=(("subject", "biology"),),
        )

    def expected(self):
        return {"biology": 3}
"""


@pytest.fixture()
def escaping(tmp_path):
    """The plugin installed, and its data: one question inside, one climbing out by ``..``, one absolute elsewhere;
    the file outside there, readable (it was scored)."""
    site = write_distribution(
        tmp_path / "site", "escape-plugins", {"fvlm_eval.benchmarks": {"escape": "escape:Escape"}}, {}
    )
    (site / "escape.py").write_text(ESCAPE)
    (tmp_path / "data/escape").mkdir(parents=True)
    (tmp_path / "data/escape/q1.png").write_bytes(png_bytes(0))
    (tmp_path / "secret.png").write_bytes(png_bytes(1))
    rows = [("q1", "q1.png"), ("q2", "../../secret.png"), ("q3", str(tmp_path / "secret.png"))]
    lines = "".join(json.dumps({"id": qid, "image": image}) + "\n" for qid, image in rows)
    (tmp_path / "data/escape/questions.jsonl").write_text(lines)
    with plugins_on_path(site, ("escape",)):
        yield tmp_path / "data"


def test_run_records_a_plugin_question_whose_media_path_leaves_the_data_folder_as_failed(escaping, model_dir, tmp_path):
    """Both were scored on the file outside the data folder: ``failed 0``, no error in their records."""
    from fvlm_eval.models import load_model
    from fvlm_eval.run.runner import run
    from fvlm_eval.run.settings import RunSettings

    settings = RunSettings(("escape",), ("coarse_only",), escaping, tmp_path / "out", workers=0)
    outcome = run(settings, load_model(str(model_dir), device="cpu"), progress=False)
    records = {r.id: r for r in read_records(tmp_path / "out/escape/coarse_only/samples.jsonl")}
    assert records["escape/q1"].error is None
    assert records["escape/q2"].error == (  # a long path is shortened in the middle, as every path said
        f"its media path {shown(repr(str(escaping / 'escape/../../secret.png')))} escapes the data folder {escaping}"
    )
    assert records["escape/q3"].error == (
        f"its media path {shown(repr(str(tmp_path / 'secret.png')))} escapes the data folder {escaping} (links "
        "followed to 3 levels below it; give the path through the data folder, not resolved)"
    )
    assert outcome.summaries[("escape", "coarse_only")].to_json()["coverage"]["failed"] == 2
    assert any(m.startswith("escape (plugin escape-plugins 0.1.0): 2 questions it gave") for m in outcome.messages)


def test_prepare_and_benchmarks_count_such_a_question_as_a_problem(escaping, capsys):
    """``prepare`` listed no problem and called the copy complete; ``benchmarks`` counted 3/3 usable."""
    code, output = call(capsys, "prepare", "escape", "--data-dir", escaping, "--no-probe")
    said = " ".join(output.split())
    assert code == 1 and "problem escape/q2: its media path" in said and "escapes the data folder" in said
    assert "problem escape/q3: its media path" in said and "INCOMPLETE" in said
    code, output = call(capsys, "benchmarks", "--data-dir", escaping)
    assert code == 0 and "1/3 questions usable" in " ".join(output.split())
