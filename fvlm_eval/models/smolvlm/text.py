"""SmolVLM2's text: its chat template and how a video or an image is written into the user turn
(as ``SmolVLMProcessor`` and SmolVLM2's chat template make it)."""

from __future__ import annotations

from datetime import timedelta

FAKE_TOKEN = "<fake_token_around_image>"
IMAGE_TOKEN = "<image>"
GLOBAL_TOKEN = "<global-img>"
END_OF_UTTERANCE = "<end_of_utterance>"
MAX_TILES_PER_SIDE = 6  # the <row_r_col_c> tokens SmolVLM's tokenizer has
SPECIAL_TOKENS = (FAKE_TOKEN, IMAGE_TOKEN, GLOBAL_TOKEN, END_OF_UTTERANCE)
VIDEO_INTRO = "You are provided the following series of {count} frames from a {duration} [H:MM:SS] video.\n"
FRAME_MESSAGE = "\nFrame from {timestamp}:"
MEDIA_OUTTRO = "\n\n"
UNKNOWN_FPS = 24  # what SmolVLM's processor assumes of a video without a frame rate


# ----- text ---------------------------------------------------------------------------------------

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """``n`` (0..999,999) in English words, as ``num2words`` writes them ("one hundred and
    twenty-eight", "one thousand, two hundred and five")."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number_words covers 0..999999, not {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    words = f"{number_words(thousands)} thousand"
    if not rest:
        return words
    return words + (", " if rest >= 100 else " and ") + number_words(rest)


def image_prompt(rows: int, cols: int, seq_len: int) -> str:
    """SmolVLM's text for one image: each of its rows x cols tiles, then the whole image (or,
    unsplit, the image alone)."""
    image = IMAGE_TOKEN * seq_len
    whole = f"{FAKE_TOKEN}{GLOBAL_TOKEN}{image}{FAKE_TOKEN}"
    if rows == 0 and cols == 0:
        return whole
    text = ""
    for r in range(rows):
        text += "".join(f"{FAKE_TOKEN}<row_{r + 1}_col_{c + 1}>{image}" for c in range(cols)) + "\n"
    return text + "\n" + whole


def video_prompt(timestamps: list[float], duration: float | None, seq_len: int) -> str:
    """SmolVLM's text for a video of ``len(timestamps)`` frames (times in seconds)."""
    seconds = int(duration) if duration is not None else int(timestamps[-1])
    text = VIDEO_INTRO.format(count=number_words(len(timestamps)), duration=str(timedelta(seconds=seconds)))
    frame = f"{FAKE_TOKEN}{GLOBAL_TOKEN}{IMAGE_TOKEN * seq_len}{FAKE_TOKEN}"
    for second in timestamps:
        text += FRAME_MESSAGE.format(timestamp=f"{int(second // 60):02d}:{int(second % 60):02d}") + frame
    return text + MEDIA_OUTTRO


def render(user: str, answer: str | None = None) -> str:
    """SmolVLM2's chat template for one user turn (and the assistant's ``answer``): no system
    prompt; no space after ``User:`` when the turn starts with an image."""
    space = "" if user.startswith((FAKE_TOKEN, IMAGE_TOKEN)) else " "
    text = f"<|im_start|>User:{space}{user}{END_OF_UTTERANCE}\nAssistant:"
    if answer is not None:
        text += f" {answer}{END_OF_UTTERANCE}\n"
    return text


# ----- the adapter --------------------------------------------------------------------------------
