"""Sensitivity sweep: run one notebook step over a grid of parameter overrides, in parallel, and collect.

The grid lives in a small YAML file (``params/scenarios.yaml``)::

    step: 02_fit_growth            # the notebook step to rerun
    out_dir: data/processed/scenarios
    summary_key: out_summary       # each run's JSON summary (an out_* key of the step)
    common: {n_bootstrap: 200}     # overrides applied to every scenario
    grid:                          # the full cross product of these values
      series: [curated, itu]
      use_bounds: [true, false]

Every scenario gets the step's own parameters, the common and grid overrides, and every ``out_*`` path moved
into ``<out_dir>/<scenario name>/`` so no run overwrites the main products. Runs execute through papermill
(:func:`helpers.pipeline.run_step`) in separate processes. The collected table has one row per scenario: the
override values and the flattened summary JSON.

    python -m helpers.scenarios run [--grid params/scenarios.yaml] [--jobs 2] [--out data/processed/scenarios.csv]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from helpers import config, pipeline


@dataclass(frozen=True)
class Scenario:
    """One point of the grid: a name, its overrides and the full parameter set."""

    name: str
    overrides: dict[str, Any]
    params: dict[str, Any]


def _slug(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("/", "-").replace(" ", "-")


def expand(grid_file: Path) -> tuple[str, list[Scenario], dict[str, Any]]:
    """Read a grid file and return (step name, scenarios, the grid spec)."""
    spec = pipeline.load_params(grid_file)
    for key in ("step", "grid", "out_dir", "summary_key"):
        if key not in spec:
            raise pipeline.PipelineError(f"{config.rel(grid_file)}: missing key {key!r}")
    step = pipeline.get_step(spec["step"])
    grid: dict[str, list[Any]] = spec["grid"]
    unknown = [k for k in [*grid, *spec.get("common", {})] if k not in step.params]
    if unknown:
        raise pipeline.PipelineError(
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


def _run_one(step: str, scenario: Scenario, work: Path) -> tuple[str, float]:
    params_file = work / f"{scenario.name}.yaml"
    params_file.write_text(yaml.safe_dump(scenario.params, sort_keys=False))
    seconds = pipeline.run_step(step, params_file=params_file, output=work / f"{scenario.name}.ipynb")
    return scenario.name, seconds


def collect(scenarios: list[Scenario], summary_key: str) -> pd.DataFrame:
    """One row per scenario: its overrides and its flattened JSON summary."""
    rows = []
    for sc in scenarios:
        summary_path = config.ROOT / sc.params[summary_key]
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        flat = pd.json_normalize(summary, sep=".").iloc[0].to_dict()
        rows.append({"scenario": sc.name, **sc.overrides, **flat})
    return pd.DataFrame(rows)


def run(grid_file: Path, out: Path, jobs: int = 2) -> pd.DataFrame:
    """Run every scenario (``jobs`` at a time) and write the collected table to ``out``."""
    step, scenarios, spec = expand(grid_file)
    work = config.EXECUTED / "scenarios"
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_run_one, step, sc, work) for sc in scenarios]
        for fut in futures:
            name, seconds = fut.result()
            print(f"[scenarios] {name} done in {seconds:.1f} s", file=sys.stderr, flush=True)
    table = collect(scenarios, spec["summary_key"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    table.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(out)
    print(
        f"[scenarios] {len(scenarios)} runs in {time.perf_counter() - start:.1f} s -> {config.rel(out)}",
        file=sys.stderr,
    )
    return table


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.scenarios")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the grid and collect the table")
    r.add_argument("--grid", type=Path, default=config.PARAMS / "scenarios.yaml")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--out", type=Path, default=config.PROCESSED / "scenarios.csv")
    args = parser.parse_args(argv)
    try:
        run(args.grid, args.out, args.jobs)
    except pipeline.PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
