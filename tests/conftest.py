"""Shared fixtures: the project root, a helper to run commands with the project's environment, and ONE built
temporary copy of the project for the whole session (``built_project``), shared by the pytest-xdist workers.

The end-to-end tests never rebuild the copy they read: a test that changes files gets its own copy of the built
one (``project_copy``, ``cp -a``: products, manifests and timestamps as built), so the end-to-end files can run
in both workers at once and no test has to put back what it changed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Many tests read or write notebooks: spare this process jsonschema's IRI grammars (helpers.pipeline.run's
# skip_iri_grammars says why; about 1.2 s of CPU).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# The files that take longest run first (`make test`: --dist loadfile --no-loadscope-reorder keeps this order),
# so the two workers start the end-to-end builds at once and finish together on the short files.
RUN_FIRST = (
    "test_pipeline_e2e.py",
    "test_pipeline_rebuilds.py",
    "test_browser.py",
    "test_quarto.py",
    "test_likelihood.py",
    "test_jupyterlab.py",
    "test_relocatable_env.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the files of RUN_FIRST first, in that order; the rest keep their order (a stable sort)."""
    rank = {name: i for i, name in enumerate(RUN_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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


def _session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by all workers of this pytest session (each xdist worker's basetemp is a subfolder of
    the session's), or this process's basetemp without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``lock`` (waits without a deadline: a loaded machine may build slowly)."""
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def shared_build(tmp_path_factory: pytest.TempPathFactory, name: str, target: str) -> Path:
    """``make TARGET`` in a fresh copy, ONCE per session whichever worker asks first; the others wait for it
    and get the same folder (or the same failure, without building again)."""
    reuse = os.environ.get("NKT_E2E_REUSE")
    if reuse:
        return Path(reuse) / f"{name}0" / "project"
    home = _session_dir(tmp_path_factory) / f"shared-{name}"
    with _exclusive(home.parent / f"shared-{name}.lock"):
        built, failed = home / "BUILT", home / "FAILED"
        if not built.exists() and not failed.exists():
            shutil.rmtree(home, ignore_errors=True)  # what a build interrupted earlier may have left
            home.mkdir()
            res = make(fresh_copy(home), target)
            if res.returncode == 0:
                built.touch()
            else:
                failed.write_text(
                    f"`make {target}` in {home / 'project'} failed:\n{res.stdout}\n{res.stderr}"
                )
        if failed.exists():
            pytest.fail(failed.read_text(), pytrace=False)
    return home / "project"


@pytest.fixture(scope="session")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONE temporary copy of the project, built with `make report` (few resamples); tests only read it.

    To iterate on the end-to-end tests, ``NKT_E2E_REUSE=DIR`` reuses copies built before
    (``DIR/pipeline0/project`` and ``DIR/pipeline_again0/project``) instead of building them again.
    """
    return shared_build(tmp_path_factory, "pipeline", "report")


@pytest.fixture(scope="session")
def pipeline_again(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, independent clean build (`make pipeline`) for the determinism check."""
    return shared_build(tmp_path_factory, "pipeline_again", "pipeline")


@pytest.fixture
def project_copy(built_project: Path, tmp_path: Path) -> Path:
    """This test's own copy of the built project (``cp -a``: the products, manifests and timestamps as built,
    the .venv symlink as it is), for a test that edits files or runs make."""
    copy = tmp_path / "project"
    subprocess.run(["cp", "-a", str(built_project), str(copy)], check=True)
    return copy
