"""``fvlm-eval prepare`` at the command line: archives lying in the folder extracted (or said to be, with
``--no-download``), a damaged one named with what to do, offline lines that say where the files go, and a copy
verified as ``run`` would ask it."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.fetching import LAYOUTS
from tests.fvlm_eval.test_cli import call


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub was imported
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("FVLM_EVAL_FRAME_CACHE", str(tmp_path / "cache"))


def zipped_videomme(root):
    """``root/videomme`` as ``huggingface-cli download lmms-lab/Video-MME`` leaves it: the parquet, the videos and
    subtitles still in ``videos_chunked_01.zip`` and ``subtitle.zip``."""
    folder = get_benchmark("videomme").write_fixture(root)
    for name, inside in (("videos_chunked_01.zip", "data"), ("subtitle.zip", "subtitle")):
        with zipfile.ZipFile(folder / name, "w") as handle:
            for path in sorted((folder / inside).iterdir()):
                handle.write(path, f"{inside}/{path.name}")
        shutil.rmtree(folder / inside)
    return folder


def test_prepare_extracts_archives_lying_unextracted_with_no_network(capsys, tmp_path):
    """The annotations there, prepare never fetched, so never extracted: it listed every video as missing and
    said nothing of the zips beside them; offline no command extracted them."""
    folder = zipped_videomme(tmp_path / "data")
    code, output = call(capsys, "prepare", "videomme", "--data-dir", tmp_path / "data", "--workers", "0")
    assert f"extracting {folder / 'subtitle.zip'} (not extracted yet) ..." in output
    assert f"extracting {folder / 'videos_chunked_01.zip'} (not extracted yet) ..." in output
    assert "unreadable videomme/" not in output and (folder / "data").is_dir()
    code, output = call(capsys, "prepare", "videomme", "--data-dir", tmp_path / "data", "--no-probe")
    assert "extracting" not in output  # once extracted, left be


def test_no_download_says_the_archives_are_not_extracted_and_what_extracts_them(capsys, tmp_path):
    zipped_videomme(tmp_path / "data")
    code, output = call(capsys, "prepare", "videomme", "--data-dir", tmp_path / "data", "--no-download", "--no-probe")
    assert code == 1 and "note: subtitle.zip (and 1 more) in " in output
    assert f"`fvlm-eval prepare videomme --data-dir {tmp_path / 'data'}` (without --no-download) extracts them" in (
        output.replace("\n", "")
    )


def test_a_damaged_archive_is_one_line_naming_it(capsys, tmp_path):
    """It read "download failed (BadZipFile: File is not a zip file); place the files by hand as the benchmark's
    docstring says" at fetch, and on the rerun every video was "missing" with no word of the zip."""
    folder = zipped_videomme(tmp_path / "data")
    archive = folder / "videos_chunked_01.zip"
    archive.write_bytes(archive.read_bytes()[:300])
    code, output = call(capsys, "prepare", "videomme", "--data-dir", tmp_path / "data", "--no-probe")
    assert code == 1 and f"{archive} is not a zip (cut short?): delete it and rerun with --download" in (
        output.replace("\n", "")
    )
    assert "docstring" not in output and "unreadable videomme/" not in output


def test_offline_without_the_dataset_cached_says_where_the_files_go(capsys, tmp_path):
    """It read "download failed (OfflineModeIsEnabled: ...); place the files by hand as the benchmark's docstring
    says": no CLI user can find a docstring."""
    code, output = call(capsys, "prepare", "egoschema", "--data-dir", tmp_path / "data")
    said = " ".join(output.split())
    assert code == 1 and "docstring" not in said
    assert "offline (HF_HUB_OFFLINE is set) and lmms-lab/egoschema at main is not in the Hugging Face cache" in said
    assert f"place the files under {tmp_path / 'data' / 'egoschema'} as {LAYOUTS} lists" in said


def test_any_other_download_failure_points_at_the_layouts(capsys, tmp_path, monkeypatch):
    import huggingface_hub

    class Api:
        def dataset_info(self, repo, revision):
            raise RuntimeError("the hub answered nonsense")

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    code, output = call(capsys, "prepare", "egoschema", "--data-dir", tmp_path / "data")
    assert code == 1 and "docstring" not in output
    assert f"download failed (RuntimeError: the hub answered nonsense); place the files by hand as {LAYOUTS} lists" in (
        " ".join(output.split())
    )


def test_prepare_fails_a_question_with_a_blank_option_as_run_does(capsys, tmp_path):
    """An option that is a zero-width space passed prepare; run then failed the question ("option B has no text
    ... the cloze formulation cannot score it"): on a full copy prepare would have called it complete."""
    from fvlm_eval.tasks.fixtures.mvbench import write_mvbench

    write_mvbench(tmp_path / "data")
    path = tmp_path / "data" / "mvbench" / "json" / "action_antonym.json"
    rows = json.loads(path.read_text())
    rows[0]["candidates"][1] = "\u200b"
    path.write_text(json.dumps(rows))
    code, output = call(capsys, "prepare", "mvbench", "--data-dir", tmp_path / "data", "--no-download", "--no-probe")
    assert code == 1
    assert "problem mvbench/action_antonym/0: option B has no text (empty, or only spaces)" in " ".join(output.split())


BROKEN = """
import json
from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.tasks.base import Benchmark, DataMissing, Loaded, lettered
from fvlm_eval.types import Media, Question, Sampling


@dataclass
class Fine(Benchmark):
    name: str = "fine"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 1))
    category_field: str = "subject"
    uses_images: bool = True

    def load(self, data_dir):
        path = Path(data_dir) / self.name / "questions.jsonl"
        if not path.is_file():
            raise DataMissing(f"not found: {path}")
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return Loaded(tuple(self.question(data_dir, row) for row in rows))

    def question(self, data_dir, row):
        return Question(
            id=f"{self.name}/{row['id']}",
            benchmark=self.name,
            media=Media("image", f"{self.name}/{row['image']}", str(Path(data_dir) / self.name / row["image"])),
            question="Which?",
            options=lettered(["a", "b"]),
            gold="A",
            group=row["image"],
            fields=(("subject", "biology"),),
        )

    def expected(self):
        return {"biology": 1}

    def hub(self):
        raise NotImplementedError("placed by hand")


@dataclass
class LoadRaises(Fine):
    name: str = "loadraises"

    def load(self, data_dir):
        return 1 / 0


@dataclass
class ExpectedRaises(Fine):
    name: str = "expectedraises"

    def expected(self):
        raise RuntimeError("no expected")


@dataclass
class ExpectedText(Fine):
    name: str = "expectedtext"

    def expected(self):
        return {"biology": "1"}


@dataclass
class SettingsPath(Fine):
    name: str = "settingspath"

    def settings(self):
        return {**super().settings(), "annotations": Path("questions.jsonl")}


@dataclass
class HubRaises(Fine):
    name: str = "hubraises"

    def hub(self):
        raise ConnectionError("no hub here")


@dataclass
class NoSampling(Fine):
    name: str = "nosampling"
    sampling: str = "uniform:1"
"""


@pytest.fixture()
def broken_site(tmp_path):
    """A distribution whose benchmarks' own code fails (one each), beside one that works; their data written."""
    from tests.plugins import plugins_on_path, write_distribution

    names = {"fine": "Fine", "loadraises": "LoadRaises", "expectedraises": "ExpectedRaises"}
    names.update(expectedtext="ExpectedText", hubraises="HubRaises", nosampling="NoSampling")
    names.update(settingspath="SettingsPath")
    points = {"fvlm_eval.benchmarks": {name: f"broken:{cls}" for name, cls in names.items()}}
    site = write_distribution(tmp_path / "site", "broken-plugins", points, {"broken.py": BROKEN})
    for name in names:
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "questions.jsonl").write_text('{"id": "q1", "image": "q1.png"}\n')
        (tmp_path / "data" / name / "q1.png").write_bytes(b"not read")
    with plugins_on_path(site, ("broken",)):
        yield tmp_path / "data"


def test_benchmarks_lists_a_plugin_whose_own_code_fails_as_unusable_and_goes_on(broken_site, capsys):
    """An ``expected()`` that raised, or gave counts that are text, ended the listing at that plugin as "an unexpected
    error ... report it" (exit 1): every benchmark after it, and the suites, were never shown."""
    code, output = call(capsys, "benchmarks", "--data-dir", broken_site)
    lines = {line.split()[0]: " ".join(line.split()) for line in output.splitlines() if line.strip()}
    assert code == 0 and lines["fine"].endswith("1/1 questions usable (plugin: broken-plugins 0.1.0)")
    assert "unusable: its expected() failed: RuntimeError: no expected (at broken.py:" in lines["expectedraises"]
    assert lines["expectedraises"].endswith(", in expected) (plugin: broken-plugins 0.1.0)")
    assert "unusable: expected() gave 'biology': '1', not a category (text) to a whole number" in lines["expectedtext"]
    assert (
        f"unusable: its load() failed reading {broken_site / 'loadraises'}: ZeroDivisionError: division by zero"
        in (lines["loadraises"])
    )
    assert lines["nosampling"] == (
        "nosampling unusable: its sampling.describe() failed: AttributeError: 'str' object has no attribute "
        "'describe' (plugin: broken-plugins 0.1.0)"
    )
    assert (  # run refuses it (settings.json cannot hold a Path): benchmarks called it usable
        "unusable: settings() gave a value that is not JSON (annotations: PosixPath)" in lines["settingspath"]
    )
    assert lines["all"].endswith("fine hubraises loadraises nosampling settingspath")  # still listed


@pytest.mark.parametrize(
    "name, said",
    [
        (
            "loadraises",
            "its load() failed reading {data}/loadraises: ZeroDivisionError: division by zero (at broken.py:",
        ),
        ("expectedraises", "its expected() failed: RuntimeError: no expected (at broken.py:"),
        ("expectedtext", "expected() gave 'biology': '1', not a category (text) to a whole number"),
        ("hubraises", "its hub() failed: ConnectionError: no hub here (at broken.py:"),
    ],
)
def test_prepare_on_a_plugin_whose_own_code_fails_is_one_line_naming_it_its_plugin_and_where(
    broken_site, capsys, name, said
):
    """``load()`` or ``expected()`` raising was "an unexpected error: rerun with --debug ... and report it",
    naming neither the benchmark nor its plugin (``run`` said both, and the file and line)."""
    code, output = call(capsys, "prepare", name, "--data-dir", broken_site, "--no-probe")
    (line,) = [line for line in output.splitlines() if line.startswith("error: ")]
    assert code == 1 and line.startswith(f"error: {name} (plugin broken-plugins 0.1.0): ")
    assert said.format(data=broken_site) in line and "report it" not in line
