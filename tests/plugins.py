"""Outside packages for the plugin tests: real distributions, built by pip from a pyproject.toml or written
as pip leaves them (a ``*.dist-info`` folder with METADATA and entry_points.txt, beside the modules), in a
folder put on the path; and the registries put back as they were afterwards."""

from __future__ import annotations

import importlib
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path


def pip_install(source: Path, target: Path) -> Path:
    """The package in ``source`` (a pyproject.toml and its modules) built and installed into ``target``
    by pip, offline, with no dependencies."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    command += ["--no-index", "--no-cache-dir", "--disable-pip-version-check", "--target", str(target), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=source, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def write_distribution(
    site: Path, name: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str], version: str = "0.1.0"
) -> Path:
    """The distribution ``name`` as installed into ``site``: its dist-info and its modules (file name -> code)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(
        "\n".join(
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
            for group, points in entry_points.items()
        )
    )
    for filename, code in modules.items():
        (site / filename).write_text(code)
    return site


@contextmanager
def plugins_on_path(site: Path, modules: tuple[str, ...] = ()):
    """``site`` on ``sys.path`` and the registries' plugins loaded from it, in this process; afterwards the
    path, the registries, what they added and refused, and the plugins' ``modules`` are as they were."""
    from fvlm_eval import models, tasks

    registries = [(registry, dict(registry)) for registry in (tasks.BENCHMARKS, models.FAMILIES)]
    plugins = [(found, dict(found.added), dict(found.refused)) for found in (tasks.PLUGINS, models.PLUGINS)]
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        tasks.load_plugins()
        models.load_plugins()
        yield
    finally:
        sys.path.remove(str(site))
        for registry, content in registries:
            registry.clear()
            registry.update(content)
        for found, added, refused in plugins:
            found.added, found.refused = added, refused
        for module in modules:
            sys.modules.pop(module, None)
        importlib.invalidate_caches()
