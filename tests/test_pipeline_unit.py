"""helpers.pipeline (dag, makefile, manifest, run) on small, made-up parameter files."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import config
from helpers.pipeline import dag, makefile, manifest, run


def _step(tmp_path: Path, text: str) -> dag.Step:
    p = tmp_path / "07_demo.yaml"
    p.write_text(text)
    return dag.Step("07_demo", tmp_path / "07_demo.ipynb", p, dag.load_params(p))


def test_inputs_outputs_from_prefixes(tmp_path: Path) -> None:
    s = _step(tmp_path, "in_a: data/a.csv\nin_b: [data/b1.csv, data/b2.csv]\nout_x: data/x.csv\nseed: 3\n")
    assert s.inputs == ["data/a.csv", "data/b1.csv", "data/b2.csv"]
    assert s.outputs == ["data/x.csv"]


def test_makefile_rule_checks_content_after_upstream_and_products_follow_manifest(tmp_path: Path) -> None:
    up = dag.Step("06_up", tmp_path / "06_up.ipynb", tmp_path / "06_up.yaml", {"out_a": "data/a.csv"})
    s = _step(tmp_path, "in_a: data/a.csv\nin_raw: data/raw.csv\nout_x: data/x.csv\n")
    rules = makefile.makefile_rules([up, s]).splitlines()
    rule = next(line for line in rules if line.startswith(".build/manifests/07_demo.json:"))
    prereqs = rule.split(":", 1)[1].split("|")[0].split()
    # always checked (content decides), after the upstream step's manifest, and the raw input must exist
    assert prereqs == ["FORCE", ".build/manifests/06_up.json", "data/raw.csv"]
    assert "\t@$(RUN_STEP) 07_demo --if-stale" in rules
    assert "$(STEP_07_DEMO_OUT): .build/manifests/07_demo.json ;" in rules
    assert "STEP_07_DEMO_OUT := data/x.csv reports/executed/07_demo.ipynb" in rules
    assert not any("&:" in line for line in rules), "grouped targets let make delete products on failure"


def test_bad_yaml_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("- a list\n- not a mapping\n")
    with pytest.raises(dag.PipelineError, match="expected a mapping"):
        dag.load_params(p)
    p.write_text("in_a: [unclosed\n")
    with pytest.raises(dag.PipelineError, match="not valid YAML"):
        dag.load_params(p)


def test_path_values_must_be_strings(tmp_path: Path) -> None:
    s = _step(tmp_path, "in_a: 3\n")
    with pytest.raises(dag.PipelineError, match="in_a"):
        _ = s.inputs


def test_overrides_touch_only_existing_ordinary_parameters() -> None:
    params = {"in_a": "data/a.csv", "out_x": "data/x.csv", "n_bootstrap": 1000, "seed": 1}
    out = dag.apply_overrides(params, "{n_bootstrap: 50, not_here: 3}")
    assert out == {**params, "n_bootstrap": 50}
    assert dag.apply_overrides(params, "") == params
    with pytest.raises(dag.PipelineError, match="cannot be overridden"):
        dag.apply_overrides(params, "{out_x: elsewhere.csv}")
    with pytest.raises(dag.PipelineError, match="expected a mapping"):
        dag.apply_overrides(params, "[1, 2]")


def _nb(path: Path, cells: list, metadata: dict | None = None) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata = metadata or {}
    nbformat.write(nb, path)
    return path


def test_notebook_hash_ignores_metadata_outputs_and_counts_but_not_code_or_text(tmp_path: Path) -> None:
    import nbformat

    code = nbformat.v4.new_code_cell("x = 1")
    text = nbformat.v4.new_markdown_cell("The report says *this*.")
    base = manifest.notebook_source_hash(_nb(tmp_path / "a.ipynb", [code, text]))
    # what JupyterLab's autosave changes: language_info, outputs, execution counts, cell ids
    saved = nbformat.v4.new_code_cell("x = 1", execution_count=7)
    saved.outputs = [nbformat.v4.new_output("stream", text="hello")]
    lab = _nb(tmp_path / "b.ipynb", [saved, text], {"language_info": {"name": "python", "version": "3.11.7"}})
    assert manifest.notebook_source_hash(lab) == base
    prose = nbformat.v4.new_markdown_cell("The report says *that*.")
    assert manifest.notebook_source_hash(_nb(tmp_path / "c.ipynb", [code, prose])) != base
    assert (
        manifest.notebook_source_hash(_nb(tmp_path / "d.ipynb", [nbformat.v4.new_code_cell("x = 2"), text]))
        != base
    )


def test_helpers_closure_follows_imports_of_imports_only() -> None:
    mods = manifest.helpers_closure(["from helpers.steps import growth_summary as gsum\nimport numpy"])
    assert "helpers.steps.growth_summary" in mods and "helpers" in mods
    assert (
        "helpers.report" not in mods and "helpers.models.panel" not in mods
    )  # not imported by step 02's code
    # transitive: whatever growth_summary imports from helpers is tracked too
    src = (Path(config.ROOT) / "src/helpers/steps/growth_summary.py").read_text()
    for direct in manifest._helpers_imports(src):
        if manifest._module_file(direct):
            assert direct in mods


def test_differences_name_what_changed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(config, "ROOT", tmp_path)
    (tmp_path / "in.csv").write_text("a\n1\n")
    (tmp_path / "out.csv").write_text("b\n2\n")
    nb = _nb(tmp_path / "s.ipynb", [])
    fp = manifest.fingerprint(notebook=nb, params={"k": 1}, inputs=["in.csv"], outputs=["out.csv"])
    assert manifest.differences(fp, fp) == []
    assert manifest.differences(None, fp) == ["never built by the pipeline (no manifest)"]
    (tmp_path / "out.csv").write_text("b\n3\n")  # e.g. papermill run by hand
    now = manifest.fingerprint(notebook=nb, params={"k": 2}, inputs=["in.csv"], outputs=["out.csv"])
    assert manifest.differences(fp, now) == [
        "parameters changed",
        "product out.csv changed outside the pipeline",
    ]
    import os

    os.utime(tmp_path / "in.csv", (1, 1))  # timestamps alone change nothing
    assert (
        manifest.differences(
            now, manifest.fingerprint(notebook=nb, params={"k": 2}, inputs=["in.csv"], outputs=["out.csv"])
        )
        == []
    )


def test_failing_cell_number_counts_source_cells_only(tmp_path: Path) -> None:
    """papermill adds an error banner at the top and the injected parameters: neither is a source cell."""
    import nbformat

    banner = nbformat.v4.new_markdown_cell(
        "An Exception was encountered", metadata={"tags": ["papermill-error-cell-tag"]}
    )
    params = nbformat.v4.new_code_cell("a = 1", metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell("a = 2", metadata={"tags": ["injected-parameters"]})
    bad = nbformat.v4.new_code_cell("1/0", metadata={"papermill": {"exception": True, "status": "failed"}})
    title = nbformat.v4.new_markdown_cell("# Title")
    # the first cell after the parameters fails: it is cell 3 of the source notebook (title, parameters, it)
    path = _nb(tmp_path / "x.ipynb", [banner, title, params, injected, bad])
    assert run._source_cell(path) == (3, "1/0")
    running = nbformat.v4.new_code_cell("while True: pass", metadata={"papermill": {"status": "running"}})
    path = _nb(tmp_path / "y.ipynb", [title, params, injected, nbformat.v4.new_code_cell("ok"), running])
    assert run._source_cell(path) == (4, "while True: pass")


def test_install_leaves_identical_products_untouched(tmp_path: Path) -> None:
    import os

    final, staged = tmp_path / "f.csv", tmp_path / "s.csv"
    final.write_text("same\n")
    os.utime(final, (1000, 1000))
    staged.write_text("same\n")
    run._install(staged, final)
    assert final.stat().st_mtime == 1000 and not staged.exists()
    staged.write_text("new\n")
    run._install(staged, final)
    assert final.read_text() == "new\n"


def test_parameter_rules_module_is_not_a_code_dependency(tmp_path: Path, monkeypatch) -> None:
    """Editing a rule in helpers.pipeline.params must not rerun every step: its effect is the resolved parameters."""
    nb = _nb(tmp_path / "s.ipynb", [])
    fp = manifest.fingerprint(
        notebook=nb, params={}, inputs=[], outputs=[], extra_modules=("helpers.pipeline.params",)
    )
    assert "helpers.pipeline.params" not in fp["modules"] and "helpers.config" in fp["modules"]
    old = {**fp, "modules": {**fp["modules"], "helpers.pipeline.params": "an older hash"}}
    assert manifest.differences(old, fp) == []


# ---- start-up costs a step pays before its first cell ----------------------------------------------------


def test_stale_helpers_bytecode_is_rewritten_even_with_dontwritebytecode(tmp_path: Path) -> None:
    """Kernels load the project's modules from .pyc: one that is missing is written again before a step."""
    import importlib.util
    import os
    import subprocess
    import sys

    source = Path(config.__file__).resolve()
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    code = "from helpers.pipeline import run; raise SystemExit(0 if run.compile_helpers() else 1)"
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
    assert cached.is_file()
    # the header records the source's mtime and size: Python takes this .pyc as valid for config.py
    data = cached.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[8:12], "little") == int(source.stat().st_mtime) & 0xFFFFFFFF
    assert int.from_bytes(data[12:16], "little") == source.stat().st_size & 0xFFFFFFFF


def test_notebook_io_without_the_iri_grammars_still_validates() -> None:
    """skip_iri_grammars: papermill and nbformat import without rfc3987_syntax/lark, and nbformat still
    rejects an invalid notebook (only jsonschema's unused IRI format checker is left out)."""
    import subprocess
    import sys

    code = """if True:
        import sys
        sys.modules.pop("rfc3987_syntax", None)  # undo the venv's start-up line: test the function alone
        from helpers.pipeline import run
        run.skip_iri_grammars()
        import nbformat, papermill
        assert "lark" not in sys.modules, "the IRI grammars were built"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
        nbformat.validate(nb)
        nb.cells[0]["cell_type"] = "nonsense"
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError:
            print("rejected")
    """
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "rejected"
