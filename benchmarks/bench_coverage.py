"""Coverage of the profile-likelihood saturation interval (prints figures; not a pass/fail test).

Design: the project's own, i.e. the curated national series exactly as notebook 02 fits it
(``data/processed/national_series.csv`` from step 01, settings of ``params/02_fit_growth.yaml``: same times,
same exact figures, same "more than" bounds, rounded figures as rounding intervals when the parameter says so).
The censored-MLE Gompertz fit of those figures is the truth; ``N_SETS`` data sets are simulated from it
(:func:`helpers.models.simulation.simulate`: new exact values, bounds kept at their thresholds, rounded figures
re-rounded), each refitted by maximum likelihood, and its 95% profile interval of the saturation checked.

Figures
-------
coverage_saturation_95         share of data sets whose 95% interval contains the true saturation (goal >= 0.93)
coverage_saturation_95_mc_se   its Monte Carlo standard error
coverage_n_sets                data sets simulated; coverage_n_used those whose refit converged
coverage_below / _above        share of intervals wholly below / above the truth
coverage_open_upper            intervals whose upper end is not reached (search up to 100x the estimate)
coverage_seconds               wall time
coverage_threshold             the profile deviance threshold used (small-sample F(1, n - p) calibration)

``make coverage`` (``run(write=True)``, ``python benchmarks/bench_coverage.py --write``) also writes
``benchmarks/results/coverage_saturation.json`` (coverage, MC SE, data sets, seed, model, threshold, git commit,
UTC date, command).  That file is committed and is a declared input (``in_coverage``) of steps 02 and 04, so the
report cites a measurement with its provenance instead of whatever ``make bench`` last left in ``reports/``.
``make bench`` only reports the figures: a benchmark run must not change what ``make report`` publishes (a
rewritten file, if only its date, would make steps 02 and 04 stale).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from helpers.config import ROOT
from helpers.models import simulation
from helpers.pipeline import dag
from helpers.steps import growth_observations as gobs
from helpers.steps import growth_tables as gtab

N_SETS = 200
SEED = 20240602
MODEL = "gompertz"
CALIBRATION = "f"
RESULT = ROOT / "benchmarks" / "results" / "coverage_saturation.json"


def _commit() -> str:
    """The checked-out commit (``+dirty`` when tracked files differ from it), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def write_result(figures: dict[str, object], path: Path = RESULT) -> Path:
    """Write the coverage measurement with its provenance (see the module docstring)."""
    out = {
        "quantity": "coverage of the nominal 95% profile-likelihood interval of the saturation",
        "coverage": figures["coverage_saturation_95"],
        "mc_se": figures["coverage_saturation_95_mc_se"],
        "n_sets": figures["coverage_n_sets"],
        "n_used": figures["coverage_n_used"],
        "below": figures["coverage_below"],
        "above": figures["coverage_above"],
        "open_upper": figures["coverage_open_upper"],
        "model": MODEL,
        "seed": SEED,
        "calibration": CALIBRATION,
        "threshold": figures["coverage_threshold"],
        "design": "params/02_fit_growth.yaml: in_national_series, curated series, bounds, rounded_figures",
        "seconds": figures["coverage_seconds"],
        "commit": _commit(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["python", *sys.argv]) if sys.argv and sys.argv[0] else "make coverage",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return path


def run(write: bool = False) -> dict[str, object]:
    """Measure the coverage; with ``write``, also record it in the committed :data:`RESULT` file."""
    params = dag.load_params(ROOT / "params" / "02_fit_growth.yaml")
    path = ROOT / params["in_national_series"]
    if not path.exists():
        return {"coverage_saturation_95": None, "coverage_note": f"{path} missing: run `make pipeline` first"}
    national = pd.read_csv(path)
    itu = pd.read_csv(ROOT / params["in_itu_series"])
    population = gobs.Population.from_frame(pd.read_csv(ROOT / params["in_population"]))
    obs, _ = gobs.load_observations(
        national,
        itu,
        series="curated",
        operator_figures=params["operator_figures"],
        t_min=params["epoch"] + 1,
        rounded_figures=params.get("rounded_figures", "exact"),
        population=population,
    )
    inputs = gobs.fit_inputs(obs, use_bounds=True)
    fits, _ = gtab.fit_models([MODEL], inputs, loss_scale="log", epoch=params["epoch"], method="mle")
    start = time.perf_counter()
    cov = simulation.coverage_study(
        fits[MODEL], n_sets=N_SETS, seed=SEED, level=0.95, calibration=CALIBRATION
    )
    figures = {
        "coverage_saturation_95": round(cov.coverage, 4),
        "coverage_saturation_95_mc_se": round(cov.mc_se, 4),
        "coverage_n_sets": cov.n_sets,
        "coverage_n_used": cov.n_used,
        "coverage_below": round(cov.below, 4),
        "coverage_above": round(cov.above, 4),
        "coverage_open_upper": cov.n_open_upper,
        "coverage_model": MODEL,
        "coverage_seconds": round(time.perf_counter() - start, 1),
        "coverage_threshold": round(cov.threshold, 4),
    }
    if write:
        figures["coverage_file"] = str(write_result(figures).relative_to(ROOT))
    else:
        figures["coverage_file"] = f"not written ({RESULT.relative_to(ROOT)} is written by `make coverage`)"
    return figures


if __name__ == "__main__":
    for k, v in run(write="--write" in sys.argv[1:]).items():
        print(f"{k:>32}: {v}")
