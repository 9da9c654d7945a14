"""Published figures to set beside the runs: ``baselines/published.csv`` (shipped), or a CSV of the user's."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fvlm_eval.reports import ReportError
from fvlm_eval.tasks import BENCHMARKS


@dataclass(frozen=True)
class Baseline:
    model: str
    benchmark: str
    mode: str
    breakdown: str
    value: str
    accuracy: float
    protocol: str
    source: str

    @property
    def label(self) -> str:
        return f"{self.model} {self.mode}".strip() + " (published)"


def baselines_file() -> Path:
    return Path(str(resources.files("fvlm_eval.reports") / "baselines" / "published.csv"))


COLUMNS = ("model", "benchmark", "mode", "breakdown", "value", "accuracy", "protocol", "source")


def read_baselines(path: Path | None) -> list[Baseline]:
    path = Path(path) if path else baselines_file()
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's byte-order mark
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = reader.fieldnames or []
    except OSError as error:
        raise ReportError(f"baselines {path}: {error.strerror or error}") from error
    except (UnicodeDecodeError, csv.Error) as error:
        raise ReportError(f"baselines {path}: not a UTF-8 CSV file ({type(error).__name__})") from error
    missing = [column for column in COLUMNS if column not in header]
    if missing:  # a wrong header read as no rows: every published figure gone from the report, without a word
        lacks = f"its header lacks {', '.join(missing)}" if header else "it is empty"
        raise ReportError(
            f"baselines {path}: {lacks} (the columns are {','.join(COLUMNS)}, as in the shipped "
            f"{baselines_file().name})"
        )
    result = []
    for number, r in enumerate(rows, start=2):
        try:
            baseline = Baseline(
                r["model"],
                r["benchmark"],
                r["mode"] or "",
                r["breakdown"] or "",
                r["value"] or "",
                float(r["accuracy"]),
                r["protocol"],
                r["source"],
            )
            if baseline.benchmark not in BENCHMARKS:
                raise ValueError(f"benchmark {baseline.benchmark!r} is not one of {', '.join(BENCHMARKS)}")
            if not 0.0 <= baseline.accuracy <= 100.0:  # also refuses nan
                raise ValueError(f"accuracy {r['accuracy']!r} is not a percentage")
            if not baseline.model:
                raise ValueError("no model named")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ReportError(
                f"baselines {path}:{number}: not a baseline row ({type(error).__name__}: {error})"
            ) from error
        result.append(baseline)
    return result
