"""Two output folders of `fvlm-eval demo` (or two run folders) compared file by file, timestamps aside.

A redesign step must not change behaviour: run the demo before and after it and compare.

    fvlm-eval demo --output-dir /tmp/before      # on the old tree
    fvlm-eval demo --output-dir /tmp/after       # on the new one
    python benchmarks/compare_runs.py /tmp/before /tmp/after

Compared: every ``samples.jsonl`` (record by record, every field but ``recorded_at``), every
``summary.json`` and ``settings.json``, and ``report/report.json`` when both folders have one.
Left out, as they differ between any two runs: ``recorded_at``, the summary's ``timing`` and the
manifest's ``created``, ``git_commit`` and ``command_line``; each folder's own path is written
``<root>`` wherever it appears, and so is the model path the manifest records as it was typed
(``--model fvlm-demo/model``, relative to wherever the run was started: ``model.source`` and
``model.weights``) when it names a file or folder inside the compared folder. Exit 0 when equal, 1 with
the first differences listed, 2 with one line when a folder does not exist or holds nothing to compare.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VOLATILE_RECORD = ("recorded_at",)
VOLATILE_SUMMARY = ("timing",)
VOLATILE_MANIFEST = ("created", "git_commit", "command_line")
TYPED_PATHS = ("source", "weights")  # the manifest's model paths, recorded as typed


def normalised(value, root: str):
    """``value`` with ``root`` written ``<root>`` in every string."""
    if isinstance(value, dict):
        return {k: normalised(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<root>")
    return value


def _records(path: Path, root: Path | None = None) -> list[dict]:  # root: as every reader is called
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{k: v for k, v in row.items() if k not in VOLATILE_RECORD} for row in rows]


def typed_path(value, root: Path):
    """A model path as the manifest records it (typed: relative to where the run started, or absolute) written
    ``<root>/...`` when it names something inside ``root``; else ``value`` as it is. Relative to the current
    folder first; else from the last component named as ``root`` is (``fvlm-demo/model``, typed in another
    folder, for ``/tmp/x/fvlm-demo``)."""
    if isinstance(value, list):  # a model of several weight files
        return [typed_path(v, root) for v in value]
    if not isinstance(value, str) or not value:
        return value
    path = Path(value).expanduser()
    try:
        inside = path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        named = [k for k, part in enumerate(path.parts) if part == root.name]
        inside = Path(*path.parts[named[-1] + 1 :]) if named else None
        if inside is None or not (root / inside).exists():
            return value
    return "<root>" if inside == Path(".") else f"<root>/{inside.as_posix()}"


def _summary(path: Path, root: Path) -> dict:
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary = {k: v for k, v in summary.items() if k not in VOLATILE_SUMMARY}
    if isinstance(summary.get("manifest"), dict):
        manifest = {k: v for k, v in summary["manifest"].items() if k not in VOLATILE_MANIFEST}
        if isinstance(manifest.get("model"), dict):
            model = dict(manifest["model"])
            for key in TYPED_PATHS:
                if key in model:
                    model[key] = typed_path(model[key], root)
            manifest["model"] = model
        summary["manifest"] = manifest
    return summary


def _json(path: Path, root: Path | None = None):
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
        old = normalised(read(files_before[name], before), str(before))
        new = normalised(read(files_after[name], after), str(after))
        problems += [f"{name}{line}" for line in differences(old, new)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    before, after = args.before.resolve(), args.after.resolve()
    for typed, root in ((args.before, before), (args.after, after)):
        if not root.is_dir():
            print(f"compare_runs: {typed}: {'not a folder' if root.exists() else 'no such folder'}", file=sys.stderr)
            return 2
        if not compared_files(root):
            print(
                f"compare_runs: nothing to compare: no samples.jsonl, summary.json, settings.json or "
                f"report/report.json under {typed}",
                file=sys.stderr,
            )
            return 2
    problems = compare(before, after)
    files = len(set(compared_files(before)) | set(compared_files(after)))
    if problems:
        print(f"{len(problems)} differences in {files} files compared:")
        for line in problems[:40]:
            print(f"  {line}")
        return 1
    print(f"identical: {files} files compared (records, summaries, settings, report.json), timestamps aside")
    return 0


if __name__ == "__main__":
    sys.exit(main())
