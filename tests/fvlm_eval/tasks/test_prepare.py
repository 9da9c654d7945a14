"""prepare's hub path against local files: pinned download, archive extraction, zip-slip refusal."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from fvlm_eval.media import MediaError
from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.prepare import PREPARED_FILE, extract, fetch, verify


def test_extract_refuses_members_outside_the_folder(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../escaped.txt", "x")
    with pytest.raises(MediaError, match="outside"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_fetch_downloads_at_the_resolved_commit_and_extracts(tmp_path, monkeypatch):
    """The hub is replaced by a local 'remote' holding MVBench as the hub does: json/ and video/*.zip."""
    remote = tmp_path / "remote"
    write_mvbench(remote)
    source = remote / "mvbench"
    archive = source / "video" / "star.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in (source / "video" / "star").rglob("*"):
            handle.write(path, path.relative_to(source / "video"))
    calls = {}

    class FakeApi:
        def dataset_info(self, repo, revision):
            calls["info"] = (repo, revision)
            return type("Info", (), {"sha": "0123abcd" * 5})()

    def fake_snapshot(repo, repo_type, revision, local_dir, allow_patterns):
        import shutil

        calls["snapshot"] = (repo, repo_type, revision, allow_patterns)
        shutil.copytree(source / "json", f"{local_dir}/json")
        (Path(local_dir) / "video").mkdir(parents=True, exist_ok=True)
        shutil.copy(archive, f"{local_dir}/video/star.zip")
        for extra in ("tvqa", "ssv2_video", "clevrer", "perception", "data0613"):
            shutil.copytree(source / "video" / extra, f"{local_dir}/video/{extra}")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    task = get_benchmark("mvbench")
    folder = fetch(task, tmp_path / "data")
    assert calls["info"] == ("OpenGVLab/MVBench", "main")
    assert calls["snapshot"][2] == "0123abcd" * 5 and calls["snapshot"][1] == "dataset"
    assert (folder / "video/star/Charades_v1_480/6H78U.mp4").is_file()  # extracted from star.zip
    assert json.loads((folder / PREPARED_FILE).read_text())["sha"] == "0123abcd" * 5
    result = verify(task, tmp_path / "data", workers=0)
    assert result.questions == 9 and not result.unreadable and not result.problems
