"""A lossless on-disk cache of decoded clips: a second checkpoint on the same data decodes nothing.

An entry holds exactly the uint8 frames a model was given (after its ``FrameTransform``) and
their indices and times, so scores with and without the cache are bit-identical. Its name is a
hash of what the frames depend on: the media's name in its benchmark (its path under the data
folder, its bound; an inline image's bytes), the sampling rule and frame count, the model's
frame transform (its ``key``, which names its resize and, where it composites an image's transparency onto
white as SmolVLM's processor does, says so: one family's pixels are never served to another), and the video
decoder. The entry also stores the source's identity on disk: a
file's size, modification time, inode and change time (ctime), a frame folder's listing of every
file's name and the same four numbers. While the source is there, any change makes the entry
stale (decoded again), even a same-size replacement with its mtime kept (``cp -p``, ``rsync -t``,
``touch -r``: the kernel sets ctime, which no tool can put back) or frames renamed into another
order with ``mv``; so do harmless changes (``chmod``, a copy to another disk): decoded once more.
Once the source is gone (videos moved to cold storage), the entry still serves, but only where it was
decoded from the same data folder (it keeps its source's absolute path: the same path, or another place
the benchmark looks for that media in it): a file missing from another data folder that holds the same
names is missing (such an entry once stood in for it, and another folder's video was scored). Entries
are written atomically and carry the SHA-256 of their frames: a partial or corrupt entry is
detected, deleted and decoded again, never read as frames (in a read-only cache, where it cannot be
deleted, decoded all the same, and the run says once that the cache could not be repaired).

Location: ``--frame-cache DIR``, else ``$FVLM_EVAL_FRAME_CACHE``, else
``$XDG_CACHE_HOME/fvlm-eval/frames`` (``~/.cache/fvlm-eval/frames``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from fvlm_eval.files import write_bytes_atomic
from fvlm_eval.media.decode import video_decoder
from fvlm_eval.types import Clip, Media, Sampling

# 2: webm/mkv cut short sampled over their stated duration, frame folders indexed by their frames' numbers
# (entries decoded before either could hold other frames of such media)
# 3: the "fps" policy steps by whole frames as fVLM's release does; mp4s with frames hidden by an edit list
# sampled over the frames shown; FFmpeg's choice of video stream (never a cover); frame numbers anywhere in
# a name; entries keep their source's absolute path (entries of 2 could hold other frames of such media)
FORMAT = 3
UNREPAIRABLE = "corrupt-unrepairable"  # a corrupt entry that could not be removed: the cache is read-only


def default_cache_dir() -> Path:
    if os.environ.get("FVLM_EVAL_FRAME_CACHE"):
        return Path(os.environ["FVLM_EVAL_FRAME_CACHE"]).expanduser()  # a quoted ~ is not the shell's to expand
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fvlm-eval" / "frames"


def _stat_identity(stat: os.stat_result) -> list[int]:
    """What no change to a file's bytes or name can leave alone: size and mtime (which ``cp -p``, ``rsync -t``
    and ``touch -r`` can put back), and the inode and ctime (which they cannot: the kernel sets ctime to
    now on every write, rename or attribute change, and a replacement file has a new inode)."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]


def _identity(media: Media) -> dict | None:
    """The source as it is now on disk, when it is there: a file's stat identity; for a frame folder, a
    hash of its listing (every file's name and stat identity: a frame renamed, replaced or moved changes it)."""
    if media.path is None:
        return None
    path = Path(media.path)
    try:
        if path.is_dir():
            listing = sorted(
                (entry.name, _stat_identity(entry.stat(follow_symlinks=True))) for entry in os.scandir(path)
            )
            return {"files": len(listing), "listing_sha256": hashlib.sha256(json.dumps(listing).encode()).hexdigest()}
        return {"file": _stat_identity(path.stat())}
    except OSError:
        return None


def _absolute(path: str) -> str:
    """The path as this process names it from the root (not resolved: a link stays the path given)."""
    return os.path.abspath(path)


def _stands_for(source_path: str | None, media: Media) -> bool:
    """Whether an entry decoded from ``source_path`` may stand for ``media``, whose source is absent: decoded from
    the same path, or from one of the places its benchmark looks for it in this data folder (the benchmark's
    folder, found from ``looked_in``, relative to it); never from another data folder holding the same names."""
    if source_path is None:
        return False
    here = Path(_absolute(media.path))
    if Path(source_path) == here:
        return True
    for place in media.looked_in:
        run = Path(place.rstrip("/")).parts
        for start in range(len(here.parts) - len(run), 0, -1):
            if here.parts[start : start + len(run)] == run:
                return Path(source_path).is_relative_to(Path(*here.parts[:start]))
    return False


class FrameCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def key(self, media: Media, sampling: Sampling, transform_key: str) -> str:
        inline = hashlib.sha256(media.data).hexdigest() if media.data is not None else None
        payload = [
            FORMAT,
            media.key,
            media.kind,
            media.bound,
            media.folder_fps,
            inline,
            sampling.describe(),
            transform_key,
            video_decoder() if media.kind == "video" else None,
        ]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str, media: Media) -> tuple[Clip | None, str]:
        """(the cached clip, "hit"), or (None, why not: "miss", "stale", "corrupt", or ``UNREPAIRABLE``: corrupt
        in a cache that cannot be written, so the entry stays)."""
        path = self.path(key)
        if not path.is_file():
            return None, "miss"
        try:
            frames, meta = _entry(path, key)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            try:
                path.unlink(missing_ok=True)
            except OSError:  # a read-only cache (EROFS, EPERM, EACCES): the clip is decoded all the same
                return None, UNREPAIRABLE
            return None, "corrupt"
        identity = _identity(media)
        if identity is not None and identity != meta["source"]:
            return None, "stale"
        if identity is None and media.path is not None and not _stands_for(meta.get("source_path"), media):
            return None, "miss"  # decoded from another data folder's file: this one is missing
        timestamps = tuple(meta["timestamps"]) if meta["timestamps"] is not None else None
        clip = Clip(
            media.key,
            meta["kind"],
            frames,
            tuple(meta["frame_map"]),
            tuple(meta["indices"]),
            timestamps,
            meta["source_frames"],
            meta["duration"],
            meta["note"],
            from_cache=True,
        )
        return clip, "hit"

    def put(self, key: str, media: Media, clip: Clip) -> None:
        """Store ``clip`` under ``key`` atomically; raises on a write error (the caller says so)."""
        frames = np.ascontiguousarray(clip.frames)
        meta = {
            "format": FORMAT,
            "key": key,
            "media_key": media.key,
            "source": _identity(media),
            "source_path": _absolute(media.path) if media.path is not None else None,
            "kind": clip.kind,
            "frame_map": list(clip.frame_map),
            "indices": list(clip.indices),
            "timestamps": list(clip.timestamps) if clip.timestamps is not None else None,
            "source_frames": clip.source_frames,
            "duration": clip.duration,
            "note": clip.note,
            "frames_sha256": hashlib.sha256(frames.tobytes()).hexdigest(),
        }
        buffer = io.BytesIO()
        np.savez(buffer, frames=frames, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        write_bytes_atomic(self.path(key), buffer.getvalue(), fsync=False)


META_FIELDS = (
    "source",
    "source_path",
    "kind",
    "frame_map",
    "indices",
    "timestamps",
    "source_frames",
    "duration",
    "note",
)


def _entry(path: Path, key: str) -> tuple[np.ndarray, dict]:
    """The frames and meta of the entry at ``path``; ``ValueError`` for anything but a whole entry of ``key``: a
    file numpy reads as a plain array (a ``.npy`` payload) or meta that is not an object failed its question as
    "decoding failed" on every run, never repaired."""
    entry = np.load(path, allow_pickle=False)
    if not isinstance(entry, np.lib.npyio.NpzFile):
        raise ValueError("not an npz archive")
    with entry:
        frames = entry["frames"]
        meta = json.loads(entry["meta"].tobytes().decode())
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
        raise ValueError("not an entry of this key and format")
    if any(field not in meta for field in META_FIELDS):
        raise ValueError("its meta lacks a field")
    if hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest() != meta.get("frames_sha256"):
        raise ValueError("frames do not match their checksum")
    return frames, meta
