"""The frame cache: lossless, keyed by what frames depend on, never read when corrupt or stale."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import numpy as np
import pytest

from fvlm_eval.media.decode import load_clip
from fvlm_eval.media.frame_cache import FORMAT, FrameCache
from fvlm_eval.models import load_model
from fvlm_eval.models.fvlm import FRAME_TRANSFORM
from fvlm_eval.records import read_records
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks import write_fixtures
from fvlm_eval.tasks.fixtures.media import write_frame_folder, write_video
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.types import Media, Sampling
from fvlm_model.loading import ModelSpec, load_tokenizer, save_model_folder
from tests.conftest import TINY_DINO, TINY_LLM, TINY_QUERY_DIM, tiny_model


@pytest.fixture()
def video(tmp_path):
    path = write_video(tmp_path / "data" / "clip.mp4", 30)
    return Media("video", "bench/clip.mp4", str(path))


def test_round_trip_is_lossless(tmp_path, video):
    cache, sampling = FrameCache(tmp_path / "cache"), Sampling("uniform", 8)
    clip = load_clip(video, sampling, FRAME_TRANSFORM)
    key = cache.key(video, sampling, FRAME_TRANSFORM.key)
    assert cache.get(key, video) == (None, "miss")
    cache.put(key, video, clip)
    cached, outcome = cache.get(key, video)
    assert outcome == "hit" and cached.from_cache
    assert np.array_equal(cached.frames, clip.frames) and cached.frames.dtype == np.uint8
    assert dataclasses.replace(cached, frames=None, from_cache=False) == dataclasses.replace(clip, frames=None)


def test_the_key_follows_what_frames_depend_on(tmp_path, video):
    cache = FrameCache(tmp_path / "cache")
    base = cache.key(video, Sampling("uniform", 8), "t")
    assert base == cache.key(dataclasses.replace(video, path="/elsewhere/clip.mp4"), Sampling("uniform", 8), "t")
    assert (
        len(
            {
                base,
                cache.key(video, Sampling("uniform", 16), "t"),
                cache.key(video, Sampling("uniform", 8), "other"),
                cache.key(dataclasses.replace(video, bound=(1.0, 2.0)), Sampling("uniform", 8), "t"),
                cache.key(dataclasses.replace(video, key="bench/other.mp4"), Sampling("uniform", 8), "t"),
            }
        )
        == 5
    )
    image = Media("image", "bench/row0", data=b"one")
    assert cache.key(image, Sampling(), "t") != cache.key(dataclasses.replace(image, data=b"two"), Sampling(), "t")


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_a_damaged_entry_is_detected_and_removed(tmp_path, video, damage):
    cache, sampling = FrameCache(tmp_path / "cache"), Sampling("uniform", 8)
    key = cache.key(video, sampling, FRAME_TRANSFORM.key)
    cache.put(key, video, load_clip(video, sampling, FRAME_TRANSFORM))
    path = cache.path(key)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(
        {"flip": bytes(data), "truncate": bytes(data[: len(data) // 3]), "empty": b"", "garbage": b"not a cache entry"}[
            damage
        ]
    )
    assert cache.get(key, video) == (None, "corrupt") and not path.exists()


@pytest.mark.parametrize("payload", ["npy", "meta_not_an_object", "meta_without_fields"])
def test_an_entry_that_numpy_reads_otherwise_is_corrupt_and_removed(tmp_path, video, payload):
    """A plain array (a .npy payload) at an entry's path failed its question as "decoding failed: TypeError" on
    every run, and the entry was never removed; meta that is JSON but not a whole object likewise."""
    import hashlib
    import io
    import json

    cache, sampling = FrameCache(tmp_path / "cache"), Sampling("uniform", 8)
    key = cache.key(video, sampling, FRAME_TRANSFORM.key)
    cache.put(key, video, load_clip(video, sampling, FRAME_TRANSFORM))
    path = cache.path(key)
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    checked = {"format": FORMAT, "key": key, "frames_sha256": hashlib.sha256(frames.tobytes()).hexdigest()}
    meta = {"meta_not_an_object": [1, 2], "meta_without_fields": checked}.get(payload)
    buffer = io.BytesIO()
    if payload == "npy":
        np.save(buffer, np.zeros(3))
    else:
        np.savez(buffer, frames=frames, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    path.write_bytes(buffer.getvalue())
    assert cache.get(key, video) == (None, "corrupt") and not path.exists()


def test_a_changed_source_is_stale_and_a_vanished_one_still_served(tmp_path, video):
    cache, sampling = FrameCache(tmp_path / "cache"), Sampling("uniform", 8)
    key = cache.key(video, sampling, FRAME_TRANSFORM.key)
    cache.put(key, video, load_clip(video, sampling, FRAME_TRANSFORM))
    write_video(tmp_path / "data" / "clip.mp4", 40, tint=99)  # the file changed
    assert cache.get(key, video) == (None, "stale")
    cache.put(key, video, load_clip(video, sampling, FRAME_TRANSFORM))
    (tmp_path / "data" / "clip.mp4").unlink()  # moved to cold storage
    clip, outcome = cache.get(key, video)
    assert outcome == "hit" and clip.source_frames == 40


def test_a_file_missing_from_another_data_folder_is_not_served_from_this_ones_entry(tmp_path, monkeypatch):
    """Two data folders with the same names share the cache: the entry keyed by the name in the benchmark, decoded
    from folder A's file, stood in for the file missing from folder B (no error, no note, A's frames scored). Now
    an absent source is served only from an entry decoded in its own data folder (the documented cold-storage
    case): the same path, or another place its benchmark looks for it there."""
    cache, sampling = FrameCache(tmp_path / "cache"), Sampling("uniform", 8)
    looked_in = ("video/main/", "video/precut/")  # as MVBench says where it looked, relative to its folder
    found_in_a = write_video(tmp_path / "A" / "mvbench" / "video" / "precut" / "clip.mp4", 30)
    in_a = Media("video", "mvbench/main/clip.mp4", str(found_in_a))
    in_b = Media(
        "video", in_a.key, str(tmp_path / "B" / "mvbench" / "video" / "main" / "clip.mp4"), looked_in=looked_in
    )
    key = cache.key(in_a, sampling, FRAME_TRANSFORM.key)
    assert key == cache.key(in_b, sampling, FRAME_TRANSFORM.key)
    cache.put(key, in_a, load_clip(in_a, sampling, FRAME_TRANSFORM))
    assert cache.get(key, in_b) == (None, "miss")
    assert cache.get(key, dataclasses.replace(in_b, looked_in=())) == (None, "miss")
    monkeypatch.chdir(tmp_path)
    assert cache.get(key, dataclasses.replace(in_a, path="A/mvbench/video/precut/clip.mp4"))[1] == "hit"
    found_in_a.unlink()  # A's own file moved away: still served to A, at the path it was found at or the first
    gone_from_a = Media("video", in_a.key, "A/mvbench/video/main/clip.mp4", looked_in=looked_in)
    assert cache.get(key, gone_from_a)[1] == "hit" and cache.get(key, in_a)[1] == "hit"
    assert cache.get(key, in_b) == (None, "miss")


def test_entries_written_before_the_sampling_change_are_not_served(tmp_path, video, monkeypatch):
    """Format 2 entries hold frames of the old rules (the "fps" policy stepping by the exact rate, mp4 edit lists,
    the first video stream, frame numbers only at the end of a name): under the same key they would be served."""
    from fvlm_eval.media import frame_cache

    cache, sampling = FrameCache(tmp_path / "cache"), Sampling("fps", 64, fps=1.0)
    with monkeypatch.context() as old:
        old.setattr(frame_cache, "FORMAT", 2)
        old_key = cache.key(video, sampling, FRAME_TRANSFORM.key)
        cache.put(old_key, video, load_clip(video, sampling, FRAME_TRANSFORM))
    assert cache.get(cache.key(video, sampling, FRAME_TRANSFORM.key), video) == (None, "miss")


def save(folder, seed):
    save_model_folder(tiny_model(seed), folder, ModelSpec(TINY_LLM, TINY_DINO, TINY_QUERY_DIM), load_tokenizer(None))
    return str(folder)


def test_a_second_checkpoint_decodes_nothing_and_scores_bit_identically(tmp_path):
    data = write_fixtures(tmp_path / "data")
    first, second = save(tmp_path / "m1", 0), save(tmp_path / "m2", 1)
    base = RunSettings(
        benchmarks=("mvbench", "scienceqa"),
        modes=("coarse_fine",),
        data_dir=data,
        workers=0,
        output_dir=tmp_path / "plain",
        frame_cache=None,
    )
    plain = run(base, load_model(first, device="cpu"), progress=False)
    cached = dataclasses.replace(base, output_dir=tmp_path / "cached", frame_cache=tmp_path / "cache")
    warm = run(cached, load_model(first, device="cpu"), progress=False)
    for key, summary in plain.summaries.items():
        summary = summary.to_json()
        assert summary["timing"]["clips"]["from_cache"] == 0
        assert warm.summaries[key].to_json()["timing"]["clips"]["decoded"] == summary["timing"]["clips"]["decoded"] > 0
        records = {r.id: r for r in read_records(tmp_path / "plain" / key[0] / key[1] / "samples.jsonl")}
        for record in read_records(tmp_path / "cached" / key[0] / key[1] / "samples.jsonl"):
            assert record.options == records[record.id].options  # bit-identical log-probs
    shutil.move(data / "mvbench" / "video", tmp_path / "cold-storage")
    other = run(
        dataclasses.replace(cached, output_dir=tmp_path / "second"), load_model(second, device="cpu"), progress=False
    )
    for key, summary in other.summaries.items():
        summary = summary.to_json()
        assert (
            summary["coverage"]["failed"] == 0
            and summary["coverage"]["scored"] == warm.summaries[key].to_json()["coverage"]["scored"]
        )
        assert summary["timing"]["clips"]["decoded"] == 0 and summary["timing"]["clips"]["from_cache"] > 0
        frames = {r.id: r.frames for r in read_records(tmp_path / "cached" / key[0] / key[1] / "samples.jsonl")}
        assert {r.id: r.frames for r in read_records(tmp_path / "second" / key[0] / key[1] / "samples.jsonl")} == frames


# ----- replacements that keep size and mtime, and frames reordered, make an entry stale ------------------------


def _cached(tmp_path, media):
    cache, sampling = FrameCache(tmp_path / "cache"), Sampling("uniform", 8)
    key = cache.key(media, sampling, FRAME_TRANSFORM.key)
    cache.put(key, media, load_clip(media, sampling, FRAME_TRANSFORM))
    assert cache.get(key, media)[1] == "hit"
    return cache, key


def _same_size_other_bytes(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


def test_a_same_size_copy_with_its_mtime_kept_is_stale(tmp_path, video):
    """``cp -p`` of a file of the same size and the same mtime over the source."""
    cache, key = _cached(tmp_path, video)
    source, other = tmp_path / "data" / "clip.mp4", tmp_path / "other.mp4"
    before = source.stat()
    other.write_bytes(_same_size_other_bytes(source))
    subprocess.run(["touch", "-r", str(source), str(other)], check=True)
    subprocess.run(["cp", "-p", str(other), str(source)], check=True)
    after = source.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)  # what the old check compared
    assert cache.get(key, video) == (None, "stale")


def test_a_file_rewritten_in_place_then_touch_r_is_stale(tmp_path, video):
    """Rewritten in place (same inode, same size), its mtime put back with ``touch -r``."""
    cache, key = _cached(tmp_path, video)
    source, reference = tmp_path / "data" / "clip.mp4", tmp_path / "reference"
    subprocess.run(["cp", "-p", str(source), str(reference)], check=True)
    with open(source, "r+b") as handle:
        handle.write(_same_size_other_bytes(source))
    subprocess.run(["touch", "-r", str(reference), str(source)], check=True)
    assert source.stat().st_mtime_ns == reference.stat().st_mtime_ns
    assert cache.get(key, video) == (None, "stale")


def test_frames_reordered_with_mv_are_stale_and_an_untouched_source_is_served(tmp_path):
    folder = write_frame_folder(tmp_path / "data" / "frames", 12)
    media = Media("frame_folder", "bench/frames", str(folder), folder_fps=3.0)
    cache, key = _cached(tmp_path, media)
    for _ in range(3):  # reading does not make it stale
        assert cache.get(key, media)[1] == "hit"
    first, second = folder / "00002.jpg", folder / "00009.jpg"
    subprocess.run(["mv", str(first), str(folder / "swap.jpg")], check=True)
    subprocess.run(["mv", str(second), str(first)], check=True)
    subprocess.run(["mv", str(folder / "swap.jpg"), str(second)], check=True)
    assert cache.get(key, media) == (None, "stale")


def test_a_run_decodes_a_changed_source_again_and_counts_it_stale(model_dir, tmp_path):
    data = write_mvbench(tmp_path / "data", "main", False).parent
    settings = RunSettings(
        benchmarks=("mvbench",),
        modes=("coarse_only",),
        data_dir=data,
        workers=0,
        output_dir=tmp_path / "one",
        frame_cache=tmp_path / "cache",
    )
    first = run(settings, load_model(str(model_dir), device="cpu"), progress=False)
    clips = first.summaries[("mvbench", "coarse_only")].to_json()["timing"]["clips"]
    folder = next((data / "mvbench/video/tvqa/frames_fps3_hq").iterdir())
    frames = sorted(folder.iterdir())
    frames[0].rename(folder / "swap.jpg")
    frames[-1].rename(frames[0])
    (folder / "swap.jpg").rename(frames[-1])
    again = run(
        dataclasses.replace(settings, output_dir=tmp_path / "two"),
        load_model(str(model_dir), device="cpu"),
        progress=False,
    )
    second = again.summaries[("mvbench", "coarse_only")].to_json()["timing"]["clips"]
    assert second["cache_stale"] == 1 and second["decoded"] == 1
    assert second["from_cache"] == clips["decoded"] - 1  # every untouched source still served


def test_a_corrupt_entry_in_a_read_only_cache_is_decoded_and_said_once(model_dir, tmp_path, monkeypatch):
    """A read-only cache (EROFS; EPERM alike) cannot lose its corrupt entry: the clip is decoded as if it were
    absent, never recorded as "decoding failed", and the run says once that the cache could not be repaired."""
    import errno
    import os
    import tempfile

    data = write_mvbench(tmp_path / "data", "main", False).parent
    cache = tmp_path / "cache"
    settings = RunSettings(("mvbench",), ("coarse_only",), data, tmp_path / "one", workers=0, frame_cache=cache)
    run(settings, load_model(str(model_dir), device="cpu"), progress=False)
    entry = next(cache.rglob("*.npz"))
    entry.write_bytes(b"not a cache entry")
    unlink, mkstemp = os.unlink, tempfile.mkstemp

    def refuse_in_cache(where):
        if str(cache) in str(where):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(where))

    def read_only_unlink(path, *args, **kwargs):
        refuse_in_cache(path)
        return unlink(path, *args, **kwargs)

    def read_only_mkstemp(*args, **kwargs):
        refuse_in_cache(kwargs.get("dir", ""))
        return mkstemp(*args, **kwargs)

    monkeypatch.setattr(os, "unlink", read_only_unlink)
    monkeypatch.setattr(tempfile, "mkstemp", read_only_mkstemp)
    again = run(
        dataclasses.replace(settings, output_dir=tmp_path / "two"),
        load_model(str(model_dir), device="cpu"),
        progress=False,
    )
    records = read_records(tmp_path / "two/mvbench/coarse_only/samples.jsonl")
    assert not any("decoding failed" in (r.error or "") for r in records) and entry.exists()
    said = [m for m in again.messages if "frame cache" in m]
    assert len(said) == 1 and "cannot be removed (the cache is read-only)" in said[0], again.messages
    clips = again.summaries[("mvbench", "coarse_only")].to_json()["timing"]["clips"]
    assert clips["cache_corrupt"] == 1 and clips["decoded"] == 1


def test_a_cache_that_cannot_be_written_is_said_once_a_run_not_once_a_benchmark(model_dir, tmp_path, monkeypatch):
    """A full or read-only cache printed "frame cache ...: cannot write (...)" once for every benchmark of the run."""
    import errno
    import os
    import tempfile

    data = write_fixtures(tmp_path / "data")
    cache, mkstemp = tmp_path / "cache", tempfile.mkstemp

    def full_cache(*args, **kwargs):
        if str(cache) in str(kwargs.get("dir", "")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(kwargs["dir"]))
        return mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", full_cache)
    settings = RunSettings(
        ("mvbench", "videomme"), ("coarse_only",), data, tmp_path / "out", workers=0, frame_cache=cache
    )
    outcome = run(settings, load_model(str(model_dir), device="cpu"), progress=False)
    said = [m for m in outcome.messages if "frame cache" in m]
    assert len(said) == 1 and "cannot write" in said[0], outcome.messages
