"""``fvlm-eval regress``: is the current run a real drop from the baseline run, or noise?

Pairs the two runs question by question (same ids) per benchmark and mode, and per breakdown
value: accuracy change, a seeded paired bootstrap 95% interval (resampling videos), an exact
McNemar p-value, the questions that flipped, and ids present in only one run. Only the questions
each run's summary counts are compared, and only where both runs asked the same question (equal
``question_sha256``): a question changed under the same id is a settings mismatch.

Exit codes tell the outcomes apart: 0 pass; 1 a drop larger than ``max_drop`` points and
significant at ``alpha``; 3 the settings differ (benchmark version, frames, prompt, model family,
dtype) unless allowed; 4 not comparable: a folder that is not a run, a record that cannot be
read, no (benchmark, mode) in common, or the runs share fewer than ``min_overlap`` of either
run's questions (comparing nothing is never a pass).
"""

from __future__ import annotations

import os
from pathlib import Path

from fvlm_eval.records import Record, RecordError, latest_by_id, read_json, read_records, write_json_atomic, write_text_atomic
from fvlm_eval.stats import mcnemar_exact, paired_bootstrap

COMPARED_SETTINGS = ("version", "sampling", "subtitles", "prompt", "family", "frame_transform", "dtype")
EXIT_PASS, EXIT_DROP, EXIT_MISMATCH, EXIT_UNUSABLE = 0, 1, 3, 4


class RegressUnusable(ValueError):
    """Two runs that cannot be compared; the message says why (exit 4)."""


def _runs(folder: Path, role: str) -> dict[tuple[str, str], Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise RegressUnusable(f"--{role} {folder}: no such folder")
    if (folder / "samples.jsonl").is_file():
        raise RegressUnusable(f"--{role} {folder}: this is one benchmark/mode folder; give the run folder "
                              f"(the --output-dir of `fvlm-eval run`), {folder.parent.parent}")
    found = {(p.parent.parent.name, p.parent.name): p.parent for p in sorted(folder.glob("*/*/samples.jsonl"))}
    shards = sorted(folder.glob("*/*/samples.shard-*.jsonl"))
    if shards:
        raise RegressUnusable(f"--{role} {folder}: holds unmerged shards ({shards[0].name}); run `fvlm-eval merge {folder}` first")
    if not found:
        raise RegressUnusable(f"--{role} {folder}: no <benchmark>/<mode>/samples.jsonl under it; is it the --output-dir of `fvlm-eval run`?")
    return found


def _records(folder: Path) -> dict[str, Record]:
    """The run's records of the questions its summary counts (a later ``--limit`` may have narrowed
    the run: records outside its selection are not compared)."""
    try:
        records = latest_by_id(read_records(folder / "samples.jsonl"))
        summary = read_json(folder / "summary.json") if (folder / "summary.json").is_file() else {}
    except RecordError as error:
        raise RegressUnusable(str(error)) from error
    selected = summary.get("questions") if isinstance(summary, dict) else None
    if isinstance(selected, list):
        records = {i: records[i] for i in selected if i in records}
    return records


def compare_pair(baseline: dict[str, Record], current: dict[str, Record], protocol: str, seed: int) -> dict:
    """Paired statistics over the ids both runs hold."""
    shared = [i for i in baseline if i in current]
    before = [bool(baseline[i].correct.get(protocol)) for i in shared]
    after = [bool(current[i].correct.get(protocol)) for i in shared]
    groups = [current[i].group for i in shared]
    lost = [i for i, b, a in zip(shared, before, after) if b and not a]
    gained = [i for i, b, a in zip(shared, before, after) if a and not b]
    n = len(shared)
    base_acc = sum(before) / n if n else 0.0
    cur_acc = sum(after) / n if n else 0.0
    low, high = paired_bootstrap(before, after, groups, seed=seed)
    return {"n": n, "baseline": 100 * base_acc, "current": 100 * cur_acc, "delta": 100 * (cur_acc - base_acc),
            "ci95": [100 * low, 100 * high], "mcnemar_p": mcnemar_exact(len(lost), len(gained)),
            "lost": lost, "gained": gained}


def regress(baseline: Path, current: Path, max_drop: float = 1.0, alpha: float = 0.05, allow_mismatch: bool = False,
            seed: int = 0, output: Path | None = None, min_overlap: float = 0.9, protocol: str | None = None) -> int:
    base_runs, cur_runs = _runs(baseline, "baseline"), _runs(current, "current")
    common = sorted(set(base_runs) & set(cur_runs))
    if not common:
        raise RegressUnusable(f"the runs share no benchmark/mode: baseline has {', '.join('/'.join(k) for k in base_runs)}; "
                              f"current has {', '.join('/'.join(k) for k in cur_runs)}")
    results, mismatches, only, thin = [], [], {}, []
    for key in common:
        base_folder, cur_folder = base_runs[key], cur_runs[key]
        base_settings, cur_settings = _settings(base_folder), _settings(cur_folder)
        for name in COMPARED_SETTINGS:
            if base_settings.get(name) != cur_settings.get(name):
                mismatches.append(f"{key[0]} {key[1]}: {name} {base_settings.get(name)!r} vs {cur_settings.get(name)!r}")
        base_records, cur_records = _records(base_folder), _records(cur_folder)
        changed = sorted(i for i in set(base_records) & set(cur_records)
                         if base_records[i].question_sha256 != cur_records[i].question_sha256)
        if changed:  # the same id, another question: never paired
            mismatches.append(f"{key[0]} {key[1]}: {len(changed)} questions differ between the runs under the same id "
                              f"(question, options, gold or media changed), e.g. {changed[0]}; they are not compared")
            base_records = {i: r for i, r in base_records.items() if i not in changed}
            cur_records = {i: r for i, r in cur_records.items() if i not in changed}
        shared = len(set(base_records) & set(cur_records))
        if shared < min_overlap * max(len(base_records), len(cur_records)) or shared == 0:
            thin.append(f"{key[0]} {key[1]}: {shared} questions in common, of {len(base_records)} (baseline) and "
                        f"{len(cur_records)} (current)")
        only[f"{key[0]} {key[1]}"] = {"baseline_only": sorted(set(base_records) - set(cur_records)),
                                      "current_only": sorted(set(cur_records) - set(base_records))}
        chosen = protocol or base_settings.get("protocol", "reference")
        overall = compare_pair(base_records, cur_records, chosen, seed)
        rows = [{"benchmark": key[0], "mode": key[1], "protocol": chosen, "breakdown": "", "value": "", **overall}]
        fields = sorted({f for r in cur_records.values() for f in r.fields})
        for field in fields:
            for value in sorted({r.fields.get(field, "") for r in cur_records.values()}):
                pick = lambda records: {i: r for i, r in records.items() if r.fields.get(field, "") == value}
                rows.append({"benchmark": key[0], "mode": key[1], "protocol": chosen, "breakdown": field, "value": value,
                             **compare_pair(pick(base_records), pick(cur_records), chosen, seed)})
        results += rows
    unpaired = sorted(set(base_runs) ^ set(cur_runs))
    failing = [r for r in results if not r["breakdown"] and r["delta"] < -max_drop and r["mcnemar_p"] < alpha]
    if thin:
        code = EXIT_UNUSABLE
    elif mismatches and not allow_mismatch:
        code = EXIT_MISMATCH
    else:
        code = EXIT_DROP if failing else EXIT_PASS
    verdicts = {EXIT_PASS: "pass", EXIT_DROP: "fail: significant drop", EXIT_MISMATCH: "fail: settings mismatch",
                EXIT_UNUSABLE: f"not comparable: too few questions in common (below {min_overlap:.0%} of a run)"}
    summary = {"baseline": str(baseline), "current": str(current), "max_drop": max_drop, "alpha": alpha, "seed": seed,
               "min_overlap": min_overlap, "verdict": verdicts[code], "exit_code": code, "too_little_shared": thin,
               "mismatches": mismatches, "unpaired_runs": [" ".join(k) for k in unpaired], "only_in_one_run": only,
               "comparisons": results}
    text = markdown(summary, failing)
    folder = Path(output) if output else Path(current) / "regress"
    write_text_atomic(folder / "regress.md", text)
    write_json_atomic(folder / "regress.json", summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a") as handle:
            handle.write(text)
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(text))
    return code


def _settings(folder: Path) -> dict:
    try:
        settings = read_json(folder / "settings.json") if (folder / "settings.json").is_file() else {}
        if (folder / "summary.json").is_file():
            settings = {**settings, "protocol": read_json(folder / "summary.json")["headline_protocol"]}
    except (RecordError, KeyError, TypeError) as error:
        raise RegressUnusable(f"{folder}: {error}") from error
    return settings


def markdown(summary: dict, failing: list[dict]) -> str:
    lines = [f"## fvlm-eval regression: {summary['verdict']}", "",
             f"baseline `{summary['baseline']}` vs current `{summary['current']}`; fail when a drop exceeds "
             f"{summary['max_drop']} points with McNemar p < {summary['alpha']} (bootstrap seed {summary['seed']}).", ""]
    if summary["too_little_shared"]:
        lines += ["**Not comparable: the runs share too few questions.**", ""]
        lines += [f"- {m}" for m in summary["too_little_shared"]] + [""]
    if summary["mismatches"]:
        lines += ["**Settings differ: these runs are not comparable as they stand.**", ""]
        lines += [f"- {m}" for m in summary["mismatches"]] + [""]
    lines += ["| benchmark | mode | protocol | breakdown | n | baseline % | current % | change | 95% CI (paired bootstrap) | McNemar p | lost | gained |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["comparisons"]:
        where = f"{r['breakdown']}={r['value']}" if r["breakdown"] else "**all**"
        flag = " ⚠" if r in failing else ""
        lines.append(f"| {r['benchmark']} | {r['mode']} | {r['protocol']} | {where} | {r['n']} | {r['baseline']:.1f} | "
                     f"{r['current']:.1f} | {r['delta']:+.1f}{flag} | [{r['ci95'][0]:+.1f}, {r['ci95'][1]:+.1f}] | "
                     f"{r['mcnemar_p']:.3g} | {len(r['lost'])} | {len(r['gained'])} |")
    flipped = [r for r in summary["comparisons"] if not r["breakdown"] and (r["lost"] or r["gained"])]
    for r in flipped:
        lines += ["", f"<details><summary>{r['benchmark']} {r['mode']}: {len(r['lost'])} now wrong, {len(r['gained'])} now right</summary>", "",
                  "now wrong: " + (", ".join(r["lost"][:200]) or "none"), "",
                  "now right: " + (", ".join(r["gained"][:200]) or "none"), "", "</details>"]
    for name, ids in summary["only_in_one_run"].items():
        if ids["baseline_only"] or ids["current_only"]:
            lines += ["", f"**{name}: ids in one run only** (not compared): baseline only {len(ids['baseline_only'])}, "
                          f"current only {len(ids['current_only'])}"]
    if summary["unpaired_runs"]:
        lines += ["", "benchmark/mode in one run only: " + ", ".join(summary["unpaired_runs"])]
    return "\n".join(lines) + "\n"
