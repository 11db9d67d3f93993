"""Sensitivity sweep: run one notebook step over a grid of parameter overrides, in parallel, and collect.

The grid lives in a small YAML file (``params/scenarios.yaml``)::

    step: 02_fit_growth            # the notebook step to rerun
    out_dir: data/processed/scenarios
    summary_key: out_summary       # each run's JSON summary (an out_* key of the step)
    common: {n_bootstrap: 200}     # overrides applied to every scenario
    grid:                          # the full cross product of these values
      series: [curated, itu]
      use_bounds: [true, false]

Every scenario gets the step's own parameters with the common and grid overrides (``out_*`` paths moved into
``<out_dir>/<scenario name>/``, though the sweep writes none of them). The sweep does not run the notebook:
:func:`summary_numbers` computes only the numbers the table shows, in one process per job (no figures, no
resampling), so the whole grid costs about as much as one notebook run. The collected table has one row per
scenario: the override values and those numbers.

    python -m helpers.pipeline.scenarios run [--grid params/scenarios.yaml] [--jobs 2] [--out data/processed/scenarios.csv]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers import config
from helpers.pipeline.dag import PipelineError, get_step, load_params


@dataclass(frozen=True)
class Scenario:
    """One point of the grid: a name, its overrides and the full parameter set."""

    name: str
    overrides: dict[str, Any]
    params: dict[str, Any]


def _slug(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "+".join(str(v) for v in value) or "none"
    return str(value).replace("/", "-").replace(" ", "-")


def expand(grid_file: Path) -> tuple[str, list[Scenario], dict[str, Any]]:
    """Read a grid file and return (step name, scenarios, the grid spec)."""
    spec = load_params(grid_file)
    for key in ("step", "grid", "out_dir", "summary_key"):
        if key not in spec:
            raise PipelineError(f"{config.rel(grid_file)}: missing key {key!r}")
    step = get_step(spec["step"])
    grid: dict[str, list[Any]] = spec["grid"]
    unknown = [k for k in [*grid, *spec.get("common", {})] if k not in step.params]
    if unknown:
        raise PipelineError(
            f"{config.rel(grid_file)}: {', '.join(unknown)} not parameters of {step.name} "
            f"(known: {', '.join(step.params)})"
        )
    scenarios = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        overrides = dict(zip(keys, values, strict=True))
        name = "__".join(f"{k}-{_slug(v)}" for k, v in overrides.items())
        params = {**step.params, **spec.get("common", {}), **overrides}
        for key, value in list(params.items()):
            if key.startswith("out_"):
                params[key] = f"{spec['out_dir']}/{name}/{Path(value).name}"
        scenarios.append(Scenario(name, overrides, params))
    return step.name, scenarios, spec


def summary_numbers(params: dict[str, Any]) -> dict[str, Any]:
    """The sweep's numbers for one parameter set of step 02, computed in this process without notebooks,
    figures or resampling: the censored-MLE fits of the averaged curves (``helpers.steps``) under the
    scenario's data treatment, their Akaike weights, the Akaike-averaged saturation, ceiling per 100 and year
    of fastest growth, and as the saturation interval the envelope of the curves' profile-likelihood
    intervals (lowest lower end to highest upper end; ``None`` = not bounded by the data)."""
    import numpy as np

    from helpers import growth
    from helpers.models import averaging, profile
    from helpers.steps import growth_intervals as gint
    from helpers.steps import growth_observations as gobs
    from helpers.steps import growth_tables as gtab

    root = config.ROOT
    national = pd.read_csv(root / params["in_national_series"])
    itu = pd.read_csv(root / params["in_itu_series"])
    population = gobs.Population.from_frame(pd.read_csv(root / params["in_population"]))
    epoch = float(params["epoch"])
    horizon = int(params["horizon"])
    obs, _ = gobs.load_observations(
        national, itu, series=params["series"], operator_figures=params["operator_figures"], t_min=epoch + 1,
        rounded_figures=params.get("rounded_figures", "exact"), placement=params.get("placement", "mid"),
        drop=[str(x) for x in params.get("drop_obs") or []], population=population,
    )  # fmt: skip
    models = [m for m in gint.AVERAGED_MODELS if m in params["models"]]
    fits, _ = gtab.fit_models(
        models, gobs.fit_inputs(obs, bool(params["use_bounds"])), loss_scale=params["loss_scale"], epoch=epoch,
        method=params.get("method", "mle"),
    )  # fmt: skip
    fits = {m: f for m, f in fits.items() if f.converged}
    w = averaging.akaike_weights({m: f.aicc for m, f in fits.items()})
    pop_h = population.at_year(horizon)
    sat = sum(w[m] * growth.saturation(f) for m, f in fits.items())
    infl = sum(w[m] * growth.inflection(f) for m, f in fits.items())
    los, his = [], []
    for f in fits.values():
        if f.method == "mle":
            iv = profile.profile_interval(f, "saturation", level=float(params["level"]))
            los.append(iv.lo)
            his.append(iv.hi)
    lo = None if not los or any(v is None for v in los) else min(los)
    hi = None if not his or any(v is None for v in his) else max(his)
    out: dict[str, Any] = {
        "n_obs": len(obs),
        "n_exact": int((obs["kind"] == "exact").sum()),
        "saturation.estimate": sat,
        "saturation.lo": lo,
        "saturation.hi": hi,
        "ceiling_per100.estimate": 100 * sat / pop_h,
        "ceiling_per100.lo": None if lo is None else 100 * lo / pop_h,
        "ceiling_per100.hi": None if hi is None else 100 * hi / pop_h,
        "inflection.estimate": infl,
    }
    for m in models:
        out[f"weight.{m}"] = round(w.get(m, np.nan), 4)
        out[f"saturation.{m}"] = growth.saturation(fits[m]) if m in fits else None
    return out


def _run_one(scenario: Scenario) -> tuple[str, dict[str, Any], float]:
    start = time.perf_counter()
    return scenario.name, summary_numbers(scenario.params), time.perf_counter() - start


def run(grid_file: Path, out: Path, jobs: int = 2) -> pd.DataFrame:
    """Compute every scenario's numbers (``jobs`` processes) and write the table to ``out``: one row per
    scenario, its overrides and :func:`summary_numbers`."""
    step, scenarios, spec = expand(grid_file)
    start = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for sc, fut in zip(scenarios, [pool.submit(_run_one, sc) for sc in scenarios], strict=True):
            name, numbers, seconds = fut.result()
            print(f"[scenarios] {name} done in {seconds:.1f} s", file=sys.stderr, flush=True)
            rows.append(
                {
                    "scenario": name,
                    **{k: _slug(v) if isinstance(v, list) else v for k, v in sc.overrides.items()},
                    **{
                        f"settings.{k}": _slug(v) if isinstance(v, list) else v
                        for k, v in sc.overrides.items()
                    },
                    **numbers,
                }
            )
    table = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    table.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(out)
    print(
        f"[scenarios] {len(scenarios)} runs of {step} in {time.perf_counter() - start:.1f} s -> {config.rel(out)}",
        file=sys.stderr,
    )
    return table


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline.scenarios")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the grid and collect the table")
    r.add_argument("--grid", type=Path, default=config.PARAMS / "scenarios.yaml")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--out", type=Path, default=config.PROCESSED / "scenarios.csv")
    args = parser.parse_args(argv)
    try:
        run(args.grid, args.out, args.jobs)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
