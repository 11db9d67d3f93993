"""End-to-end tests that rerun a step of the built copy (see tests/test_pipeline_e2e.py for the build and the
checks that only read it). Each works in its own ``cp -a`` of the built copy (conftest ``project_copy``), so
this file and test_pipeline_e2e.py run in the two xdist workers at once and nothing has to be put back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from tests.conftest import MAKE, VENV_BIN, make, make_env, run
from tests.test_pipeline_e2e import STEP_DONE, _edit_report_prose, _everything, _ran, _restored

pytestmark = pytest.mark.slow


def test_papermill_by_hand_is_rebuilt_and_report_matches_params(project_copy: Path) -> None:
    """Issue: a hand run rewrote data/processed/growth_* and `make report` published them."""
    copy = project_copy
    before = _everything(copy)
    hand = run(
        [
            str(VENV_BIN / "papermill"), "notebooks/02_fit_growth.ipynb", str(copy / "o.ipynb"),
            "-p", "n_bootstrap", "50", "-p", "horizon", "2028", "--cwd", "notebooks", "--start-timeout", "3600",
        ],
        copy, make_env(copy),
    )  # fmt: skip
    assert hand.returncode == 0, hand.stdout[-2000:] + hand.stderr[-2000:]
    assert _everything(copy) != before, "the hand run was expected to overwrite products"
    res = make(copy, "report")
    assert res.returncode == 0, res.stderr
    assert "02_fit_growth" in _ran(res), res.stderr
    assert "changed outside the pipeline" in res.stderr
    # the published products and report are again exactly those of params/02_fit_growth.yaml
    assert _everything(copy, executed=False) == {k: v for k, v in before.items() if "executed" not in k}


def test_failing_step_keeps_everything_and_names_the_cell(project_copy: Path) -> None:
    """Step 01 (the quickest; every step runs through the same staging in helpers.pipeline.run) fails in its
    last cell, after it has written every product to its staging area: nothing is published, nothing is left
    in staging, the error names the notebook and the cell, and the next build has nothing to run."""
    copy = project_copy
    before = _everything(copy)
    nb = copy / "notebooks" / "01_clean.ipynb"
    with _restored(nb):
        book = nbformat.read(nb, as_version=4)
        # at the end: every product has been written (to the staging area) when the step fails
        book.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure for the test')"))
        nbformat.write(book, nb)
        n = len(book.cells)
        res = make(copy, "report")
    assert res.returncode != 0
    assert f'notebooks/01_clean.ipynb: cell {n} ("raise RuntimeError' in res.stderr, res.stderr
    assert "deliberate failure" in res.stderr
    assert _ran(res) == [], res.stderr  # nothing downstream ran on the failed step
    failed = copy / "reports" / "executed" / "01_clean.FAILED.ipynb"
    assert failed.exists()
    after = _everything(copy)
    after.pop("reports/executed/01_clean.FAILED.ipynb")
    assert after == before, sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not list((copy / ".build" / "staging").glob("*"))
    res = make(copy, "report")  # notebook restored: its manifest matches again, nothing to run
    assert res.returncode == 0 and _ran(res) == [], res.stderr


def _hold_step_04(copy: Path) -> None:
    """Add a code cell after notebook 04's parameters that writes ``held`` and waits while ``hold`` exists."""
    path = copy / "notebooks" / "04_report.ipynb"
    nb = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    code = (
        "import os as _os, pathlib as _pl, time as _time\n"
        "_root = _pl.Path(_os.environ['NKT_ROOT'])\n"
        "(_root / 'held').touch()\n"
        "while (_root / 'hold').exists():\n"
        "    _time.sleep(0.1)"
    )
    nb.cells.insert(at, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, path)


def test_report_prose_edit_locks_out_a_second_build_survives_ctrl_c_and_reruns_only_step_04(
    project_copy: Path,
) -> None:
    """An author edits one sentence of the report and runs `make report`: a second `make report` started while
    step 04 runs stops at once; Ctrl-C during step 04 keeps the old report and products; the next build reruns
    step 04 only (and both renders), and the report shows the sentence."""
    copy = project_copy
    before = _everything(copy)
    _edit_report_prose(copy, "Sentence added before the interrupt.")
    # step 04 must still be running when the second build starts and when Ctrl-C comes, however fast the
    # machine: a cell (the author's edit, as far as make can tell) holds it until the file `hold` is removed
    hold, held = copy / "hold", copy / "held"
    hold.touch()
    _hold_step_04(copy)
    proc = subprocess.Popen(
        [*MAKE, "report"], cwd=copy, env=make_env(copy), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    while not held.exists() and proc.poll() is None:  # wait (no deadline) until step 04's kernel holds
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0]
    second = make(copy, "report")  # while the first build is running step 04
    assert second.returncode != 0
    assert "another build is running in this folder" in second.stderr, second.stderr
    assert "running" not in second.stderr.replace("another build is running", "")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: SIGINT to the whole process group
    out, _ = proc.communicate()
    assert proc.returncode != 0, out
    assert "interrupted" in out and "notebooks/04_report.ipynb" in out, out
    after = _everything(copy)
    after.pop("reports/executed/04_report.FAILED.ipynb", None)
    assert after == before, sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))

    hold.unlink()  # the holding cell now passes at once
    res = make(copy, "report")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert STEP_DONE.findall(out) == ["04_report"], out
    assert "[render html] done" in out and "[render pdf] done" in out, out
    assert "without encryption" not in out, "ipykernel's TCP warning floods the log again"
    html = (copy / "reports" / "report.html").read_text(encoding="utf-8")
    assert "Sentence added before the interrupt." in html
    assert html.count("<figure") + html.count("<img") >= 10, "report rebuilt whole"
