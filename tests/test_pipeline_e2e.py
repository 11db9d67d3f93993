"""The whole DAG in a temporary copy of the project, and each reproduction of issue #10 on that built copy.

The copy (conftest ``built_project``, built once per session with few resamples, shared by the xdist workers)
shares this checkout's .venv and sets NKT_ROOT so the kernels' helpers.config points at the copy. It runs
`make report` exactly as a user does. Tests only read it; a test that edits files or runs make works in its own
``cp -a`` of it (conftest ``project_copy``), which starts up to date (test_second_run_is_a_noop checks that).
The tests that rebuild a step are in tests/test_pipeline_rebuilds.py, so the two xdist workers share the work.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from tests import test_browser as tb
from tests.conftest import VENV_BIN, make, make_env, run
from tests.test_browser import browser  # noqa: F401  (the headless Chromium fixture)

pytestmark = pytest.mark.slow

STEP_DONE = re.compile(r"^\[(\d\d_\w+|scenarios)\] done in", flags=re.M)


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.relative_to(p.parents[1]).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _products(copy: Path) -> list[Path]:
    return sorted((copy / "data" / "processed").glob("*.csv")) + sorted(
        (copy / "reports" / "figures").glob("*.png")
    )


def _everything(copy: Path, executed: bool = True) -> dict[str, str]:
    """Hashes of every file the build wrote (products, summaries, reports, and the executed notebooks unless
    ``executed`` is false: a rerun step's executed copy differs in its timings only)."""
    files = [
        p
        for d in ("data/processed", "reports")
        for p in sorted((copy / d).rglob("*"))
        if p.is_file() and "scenarios" not in p.parts and (executed or "executed" not in p.parts)
    ]
    return {p.relative_to(copy).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _ran(res: subprocess.CompletedProcess) -> list[str]:
    return STEP_DONE.findall(res.stderr)


@contextmanager
def _restored(*paths: Path) -> Iterator[None]:
    saved = {p: p.read_bytes() for p in paths}
    try:
        yield
    finally:
        for p, data in saved.items():
            p.write_bytes(data)


def _edit_report_prose(copy: Path, marker: str) -> Path:
    """Change one sentence of report text (a markdown cell of notebook 04), as an author would."""
    path = copy / "notebooks" / "04_report.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and len(c.source) > 40)
    cell.source += f"\n\n{marker}"
    nbformat.write(nb, path)
    return path


# ---- the build --------------------------------------------------------------------------------------------


def test_processed_data_is_deterministic(pipeline_again: Path, built_project: Path) -> None:
    """Two independent clean builds (`make report` and `make pipeline`) write the same bytes."""
    first, second = built_project, pipeline_again
    a, b = _digest(_products(first)), _digest(_products(second))
    assert len(a) >= 10
    assert a == b, sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def test_report_written(built_project: Path) -> None:
    html = built_project / "reports" / "report.html"
    pdf = built_project / "reports" / "report.pdf"
    assert html.stat().st_size > 10_000
    assert pdf.read_bytes()[:4] == b"%PDF"
    text = html.read_text(encoding="utf-8")
    assert "data:image/webp;base64" in text or "data:image/png;base64" in text  # figures: lossless WebP
    external = re.findall(r"<(?:script|link|img)\b[^>]*?(?:src|href)=[\"']https?://", text)
    assert external == [], external


def test_step_products_exist_and_manifests_match(built_project: Path) -> None:
    from helpers.pipeline import dag

    for step in dag.steps(built_project / "params"):
        for out in [*step.outputs, f"reports/executed/{step.name}.ipynb", step.manifest]:
            assert (built_project / out).exists(), f"{step.name} did not write {out}"
    assert not list((built_project / ".build" / "staging").glob("*")), "staging left behind"
    status = run([sys.executable, "-m", "helpers.pipeline", "status"], built_project, make_env(built_project))
    assert status.stdout.count("up to date") == 4, status.stdout + status.stderr


def test_second_run_is_a_noop(project_copy: Path) -> None:
    """The built copy is up to date (and so is every ``cp -a`` of it that the other tests start from)."""
    before = _everything(project_copy)
    res = make(project_copy, "report")
    assert res.returncode == 0
    assert "running" not in res.stderr, res.stderr
    assert _everything(project_copy) == before


# ---- exploration cannot corrupt the build -----------------------------------------------------------------


def test_pipeline_run_with_params_overrides_keys_and_writes_to_scratch(
    project_copy: Path, tmp_path: Path
) -> None:
    copy = project_copy
    before = _everything(copy)
    mine = tmp_path / "my.yaml"
    mine.write_text("n_bootstrap: 30\nhorizon: 2028\n")
    res = run(
        [sys.executable, "-m", "helpers.pipeline", "run", "02_fit_growth", "--params", str(mine)],
        copy,
        make_env(copy),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert _everything(copy) == before, "an exploratory run replaced pipeline products"
    scratch = copy / ".build" / "scratch" / "02_fit_growth"
    summary = json.loads((scratch / "data" / "processed" / "growth_summary.json").read_text())
    published = json.loads((copy / "data" / "processed" / "growth_summary.json").read_text())
    assert summary != published and "2028" in json.dumps(summary), "the overrides were not applied"
    assert (scratch / "02_fit_growth.ipynb").exists()
    res = make(copy, "report")
    assert res.returncode == 0 and _ran(res) == [], res.stderr


def test_lab_autosave_metadata_and_outputs_rerun_nothing(project_copy: Path) -> None:
    copy = project_copy
    before = _everything(copy)
    for path in sorted((copy / "notebooks").glob("0*.ipynb")):
        # what JupyterLab writes: language_info, execution counts, outputs
        nb = nbformat.read(path, as_version=4)
        nb.metadata["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.execution_count = 1
                cell.outputs = [nbformat.v4.new_output("stream", text="saved by Lab\n")]
        nbformat.write(nb, path)
    res = make(copy, "report")
    assert res.returncode == 0, res.stderr
    assert "running" not in res.stderr, res.stderr
    assert _everything(copy) == before


def test_touching_files_reruns_nothing_and_steps_wait_for_upstream(project_copy: Path) -> None:
    """Issue: touch 01 and its products -> 02 started with 01 in the same second on the old series."""
    copy = project_copy
    for p in [copy / "notebooks" / "01_clean.ipynb", *_products(copy)]:
        os.utime(p)
    res = make(copy, "pipeline")
    assert res.returncode == 0 and _ran(res) == [], res.stderr
    # the generated rules order the steps: 02 waits for the manifest of 01 whatever the timestamps say
    mk = (copy / ".build" / "pipeline.mk").read_text()
    rule = next(line for line in mk.splitlines() if line.startswith(".build/manifests/02_fit_growth.json:"))
    assert ".build/manifests/01_clean.json" in rule


# ---- content decides what reruns --------------------------------------------------------------------------


def test_changing_a_parameter_reruns_that_step_and_downstream_only_and_the_report_follows(
    project_copy: Path,
) -> None:
    """A parameter of step 02 (the forecast horizon) reruns 02, the sweep that reads 02's parameters and the
    report, never 01 (upstream) or 03 (not downstream of 02). The report reads the horizon from step 02's typed
    summary: no year is hard-coded (issue #13)."""
    copy = project_copy
    params = copy / "params" / "02_fit_growth.yaml"
    params.write_text(re.sub(r"\nhorizon: 2030\b", "\nhorizon: 2028", params.read_text()))
    res = make(copy, "report")
    assert res.returncode == 0, res.stderr
    assert sorted(_ran(res)) == ["02_fit_growth", "04_report", "scenarios"], res.stderr
    html = (copy / "reports" / "report.html").read_text(encoding="utf-8")
    assert "in 2028" in html and "2030 (millions)" not in html


# ---- failures lose nothing ---------------------------------------------------------------------------------


def test_typo_in_params_fails_before_any_kernel_naming_file_and_key(project_copy: Path) -> None:
    copy = project_copy
    before = _everything(copy)
    params = copy / "params" / "02_fit_growth.yaml"
    params.write_text(params.read_text().replace("n_bootstrap:", "n_bootsrap:"))
    res = make(copy, "report")
    assert res.returncode != 0
    assert "params/02_fit_growth.yaml: n_bootsrap: not a parameter of step 02_fit_growth" in res.stderr
    assert "did you mean 'n_bootstrap'" in res.stderr
    assert "running" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert _everything(copy) == before


def test_papermill_list_parameter_is_not_split_into_characters(project_copy: Path, tmp_path: Path) -> None:
    res = run(
        [
            str(VENV_BIN / "papermill"), "notebooks/02_fit_growth.ipynb", str(tmp_path / "x.ipynb"),
            "-p", "models", '["x"]', "--cwd", "notebooks", "--start-timeout", "3600",
        ],
        project_copy, make_env(project_copy),
    )  # fmt: skip
    assert res.returncode != 0
    assert "models: item 1: must be one of 'logistic'" in res.stdout + res.stderr


def test_first_cell_after_parameters_is_numbered_right(project_copy: Path) -> None:
    nb = project_copy / "notebooks" / "04_report.ipynb"
    book = nbformat.read(nb, as_version=4)
    index = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
    book.cells.insert(index + 1, nbformat.v4.new_code_cell("raise ValueError('right after the parameters')"))
    nbformat.write(book, nb)
    res = make(project_copy, "report")
    assert res.returncode != 0
    assert f'notebooks/04_report.ipynb: cell {index + 2} ("raise ValueError' in res.stderr, res.stderr


def test_bad_observations_stop_the_build_before_anything_is_overwritten(project_copy: Path) -> None:
    import csv
    import io

    copy = project_copy
    before = _everything(copy)
    obs = copy / "data" / "raw" / "observations.csv"
    lines = obs.read_text(encoding="utf-8").splitlines(keepends=True)
    row = next(csv.reader(io.StringIO(lines[2])))
    row[4] = "2010-13-45"  # period_start
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    obs.write_text("".join([*lines[:2], buf.getvalue(), *lines[3:]]), encoding="utf-8")
    res = make(copy, "report")
    assert res.returncode != 0
    assert "data/raw/observations.csv:3: period_start:" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    after = _everything(copy)
    assert {k: v for k, v in after.items() if "validation" not in k} == {
        k: v for k, v in before.items() if "validation" not in k
    }


# ---- the published report in a browser ---------------------------------------------------------------------


@pytest.mark.skipif(tb.CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)")
@pytest.mark.parametrize(("width", "mobile"), [(1280, False), (390, True)])
def test_built_report_opens_offline_in_chromium(
    browser: str,  # noqa: F811  (the fixture imported from tests.test_browser)
    built_project: Path,
    tmp_path: Path,
    width: int,
    mobile: bool,
) -> None:
    """The browser checks of tests/test_browser.py's real-report test, on the report this build just wrote."""
    tb.check_real_report(browser, built_project / "reports" / "report.html", tmp_path, width, mobile)
