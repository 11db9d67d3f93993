"""The summaries of step 02: the typed :class:`helpers.steps.contracts.GrowthSummary` and the key numbers.

:func:`growth_summary` assembles the contract written to ``growth_summary.json``; :func:`summary` is the older
flat key-number dict, with :func:`interval_entry`, :func:`treatment_summary` and :func:`fmt_interval`;
:func:`read_coverage` reads the committed coverage measurement.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import growth
from helpers.steps.growth_checks import holdout_summary
from helpers.steps.growth_observations import Population
from helpers.steps.growth_tables import json_number


def interval_entry(intervals: pd.DataFrame, model: str, quantity: str) -> dict[str, Any]:
    """``{estimate, lo, hi, boot_median, basic_lo, basic_hi, share_finite}`` of one row of
    :func:`intervals_table`, JSON-safe (``null`` = infinite / not reached)."""
    row = intervals[(intervals["model"] == model) & (intervals["quantity"] == quantity)]
    if row.empty:
        raise KeyError(f"no interval for {model}/{quantity}")
    r = row.iloc[0]
    return {
        k: json_number(r[k])
        for k in ("estimate", "lo", "hi", "boot_median", "basic_lo", "basic_hi", "share_finite")
    }


def summary(
    *,
    settings: Mapping[str, Any],
    obs: pd.DataFrame,
    choice: Mapping[str, Any],
    intervals: pd.DataFrame,
    backtest: pd.DataFrame,
    boots: Mapping[str, growth.BootstrapResult],
    reach_levels: Iterable[float],
    horizon: int,
    population: Population,
) -> dict[str, Any]:
    """The key numbers as a flat-ish JSON-ready dict (stable keys; ``null`` = not reached / not available)."""
    m = choice["model"]
    b = boots[m]
    exact = obs[obs["kind"] == "exact"]
    last = obs.iloc[-1]
    last_exact = exact.iloc[-1]
    bt = backtest[backtest["model"] == m]
    reach = {
        f"{lev:g}per100": interval_entry(intervals, m, f"year_reaching_{lev:g}per100") for lev in reach_levels
    }
    sat = interval_entry(intervals, m, "saturation")
    out = {
        "settings": dict(settings),
        "data": {
            "n_obs": int(len(obs)),
            "n_exact": int(len(exact)),
            "n_bounds": int(len(obs) - len(exact)),
            "first_t": json_number(obs["t"].iloc[0]),
            "last_t": json_number(last["t"]),
            "last_exact_t": json_number(last_exact["t"]),
            "last_exact_value": json_number(last_exact["y"]),
            "last_exact_per100": json_number(100 * last_exact["y"] / float(population.at(last_exact["t"]))),
            "max_observed_value": json_number(
                np.nanmax(np.concatenate([exact["y"].to_numpy(float), obs["lower"].to_numpy(float)]))
            ),
        },
        "model": {
            "chosen": m,
            "reason": choice["reason"],
            "akaike_weight": json_number(choice["akaike_weight"], 4),
            "runner_up": choice["runner_up"],
            "runner_up_delta_aicc": json_number(choice["runner_up_delta_aicc"], 4),
            "supported": ",".join(choice["supported"]),
            "bic_choice": choice["bic_choice"],
            "robust": choice["robust"],
        },
        "saturation": sat,
        "inflection": interval_entry(intervals, m, "inflection"),
        "ceiling_per100": interval_entry(intervals, m, "ceiling_per100"),
        "ceiling_population_year": int(horizon),
        "ceiling_population": json_number(population.at_year(horizon), 8),
        f"value_{horizon}": interval_entry(intervals, m, f"value_{horizon}"),
        f"per100_{horizon}": interval_entry(intervals, m, f"per100_{horizon}"),
        "year_reaching": reach,
        "saturation_supported_range": _supported_range(intervals, choice["supported"], "saturation"),
        "bootstrap": {
            "kind": b.kind,
            "n": int(b.n),
            "seed": int(b.seed),
            "n_failed": int(b.n_failed),
            "failures": {k: int(v) for k, v in sorted(b.failures.items())},
            "n_failed_all_models": {k: int(v.n_failed) for k, v in sorted(boots.items())},
            "estimate_outside_percentile": ",".join(
                sorted(intervals.loc[(intervals["model"] == m) & intervals["estimate_outside"], "quantity"])
            ),
        },
        "backtest": {
            "origins": ",".join(f"{o:g}" for o in bt["origin"]),
            "mape_exact_mean": json_number(bt["mape_exact"].mean(), 4),
            "mape_mean": json_number(bt["mape"].mean(), 4),
            "mape_exact_by_origin": {
                f"{o:g}": json_number(v, 4) for o, v in zip(bt["origin"], bt["mape_exact"], strict=True)
            },
            "mpe_exact_by_origin": {
                f"{o:g}": json_number(v, 4) for o, v in zip(bt["origin"], bt["mpe_exact"], strict=True)
            },
            "best_model_mape_exact": _best_backtest(backtest),
        },
    }
    return out


def treatment_summary(
    treat: pd.DataFrame,
    model: str,
    quantity: str = "saturation",
    treatments: Sequence[str] = ("censored", "naive", "itu"),
) -> dict[str, Any]:
    """``{model, <treatment>_<quantity>: estimate}`` for one model from :func:`treatment_table` (JSON-safe;
    ``None`` where that treatment's fit of the model did not converge), one key per treatment."""
    sel = (treat["model"] == model) & (treat["quantity"] == quantity)
    sub = treat[sel].set_index("treatment")["estimate"]
    return {"model": model, **{f"{tr}_{quantity}": json_number(sub.get(tr, math.nan)) for tr in treatments}}


def fmt_interval(entry: Mapping[str, Any], fmt: Any, level: float) -> str:
    """Plain-words "estimate (95% interval lo to hi)" of an :func:`interval_entry` (``None`` = not reached)."""
    if entry["estimate"] is None and entry.get("share_finite") == 0:
        return "not reached (the curve saturates below it in every resample)"
    est = "not reached" if entry["estimate"] is None else fmt(entry["estimate"])
    lo = "not reached" if entry["lo"] is None else fmt(entry["lo"])
    hi = "not reached" if entry["hi"] is None else fmt(entry["hi"])
    return f"{est} ({level:.0%} interval {lo} to {hi})"


def _supported_range(intervals: pd.DataFrame, models: Sequence[str], quantity: str) -> dict[str, Any]:
    sub = intervals[intervals["model"].isin(models) & (intervals["quantity"] == quantity)]
    return {
        "models": ",".join(models),
        "lo": json_number(sub["lo"].min()),
        "hi": json_number(sub["hi"].max()),
    }


def _best_backtest(backtest: pd.DataFrame) -> str | None:
    g = backtest.groupby("model")["mape_exact"].mean().dropna()
    return None if g.empty else str(g.sort_values(kind="stable").index[0])


def _iv(row: Mapping[str, Any] | None, method: str) -> Any:
    from helpers.steps.contracts import Interval

    if row is None:
        return Interval(None, method=method)
    return Interval(
        estimate=json_number(row.get("estimate")),
        lo=json_number(row.get("lo")),
        hi=json_number(row.get("hi")),
        method=method,
        share_finite=json_number(row.get("share_finite")) if "share_finite" in row else None,
    )


def read_coverage(path: Path) -> dict[str, Any] | None:
    """The committed coverage measurement (``benchmarks/results/coverage_saturation.json``, written by
    ``make coverage`` / ``make bench``: coverage, MC SE, data sets, seed, threshold, commit, date, command), or
    ``None`` when the file is absent or holds no coverage figure (the report then says it was not measured).
    A ``reports/bench.json`` of an older run (``coverage_saturation_95`` keys) is read too."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if isinstance(d.get("coverage"), int | float):
        keys = ("mc_se", "n_sets", "n_used", "model", "seed", "calibration", "threshold", "commit", "date")
        out = {"coverage": float(d["coverage"]), **{k: d.get(k) for k in keys}}
        out["command"] = d.get("command")
        out["source"] = _relative(path)
        return out
    if not isinstance(d.get("coverage_saturation_95"), int | float):
        return None
    return {
        "coverage": float(d["coverage_saturation_95"]),
        "mc_se": d.get("coverage_saturation_95_mc_se"),
        "n_sets": d.get("coverage_n_sets"),
        "n_used": d.get("coverage_n_used"),
        "model": d.get("coverage_model"),
        "source": _relative(path),
    }


def _relative(path: Path) -> str:
    """``path`` relative to the project root when it lies inside it (the summary must not name a machine)."""
    from helpers.config import ROOT

    try:
        return Path(path).resolve().relative_to(Path(ROOT).resolve()).as_posix()
    except ValueError:
        return str(path)


def growth_summary(
    *,
    settings: Mapping[str, Any],
    obs: pd.DataFrame,
    population: Population,
    horizon: int,
    level: float,
    selection: pd.DataFrame,
    weights: Mapping[str, float],
    averaged: pd.DataFrame,
    profile: pd.DataFrame,
    richards: Mapping[str, Any],
    loo: pd.DataFrame,
    holdout: pd.DataFrame,
    backtest: pd.DataFrame,
    naive_vs_censored: Mapping[str, Any],
    boots: Mapping[str, growth.BootstrapResult],
    coverage: Mapping[str, Any] | None,
) -> Any:
    """Assemble the :class:`helpers.steps.contracts.GrowthSummary` of step 02 from its tables."""
    from helpers.steps.contracts import GrowthSummary

    exact = obs[obs["kind"] == "exact"]
    last_exact = exact.iloc[-1] if len(exact) else obs.iloc[-1]
    # the largest "more than" figure of a source (not the lower end of a rounding interval or a range)
    is_bound = (obs["kind"] == "lower") & ~obs.get("rounded", pd.Series(False, index=obs.index)).astype(bool)
    lower = np.where(is_bound.to_numpy(), obs["lower"].to_numpy(float), np.nan)
    conv = selection[selection["converged"].astype(bool)]
    best = str(conv.iloc[0]["model"]) if len(conv) else ""
    w_sorted = sorted(weights.values(), reverse=True)
    singled_out = bool(w_sorted and w_sorted[0] >= 0.9)
    av = {}
    for _, r in averaged.iterrows():
        q = str(r["quantity"])
        key = {f"value_{horizon}": "value_horizon", f"per100_{horizon}": "per100_horizon"}.get(q, q)
        av[key] = _iv(r.to_dict(), "Akaike-weighted mixture of parametric-bootstrap draws")
    prof: dict[str, dict[str, Any]] = {}
    for _, r in profile.iterrows():
        prof.setdefault(str(r["model"]), {})[str(r["quantity"])] = _iv(r.to_dict(), "profile likelihood")
    loo_rest = loo.iloc[1:]
    col_v = f"value_{horizon}_averaged"
    loo_d: dict[str, Any] = {
        "n_left_out": int(len(loo_rest)),
        "full_saturation": json_number(loo.iloc[0]["saturation_averaged"]),
    }
    if len(loo_rest):
        i_min = loo_rest["saturation_averaged"].idxmin()
        i_max = loo_rest["saturation_averaged"].idxmax()
        loo_d.update(
            saturation_min=json_number(loo_rest["saturation_averaged"].min()),
            saturation_max=json_number(loo_rest["saturation_averaged"].max()),
            saturation_min_left_out=str(loo.loc[i_min, "left_out"]),
            saturation_max_left_out=str(loo.loc[i_max, "left_out"]),
            value_horizon_min=json_number(loo_rest[col_v].min()),
            value_horizon_max=json_number(loo_rest[col_v].max()),
        )
    loo_d["rows"] = [
        {
            "left_out": str(r["left_out"]),
            "t": json_number(r["t"]),
            "figure": json_number(r["figure"]),
            "saturation": json_number(r["saturation_averaged"]),
            "value_horizon": json_number(r[col_v]),
        }
        for _, r in loo.iterrows()
    ]
    hs = holdout_summary(holdout) if len(holdout) else pd.DataFrame()
    hold_d = {
        "origin": int(holdout["origin"].iloc[0]) if len(holdout) else None,
        "years": sorted({int(y) for y in holdout.get("year", [])}),
        "n_train": int(holdout["n_train"].iloc[0]) if len(holdout) else None,
        "n_train_exact": int(holdout["n_train_exact"].iloc[0]) if len(holdout) else None,
        "by_method": {
            str(r["method"]): {
                "coverage": json_number(r["coverage"], 4),
                "interval_score_m": json_number(r["interval_score_m"], 4),
                "crps_m": json_number(r["crps_m"], 4),
                "mape": json_number(r["mape"], 4),
                "refits_used": json_number(r.get("refits_used")),
                "refits_total": json_number(r.get("refits_total")),
            }
            for _, r in hs.iterrows()
        },
    }
    bt = backtest
    bt_d = {
        "origins": ",".join(f"{o:g}" for o in sorted(bt["origin"].unique())) if len(bt) else "",
        "same_data": {
            f"{o:g}": s for o, s in zip(bt["origin"], bt.get("same_data_origins", ""), strict=False) if s
        },
        "mape_exact_by_model": {
            str(m): json_number(v, 4) for m, v in bt.groupby("model")["mape_exact"].mean().items()
        },
        "mape_exact_by_origin": {
            f"{o:g}": json_number(v, 4) for o, v in bt.groupby("origin")["mape_exact"].mean().items()
        },
    }
    return GrowthSummary(
        settings=dict(settings),
        horizon=int(horizon),
        level=float(level),
        method=str(settings.get("method", "mle")),
        data={
            "n_obs": int(len(obs)),
            "n_exact": int(len(exact)),
            "n_rounded": int(obs.get("rounded", pd.Series(False)).astype(bool).sum()),
            "n_bounds": int(len(obs) - len(exact)),
            "first_t": json_number(obs["t"].iloc[0]),
            "last_t": json_number(obs["t"].iloc[-1]),
            "last_exact_t": json_number(last_exact["t"]),
            "last_exact_value": json_number(last_exact["y"]),
            "max_lower_bound": json_number(np.nanmax(lower)) if np.isfinite(lower).any() else None,
            "max_lower_bound_t": json_number(
                obs["t"].to_numpy(float)[int(np.nanargmax(np.where(np.isfinite(lower), lower, -1)))]
            )
            if np.isfinite(lower).any()
            else None,
            "population_horizon": json_number(population.at_year(horizon), 8),
        },
        weights={k: json_number(v, 4) for k, v in weights.items()},
        aicc={str(r["model"]): json_number(r["aicc"], 8) for _, r in selection.iterrows()},
        sigma={str(r["model"]): json_number(r.get("sigma"), 4) for _, r in selection.iterrows()},
        best_model=best,
        singled_out=singled_out,
        averaged=av,
        profile=prof,
        richards=dict(richards),
        loo=loo_d,
        holdout=hold_d,
        backtest=bt_d,
        naive_vs_censored=dict(naive_vs_censored),
        bootstrap={
            "kind": next(iter(boots.values())).kind if boots else "",
            "n": int(next(iter(boots.values())).n) if boots else 0,
            "seed": int(next(iter(boots.values())).seed) if boots else 0,
            "n_failed_all_models": {k: int(v.n_failed) for k, v in sorted(boots.items())},
        },
        coverage=dict(coverage) if coverage else None,
    )
