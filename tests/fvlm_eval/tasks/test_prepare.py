"""prepare's hub path against local files (pinned download, archive extraction, zip-slip refusal) and its
verification, which reads a copy as ``run`` does."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.fetching import PREPARED_FILE, NotFetched, extract, fetch
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.prepare import verify


def test_extract_refuses_members_outside_the_folder(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../escaped.txt", "x")
    with pytest.raises(NotFetched, match="outside"):
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


def _not_found(repo: str):
    import importlib

    from huggingface_hub import errors

    http = importlib.import_module(errors.Response.__module__.split(".")[0])
    url = f"https://huggingface.co/api/datasets/{repo}"
    return errors.RepositoryNotFoundError(f"404 {url}", response=errors.Response(404, request=http.Request("GET", url)))


def test_fetch_tries_the_mirror_when_the_repository_moved_and_extracts_its_zips(tmp_path, monkeypatch):
    """Perception Test's repository as lmms-eval moved it: ``lmms-lab/`` gone, ``lmms-eval/`` holding the parquet
    and ``videos_chunked_01.zip`` (members under ``videos/``)."""
    from fvlm_eval.tasks.fixtures.perceptiontest import write_perceptiontest

    source = write_perceptiontest(tmp_path / "remote")
    archive = tmp_path / "videos_chunked_01.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in (source / "videos").iterdir():
            handle.write(path, f"videos/{path.name}")
    asked = []

    class FakeApi:
        def dataset_info(self, repo, revision):
            asked.append((repo, revision))
            if repo.startswith("lmms-lab/"):
                raise _not_found(repo)
            return type("Info", (), {"sha": "fe" * 20})()

    def fake_snapshot(repo, repo_type, revision, local_dir, allow_patterns):
        import shutil

        assert repo == "lmms-eval/PerceptionTest_Val" and revision == "fe" * 20
        shutil.copytree(source / "mc_question_val", f"{local_dir}/mc_question_val")
        shutil.copy(archive, f"{local_dir}/videos_chunked_01.zip")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    task = get_benchmark("perceptiontest")
    folder = fetch(task, tmp_path / "data")
    pinned = "c5e520d8c4167fb1f135c36e9d6e67312b4f8e6b"
    assert asked == [("lmms-lab/PerceptionTest_Val", pinned), ("lmms-eval/PerceptionTest_Val", pinned)]
    assert json.loads((folder / PREPARED_FILE).read_text())["repo"] == "lmms-eval/PerceptionTest_Val"
    result = verify(task, tmp_path / "data", workers=0)
    assert result.questions == 6 and not result.unreadable and not result.problems


def test_fetch_says_not_found_when_no_mirror_has_it(tmp_path, monkeypatch):
    from huggingface_hub.errors import RepositoryNotFoundError

    class FakeApi:
        def dataset_info(self, repo, revision):
            raise _not_found(repo)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    with pytest.raises(RepositoryNotFoundError, match="lmms-eval/NExTQA"):
        fetch(get_benchmark("nextqa"), tmp_path)


@pytest.mark.parametrize("probe", [True, False])
def test_a_missing_video_makes_its_questions_unusable_in_the_table_and_the_total_sums_the_column(tmp_path, probe):
    """prepare printed "unreadable ... missing" under a table whose unusable column said 0 for that category, and
    a total that counted problems, not questions."""
    import io
    from pathlib import Path

    from rich.console import Console

    from fvlm_eval.tasks import get_benchmark, write_fixtures
    from fvlm_eval.tasks.prepare import print_verification, verify

    data = write_fixtures(tmp_path / "data")
    task = get_benchmark("mvbench")
    first = next(q for q in task.load(data).questions if q.error is None and q.media.path)
    Path(first.media.path).unlink()
    result = verify(task, data, probe=probe, workers=0)
    category = first.field_dict()[task.category_field]
    questions = task.load(data).questions
    in_category = [q for q in questions if q.field_dict()[task.category_field] == category]
    affected = sum(1 for q in in_category if q.error or q.media.key == first.media.key)
    assert result.categories[category][1] == affected >= 1
    buffer = io.StringIO()
    print_verification(result, Console(file=buffer, width=200))
    (total,) = [line for line in buffer.getvalue().splitlines() if " total " in line]
    numbers = [cell.strip() for cell in total.replace("│", "|").split("|") if cell.strip()]
    assert numbers[0] == "total" and numbers[2] == str(sum(bad for _, bad, _ in result.categories.values()))


def _edit_row(data: Path, task: str, index: int, **values) -> None:
    path = data / "mvbench" / "json" / f"{task}.json"
    rows = json.loads(path.read_text())
    rows[index].update(values)
    path.write_text(json.dumps(rows))


def test_a_question_run_fails_for_a_blank_option_is_a_problem(tmp_path):
    """prepare passed an option that is only a zero-width space (and "B. ", " "), which run then failed: "option B
    has no text ... the cloze formulation cannot score it"; on a full copy prepare would have said "complete"."""
    write_mvbench(tmp_path)
    rows = json.loads((tmp_path / "mvbench/json/action_antonym.json").read_text())
    _edit_row(tmp_path, "action_antonym", 0, candidates=[rows[0]["candidates"][0], "\u200b", rows[0]["candidates"][2]])
    result = verify(get_benchmark("mvbench"), tmp_path, probe=False)
    assert (
        "mvbench/action_antonym/0: option B has no text (empty, or only spaces): the cloze formulation cannot "
        "score it" in result.problems
    )
    assert result.categories["action_antonym"][1] == 1


def test_prepare_reads_the_copy_through_checked_load_as_run_does(tmp_path):
    """An MVBench bound ending at Infinity was "unreadable ...@1-inf: bound 1-infs ends before it starts" in
    prepare, while run failed the question as "its media bound (1.0, inf) is not two numbers"."""
    write_mvbench(tmp_path)
    _edit_row(tmp_path, "action_sequence", 0, end=float("inf"))
    result = verify(get_benchmark("mvbench"), tmp_path, workers=0)
    assert "mvbench/action_sequence/0: its media bound (0.5, inf) is not two numbers (start, end in seconds)" in (
        result.problems
    )
    assert not any("inf" in u for u in result.unreadable)


def test_the_probe_names_a_bound_that_misses_the_clip(tmp_path):
    """A bound wholly after a 3 s clip was scored on 16 copies of its last frame; prepare's probe computed that
    note and dropped it, so nothing but the record said so."""
    write_mvbench(tmp_path)
    _edit_row(tmp_path, "action_sequence", 0, start=50.0, end=60.0)
    _edit_row(tmp_path, "action_prediction", 0, start=0.5, end=60.0)  # clamped only: counted, not listed
    result = verify(get_benchmark("mvbench"), tmp_path, workers=0)
    (missed,) = [n for n in result.notes if "misses the clip" in n]
    assert missed.startswith("mvbench/star/Charades_v1_480/6H78U.mp4@50-60: bound 50-60s misses the clip (")
    assert missed.endswith("clamped to its last frame alone")
    (clamped,) = [n for n in result.notes if "media read with a note" in n]
    assert clamped.startswith("1 media read with a note (kept in their records), e.g. ") and "clamped" in clamped
