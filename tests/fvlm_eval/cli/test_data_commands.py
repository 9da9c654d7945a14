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
