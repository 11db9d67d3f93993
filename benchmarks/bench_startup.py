"""Start-up costs: importing the notebooks' libraries in a fresh process, and a Jupyter kernel per step.

``run()`` returns

- ``import_seconds`` / ``import_cpu_seconds``: wall and CPU (user + sys) of a fresh ``python -c "import
  pandas, helpers.<every module a notebook imports>"`` (best of 3; bytecode already compiled);
  ``import_top``: the five slowest top-level imports by ``python -X importtime`` (cumulative seconds);
- ``python_startup_seconds``: ``python -c pass`` (best of 3), the floor of any process;
- ``kernel_step_overhead_seconds`` / ``_cpu_seconds``: papermill executing a one-cell notebook (``pass``)
  with the project's kernel -- what every pipeline step pays before its first cell, besides its imports;
  ``ipython_script_start_cpu_seconds``: the same for a one-line script under ``ipython`` (plain scripts).

Run ``python benchmarks/bench_startup.py`` (prints JSON). Timings depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
#: What the notebooks import from the project (cells of notebooks/*.ipynb), plus pandas.
NOTEBOOK_IMPORTS = (
    "pandas, numpy, helpers.data.cleaning, helpers.data.external, helpers.report.figures, helpers.data.events, "
    "helpers.data.observations, helpers.steps.growth_observations, helpers.steps.growth_tables, "
    "helpers.steps.growth_intervals, helpers.steps.growth_checks, helpers.steps.growth_figures, "
    "helpers.steps.growth_summary, helpers.models.panel, helpers.models.panel_peers, helpers.steps.peers_tables, helpers.steps.peers_intervals, helpers.steps.peers_counterfactual, helpers.steps.peers_figures, helpers.steps.peers_summary, helpers.report.text, "
    "helpers.config"
)


def _timed(cmd: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def _best(cmd: list[str], repeat: int = 3) -> tuple[float, float]:
    runs = [_timed(cmd)[:2] for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def import_top(n: int = 5) -> list[list]:
    """The ``n`` slowest top-level imports (``python -X importtime``): ``[module, cumulative seconds]``."""
    _, _, proc = _timed([PY, "-X", "importtime", "-c", f"import {NOTEBOOK_IMPORTS}"])
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            rows.append([parts[2].strip(), round(int(parts[1]) / 1e6, 3)])
    return sorted(rows, key=lambda r: -r[1])[:n]


def kernel_step_overhead() -> dict[str, float]:
    """What a pipeline step pays before its first cell, against a plain script's start.

    ``kernel_step_overhead_seconds`` / ``_cpu_seconds``: a fresh process that imports papermill the way
    ``helpers.pipeline run`` does (``run.lean_papermill_imports``) and executes a one-cell notebook (``pass``) with
    the project's kernel and the pipeline's engine (:mod:`helpers.pipeline.engine`: its kernel launcher too);
    ``ipython_script_start_cpu_seconds``: ``ipython --quick`` running a one-line script (what the plain-script
    measure pays per notebook). Best of 2; CPU includes the kernel process.
    """
    import nbformat

    from helpers import config

    with tempfile.TemporaryDirectory() as tmp:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
        src, out, script = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb", Path(tmp) / "s.py"
        nbformat.write(nb, src)
        script.write_text("pass\n")
        code = (
            "from helpers.pipeline import run\n"
            "with run.lean_papermill_imports():\n"
            "    import papermill as pm\n"
            "from helpers.pipeline import engine\n"
            f"pm.execute_notebook({str(src)!r}, {str(out)!r}, kernel_name={config.KERNEL_NAME!r}, "
            "progress_bar=False, engine_name=engine.ENGINE_NAME, extra_arguments=run._kernel_quiet_args())"
        )
        # the papermill process's own start-up is part of what a pipeline step pays
        kernel = [_timed([PY, "-c", code])[:2] for _ in range(2)]
        ipython = str(Path(PY).parent / "ipython")
        plain = [_timed([ipython, "--no-banner", "--quick", str(script)])[:2] for _ in range(2)]
    return {
        "kernel_step_overhead_seconds": round(min(w for w, _ in kernel), 2),
        "kernel_step_overhead_cpu_seconds": round(min(c for _, c in kernel), 2),
        "ipython_script_start_cpu_seconds": round(min(c for _, c in plain), 2),
    }


def run() -> dict:
    """Measure; see the module docstring."""
    wall, cpu = _best([PY, "-c", f"import {NOTEBOOK_IMPORTS}"])
    py_wall, _ = _best([PY, "-c", "pass"])
    return {
        "import_seconds": round(wall, 2),
        "import_cpu_seconds": round(cpu, 2),
        "import_top": import_top(),
        "python_startup_seconds": round(py_wall, 3),
        **kernel_step_overhead(),
        "startup_load_average_1min": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
