"""The whole DAG in a temporary copy of the project, and each reproduction of issue #10 on that built copy.

The copy (conftest ``built_project``, built once per session with few resamples) shares this checkout's .venv
and sets NKT_ROOT so the kernels' helpers.config points at the copy. It runs `make report` exactly as a user
does. Tests that change the copy put it back; each starts by bringing it up to date (`_settle`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from tests.conftest import MAKE, ROOT, VENV_BIN, make, make_env, run

# `make test` runs pytest-xdist with --dist loadfile: every test of this file runs in one worker, in order, on
# the one built copy (conftest ``built_project``).
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


def _settle(copy: Path) -> None:
    res = make(copy, "report")
    assert res.returncode == 0, res.stderr


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


def test_processed_data_is_deterministic(pipeline_builds: tuple[Path, Path]) -> None:
    first, second = pipeline_builds
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


def test_second_run_is_a_noop(built_project: Path) -> None:
    _settle(built_project)
    before = _everything(built_project)
    res = make(built_project, "report")
    assert res.returncode == 0
    assert "running" not in res.stderr, res.stderr
    assert _everything(built_project) == before


# ---- exploration cannot corrupt the build -----------------------------------------------------------------


def test_papermill_by_hand_is_rebuilt_and_report_matches_params(built_project: Path) -> None:
    """Issue: a hand run rewrote data/processed/growth_* and `make report` published them."""
    _settle(built_project)
    before = _everything(built_project)
    hand = run(
        [
            str(VENV_BIN / "papermill"), "notebooks/02_fit_growth.ipynb", str(built_project / "o.ipynb"),
            "-p", "n_bootstrap", "50", "-p", "horizon", "2028", "--cwd", "notebooks",
        ],
        built_project, make_env(built_project),
    )  # fmt: skip
    assert hand.returncode == 0, hand.stdout[-2000:] + hand.stderr[-2000:]
    assert _everything(built_project) != before, "the hand run was expected to overwrite products"
    res = make(built_project, "report")
    assert res.returncode == 0, res.stderr
    assert "02_fit_growth" in _ran(res), res.stderr
    assert "changed outside the pipeline" in res.stderr
    # the published products and report are again exactly those of params/02_fit_growth.yaml
    assert _everything(built_project, executed=False) == {
        k: v for k, v in before.items() if "executed" not in k
    }


def test_pipeline_run_with_params_overrides_keys_and_writes_to_scratch(
    built_project: Path, tmp_path: Path
) -> None:
    _settle(built_project)
    before = _everything(built_project)
    mine = tmp_path / "my.yaml"
    mine.write_text("n_bootstrap: 30\nhorizon: 2028\n")
    res = run(
        [sys.executable, "-m", "helpers.pipeline", "run", "02_fit_growth", "--params", str(mine)],
        built_project,
        make_env(built_project),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert _everything(built_project) == before, "an exploratory run replaced pipeline products"
    scratch = built_project / ".build" / "scratch" / "02_fit_growth"
    summary = json.loads((scratch / "data" / "processed" / "growth_summary.json").read_text())
    published = json.loads((built_project / "data" / "processed" / "growth_summary.json").read_text())
    assert summary != published and "2028" in json.dumps(summary), "the overrides were not applied"
    assert (scratch / "02_fit_growth.ipynb").exists()
    res = make(built_project, "report")
    assert res.returncode == 0 and _ran(res) == [], res.stderr


def test_lab_autosave_metadata_and_outputs_rerun_nothing(built_project: Path) -> None:
    _settle(built_project)
    before = _everything(built_project)
    paths = sorted((built_project / "notebooks").glob("0*.ipynb"))
    with _restored(*paths):
        for path in paths:  # what JupyterLab writes: language_info, execution counts, outputs
            nb = nbformat.read(path, as_version=4)
            nb.metadata["language_info"] = {
                "name": "python",
                "version": "3.11.7",
                "mimetype": "text/x-python",
            }
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.execution_count = 1
                    cell.outputs = [nbformat.v4.new_output("stream", text="saved by Lab\n")]
            nbformat.write(nb, path)
        res = make(built_project, "report")
    assert res.returncode == 0, res.stderr
    assert "running" not in res.stderr, res.stderr
    assert _everything(built_project) == before


def test_touching_files_reruns_nothing_and_steps_wait_for_upstream(built_project: Path) -> None:
    """Issue: touch 01 and its products -> 02 started with 01 in the same second on the old series."""
    _settle(built_project)
    for p in [built_project / "notebooks" / "01_clean.ipynb", *_products(built_project)]:
        os.utime(p)
    res = make(built_project, "pipeline")
    assert res.returncode == 0 and _ran(res) == [], res.stderr
    # the generated rules order the steps: 02 waits for the manifest of 01 whatever the timestamps say
    mk = (built_project / ".build" / "pipeline.mk").read_text()
    rule = next(line for line in mk.splitlines() if line.startswith(".build/manifests/02_fit_growth.json:"))
    assert ".build/manifests/01_clean.json" in rule


# ---- content decides what reruns --------------------------------------------------------------------------


def test_report_prose_reruns_only_step_04_and_renders_and_locks_out_a_second_build(
    built_project: Path,
) -> None:
    _settle(built_project)
    html = built_project / "reports" / "report.html"
    nb = built_project / "notebooks" / "04_report.ipynb"
    with _restored(nb):
        _edit_report_prose(built_project, "Prose-only edit for the test.")
        first = subprocess.Popen(
            [*MAKE, "report"], cwd=built_project, env=make_env(built_project), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        lines = []
        for line in first.stdout:
            lines.append(line)
            if "[04_report] running" in line:
                break
        second = make(built_project, "report")  # while the first build is running step 04
        rest, _ = first.communicate()
        out = "".join(lines) + rest
        assert first.returncode == 0, out
        assert second.returncode != 0
        assert "another build is running in this folder" in second.stderr, second.stderr
        assert "running" not in second.stderr.replace("another build is running", "")
        assert STEP_DONE.findall(out) == ["04_report"], out
        assert "[render html] done" in out and "[render pdf] done" in out, out
        assert "without encryption" not in out, "ipykernel's TCP warning floods the log again"
        assert "Prose-only edit for the test." in html.read_text(encoding="utf-8")
    _settle(built_project)


def test_changing_a_parameter_reruns_that_step_and_downstream_only(built_project: Path) -> None:
    _settle(built_project)
    params = built_project / "params" / "03_compare_peers.yaml"
    with _restored(params):
        params.write_text(params.read_text().replace("\nseed: 0\n", "\nseed: 1\n"))
        res = make(built_project, "report")
        assert res.returncode == 0, res.stderr
        assert _ran(res) == ["03_compare_peers", "04_report"], res.stderr
    _settle(built_project)


def test_another_forecast_horizon_builds_the_whole_report(built_project: Path) -> None:
    """The report reads the horizon from step 02's typed summary: no year is hard-coded (issue #13)."""
    _settle(built_project)
    params = built_project / "params" / "02_fit_growth.yaml"
    with _restored(params):
        params.write_text(re.sub(r"\nhorizon: 2030\b", "\nhorizon: 2028", params.read_text()))
        res = make(built_project, "report")
        assert res.returncode == 0, res.stderr
        assert "02_fit_growth" in _ran(res) and "04_report" in _ran(res), res.stderr
        html = (built_project / "reports" / "report.html").read_text(encoding="utf-8")
        assert "in 2028" in html and "2030 (millions)" not in html
    _settle(built_project)


# ---- failures and interruptions lose nothing ----------------------------------------------------------------


def test_typo_in_params_fails_before_any_kernel_naming_file_and_key(built_project: Path) -> None:
    _settle(built_project)
    before = _everything(built_project)
    params = built_project / "params" / "02_fit_growth.yaml"
    with _restored(params):
        params.write_text(params.read_text().replace("n_bootstrap:", "n_bootsrap:"))
        res = make(built_project, "report")
    assert res.returncode != 0
    assert "params/02_fit_growth.yaml: n_bootsrap: not a parameter of step 02_fit_growth" in res.stderr
    assert "did you mean 'n_bootstrap'" in res.stderr
    assert "running" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert _everything(built_project) == before


def test_papermill_list_parameter_is_not_split_into_characters(built_project: Path) -> None:
    res = run(
        [
            str(VENV_BIN / "papermill"), "notebooks/02_fit_growth.ipynb", str(built_project / "x.ipynb"),
            "-p", "models", '["x"]', "--cwd", "notebooks",
        ],
        built_project, make_env(built_project),
    )  # fmt: skip
    assert res.returncode != 0
    assert "models: item 1: must be one of 'logistic'" in res.stdout + res.stderr


def test_failing_step_keeps_everything_and_names_the_cell(built_project: Path) -> None:
    _settle(built_project)
    before = _everything(built_project)
    nb = built_project / "notebooks" / "02_fit_growth.ipynb"
    with _restored(nb):
        book = nbformat.read(nb, as_version=4)
        # at the end: every product has been written (to the staging area) when the step fails
        book.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure for the test')"))
        nbformat.write(book, nb)
        n = len(book.cells)
        res = make(built_project, "report")
    assert res.returncode != 0
    assert f'notebooks/02_fit_growth.ipynb: cell {n} ("raise RuntimeError' in res.stderr, res.stderr
    assert "deliberate failure" in res.stderr
    failed = built_project / "reports" / "executed" / "02_fit_growth.FAILED.ipynb"
    assert failed.exists()
    after = _everything(built_project)
    after.pop("reports/executed/02_fit_growth.FAILED.ipynb")
    assert after == before, sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not list((built_project / ".build" / "staging").glob("*"))
    res = make(built_project, "report")  # notebook restored: its manifest matches again, nothing to run
    assert res.returncode == 0 and _ran(res) == [], res.stderr
    failed.unlink(missing_ok=True)


def test_first_cell_after_parameters_is_numbered_right(built_project: Path) -> None:
    _settle(built_project)
    nb = built_project / "notebooks" / "04_report.ipynb"
    with _restored(nb):
        book = nbformat.read(nb, as_version=4)
        index = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
        book.cells.insert(
            index + 1, nbformat.v4.new_code_cell("raise ValueError('right after the parameters')")
        )
        nbformat.write(book, nb)
        res = make(built_project, "report")
    assert res.returncode != 0
    assert f'notebooks/04_report.ipynb: cell {index + 2} ("raise ValueError' in res.stderr, res.stderr
    (built_project / "reports" / "executed" / "04_report.FAILED.ipynb").unlink(missing_ok=True)


def test_ctrl_c_during_step_04_keeps_old_report_and_next_build_rebuilds_it(built_project: Path) -> None:
    _settle(built_project)
    before = _everything(built_project)
    nb = built_project / "notebooks" / "04_report.ipynb"
    with _restored(nb):
        _edit_report_prose(built_project, "Sentence added before the interrupt.")
        proc = subprocess.Popen(
            [*MAKE, "report"], cwd=built_project, env=make_env(built_project), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "[04_report] running" in line:
                break
        staged = list((built_project / ".build" / "staging").glob("04_report-*/executed.ipynb"))
        while not staged and proc.poll() is None:  # wait until papermill has started writing cells
            time.sleep(0.2)
            staged = list((built_project / ".build" / "staging").glob("04_report-*/executed.ipynb"))
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: SIGINT to the whole process group
        rest, _ = proc.communicate()
        out = "".join(seen) + rest
        assert proc.returncode != 0, out
        assert "interrupted" in out and "notebooks/04_report.ipynb" in out, out
        after = _everything(built_project)
        after.pop("reports/executed/04_report.FAILED.ipynb", None)
        assert after == before, sorted(
            k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
        )
        res = make(built_project, "report")
        assert res.returncode == 0, res.stderr
        assert _ran(res) == ["04_report"], res.stderr
        html = (built_project / "reports" / "report.html").read_text(encoding="utf-8")
        assert "Sentence added before the interrupt." in html
        assert html.count("<figure") + html.count("<img") >= 10, "report rebuilt whole"
    _settle(built_project)


def test_bad_observations_stop_the_build_before_anything_is_overwritten(built_project: Path) -> None:
    _settle(built_project)
    before = _everything(built_project)
    obs = built_project / "data" / "raw" / "observations.csv"
    with _restored(obs):
        original = obs.read_text(encoding="utf-8")
        lines = original.splitlines(keepends=True)
        import csv
        import io

        row = next(csv.reader(io.StringIO(lines[2])))
        row[4] = "2010-13-45"  # period_start
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        obs.write_text("".join([*lines[:2], buf.getvalue(), *lines[3:]]), encoding="utf-8")
        res = make(built_project, "report")
    assert res.returncode != 0
    assert "data/raw/observations.csv:3: period_start:" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    after = _everything(built_project)
    assert {k: v for k, v in after.items() if "validation" not in k} == {
        k: v for k, v in before.items() if "validation" not in k
    }


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)"
)
def test_built_report_opens_offline_in_chromium(built_project: Path) -> None:
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
        env={"NKREPORT_HTML": str(built_project / "reports" / "report.html")},
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert "2 passed" in res.stdout, res.stdout[-2000:]
