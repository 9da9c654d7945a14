"""Two output folders of `fvlm-eval demo` (or two run folders) compared file by file, timestamps aside.

A redesign step must not change behaviour: run the demo before and after it and compare.

    fvlm-eval demo --output-dir /tmp/before      # on the old tree
    fvlm-eval demo --output-dir /tmp/after       # on the new one
    python benchmarks/compare_runs.py /tmp/before /tmp/after

Compared: every ``samples.jsonl`` (record by record, every field but ``recorded_at``), every
``summary.json`` and ``settings.json``, and ``report/report.json`` when both folders have one.
Left out, as they differ between any two runs: ``recorded_at``, the summary's ``timing`` and the
manifest's ``created``, ``git_commit`` and ``command_line``; each folder's own path is written
``<root>`` wherever it appears. Exit 0 when equal, 1 with the first differences listed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VOLATILE_RECORD = ("recorded_at",)
VOLATILE_SUMMARY = ("timing",)
VOLATILE_MANIFEST = ("created", "git_commit", "command_line")


def normalised(value, root: str):
    """``value`` with ``root`` written ``<root>`` in every string."""
    if isinstance(value, dict):
        return {k: normalised(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<root>")
    return value


def _records(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{k: v for k, v in row.items() if k not in VOLATILE_RECORD} for row in rows]


def _summary(path: Path) -> dict:
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary = {k: v for k, v in summary.items() if k not in VOLATILE_SUMMARY}
    if isinstance(summary.get("manifest"), dict):
        summary["manifest"] = {k: v for k, v in summary["manifest"].items() if k not in VOLATILE_MANIFEST}
    return summary


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


READERS = {"samples.jsonl": _records, "summary.json": _summary, "settings.json": _json, "report.json": _json}


def compared_files(root: Path) -> dict[str, Path]:
    """relative path -> file, for every file this script compares under ``root``."""
    found = {}
    for name in ("samples.jsonl", "summary.json", "settings.json"):
        for path in root.rglob(name):
            found[str(path.relative_to(root))] = path
    report = root / "report" / "report.json"
    if report.is_file():
        found["report/report.json"] = report
    return found


def differences(a, b, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ, as ``path: a != b`` lines."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in list(dict.fromkeys([*a, *b])):
            if key not in a or key not in b:
                found.append(f"{where}/{key}: only in {'after' if key not in a else 'before'}")
            else:
                found += differences(a[key], b[key], f"{where}/{key}")
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items before, {len(b)} after"]
        return [line for i, (x, y) in enumerate(zip(a, b)) for line in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"]


def compare(before: Path, after: Path) -> list[str]:
    files_before, files_after = compared_files(before), compared_files(after)
    problems = [
        f"{name}: only in {'after' if name not in files_before else 'before'}"
        for name in sorted(set(files_before) ^ set(files_after))
    ]
    for name in sorted(set(files_before) & set(files_after)):
        read = READERS[Path(name).name]
        old = normalised(read(files_before[name]), str(before))
        new = normalised(read(files_after[name]), str(after))
        problems += [f"{name}{line}" for line in differences(old, new)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    problems = compare(args.before.resolve(), args.after.resolve())
    files = len(compared_files(args.before.resolve()))
    if problems:
        print(f"{len(problems)} differences in {files} files compared:")
        for line in problems[:40]:
            print(f"  {line}")
        return 1
    print(f"identical: {files} files compared (records, summaries, settings, report.json), timestamps aside")
    return 0


if __name__ == "__main__":
    sys.exit(main())
