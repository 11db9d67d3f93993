"""Coverage of the profile-likelihood saturation interval (prints figures; not a pass/fail test).

Design: the project's own, i.e. the curated national series exactly as notebook 02 fits it
(``data/processed/national_series.csv`` from step 01, settings of ``params/02_fit_growth.yaml``: same times,
same exact figures, same "more than" bounds, rounded figures as rounding intervals when the parameter says so).
The censored-MLE Gompertz fit of those figures is the truth; ``N_SETS`` data sets are simulated from it
(:func:`helpers.likelihood.simulate`: new exact values, bounds kept at their thresholds, rounded figures
re-rounded), each refitted by maximum likelihood, and its 95% profile interval of the saturation checked.

Figures
-------
coverage_saturation_95         share of data sets whose 95% interval contains the true saturation (goal >= 0.93)
coverage_saturation_95_mc_se   its Monte Carlo standard error
coverage_n_sets                data sets simulated; coverage_n_used those whose refit converged
coverage_below / _above        share of intervals wholly below / above the truth
coverage_open_upper            intervals whose upper end is not reached (search up to 100x the estimate)
coverage_seconds               wall time
"""

from __future__ import annotations

import time

import pandas as pd

from helpers import growth_report as gr
from helpers import likelihood, pipeline
from helpers.config import ROOT

N_SETS = 200
SEED = 20240602
MODEL = "gompertz"


def run() -> dict[str, object]:
    params = pipeline.load_params(ROOT / "params" / "02_fit_growth.yaml")
    path = ROOT / params["in_national_series"]
    if not path.exists():
        return {"coverage_saturation_95": None, "coverage_note": f"{path} missing: run `make pipeline` first"}
    national = pd.read_csv(path)
    itu = pd.read_csv(ROOT / params["in_itu_series"])
    population = gr.Population.from_frame(pd.read_csv(ROOT / params["in_population"]))
    obs, _ = gr.load_observations(
        national,
        itu,
        series="curated",
        operator_figures=params["operator_figures"],
        t_min=params["epoch"] + 1,
        rounded_figures=params.get("rounded_figures", "exact"),
        population=population,
    )
    inputs = gr.fit_inputs(obs, use_bounds=True)
    fits, _ = gr.fit_models([MODEL], inputs, loss_scale="log", epoch=params["epoch"], method="mle")
    start = time.perf_counter()
    cov = likelihood.coverage_study(fits[MODEL], n_sets=N_SETS, seed=SEED, level=0.95)
    return {
        "coverage_saturation_95": round(cov.coverage, 4),
        "coverage_saturation_95_mc_se": round(cov.mc_se, 4),
        "coverage_n_sets": cov.n_sets,
        "coverage_n_used": cov.n_used,
        "coverage_below": round(cov.below, 4),
        "coverage_above": round(cov.above, 4),
        "coverage_open_upper": cov.n_open_upper,
        "coverage_model": MODEL,
        "coverage_seconds": round(time.perf_counter() - start, 1),
    }


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:>32}: {v}")
