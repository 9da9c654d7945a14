"""Small synthetic copies of the three benchmarks in their real on-disk layouts.

Real encoded media (H.264 mp4, VP8 webm, a jpg frame folder, a GIF, PNG images, a parquet with
image bytes), real key names and row shapes. Every video frame carries its own frame number,
drawn as 8 black/white vertical stripes (bit b = stripe b), so tests can read back which frames
were sampled (``read_frame_number``). Used by the tests and by ``fvlm-eval demo``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

SIZE = 64
STRIPES = 8


def numbered_frame(number: int, tint: int = 0, size: int = SIZE) -> np.ndarray:
    """An RGB frame whose stripes spell ``number`` in binary; ``tint`` shades the lower band."""
    frame = np.zeros((size, size, 3), dtype=np.uint8)
    width = size // STRIPES
    for bit in range(STRIPES):
        if number >> bit & 1:
            frame[: size * 3 // 4, bit * width : (bit + 1) * width] = 255
    frame[size * 3 // 4 :, :, 0] = tint
    frame[size * 3 // 4 :, :, 2] = 255 - tint
    return frame


def read_frame_number(frame) -> int:
    """The number drawn by ``numbered_frame``, read from a uint8 [H,W,3] frame (any size)."""
    array = np.asarray(frame, dtype=np.float32) / 255
    height, width = array.shape[:2]
    band = array[height // 8 : height * 5 // 8].mean(axis=2)
    stripe = width // STRIPES
    bits = [band[:, b * stripe + stripe // 4 : (b + 1) * stripe - stripe // 4].mean() > 0.5 for b in range(STRIPES)]
    return sum(1 << b for b, on in enumerate(bits) if on)


def write_video(path: Path, n_frames: int, fps: int = 10, tint: int = 0, first: int = 0) -> Path:
    """An H.264 mp4 (VP8 for .webm, MPEG-4 part 2 for .avi/.mkv) whose frame i shows ``first + i``."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    codec = {".webm": "libvpx", ".avi": "mpeg4", ".mkv": "mpeg4"}.get(path.suffix.lower(), "libx264")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "12", "preset": "ultrafast", "tune": "zerolatency"}
        else:
            stream.bit_rate = 2_000_000
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(numbered_frame(first + i, tint), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_gif(path: Path, n_frames: int, tint: int = 0) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.fromarray(numbered_frame(i, tint)) for i in range(n_frames)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, loop=0)
    return path


def write_frame_folder(folder: Path, n_frames: int, tint: int = 0) -> Path:
    """``00001.jpg`` .. : 1-based file names; the frame numbered k shows k."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(1, n_frames + 1):
        Image.fromarray(numbered_frame(k, tint)).save(folder / f"{k:05d}.jpg", quality=95)
    return folder


def png_bytes(seed: int) -> bytes:
    from PIL import Image

    generator = np.random.default_rng(seed)
    image = np.repeat(np.repeat(generator.integers(0, 256, (4, 4, 3), dtype=np.uint8), 16, 0), 16, 1)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1))


# ----- MVBench --------------------------------------------------------------------------------

def _mc(question: str, candidates: list[str], answer: int, **extra) -> dict:
    return {"question": question, "candidates": candidates, "answer": candidates[answer], **extra}


def write_mvbench(root: Path, layout: str = "main", faults: bool = False) -> Path:
    """``root/mvbench``: json/<task>.json + video/<folder>/..., as the main branch (raw clips, bounds in
    the rows, frame folders, webm) or the pre-cut ``video`` revision (its own folder names:
    ``star/Charades_segment``, ``tvqa/video_fps3_hq_segment`` mp4 clips, ``ssv2_video_mp4``)."""
    base = root / "mvbench"
    video = base / "video"
    rows: dict[str, list[dict]] = {}
    main = layout == "main"
    star = "star/Charades_v1_480" if main else "star/Charades_segment"

    def bounded(stem: str, n_frames: int, bound: tuple[float, float], fps: int = 10, folder: str = star) -> str:
        """A clip of the main layout with its bound in the row, or pre-cut to the bound."""
        if main:
            write_video(video / folder / f"{stem}.mp4", n_frames, fps)
            return f"{stem}.mp4"
        first, last = round(bound[0] * fps), min(round(bound[1] * fps), n_frames - 1)
        cut = f"{stem}_{bound[0]}_{bound[1]}.mp4"
        write_video(video / folder / cut, last - first + 1, fps, first=first)
        return cut

    def row(video_name: str, bound: tuple[float, float] | None, **fields) -> dict:
        extra = {"start": bound[0], "end": bound[1]} if bound and main else {}
        return {"video": video_name, **fields, **extra}

    b1, b2 = (0.5, 2.5), (1.0, 2.0)
    v1 = bounded("6H78U", 30, b1)
    v2 = bounded("YSKX3", 40, b2)
    rows["action_sequence"] = [
        row(v1, b1, **_mc("What happened after the person took the food?", ["Ate the medicine.", "Tidied up the blanket.", "Put down the cup/glass/bottle.", "Took the box."], 3)),
        row(v2, b2, **_mc("What happened after the person held the clothes?", ["Put down the shoe.", "Opened the door.", "Closed the laptop.", "Took the towel."], 1)),
    ]
    rows["action_prediction"] = [row(v1, b1, **_mc("What will the person do next?", ["Sit on the bed.", "Open the bag.", "Put down the pillow.", "Take the phone/camera."], 0))]
    # A clip missing from the main zips, present in data0613.
    write_video(video / "data0613" / star / "ZZ0613.mp4", 20, tint=90)
    rows["object_interaction"] = [row("ZZ0613.mp4", None, **_mc("Which object was taken by the person?", ["The clothes.", "The pillow.", "The shoe.", "The phone/camera."], 3))]
    tv_bound = (1.0, 6.0)
    tv_fields = _mc("Why did Castle leave the room?", ["To answer a call.", "To find Beckett.", "To get coffee.", "To check the board.", "To read a file."], 2)
    if main:  # a folder of jpg frames at 3 fps, 1-based names
        write_frame_folder(video / "tvqa/frames_fps3_hq" / "castle_s07e04_seg02_clip_14", 24, tint=40)
        rows["episodic_reasoning"] = [{"video": "castle_s07e04_seg02_clip_14", **tv_fields, "start": tv_bound[0], "end": tv_bound[1]}]
    else:  # pre-cut mp4 clips
        cut = bounded("castle_s07e04_seg02_clip_14", 24, tv_bound, fps=3, folder="tvqa/video_fps3_hq_segment")
        rows["episodic_reasoning"] = [{"video": cut, **tv_fields}]
    if main:
        write_video(video / "ssv2_video" / "74225.webm", 24, tint=60)
    else:
        write_video(video / "ssv2_video_mp4" / "74225.mp4", 24, tint=60)
    rows["action_antonym"] = [{"video": "74225.webm" if main else "74225.mp4", **_mc("What is the action performed by the person in the video?", ["Pushing something from left to right", "Not sure", "Pushing something from right to left"], 0)}]
    # The same file name in two folders, different content: folders must never be flattened.
    write_video(video / "clevrer/video_validation" / "video_10142.mp4", 32, tint=120)
    write_video(video / "perception/videos" / "video_10142.mp4", 48, tint=200)
    rows["object_existence"] = [{"video": "video_10142.mp4", **_mc("Are there any moving green objects when the video ends?", ["not sure", "yes", "no"], 2)}]
    rows["moving_count"] = [{"video": "video_10142.mp4", **_mc("How many metal objects are moving when the video begins?", ["2", "0", "1", "3"], 1)}]
    rows["object_shuffle"] = [{"video": "video_10142.mp4", **_mc("Where is the hidden object at the end of the game?", ["Under the first object from the left.", "Under the second object from the left.", "Under the third object from the left."], 1)}]
    if faults:
        rows["action_sequence"] += [
            {"video": v1, **_mc("No gold here?", ["Yes.", "No."], 0), "answer": "Maybe."},
            {"video": "../../../outside.mp4", **_mc("Escaping path?", ["Yes.", "No."], 0)},
            {"question": "A row without a video", "candidates": ["a", "b"], "answer": "a"},
        ]
        (video / "FunQA_test/test").mkdir(parents=True, exist_ok=True)
        (video / "FunQA_test/test" / "H_H_2.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
        rows["unexpected_action"] = [
            {"video": "H_H_2.mp4", **_mc("What is funny?", ["The cat.", "The dog."], 0)},
            {"video": "H_H_missing.mp4", **_mc("What is funny here?", ["The cat.", "The dog."], 1)},
        ]
    for task, task_rows in rows.items():
        _write_json(base / "json" / f"{task}.json", task_rows)
    return base


# ----- Video-MME ------------------------------------------------------------------------------

VIDEOMME_VIDEOS = [("001", "fFjv93ACGo8", "short", "Knowledge", "Humanity & History", ".mp4"),
                   ("002", "pQ2kDe9Lm0s", "medium", "Sports Competition", "Basketball", ".MP4"),
                   ("003", "Xy7aB3cD9eF", "long", "Life Record", "Travel", ".mkv")]
VIDEOMME_TYPES = ["Counting Problem", "Temporal Reasoning", "Object Recognition"]


def write_videomme(root: Path, faults: bool = False) -> Path:
    """``root/videomme``: videomme/test-00000-of-00001.parquet + data/<videoID>.* + subtitle/<videoID>.srt."""
    import pandas as pd

    base = root / "videomme"
    records = []
    for n, (video_id, youtube_id, duration, domain, sub_category, suffix) in enumerate(VIDEOMME_VIDEOS):
        if not (faults and n == 2):
            write_video(base / "data" / f"{youtube_id}{suffix}", 40 + 10 * n, tint=30 * n)
        (base / "subtitle").mkdir(parents=True, exist_ok=True)
        (base / "subtitle" / f"{youtube_id}.srt").write_text(
            f"1\n00:00:00,000 --> 00:00:01,500\n<font color=white>Welcome to video {video_id}.</font>\n\n"
            "2\n00:00:01,500 --> 00:00:03,000\nCount the apples with me.\n")
        for q in range(3):
            answer = "ABCD"[(n + q) % 4]
            records.append({
                "video_id": video_id, "duration": duration, "domain": domain, "sub_category": sub_category,
                "url": f"https://www.youtube.com/watch?v={youtube_id}", "videoID": youtube_id,
                "question_id": f"{video_id}-{q + 1}", "task_type": VIDEOMME_TYPES[q],
                "question": f"Question {q + 1} about video {video_id}: which kind of decoration has the largest number?",
                "options": ["A. Apples.", "B. Candles.", "C. Berries.", "D. The three kinds are of the same number."],
                "answer": answer,
            })
    if faults:
        records[1] = {**records[1], "answer": "E"}
    path = base / "videomme" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(records).to_parquet(path, index=False)
    return base


# ----- ScienceQA ------------------------------------------------------------------------------

SCIENCEQA_ROWS = [
    ("1", "Which of these states is farthest north?", ["West Virginia", "Louisiana", "Arizona", "Oklahoma"], 0, "", "social science", "grade2", "geography", "Geography", "Read a map: cardinal directions"),
    ("5", "Identify the question that Tom's experiment can best answer.", ["Do ping pong balls stop rolling along the ground sooner after being launched from a 30° angle or a 45° angle?", "Do ping pong balls travel farther when launched from a 30° angle compared to a 45° angle?"], 1, "The passage below describes an experiment.", "natural science", "grade8", "science-and-engineering-practices", "Designing experiments", "Identify the experimental question"),
    ("12", "Which animal's feet are also adapted for sticking to smooth surfaces?", ["tiger", "Madagascar day gecko"], 1, "Tree frogs live in rain forests.", "natural science", "grade4", "biology", "Adaptations", "Animal adaptations: feet"),
    ("20", "Which word would you find on a dictionary page with the guide words dew - dozen?", ["dinosaur", "drift"], 0, "", "language science", "grade3", "writing-strategies", "Reference skills", "Use guide words"),
    ("33", "What is the capital of Utah?", ["Salt Lake City", "Denver", "Provo", "Boise"], 0, "", "social science", "grade4", "geography", "State capitals", "Identify state capitals"),
    ("41", "Which solution has a higher concentration of green particles?", ["Solution A", "Solution B", "neither; their concentrations are the same"], 2, "The diagram below is a model of two solutions.", "natural science", "grade6", "chemistry", "Solutions", "Compare concentrations"),
]


def _scienceqa_record(row: tuple) -> dict:
    pid, question, choices, answer, hint, subject, grade, topic, category, skill = row
    return {"question": question, "choices": choices, "answer": answer, "hint": hint, "task": "closed choice",
            "grade": grade, "subject": subject, "topic": topic, "category": category, "skill": skill,
            "lecture": "", "solution": ""}


def write_scienceqa(root: Path, layout: str = "parquet", faults: bool = False) -> Path:
    """``root/scienceqa`` as the hub's ScienceQA-IMG parquet, or the original problems.json tree."""
    base = root / "scienceqa"
    if layout == "parquet":
        import pandas as pd

        records = [{"image": {"bytes": png_bytes(i), "path": None}, **_scienceqa_record(row)} for i, row in enumerate(SCIENCEQA_ROWS)]
        if faults:
            records[1] = {**records[1], "image": {"bytes": b"not a png", "path": None}}
        path = base / "ScienceQA-IMG" / "test-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(records).to_parquet(path, index=False)
        return base
    problems, test_ids = {}, []
    for i, row in enumerate(SCIENCEQA_ROWS):
        pid = row[0]
        problems[pid] = {**_scienceqa_record(row), "image": "image.png", "split": "test"}
        test_ids.append(pid)
        if not (faults and i == 2):
            (base / "test" / pid).mkdir(parents=True, exist_ok=True)
            (base / "test" / pid / "image.png").write_bytes(png_bytes(i))
    problems["7"] = {**_scienceqa_record(SCIENCEQA_ROWS[0]), "image": None, "split": "test"}  # no image: not in the subset
    problems["8"] = {**_scienceqa_record(SCIENCEQA_ROWS[0]), "image": "image.png", "split": "train"}
    test_ids.append("7")
    _write_json(base / "problems.json", problems)
    _write_json(base / "pid_splits.json", {"train": ["8"], "val": [], "test": test_ids})
    return base


def write_all(root: Path, faults: bool = False) -> Path:
    """All three benchmarks under ``root`` (MVBench main layout, ScienceQA parquet layout)."""
    root = Path(root)
    write_mvbench(root, "main", faults)
    write_videomme(root, faults)
    write_scienceqa(root, "parquet", faults)
    return root
