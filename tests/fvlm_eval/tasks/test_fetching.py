"""Getting a benchmark's files into its folder: archives lying there unextracted (fetched by hand, an extraction
cut short) extracted without the network, a damaged one named with what to do, and offline the Hugging Face
cache's snapshot used, or one line saying where the files go."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.fetching import LAYOUTS, PREPARED_FILE, NotFetched, extract_pending, fetch, pending
from fvlm_eval.tasks.prepare import verify

SHA = "0123456789abcdef0123456789abcdef01234567"


def zipped_egoschema(root: Path) -> Path:
    """``root/egoschema`` as ``huggingface-cli download lmms-lab/egoschema`` leaves it: the annotations, and the
    videos still in ``videos_chunked_01.zip`` (members ``videos/<video_idx>.mp4``)."""
    folder = get_benchmark("egoschema").write_fixture(root)
    with zipfile.ZipFile(folder / "videos_chunked_01.zip", "w") as handle:
        for video in sorted((folder / "videos").iterdir()):
            handle.write(video, f"videos/{video.name}")
    shutil.rmtree(folder / "videos")
    return folder


def test_archives_lying_unextracted_are_extracted_without_the_network(tmp_path):
    """With the annotations there, prepare never fetched, so never extracted: every video was "missing" and
    nothing mentioned the zip beside them (900 lines on Video-MME)."""
    folder = zipped_egoschema(tmp_path)
    said = []
    assert extract_pending(get_benchmark("egoschema"), folder, said.append) == 1
    assert said == [f"extracting {folder / 'videos_chunked_01.zip'} (not extracted yet) ..."]
    result = verify(get_benchmark("egoschema"), tmp_path, probe=False)
    assert not result.unreadable and result.questions == 5
    assert pending(get_benchmark("egoschema"), folder) == []  # extracted once: the next prepare leaves it be


def test_an_extraction_cut_short_is_finished(tmp_path):
    folder = zipped_egoschema(tmp_path)
    extract_pending(get_benchmark("egoschema"), folder, lambda line: None)
    first, second = sorted((folder / "videos").iterdir())[:2]
    whole = first.read_bytes()
    first.write_bytes(whole[:10])  # the file being written when it stopped
    second.unlink()
    assert pending(get_benchmark("egoschema"), folder) == [folder / "videos_chunked_01.zip"]
    extract_pending(get_benchmark("egoschema"), folder, lambda line: None)
    assert first.read_bytes() == whole and second.is_file()


def test_an_archive_cut_short_is_named_with_what_to_do(tmp_path):
    """A transfer cut short read "download failed (BadZipFile: File is not a zip file); place the files by hand as
    the benchmark's docstring says", naming neither the file nor what to do."""
    folder = zipped_egoschema(tmp_path)
    archive = folder / "videos_chunked_01.zip"
    archive.write_bytes(archive.read_bytes()[:500])
    with pytest.raises(NotFetched) as error:
        extract_pending(get_benchmark("egoschema"), folder, lambda line: None)
    assert str(error.value) == f"{archive} is not a zip (cut short?): delete it and rerun with --download"


def test_a_damaged_member_is_named_and_not_left_behind_as_extracted(tmp_path):
    folder = zipped_egoschema(tmp_path)
    archive = folder / "videos_chunked_01.zip"
    with zipfile.ZipFile(archive) as handle:
        member = handle.infolist()[0]
        start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    data = bytearray(archive.read_bytes())
    data[start + 100] ^= 0xFF  # one byte of its stored data: the CRC check fails
    archive.write_bytes(bytes(data))
    with pytest.raises(NotFetched, match=r"videos_chunked_01\.zip is damaged \(.*\): delete it and rerun"):
        extract_pending(get_benchmark("egoschema"), folder, lambda line: None)
    assert not (folder / member.filename).exists()  # written whole, it would pass for extracted next time


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE, and a Hugging Face cache of our own (empty)."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return tmp_path / "hf" / "hub"


def cache_egoschema(cache: Path, source: Path) -> Path:
    """``lmms-lab/egoschema`` in huggingface_hub's cache layout: blobs, ``refs/main``, a snapshot of links."""
    repo = cache / "datasets--lmms-lab--egoschema"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    for name in ("Subset/test-00000-of-00001.parquet", "videos_chunked_01.zip"):
        blob = repo / "blobs" / name.replace("/", "-")
        blob.parent.mkdir(exist_ok=True)
        shutil.copy(source / name, blob)
        link = repo / "snapshots" / SHA / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    return repo


def test_offline_the_cached_snapshot_is_used(tmp_path, offline):
    """Offline, with the dataset in the Hugging Face cache, prepare said only "download failed
    (OfflineModeIsEnabled ...); place the files by hand as the benchmark's docstring says"."""
    cache_egoschema(offline, zipped_egoschema(tmp_path / "elsewhere"))
    said = []
    folder = fetch(get_benchmark("egoschema"), tmp_path / "data", say=said.append)
    assert said[0].startswith("offline (HF_HUB_OFFLINE is set): 2 file(s) of lmms-lab/egoschema linked into ")
    assert (folder / "Subset/test-00000-of-00001.parquet").is_symlink()  # linked, not copied
    assert json.loads((folder / PREPARED_FILE).read_text()) == {"repo": "lmms-lab/egoschema", "revision": "main"} | {
        "sha": SHA
    }
    result = verify(get_benchmark("egoschema"), tmp_path / "data", probe=False)
    assert result.questions == 5 and not result.unreadable and not result.problems  # its zip extracted too


def test_offline_and_not_cached_is_one_line_saying_where_the_files_go(tmp_path, offline):
    with pytest.raises(NotFetched) as error:
        fetch(get_benchmark("egoschema"), tmp_path / "my data", say=lambda line: None)
    message = str(error.value)
    assert "\n" not in message and "docstring" not in message
    assert message.startswith(
        f"offline (HF_HUB_OFFLINE is set) and lmms-lab/egoschema at main is not in the Hugging "
        f"Face cache ({offline}): place the files under {tmp_path / 'my data' / 'egoschema'} as "
        f"{LAYOUTS} lists"
    )
    assert message.endswith(f"then rerun `fvlm-eval prepare egoschema --data-dir '{tmp_path / 'my data'}'`")


def test_no_connection_is_said_as_the_cause(tmp_path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants

    class ConnectError(Exception):  # httpx's, as huggingface_hub raises it with no network
        pass

    class Api:
        def dataset_info(self, repo, revision):
            raise ConnectError("[Errno 111] Connection refused")

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(NotFetched, match=r"^offline \(the hub cannot be reached: ConnectError: \[Errno 111\] "):
        fetch(get_benchmark("egoschema"), tmp_path, say=lambda line: None)


def test_the_layouts_named_in_messages_are_a_heading_of_running_md():
    from tests.test_docs import anchors

    page, anchor = LAYOUTS.split("#")
    assert anchor in anchors(Path(__file__).resolve().parents[3] / page)
