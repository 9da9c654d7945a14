"""Video-MME (lmms-lab/Video-MME, config ``videomme``, split ``test``): 900 videos x 3 questions.

Annotations ``videomme/test-00000-of-00001.parquet`` (the hub's shard set: ``rows.hub_shards``; string
columns; ``options`` a list of four strings already prefixed ``"A. "``; ``answer`` a letter). Media
``data/<videoID>.mp4`` (some ``.MP4`` or ``.mkv``); subtitles ``subtitle/<videoID>.srt`` (used as context with
``subtitles=True``, by the official rule: only the lines shown at the sampled frames' times, tags
such as ``<font>`` stripped). Older revisions have other row counts: the loader reports anything
but 2700. A repeated ``question_id`` is recorded under ``<id>#2`` with a note.
Frames: 64 spread uniformly over the whole video (fVLM's maximum). The three questions of a
video share one decode and one vision encode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from fvlm_eval.files import broken_link, wide_encoding
from fvlm_eval.media import MediaError, present, safe_join
from fvlm_eval.tasks.base import Benchmark, HubSource, Loaded, option_lines
from fvlm_eval.tasks.rows import load_hub_parquet
from fvlm_eval.types import LETTERS, Media, Option, Question, Sampling

ANNOTATIONS = "videomme"  # the config's folder: test-00000-of-00001.parquet
VIDEO_SUFFIXES = (".mp4", ".MP4", ".mkv")
COLUMNS = (
    "video_id",
    "duration",
    "domain",
    "sub_category",
    "videoID",
    "question_id",
    "task_type",
    "question",
    "options",
    "answer",
)
TASK_TYPES = (
    "Action Reasoning",
    "Action Recognition",
    "Attribute Perception",
    "Counting Problem",
    "Information Synopsis",
    "OCR Problems",
    "Object Reasoning",
    "Object Recognition",
    "Spatial Perception",
    "Spatial Reasoning",
    "Temporal Perception",
    "Temporal Reasoning",
)
EXPECTED_ROWS = 2700
DURATIONS = {"short": 900, "medium": 900, "long": 900}


@dataclass
class VideoMME(Benchmark):
    name: str = "videomme"
    title: str = "Video-MME"
    version: str = "2"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 64))
    breakdowns: tuple[str, ...] = ("duration", "domain", "sub_category", "task_type")
    category_field: str = "duration"
    main_breakdown: str = "task_type"
    subtitles: bool = False
    run_options: ClassVar[tuple[str, ...]] = ("subtitles",)

    def hub(self) -> HubSource:
        return HubSource(
            "lmms-lab/Video-MME",
            "main",
            ("videomme/*", "videos_chunked_*.zip", "subtitle.zip"),
            ("videos_chunked_*.zip", "subtitle.zip"),
        )

    def expected(self) -> dict[str, int]:
        return dict(DURATIONS)

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "subtitles": self.subtitles}

    def prompt(self, question: Question, timestamps: tuple[float, ...] | None = None) -> str:
        return subtitle_context(question, timestamps) + question.question + "\n" + option_lines(question)

    def cloze_prompt(self, question: Question, timestamps: tuple[float, ...] | None = None) -> str:
        return subtitle_context(question, timestamps) + f"Question: {question.question}"

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        from fvlm_eval.tasks.fixtures.videomme import write_videomme

        return write_videomme(Path(data_dir), faults)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        return load_hub_parquet(
            self,
            root / ANNOTATIONS,
            "test",
            COLUMNS,
            EXPECTED_ROWS,
            ("Video-MME", "Video-MME test parquet"),
            lambda index, row, path, sha: self._question(root, index, row, path, sha),
        )

    def _question(self, root: Path, index: int, row: dict, path: Path, sha: str) -> Question:
        video_id = str(row["videoID"])
        qid = f"videomme/{row['question_id']}"
        fields = tuple((name, str(row[name])) for name in self.breakdowns)
        where = f"{path.name}[{index}]"
        options, problem = _options(row["options"])
        gold = str(row["answer"]).strip()
        if problem is None and gold not in [o.letter for o in options]:
            problem = f"answer {gold!r} is not one of the option letters"
        if problem is None and not isinstance(row["question"], str):
            problem = f"question is not a string: {row['question']!r}"
        if problem is None and not (isinstance(row["question_id"], str) and row["question_id"].strip()):
            problem = f"question_id is not a string: {row['question_id']!r}"
        error = f"malformed row {where}: {problem}" if problem else None
        subtitles: tuple = ()
        try:
            media = Media(
                "video",
                f"videomme/{video_id}",
                str(_find_video(root, video_id)),
                looked_in=tuple(f"data/{video_id}{s}" for s in VIDEO_SUFFIXES),
            )
            if self.subtitles:
                subtitles = _subtitles(root, video_id)
        except (MediaError, ValueError) as trouble:
            media, error = Media("video", f"videomme/{video_id}", None), error or f"{where}: {trouble}"
        return Question(
            qid,
            self.name,
            media,
            str(row["question"]),
            options,
            gold if not problem else None,
            f"videomme/{video_id}",
            fields=fields,
            error=error,
            source=path.name,
            source_sha256=sha,
            subtitles=subtitles,
        )


def _options(raw) -> tuple[tuple[Option, ...], str | None]:
    """``["A. Apples.", ...]`` -> options A.. with the ``"A. "`` prefix taken off (``Option.answer`` puts it
    back). A list written as text (a converted parquet) is refused as such: read as a list, it was one option
    per character ("90 options: at most 10")."""
    if raw is None or isinstance(raw, (str, bytes, dict)) or not hasattr(raw, "__len__"):
        shown = f"the text {raw!r}" if isinstance(raw, str) else repr(raw)
        return (), f"options must be a list of strings, not {shown}"[:200]
    texts = [str(x) for x in list(raw)]
    if len(texts) > len(LETTERS):
        return (), f"{len(texts)} options: at most {len(LETTERS)} are supported"
    options = []
    for i, text in enumerate(texts):
        prefix = f"{LETTERS[i]}. "
        if not text.startswith(prefix):
            return (), f"option {i} {text!r} does not start with {prefix!r}"
        options.append(Option(LETTERS[i], text[len(prefix) :]))
    if len(options) < 2:
        return (), "fewer than two options"
    return tuple(options), None


def _find_video(root: Path, video_id: str) -> Path:
    """``data/<videoID>`` with the first suffix that exists (else ``.mp4``: decoding says it is missing)."""
    candidates = [safe_join(root, f"data/{video_id}{suffix}") for suffix in VIDEO_SUFFIXES]
    return next((c for c in candidates if present(c, "is_file")), candidates[0])


_TIMING = re.compile(r"^\s*(\d+):(\d\d):(\d\d)[,.](\d+)\s*-->\s*(\d+):(\d\d):(\d\d)[,.](\d+)")


def _seconds(h: str, m: str, s: str, fraction: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(fraction) / 10 ** len(fraction)


def _subtitles(root: Path, video_id: str) -> tuple[tuple[float, float, str], ...]:
    """``subtitle/<videoID>.srt`` as (start s, end s, text) entries, tags stripped; none when absent (not every
    video has subtitles) or empty. A file that is not UTF-8 text, or holds no SRT entry, is a ``ValueError`` (the
    question fails, named): read with replacement characters it became no subtitles, silently."""
    path = safe_join(root, f"subtitle/{video_id}.srt")
    broken = broken_link(path)
    if broken:  # read as "no subtitles": the question was asked without them, silently
        raise ValueError(f"subtitle/{video_id}.srt is a broken link ({broken})")
    if not present(path, "is_file"):
        return ()
    try:
        data = path.read_bytes()
        content = data.decode("utf-8-sig")
    except OSError as error:
        raise ValueError(f"subtitle/{video_id}.srt cannot be read ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        wide = wide_encoding(data[:4])
        said = f"is {wide} (a byte-order mark), not UTF-8" if wide else f"is not UTF-8 text (byte {error.start})"
        raise ValueError(f"subtitle/{video_id}.srt {said}: convert it to UTF-8") from error
    entries, timing, text = [], None, []
    for line in content.splitlines() + [""]:
        match = _TIMING.match(line)
        if match:
            timing = (_seconds(*match.groups()[:4]), _seconds(*match.groups()[4:]))
            text = []
        elif not line.strip():
            if timing and text:
                entries.append((timing[0], timing[1], re.sub(r"<[^>]+>", "", " ".join(text)).strip()))
            timing, text = None, []
        elif timing is not None:
            text.append(line.strip())
    if content.strip() and not entries:
        raise ValueError(f"subtitle/{video_id}.srt holds no subtitle entry (no 'hh:mm:ss,ms --> hh:mm:ss,ms' line)")
    return tuple(e for e in entries if e[2])


def subtitle_context(question: Question, timestamps: tuple[float, ...] | None) -> str:
    """The prompt's subtitle block (empty without subtitles at the sampled frames' times)."""
    lines = subtitle_lines(question.subtitles, timestamps)
    return "Subtitles:\n" + "\n".join(lines) + "\n" if lines else ""


def subtitle_lines(subtitles, timestamps: tuple[float, ...] | None) -> list[str]:
    """The official rule: the subtitle lines shown at the sampled frames' times (start <= t < end),
    in order, each once; with no frame times, every line."""
    if timestamps is None:
        return [text for _, _, text in subtitles]
    return [text for start, end, text in subtitles if any(start <= t < end for t in timestamps)]
