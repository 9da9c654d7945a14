"""The documentation, checked, so README.md and docs/*.md cannot drift from what works.

- The README's first bash block is the two set-up commands.
- The worked examples run as written: a python block starting ``# file: NAME.py`` is a module
  (docs/extending.md's ``my_benchmark.py`` and ``blind.py``), the block that registers the blind
  family is run as it stands, and the README's training-loop block is run with stand-ins for the
  training code. Code blocks are found across README.md and docs/*.md.
- Every relative link points to a file that exists (and, with an ``#anchor`` into a Markdown page,
  to one of its headings).
- docs/exit-codes.md's table lists exactly the codes (and names) of ``fvlm_eval.errors.ExitCode``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from fvlm_eval import evaluate
from fvlm_eval.records import read_records
from fvlm_eval.tasks.fixtures.media import png_bytes
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.conftest import TINY_LLM, tiny_model

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^```.*?^```[ \t]*$", flags=re.DOTALL | re.MULTILINE)


def code_blocks(language: str, pages: list[Path] = PAGES) -> list[tuple[Path, str]]:
    """Every ```language block of ``pages``, in page order, with the page it is on."""
    return [
        (page, block)
        for page in pages
        for block in re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), flags=re.DOTALL | re.MULTILINE)
    ]


def module_files() -> dict[str, tuple[Path, str]]:
    """The ``# file: NAME.py`` modules: name -> (page, code); a name given twice is an error."""
    found: dict[str, tuple[Path, str]] = {}
    for page, block in code_blocks("python"):
        first = block.splitlines()[0]
        if first.startswith("# file: "):
            name = first[len("# file: ") :].strip()
            assert name not in found, f"{name} is written twice ({found[name][0].name}, {page.name})"
            found[name] = (page, block)
    return found


def the_block(needle: str, pages: list[Path] = PAGES) -> tuple[Path, str]:
    """The one python block (not a ``# file:`` module) that holds ``needle``."""
    found = [(p, b) for p, b in code_blocks("python", pages) if needle in b and not b.startswith("# file: ")]
    assert len(found) == 1, f"expected one python block holding {needle!r}, found {len(found)}"
    return found[0]


@pytest.fixture()
def examples(tmp_path, monkeypatch):
    """The documented modules written to a folder on sys.path; registries restored afterwards."""
    from fvlm_eval.models import FAMILIES
    from fvlm_eval.tasks import BENCHMARKS

    folder = tmp_path / "examples"
    folder.mkdir()
    for name, (_, code) in module_files().items():
        (folder / name).write_text(code)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setitem(BENCHMARKS, "myqa", None)  # undone after the test, whatever the example registers
    monkeypatch.setitem(FAMILIES, "blind", None)  # undone after the test, whatever the example registers
    yield folder
    for name in module_files():
        sys.modules.pop(name.removesuffix(".py"), None)


def test_the_readme_keeps_its_two_setup_commands_first():
    (_, first), *_ = code_blocks("bash", [README])
    assert first.strip().splitlines() == ['pip install -e ".[dev]" "torch==2.13.0"', "pytest"]
    assert set(module_files()) == {"my_benchmark.py", "blind.py"}
    assert {page.name for page, _ in module_files().values()} == {"extending.md"}


def write_myqa(data: Path) -> None:
    folder = data / "myqa"
    (folder / "images").mkdir(parents=True)
    rows = [
        {
            "id": "q1",
            "image": "images/q1.png",
            "question": "Which animal is shown?",
            "options": ["cat", "dog"],
            "answer": 1,
            "subject": "biology",
        },
        {
            "id": "q2",
            "image": "images/q2.png",
            "question": "Which colour dominates?",
            "options": ["red", "green", "blue"],
            "answer": 0,
            "subject": "biology",
        },
        {
            "id": "q3",
            "image": "images/q3.png",
            "question": "Which continent?",
            "options": ["Asia", "Europe"],
            "answer": 5,
            "subject": "geography",
        },
    ]  # a malformed row: recorded as failed, not dropped
    for seed, row in enumerate(rows):
        (folder / row["image"]).write_bytes(png_bytes(seed))
    (folder / "questions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_adding_a_benchmark(examples, tmp_path, tokenizer):
    import my_benchmark  # noqa: F401  (registers "myqa")

    write_myqa(tmp_path / "data")
    evaluation = evaluate(
        tiny_model(),
        "myqa",
        tokenizer=tokenizer,
        data_dir=tmp_path / "data",
        output_dir=tmp_path / "run",
        frame_cache=False,
        workers=0,
        progress=False,
    )
    (result,) = evaluation.results
    records = {r.id: r for r in read_records(tmp_path / "run/myqa/coarse_fine/samples.jsonl")}
    assert set(records) == {"myqa/q1", "myqa/q2", "myqa/q3"}
    assert records["myqa/q1"].error is None and records["myqa/q1"].gold == "B" and len(records["myqa/q2"].letters) == 3
    assert "answer 5 is not an option index" in records["myqa/q3"].error
    coverage = result.summary.coverage
    assert (coverage.scored, coverage.failed, coverage.expected) == (2, 1, 3)
    assert result.headline.n == 3 and result.summary.benchmark == "myqa"


def test_adding_a_model_family(examples, tmp_path, tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    from fvlm_eval.models import FAMILIES

    folder = tmp_path / "smollm2-tiny"
    LlamaForCausalLM(LlamaConfig(**TINY_LLM)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    root = tmp_path / "data"
    write_scienceqa(root)
    page, registration = the_block('FAMILIES["blind"]')
    exec(compile(registration, str(page), "exec"), {})  # as docs/extending.md registers it
    assert FAMILIES["blind"].module == "blind"
    evaluation = evaluate(
        str(folder),
        "scienceqa",
        family="blind",
        data_dir=root,
        output_dir=tmp_path / "run",
        limit=3,
        frame_cache=False,
        workers=0,
        generate=True,
        max_new_tokens=4,
        keep_records=True,
        progress=False,
    )
    (result,) = evaluation.results
    assert evaluation.exit_code == 0 and result.mode == "text_only" and result.headline.n == 3
    assert all(r.error is None and r.options and r.generated is not None for r in result.records)
    assert result.summary.model["family"] == "blind"


def test_the_training_loop_example(tmp_path, tokenizer, monkeypatch):
    page, block = the_block("train_step", [README])
    write_mvbench(tmp_path / "data")
    write_scienceqa(tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # the example's relative data/, runs/ and frame-cache/
    logged, trained = [], []
    namespace = {
        "start": 0,
        "total_steps": 2,
        "model": tiny_model().train(),
        "tokenizer": tokenizer,
        "batch": None,
        "train_step": lambda model, batch: trained.append(model.training),
        "log": lambda *values: logged.append(values),
    }
    exec(compile(block, str(page), "exec"), namespace)
    assert trained == [True, True]  # evaluated at step 0, back in training mode for step 1
    assert [entry[0] for entry in logged] == ["eval/mvbench/coarse_fine", "eval/scienceqa/coarse_fine"]
    summary = json.loads((tmp_path / "runs/step_0/mvbench/coarse_fine/summary.json").read_text())
    assert summary["manifest"]["step"] == 0 and list((tmp_path / "frame-cache").iterdir())


def prose(page: Path) -> str:
    """A page without its fenced code blocks and inline code spans (neither holds links)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text()))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens,
    a repeated one numbered."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", page.read_text()), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def relative_links(page: Path) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", prose(page))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]  # http:, https:, mailto: ...


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_points_to_a_file_that_exists(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_link_checker_sees_links_and_anchors(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title: `a_b.c`\n\n## Title: `a_b.c`\n\n[x](other.md#part) `[y](code.md)` [z](https://e.org)\n\n"
        "```bash\n# not a heading [w](block.md)\n```\n"
    )
    assert relative_links(page) == ["other.md#part"]
    assert anchors(page) == {"title-a_bc", "title-a_bc-1"}


def test_the_exit_code_table_lists_exactly_the_exit_codes():
    from fvlm_eval.errors import ExitCode

    rows = re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", (DOCS / "exit-codes.md").read_text(), flags=re.MULTILINE)
    assert len(rows) == len({code for code, _ in rows}), f"a code listed twice: {rows}"
    assert {int(code): name for code, name in rows} == {int(code): code.name for code in ExitCode}
