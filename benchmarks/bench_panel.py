"""Benchmark of :func:`helpers.models.panel.fit_panel`: the whole ITU panel, and batched vs a per-fit scipy loop.

``run()`` returns

- ``panel_seconds``: wall time of ``fit_panel`` on every country of :func:`helpers.data.external.panel`
  (4 cumulative models x ``n_bootstrap`` residual-bootstrap refits, ``n_jobs`` local workers: threads with
  the compiled solver), the first call in the process: loading the compiled kernel from its cache included; ``panel_countries``, ``panel_fits`` (country x model rows with a point fit),
  ``panel_refits`` (bootstrap refits performed);
- ``panel_cpu_seconds``: process CPU time of the same work in one process (``n_jobs=1``), run after a
  warm-up (lazy imports and first calls are not the solver's) -- what the 2-process wall time is made of,
  and far less disturbed by a shared, loaded machine than wall time;
- ``panel_speedup_vs_scipy_loop``: ``scipy_loop_cpu_seconds`` / ``panel_cpu_seconds``, both single-core
  CPU time for the *whole panel*. The scipy side is measured on a sample (``sample`` countries x 4
  models: every multi-start point fit, then ``sample_resamples`` refits each, on the panel's own
  resamples and starts) with :func:`scipy.optimize.least_squares` once per fit
  (:func:`helpers.models.panel_fit.scipy_fit`) at the production tolerances of :class:`helpers.models.panel_fit.FitOptions`
  (point fits ``xtol``/``ftol``, refits ``boot_xtol``/``boot_ftol``), and extrapolated: CPU per point-fit
  start x the panel's starts + CPU per refit x the panel's refits (``scipy_seconds_per_refit``,
  ``scipy_seconds_per_start``). The batched side is the real full-panel run, not a sample.
  ``panel_speedup_vs_scipy_loop_wall``: the extrapolated scipy CPU time (one core) over ``panel_seconds``
  (two workers): what a user waits for, on a machine as loaded as ``load_average_1min`` says;
- ``panel_kernel_compile_seconds`` / ``panel_kernel_load_seconds``: a fresh process's first
  :func:`helpers.models.panel_fit.lm_batch` call (numba imported, the kernel compiled; what a fresh clone's
  step 03 pays once) with an empty cache (``NUMBA_CACHE_DIR``, a temporary folder), then again with the
  cache that run wrote (numba imported, the kernel loaded: what every later step 03 pays);
- ``panel_solver``: ``"compiled"`` or ``"numpy"`` (``NKT_PANEL_SOLVER=numpy``, for an A/B).

Run ``python benchmarks/bench_panel.py`` (prints JSON). Timings depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

from helpers.data import external
from helpers.models import panel as P
from helpers.models import panel_fit
from helpers.models.registry import CUMULATIVE_MODELS


def _scipy_sample(pan, sample: Sequence[str], n_boot: int, seed: int, opts: panel_fit.FitOptions) -> dict:
    """Per-fit scipy loop on the sample at production tolerances: CPU seconds per point-fit start and per
    refit (refits started as the batched ones, on the same resamples)."""
    start_cpu = refit_cpu = 0.0
    n_start = n_refit = 0
    for iso3 in sample:
        first, t, y = P.country_series(pan, iso3)
        for model in CUMULATIVE_MODELS:
            lo, hi = panel_fit.model_bounds(model, float(np.max(y)), opts)
            starts = panel_fit.start_values(model, t, y, lo, hi, opts.n_starts)
            c = time.process_time()
            for s in starts:
                panel_fit.scipy_fit(model, t, y, s, lo, hi, xtol=opts.xtol, ftol=opts.ftol)
            start_cpu += time.process_time() - c
            n_start += len(starts)
            pf = panel_fit.point_fit(model, t, y, opts)  # the batched point fit: the refits' centre and start
            Ys = panel_fit.residual_resamples(
                pf.fitted, y, pf.x.size, n_boot, panel_fit._rng(seed, iso3, model)
            )
            X0 = panel_fit._linear_starts(model, pf, t, Ys)
            c = time.process_time()
            for b in range(n_boot):
                panel_fit.scipy_fit(model, t, Ys[b], X0[b], lo, hi, xtol=opts.boot_xtol, ftol=opts.boot_ftol)
            refit_cpu += time.process_time() - c
            n_refit += n_boot
    return {"per_start": start_cpu / n_start, "per_refit": refit_cpu / n_refit, "n": n_start + n_refit}


_FIRST_CALL = """if True:
    import time
    import numpy as np
    from helpers.models import panel_fit
    t0 = time.perf_counter()
    panel_fit.lm_batch("logistic", np.arange(10.0), np.arange(10.0), np.array([[10.0, 1.0, 5.0]]),
                       np.array([1e-6, 1e-4, -50.0]), np.array([100.0, 10.0, 150.0]))
    print(time.perf_counter() - t0)
"""


def kernel_first_call() -> tuple[float, float]:
    """Seconds of a fresh process's first ``lm_batch`` call: with an empty kernel cache, then with the cache
    that first run wrote (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="nkt-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        times = [
            float(
                subprocess.run(
                    [sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True, text=True, check=True
                ).stdout.split()[-1]
            )  # fmt: skip
            for _ in range(2)
        ]
    return times[0], times[1]


def run(
    n_bootstrap: int = 1000,
    n_jobs: int = 2,
    seed: int = 0,
    sample: Sequence[str] = ("KOR", "CUB", "PRK", "DEU", "BRA", "NGA"),
    sample_resamples: int = 50,
) -> dict:
    """Time the full panel and the batched-vs-scipy comparison; see the module docstring."""
    pan = external.panel()
    opts = panel_fit.FitOptions()
    compile_s, load_s = kernel_first_call() if panel_fit.uses_compiled_solver("logistic") else (None, None)

    t0 = time.perf_counter()
    fits = P.fit_panel(pan, n_bootstrap=n_bootstrap, seed=seed, n_jobs=n_jobs, opts=opts)
    panel_seconds = time.perf_counter() - t0

    P.fit_panel(pan[pan["iso3"].isin(sample[:2])], n_bootstrap=5, seed=seed, n_jobs=1, opts=opts)  # warm
    c0 = time.process_time()
    P.fit_panel(pan, n_bootstrap=n_bootstrap, seed=seed, n_jobs=1, opts=opts)
    panel_cpu = time.process_time() - c0

    sc = _scipy_sample(pan, sample, sample_resamples, seed, opts)
    fitted = fits[~fits["too_few_points"]]
    n_starts = 0
    for r in fitted.itertuples():
        _, t, y = P.country_series(pan, r.iso3)
        lo, hi = panel_fit.model_bounds(r.model, float(np.max(y)), opts)
        n_starts += len(panel_fit.start_values(r.model, t, y, lo, hi, opts.n_starts))
    n_refits = int(fitted["n_boot"].sum())
    scipy_cpu = sc["per_start"] * n_starts + sc["per_refit"] * n_refits
    return {
        "panel_seconds": round(panel_seconds, 2),
        "panel_cpu_seconds": round(panel_cpu, 2),
        "panel_countries": int(fits["iso3"].nunique()),
        "panel_fits": int(len(fitted)),
        "panel_point_fit_starts": n_starts,
        "panel_refits": n_refits,
        "panel_refits_converged": int(fitted["n_boot_ok"].sum()),
        "panel_n_bootstrap": n_bootstrap,
        "panel_n_jobs": n_jobs,
        "panel_solver": "compiled" if panel_fit.uses_compiled_solver("richards") else "numpy",
        "panel_kernel_compile_seconds": None if compile_s is None else round(compile_s, 2),
        "panel_kernel_load_seconds": None if load_s is None else round(load_s, 2),
        "panel_speedup_vs_scipy_loop": round(scipy_cpu / panel_cpu, 1),
        "panel_speedup_vs_scipy_loop_wall": round(scipy_cpu / panel_seconds, 1),
        "scipy_loop_cpu_seconds": round(scipy_cpu, 1),
        "scipy_seconds_per_refit": round(sc["per_refit"], 6),
        "scipy_seconds_per_start": round(sc["per_start"], 6),
        "scipy_sample_calls": sc["n"],
        "sample_countries": list(sample),
        "sample_resamples": sample_resamples,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
