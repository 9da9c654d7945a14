"""``fvlm-eval report`` and ``fvlm-eval track`` over K checkpoints of the full suite's size: peak memory and wall time
as K grows. Both hold about one checkpoint's full records at a time (a compact row per question of the others), so
each checkpoint added should cost far less than one checkpoint's records; before, they held every record of every
checkpoint (20 full-size checkpoints: 6.5-6.8 GB). The figures measured: benchmarks/RESULTS.md.

The checkpoint folders ``step_1000``, ``step_2000``, ... are written as ``fvlm-eval run`` writes them, by
``bench_report_html.write_runs`` (MVBench 4,000 + Video-MME 2,700 + ScienceQA 2,017 questions in each of ``--modes``
modes, random scores under every protocol, cloze blocks and generated answers; ``--questions N``: at most N per
benchmark). For each K of ``--steps`` the first K of them are moved into one folder, and
``fvlm-eval report <the K folders> --thumbnails 0`` and ``fvlm-eval track <that folder>`` each run in a fresh Python
process, which writes its own peak resident memory (``ru_maxrss``) after the command; the wall time is the whole
process's (interpreter start and imports included, as a user waits for it). A command that does not exit 0 stops the
benchmark. The figures: the peak at the largest K over the peak at the smallest, and the MB each checkpoint added
from the second largest K to the largest (``track`` compares consecutive checkpoints as ``regress`` does, whose
paired bootstrap over MVBench's 4,000 videos is a transient of several hundred MB that one checkpoint never
reaches: from K = 2 on it is in every peak). The runs name no data folder, so ``report`` shows the questions
without their text (its one warning, once per benchmark): the time and memory of reading a data folder's questions
are not measured here.

    python benchmarks/bench_reports_memory.py                                  # --modes 1 --steps 1 2 4
    python benchmarks/bench_reports_memory.py --modes 3 --steps 1 4
    python benchmarks/bench_reports_memory.py --questions 3 --steps 1 2        # a smoke test
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # script_args, bench_report_html, when loaded by path

from bench_report_html import MODES, sizes, write_runs  # noqa: E402
from script_args import at_least  # noqa: E402

COMMANDS = ("report", "track")
# Run in the child: the command, then its own peak resident memory (Linux: KiB) written as JSON to argv[1].
CHILD = """
import json, resource, sys
from fvlm_eval.cli import main
code = main(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "w") as out:
    json.dump({"exit_code": code, "peak_rss_mb": peak * 1024 / 1e6}, out)
sys.exit(code)
"""


def measured(argv: list[str], folder: Path) -> dict:
    """``fvlm-eval argv`` in a fresh process (run in ``folder``): its exit code, wall seconds, peak RSS (MB, 10^6
    bytes) and the warnings it printed; a command that does not exit 0 stops the benchmark with its last lines."""
    figures = folder / f"{argv[0]}.json"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(figures), *argv],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    output = (done.stdout + done.stderr).splitlines()
    if done.returncode != 0 or not figures.is_file():
        tail = "\n".join(output[-15:])
        raise SystemExit(f"fvlm-eval {' '.join(argv)}: exit code {done.returncode}; its last lines:\n{tail}")
    found = json.loads(figures.read_text())
    warnings = [line for line in output if line.startswith("warning:")]
    return {"exit_code": done.returncode, "seconds": seconds, "peak_rss_mb": found["peak_rss_mb"], "warnings": warnings}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", type=at_least(1), default=1, help="1 to 3: coarse_only, coarse_fine, autoregressive")
    parser.add_argument("--steps", type=at_least(1), nargs="+", default=[1, 2, 4], help="the checkpoint counts K")
    parser.add_argument("--questions", type=at_least(1), help="at most this many per benchmark (default: the suite's)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    if args.modes > len(MODES):
        parser.error(f"argument --modes: {args.modes} is above {len(MODES)}")
    root = Path(tempfile.mkdtemp(prefix="bench-reports-memory-"))
    try:
        result = _measure(args, sorted(set(args.steps)), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _measure(args, steps: list[int], root: Path) -> dict:
    """Write the largest K's checkpoints, then for each K (smallest first) move the next ones into the folder
    ``track`` reads and run both commands over the first K."""
    shape = sizes(args.questions)
    start = time.perf_counter()
    runs = write_runs(root / "written", steps[-1], args.modes, shape)
    print(f"{steps[-1]} checkpoint folder(s) of {args.modes} mode(s) written in {time.perf_counter() - start:.0f} s")
    checkpoints = root / "checkpoints"  # holds only the K being measured: track reads all of it
    checkpoints.mkdir()
    rows, placed = [], []
    for count in steps:
        placed += [run.rename(checkpoints / run.name) for run in runs[len(placed) : count]]
        chosen = [str(run) for run in placed]
        work = root / f"k{count}"
        work.mkdir()
        row = {"checkpoints": count}
        row["report"] = measured(["report", *chosen, "--output-dir", str(work / "report"), "--thumbnails", "0"], work)
        row["track"] = measured(["track", str(checkpoints), "--output", str(work / "track")], work)
        rows.append(row)
        print(
            f"{count} checkpoint(s): "
            + "; ".join(
                f"{c} {row[c]['seconds']:.1f} s, peak {row[c]['peak_rss_mb'] / 1000:.2f} GB, "
                f"{len(row[c]['warnings'])} warning line(s)"
                for c in COMMANDS
            )
        )
    first, last = rows[0], rows[-1]
    ratio = {c: last[c]["peak_rss_mb"] / first[c]["peak_rss_mb"] for c in COMMANDS}
    before = rows[-2] if len(rows) > 1 else last  # the growth over the two largest K: track's first pair is not in K=1
    added = last["checkpoints"] - before["checkpoints"]
    per_added = {c: (last[c]["peak_rss_mb"] - before[c]["peak_rss_mb"]) / added if added else None for c in COMMANDS}
    print(
        f"peak memory at {last['checkpoints']} checkpoint(s) over {first['checkpoints']}: "
        + ", ".join(f"{c} {ratio[c]:.2f}x" for c in COMMANDS)
        + (
            f"; per checkpoint added from {before['checkpoints']} to {last['checkpoints']}: "
            + ", ".join(f"{c} {per_added[c]:+.0f} MB" for c in COMMANDS)
            if added
            else ""
        )
    )
    for c in COMMANDS:
        for line in dict.fromkeys(w.split(": ", 2)[-1] for w in last[c]["warnings"]):
            print(f"{c} warned (at {last['checkpoints']} checkpoint(s)): {line}")
    return {
        "modes": args.modes,
        "questions": {benchmark: count for benchmark, (count, _) in shape.items()},
        "rows": rows,
        "peak_ratio": ratio,  # the largest K's over the smallest's
        "peak_mb_per_added_checkpoint": per_added,  # from the second largest K to the largest
        "added_between": [before["checkpoints"], last["checkpoints"]],
    }


if __name__ == "__main__":
    main()
