"""Committed notebooks: no outputs, one parameters cell that matches the params YAML, the project kernel."""

from __future__ import annotations

import ast

import nbformat
import pytest

from helpers.pipeline import dag
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_four_steps() -> None:
    assert [s.name for s in dag.steps()] == [nb.stem for nb in NOTEBOOKS]
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert dirty == [], f"{path.name}: cells {dirty} have outputs; run `python tools/nbfmt.py {path}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_matches_yaml(path) -> None:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"
    tree = ast.parse(cells[0].source)
    names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}
    yaml_keys = set(dag.load_params(ROOT / "params" / f"{path.stem}.yaml"))
    assert names == yaml_keys, (
        f"{path.name}: parameters cell and params/{path.stem}.yaml disagree: "
        f"only in notebook {sorted(names - yaml_keys)}, only in YAML {sorted(yaml_keys - names)}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_uses_project_kernel(path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "nk-telecom"


def _makefile_products() -> set[str]:
    """Files the Makefile itself produces for the steps (e.g. the observations validation report)."""
    import re

    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^[A-Z_]+ := (data/processed/\S+|reports/\S+)$", text, flags=re.M))


def test_declared_inputs_exist_or_are_produced() -> None:
    produced = {o for s in dag.steps() for o in s.outputs} | _makefile_products()
    for step in dag.steps():
        for inp in step.inputs:
            assert inp in produced or (ROOT / inp).exists(), (
                f"{step.name}: input {inp} is neither a file nor produced"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameter_defaults_equal_yaml(path) -> None:
    """Run in JupyterLab without papermill, a notebook computes exactly what `make report` computes."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    defaults = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign)
    }
    yaml_values = dag.load_params(ROOT / "params" / f"{path.stem}.yaml")
    differ = {k: (defaults[k], v) for k, v in yaml_values.items() if defaults.get(k) != v}
    assert not differ, f"{path.name}: parameters cell defaults differ from params/{path.stem}.yaml: {differ}"


def test_nbfmt_check_and_git_filter_strip_what_lab_saves(tmp_path) -> None:
    import subprocess
    import sys

    nbfmt = str(ROOT / "tools" / "nbfmt.py")
    assert subprocess.run([sys.executable, nbfmt, "--check", *map(str, NOTEBOOKS)]).returncode == 0
    path = tmp_path / "lab.ipynb"
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="saved by Lab\n")]
    code.execution_count = 4
    nbformat.write(nb, path)
    res = subprocess.run([sys.executable, nbfmt, "--check", str(path)], capture_output=True, text=True)
    assert res.returncode == 1 and "lab.ipynb" in res.stderr
    cleaned = subprocess.run(
        [sys.executable, nbfmt, "--stdin"], input=path.read_text(), capture_output=True, text=True, check=True
    ).stdout
    assert cleaned == NOTEBOOKS[0].read_text(encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS[:3], ids=lambda p: p.name)
def test_figures_are_drawn_once(path) -> None:
    """Steps 01-03 show each figure as the PNG they saved (figures.save_and_show), so the inline backend does
    not draw it a second time; a cell that saves a figure with plain savefig must close it."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "savefig(" in cell.source and "save_and_show" not in cell.source:
            assert "plt.close(" in cell.source, (
                f"{path.name}: cell {i + 1} saves a figure the backend draws again"
            )
