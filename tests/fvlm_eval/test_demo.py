"""The demo end to end in a clean environment, offline; the CLI's help is instant and torch-free."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fvlm_eval.tasks import BUILT_IN

MODES = ("coarse_only", "coarse_fine", "autoregressive")
FAMILIES = (("fvlm", MODES), ("smolvlm", ("standard",)))
BENCHMARKS = tuple(BUILT_IN)  # the demo runs every one


def clean_env(tmp_path: Path) -> dict:
    keep = {
        "PATH",
        "LANG",
        "LC_ALL",
        "SYSTEMROOT",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "OMP_NUM_THREADS",
    }  # threads: conftest
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
    return env


def demo(tmp_path, output):
    command = [sys.executable, "-m", "fvlm_eval", "demo", "--output-dir", str(output)]
    return subprocess.run(command, capture_output=True, text=True, env=clean_env(tmp_path), timeout=300, cwd=tmp_path)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One demo as a user starts it (a clean environment, offline, a new process): shared by the tests below."""
    tmp_path = tmp_path_factory.mktemp("demo")
    output = tmp_path / "demo"
    first = demo(tmp_path, output)
    assert first.returncode == 0, first.stderr[-3000:]
    return tmp_path, output, first.stdout


def test_demo_writes_every_promised_artefact(demo_run):
    _, output, stdout = demo_run
    assert "RANDOM weights" in stdout and "fvlm-eval prepare" in stdout
    assert (output / "model" / "model.safetensors").is_file() and (output / "model" / "tokenizer.json").is_file()
    for family, modes in FAMILIES:
        for benchmark in BENCHMARKS:
            for mode in modes:
                folder = output / "runs" / family / benchmark / mode
                records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
                assert records and all(r["error"] is None and r["generated"] is not None for r in records)
                summary = json.loads((folder / "summary.json").read_text())
                assert summary["coverage"]["recorded"] == len(records) and summary["chance"] > 0
    report = output / "report"
    text = (report / "report.md").read_text()
    for row in (
        "fvlm coarse_fine [reference]",
        "fvlm coarse_fine [generated]",
        "smolvlm standard [reference]",
        "smolvlm standard [generated]",
        "SmolVLM2-256M (published)",
    ):
        assert f"| {row} |" in text
    assert list(csv.DictReader(open(report / "report.csv")))
    assert json.loads((report / "report.json").read_text())["main"]
    with_categories = [name for name, cls in BUILT_IN.items() if cls().main_breakdown]
    for chart in ("comparison.png", *(f"breakdown_{benchmark}.png" for benchmark in with_categories)):
        assert (report / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in set(BENCHMARKS) - set(with_categories):  # no categories (EgoSchema's subset): no empty section
        assert not (report / f"breakdown_{name}.png").exists()
        assert f"## {BUILT_IN[name]().title} by" not in text


def test_a_second_demo_resumes_and_scores_nothing(demo_run, monkeypatch, capsys):
    """The same command again, in this process (the first test already started one as a user does): every
    question is already recorded, so nothing is scored and no record is added; the report is written again."""
    import huggingface_hub.constants

    from fvlm_eval.cli import main

    tmp_path, output, _ = demo_run
    for name, value in clean_env(tmp_path).items():
        if name not in ("PATH", "HOME"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub was imported
    folders = [
        output / "runs" / family / benchmark / mode
        for family, modes in FAMILIES
        for benchmark in BENCHMARKS
        for mode in modes
    ]
    before = {folder: (folder / "samples.jsonl").read_bytes() for folder in folders}
    timing = {folder: json.loads((folder / "summary.json").read_text())["timing"] for folder in folders}
    (output / "report" / "report.md").unlink()
    assert main(["demo", "--output-dir", str(output)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    for benchmark in BENCHMARKS:
        assert f"{benchmark}: nothing to score" in said
    for folder in folders:
        assert (folder / "samples.jsonl").read_bytes() == before[folder]
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["timing"] == timing[folder] and summary["coverage"]["recorded"] > 0  # the run that scored
    assert "| fvlm coarse_fine [reference] |" in (output / "report" / "report.md").read_text()


def test_the_demo_calls_none_of_its_random_models_above_chance(demo_run):
    """Its models have RANDOM weights: every run cell of its report, and every protocol of every summary, says
    "not significantly above chance" (the report's verdicts are Holm-adjusted over its cells, a summary's over
    its protocols; MVBench coarse_fine cloze_pmi read 66.7, p = 0.015, with no ⚠)."""
    _, output, _ = demo_run
    report = json.loads((output / "report" / "report.json").read_text())
    cells = [cell for row in report["full"] for cell in row["cells"].values() if cell.get("accuracy") is not None]
    assert cells and report["above_chance_test"]["correction"] == "holm"
    assert all(any(f.startswith("not significantly above chance") for f in cell["flags"]) for cell in cells)
    for summary in (output / "runs").glob("*/*/*/summary.json"):
        flags = json.loads(summary.read_text())["flags"]
        assert all(any(f.startswith("not significantly above chance") for f in found) for found in flags.values())


def test_help_is_instant_and_does_not_import_torch(tmp_path):
    code = "import sys; from fvlm_eval.cli import app, main; assert 'torch' not in sys.modules; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(tmp_path))
    assert result.stdout.strip() == "ok", result.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "fvlm_eval", "run", "--help"], capture_output=True, text=True, env=clean_env(tmp_path)
    )
    assert helped.returncode == 0 and "--mode" in helped.stdout and "--generate" in helped.stdout


def test_benchmarks_and_prepare_verify_offline(tmp_path, monkeypatch, capsys):
    """In this process (the commands are under test, not the interpreter), offline as in a clean environment."""
    import huggingface_hub.constants

    from fvlm_eval.cli import main
    from fvlm_eval.tasks import write_fixtures

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub was imported
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home" / "hf"))
    write_fixtures(tmp_path / "data", faults=True)
    assert main(["benchmarks", "--data-dir", str(tmp_path / "data")]) == 0
    listed = capsys.readouterr().out
    assert "mvbench" in listed and "/4000 questions usable" in listed
    code = main(["prepare", "mvbench", "--data-dir", str(tmp_path / "data"), "--no-download", "--workers", "0"])
    assert code == 1  # incomplete copy
    out = capsys.readouterr().out
    assert "fine_grained_pose" in out and "INCOMPLETE" in out
    assert "H_H_2" in out and "unreadable" in out and "escapes the data folder" in out and "H_H_missing" in out


def test_a_demo_of_a_benchmark_it_has_no_copy_of_is_one_line_and_writes_nothing(tmp_path, capsys):
    from fvlm_eval.cli import main

    assert main(["demo", "--benchmark", "nope", "--output-dir", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err
    assert "--benchmark nope: the demo has no synthetic copy of it" in err and "scienceqa" in err
    assert not (tmp_path / "demo").exists()


FIXTURES = """
import json
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.tasks.base import Benchmark


@dataclass
class Fixt(Benchmark):
    name: str = "fixt"

    def write_fixture(self, data_dir, faults=False):
        folder = Path(data_dir) / self.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "questions.jsonl").write_text(json.dumps({"id": "q1"}) + "\\n")
        return folder


@dataclass
class FixtBad(Fixt):
    name: str = "fixtbad"

    def write_fixture(self, data_dir, faults=False):
        (Path(data_dir) / self.name).mkdir(parents=True, exist_ok=True)
        raise OSError("cannot write fixture")
"""


@pytest.fixture()
def fixture_plugins(tmp_path):
    from tests.plugins import plugins_on_path, write_distribution

    points = {"fvlm_eval.benchmarks": {"fixt": "fixtures_plugin:Fixt", "fixtbad": "fixtures_plugin:FixtBad"}}
    site = write_distribution(tmp_path / "site", "fixture-plugins", points, {"fixtures_plugin.py": FIXTURES})
    with plugins_on_path(site, ("fixtures_plugin",)):
        yield


def test_the_demo_writes_only_the_copies_it_runs_and_leaves_out_one_whose_write_fixture_raises(
    fixture_plugins, tmp_path, monkeypatch
):
    """The demo wrote every registered benchmark's copy whatever ``--benchmark`` said, and one plugin's
    ``write_fixture`` that raised ended it for everybody (``demo -b scienceqa`` included) as "an unexpected error ...
    report it", after writing half the data folder."""
    from fvlm_eval.demo import COMPLETE, write_demo_data
    from fvlm_eval.tasks import BUILT_IN

    data = tmp_path / "data"
    assert write_demo_data(data, ("scienceqa",)) == (("scienceqa",), [])
    assert sorted(p.name for p in data.iterdir()) == [COMPLETE, "scienceqa"]
    written, failed = write_demo_data(data, ("scienceqa", "fixtbad", "fixt"))
    assert written == ("scienceqa", "fixt")
    (line,) = failed
    assert line.startswith(
        "fixtbad (plugin fixture-plugins 0.1.0): its write_fixture() failed: OSError: cannot write fixture (at "
        "fixtures_plugin.py:"
    )
    assert line.endswith(", in write_fixture)")
    assert (data / COMPLETE).read_text().splitlines()[1:] == ["scienceqa", "fixt"]
    monkeypatch.setattr(BUILT_IN["scienceqa"], "write_fixture", lambda *a, **k: pytest.fail("written twice"))
    assert write_demo_data(data, ("scienceqa", "fixt"))[0] == ("scienceqa", "fixt")  # each copy written once


def test_a_demo_of_only_a_benchmark_whose_copy_cannot_be_written_is_one_line(fixture_plugins, tmp_path, capsys):
    from fvlm_eval.cli import main

    assert main(["demo", "-b", "fixtbad", "--output-dir", str(tmp_path / "demo")]) == 1
    out, err = capsys.readouterr()
    assert "left out: fixtbad (plugin fixture-plugins 0.1.0): its write_fixture() failed: OSError" in " ".join(
        out.split()
    )
    assert err.startswith("error: no synthetic copy could be written: fixtbad (plugin fixture-plugins 0.1.0)")
    assert "Traceback" not in out + err and not (tmp_path / "demo" / "model").exists()
