"""Benchmark of :func:`helpers.panel.fit_panel`: the whole ITU panel, and batched vs a per-fit scipy loop.

``run()`` returns

- ``panel_seconds``: wall time of ``fit_panel`` on every country of :func:`helpers.data.external.panel`
  (4 cumulative models x ``n_bootstrap`` residual-bootstrap refits, ``n_jobs`` local processes), including
  process start-up; ``panel_countries``, ``panel_fits`` (country x model rows with a point fit),
  ``panel_refits`` (bootstrap refits performed);
- ``panel_speedup_vs_scipy_loop``: measured side by side, single process, on ``sample`` countries with
  ``sample_resamples`` refits each -- the same work both ways, nothing extrapolated: the batched path
  (:func:`helpers.panel.fit_countries`: multi-start point fits + bootstraps, batched) against a loop that calls
  :func:`scipy.optimize.least_squares` once per fit (:func:`helpers.panel.scipy_fit`: point fit from the
  same multi-start candidates, then every resample warm-started from the point fit, on the same residual
  resamples from the same seeds). The batched side is :func:`helpers.panel.fit_countries` on the sample's
  countries together -- what one worker of :func:`~helpers.panel.fit_panel` runs. Default sample: 3
  countries x 4 models x 1000 resamples, the panel's own resample count (with 50 the batched side is mostly
  fixed cost and the ratio understates it). ``scipy_loop_seconds`` / ``batched_seconds`` give the two times.
  Both sides run once on a tiny sample first (lazy imports and first-call costs are not the solver's).
  ``panel_speedup_vs_scipy_loop_cpu`` (``scipy_loop_cpu_seconds`` / ``batched_cpu_seconds``): the same
  ratio in process CPU time, which a shared, loaded machine disturbs far less than wall time (the batched
  side is ~1 s: a few hundred ms of descheduling move the wall ratio by tens of percent).

Run ``python benchmarks/bench_panel.py`` (prints JSON). Timings depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

import numpy as np

from helpers import panel as P
from helpers.data import external
from helpers.growth import CUMULATIVE_MODELS


def _scipy_loop(pan, sample: Sequence[str], n_boot: int, seed: int, opts: P.FitOptions) -> int:
    """Per-fit scipy loop over the sample; returns the number of least_squares calls."""
    calls = 0
    for iso3 in sample:
        first, t, y = P.country_series(pan, iso3)
        for model in CUMULATIVE_MODELS:
            lo, hi = P.model_bounds(model, float(np.max(y)), opts)
            starts = P.start_values(model, t, y, lo, hi, opts.n_starts)
            best = None
            for s in starts:
                x, rss, _ok = P.scipy_fit(model, t, y, s, lo, hi)
                calls += 1
                if best is None or rss < best[1]:
                    best = (x, rss)
            x_hat = best[0]
            fitted = P.SOLVER_MODELS[model].f(t, *x_hat)
            Ys = P.residual_resamples(fitted, y, x_hat.size, n_boot, P._rng(seed, iso3, model))
            for b in range(n_boot):
                P.scipy_fit(model, t, Ys[b], x_hat, lo, hi)
                calls += 1
    return calls


def _batched(pan, sample: Sequence[str], n_boot: int, seed: int, opts: P.FitOptions) -> None:
    """The production path: the sample's countries batched together, as one worker's task of fit_panel."""
    series = [P.Series(iso3, iso3, *P.country_series(pan, iso3)) for iso3 in sample]
    P.fit_countries(series, CUMULATIVE_MODELS, n_boot, seed, opts)


def run(
    n_bootstrap: int = 1000,
    n_jobs: int = 2,
    seed: int = 0,
    sample: Sequence[str] = ("KOR", "CUB", "PRK"),
    sample_resamples: int = 1000,
) -> dict:
    """Time the full panel and the batched-vs-scipy comparison; see the module docstring."""
    pan = external.panel()
    opts = P.FitOptions()

    t0 = time.perf_counter()
    fits = P.fit_panel(pan, n_bootstrap=n_bootstrap, seed=seed, n_jobs=n_jobs, opts=opts)
    panel_seconds = time.perf_counter() - t0

    # one-off costs (lazy imports, first calls) out of both sides: one tiny run each
    _batched(pan, sample[:1], 2, seed, opts)
    _scipy_loop(pan, sample[:1], 1, seed, opts)
    t0, c0 = time.perf_counter(), time.process_time()
    _batched(pan, sample, sample_resamples, seed, opts)
    batched_seconds, batched_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    calls = _scipy_loop(pan, sample, sample_resamples, seed, opts)
    loop_seconds, loop_cpu = time.perf_counter() - t0, time.process_time() - c0

    fitted = fits[~fits["too_few_points"]]
    return {
        "panel_seconds": round(panel_seconds, 2),
        "panel_countries": int(fits["iso3"].nunique()),
        "panel_fits": int(len(fitted)),
        "panel_refits": int(fitted["n_boot"].sum()),
        "panel_refits_converged": int(fitted["n_boot_ok"].sum()),
        "panel_n_bootstrap": n_bootstrap,
        "panel_n_jobs": n_jobs,
        "panel_speedup_vs_scipy_loop": round(loop_seconds / batched_seconds, 1),
        "scipy_loop_seconds": round(loop_seconds, 2),
        "scipy_loop_calls": calls,
        "batched_seconds": round(batched_seconds, 3),
        "panel_speedup_vs_scipy_loop_cpu": round(loop_cpu / batched_cpu, 1),
        "scipy_loop_cpu_seconds": round(loop_cpu, 2),
        "batched_cpu_seconds": round(batched_cpu, 3),
        "sample_countries": list(sample),
        "sample_resamples": sample_resamples,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
