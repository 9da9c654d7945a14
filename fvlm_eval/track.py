"""``fvlm-eval track``: accuracy against training step, over the runs of many checkpoints.

Each run folder (the ``--output-dir`` of ``fvlm-eval run``) is one checkpoint; its training step
is the manifest's ``step`` (``run --step N``, ``evaluate(step=N)``) or, failing that, read from
the folder's name (``step_9000``, ``checkpoint-9000``, ``ckpt9000``, ``global_step9000``,
``iter_9000``, or just ``9000``). Per benchmark, mode and protocol: the accuracy at each step with its
95% interval and the chance level (``track.png``, ``track.md``, ``track.csv``); the best
checkpoint, with what its number is worth (the maximum of noisy accuracies is biased upward) and
the honest alternative computed on the same records: the best on one half of the videos,
confirmed on the other half; and each checkpoint against the one before it with the paired
statistics of ``fvlm-eval regress`` (``regress.compare_pair``: only questions both runs asked
alike are paired).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.report import formulation_of, save_figure
from fvlm_eval.wording import counted

STEP_WORDS = r"(?:global[_-]?step|step|checkpoint|ckpt|iteration|iter)[_-]?(\d+)"
DEFAULT_SEED = 0


class TrackError(ValueError):
    """Runs that cannot be tracked (not a run folder, no step, two runs at one step): one line."""


@dataclass(frozen=True)
class Checkpoint:
    step: int
    folder: Path
    step_from: str  # "manifest" or "folder name"
    summaries: dict  # (benchmark, mode) -> summary.json


@dataclass(frozen=True)
class Point:
    step: int
    run: str
    benchmark: str
    mode: str
    protocol: str
    formulation: str
    accuracy: float | None
    low: float | None
    high: float | None
    correct: int
    n: int
    chance: float | None


def step_from_name(name: str) -> int | None:
    """The training step in a folder name (the last number after a step word, or a name that is
    only a number), or None."""
    found = re.findall(STEP_WORDS, name, flags=re.IGNORECASE)
    if found:
        return int(found[-1])
    return int(name) if name.isdigit() else None


def _summaries(folder: Path) -> dict:
    from fvlm_eval.records import read_json

    found = {}
    for path in sorted(folder.glob("*/*/summary.json")):
        try:
            summary = read_json(path)
        except Exception as error:  # a summary that cannot be read names its file
            raise TrackError(f"{path}: not a readable summary ({type(error).__name__}: {error})") from error
        if not isinstance(summary, dict) or not isinstance(summary.get("accuracy"), dict):
            raise TrackError(f"{path}: not a summary written by fvlm-eval (no 'accuracy')")
        found[(path.parent.parent.name, path.parent.name)] = summary
    return found


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders among ``paths``: each a run, or a folder whose sub-folders are runs."""
    if not paths:
        raise TrackError("no runs given: pass run folders (the --output-dir of fvlm-eval run) or a folder of them")
    runs = []
    for path in map(Path, paths):
        if path.is_file():
            raise TrackError(f"{path}: a file, not a folder; give run folders (the --output-dir of fvlm-eval run) "
                             "or a folder of them")
        if not path.is_dir():
            raise TrackError(f"{path}: no such folder")
        if list(path.glob("*/*/summary.json")):
            runs.append(path)
            continue
        children = sorted(p for p in path.iterdir() if p.is_dir() and list(p.glob("*/*/summary.json")))
        if not children:
            raise TrackError(f"{path}: not a run folder (no <benchmark>/<mode>/summary.json) and no sub-folder is one; "
                             "give the --output-dir of each `fvlm-eval run`")
        runs += children
    return list(dict.fromkeys(runs))


def checkpoint(folder: Path) -> Checkpoint:
    summaries = _summaries(folder)
    steps = {s.get("manifest", {}).get("step") for s in summaries.values()} - {None}
    if len(steps) > 1:
        raise TrackError(f"{folder}: its summaries name different steps ({', '.join(map(str, sorted(steps)))}); "
                         "one run folder is one checkpoint")
    if steps:
        return Checkpoint(int(steps.pop()), folder, "manifest", summaries)
    step = step_from_name(folder.name)
    if step is None:
        raise TrackError(f"{folder}: no training step: neither its manifest (fvlm-eval run --step N) nor its name "
                         "(step_9000, checkpoint-9000, ckpt9000, ...) gives one")
    return Checkpoint(step, folder, "folder name", summaries)


def load_checkpoints(paths: list[Path]) -> list[Checkpoint]:
    found = sorted((checkpoint(run) for run in find_runs(paths)), key=lambda c: c.step)
    for before, after in zip(found, found[1:]):
        if before.step == after.step:
            raise TrackError(f"two runs at step {before.step}: {before.folder} and {after.folder}; track one of them")
    return found


def points(checkpoints: list[Checkpoint]) -> list[Point]:
    rows = []
    for ckpt in checkpoints:
        for (benchmark, mode), summary in sorted(ckpt.summaries.items()):
            for protocol, block in summary["accuracy"].items():
                interval = block.get("ci95") or (None, None)
                rows.append(Point(ckpt.step, str(ckpt.folder), benchmark, mode, protocol, formulation_of(protocol, block),
                                  block.get("accuracy"), interval[0], interval[1], int(block.get("correct") or 0),
                                  int(block.get("n") or 0), block.get("chance")))
    return rows


def chosen_protocols(checkpoints: list[Checkpoint], requested: list[str] | None) -> list[str]:
    """The protocols drawn and compared: those asked for, else every run's headline (and
    ``generated`` when recorded)."""
    measured = {p for c in checkpoints for s in c.summaries.values() for p in s["accuracy"]}
    if requested:
        missing = [p for p in requested if p not in measured]
        if missing:
            raise TrackError(f"--protocol {', '.join(missing)}: no run measured it; measured: {', '.join(sorted(measured))}")
        return list(dict.fromkeys(requested))
    found = [s.get("headline_protocol") for c in checkpoints for s in c.summaries.values()]
    found += ["generated"] if "generated" in measured else []
    return [p for p in dict.fromkeys(found) if p]


# ----- statistics -------------------------------------------------------------------------------

def _records(folder: Path) -> dict:
    """The records a summary counts (id -> record), read by the harness's one rule when present."""
    try:
        from fvlm_eval.freshness import load_run_folder
    except ImportError:
        load_run_folder = None
    if load_run_folder is not None:
        return dict(load_run_folder(folder).records)
    from fvlm_eval.records import latest_by_id, read_json, read_records

    records = latest_by_id(read_records(folder / "samples.jsonl"))
    order = read_json(folder / "summary.json").get("questions") or list(records)
    return {i: records[i] for i in order if i in records}


def measured(record, protocol: str) -> bool:
    """Whether ``record`` measured ``protocol``: a failed question counts as wrong under every
    protocol; otherwise the protocol must have a prediction (a plain run has no ``circular_*``)."""
    return record.error is not None or protocol in (record.pred or {})


def compare(before: dict, after: dict, protocol: str, seed: int, alpha: float) -> dict:
    """``regress``'s paired statistics over the questions both runs asked alike and both measured
    under ``protocol``."""
    shared = [i for i in before if i in after and before[i].question_sha256 == after[i].question_sha256
              and measured(before[i], protocol) and measured(after[i], protocol)]
    base = {i: before[i] for i in shared}
    cur = {i: after[i] for i in shared}
    try:
        from fvlm_eval.regress import compare_pair
    except ImportError:
        compare_pair = None
    if compare_pair is not None:
        try:
            return dict(compare_pair(base, cur, protocol, seed, alpha=alpha))
        except TypeError:  # an older signature
            return dict(compare_pair(base, cur, protocol, seed))
    from fvlm_eval.stats import mcnemar_exact, paired_bootstrap

    b = [bool(base[i].correct.get(protocol)) for i in shared]
    a = [bool(cur[i].correct.get(protocol)) for i in shared]
    low, high = paired_bootstrap(b, a, [cur[i].group for i in shared], seed=seed)
    n = len(shared)
    return {"n": n, "baseline": 100 * sum(b) / n if n else 0.0, "current": 100 * sum(a) / n if n else 0.0,
            "delta": 100 * (sum(a) - sum(b)) / n if n else 0.0, "ci95": [100 * low, 100 * high],
            "mcnemar_p": mcnemar_exact(sum(x and not y for x, y in zip(b, a)), sum(y and not x for x, y in zip(b, a)))}


def half_of(group: str) -> int:
    """0 or 1: a fixed split of the videos (a question goes with its video), the same for every run."""
    return hashlib.sha256(group.encode()).digest()[0] & 1


def split_halves(records: dict[str, dict], protocol: str) -> dict:
    """Select the best checkpoint on half 0 of the videos, report it on half 1 (and the reverse):
    per step, accuracy on each half; the selected step and its confirmation accuracy."""
    per_step = {}
    for step, by_id in records.items():
        halves = [[0, 0], [0, 0]]
        for record in by_id.values():
            if not measured(record, protocol):
                continue
            half = halves[half_of(record.group)]
            half[0] += bool(record.correct.get(protocol))
            half[1] += 1
        per_step[step] = [h[0] / h[1] if h[1] else None for h in halves] + [halves[0][1], halves[1][1]]
    usable = {s: v for s, v in per_step.items() if v[0] is not None and v[1] is not None}
    if not usable:
        sizes = [sum(v[2] for v in per_step.values()), sum(v[3] for v in per_step.values())]
        return {"select_on": "videos of half A", "selected_step": None, "selection_accuracy": None,
                "confirmation_accuracy": None, "confirmation_n": 0, "reverse_selected_step": None,
                "reverse_confirmation_accuracy": None, "half_sizes": sizes} if per_step else {}
    chosen = max(usable, key=lambda s: (usable[s][0], -s))
    reverse = max(usable, key=lambda s: (usable[s][1], -s))
    return {"select_on": "videos of half A", "selected_step": chosen, "selection_accuracy": usable[chosen][0],
            "confirmation_accuracy": usable[chosen][1], "confirmation_n": usable[chosen][3],
            "reverse_selected_step": reverse, "reverse_confirmation_accuracy": usable[reverse][0]}


# ----- the report -------------------------------------------------------------------------------

def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _points_text(value) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def analyse(checkpoints: list[Checkpoint], protocols: list[str], seed: int, alpha: float) -> dict:
    rows = points(checkpoints)
    keys = sorted({(c, m) for ck in checkpoints for (c, m) in ck.summaries})
    best, pairs, halves = [], [], []
    for benchmark, mode in keys:
        present = [c for c in checkpoints if (benchmark, mode) in c.summaries]
        records = {c.step: _records(c.folder / benchmark / mode) for c in present}
        for protocol in protocols:
            line = [p for p in rows if (p.benchmark, p.mode, p.protocol) == (benchmark, mode, protocol) and p.accuracy is not None]
            measured_at = {p.step for p in line}
            if not line:
                continue
            top = max(line, key=lambda p: (p.accuracy, -p.step))
            best.append({"benchmark": benchmark, "mode": mode, "protocol": protocol, "step": top.step,
                         "accuracy": top.accuracy, "low": top.low, "high": top.high, "n": top.n, "chance": top.chance,
                         "checkpoints": len(line)})
            split = split_halves({s: r for s, r in records.items() if s in measured_at}, protocol) if len(line) > 1 else {}
            if split:
                halves.append({"benchmark": benchmark, "mode": mode, "protocol": protocol, **split})
            for before, after in zip(present, present[1:]):
                missing = [c.step for c in (before, after) if c.step not in measured_at]
                if missing:  # a run that did not measure the protocol (a plain run has no circular_*): no pair
                    pairs.append({"benchmark": benchmark, "mode": mode, "protocol": protocol, "from": before.step,
                                  "to": after.step, "n": None, "not_measured": missing})
                    continue
                result = compare(records[before.step], records[after.step], protocol, seed, alpha)
                pairs.append({"benchmark": benchmark, "mode": mode, "protocol": protocol, "from": before.step,
                              "to": after.step, **{k: v for k, v in result.items() if k not in ("lost", "gained")},
                              "lost": len(result.get("lost") or ()), "gained": len(result.get("gained") or ())})
    return {"points": rows, "best": best, "pairs": pairs, "halves": halves}


def verdict(pair: dict, alpha: float) -> str:
    """In words: the clustered test's p-value for a drop decides a drop; the interval tells a gain."""
    if pair.get("not_measured"):
        steps = " and ".join(str(s) for s in pair["not_measured"])
        return f"not compared: step {steps} did not measure {pair['protocol']}"
    if not pair.get("n"):
        return "no shared questions"
    low, high = (pair.get("ci95") or [None, None])[:2]
    if pair.get("p_drop") is not None and pair["p_drop"] < alpha:
        return "significant drop"
    if low is not None and low > 0:
        return "gain (95% interval above 0)"
    if high is not None and high < 0:
        return "drop (95% interval below 0)"
    return "no significant change"


CAVEAT = ("The best checkpoint's figure is the maximum of {k} noisy accuracies: it is biased upward (even "
          "checkpoints that are all equally good would show a best one above their common accuracy), and its "
          "interval does not account for the choice. The honest way: choose the checkpoint on one subset of the "
          "questions and report it on another. Above, under each benchmark, the checkpoints are compared on half A of the videos "
          "(a fixed split by video, so that no video is in both halves) and the chosen one is reported on half B; "
          "for a final figure, choose on a `--limit` subset and confirm on the full benchmark, or on another "
          "benchmark split.")


def markdown(checkpoints: list[Checkpoint], analysis: dict, protocols: list[str], alpha: float) -> str:
    out = ["# Accuracy against training step", ""]
    out += ["| step | run | step read from |", "|---:|---|---|"]
    out += [f"| {c.step} | `{c.folder}` | {c.step_from} |" for c in checkpoints]
    out += ["", f"Protocols drawn and compared: {', '.join(f'`{p}`' for p in protocols)} "
            "(every protocol is in `track.csv`). Cells: accuracy % [95% interval] (questions); chance beside.", ""]
    keys = sorted({(p.benchmark, p.mode) for p in analysis["points"]})
    for benchmark, mode in keys:
        out += [f"## {benchmark} · {mode}", ""]
        header = "| step | " + " | ".join(protocols) + " | chance |"
        out += [header, "|---:|" + "---|" * (len(protocols) + 1)]
        for ckpt in checkpoints:
            cells, chance = [], None
            for protocol in protocols:
                found = [p for p in analysis["points"] if (p.step, p.benchmark, p.mode, p.protocol) ==
                         (ckpt.step, benchmark, mode, protocol)]
                if found:
                    p = found[0]
                    chance = chance if chance is not None else p.chance
                    cells.append(f"{_pct(p.accuracy)} [{_pct(p.low)}, {_pct(p.high)}] ({p.n})")
                else:
                    cells.append("not measured")
            if (benchmark, mode) in ckpt.summaries or any(c != "not measured" for c in cells):
                out.append(f"| {ckpt.step} | " + " | ".join(cells) + f" | {_pct(chance)} |")
        out.append("")
        for row in [b for b in analysis["best"] if (b["benchmark"], b["mode"]) == (benchmark, mode)]:
            out.append(f"- {best_words(row)}: step **{row['step']}**, {_pct(row['accuracy'])}% "
                       f"[{_pct(row['low'])}, {_pct(row['high'])}] of {counted(row['n'], 'question')}, chance {_pct(row['chance'])}% "
                       f"({best_caveat(row)})")
        for row in [h for h in analysis["halves"] if (h["benchmark"], h["mode"]) == (benchmark, mode)]:
            if row["selected_step"] is None:
                sizes = row.get("half_sizes") or [0, 0]
                out.append(f"- chosen on half A (`{row['protocol']}`): n/a: no checkpoint has questions in both halves "
                           f"of the videos (half A {sizes[0]}, half B {sizes[1]} questions over all checkpoints)")
                continue
            out.append(f"- chosen on half A (`{row['protocol']}`): step {row['selected_step']} "
                       f"({_pct(row['selection_accuracy'])}% there), confirmed on half B: "
                       f"**{_pct(row['confirmation_accuracy'])}%** of {counted(row['confirmation_n'], 'question')}; "
                       f"chosen on half B instead: step {row['reverse_selected_step']}, "
                       f"{_pct(row['reverse_confirmation_accuracy'])}% on half A")
        pairs = [p for p in analysis["pairs"] if (p["benchmark"], p["mode"]) == (benchmark, mode)]
        if pairs:
            out += ["", "| from → to | protocol | paired questions | change (points) | 95% interval | p (drop) | "
                    "McNemar p | smallest detectable drop (points) | verdict |", "|---|---|---:|---:|---|---:|---:|---:|---|"]
            for p in pairs:
                low, high = (p.get("ci95") or [None, None])[:2]
                interval = "n/a" if low is None else f"[{low:+.1f}, {high:+.1f}]"
                p_drop = "n/a" if p.get("p_drop") is None else f"{p['p_drop']:.3g}"
                mcnemar = "n/a" if p.get("mcnemar_p") is None else f"{p['mcnemar_p']:.3g}"
                detectable = "n/a" if p.get("detectable_drop") is None else f"{p['detectable_drop']:.1f}"
                if p.get("not_measured"):
                    out.append(f"| {p['from']} → {p['to']} | {p['protocol']} | n/a | n/a | n/a | n/a | n/a | n/a "
                               f"| {verdict(p, alpha)} |")
                    continue
                out.append(f"| {p['from']} → {p['to']} | {p['protocol']} | {p.get('n', 0)} | {_points_text(p.get('delta'))} "
                           f"| {interval} | {p_drop} | {mcnemar} | {detectable} | {verdict(p, alpha)} |")
        out.append("")
    count = max([row["checkpoints"] for row in analysis["best"]] or [len(checkpoints)])
    caveat = CAVEAT.format(k=count) if count > 1 else (
        "Each protocol above was measured by one checkpoint only: there is nothing to choose between, so its figure "
        "carries no selection bias; give the runs of more checkpoints to track a curve.")
    out += ["## Reading the best checkpoint", "", caveat, "",
            f"Consecutive checkpoints are compared as `fvlm-eval regress` compares two runs (paired by question, "
            f"resampling videos; alpha {alpha:g}).", ""]
    return "\n".join(out)


def best_words(row: dict) -> str:
    return f"best on `{row['protocol']}`" if row["checkpoints"] > 1 else f"only checkpoint measuring `{row['protocol']}`"


def best_caveat(row: dict) -> str:
    """What the best checkpoint's figure is worth: the maximum of k noisy accuracies (biased
    upward), or, with one checkpoint, nothing chosen."""
    if row["checkpoints"] > 1:
        return f"the maximum of {row['checkpoints']} checkpoints: biased upward, see below"
    return "one checkpoint measured it: nothing to choose between, so no selection bias"


def csv_text(analysis: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", "run", "benchmark", "mode", "protocol", "formulation", "accuracy", "ci95_low", "ci95_high",
                     "correct", "n", "chance"])
    for p in analysis["points"]:
        writer.writerow([p.step, p.run, p.benchmark, p.mode, p.protocol, p.formulation,
                         "" if p.accuracy is None else f"{p.accuracy:.6f}", "" if p.low is None else f"{p.low:.6f}",
                         "" if p.high is None else f"{p.high:.6f}", p.correct, p.n,
                         "" if p.chance is None else f"{p.chance:.6f}"])
    return buffer.getvalue()


def chart(analysis: dict, protocols: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(p.benchmark, p.mode) for p in analysis["points"]})
    columns = min(3, len(keys)) or 1
    rows = (len(keys) + columns - 1) // columns or 1
    figure, axes = plt.subplots(rows, columns, figsize=(max(6.5, 5.6 * columns), 4.4 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for index, (benchmark, mode) in enumerate(keys):
        axis = axes[index // columns][index % columns]
        chance = None
        for number, protocol in enumerate(protocols):
            line = sorted((p for p in analysis["points"] if (p.benchmark, p.mode, p.protocol) == (benchmark, mode, protocol)
                           and p.accuracy is not None), key=lambda p: p.step)
            if not line:
                continue
            steps = [p.step for p in line]
            colour = colours(number % 10)
            axis.plot(steps, [100 * p.accuracy for p in line], marker="o", color=colour, label=protocol)
            axis.fill_between(steps, [100 * (p.low if p.low is not None else p.accuracy) for p in line],
                              [100 * (p.high if p.high is not None else p.accuracy) for p in line], color=colour, alpha=0.15)
            best = max(line, key=lambda p: (p.accuracy, -p.step))
            axis.plot([best.step], [100 * best.accuracy], marker="*", markersize=14, color=colour, linestyle="none")
            chance = chance if chance is not None else line[0].chance
        if chance is not None:
            axis.axhline(100 * chance, color="grey", linestyle="--", linewidth=1, label=f"chance {100 * chance:.1f}%")
        axis.set_title(f"{benchmark} · {mode}")
        axis.set_xlabel("training step")
        axis.set_ylabel("accuracy % (95% interval)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    for index in range(len(keys), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle("accuracy against training step, 95% intervals\n★ the best checkpoint (its figure is biased upward: see track.md)",
                   fontsize=10)
    figure.tight_layout()
    save_figure(figure, path, dpi=110)
    plt.close(figure)


def default_output(paths: list[Path]) -> Path:
    first = Path(paths[0])
    return (first if not list(first.glob("*/*/summary.json")) else first.parent) / "track"


def track(paths: list[Path], output: Path | None = None, protocols: list[str] | None = None, alpha: float = 0.05,
          seed: int = DEFAULT_SEED) -> tuple[list[Path], dict]:
    """Write ``track.md``, ``track.csv``, ``track.png`` (and ``track.json``); returns the paths
    and the analysis (points, best, pairs, halves)."""
    from fvlm_eval.records import write_json_atomic, write_text_atomic

    checkpoints = load_checkpoints([Path(p) for p in paths])
    chosen = chosen_protocols(checkpoints, protocols)
    analysis = analyse(checkpoints, chosen, seed, alpha)
    output = Path(output) if output else default_output(list(paths))
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "track.md", output / "track.csv", output / "track.png", output / "track.json"]
    write_text_atomic(written[0], markdown(checkpoints, analysis, chosen, alpha))
    write_text_atomic(written[1], csv_text(analysis))
    chart(analysis, chosen, written[2])
    write_json_atomic(written[3], {"protocols": chosen, "alpha": alpha, "seed": seed,
                                   "checkpoints": [{"step": c.step, "run": str(c.folder), "step_from": c.step_from}
                                                   for c in checkpoints],
                                   "best": analysis["best"], "halves": analysis["halves"], "pairs": analysis["pairs"]})
    return written, analysis


__all__ = ["TrackError", "best_caveat", "measured", "find_runs", "load_checkpoints", "step_from_name", "track"]
