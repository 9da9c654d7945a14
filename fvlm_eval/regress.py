"""``fvlm-eval regress``: is the current run a real drop from the baseline run, or noise?

Pairs the two runs question by question (same ids) per benchmark and mode, and per breakdown
value: accuracy change, a seeded paired bootstrap 95% interval (resampling videos), an exact
McNemar p-value, the questions that flipped, and ids present in only one run. Exit 1 when a
drop exceeds ``max_drop`` points and is significant at ``alpha``; exit 3 on a settings mismatch
(task version, prompt, frames, protocol, dtype) unless allowed; 0 otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

from fvlm_eval.records import latest_by_id, read_json, read_records, write_json_atomic, write_text_atomic
from fvlm_eval.stats import mcnemar_exact, paired_bootstrap

COMPARED_SETTINGS = ("version", "sampling", "subtitles", "prompt", "dtype")
EXIT_PASS, EXIT_DROP, EXIT_MISMATCH = 0, 1, 3


def _runs(folder: Path) -> dict[tuple[str, str], Path]:
    return {(p.parent.parent.name, p.parent.name): p.parent for p in sorted(Path(folder).glob("*/*/samples.jsonl"))}


def compare_pair(baseline: dict[str, dict], current: dict[str, dict], protocol: str, seed: int) -> dict:
    """Paired statistics over the ids both runs hold."""
    shared = [i for i in baseline if i in current]
    before = [bool(baseline[i]["correct"][protocol]) for i in shared]
    after = [bool(current[i]["correct"][protocol]) for i in shared]
    groups = [current[i]["group"] for i in shared]
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
            seed: int = 0, output: Path | None = None) -> int:
    base_runs, cur_runs = _runs(baseline), _runs(current)
    if not base_runs or not cur_runs:
        raise FileNotFoundError(f"no */*/samples.jsonl under {baseline if not base_runs else current}")
    results, mismatches, only = [], [], {}
    for key in sorted(set(base_runs) & set(cur_runs)):
        base_folder, cur_folder = base_runs[key], cur_runs[key]
        base_settings, cur_settings = _settings(base_folder), _settings(cur_folder)
        for name in COMPARED_SETTINGS:
            if base_settings.get(name) != cur_settings.get(name):
                mismatches.append(f"{key[0]} {key[1]}: {name} {base_settings.get(name)!r} vs {cur_settings.get(name)!r}")
        base_records = latest_by_id(read_records(base_folder / "samples.jsonl"))
        cur_records = latest_by_id(read_records(cur_folder / "samples.jsonl"))
        only[f"{key[0]} {key[1]}"] = {"baseline_only": sorted(set(base_records) - set(cur_records)),
                                      "current_only": sorted(set(cur_records) - set(base_records))}
        protocol = base_settings.get("protocol", "reference")
        overall = compare_pair(base_records, cur_records, protocol, seed)
        rows = [{"task": key[0], "mode": key[1], "breakdown": "", "value": "", **overall}]
        fields = sorted({f for r in cur_records.values() for f in r["fields"]})
        for field in fields:
            for value in sorted({r["fields"].get(field, "") for r in cur_records.values()}):
                pick = lambda records: {i: r for i, r in records.items() if r["fields"].get(field, "") == value}
                rows.append({"task": key[0], "mode": key[1], "breakdown": field, "value": value,
                             **compare_pair(pick(base_records), pick(cur_records), protocol, seed)})
        results += rows
    unpaired = sorted(set(base_runs) ^ set(cur_runs))
    failing = [r for r in results if not r["breakdown"] and r["delta"] < -max_drop and r["mcnemar_p"] < alpha]
    code = EXIT_MISMATCH if mismatches and not allow_mismatch else EXIT_DROP if failing else EXIT_PASS
    summary = {"baseline": str(baseline), "current": str(current), "max_drop": max_drop, "alpha": alpha, "seed": seed,
               "verdict": {EXIT_PASS: "pass", EXIT_DROP: "fail: significant drop", EXIT_MISMATCH: "fail: settings mismatch"}[code],
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
    settings = read_json(folder / "settings.json") if (folder / "settings.json").is_file() else {}
    summary_path = folder / "summary.json"
    if summary_path.is_file():
        settings = {**settings, "protocol": read_json(summary_path)["headline_protocol"]}
    return settings


def markdown(summary: dict, failing: list[dict]) -> str:
    lines = [f"## fvlm-eval regression: {summary['verdict']}", "",
             f"baseline `{summary['baseline']}` vs current `{summary['current']}`; fail when a drop exceeds "
             f"{summary['max_drop']} points with McNemar p < {summary['alpha']} (bootstrap seed {summary['seed']}).", ""]
    if summary["mismatches"]:
        lines += ["**Settings differ: these runs are not comparable as they stand.**", ""]
        lines += [f"- {m}" for m in summary["mismatches"]] + [""]
    lines += ["| task | mode | breakdown | n | baseline % | current % | change | 95% CI (paired bootstrap) | McNemar p | lost | gained |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["comparisons"]:
        where = f"{r['breakdown']}={r['value']}" if r["breakdown"] else "**all**"
        flag = " ⚠" if r in failing else ""
        lines.append(f"| {r['task']} | {r['mode']} | {where} | {r['n']} | {r['baseline']:.1f} | {r['current']:.1f} | "
                     f"{r['delta']:+.1f}{flag} | [{r['ci95'][0]:+.1f}, {r['ci95'][1]:+.1f}] | {r['mcnemar_p']:.3g} | "
                     f"{len(r['lost'])} | {len(r['gained'])} |")
    flipped = [r for r in summary["comparisons"] if not r["breakdown"] and (r["lost"] or r["gained"])]
    for r in flipped:
        lines += ["", f"<details><summary>{r['task']} {r['mode']}: {len(r['lost'])} now wrong, {len(r['gained'])} now right</summary>", "",
                  "now wrong: " + (", ".join(r["lost"][:200]) or "none"), "",
                  "now right: " + (", ".join(r["gained"][:200]) or "none"), "", "</details>"]
    for name, ids in summary["only_in_one_run"].items():
        if ids["baseline_only"] or ids["current_only"]:
            lines += ["", f"**{name}: ids in one run only** (not compared): baseline only {len(ids['baseline_only'])}, "
                          f"current only {len(ids['current_only'])}"]
    if summary["unpaired_runs"]:
        lines += ["", "task/mode in one run only: " + ", ".join(summary["unpaired_runs"])]
    return "\n".join(lines) + "\n"
