"""The whole DAG in a temporary copy of the project: products, no-op rerun, partial rerun, failure handling.

The copy shares this checkout's .venv (symlinked) and sets NKT_ROOT so the kernel's helpers.config points at
the copy. It runs `make report` exactly as a user does.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run

pytestmark = pytest.mark.slow

COPY_IGNORE = shutil.ignore_patterns(
    ".venv",
    ".git",
    ".build",
    "reports",
    "processed",
    "site",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "_freeze",
)


# Fewer bootstrap resamples keep the suite fast; every step, product and rule is still exercised.
E2E_ENV = {"NKT_PARAM_OVERRIDES": "{n_bootstrap: 40}"}


def _make(copy: Path, *args: str) -> object:
    return run(["make", *args], cwd=copy, env={**E2E_ENV, "NKT_ROOT": str(copy)}, timeout=900)


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.relative_to(p.parents[1]).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _fresh_copy(base: Path) -> Path:
    copy = base / "project"
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORE)
    (copy / "data" / "processed").mkdir(exist_ok=True)
    os.symlink(ROOT / ".venv", copy / ".venv")
    return copy


def _products(copy: Path) -> list[Path]:
    return sorted((copy / "data" / "processed").glob("*.csv")) + sorted(
        (copy / "reports" / "figures").glob("*.png")
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[Path, Path]:
    """Two independent clean builds, run side by side: `make report` in one, `make pipeline` in the other."""
    first = _fresh_copy(tmp_path_factory.mktemp("pipeline"))
    second = _fresh_copy(tmp_path_factory.mktemp("pipeline_again"))
    env = {**os.environ, **E2E_ENV, "NKT_ROOT": str(second)}
    for var in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(var, None)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    other = subprocess.Popen(
        ["make", "pipeline"], cwd=second, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    res = _make(first, "report")
    out, _ = other.communicate(timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    assert other.returncode == 0, out
    return first, second


@pytest.fixture(scope="module")
def built(builds: tuple[Path, Path]) -> Path:
    return builds[0]


def test_processed_data_is_deterministic(builds: tuple[Path, Path]) -> None:
    first, second = builds
    a, b = _digest(_products(first)), _digest(_products(second))
    assert len(a) >= 10
    assert a == b, sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def test_report_written(built: Path) -> None:
    html = built / "reports" / "report.html"
    pdf = built / "reports" / "report.pdf"
    assert html.stat().st_size > 10_000
    assert pdf.read_bytes()[:4] == b"%PDF"
    text = html.read_text(encoding="utf-8")
    assert "data:image/webp;base64" in text or "data:image/png;base64" in text  # figures: lossless WebP
    external = re.findall(r"<(?:script|link|img)\b[^>]*?(?:src|href)=[\"']https?://", text)
    assert external == [], external


def test_step_products_exist(built: Path) -> None:
    from helpers import pipeline

    for step in pipeline.steps(built / "params"):
        for out in [*step.outputs, f"reports/executed/{step.name}.ipynb"]:
            assert (built / out).exists(), f"{step.name} did not write {out}"


def test_second_run_is_a_noop(built: Path) -> None:
    res = _make(built, "-q", "reports/report.html", "reports/report.pdf")
    assert res.returncode == 0, "make -q says something is out of date after a full build"
    start = time.perf_counter()
    res = _make(built, "report")
    assert res.returncode == 0
    assert "running" not in res.stderr, res.stderr
    assert time.perf_counter() - start < 10


def test_touching_params_reruns_that_step_and_downstream_only(built: Path) -> None:
    from helpers import pipeline

    names = [s.name for s in pipeline.steps(built / "params")]
    touched = names[-2]  # the peers step: only it and the report step downstream should rerun
    os.utime(built / "params" / f"{touched}.yaml")
    res = _make(built, "report")
    assert res.returncode == 0, res.stderr
    ran = re.findall(r"^\[(\d\d_\w+)\] done in", res.stderr, flags=re.M)
    assert ran == [touched, names[-1]], res.stderr


def test_failing_step_keeps_last_report_and_names_the_cell(built: Path) -> None:
    html = built / "reports" / "report.html"
    before = html.read_bytes()
    params = built / "params" / "02_fit_growth.yaml"
    original = params.read_text()
    try:
        params.write_text(original + "\n__break_on_purpose: 1\n")
        nb = built / "notebooks" / "02_fit_growth.ipynb"
        nb_text = nb.read_text()
        nb.write_text(
            nb_text.replace('"# %%', '"# %%')
        )  # unchanged source; the failure comes from the cell below
        import nbformat

        book = nbformat.read(nb, as_version=4)
        book.cells.insert(
            3, nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure for the test')")
        )
        nbformat.write(book, nb)
        res = _make(built, "report")
        assert res.returncode != 0
        # the inserted cell is the 4th cell of the source notebook (papermill's injected cell is not counted)
        assert 'notebooks/02_fit_growth.ipynb: cell 4 ("raise RuntimeError' in res.stderr, res.stderr
        assert "deliberate failure" in res.stderr
        assert (built / "reports" / "executed" / "02_fit_growth.FAILED.ipynb").exists()
        assert html.read_bytes() == before
    finally:
        params.write_text(original)


def test_bad_observations_stop_the_build_before_anything_is_overwritten(built: Path) -> None:
    html, series = built / "reports" / "report.html", built / "data" / "processed" / "national_series.csv"
    before = (html.read_bytes(), series.read_bytes())
    obs = built / "data" / "raw" / "observations.csv"
    original = obs.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    try:
        # line 3 of the file: the second observation gets a negative count and a bad date
        import csv
        import io

        row = next(csv.reader(io.StringIO(lines[2])))
        row[4] = "2010-13-45"  # period_start
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        obs.write_text("".join([*lines[:2], buf.getvalue(), *lines[3:]]), encoding="utf-8")
        res = _make(built, "report")
        assert res.returncode != 0
        assert "data/raw/observations.csv:3: period_start:" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
        assert (html.read_bytes(), series.read_bytes()) == before
    finally:
        obs.write_text(original, encoding="utf-8")


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)"
)
def test_built_report_opens_offline_in_chromium(built: Path) -> None:
    """The browser checks of tests/test_browser.py, run on the report this build just wrote."""
    res = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_browser.py",
            "-k",
            "real_report",
        ],
        cwd=ROOT,
        env={"NKREPORT_HTML": str(built / "reports" / "report.html")},
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert "2 passed" in res.stdout, res.stdout[-2000:]
