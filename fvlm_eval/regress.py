"""``fvlm-eval regress``: is the current run a real drop from the baseline run, or noise, and could
this comparison have told?

Pairs the two runs question by question (same ids) per benchmark and mode, and per breakdown
value, on one protocol (``protocol``; default: the headline protocol, which must be the same in
both runs): the accuracy change, a seeded paired bootstrap 95% interval (resampling videos), the
one-sided p-value of an exact sign-flip test over videos (``stats.paired_cluster_test``: it
respects that questions on one video move together), the exact McNemar p-value beside it (it
treats questions as independent: shown, never used), the smallest drop the comparison could
detect at ``alpha`` with 80% power, the questions that flipped, and ids present in one run only.

Run folders are read by the one rule of ``freshness.load_run_folder``: the records are the truth
(``correct`` recomputed from ``pred`` and ``gold``), the summary gives the selection of questions
and the headline protocol. Only questions both runs asked alike (equal ``question_sha256``) are
paired: a question changed under the same id is a settings mismatch.

Exit codes tell the outcomes apart: 0 pass; 1 a drop larger than ``max_drop`` points and
significant at ``alpha`` (sign-flip test); 3 the settings differ (benchmark version, frames,
prompt, model family, dtype) unless allowed, or the protocol compared was not measured by one
run, or the headline protocols differ (never allowed: a protocol one run lacks is no drop);
4 not comparable: a folder that is not a run, a record that cannot be read, no (benchmark,
mode) in common, or the runs share fewer than ``min_overlap`` of either run's questions;
5 underpowered: no significant drop, but a drop of ``max_drop`` points could not have been
detected (``allow_underpowered`` makes it a pass with a warning). Comparing nothing is never a pass.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from fvlm_eval import scoring
from fvlm_eval.freshness import RunFolder, load_run_folder, no_records
from fvlm_eval.records import Record, RecordError, read_json, write_json_atomic, write_text_atomic
from fvlm_eval.stats import mcnemar_exact, paired_bootstrap, paired_cluster_test, questions_needed
from fvlm_eval.wording import agreeing, counted

COMPARED_SETTINGS = ("version", "sampling", "subtitles", "prompt", "family", "frame_transform", "dtype")
EXIT_PASS, EXIT_DROP, EXIT_MISMATCH, EXIT_UNUSABLE, EXIT_UNDERPOWERED = 0, 1, 3, 4, 5
POWER = 0.8
DEFAULT_PROTOCOL = "reference"  # when neither run has a summary to name its headline protocol


class RegressUnusable(ValueError):
    """Two runs that cannot be compared; the message says why (exit 4)."""



def _runs(folder: Path, role: str) -> dict[tuple[str, str], Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise RegressUnusable(f"--{role} {folder}: no such folder")
    if (folder / "samples.jsonl").is_file():
        raise RegressUnusable(f"--{role} {folder}: this is one benchmark/mode folder; give the run folder "
                              f"(the --output-dir of `fvlm-eval run`), {folder.parent.parent}")
    found = {(p.parent.parent.name, p.parent.name): p.parent  # a summary without records too: it is warned about
             for name in ("samples.jsonl", "summary.json") for p in sorted(folder.glob(f"*/*/{name}"))}
    shards = sorted(folder.glob("*/*/samples.shard-*.jsonl"))
    if shards:
        raise RegressUnusable(f"--{role} {folder}: holds unmerged shards ({shards[0].name}); run `fvlm-eval merge {folder}` first")
    if not found:
        raise RegressUnusable(f"--{role} {folder}: no <benchmark>/<mode>/samples.jsonl under it; is it the --output-dir of `fvlm-eval run`?")
    return found


def _load(folder: Path) -> RunFolder:
    try:
        return load_run_folder(folder)
    except RecordError as error:
        raise RegressUnusable(str(error)) from error


def unmeasured(run: RunFolder, protocol: str) -> str | None:
    """Why ``run`` cannot be compared on ``protocol`` (it did not measure it), or ``None``.

    Its records decide (a failed question counts as wrong under every protocol and proves
    nothing); a run whose questions all failed is judged by its summary.
    """
    answered = [r for r in run.records.values() if r.error is None]
    lacking = sum(1 for r in answered if protocol not in r.correct)
    if answered:
        if lacking == len(answered):
            return "did not measure it: not in its records"
        return (f"measured it on only {len(answered) - lacking} of its {len(answered)} answered questions (the others were "
                "scored without it, e.g. by a rerun with other flags)") if lacking else None
    if run.summary is not None and protocol not in run.summary.get("accuracy", {}):
        return "did not measure it: not in its summary.json"
    return None


def compare_pair(baseline: dict[str, Record], current: dict[str, Record], protocol: str, seed: int,
                 alpha: float = 0.05, max_drop: float = 1.0) -> dict:
    """Paired statistics over the ids both runs hold (accuracies, change and detectable drop in points;
    ``needed``: about how many questions would detect a drop of ``max_drop`` points)."""
    shared = [i for i in baseline if i in current]
    before = [bool(baseline[i].correct.get(protocol)) for i in shared]
    after = [bool(current[i].correct.get(protocol)) for i in shared]
    groups = [current[i].group for i in shared]
    lost = [i for i, b, a in zip(shared, before, after) if b and not a]
    gained = [i for i, b, a in zip(shared, before, after) if a and not b]
    n = len(shared)
    test = paired_cluster_test(before, after, groups, alpha, POWER)
    low, high = paired_bootstrap(before, after, groups, seed=seed)
    return {"n": n, "videos": test.clusters, "needed": questions_needed(test, max_drop / 100),
            "baseline": 100 * sum(before) / n if n else 0.0, "current": 100 * sum(after) / n if n else 0.0,
            "delta": 100 * test.delta, "ci95": [100 * low, 100 * high],
            "p_drop": test.p_drop, "mcnemar_p": mcnemar_exact(len(lost), len(gained)),
            "stderr": 100 * test.stderr if math.isfinite(test.stderr) else None,
            "detectable_drop": 100 * test.detectable if math.isfinite(test.detectable) else None,
            "lost": lost, "gained": gained}


def _headline(base: RunFolder, cur: RunFolder, where: str, problems: list[str], warnings: list[str]) -> str | None:
    """The protocol both runs headline, or ``None`` (with the problem said) when they differ."""
    found = {role: run.headline_protocol for role, run in (("baseline", base), ("current", cur))}
    if found["baseline"] and found["current"] and found["baseline"] != found["current"]:
        problems.append(f"{where}: the runs headline different protocols (baseline {found['baseline']!r}, current "
                        f"{found['current']!r}); choose one with --protocol")
        return None
    if not found["baseline"] and not found["current"]:
        warnings.append(f"{where}: neither run has a summary naming its headline protocol; comparing "
                        f"{DEFAULT_PROTOCOL!r} (choose with --protocol)")
    return found["baseline"] or found["current"] or DEFAULT_PROTOCOL


def regress(baseline: Path, current: Path, max_drop: float = 1.0, alpha: float = 0.05, allow_mismatch: bool = False,
            seed: int = 0, output: Path | None = None, min_overlap: float = 0.9, protocol: str | None = None,
            allow_underpowered: bool = False) -> int:
    if not 0 < alpha < 1:
        raise ValueError(f"--alpha {alpha}: must be above 0 and below 1")
    if max_drop < 0:
        raise ValueError(f"--max-drop {max_drop}: must be 0 or more")
    base_runs, cur_runs = _runs(baseline, "baseline"), _runs(current, "current")
    common = sorted(set(base_runs) & set(cur_runs))
    if not common:
        raise RegressUnusable(f"the runs share no benchmark/mode: baseline has {', '.join('/'.join(k) for k in base_runs)}; "
                              f"current has {', '.join('/'.join(k) for k in cur_runs)}")
    results, mismatches, protocol_problems, warnings, only, thin = [], [], [], [], {}, []
    for key in common:
        where = f"{key[0]} {key[1]}"
        base_folder, cur_folder = base_runs[key], cur_runs[key]
        base_settings, cur_settings = _settings(base_folder), _settings(cur_folder)
        for name in COMPARED_SETTINGS:
            if base_settings.get(name) != cur_settings.get(name):
                mismatches.append(f"{where}: {name} {base_settings.get(name)!r} vs {cur_settings.get(name)!r}")
        base, cur = _load(base_folder), _load(cur_folder)
        warnings += [f"baseline: {w}" for w in base.warnings] + [f"current: {w}" for w in cur.warnings]
        base_records, cur_records = base.records, cur.records
        changed = sorted(i for i in set(base_records) & set(cur_records)
                         if base_records[i].question_sha256 != cur_records[i].question_sha256)
        if changed:  # the same id, another question: never paired
            mismatches.append(f"{where}: {counted(len(changed), 'question')} {agreeing(len(changed), 'differs', 'differ')} between the runs under the same id "
                              f"(question, options, gold or media changed), e.g. {changed[0]}; they are not compared")
            base_records = {i: r for i, r in base_records.items() if i not in changed}
            cur_records = {i: r for i, r in cur_records.items() if i not in changed}
        shared = len(set(base_records) & set(cur_records))
        if shared < min_overlap * max(len(base_records), len(cur_records)) or shared == 0:
            thin.append(f"{where}: {counted(shared, 'question')} in common, of {len(base_records)} (baseline) and "
                        f"{len(cur_records)} (current)")
        only[where] = {"baseline_only": sorted(set(base_records) - set(cur_records)),
                       "current_only": sorted(set(cur_records) - set(base_records))}
        chosen = protocol or _headline(base, cur, where, protocol_problems, warnings)
        if chosen is None:
            continue
        missing = [f"the {role} run {why}"
                   for role, run in (("baseline", base), ("current", cur)) if (why := unmeasured(run, chosen))]
        if missing:
            protocol_problems.append(f"{where}: protocol {chosen!r}: " + "; ".join(missing) + ": not compared (a protocol one run lacks is "
                                     "a settings difference, not a drop)")
            continue
        if scoring.formulation(chosen) == "cloze" and base_settings.get("cloze_framing") != cur_settings.get("cloze_framing"):
            mismatches.append(f"{where}: cloze_framing {base_settings.get('cloze_framing')!r} vs "
                              f"{cur_settings.get('cloze_framing')!r} (protocol {chosen} is a cloze one)")
        overall = compare_pair(base_records, cur_records, chosen, seed, alpha, max_drop)
        overall["underpowered"] = overall["detectable_drop"] is None or overall["detectable_drop"] > max_drop
        named = {"benchmark": key[0], "mode": key[1], "protocol": chosen, "formulation": scoring.formulation(chosen)}
        rows = [{**named, "breakdown": "", "value": "", **overall}]
        fields = sorted({f for r in cur_records.values() for f in r.fields})
        for field in fields:
            for value in sorted({str(r.fields.get(field, "")) for r in cur_records.values()}):
                pick = lambda records: {i: r for i, r in records.items() if str(r.fields.get(field, "")) == value}
                rows.append({**named, "breakdown": field, "value": value,
                             **compare_pair(pick(base_records), pick(cur_records), chosen, seed, alpha, max_drop)})
        results += rows
    unpaired = sorted(set(base_runs) ^ set(cur_runs))
    for role, runs in (("baseline", base_runs), ("current", cur_runs)):
        warnings += [f"{role}: {why}" for key in unpaired if key in runs and (why := no_records(runs[key]))]
    overall_rows = [r for r in results if not r["breakdown"]]
    failing = [r for r in overall_rows if r["delta"] < -max_drop and r["p_drop"] < alpha]
    underpowered = [r for r in overall_rows if r not in failing and r["underpowered"]]
    if thin:
        code = EXIT_UNUSABLE
    elif protocol_problems or (mismatches and not allow_mismatch):
        code = EXIT_MISMATCH
    elif failing:
        code = EXIT_DROP
    elif underpowered and not allow_underpowered:
        code = EXIT_UNDERPOWERED
    else:
        code = EXIT_PASS
    verdicts = {EXIT_PASS: "pass", EXIT_DROP: "fail: significant drop",
                EXIT_MISMATCH: "fail: protocol not comparable" if protocol_problems else "fail: settings mismatch",
                EXIT_UNUSABLE: f"not comparable: too few questions in common (below {min_overlap:.0%} of a run)",
                EXIT_UNDERPOWERED: f"underpowered: a drop of {counted(max_drop, 'point')} could not have been detected"}
    verdict = verdicts[code]
    if code == EXIT_PASS and underpowered:
        verdict = "pass (underpowered, allowed by --allow-underpowered)"
        warnings.append(f"passed although a drop of {counted(max_drop, 'point')} could not have been detected in "
                        + ", ".join(f"{r['benchmark']} {r['mode']}" for r in underpowered) + " (--allow-underpowered)")
    summary = {"baseline": str(baseline), "current": str(current), "max_drop": max_drop, "alpha": alpha, "power": POWER,
               "seed": seed, "min_overlap": min_overlap, "protocol": protocol, "verdict": verdict, "exit_code": code,
               "too_little_shared": thin, "mismatches": mismatches, "protocol_problems": protocol_problems,
               "underpowered": [f"{r['benchmark']} {r['mode']}" for r in underpowered], "warnings": warnings,
               "unpaired_runs": [" ".join(k) for k in unpaired], "only_in_one_run": only, "comparisons": results}
    text = markdown(summary, failing)
    folder = Path(output) if output else Path(current) / "regress"
    from rich.markdown import Markdown

    from fvlm_eval.terminal import console

    shown = console_text(summary, failing, folder)
    verdict, rest = shown.split("\n", 1)  # the verdict first, on its own (`regress ... | head -1`: a reader that
    console().print(Markdown(verdict))    # leaves after it makes the later lines meet a closed pipe, said on stderr)
    write_text_atomic(folder / "regress.md", text)
    write_json_atomic(folder / "regress.json", summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:  # best-effort: a bad path must not turn the verdict into "cannot write"
        try:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            import sys

            print(f"warning: GITHUB_STEP_SUMMARY={step_summary}: not written ({error.strerror or error}); "
                  "the verdict stands", file=sys.stderr)
    console().print(Markdown(rest.lstrip("\n")), new_line_start=True)
    return code


def _settings(folder: Path) -> dict:
    try:
        settings = read_json(folder / "settings.json") if (folder / "settings.json").is_file() else {}
    except RecordError as error:
        raise RegressUnusable(str(error)) from error
    if not isinstance(settings, dict):
        raise RegressUnusable(f"{folder / 'settings.json'}: not a settings object")
    return settings


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _detectable(row: dict) -> str:
    value = row["detectable_drop"]
    return "none (> 100 points)" if value is None or value > 100 else f"{value:.1f} points"


def _needed(row: dict) -> str:
    return f"about {row['needed']:,} paired questions" if row.get("needed") else "no finite number (--max-drop 0)"


def console_text(summary: dict, failing: list[dict], folder: Path) -> str:
    """What the terminal shows: the verdict, what is wrong, and one line per benchmark and mode (the
    full table, per breakdown, is in ``regress.md``: too wide for a CI log)."""
    full = markdown(summary, failing)
    head = full[: full.index("| benchmark | mode |")]
    lines = [head.rstrip(), ""]
    for r in summary["comparisons"]:
        if r["breakdown"]:
            continue
        flag = " **(significant drop)**" if r in failing else ""
        lines.append(f"- {r['benchmark']} {r['mode']} [{r['protocol']}, {r['formulation']}]: "
                     f"{r['baseline']:.1f}% -> {r['current']:.1f}% "
                     f"({r['delta']:+.1f}{flag}; 95% CI [{r['ci95'][0]:+.1f}, {r['ci95'][1]:+.1f}]; p = {r['p_drop']:.3g}; "
                     f"detectable drop {_detectable(r)}; {counted(r['n'], 'question')} on "
                     f"{counted(r['videos'], 'video')}, {len(r['lost'])} lost, {len(r['gained'])} gained)")
    return "\n".join(lines + ["", f"Per breakdown, and the questions that flipped: {folder / 'regress.md'}"]) + "\n"


def markdown(summary: dict, failing: list[dict]) -> str:
    lines = [f"## fvlm-eval regression: {summary['verdict']}", "",
             f"baseline `{summary['baseline']}` vs current `{summary['current']}`; fail when a drop exceeds "
             f"{counted(summary['max_drop'], 'point')} and an exact sign-flip test over videos (one-sided) gives p < "
             f"{summary['alpha']:g}. *Detectable*: the smallest drop this comparison finds {summary['power']:.0%} of "
             f"the time at that level; above --max-drop it is underpowered. McNemar's p treats questions as "
             f"independent: shown, not used. Bootstrap seed {summary['seed']}.", ""]
    sections = [("too_little_shared", "**Not comparable: the runs share too few questions.**"),
                ("protocol_problems", "**The protocol compared is not measured alike by both runs.**"),
                ("mismatches", "**Settings differ: these runs are not comparable as they stand.**"),
                ("warnings", "**Warnings**")]
    for name, title in sections:
        if summary[name]:
            lines += [title, ""] + [f"- {m}" for m in summary[name]] + [""]
    weak = [r for r in summary["comparisons"] if not r["breakdown"] and r.get("underpowered") and r not in failing]
    if weak:
        lines += [f"**Underpowered: a drop of {counted(summary['max_drop'], 'point')} could not have been detected.**", ""]
        lines += [f"- {r['benchmark']} {r['mode']}: detectable drop {_detectable(r)} "
                  f"({counted(r['n'], 'question')} on {counted(r['videos'], 'video')}, {len(r['lost']) + len(r['gained'])} changed); "
                  f"{_needed(r)} would be needed" for r in weak] + [""]
    lines += ["| benchmark | mode | protocol | breakdown | n (videos) | baseline % | current % | change | "
              "95% CI (paired bootstrap over videos) | p (drop, sign-flip over videos) | detectable drop | McNemar p | lost | gained |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["comparisons"]:
        where = f"{r['breakdown']}={r['value']}" if r["breakdown"] else "**all**"
        flag = " ⚠" if r in failing else ""
        lines.append(f"| {r['benchmark']} | {r['mode']} | {r['protocol']} ({r['formulation']}) | {where} | {r['n']} ({r['videos']}) | "
                     f"{r['baseline']:.1f} | {r['current']:.1f} | {r['delta']:+.1f}{flag} | "
                     f"[{r['ci95'][0]:+.1f}, {r['ci95'][1]:+.1f}] | {r['p_drop']:.3g} | {_points(r['detectable_drop'])} | "
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
