"""environment.yml (conda) and requirements.lock (uv/pip) must pin the same versions; the environment
setup leaves bytecode for everything the notebooks import."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT


def _load_sync_tool():
    """tools/sync_environment_yml.py, which writes environment.yml: its lock parser and name normaliser."""
    spec = importlib.util.spec_from_file_location(
        "sync_environment_yml", ROOT / "tools" / "sync_environment_yml.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYNC = _load_sync_tool()
_norm = SYNC.norm


def _lock() -> dict[str, str]:
    return SYNC.lock_versions(ROOT / "requirements.lock")


def _environment_yml() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip", []):
                if pip_dep.startswith("-e"):
                    continue
                name, _, version = pip_dep.partition("==")
                pins[_norm(name)] = version
        elif "=" in dep:
            name, _, version = dep.partition("=")
            pins[_norm(name)] = version.lstrip("=")
    return pins


def test_environment_yml_matches_lock() -> None:
    lock, env = _lock(), _environment_yml()
    env.pop("python")
    disagreements = {n: (v, lock.get(n)) for n, v in env.items() if lock.get(n) != v}
    assert not disagreements, f"environment.yml vs requirements.lock (yml, lock): {disagreements}"


def test_every_direct_dependency_is_pinned_everywhere() -> None:
    names = SYNC.direct_deps(ROOT / "pyproject.toml")
    lock, env = _lock(), _environment_yml()
    assert [n for n in names if n not in lock] == []
    assert [n for n in names if n not in env] == []


def test_python_is_311() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


# ---- what tools/setup_env.sh leaves for every later process ------------------------------------------------

# What the processes of `make report` import (listed from sys.modules at the exit of each, workers included):
# every helpers module, and the libraries they import only inside functions.
BUILD_IMPORTS = (
    # make's processes: the rules generator and guards, the validation, the step runner (papermill, nbclient,
    # jupyter_client), the sensitivity sweep, the static site
    "helpers.pipeline.__main__", "helpers.data.check", "helpers.pipeline.scenarios", "papermill", "nbclient",
    # a step's kernel (helpers.pipeline.kernel starts ipykernel; the inline backend draws the figures) and what
    # the notebooks use while they run: joblib's process pool, PIL and fontTools for the figures, scipy
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "matplotlib_inline.backend_inline",
    "IPython.display", "matplotlib.pyplot", "matplotlib.backends.backend_agg", "matplotlib.backends.backend_pdf",
    "matplotlib.backends.backend_svg", "joblib", "joblib.externals.loky", "PIL.Image", "fontTools.subset",
    "fontTools.ttLib", "scipy.stats", "scipy.optimize", "pandera",
    # the renders: nbconvert's exporters and templates (jinja2), pandoc and Typst
    "helpers.render.__main__", "nbconvert", "nbconvert.exporters.html", "jinja2", "pypandoc", "typst",
)  # fmt: skip

_PROBE = """if True:
    import importlib, os, pkgutil, sys
    import helpers
    for mod in pkgutil.walk_packages(helpers.__path__, "helpers."):
        importlib.import_module(mod.name)
    for name in sys.argv[1:]:
        importlib.import_module(name)
    missing = sorted(
        m.__name__ for m in list(sys.modules.values())
        if getattr(m, "__file__", None) and m.__file__.endswith(".py") and getattr(m, "__cached__", None)
        and not os.path.isfile(m.__cached__)
    )
    print("lark" in sys.modules)
    print(helpers.__file__)
    print(" ".join(missing))
"""


def _probe(python: Path) -> tuple[bool, str, list[str]]:
    """Import what the build imports with ``python`` (no bytecode written): whether jsonschema built Lark
    grammars, where ``helpers`` came from, and the imported modules that have no ``.pyc``."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    res = subprocess.run(
        [str(python), "-c", _PROBE, *BUILD_IMPORTS], capture_output=True, text=True, env=env, cwd="/"
    )
    assert res.returncode == 0, res.stderr
    lark, helpers_file, missing = (res.stdout.splitlines() + ["", "", ""])[:3]
    return lark == "True", helpers_file, missing.split()


_IN_VENV = pytest.mark.skipif(
    Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(), reason="needs the project's .venv"
)


@_IN_VENV
def test_environment_has_bytecode_and_builds_no_iri_grammars() -> None:
    """Every module the build imports has its .pyc (nothing is compiled per kernel, also with
    PYTHONDONTWRITEBYTECODE=1), and reading notebooks builds no Lark grammars (tools/setup_env.sh)."""
    lark, _, missing = _probe(Path(sys.executable))
    assert not lark, "jsonschema built rfc3987_syntax's grammars"
    assert missing == [], f"imported without bytecode: {' '.join(missing)}"


@_IN_VENV
@pytest.mark.slow  # links a copy of the environment and compiles what the build imports in it (~8 s of CPU)
def test_setup_precompiles_everything_the_build_imports(tmp_path: Path) -> None:
    """tools/setup_env.sh's `bytecode build` alone (its BUILD_PACKAGES and src/) leaves a .pyc for every module
    the build imports. Checked in a hard-linked copy of .venv with all bytecode removed, so neither what
    `make test` compiles (everything) nor what earlier runs left can hide a package missing from the list."""
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")  # marks the copy's root (helpers.config)
    subprocess.run(["cp", "-al", str(ROOT / ".venv"), str(copy / ".venv")], check=True)
    # unlinks the copy's names only: the project's .venv keeps its files
    for cache in list((copy / ".venv").rglob("__pycache__")):
        shutil.rmtree(cache)
    res = subprocess.run(
        ["bash", str(ROOT / "tools" / "setup_env.sh"), "bytecode", "build"],
        cwd=copy, env={**os.environ, "VENV": ".venv"}, capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    lark, helpers_file, missing = _probe(copy / ".venv" / "bin" / "python")
    assert helpers_file == str(copy / "src" / "helpers" / "__init__.py")
    assert missing == [], (
        f"imported by the build but not compiled by `setup_env.sh bytecode build`: {' '.join(missing)}"
    )
    assert not lark
