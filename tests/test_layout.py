"""The layers of ``src/helpers`` as subpackages: import tracing through them, module sizes, docstrings."""

from __future__ import annotations

import ast

import pytest

from helpers.pipeline import manifest
from tests.conftest import ROOT

HELPERS = ROOT / "src" / "helpers"
#: The layers (issue #13 item 4), one subpackage each; each module at most ~600 lines.
LAYERS = ("data", "models", "steps", "report", "render", "pipeline")
#: What may stay at the top of the package: paths, the one writer, lazy imports and the public facade.
TOP_LEVEL = {"__init__.py", "config.py", "io.py", "_lazy.py", "growth.py"}
MAX_LINES = 620


@pytest.mark.parametrize(
    "code",
    [
        "from helpers.data import cleaning",
        "import helpers.data.cleaning as c",
        "import helpers.data.cleaning",
        "from helpers.data.cleaning import classify_usability",
    ],
)
def test_closure_finds_subpackage_modules_and_what_they_import(code: str) -> None:
    mods = manifest.helpers_closure([code])
    assert {"helpers", "helpers.data", "helpers.data.cleaning"} <= mods.keys()
    assert mods["helpers.data.cleaning"] == "src/helpers/data/cleaning.py"


def test_closure_is_transitive_through_subpackages() -> None:
    # reconcile imports national and pairs (helpers.data.*); the notebook only names reconcile
    mods = manifest.helpers_closure(["from helpers.data import reconcile"])
    assert {"helpers.data.national", "helpers.data.pairs", "helpers.data.cleaning"} <= mods.keys()
    # and a name that is not a module is no module
    assert "helpers.data.reconcile.reconcile_sources" not in manifest.helpers_closure(
        ["from helpers.data.reconcile import reconcile_sources"]
    )


def test_closure_of_the_render_cli_covers_every_render_module() -> None:
    """The render guards trace ``helpers.render.__main__``: an edit to any render module reruns the renders."""
    mods = manifest.helpers_closure(["import helpers.render.__main__"])
    on_disk = {f"helpers.render.{p.stem}" for p in (HELPERS / "render").glob("*.py") if p.stem != "__init__"}
    assert on_disk <= mods.keys(), on_disk - mods.keys()


def test_every_notebook_import_of_a_subpackage_is_traced() -> None:
    """Whatever notebook 01 imports from helpers.data appears in its closure (what its manifest hashes)."""
    import json

    nb = json.loads((ROOT / "notebooks" / "01_clean.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    mods = manifest.helpers_closure(code)
    for name in ("cleaning", "external", "national", "reconcile", "timeline", "observations", "sources"):
        assert f"helpers.data.{name}" in mods


def test_notebook_params_line_is_traced_but_the_rules_module_is_not_hashed() -> None:
    """Every notebook's first line imports ``helpers.pipeline.params``: the closure finds it (and its package);
    the manifest leaves the rules module out (its effect is the resolved parameters, hashed themselves)."""
    code = 'from helpers.pipeline import params; globals().update(params.notebook("01_clean", globals()))'
    mods = manifest.helpers_closure([code])
    assert {"helpers.pipeline", "helpers.pipeline.params", "helpers.config"} <= mods.keys()
    assert "helpers.pipeline.params" in manifest.UNTRACKED_MODULES


def test_closure_of_the_sweep_covers_the_pipeline_modules_it_uses() -> None:
    """The scenarios guard traces ``--module helpers.pipeline.scenarios``: the step definitions it reads are in it."""
    mods = manifest.helpers_closure(["import helpers.pipeline.scenarios"])
    assert {"helpers.pipeline.scenarios", "helpers.pipeline.dag", "helpers.pipeline.params"} <= mods.keys()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--module helpers.pipeline.scenarios" in makefile


def test_importing_the_params_of_a_notebook_does_not_import_papermill() -> None:
    """``from helpers.pipeline import params`` (each notebook's first line) stays light: no papermill/nbconvert."""
    import subprocess
    import sys

    code = (
        "import sys; from helpers.pipeline import params; "
        "print(sorted(m for m in ('papermill', 'nbconvert', 'nbformat') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_modules_are_short_and_the_package_says_what_it_holds(layer: str) -> None:
    pkg = HELPERS / layer
    doc = ast.get_docstring(ast.parse((pkg / "__init__.py").read_text(encoding="utf-8")))
    lines = (doc or "").splitlines()
    assert lines and lines[0].strip() and (len(lines) == 1 or not lines[1].strip()), (
        f"{layer}/__init__.py: a docstring whose first line alone says what the layer holds"
    )
    long = {
        p.name: n
        for p in pkg.glob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines in helpers/{layer}: {long}"


def test_the_public_facade_still_fits() -> None:
    """``import helpers.growth; helpers.growth.fit`` is the user's entry point (kept through the move)."""
    import helpers.growth
    from helpers.models import growth as models_growth

    assert helpers.growth.fit is models_growth.fit and helpers.growth.FitResult is models_growth.FitResult


def test_no_module_left_at_the_old_flat_paths() -> None:
    old = (
        "observations",
        "events",
        "external",
        "cleaning",
        "render",
        "pipeline",
        "params",
        "publish",
        "scenarios",
        "likelihood",
        "panel",
        "nist",
        "growth_report",
        "peers_report",
        "contracts",
        "contracts_peers",
        "report",
        "report_html",
        "report_figures",
        "figures",
    )
    assert not [m for m in old if (HELPERS / f"{m}.py").exists()]
    assert {p.name for p in HELPERS.glob("*.py")} <= TOP_LEVEL
    assert {p.name for p in HELPERS.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)
    assert not [d for d in ("pandoc", "quarto", "fonts", "templates") if (HELPERS / d).exists()]


def test_quarto_edition_does_not_read_cell_labels() -> None:
    """``#| label:`` comments in code cells do nothing: the Quarto edition renders the Markdown export of
    notebook 04 (code excluded), so such comments are not written in notebook 01."""
    text = "".join(p.read_text(encoding="utf-8") for p in (HELPERS / "render").rglob("*") if p.is_file()
                   and p.suffix in {".py", ".yml", ".lua", ".typ"})  # fmt: skip
    assert "#| label" not in text
    assert "#| label" not in (ROOT / "notebooks" / "01_clean.ipynb").read_text(encoding="utf-8")


def test_render_rules_hash_every_resource_file() -> None:
    """The render guards' ``--in`` files (Makefile ``RENDER_FILES``) are every file of the renderers'
    resources, so an edit to a template, filter, font or the Quarto project reruns the renders."""
    import subprocess

    out = subprocess.run(["make", "-pn", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RENDER_FILES :="))
    listed = set(line.split(":=", 1)[1].split())
    on_disk = {
        p.relative_to(ROOT).as_posix() for p in (HELPERS / "render" / "resources").rglob("*") if p.is_file()
    }
    assert on_disk and listed == on_disk
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert makefile.count("--module helpers.render.__main__") == 2
