"""Shared fixtures: the project root and a helper to run commands with the project's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 3600
) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; the venv's bin comes first on PATH."""
    full_env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    for var in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):  # a nested make (make test) must behave like a user's
        full_env.pop(var, None)
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
