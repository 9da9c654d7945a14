"""Time decoding the sampled frames of long videos, per backend and strategy.

Makes synthetic H.264 videos (640x360, 25 fps, one keyframe every ``--gop`` frames: a still
background, a moving bar, and the frame number drawn as 17 stripes), cached in a temporary
folder between runs. For each video, each sampling (64 uniform frames, 16 segment midpoints) and
each backend/strategy (decord, where it is installed (pyproject installs it on x86_64 only) and only as a
comparison (the harness decodes with PyAV): one seek per frame, one ``get_batch``, one ``get_batch`` per
keyframe interval; PyAV: streaming, seeking, auto), the decode runs in a fresh process, which
reports its wall time and CPU time (of the fastest of ``--repeat`` runs), and its peak RSS
(``resource.getrusage``; "+RSS" is that peak over what the process held after its imports).
"decoded"/"seeks": what PyAV decoded to get there. Every strategy must return the same pixels
and the frames it was asked for (their stripes are read back); the script fails otherwise.

    python benchmarks/bench_decode.py                   # 10 and 60 minute videos
    python benchmarks/bench_decode.py --minutes 10      # only the 10 minute one
    python benchmarks/bench_decode.py --quick           # 1 and 3 minutes, for CI
    python benchmarks/bench_decode.py --warm-cache      # the frame cache's read of a warm entry, per check

``--warm-cache`` times ``FrameCache.get`` on a warm entry (page cache warm, the median of many
reads) of a video file (64 frames at 224 px) and of a frame folder (180 JPEGs, 16 frames), with
each way to tell a changed source: the old size + mtime (a folder: count + newest mtime), the
current stat identity (size, mtime, inode, ctime; a folder: every file's), and that plus a
content fingerprint (SHA-256 of the first and last 64 KiB of each file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # script_args, when this file is loaded by path

from script_args import at_least, positive  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 360, 25
BITS = 17  # frame numbers up to 131071: 87 minutes at 25 fps
STRIPE_TOP, STRIPE_HEIGHT, STRIPE_LEFT, STRIPE_PITCH, STRIPE_WIDTH = 150, 40, 40, 32, 24
CASES = [
    ("decord", "each"),
    ("decord", "batch"),
    ("decord", "groups"),
    ("pyav", "stream"),
    ("pyav", "seek"),
    ("pyav", "auto"),
]
SAMPLINGS = [("uniform", 64), ("segment_midpoints", 16)]


# ----- the videos ------------------------------------------------------------------------------


def make_video(path: Path, minutes: float, gop: int) -> Path:
    """A ``minutes`` long 640x360 H.264 mp4 whose frame i shows i in stripes (written once, then cached)."""
    import av

    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    n_frames = int(round(minutes * 60 * FPS))
    # yuv420p planes built directly (no RGB conversion per frame): a still textured background
    luma = (np.add.outer(np.arange(HEIGHT) // 4, np.arange(WIDTH) // 4) % 160 + 48).astype(np.uint8)
    planes = np.empty((HEIGHT * 3 // 2, WIDTH), dtype=np.uint8)
    planes[HEIGHT:] = 128
    started = time.perf_counter()
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {
            "preset": "ultrafast",
            "crf": "23",
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
        }
        stream.codec_context.thread_count = os.cpu_count() or 1
        for i in range(n_frames):
            planes[:HEIGHT] = luma
            bar = (i * 4) % (WIDTH - 16)
            planes[:HEIGHT, bar : bar + 16] = 235
            for bit in range(BITS):
                left = STRIPE_LEFT + bit * STRIPE_PITCH
                planes[STRIPE_TOP : STRIPE_TOP + STRIPE_HEIGHT, left : left + STRIPE_WIDTH] = (
                    235 if i >> bit & 1 else 16
                )
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(path)
    print(f"made {path.name}: {n_frames} frames in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def frame_number(frame: np.ndarray) -> int:
    """The number drawn by ``make_video`` in an RGB frame."""
    number = 0
    for bit in range(BITS):
        left = STRIPE_LEFT + bit * STRIPE_PITCH
        patch = frame[STRIPE_TOP + 8 : STRIPE_TOP + STRIPE_HEIGHT - 8, left + 6 : left + STRIPE_WIDTH - 6]
        number |= int(patch.mean() > 128) << bit
    return number


# ----- one case, in its own process ------------------------------------------------------------


def decord_installed() -> bool:
    """Whether decord can be imported (pyproject installs it on x86_64 only: elsewhere only PyAV is timed)."""
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def run_case(spec: dict) -> dict:
    import resource

    import av  # noqa: F401

    if decord_installed():  # both backends loaded in every case where both are: the same baseline
        import decord  # noqa: F401
    elif spec["backend"] == "decord":
        raise SystemExit("decord is not installed: its cases cannot run")

    from fvlm_eval.media import decode, pyav
    from fvlm_eval.types import Sampling

    sampling = Sampling(spec["policy"], spec["frames"])
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats: dict = {}
    cpu_started = time.process_time()
    started = time.perf_counter()
    if spec["backend"] == "decord":
        decoded = decode.decode_video_decord(Path(spec["path"]), sampling, None, spec["strategy"])
    else:
        decoded = pyav.decode_video_pyav(Path(spec["path"]), sampling, None, spec["strategy"], stats)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    unique = sorted(set(decoded.indices))
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": peak / 1024,
        "delta_mb": (peak - baseline) / 1024,
        "sha256": hashlib.sha256(np.ascontiguousarray(decoded.frames).tobytes()).hexdigest(),
        "numbers_ok": [frame_number(frame) for frame in decoded.frames] == unique,
        "n_sampled": len(decoded.indices),
        "decoded": stats.get("decoded"),
        "seeks": stats.get("seeks"),
    }


def in_subprocess(spec: dict) -> dict:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(spec)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----- the frame cache on a warm entry ----------------------------------------------------------


def _old_identity(media):
    """The frame cache's first check: size and mtime (a folder: file count and newest mtime)."""
    path = Path(media.path)
    if path.is_dir():
        files = sorted(path.iterdir())
        return {"files": len(files), "mtime_ns": max((f.stat().st_mtime_ns for f in files), default=0)}
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _fingerprinted_identity(media, stat_identity):
    """``stat_identity`` plus the SHA-256 of the first and last 64 KiB of every file."""
    path = Path(media.path)
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()) if path.is_dir() else [path]:
        with open(file, "rb") as handle:
            digest.update(handle.read(65536))
            size = os.fstat(handle.fileno()).st_size
            if size > 65536:
                handle.seek(max(65536, size - 65536))
                digest.update(handle.read(65536))
    return {**stat_identity(media), "content_sha256": digest.hexdigest()}


def warm_cache(reads: int) -> int:
    """Per clip: a warm entry's read time with each identity check; the check alone; the ratio to the old one."""
    import statistics

    from fvlm_eval.media import frame_cache
    from fvlm_eval.models.fvlm import FRAME_TRANSFORM
    from fvlm_eval.tasks.fixtures.media import write_frame_folder, write_video
    from fvlm_eval.types import Media, Sampling

    current = frame_cache._identity
    checks = [
        ("size + mtime (old)", _old_identity),
        ("stat identity (now)", current),
        ("stat + 2x64 KiB SHA-256", lambda media: _fingerprinted_identity(media, current)),
    ]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        video = write_video(root / "data" / "clip.mp4", 300)
        frames = write_frame_folder(root / "data" / "frames", 180)
        sources = [
            ("video file, 64 frames", Media("video", "bench/clip.mp4", str(video)), Sampling("uniform", 64)),
            (
                "frame folder of 180, 16 frames",
                Media("frame_folder", "bench/frames", str(frames), folder_fps=3.0),
                Sampling("uniform", 16),
            ),
        ]
        header = f"{'source':<31} {'check':<24} {'read ms':>8} {'check ms':>9} {'read vs old':>11}"
        print(header)
        print("-" * len(header))
        try:
            for label, media, sampling in sources:
                clip = None
                baseline = None
                for name, check in checks:
                    frame_cache._identity = check
                    cache = frame_cache.FrameCache(root / "cache" / name.split()[0])
                    key = cache.key(media, sampling, FRAME_TRANSFORM.key)
                    if clip is None:
                        from fvlm_eval.media.decode import load_clip

                        clip = load_clip(media, sampling, FRAME_TRANSFORM)
                    cache.put(key, media, clip)
                    times, check_times = [], []
                    for _ in range(reads):
                        started = time.perf_counter()
                        assert cache.get(key, media)[1] == "hit"
                        times.append(time.perf_counter() - started)
                        started = time.perf_counter()
                        check(media)
                        check_times.append(time.perf_counter() - started)
                    read, alone = statistics.median(times) * 1e3, statistics.median(check_times) * 1e3
                    baseline = baseline or read
                    print(f"{label:<31} {name:<24} {read:>8.2f} {alone:>9.3f} {read / baseline:>10.2f}x", flush=True)
        finally:
            frame_cache._identity = current
    return 0


# ----- the table -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=positive, nargs="+", default=[10, 60], help="video lengths (default 10 60)")
    parser.add_argument("--quick", action="store_true", help="1 and 3 minute videos (CI)")
    parser.add_argument("--gop", type=at_least(1), default=250, help="frames between keyframes (x264's default 250)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "fvlm-bench-decode",
        help="where the videos are kept between runs",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        default=[f"{b}/{s}" for b, s in CASES],
        choices=[f"{b}/{s}" for b, s in CASES],
        help="backend/strategy cases to run (default: all)",
    )
    parser.add_argument("--repeat", type=at_least(1), default=3, help="runs per case, the fastest reported (default 3)")
    parser.add_argument("--warm-cache", action="store_true", help="time the frame cache's read of a warm entry instead")
    parser.add_argument(
        "--reads", type=at_least(1), default=200, help="reads per --warm-cache case, the median reported"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warm_cache:
        return warm_cache(args.reads)
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return 0
    minutes = [1, 3] if args.quick else args.minutes
    for length in minutes:
        if round(length * 60 * FPS) < 1:
            parser.error(f"argument --minutes: {length:g} minutes is not one frame at {FPS} fps")
    if not decord_installed():
        dropped = [case for case in args.cases if case.startswith("decord/")]
        args.cases = [case for case in args.cases if case not in dropped]
        if dropped:
            print(f"decord is not installed: {', '.join(dropped)} not timed", file=sys.stderr)
        if not args.cases:
            parser.error("argument --cases: only decord cases asked, and decord is not installed")
    header = (
        f"{'video':>7} {'sampling':<20} {'backend/strategy':<16} {'seconds':>8} {'cpu s':>6} {'frames/s':>9} "
        f"{'peak RSS':>9} "
        f"{'+RSS':>7} {'decoded':>8} {'seeks':>6}  same"
    )
    print(header)
    print("-" * len(header))
    failures = 0
    for length in minutes:
        path = make_video(
            args.cache / f"synthetic-{length:g}min-{WIDTH}x{HEIGHT}-{FPS}fps-gop{args.gop}.mp4", length, args.gop
        )
        for policy, frames in SAMPLINGS:
            reference = None
            for case in args.cases:
                backend, strategy = case.split("/")
                spec = {"path": str(path), "backend": backend, "strategy": strategy, "policy": policy, "frames": frames}
                runs = [in_subprocess(spec) for _ in range(args.repeat)]
                result = next((run for run in runs if "error" in run), None) or min(
                    runs, key=lambda run: run["seconds"]
                )
                label = f"{length:g} min"
                if "error" in result:
                    failures += 1
                    print(f"{label:>7} {policy}:{frames:<{19 - len(policy)}} {case:<16} ERROR {result['error']}")
                    continue
                reference = reference or result["sha256"]
                same = "yes" if result["sha256"] == reference else "other pixels"
                same = same if result["numbers_ok"] else "OTHER FRAMES"
                failures += same != "yes"
                decoded = "" if result["decoded"] is None else result["decoded"]
                seeks = "" if result["seeks"] is None else result["seeks"]
                print(
                    f"{label:>7} {policy}:{frames:<{19 - len(policy)}} {case:<16} {result['seconds']:>8.2f} "
                    f"{result['cpu']:>6.2f} "
                    f"{result['n_sampled'] / result['seconds']:>9.1f} {result['peak_mb']:>6.0f} MB "
                    f"{result['delta_mb']:>4.0f} MB "
                    f"{decoded:>8} {seeks:>6}  {same}",
                    flush=True,
                )
    if failures:
        print(f"{failures} case(s) failed or returned other frames", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
