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


def test_helpers_closure_cache_follows_edits(tmp_path: Path, monkeypatch) -> None:
    """The parsed imports are cached by module content (.build/imports-cache.json): an edited module is parsed
    again, so a new import is traced at once; a fresh process reads the cache and gets the same closure."""
    monkeypatch.setattr(config, "ROOT", tmp_path)
    monkeypatch.setattr(manifest, "_imports_cache", None)
    pkg = tmp_path / "src" / "helpers"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "b.py").write_text("X = 1\n")
    (pkg / "c.py").write_text("Y = 2\n")
    (pkg / "a.py").write_text("def f():\n    from helpers import b\n    return b.X\n")
    assert set(manifest.helpers_closure(["import helpers.a"])) == {"helpers", "helpers.a", "helpers.b"}
    assert (tmp_path / manifest.IMPORTS_CACHE).is_file()
    (pkg / "a.py").write_text("import helpers.c\n")
    assert set(manifest.helpers_closure(["import helpers.a"])) == {"helpers", "helpers.a", "helpers.c"}
    monkeypatch.setattr(manifest, "_imports_cache", None)  # as a new process: from the file
    assert set(manifest.helpers_closure(["import helpers.a"])) == {"helpers", "helpers.a", "helpers.c"}


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


def test_a_stop_between_two_cells_names_the_last_cell_that_ran(tmp_path: Path) -> None:
    """Ctrl-C after a cell ended and before papermill marked the next one running: the message names the
    last cell that ran (not "before the first cell"); with no cell run at all it says so."""
    import nbformat

    ran = {"papermill": {"exception": False, "status": "completed"}}
    never = {"papermill": {"exception": None, "status": "completed"}}  # papermill's clean-up of pending cells
    title = nbformat.v4.new_markdown_cell("# Title")
    cells = [title, nbformat.v4.new_code_cell("x = 1", metadata=ran),
             nbformat.v4.new_code_cell("fits = fit()", metadata=ran), nbformat.v4.new_code_cell("y = 2", metadata=never)]  # fmt: skip
    step = run.get_step("01_clean")
    for given, expected in ((cells, "after cell 3 ('fits = fit()') interrupted"),
                            ([title, cells[3]], "before the first cell interrupted")):  # fmt: skip
        failed = _nb(tmp_path / "executed.FAILED.ipynb", given)
        stage = tmp_path / "stage"
        stage.mkdir(exist_ok=True)
        err = run._failure(step, KeyboardInterrupt(), tmp_path / "missing.ipynb", failed, stage)
        assert expected in str(err), str(err)


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


#: Appended to the subprocess programs below (inside their ``if True:``): after a lighter import of papermill,
#: nbformat's schema validation still accepts a valid notebook and rejects an invalid one.
_NBFORMAT_STILL_REJECTS = """
        import nbformat
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
        nbformat.validate(nb)
        nb.cells[0]["cell_type"] = "nonsense"
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError:
            print("rejected")
        else:
            raise AssertionError("an invalid notebook passed")
"""


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
    """
    res = subprocess.run(
        [sys.executable, "-c", code + _NBFORMAT_STILL_REJECTS], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "rejected"


# ---- the engine: what a saved executed notebook holds, and how often it is written ---------------------------


def _execute(
    tmp_path: Path, cells: list[str], monkeypatch, **engine_kwargs
) -> tuple[Path, list[str], Exception]:
    """Run ``cells`` with the project kernel and helpers.pipeline.engine; (output path, what each write held,
    the exception papermill raised or None)."""
    import nbformat

    run.skip_iri_grammars()
    import papermill as pm
    import papermill.engines as pm_engines
    import papermill.execute as pm_execute

    from helpers.pipeline import engine

    src = _nb(tmp_path / "in.ipynb", [nbformat.v4.new_code_cell(c) for c in cells])
    out = tmp_path / "out.ipynb"
    writes: list[str] = []
    real = pm_engines.write_ipynb

    def counting(nb, path):  # every write the manager makes, as the JSON it wrote
        real(nb, path)
        writes.append(Path(path).read_text(encoding="utf-8"))

    monkeypatch.setattr(pm_engines, "write_ipynb", counting)  # the execution manager's writes
    monkeypatch.setattr(pm_execute, "write_ipynb", counting)  # papermill's own at the end (banner, final)
    error = None
    try:
        pm.execute_notebook(
            str(src), str(out), kernel_name=config.KERNEL_NAME, progress_bar=False, cwd=str(tmp_path),
            engine_name=engine.ENGINE_NAME, extra_arguments=run._kernel_quiet_args(), **engine_kwargs,
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - the caller looks at it
        error = exc
    return out, writes, error


def test_engine_writes_rarely_and_the_failed_copy_has_the_cell_its_error_and_the_banner(
    tmp_path: Path, monkeypatch
) -> None:
    """40 cells, the 31st fails: papermill's stock manager writes 62 times; this one writes at the start and
    at the failure (then papermill adds its banner and writes once), and that copy holds what a user needs."""
    import nbformat
    from papermill.exceptions import PapermillExecutionError

    from helpers.pipeline import engine

    cells = [f"x{i} = {i}" for i in range(30)] + ["raise ValueError('cell 31 fails')"] + ["y = 1"] * 9
    live = engine.LiveState()
    out, writes, error = _execute(tmp_path, cells, monkeypatch, save_every=3600.0, live=live)
    assert isinstance(error, PapermillExecutionError) and "cell 31 fails" in str(error)
    assert len(writes) == 3, f"{len(writes)} writes"
    assert live.manager is not None and live.manager.saves == len(writes) - 1  # + papermill's own final write
    nb = nbformat.read(out, as_version=4)
    assert "papermill-error-cell-tag" in nb.cells[0].metadata.get("tags", [])  # the red banner
    failed = [c for c in nb.cells if c.get("metadata", {}).get("papermill", {}).get("status") == "failed"]
    assert len(failed) == 1 and "cell 31 fails" in "".join(o.get("evalue", "") for o in failed[0].outputs)
    assert run._source_cell(out) == (31, "raise ValueError('cell 31 fails')")
    # the copy written at the failure itself (before papermill's banner) already names the cell
    at_failure = nbformat.reads(writes[-2], as_version=4)
    assert [c.source for c in at_failure.cells if c.metadata.papermill.get("status") == "failed"] == [
        cells[30]
    ]


def test_engine_writes_what_ran_when_the_kernel_dies(tmp_path: Path, monkeypatch) -> None:
    """A dead kernel ends execution with an exception, not a failed cell: the copy is still written, with the
    outputs of every cell that ran."""
    import nbformat

    cells = ["print('before the crash')", "import os; os._exit(1)", "y = 1"]
    out, writes, error = _execute(tmp_path, cells, monkeypatch, save_every=3600.0)
    assert error is not None and "dead" in f"{type(error).__name__} {error}".lower(), repr(error)
    assert len(writes) == 2  # start, and the end cut short
    nb = nbformat.read(out, as_version=4)
    assert "before the crash" in "".join(o.get("text", "") for o in nb.cells[0].outputs)


def test_running_cell_is_numbered_as_in_the_source_notebook() -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("a = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("a = 2", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("\n# slow\nfit()"),
    ]
    assert run._running_cell(nb, 3) == (3, "# slow")
    assert run._running_cell(nb, 7) is None
    # progress lines ask the engine (in this process) which cell runs, not the copy on disk
    from types import SimpleNamespace

    from helpers.pipeline import engine

    live = engine.LiveState()
    progress = run._Progress("07_demo", live, every=0)
    assert progress.current() is None  # before the manager exists
    live.manager = SimpleNamespace(nb=nb, running=(3, nb.cells[3]))
    assert progress.current() == (3, "# slow")
    live.manager.running = None
    assert progress.current() is None


def test_a_figure_is_shown_once_as_the_png_file_it_was_saved_to(tmp_path: Path, monkeypatch) -> None:
    """figures.save_and_show in a kernel: one image output per figure, byte for byte the saved file, shown at
    the inline backend's size; no figure left open for the inline backend to draw again."""
    import base64

    import nbformat

    png = tmp_path / "f.png"
    cells = [
        "from helpers.report import figures\nimport matplotlib.pyplot as plt\nfigures.use_style()",
        f"fig, ax = plt.subplots()\nax.plot([1, 2, 3])\n_ = figures.save_and_show(fig, {str(png)!r})",
        "print(len(plt.get_fignums()))",
    ]
    out, _, error = _execute(tmp_path, cells, monkeypatch)
    assert error is None, error
    nb = nbformat.read(out, as_version=4)
    shown = [o for o in nb.cells[1].outputs if "image/png" in o.get("data", {})]
    assert len(shown) == 1, nb.cells[1].outputs
    assert base64.b64decode(shown[0]["data"]["image/png"]) == png.read_bytes()
    width = int.from_bytes(png.read_bytes()[16:20], "big")
    assert shown[0]["metadata"]["image/png"]["width"] == round(width * 110 / 150)  # figure.dpi / savefig.dpi
    assert nb.cells[2].outputs[0]["text"].strip() == "0"


def test_save_and_show_outside_a_kernel_saves_and_closes(tmp_path: Path, capsys) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.report import figures

    fig, ax = plt.subplots()
    ax.plot([1, 2])
    path = figures.save_and_show(fig, tmp_path / "g.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.number not in plt.get_fignums()
    assert capsys.readouterr().out == ""


def test_the_pipelines_kernel_runs_without_the_debugger(tmp_path: Path, monkeypatch) -> None:
    """The engine starts kernels with helpers.pipeline.kernel: ipykernel's no-debugpy start, same shell."""
    import nbformat

    cells = [
        "import sys\nprint(sys.modules.get('debugpy', 'absent'), type(get_ipython().kernel).__name__)",
        "print(sys.argv[0].endswith('kernel.py'), 6 * 7)",
    ]
    out, _, error = _execute(tmp_path, cells, monkeypatch)
    assert error is None, error
    nb = nbformat.read(out, as_version=4)
    assert nb.cells[0].outputs[0]["text"].split() == ["None", "IPythonKernel"]
    assert nb.cells[1].outputs[0]["text"].split() == ["True", "42"]


def test_lean_papermill_imports_leave_papermill_whole_and_later_imports_ordinary() -> None:
    """run.lean_papermill_imports: papermill imports without requests, click and the format-checker
    libraries; its http handler still reaches the real requests; a later `import requests` is the real
    package; nbformat still rejects an invalid notebook."""
    import subprocess
    import sys

    code = """if True:
        import sys
        from helpers.pipeline import run
        with run.lean_papermill_imports():
            import papermill, papermill.iorw
        loaded = {name for name, module in sys.modules.items() if module is not None}
        assert not {"requests", "click", "isoduration", "arrow"} & loaded, "imported anyway"
        assert papermill.iorw.requests.get.__module__ == "requests.api"  # the stand-in reaches the real one
        import requests.adapters
        assert type(sys.modules["requests"]).__name__ == "module"
    """
    res = subprocess.run(
        [sys.executable, "-c", code + _NBFORMAT_STILL_REJECTS], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "rejected"
