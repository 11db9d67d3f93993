"""Shared fixtures: the project root, a helper to run commands with the project's environment, and ONE built
temporary copy of the project for the whole session (``built_project``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Many tests read or write notebooks: spare this process jsonschema's IRI grammars (helpers.pipeline.run's
# skip_iri_grammars says why; about 1.2 s of CPU).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; the venv's bin comes first on PATH (no timeout by default)."""
    full_env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    for var in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):  # a nested make (make test) must behave like a user's
        full_env.pop(var, None)
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


# Fewer bootstrap resamples keep the suite fast; every step, product and rule is still exercised. The value
# is part of each step's manifest, so a copy built with it is never taken for a full build.
E2E_ENV = {"NKT_PARAM_OVERRIDES": "{n_bootstrap: 40}"}

COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", ".build", "reports", "processed", "site", "__pycache__", ".pytest_cache", ".ruff_cache",
    "_freeze", ".ipynb_checkpoints",
)  # fmt: skip


def fresh_copy(base: Path) -> Path:
    """A copy of the project without build products, sharing this checkout's .venv."""
    copy = base / "project"
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORE)
    (copy / "data" / "processed").mkdir(exist_ok=True)
    os.symlink(ROOT / ".venv", copy / ".venv")
    return copy


def make_env(copy: Path) -> dict[str, str]:
    """Environment for `make` in a copy: as a user's, plus E2E_ENV; NKT_ROOT points the kernels at the copy."""
    env = {**os.environ, **E2E_ENV, "NKT_ROOT": str(copy)}
    for var in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(var, None)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


# A copy's .venv is a symlink to this checkout's: make must never set it up again from the copy (when
# tools/setup_env.sh, pyproject.toml or requirements.lock is newer than .venv/.installed, it would reinstall
# the shared environment with its editable install pointing into the temporary copy). `-o` tells make to
# take the stamp as it is.
MAKE = ["make", "-o", ".venv/.installed"]


def make(copy: Path, *args: str) -> subprocess.CompletedProcess:
    """`make ARGS` in the copy (no timeout a loaded machine could exceed)."""
    return subprocess.run([*MAKE, *args], cwd=copy, env=make_env(copy), capture_output=True, text=True)


@pytest.fixture(scope="session")
def pipeline_builds(tmp_path_factory) -> tuple[Path, Path]:
    """Two independent clean builds, run side by side: `make report` in one, `make pipeline` in the other.

    Built once per session; tests that change the first copy restore what they changed. To iterate on the
    end-to-end tests, ``NKT_E2E_REUSE=DIR`` reuses copies built before (``DIR/pipeline0/project`` and
    ``DIR/pipeline_again0/project``) instead of building them again.
    """
    reuse = os.environ.get("NKT_E2E_REUSE")
    if reuse:
        return Path(reuse) / "pipeline0" / "project", Path(reuse) / "pipeline_again0" / "project"
    first = fresh_copy(tmp_path_factory.mktemp("pipeline"))
    second = fresh_copy(tmp_path_factory.mktemp("pipeline_again"))
    other = subprocess.Popen(
        [*MAKE, "pipeline"], cwd=second, env=make_env(second), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    res = make(first, "report")
    out, _ = other.communicate()
    assert res.returncode == 0, res.stdout + res.stderr
    assert other.returncode == 0, out
    return first, second


@pytest.fixture(scope="session")
def built_project(pipeline_builds: tuple[Path, Path]) -> Path:
    """ONE temporary copy of the project, built with `make report` (few resamples)."""
    return pipeline_builds[0]
