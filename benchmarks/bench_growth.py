"""Benchmark of helpers.growth on a national-style series (prints figures; not a pass/fail test).

Series: Gapminder ``cell_phones_total`` rows with ``geo == "prk"``, years 2008..2022 (2018 is missing in
the file, so 14 points; 2008 is 0).  Fits use the linear loss scale (the 0 of 2008 rules out the log scale)
and ``epoch=2008`` (launch, required by Bass).

Figures
-------
fit_single_ms                 median wall time of one self-starting logistic fit (25 repeats)
fit_single_ms_<model>         the same for every cumulative model (7 repeats)
bootstrap_national_seconds    1000 residual-bootstrap resamples x the four cumulative models
bootstrap_<model>_seconds     per model
bootstrap_<model>_failed      failed refits out of 1000 (counted, never hidden)
bootstrap_<model>_fallback    rows the batched solver handed to scipy one by one

Goal: ``bootstrap_national_seconds`` <= 10 s on 2 cores.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import pandas as pd

from helpers import growth
from helpers.config import EXTERNAL

N_BOOT = 1000
SEED = 20240101


def national_series() -> tuple[np.ndarray, np.ndarray]:
    """Years 2008..2022 and total mobile subscriptions for the DPRK from the Gapminder file."""
    df = pd.read_csv(EXTERNAL / "gapminder_ddf--datapoints--cell_phones_total--by--geo--time.csv")
    df = df[(df["geo"] == "prk") & df["time"].between(2008, 2022)].sort_values("time")
    return df["time"].to_numpy(float), df["cell_phones_total"].to_numpy(float)


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def run() -> dict[str, float]:
    """Measure and return the figures listed in the module docstring."""
    t, y = national_series()
    out: dict[str, float] = {"growth_n_points": float(t.size)}
    out["fit_single_ms"] = _median_ms(lambda: growth.fit("logistic", t, y, epoch=2008), 25)
    fits = {}
    for name in growth.CUMULATIVE_MODELS:
        out[f"fit_single_ms_{name}"] = _median_ms(lambda n=name: growth.fit(n, t, y, epoch=2008), 7)
        fits[name] = growth.fit(name, t, y, epoch=2008)
        out[f"fit_{name}_converged"] = float(fits[name].converged)
    total = 0.0
    for name, res in fits.items():
        if not res.converged:
            out[f"bootstrap_{name}_seconds"] = float("nan")
            continue
        start = time.perf_counter()
        boot = growth.bootstrap(res, n=N_BOOT, seed=SEED, kind="residual")
        elapsed = time.perf_counter() - start
        total += elapsed
        out[f"bootstrap_{name}_seconds"] = elapsed
        out[f"bootstrap_{name}_failed"] = float(boot.n_failed)
        out[f"bootstrap_{name}_fallback"] = float(boot.n_fallback)
    out["bootstrap_national_seconds"] = total
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
