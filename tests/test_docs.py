"""The documentation, checked, so README.md and docs/*.md cannot drift from what works.

- The README's first bash block is the two set-up commands.
- The worked examples run as written: a python or toml block starting ``# file: NAME`` is a file of
  docs/extending.md's plugin package (``pyproject.toml``, ``my_benchmark.py``, ``blind.py``), which is
  built and installed by pip and run through the API and the CLI; the README's training-loop block is
  run with stand-ins for the training code. Code blocks are found across README.md and docs/*.md.
- Every relative link points to a file that exists (and, with an ``#anchor`` into a Markdown page,
  to one of its headings).
- docs/exit-codes.md's table lists exactly the codes (and names) of ``fvlm_eval.errors.ExitCode``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fvlm_eval import evaluate
from fvlm_eval.records import read_records
from fvlm_eval.tasks.fixtures.media import png_bytes
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.conftest import TINY_LLM, tiny_model
from tests.plugins import pip_install, plugins_on_path

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
    """The ``# file: NAME`` files (python and toml blocks): name -> (page, text); a name given twice is an error."""
    found: dict[str, tuple[Path, str]] = {}
    for page, block in code_blocks("python") + code_blocks("toml"):
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


@pytest.fixture(scope="module")
def installed_package(tmp_path_factory) -> Path:
    """docs/extending.md's plugin package, its files as written, built and installed by pip into a folder."""
    source = tmp_path_factory.mktemp("my-fvlm-plugins")
    for name, (_, text) in module_files().items():
        (source / name).write_text(text)
    return pip_install(source, tmp_path_factory.mktemp("site"))


@pytest.fixture()
def examples(installed_package):
    """The installed package on sys.path, its plugins loaded in this process; registries restored afterwards."""
    modules = tuple(name.removesuffix(".py") for name in module_files() if name.endswith(".py"))
    with plugins_on_path(installed_package, modules):
        yield installed_package


@pytest.fixture(scope="module")
def smollm2_folder(tmp_path_factory, tokenizer) -> Path:
    """A tiny random Llama-style causal LM folder with the real SmolLM2 tokenizer, for the blind family."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("smollm2-tiny")
    LlamaForCausalLM(LlamaConfig(**TINY_LLM)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_the_readme_keeps_its_two_setup_commands_first():
    (_, first), *_ = code_blocks("bash", [README])
    assert first.strip().splitlines() == ['pip install -e ".[dev]" "torch==2.13.0"', "pytest"]
    assert set(module_files()) == {"pyproject.toml", "my_benchmark.py", "blind.py"}
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
    from fvlm_eval.tasks import BENCHMARKS, PLUGINS

    assert BENCHMARKS["myqa"].__module__ == "my_benchmark" and PLUGINS.added["myqa"].distribution == (
        "my-fvlm-plugins 0.1.0"
    )
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


def test_adding_a_model_family(examples, smollm2_folder, tmp_path):
    from fvlm_eval.models import FAMILIES

    assert FAMILIES["blind"].module == "blind"
    root = tmp_path / "data"
    write_scienceqa(root)
    evaluation = evaluate(
        str(smollm2_folder),
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


def test_the_plugin_package_through_the_cli(installed_package, smollm2_folder, tmp_path):
    """As a user runs it once the package is installed: its benchmark and its family, by name, in a new process."""
    write_myqa(tmp_path / "data")
    env = {**os.environ, "PYTHONPATH": str(installed_package), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}

    def fvlm_eval(*args):
        command = [sys.executable, "-m", "fvlm_eval", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)

    listed = fvlm_eval("benchmarks", "--data-dir", tmp_path / "data")
    assert listed.returncode == 0 and "(plugin: my-fvlm-plugins 0.1.0)" in listed.stdout, listed.stderr
    assert "every benchmark: mvbench" in listed.stdout and " myqa" in listed.stdout.splitlines()[-1]
    helped = fvlm_eval("run", "--help")
    assert "myqa" in helped.stdout and "blind" in helped.stdout
    ran = fvlm_eval(
        "run", "myqa", "--model", smollm2_folder, "--family", "blind", "--data-dir", tmp_path / "data",
        "--output-dir", tmp_path / "run", "--no-frame-cache", "--workers", "0", "--generate", "--max-new-tokens", "4",
    )  # fmt: skip
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stdout[-2000:] + ran.stderr[-2000:]
    records = {r.id: r for r in read_records(tmp_path / "run/myqa/text_only/samples.jsonl")}
    assert set(records) == {"myqa/q1", "myqa/q2", "myqa/q3"} and records["myqa/q1"].generated is not None
    summary = json.loads((tmp_path / "run/myqa/text_only/summary.json").read_text())
    assert summary["manifest"]["model"]["family"] == "blind"
    fetched = fvlm_eval("prepare", "myqa", "--data-dir", tmp_path / "elsewhere")  # hub() says it is placed by hand
    assert fetched.returncode == 1 and fetched.stderr.strip().splitlines() == [
        "error: myqa has no hub copy to download (MyQA is placed by hand: data/myqa/questions.jsonl and "
        f"data/myqa/images/); place it under {tmp_path / 'elsewhere' / 'myqa'}, then `fvlm-eval prepare myqa "
        f"--data-dir {tmp_path / 'elsewhere'} --no-download` verifies it"
    ], fetched.stderr


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
