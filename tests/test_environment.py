"""environment.yml (conda) and requirements.lock (uv/pip) must pin the same versions; the environment
setup leaves bytecode for everything the notebooks import."""

from __future__ import annotations

import importlib.util
import os
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

_PROBE = """if True:
    import sys
    import pandas, numpy, scipy.stats, matplotlib.pyplot, nbformat
    import helpers.data.cleaning, helpers.steps.growth_summary, helpers.steps.peers_summary, helpers.report, helpers.pipeline.run
    missing = sorted(
        m.__name__ for m in list(sys.modules.values())
        if getattr(m, "__file__", None) and m.__file__.endswith(".py") and getattr(m, "__cached__", None)
        and not __import__("os").path.isfile(m.__cached__)
    )
    print("lark" in sys.modules)
    print(" ".join(missing))
"""


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(), reason="needs the project's .venv"
)
def test_environment_has_bytecode_and_builds_no_iri_grammars() -> None:
    """Every module the notebooks import has its .pyc from set-up (nothing is compiled per kernel, also with
    PYTHONDONTWRITEBYTECODE=1), and reading notebooks builds no Lark grammars (tools/setup_env.sh)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, cwd="/")
    assert res.returncode == 0, res.stderr
    lark, missing = (res.stdout.splitlines() + ["", ""])[:2]
    assert lark == "False", "jsonschema built rfc3987_syntax's grammars"
    assert missing == "", f"imported without bytecode: {missing}"
