"""A copied or moved checkout runs its own ``src/helpers`` with its own environment (tools/relocate_env.py).

The copy is made with hard links (``cp -al``: same bytes as ``cp -r``, without duplicating ~1 GB), then
moved with ``mv``; after each, the venv's python, an entry-point script (papermill) and a notebook run on
the ``nk-telecom`` kernel must all see the copy's ``src/helpers``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

VENV = ROOT / ".venv"

pytestmark = pytest.mark.skipif(
    not (VENV / "bin" / "python").exists() or Path(sys.prefix).resolve() != VENV.resolve(),
    reason="needs the project's .venv (make env)",
)


def _where(project: Path) -> dict[str, str]:
    """helpers.__file__ as seen by the venv's python, by papermill's script and by the kernel."""
    py = project / ".venv" / "bin" / "python"
    direct = subprocess.run(
        [str(py), "-c", "import helpers; print(helpers.__file__)"],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout.strip()  # fmt: skip
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": "import helpers, sys\nprint(helpers.__file__)\nprint(sys.executable)"}
        ],
        "metadata": {"kernelspec": {"name": "nk-telecom", "display_name": "Python (nk-telecom)", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    src, out = project / "probe.ipynb", project / "probe.out.ipynb"
    src.write_text(json.dumps(nb))
    # a start-up limit no loaded machine reaches; the test asserts on where things run, never on time
    subprocess.run(
        [str(project / ".venv" / "bin" / "papermill"), str(src), str(out), "-k", "nk-telecom",
         "--start-timeout", "3600", "--no-progress-bar"],
        capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    text = json.loads(out.read_text())["cells"][0]["outputs"][0]["text"]
    text = "".join(text) if isinstance(text, list) else text
    kernel_helpers, kernel_python = text.split()
    return {"python": direct, "kernel": kernel_helpers, "kernel_python": kernel_python}


@pytest.mark.slow  # links a copy of the whole environment and starts two kernels in each place
def test_copied_then_moved_checkout_runs_its_own_helpers(tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copytree(ROOT / "src", copy / "src")
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    subprocess.run(["cp", "-al", str(VENV), str(copy / ".venv")], check=True)
    seen = _where(copy)
    assert seen["python"] == str(copy / "src" / "helpers" / "__init__.py")
    assert seen["kernel"] == str(copy / "src" / "helpers" / "__init__.py")
    assert seen["kernel_python"].startswith(str(copy / ".venv"))

    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    copy.rename(moved)
    seen = _where(moved)
    assert seen["python"] == str(moved / "src" / "helpers" / "__init__.py")
    assert seen["kernel"] == str(moved / "src" / "helpers" / "__init__.py")
    assert seen["kernel_python"].startswith(str(moved / ".venv"))


def test_relocation_leaves_no_absolute_checkout_path():
    pth = list(VENV.glob("lib/python*/site-packages/__editable__*.pth"))
    assert pth and all(str(ROOT) not in p.read_text() for p in pth)
    spec = json.loads((VENV / "share/jupyter/kernels/nk-telecom/kernel.json").read_text())
    assert spec["argv"][0].startswith("{resource_dir}/")
    first_lines = [
        p.open("rb").readline() for p in (VENV / "bin").iterdir() if p.is_file() and not p.is_symlink()
    ]
    assert not [line for line in first_lines if line.startswith(f"#!{VENV}".encode())]
