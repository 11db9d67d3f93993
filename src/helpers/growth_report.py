"""Tables, figures and the JSON summary of notebook 02 (growth curves of the national mobile series).

The statistics live in :mod:`helpers.growth`; this module prepares the observations for it, runs the
fits / bootstraps / backtests the notebook asks for, and turns the results into deterministic products:

- :func:`load_observations`: the curated national series (exact points and source bounds) or the ITU
  counts, with operator figures kept or dropped, same-date rows merged (``growth.fit`` needs distinct times);
- :func:`fits_table`, :func:`selection_table`, :func:`choose_model`: parameters and model choice by AICc;
- :func:`intervals_table`: bootstrap intervals of saturation, inflection, penetration ceiling and the year
  each penetration level is reached (population-aware, :func:`year_reaching_per100`);
- :func:`forecast_table`, :func:`backtest_table`, :func:`treatment_table`, :func:`summary`;
- ``plot_*``: the five figures.

Conventions.  Counts are subscriptions (or users, as lower bounds).  Decimal-year times; the ITU figures
are end-of-year stocks and are placed at ``t = year + 1`` (1 January of the next year).  Per-100 figures
divide by the population of ``population_prk.csv`` linearly interpolated at mid-year (``year + 0.5``) and
held at its last value beyond the table (2030).  The penetration ceiling is the saturation level divided by
the population at the horizon year.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import growth
from helpers._lazy import lazy
from helpers.models import derived, registry

plt = lazy("matplotlib.pyplot")
ticker = lazy("matplotlib.ticker")

FLOAT_FORMAT = "%.6g"
ITU_T_OFFSET = 1.0  # ITU counts are end-of-year stocks: year Y is placed at t = Y + 1
OBS_KINDS = ("exact", "lower", "upper", "interval")


# --------------------------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------------------------


def is_operator_figure(df: pd.DataFrame) -> pd.Series:
    """Rows that are one operator's figure used as a lower bound of the national total.

    ``scope`` starts with ``operator:`` *and* ``use_as`` is ``lower_bound``.  Operator rows used as the
    national value (``use_as == "value"``: Koryolink before 2012, when it was the only operator) are
    national totals and are not operator figures in this sense.
    """
    scope = df["scope"].astype(str)
    return scope.str.startswith("operator:") & (df["use_as"].astype(str) == "lower_bound")


def _kind(y: float, lo: float, hi: float) -> str:
    if np.isfinite(y):
        return "exact"
    if np.isfinite(lo) and np.isfinite(hi):
        return "interval"
    return "lower" if np.isfinite(lo) else "upper"


def merge_same_time(obs: pd.DataFrame) -> pd.DataFrame:
    """Merge observations made at the same time ``t`` into one (``growth.fit`` needs distinct times).

    Several exact values: their geometric mean (the sources agree to within rounding in practice);
    bounds: the tightest (largest lower, smallest upper); an exact value together with bounds keeps the
    exact value.  ``obs_id``/``source_id`` are joined with ``+``.  Input and output columns: ``t, y, lower,
    upper, obs_id, source_id`` (extra columns take the first row's value).
    """
    rows = []
    for t, g in obs.sort_values(["t", "obs_id"], kind="stable").groupby("t", sort=True):
        first = g.iloc[0].to_dict()
        ys = g["y"].to_numpy(float)
        ys = ys[np.isfinite(ys)]
        lo = g["lower"].to_numpy(float)
        hi = g["upper"].to_numpy(float)
        if ys.size == 1:
            first["y"] = float(ys[0])  # unchanged (a log/exp round trip would perturb the last digit)
        else:
            first["y"] = float(np.exp(np.mean(np.log(ys)))) if ys.size else math.nan
        first["lower"] = float(np.nanmax(lo)) if np.isfinite(lo).any() else math.nan
        first["upper"] = float(np.nanmin(hi)) if np.isfinite(hi).any() else math.nan
        if np.isfinite(first["y"]):
            first["lower"] = first["upper"] = math.nan
        first["obs_id"] = "+".join(g["obs_id"].astype(str))
        first["source_id"] = "+".join(dict.fromkeys(g["source_id"].astype(str)))
        first["n_merged"] = len(g)
        first["t"] = float(t)
        rows.append(first)
    out = pd.DataFrame(rows)
    out["kind"] = [_kind(a, b, c) for a, b, c in zip(out["y"], out["lower"], out["upper"], strict=True)]
    return out.reset_index(drop=True)


def load_observations(
    national: pd.DataFrame,
    itu: pd.DataFrame,
    *,
    series: str,
    operator_figures: str = "include",
    t_min: float = 2009.0,
    rounded_figures: str = "exact",
    placement: str = "mid",
    drop: Sequence[str] = (),
    population: Population | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The observations to fit, and the rows left out (with the reason).

    ``series="curated"``: the national series of step 01 (``value`` exact, else ``lower``/``upper``),
    operator figures kept or dropped (``operator_figures`` ``include``/``exclude``, see
    :func:`is_operator_figure`), rows at the same time merged.  ``series="itu"``: the ITU counts at
    ``t = year + 1``, all exact.  Rows before ``t_min`` are left out (the log loss needs values > 0 and the
    2009 launch year is the time origin).  Returned columns: ``t, y, lower, upper, kind, obs_id,
    source_id, indicator, scope, n_merged, rounded``.

    Data treatments (the scenario sweep varies them): ``rounded_figures="interval"`` enters each rounded
    exact figure (qualifier ``approx``: "roughly 6 million", "28%") as the range of values that round to it
    (:func:`rounding_interval`; a percentage converted with the row's population), ``"exact"`` as the value;
    ``placement`` puts a figure at the middle (``"mid"``) or the end (``"end"``) of the period its date words
    denote; ``drop`` lists ``obs_id`` values to leave out (e.g. the stale 2013 "1 million", 004-001).
    """
    if rounded_figures not in ("exact", "interval"):
        raise ValueError(f"rounded_figures must be 'exact' or 'interval', not {rounded_figures!r}")
    if placement not in ("mid", "end"):
        raise ValueError(f"placement must be 'mid' or 'end', not {placement!r}")
    if series not in ("curated", "itu"):
        raise ValueError(f"series must be 'curated' or 'itu', not {series!r}")
    if operator_figures not in ("include", "exclude"):
        raise ValueError(f"operator_figures must be 'include' or 'exclude', not {operator_figures!r}")
    cols = ["t", "y", "lower", "upper", "obs_id", "source_id", "indicator", "scope"]
    if series == "itu":
        d = itu.dropna(subset=["subscriptions"])
        obs = pd.DataFrame(
            {
                "t": d["year"].astype(float) + ITU_T_OFFSET,
                "y": d["subscriptions"].astype(float),
                "lower": math.nan,
                "upper": math.nan,
                "obs_id": "itu-" + d["year"].astype(int).astype(str),
                "source_id": "itu",
                "indicator": "mobile_subscriptions",
                "scope": "national",
            }
        )
        left = pd.DataFrame(columns=[*cols, "reason"])
    else:
        d = national.rename(columns={"value": "y"}).copy()
        if placement == "end" and "t_end" in d.columns:
            d["t"] = d["t_end"].astype(float)
        d["rounded"] = False
        if rounded_figures == "interval":
            for i, row in d.iterrows():
                iv = rounding_interval(row)
                if iv is not None:
                    d.loc[i, ["y", "lower", "upper"]] = [math.nan, iv[0], iv[1]]
                    d.loc[i, "rounded"] = True
        op = is_operator_figure(d)
        out_op = op if operator_figures == "exclude" else pd.Series(False, index=d.index)
        dropped = d["obs_id"].astype(str).isin([str(x) for x in drop])
        left = pd.concat(
            [
                d.loc[out_op, cols].assign(reason="operator figure (lower bound from one operator) excluded"),
                d.loc[dropped & ~out_op, cols].assign(reason="left out by the drop setting"),
            ],
            ignore_index=True,
        )
        obs = d.loc[~out_op & ~dropped, [*cols, "rounded"]]
    if "rounded" not in obs.columns:
        obs = obs.assign(rounded=False)
    early = obs["t"] < t_min
    left = pd.concat([left, obs.loc[early].assign(reason=f"before {t_min:g}")], ignore_index=True)
    obs = merge_same_time(obs.loc[~early])
    return obs, left.sort_values("t", kind="stable").reset_index(drop=True)


def fit_inputs(obs: pd.DataFrame, use_bounds: bool) -> dict[str, np.ndarray]:
    """Arrays for :func:`growth.fit`: ``t, y, lower, upper``; with ``use_bounds=False`` the bounds become
    exact points (:func:`growth.naive_points`: the bound, or the midpoint of an interval)."""
    t = obs["t"].to_numpy(float)
    y = obs["y"].to_numpy(float)
    lo = obs["lower"].to_numpy(float)
    hi = obs["upper"].to_numpy(float)
    rounded = obs["rounded"].to_numpy(bool) if "rounded" in obs.columns else np.zeros(t.size, bool)
    if use_bounds:
        return {"t": t, "y": y, "lower": lo, "upper": hi, "rounded": rounded}
    return {"t": t, "y": growth.naive_points(y, lo, hi), "lower": None, "upper": None, "rounded": None}


def _resolution(figure: float) -> float:
    """The rounding unit of a figure as written: ``6000000`` -> 1e6, ``28`` -> 1, ``3.9`` -> 0.1."""
    x = abs(float(figure))
    if x == 0 or not math.isfinite(x):
        return math.nan
    txt = f"{x:.10g}"
    if "." in txt:
        return 10.0 ** -len(txt.split(".")[1])
    digits = txt.rstrip("0")
    return 10.0 ** (len(txt) - len(digits))


def rounding_interval(row: Mapping[str, Any]) -> tuple[float, float] | None:
    """The range of counts that round to an approximate exact figure of the national series, or ``None``.

    Applies to rows with ``qualifier == "approx"`` used as the value (``use_as == "value"``): "roughly 6
    million" is 5.5-6.5 million (half a unit of its last stated digit either side); a percentage ("28%",
    ``converted_from == "percent"``) is 27.5-28.5% of the row's ``population``.
    """
    if str(row.get("qualifier")) != "approx" or str(row.get("use_as")) != "value":
        return None
    y = float(row.get("y", row.get("value", math.nan)))
    if not math.isfinite(y):
        return None
    if str(row.get("converted_from")) == "percent":
        pct = float(row["per100_value"])
        res = _resolution(pct)
        pop = float(row["population"]) / 100.0
        return ((pct - res / 2) * pop, (pct + res / 2) * pop)
    res = _resolution(y)
    return (y - res / 2, y + res / 2)


# --------------------------------------------------------------------------------------------------------
# Population and per-100 quantities
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """Annual population, interpolated linearly at mid-year and held constant outside the table."""

    years: np.ndarray
    values: np.ndarray

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Population:
        """From a table with columns ``year, population``."""
        d = df.dropna(subset=["population"]).sort_values("year")
        return cls(d["year"].to_numpy(float) + 0.5, d["population"].to_numpy(float))

    @property
    def last_year(self) -> int:
        """The last calendar year in the table."""
        return int(self.years[-1] - 0.5)

    def at(self, t: Any) -> np.ndarray:
        """Population at decimal time(s) ``t`` (infinite ``t`` gives the last value)."""
        t = np.asarray(t, dtype=float)
        tt = np.clip(
            np.nan_to_num(t, nan=np.nan, posinf=self.years[-1], neginf=self.years[0]),
            self.years[0],
            self.years[-1],
        )
        return np.interp(tt, self.years, self.values)

    def at_year(self, year: float) -> float:
        """Population of a calendar year (its mid-year value)."""
        return float(self.at(year + 0.5))


def year_reaching_per100(
    obj: growth.FitResult | growth.BootstrapResult, per100: float, population: Population, iters: int = 30
) -> float | np.ndarray:
    """Time at which the curve reaches ``per100`` subscriptions per 100 inhabitants of a *changing*
    population: solves ``f(t) = per100/100 * P(t)`` by fixed-point iteration on
    :func:`growth.year_reaching` (a contraction, ``P`` changes by < 1 % a year).  ``inf`` when never
    reached (the saturation is below the level at the population's last value); NaN for failed resamples.
    """
    frac = per100 / 100.0
    t = growth.year_reaching(obj, frac * population.at(population.years[-1]))
    for _ in range(iters):
        t_new = growth.year_reaching(obj, frac * population.at(t))
        if np.allclose(t_new, t, rtol=0, atol=1e-9, equal_nan=True):
            break
        t = t_new
    return t_new


# --------------------------------------------------------------------------------------------------------
# Fits and model selection
# --------------------------------------------------------------------------------------------------------


def fit_models(
    models: Sequence[str], inputs: Mapping[str, Any], *, loss_scale: str, epoch: float, method: str = "lsq"
) -> tuple[dict[str, growth.FitResult], dict[str, str]]:
    """Fit every model (``method`` "mle": censored maximum likelihood; "lsq": hinge least squares); returns
    the fits and, for models that cannot be fitted, the reason."""
    fits, errors = {}, {}
    for m in models:
        try:
            fits[m] = growth.fit(
                m,
                inputs["t"],
                inputs["y"],
                lower=inputs.get("lower"),
                upper=inputs.get("upper"),
                loss_scale=loss_scale,
                epoch=epoch,
                method=method,
                rounded=inputs.get("rounded") if method == "mle" else None,
            )
        except ValueError as exc:
            errors[m] = str(exc)
    return fits, errors


def fits_table(fits: Mapping[str, growth.FitResult]) -> pd.DataFrame:
    """One row per model x parameter: estimate, stderr, and the model's rss, dof, n, AICc, BIC, flags."""
    rows = []
    for name, r in fits.items():
        for p in r.model.param_names:
            est, se = r.params[p], r.stderr[p]
            rows.append(
                dict(
                    model=name,
                    param=p,
                    estimate=est,
                    stderr=se,
                    rel_stderr=abs(se / est) if est != 0 and np.isfinite(se) else math.nan,
                    at_bound=p in r.at_bound,
                    n=r.n,
                    n_exact=int(np.isfinite(r.y).sum()),
                    dof=r.dof,
                    rss=r.rss,
                    aicc=r.aicc,
                    bic=r.bic,
                    converged=r.converged,
                    censored=r.censored,
                    loss_scale=r.loss_scale,
                    epoch=r.epoch,
                    method=r.method,
                    loglik=r.loglik,
                    sigma=r.sigma,
                    sigma_stderr=r.sigma_stderr,
                    message=r.message,
                )
            )
    return pd.DataFrame(rows)


def selection_table(
    fits: Mapping[str, growth.FitResult], errors: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """AICc and BIC of every model, with differences to the best converged model and Akaike / BIC weights.

    Same rules as :func:`growth.compare_models` (without refitting): only converged fits with finite
    criteria are ranked; others get NaN.  Sorted by AICc, then model name.
    """
    rows = []
    for name, r in fits.items():
        rows.append(
            dict(
                model=name,
                n_params=r.model.n_params,
                n=r.n,
                n_bounds=int((~np.isfinite(r.y)).sum()),
                rss=r.rss,
                loglik=r.loglik,
                sigma=r.sigma,
                aicc=r.aicc,
                bic=r.bic,
                converged=r.converged,
                censored=r.censored,
                at_bound=";".join(r.at_bound),
                message=r.message,
            )
        )
    for name, msg in (errors or {}).items():
        rows.append(
            dict(
                model=name,
                n_params=growth.get_model(name).n_params,
                converged=False,
                censored=False,
                at_bound="",
                message=f"not fitted: {msg}",
            )
        )
    df = pd.DataFrame(rows)
    usable = df["converged"].astype(bool) & np.isfinite(df["aicc"].astype(float))
    for crit in ("aicc", "bic"):
        vals = df[crit].astype(float)
        best = vals[usable].min() if usable.any() else math.nan
        delta = np.where(usable, vals - best, np.nan)
        w = np.where(usable, np.exp(-0.5 * np.nan_to_num(delta, nan=np.inf)), np.nan)
        df[f"delta_{crit}"] = delta
        df[f"{'akaike' if crit == 'aicc' else 'bic'}_weight"] = w / np.nansum(w) if usable.any() else np.nan
    df["rank"] = df["aicc"].where(usable).rank(method="first")
    df = df.sort_values(["aicc", "model"], na_position="last", kind="stable").reset_index(drop=True)
    cols = [
        "model",
        "rank",
        "n_params",
        "n",
        "n_bounds",
        "rss",
        "loglik",
        "sigma",
        "aicc",
        "delta_aicc",
        "akaike_weight",
        "bic",
        "delta_bic",
        "bic_weight",
        "converged",
        "censored",
        "at_bound",
        "message",
    ]
    return df[cols]


def choose_model(selection: pd.DataFrame, support: float = 2.0) -> dict[str, Any]:
    """The converged model with the lowest AICc, and how robust that choice is.

    ``supported`` lists the models within ``support`` AICc units of the best (the usual "substantial
    support" rule); the choice is called robust when the best is alone there and BIC agrees.
    """
    ranked = selection[selection["converged"].astype(bool) & np.isfinite(selection["aicc"].astype(float))]
    if ranked.empty:
        raise ValueError("no model converged: nothing to choose from")
    best = ranked.iloc[0]
    supported = ranked.loc[ranked["delta_aicc"] < support, "model"].tolist()
    bic_best = ranked.sort_values(["bic", "model"], kind="stable").iloc[0]["model"]
    runner = ranked.iloc[1] if len(ranked) > 1 else None
    robust = len(supported) == 1 and bic_best == best["model"]
    why = f"lowest AICc among {len(ranked)} converged models (Akaike weight {best['akaike_weight']:.2f}"
    why += f"; next: {runner['model']}, dAICc {runner['delta_aicc']:.2f})" if runner is not None else ")"
    return dict(
        model=str(best["model"]),
        akaike_weight=float(best["akaike_weight"]),
        runner_up=None if runner is None else str(runner["model"]),
        runner_up_delta_aicc=None if runner is None else float(runner["delta_aicc"]),
        supported=supported,
        bic_choice=str(bic_best),
        robust=bool(robust),
        reason=why,
    )


def residual_table(fit: growth.FitResult, obs: pd.DataFrame) -> pd.DataFrame:
    """Residuals of a fit, observed minus fitted on the loss scale, one row per observation of ``obs`` (the
    table the fit was made from, same order): ``t, obs_id, kind, y_used, residual, exact``.  ``exact`` marks
    the points fitted as exact values (every point in a naive fit); for bounds the residual is the hinge
    (0 when the curve honours the bound)."""
    if len(obs) != fit.n or not np.allclose(obs["t"].to_numpy(float), fit.t):
        raise ValueError("obs does not match the fitted observations")
    return pd.DataFrame(
        {
            "t": fit.t,
            "obs_id": obs["obs_id"].to_numpy(),
            "kind": obs["kind"].to_numpy(),
            "y_used": fit.y,
            "residual": -fit.residuals,
            "exact": np.isfinite(fit.y),
        }
    )


# --------------------------------------------------------------------------------------------------------
# Bootstrap intervals and forecasts
# --------------------------------------------------------------------------------------------------------


def bootstraps(
    fits: Mapping[str, growth.FitResult], n: int, seed: int, kind: str = "residual"
) -> dict[str, growth.BootstrapResult]:
    """Seeded bootstrap of every converged fit (the same seed for each model); censored-MLE fits are always
    bootstrapped parametrically from the censored model."""
    return {
        m: growth.bootstrap(r, n=n, seed=seed, kind="parametric" if r.method == "mle" else kind)
        for m, r in fits.items()
        if r.converged
    }


def quantity_draws(
    boot: growth.BootstrapResult, population: Population, horizon: int, reach_levels: Iterable[float]
) -> dict[str, tuple[float, np.ndarray]]:
    """Point estimate and per-resample values (NaN = failed resample) of every reported quantity."""
    r = boot.fit
    pop_h = population.at_year(horizon)
    t_h = horizon + 0.5
    th = boot.params.to_numpy(float)
    with np.errstate(all="ignore"):
        at_h = r.model.f(t_h - r.epoch, *[th[:, j] for j in range(th.shape[1])])
    out: dict[str, tuple[float, np.ndarray]] = {
        p: (r.params[p], boot.params[p].to_numpy(float)) for p in r.model.param_names
    }
    out["saturation"] = (growth.saturation(r), growth.saturation(boot))
    out["inflection"] = (growth.inflection(r), growth.inflection(boot))
    out["ceiling_per100"] = (100 * growth.saturation(r) / pop_h, 100 * growth.saturation(boot) / pop_h)
    out[f"value_{horizon}"] = (float(r.predict(t_h)), at_h)
    out[f"per100_{horizon}"] = (100 * float(r.predict(t_h)) / pop_h, 100 * at_h / pop_h)
    for lev in reach_levels:
        out[f"year_reaching_{lev:g}per100"] = (
            float(year_reaching_per100(r, lev, population)),
            np.asarray(year_reaching_per100(boot, lev, population), dtype=float),
        )
    return out


def interval_row(est: float, values: np.ndarray, level: float) -> dict[str, float]:
    """Percentile and basic bootstrap intervals, the bootstrap median and the share of finite values.

    Infinite values ("never reaches the level") are kept in the percentile interval; the basic interval
    ``(2 est - q_hi, 2 est - q_lo)`` is given only when the estimate and every used value are finite.
    """
    v = np.asarray(values, dtype=float)
    used = v[~np.isnan(v)]
    lo, hi = growth.percentile_interval(used, level)
    med = float(np.quantile(used, 0.5, method="inverted_cdf")) if used.size else math.nan
    finite = bool(np.isfinite(est) and used.size and np.all(np.isfinite(used)))
    return dict(
        estimate=float(est),
        boot_median=med,
        lo=lo,
        hi=hi,
        basic_lo=2 * est - hi if finite else math.nan,
        basic_hi=2 * est - lo if finite else math.nan,
        n_used=int(used.size),
        share_finite=float(np.isfinite(used).mean()) if used.size else math.nan,
        estimate_outside=bool(used.size and np.isfinite(est) and not (lo <= est <= hi)),
    )


def intervals_table(
    boots: Mapping[str, growth.BootstrapResult],
    population: Population,
    horizon: int,
    reach_levels: Iterable[float],
    level: float,
) -> pd.DataFrame:
    """One row per model x quantity: estimate, bootstrap median, percentile (``lo``/``hi``) and basic
    intervals, resamples used and failed (by reason).  Quantities: the parameters, ``saturation`` (count),
    ``inflection`` (decimal year), ``ceiling_per100`` (saturation / population of the horizon year),
    ``value_<horizon>`` and ``per100_<horizon>`` (the mean curve at mid-horizon-year) and
    ``year_reaching_<L>per100`` (``inf`` = not reached; ``share_finite`` = share of resamples reaching it).
    """
    rows = []
    for m, b in boots.items():
        for q, (est, vals) in quantity_draws(b, population, horizon, reach_levels).items():
            rows.append(
                dict(
                    model=m,
                    quantity=q,
                    **interval_row(est, vals, level),
                    level=level,
                    kind=b.kind,
                    n_boot=b.n,
                    n_failed=b.n_failed,
                    failures=";".join(f"{k}={v}" for k, v in sorted(b.failures.items())),
                )
            )
    return pd.DataFrame(rows)


def forecast_table(
    boots: Mapping[str, growth.BootstrapResult],
    population: Population,
    first_year: int,
    horizon: int,
    level: float,
    chosen: str | None = None,
) -> pd.DataFrame:
    """Per model x calendar year (at mid-year, ``t = year + 0.5``): fitted mean, confidence band of the mean
    (``mean_lo/hi``) and prediction interval of a new observation (``pred_lo/hi``), also per 100."""
    years = np.arange(first_year, horizon + 1)
    t = years + 0.5
    pop = population.at(t)
    out = []
    for m, b in boots.items():
        pi = growth.prediction_interval(b, t, level=level)
        df = pd.DataFrame({"model": m, "year": years, "t": t})
        for c in ("fit", "mean_lo", "mean_hi", "pred_lo", "pred_hi"):
            df[c] = pi[c].to_numpy()
        df["population"] = pop
        for c in ("fit", "pred_lo", "pred_hi"):
            df[f"{c}_per100"] = 100 * df[c] / pop
        df["chosen"] = m == chosen
        df["n_used"] = pi.attrs["n_used"]
        out.append(df)
    return pd.concat(out, ignore_index=True)


# --------------------------------------------------------------------------------------------------------
# Backtest and data-treatment comparison
# --------------------------------------------------------------------------------------------------------


def score_forecasts(
    pred: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Absolute error, absolute percentage error and signed relative error of forecasts.

    Same rule as :func:`growth.backtest`: exact figures by ``|f - y|``; bound-only figures by the distance
    outside their bounds, relative to the violated bound (0 when the forecast honours them).  The signed
    error ``(f - ref) / ref`` is negative when the forecast is too low.
    """
    exact = np.isfinite(y)
    lo = np.where(np.isnan(lower), -np.inf, lower)
    hi = np.where(np.isnan(upper), np.inf, upper)
    ref = np.where(exact, y, np.clip(pred, lo, hi))
    with np.errstate(divide="ignore", invalid="ignore"):
        signed = np.where(ref != 0, (pred - ref) / np.abs(ref), np.nan)
    signed = np.where(~exact & (pred == ref), 0.0, signed)
    return np.abs(pred - ref), np.abs(signed), signed


def backtest_table(
    inputs: Mapping[str, Any], models: Sequence[str], origins: Sequence[float], **fit_kwargs: Any
) -> pd.DataFrame:
    """Rolling-origin backtest, one row per model x origin: fit on ``t <= origin``, score every later figure.

    ``mae``/``mape`` are those of :func:`growth.backtest` (every scored later observation; a bound scores 0
    when the forecast honours it; MAPE in percent).  Because satisfied bounds dilute the MAPE,
    ``mape_exact`` is the MAPE over the later *exact* figures only, ``mpe_exact`` their signed mean
    percentage error (negative = forecasts too low) and ``n_bounds_violated`` counts later bounds the
    forecast breaks.  Non-converged fits are scored and flagged; a fit that cannot be made (too few
    points) gives NaN scores with the reason.  (Computed in one pass of fits; the test suite checks
    ``mae``/``mape`` against :func:`growth.backtest`.)
    """
    t = np.asarray(inputs["t"], dtype=float)
    y = np.asarray(inputs["y"], dtype=float)
    lo = np.full_like(t, np.nan) if inputs.get("lower") is None else np.asarray(inputs["lower"], dtype=float)
    hi = np.full_like(t, np.nan) if inputs.get("upper") is None else np.asarray(inputs["upper"], dtype=float)
    origins, merged = distinct_origins(t, origins)
    # a rounded figure entered as its rounding interval is scored as the figure it rounds (the midpoint):
    # scored as a bound it would count as "honoured" whenever the forecast falls in its narrow range
    rounded = inputs.get("rounded")
    y_sc, lo_sc, hi_sc = y.copy(), lo.copy(), hi.copy()
    if rounded is not None and np.any(rounded):
        rd = np.asarray(rounded, dtype=bool)
        y_sc[rd] = 0.5 * (lo[rd] + hi[rd])
        lo_sc[rd] = hi_sc[rd] = np.nan
    rows = []
    for m in models:
        for o in origins:
            tr, te = t <= o, t > o
            row = dict(
                model=m,
                origin=float(o),
                n_train=int(tr.sum()),
                n_test=int(te.sum()),
                n_scored=0,
                n_exact_scored=0,
                n_bounds_violated=0,
                mae=math.nan,
                mape=math.nan,
                mape_exact=math.nan,
                mpe_exact=math.nan,
                max_horizon=float(t[te].max() - o) if te.any() else math.nan,
                converged=False,
                message="",
            )
            try:
                r = growth.fit(m, t[tr], y[tr], lower=lo[tr], upper=hi[tr], **fit_kwargs)
            except ValueError as exc:
                row["message"] = f"not fitted: {exc}"
                rows.append(row)
                continue
            row.update(converged=r.converged, message=r.message)
            if te.any():
                err, ape, signed = score_forecasts(r.predict(t[te]), y_sc[te], lo_sc[te], hi_sc[te])
                ok, okp = np.isfinite(err), np.isfinite(ape)
                ex = np.isfinite(y_sc[te]) & okp
                row.update(
                    n_scored=int(ok.sum()),
                    n_exact_scored=int(ex.sum()),
                    n_bounds_violated=int((~np.isfinite(y_sc[te]) & (err > 0)).sum()),
                    mae=float(err[ok].mean()) if ok.any() else math.nan,
                    mape=float(100 * ape[okp].mean()) if okp.any() else math.nan,
                    mape_exact=float(100 * ape[ex].mean()) if ex.any() else math.nan,
                    mpe_exact=float(100 * signed[ex].mean()) if ex.any() else math.nan,
                )
            row["same_data_origins"] = merged.get(float(o), "")
            rows.append(row)
    return pd.DataFrame(rows).sort_values(["model", "origin"], kind="stable").reset_index(drop=True)


def distinct_origins(t: np.ndarray, origins: Sequence[float]) -> tuple[list[float], dict[float, str]]:
    """Origins that give distinct training sets (``t <= origin``); a later origin that sees exactly the same
    figures as an earlier one would repeat its fit and is dropped.  Returns the kept origins and, for each
    kept origin, the dropped origins it stands for (``"2018"``), so the table can say so."""
    kept: list[float] = []
    merged: dict[float, list[str]] = {}
    seen: dict[int, float] = {}
    for o in sorted(float(x) for x in origins):
        n = int((np.asarray(t) <= o).sum())
        if n in seen:
            merged.setdefault(seen[n], []).append(f"{o:g}")
            continue
        seen[n] = o
        kept.append(o)
    return kept, {k: ",".join(v) for k, v in merged.items()}


def treatment_table(
    variants: Mapping[str, Mapping[str, growth.BootstrapResult]],
    population: Population,
    horizon: int,
    level: float,
    reference: str,
) -> pd.DataFrame:
    """Key quantities per data treatment x model, and their difference from the ``reference`` treatment.

    ``variants`` maps a treatment name (e.g. ``censored``, ``naive``, ``itu``) to its bootstraps by model.
    Columns: ``treatment, model, quantity, estimate, lo, hi, n_failed, diff_vs_<reference>`` (estimate
    minus the reference treatment's estimate for the same model and quantity).
    """
    rows = []
    keys = ("saturation", "inflection", "ceiling_per100", f"per100_{horizon}")
    for tr, boots in variants.items():
        for m, b in boots.items():
            draws = quantity_draws(b, population, horizon, ())
            for q in keys:
                est, vals = draws[q]
                iv = interval_row(est, vals, level)
                rows.append(
                    dict(
                        treatment=tr,
                        model=m,
                        quantity=q,
                        estimate=iv["estimate"],
                        lo=iv["lo"],
                        hi=iv["hi"],
                        n_failed=b.n_failed,
                        n_obs=b.fit.n,
                        n_bounds=int((~np.isfinite(b.fit.y)).sum()),
                    )
                )
    df = pd.DataFrame(rows)
    ref = df[df["treatment"] == reference].set_index(["model", "quantity"])["estimate"]
    idx = pd.MultiIndex.from_frame(df[["model", "quantity"]])
    df[f"diff_vs_{reference}"] = df["estimate"].to_numpy() - ref.reindex(idx).to_numpy()
    return df


# --------------------------------------------------------------------------------------------------------
# Summary JSON and CSV output
# --------------------------------------------------------------------------------------------------------


def _num(x: Any, digits: int = 6) -> float | None:
    """A JSON-safe rounded number (``None`` for NaN and infinities: "not reached" / not available)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def interval_entry(intervals: pd.DataFrame, model: str, quantity: str) -> dict[str, Any]:
    """``{estimate, lo, hi, boot_median, basic_lo, basic_hi, share_finite}`` of one row of
    :func:`intervals_table`, JSON-safe (``null`` = infinite / not reached)."""
    row = intervals[(intervals["model"] == model) & (intervals["quantity"] == quantity)]
    if row.empty:
        raise KeyError(f"no interval for {model}/{quantity}")
    r = row.iloc[0]
    return {
        k: _num(r[k]) for k in ("estimate", "lo", "hi", "boot_median", "basic_lo", "basic_hi", "share_finite")
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
            "first_t": _num(obs["t"].iloc[0]),
            "last_t": _num(last["t"]),
            "last_exact_t": _num(last_exact["t"]),
            "last_exact_value": _num(last_exact["y"]),
            "last_exact_per100": _num(100 * last_exact["y"] / float(population.at(last_exact["t"]))),
            "max_observed_value": _num(
                np.nanmax(np.concatenate([exact["y"].to_numpy(float), obs["lower"].to_numpy(float)]))
            ),
        },
        "model": {
            "chosen": m,
            "reason": choice["reason"],
            "akaike_weight": _num(choice["akaike_weight"], 4),
            "runner_up": choice["runner_up"],
            "runner_up_delta_aicc": _num(choice["runner_up_delta_aicc"], 4),
            "supported": ",".join(choice["supported"]),
            "bic_choice": choice["bic_choice"],
            "robust": choice["robust"],
        },
        "saturation": sat,
        "inflection": interval_entry(intervals, m, "inflection"),
        "ceiling_per100": interval_entry(intervals, m, "ceiling_per100"),
        "ceiling_population_year": int(horizon),
        "ceiling_population": _num(population.at_year(horizon), 8),
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
            "mape_exact_mean": _num(bt["mape_exact"].mean(), 4),
            "mape_mean": _num(bt["mape"].mean(), 4),
            "mape_exact_by_origin": {
                f"{o:g}": _num(v, 4) for o, v in zip(bt["origin"], bt["mape_exact"], strict=True)
            },
            "mpe_exact_by_origin": {
                f"{o:g}": _num(v, 4) for o, v in zip(bt["origin"], bt["mpe_exact"], strict=True)
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
    return {"model": model, **{f"{tr}_{quantity}": _num(sub.get(tr, math.nan)) for tr in treatments}}


def fmt_interval(entry: Mapping[str, Any], fmt: Any, level: float) -> str:
    """Plain-words "estimate (95% interval lo to hi)" of an :func:`interval_entry` (``None`` = not reached)."""
    if entry["estimate"] is None and entry.get("share_finite") == 0:
        return "not reached (the curve saturates below it in every resample)"
    est = "not reached" if entry["estimate"] is None else fmt(entry["estimate"])
    lo = "not reached" if entry["lo"] is None else fmt(entry["lo"])
    hi = "not reached" if entry["hi"] is None else fmt(entry["hi"])
    return f"{est} ({level:.0%} interval {lo} to {hi})"


def display_float(v: float) -> str:
    """Float format for notebook tables: counts with thousands separators, years with 2 decimals."""
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    if 1900 <= abs(v) <= 2200:
        return f"{v:.2f}"
    return f"{v:.4g}"


def _supported_range(intervals: pd.DataFrame, models: Sequence[str], quantity: str) -> dict[str, Any]:
    sub = intervals[intervals["model"].isin(models) & (intervals["quantity"] == quantity)]
    return {"models": ",".join(models), "lo": _num(sub["lo"].min()), "hi": _num(sub["hi"].max())}


def _best_backtest(backtest: pd.DataFrame) -> str | None:
    g = backtest.groupby("model")["mape_exact"].mean().dropna()
    return None if g.empty else str(g.sort_values(kind="stable").index[0])


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write a product CSV deterministically (fixed float format, no index, ``\\n`` line ends)."""
    from helpers import io as hio

    return hio.write_csv(df, path, float_format=FLOAT_FORMAT)


def write_json(data: Mapping[str, Any], path: Path) -> Path:
    """Write the summary JSON deterministically (sorted keys off: the dict order is the schema)."""
    from helpers import io as hio

    return hio.write_json(data, path)


# --------------------------------------------------------------------------------------------------------
# Censored likelihood: profile intervals, Richards identification, model averaging, leave-one-out, holdout
# --------------------------------------------------------------------------------------------------------

AVERAGED_MODELS = ("logistic", "gompertz", "bass")


def _gompertz_infl_f(t: np.ndarray, K: Any, tau: Any, c: Any) -> np.ndarray:
    return K * np.exp(-np.exp(-c * (t - tau)))


def _gompertz_infl_jac(t: np.ndarray, K: Any, tau: Any, c: Any) -> np.ndarray:
    e = np.exp(-c * (t - tau))
    g = np.exp(-e)
    return registry._stack([g, -K * c * e * g, K * (t - tau) * e * g])


GOMPERTZ_INFLECTION = growth.Model(
    "gompertz", ("K", "tau", "c"), _gompertz_infl_f, _gompertz_infl_jac, (True, False, True), True,
    "K exp(-exp(-c (t - tau)))",
)  # fmt: skip
"""The Gompertz curve with its inflection time ``tau = log(b) / c`` as a parameter (``b = exp(c tau)``)."""


def _bass_infl_f(t: np.ndarray, m: Any, tau: Any, s: Any) -> np.ndarray:
    return m * (1.0 - np.exp(-s * t)) / (1.0 + np.exp(s * (tau - t)))


def _bass_infl_jac(t: np.ndarray, m: Any, tau: Any, s: Any) -> np.ndarray:
    A = 1.0 - np.exp(-s * t)
    E = np.exp(s * (tau - t))
    B = 1.0 + E
    return registry._stack(
        [A / B, -m * A * E * s / B**2, m * (t * np.exp(-s * t) * B - A * (tau - t) * E) / B**2]
    )


BASS_INFLECTION = growth.Model(
    "bass", ("m", "tau", "s"), _bass_infl_f, _bass_infl_jac, (True, False, True), True,
    "m (1 - exp(-s t)) / (1 + exp(s (tau - t)))",
)  # fmt: skip
"""The Bass curve with ``s = p + q`` and ``tau = log(q/p) / s`` (its inflection when ``q > p``) as parameters:
``q/p = exp(s tau)``, so ``p = s / (1 + exp(s tau))`` and ``q = s - p``."""


def _inflection_profile(r: growth.FitResult, level: float) -> Any:
    """Profile-likelihood interval of the year of fastest growth.

    The logistic's ``t0`` is its inflection; the Gompertz and Bass curves are re-expressed with the inflection
    as a parameter (:data:`GOMPERTZ_INFLECTION`, :data:`BASS_INFLECTION`; the same curves, so the same
    likelihood), so each is profiled by fixing one parameter instead of a constrained maximisation (SLSQP,
    still used for any other curve)."""
    from helpers.models import profile

    def shift(iv: Any) -> Any:
        add = float(r.epoch)
        return dataclasses.replace(
            iv,
            estimate=iv.estimate + add,
            lo=None if iv.lo is None else iv.lo + add,
            hi=None if iv.hi is None else iv.hi + add,
            search_lo=iv.search_lo + add,
            search_hi=iv.search_hi + add,
        )

    if r.model.name == "logistic" and "t0" in r.model.param_names:
        return shift(profile.profile_interval(r, "t0", level=level, span=50.0))
    if r.model.name == "gompertz" and r.model.param_names == ("K", "b", "c"):
        K, b, c = (float(v) for v in r.theta)
        lo_b, hi_b = (list(x) for x in r.bounds)
        rp = dataclasses.replace(
            r,
            model=GOMPERTZ_INFLECTION,
            params={"K": K, "tau": math.log(b) / c, "c": c},
            bounds=((lo_b[0], -math.inf, lo_b[2]), (hi_b[0], math.inf, hi_b[2])),
        )
        return shift(profile.profile_interval(rp, "tau", level=level, span=50.0))
    if r.model.name == "bass" and r.model.param_names == ("m", "p", "q"):
        m, p_, q = (float(v) for v in r.theta)
        lo_b, hi_b = (list(x) for x in r.bounds)
        if q > p_ and lo_b[1:] == [0.0, 0.0] and hi_b[1:] == [math.inf, math.inf]:
            rp = dataclasses.replace(
                r,
                model=BASS_INFLECTION,
                params={"m": m, "tau": math.log(q / p_) / (p_ + q), "s": p_ + q},
                bounds=((lo_b[0], -math.inf, 0.0), (hi_b[0], math.inf, math.inf)),
            )
            iv = profile.profile_interval(rp, "tau", level=level, span=50.0)
            # the inflection is max(tau, 0): adoptions peak at launch when q <= p
            iv = dataclasses.replace(iv, lo=None if iv.lo is None else max(iv.lo, 0.0))
            return shift(iv)

    def infl(th: np.ndarray) -> float:
        return float(derived._inflection_tau(r.model, th)) + r.epoch

    return profile.profile_interval(r, infl, level=level, span=50.0)


def profile_table(
    fits: Mapping[str, growth.FitResult], population: Population, horizon: int, level: float
) -> pd.DataFrame:
    """Profile-likelihood intervals of every converged censored-MLE fit: ``saturation`` (count),
    ``ceiling_per100`` (saturation / population of the horizon year: the saturation interval transformed)
    and ``inflection`` (the year of fastest growth, profiled by constrained maximisation).  ``lo``/``hi`` are
    NaN where the likelihood does not bound that end within the search range (100x the estimate for the
    saturation, 50 years for the inflection); ``open_hi`` marks it."""
    from helpers.models import profile

    pop_h = population.at_year(horizon)
    rows = []
    for m, r in fits.items():
        if not r.converged or r.method != "mle":
            continue
        sat = profile.profile_interval(r, "saturation", level=level)

        inf_iv = _inflection_profile(r, level)
        for q, iv, scale in (
            ("saturation", sat, 1.0),
            ("ceiling_per100", sat, 100.0 / pop_h),
            ("inflection", inf_iv, 1.0),
        ):
            rows.append(
                dict(
                    model=m,
                    quantity=q,
                    estimate=iv.estimate * scale,
                    lo=math.nan if iv.lo is None else iv.lo * scale,
                    hi=math.nan if iv.hi is None else iv.hi * scale,
                    open_lo=iv.lo is None,
                    open_hi=iv.hi is None,
                    level=level,
                    method="profile likelihood",
                )
            )
    return pd.DataFrame(rows)


def richards_check(fit: growth.FitResult | None) -> dict[str, Any]:
    """Whether the Richards shape is identified by the data, with the evidence: ``nu`` at a bound of its
    range, the correlation of the estimates of ``t0`` and ``nu`` (observed information), and the standard
    error of ``t0``.  Not identified when ``nu`` is on a bound, ``|corr(t0, nu)| > 0.95``, the information is
    singular, or the fit did not converge."""
    if fit is None:
        return {"identified": False, "reason": "not fitted"}
    corr = float(fit.corr[2, 3]) if fit.corr.shape[0] > 3 else math.nan
    se_t0 = float(fit.stderr.get("t0", math.nan))
    reasons = []
    if not fit.converged:
        reasons.append("the fit did not converge")
    if "nu" in fit.at_bound:
        reasons.append(f"nu ran to the edge of its range ({fit.params['nu']:.3g})")
    if math.isfinite(corr) and abs(corr) > 0.95:
        reasons.append(f"corr(t0, nu) = {corr:.3f}")
    if not math.isfinite(corr):
        reasons.append("observed information singular")
    if math.isfinite(se_t0) and se_t0 > 10:
        reasons.append(f"SE(t0) = {se_t0:.0f} years")
    return {
        "identified": not reasons,
        "nu": _num(fit.params.get("nu")),
        "nu_at_bound": "nu" in fit.at_bound,
        "corr_t0_nu": _num(corr, 4),
        "se_t0": _num(se_t0, 4),
        "reason": "; ".join(reasons) if reasons else "identified",
    }


def averaging_weights(selection: pd.DataFrame, models: Sequence[str] = AVERAGED_MODELS) -> dict[str, float]:
    """Akaike (AICc) weights renormalised over the averaged models that converged (Richards is left out of
    the average: see :func:`richards_check`)."""
    from helpers.models import averaging

    sel = selection[selection["model"].isin(models) & selection["converged"].astype(bool)]
    return averaging.akaike_weights(dict(zip(sel["model"], sel["aicc"].astype(float), strict=True)))


def averaged_table(
    boots: Mapping[str, growth.BootstrapResult],
    weights: Mapping[str, float],
    population: Population,
    horizon: int,
    reach_levels: Iterable[float],
    level: float,
    seed: int,
) -> pd.DataFrame:
    """Model-averaged quantities: ``estimate`` = Akaike-weighted mean of the models' estimates; ``lo``/``hi``
    = percentile interval of the weighted mixture of their parametric-bootstrap draws (parameter and model
    uncertainty together, :func:`helpers.models.averaging.model_average_draws`)."""
    from helpers.models import averaging

    per = {m: quantity_draws(b, population, horizon, reach_levels) for m, b in boots.items() if m in weights}
    if not per:
        return pd.DataFrame(columns=["quantity", "estimate", "lo", "hi", "weights"])
    quantities = [q for q in next(iter(per.values())) if q in ("saturation", "inflection", "ceiling_per100")
                  or q.startswith(("value_", "per100_", "year_reaching_"))]  # fmt: skip
    rows = []
    for q in quantities:
        ests = {m: per[m][q][0] for m in per}
        w = {m: weights[m] for m in per}
        tot = sum(w.values())
        est = sum(w[m] * ests[m] for m in per) / tot if all(np.isfinite(list(ests.values()))) else math.nan
        mix = averaging.model_average_draws({m: per[m][q][1] for m in per}, w, n=20000, seed=seed)
        lo, hi = growth.percentile_interval(mix, level)
        rows.append(
            dict(
                quantity=q,
                estimate=est,
                lo=lo,
                hi=hi,
                median=float(np.quantile(mix, 0.5, method="inverted_cdf")) if mix.size else math.nan,
                share_finite=float(np.isfinite(mix).mean()) if mix.size else math.nan,
                weights=";".join(f"{m}={w[m] / tot:.3f}" for m in per),
                level=level,
            )
        )
    return pd.DataFrame(rows)


def averaged_forecast(
    boots: Mapping[str, growth.BootstrapResult],
    weights: Mapping[str, float],
    population: Population,
    first_year: int,
    horizon: int,
    level: float,
    seed: int,
) -> pd.DataFrame:
    """Model-averaged forecast per calendar year (mid-year): weighted mean of the fitted curves, band of the
    mean and prediction interval from the weighted mixture of the models' bootstrap curves (a prediction draw
    adds ``N(0, sigma_m^2)`` on the log scale)."""
    years = np.arange(first_year, horizon + 1)
    t = years + 0.5
    rng = np.random.default_rng([seed, 2])
    use = {m: b for m, b in boots.items() if weights.get(m, 0) > 0}
    tot = sum(weights[m] for m in use)
    n_total = 20000
    means, preds, fit = [], [], np.zeros(t.size)
    for m, b in use.items():
        w = weights[m] / tot
        fit += w * b.fit.predict(t)
        th = b.params.to_numpy(float)[b.converged]
        k = int(round(n_total * w))
        if k == 0 or th.shape[0] == 0:
            continue
        th = th[rng.integers(0, th.shape[0], k)]
        with np.errstate(all="ignore"):
            mu = b.fit.model.f(t - b.fit.epoch, *[th[:, j : j + 1] for j in range(th.shape[1])])
        means.append(mu)
        e = rng.normal(0.0, float(b.noise[0]), mu.shape)
        preds.append(mu * np.exp(e) if b.fit.loss_scale == "log" else mu + e)
    mean, pred = np.vstack(means), np.vstack(preds)
    a = (1 - level) / 2
    mlo, mhi = np.nanquantile(mean, [a, 1 - a], axis=0)
    plo, phi = np.nanquantile(pred, [a, 1 - a], axis=0)
    pop = population.at(t)
    return pd.DataFrame(
        {
            "model": "averaged",
            "year": years,
            "t": t,
            "fit": fit,
            "mean_lo": mlo,
            "mean_hi": mhi,
            "pred_lo": plo,
            "pred_hi": phi,
            "population": pop,
            "fit_per100": 100 * fit / pop,
            "pred_lo_per100": 100 * plo / pop,
            "pred_hi_per100": 100 * phi / pop,
            "chosen": True,
            "n_used": mean.shape[0],
        }
    )


def loo_table(
    obs: pd.DataFrame,
    models: Sequence[str],
    population: Population,
    horizon: int,
    *,
    epoch: float,
    loss_scale: str = "log",
) -> pd.DataFrame:
    """Leave-one-out: every exact figure (and every rounded figure entered as its rounding interval) left out
    in turn, the models refitted by censored maximum likelihood, and per model and Akaike-averaged the
    saturation and the level in the horizon year (mid-year).  The first row (``left_out = "none"``) is the
    full fit.  Columns: ``left_out, t, figure, <model>_saturation..., saturation_averaged,
    value_<horizon>_averaged, weights``."""
    from helpers.models import averaging

    key = obs["kind"].eq("exact") | obs.get("rounded", pd.Series(False, index=obs.index)).astype(bool)
    cases = [("none", math.nan, math.nan, np.ones(len(obs), bool))]
    for i in np.flatnonzero(key.to_numpy()):
        r = obs.iloc[i]
        fig = r["y"] if np.isfinite(r["y"]) else 0.5 * (r["lower"] + r["upper"])
        mask = np.ones(len(obs), bool)
        mask[i] = False
        cases.append((str(r["obs_id"]), float(r["t"]), float(fig), mask))
    t_h = horizon + 0.5
    rows = []
    for name, t, fig, mask in cases:
        fits, _ = fit_models(
            models, fit_inputs(obs[mask], True), loss_scale=loss_scale, epoch=epoch, method="mle"
        )
        ok = {m: f for m, f in fits.items() if f.converged}
        w = averaging.akaike_weights({m: f.aicc for m, f in ok.items()})
        row: dict[str, Any] = dict(left_out=name, t=t, figure=fig)
        for m in models:
            row[f"{m}_saturation"] = growth.saturation(ok[m]) if m in ok else math.nan
        tot = sum(w.values())
        row["saturation_averaged"] = (
            sum(w[m] * growth.saturation(ok[m]) for m in ok) / tot if tot else math.nan
        )
        row[f"value_{horizon}_averaged"] = (
            sum(w[m] * float(ok[m].predict(t_h)) for m in ok) / tot if tot else math.nan
        )
        row["weights"] = ";".join(f"{m}={w[m]:.3f}" for m in ok)
        rows.append(row)
    return pd.DataFrame(rows)


def _crps_samples(x: np.ndarray, y: float) -> float:
    """CRPS of a sample forecast: ``E|X - y| - E|X - X'| / 2`` (sorted-sample formula, exact for the
    empirical distribution)."""
    x = np.sort(np.asarray(x, dtype=float)[np.isfinite(x)])
    n = x.size
    if n == 0:
        return math.nan
    i = np.arange(1, n + 1)
    return float(np.mean(np.abs(x - y)) - np.sum((2 * i - n - 1) * x) / n**2)


def _interval_score(lo: float, hi: float, y: float, alpha: float) -> float:
    """Gneiting & Raftery (2007) interval score of a central ``1 - alpha`` interval (lower is better)."""
    return (hi - lo) + 2 / alpha * max(lo - y, 0.0) + 2 / alpha * max(y - hi, 0.0)


def _loglinear_f(t: np.ndarray, a: Any, b: Any) -> np.ndarray:
    return np.exp(a + b * t)


def _loglinear_jac(t: np.ndarray, a: Any, b: Any) -> np.ndarray:
    f = np.exp(a + b * t)
    return registry._stack([f, f * t])


LOGLINEAR = growth.Model(
    "loglinear", ("a", "b"), _loglinear_f, _loglinear_jac, (False, False), False, "exp(a + b t)"
)
"""The log-linear trend benchmark of the holdout (exponential growth; not a saturation curve)."""


def _loglinear_draws(
    tr: pd.DataFrame, t_new: np.ndarray, *, epoch: float, n: int, seed: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Predictive draws of the log-linear trend fitted like the curves: censored log-normal maximum likelihood
    on every training figure (exact values, "more than" bounds, ranges), parametric bootstrap for the trend's
    uncertainty plus one ``N(0, sigma^2)`` log-scale error per draw.  ``None`` when the fit fails."""
    inp = fit_inputs(tr, True)
    pts = np.where(
        np.isfinite(inp["y"]), inp["y"], np.where(np.isfinite(inp["lower"]), inp["lower"], inp["upper"])
    )
    ok = np.isfinite(pts) & (pts > 0)
    if ok.sum() < 2:
        return None
    b, a = np.polyfit(inp["t"][ok] - epoch, np.log(pts[ok]), 1)
    try:
        f = growth.fit(LOGLINEAR, **inp, p0={"a": float(a), "b": float(b)}, loss_scale="log", epoch=epoch,
                       method="mle")  # fmt: skip
    except ValueError:
        return None
    if not f.converged:
        return None
    boot = growth.bootstrap(f, n=n, seed=seed, kind="parametric")
    th = boot.params.to_numpy(float)[boot.converged]
    if th.shape[0] == 0:
        return None
    with np.errstate(all="ignore"):
        mu = LOGLINEAR.f(t_new - epoch, th[:, :1], th[:, 1:2])
    return mu * np.exp(rng.normal(0, f.sigma, mu.shape))


def _rw_drift_draws(
    t_tr: np.ndarray, y_tr: np.ndarray, t_new: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Random walk with drift in continuous time on ``log y`` of the exact training figures (increments over
    unequal gaps: drift = total change / total time, variance per year from the scaled increments), started at
    the last exact figure; draws include the drift's estimation error."""
    ly = np.log(y_tr)
    dt = np.diff(t_tr)
    d = np.diff(ly)
    keep = dt > 0
    dt, d = dt[keep], d[keep]
    mu = d.sum() / dt.sum()
    sig2 = float(np.sum((d - mu * dt) ** 2 / dt) / max(len(d) - 1, 1))
    h = t_new - t_tr[-1]
    mu_draw = mu + rng.normal(0, math.sqrt(sig2 / dt.sum()), (n, 1))
    return np.exp(ly[-1] + mu_draw * h + rng.normal(0, 1, (n, t_new.size)) * np.sqrt(sig2 * h))


def holdout_table(
    obs: pd.DataFrame,
    itu: pd.DataFrame,
    *,
    origin: int,
    years: Sequence[int],
    models: Sequence[str],
    epoch: float,
    n_boot: int,
    seed: int,
    level: float,
    loss_scale: str = "log",
) -> pd.DataFrame:
    """Honest holdout: fit on the figures dated up to ``origin`` (``t < origin + 1``), forecast ITU's
    year-end counts for ``years`` (placed at ``year + 1``, as in :func:`load_observations`) and score them.

    Forecast distributions: each model's parametric bootstrap from the censored model (curve draws plus one
    ``N(0, sigma^2)`` log-scale error), the Akaike-weighted mixture of the models (``averaged``), and two
    benchmarks: the log-linear trend fitted like the curves (censored likelihood on every training figure,
    parametric bootstrap: :func:`_loglinear_draws`) and a random walk with drift on the exact training figures
    (:func:`_rw_drift_draws`).  One row per method x year:
    ``median, lo, hi, itu, covered, interval_score, crps, ape`` (counts in subscriptions; APE of the median in
    percent); the ITU counts are not used in any fit.
    """
    from helpers.models import averaging

    tr = obs[obs["t"] < origin + 1]
    d = itu.dropna(subset=["subscriptions"])
    d = d[d["year"].isin(list(years))].sort_values("year")
    t_new = d["year"].to_numpy(float) + ITU_T_OFFSET
    y_new = d["subscriptions"].to_numpy(float)
    fits, _ = fit_models(models, fit_inputs(tr, True), loss_scale=loss_scale, epoch=epoch, method="mle")
    fits = {m: f for m, f in fits.items() if f.converged}
    w = averaging.akaike_weights({m: f.aicc for m, f in fits.items()})
    rng = np.random.default_rng([seed, 3])
    draws: dict[str, np.ndarray] = {}
    for m, f in fits.items():
        b = growth.bootstrap(f, n=n_boot, seed=seed, kind="parametric")
        th = b.params.to_numpy(float)[b.converged]
        with np.errstate(all="ignore"):
            mu = f.model.f(t_new - f.epoch, *[th[:, j : j + 1] for j in range(th.shape[1])])
        draws[m] = mu * np.exp(rng.normal(0, f.sigma, mu.shape))
    if draws:
        k = {m: int(round(4000 * w[m])) for m in draws}
        parts = [draws[m][rng.integers(0, draws[m].shape[0], k[m])] for m in draws if k[m] and len(draws[m])]
        draws["averaged"] = np.vstack(parts)
    ex = tr[tr["kind"] == "exact"]
    ll_draws = _loglinear_draws(tr, t_new, epoch=epoch, n=n_boot, seed=seed, rng=rng)
    if ll_draws is not None:
        draws["loglinear"] = ll_draws
    if len(ex) >= 2:
        draws["rw_drift"] = _rw_drift_draws(
            ex["t"].to_numpy(float), ex["y"].to_numpy(float), t_new, 4000, rng
        )
    alpha = 1 - level
    rows = []
    for meth, X in draws.items():
        for j, (yr, yv) in enumerate(zip(d["year"].astype(int), y_new, strict=True)):
            x = X[:, j]
            x = x[np.isfinite(x)]
            lo, hi = np.quantile(x, [alpha / 2, 1 - alpha / 2])
            med = float(np.median(x))
            rows.append(
                dict(
                    method=meth,
                    kind="benchmark" if meth in ("loglinear", "rw_drift") else "curve",
                    origin=origin,
                    year=int(yr),
                    t=float(t_new[j]),
                    itu=float(yv),
                    median=med,
                    lo=float(lo),
                    hi=float(hi),
                    covered=bool(lo <= yv <= hi),
                    interval_score=_interval_score(float(lo), float(hi), float(yv), alpha),
                    crps=_crps_samples(x, float(yv)),
                    ape=100 * abs(med - yv) / yv,
                    weight=w.get(meth, math.nan),
                    n_train=int(len(tr)),
                    n_train_exact=int(len(ex)),
                )
            )
    return pd.DataFrame(rows)


def holdout_summary(hold: pd.DataFrame) -> pd.DataFrame:
    """Per method: share of ITU counts inside the interval, mean interval score and CRPS (millions), MAPE."""
    g = hold.groupby("method", sort=False)
    return pd.DataFrame(
        {
            "n": g.size(),
            "coverage": g["covered"].mean(),
            "interval_score_m": g["interval_score"].mean() / 1e6,
            "crps_m": g["crps"].mean() / 1e6,
            "mape": g["ape"].mean(),
        }
    ).reset_index()


def plot_loo(loo: pd.DataFrame, horizon: int) -> plt.Figure:
    """Leave-one-out: saturation (left) and horizon-year level (right), Akaike-averaged, with the full fit."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.4), sharey=False)
    full = loo.iloc[0]
    sub = loo.iloc[1:]
    labels = [f"{r.left_out}\n({r.t:.1f})" for r in sub.itertuples()]
    x = np.arange(len(sub))
    for ax, col, title in (
        (a1, "saturation_averaged", "saturation (millions)"),
        (a2, f"value_{horizon}_averaged", f"subscriptions in {horizon} (millions)"),
    ):
        ax.axhline(full[col] / MILLION, color="0.4", ls="--", lw=0.9, label="all figures")
        ax.plot(x, sub[col] / MILLION, "o", color="#d62728", label="figure left out")
        ax.set_xticks(x, labels, fontsize=7, rotation=0)
        ax.set_title(title, fontsize=9)
    a1.legend(fontsize=7)
    fig.supxlabel("exact figure left out (obs id, year)", fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------------

# the registry's colours, plus one for the Akaike-weighted average
MODEL_COLORS = {**{name: m.colour for name, m in growth.MODELS.items()}, "averaged": "#333333"}
MILLION = 1e6


def _color(m: str) -> str:
    return growth.MODELS[m].colour if m in growth.MODELS else "#7f7f7f"


def plot_observations(
    ax: plt.Axes, obs: pd.DataFrame, left_out: pd.DataFrame | None = None, itu: pd.DataFrame | None = None
) -> None:
    """Exact points as dots, lower bounds as upward triangles with an arrow, intervals as bars; ITU counts
    (end of year) as grey crosses; left-out rows hollow."""
    ex = obs[obs["kind"] == "exact"]
    ax.plot(ex["t"], ex["y"] / MILLION, "o", color="black", ms=5, zorder=5, label="exact figure")
    lo = obs[obs["kind"] == "lower"]
    if len(lo):
        ax.plot(
            lo["t"],
            lo["lower"] / MILLION,
            "^",
            color="black",
            mfc="white",
            ms=6,
            zorder=5,
            label="lower bound (\u2265)",
        )
        for t, v in zip(lo["t"], lo["lower"], strict=True):
            ax.annotate(
                "",
                xy=(t, v / MILLION * 1.12),
                xytext=(t, v / MILLION),
                arrowprops=dict(arrowstyle="->", color="0.3", lw=0.8),
            )
    up = obs[obs["kind"] == "upper"]
    if len(up):
        ax.plot(
            up["t"],
            up["upper"] / MILLION,
            "v",
            color="black",
            mfc="white",
            ms=6,
            label="upper bound (\u2264)",
        )
    iv = obs[obs["kind"] == "interval"]
    for t, a, b in zip(iv["t"], iv["lower"], iv["upper"], strict=True):
        ax.plot([t, t], [a / MILLION, b / MILLION], "-", color="black", lw=2)
    if left_out is not None and len(left_out):
        v = left_out["y"].fillna(left_out["lower"]).fillna(left_out["upper"])
        ax.plot(left_out["t"], v / MILLION, "x", color="0.55", ms=6, label="left out (operator figure)")
    if itu is not None and len(itu):
        ax.plot(
            itu["year"] + ITU_T_OFFSET,
            itu["subscriptions"] / MILLION,
            "+",
            color="0.45",
            ms=7,
            label="ITU count (end of year)",
        )


def plot_fit(
    obs: pd.DataFrame,
    forecast: pd.DataFrame,
    chosen: str,
    *,
    left_out: pd.DataFrame | None = None,
    itu: pd.DataFrame | None = None,
    t_max: float | None = None,
    title: str = "",
) -> plt.Figure:
    """Observations with the fitted curve of every model; 95 % band of the mean for the chosen model."""
    fig, ax = plt.subplots()
    fc = forecast if t_max is None else forecast[forecast["t"] <= t_max]
    for m, g in fc.groupby("model", sort=False):
        lw = 2.2 if m == chosen else 1.0
        ax.plot(
            g["t"],
            g["fit"] / MILLION,
            "-",
            color=_color(m),
            lw=lw,
            label=f"{m}{' (chosen)' if m == chosen and m != 'averaged' else ''}",
        )
        if m == chosen:
            ax.fill_between(
                g["t"],
                g["mean_lo"] / MILLION,
                g["mean_hi"] / MILLION,
                color=_color(m),
                alpha=0.18,
                lw=0,
                label=f"95% band of the mean ({'model average' if chosen == 'averaged' else 'chosen'})",
            )
    plot_observations(ax, obs, left_out, itu)
    ax.set(xlabel="year", ylabel="subscriptions (millions)", title=title)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.legend(ncol=2, fontsize=8, loc="upper left")
    return fig


def plot_residuals(fits: Mapping[str, growth.FitResult]) -> plt.Figure:
    """Residuals on the loss scale per model: exact points (dots) and bound violations (triangles; 0 when
    the curve honours the bound)."""
    n = len(fits)
    ncol = 2 if n > 1 else 1
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(
        nrow, ncol, sharex=True, sharey=True, figsize=(8, 2.4 * nrow + 0.6), squeeze=False
    )
    for ax, (m, r) in zip(axes.ravel(), fits.items(), strict=False):
        res = -r.residuals  # observed - fitted
        ex = np.isfinite(r.y)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.plot(r.t[ex], res[ex], "o", color=_color(m), ms=4, label="exact")
        if (~ex).any():
            ax.plot(r.t[~ex], res[~ex], "^", color=_color(m), mfc="white", ms=5, label="bound (0 = honoured)")
        ax.set_title(f"{m}{'' if r.converged else ' (not converged)'}", fontsize=9)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    scale = (
        "log(observed) - log(fitted)"
        if next(iter(fits.values())).loss_scale == "log"
        else "observed - fitted"
    )
    fig.supylabel(scale, fontsize=9)
    fig.supxlabel("year", fontsize=9)
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_forecast(
    obs: pd.DataFrame, forecast: pd.DataFrame, chosen: str, level: float, title: str = ""
) -> plt.Figure:
    """Fan chart of the chosen model to the horizon (prediction interval and band of the mean), other
    models as thin lines, observations on top; right axis per 100 inhabitants at the horizon population."""
    fig, ax = plt.subplots()
    g = forecast[forecast["model"] == chosen]
    ax.fill_between(
        g["t"],
        g["pred_lo"] / MILLION,
        g["pred_hi"] / MILLION,
        color=_color(chosen),
        alpha=0.12,
        lw=0,
        label=f"{level:.0%} prediction interval",
    )
    ax.fill_between(
        g["t"],
        g["mean_lo"] / MILLION,
        g["mean_hi"] / MILLION,
        color=_color(chosen),
        alpha=0.3,
        lw=0,
        label=f"{level:.0%} band of the mean",
    )
    ax.plot(g["t"], g["fit"] / MILLION, "-", color=_color(chosen), lw=2.2,
            label="Akaike-weighted average" if chosen == "averaged" else f"{chosen} (chosen)")  # fmt: skip
    for m, h in forecast[forecast["model"] != chosen].groupby("model", sort=False):
        ax.plot(h["t"], h["fit"] / MILLION, "-", color=_color(m), lw=0.9, alpha=0.8, label=m)
    plot_observations(ax, obs)
    ax.set(xlabel="year", ylabel="subscriptions (millions)", title=title)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    return fig


def plot_backtest(backtest: pd.DataFrame) -> plt.Figure:
    """MAPE of the exact later observations by forecast origin and model (log scale)."""
    fig, ax = plt.subplots()
    for m, g in backtest.groupby("model", sort=False):
        ax.plot(g["origin"], g["mape_exact"], "o-", color=_color(m), label=m)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(ticker.ScalarFormatter())
    ax.set(
        xlabel="forecast origin (fit on data up to this year)",
        ylabel="MAPE of later exact figures (%)",
        title="Rolling-origin backtest",
    )
    ax.set_xticks(sorted(backtest["origin"].unique()))
    ax.legend(fontsize=8)
    return fig


def plot_selection(selection: pd.DataFrame) -> plt.Figure:
    """Delta AICc and Akaike weight per model (converged models; others marked)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    s = selection.iloc[::-1]
    colors = [_color(m) for m in s["model"]]
    a1.barh(s["model"], s["delta_aicc"].fillna(0), color=colors)
    a1.axvline(2, color="0.4", ls="--", lw=0.8)
    a1.set(xlabel="\u0394AICc (dashed: 2)", title="Distance from the best model")
    a2.barh(s["model"], s["akaike_weight"].fillna(0), color=colors)
    a2.set(xlabel="Akaike weight", xlim=(0, 1), title="Akaike weights")
    for ax in (a1, a2):
        for i, ok in enumerate(s["converged"]):
            if not ok:
                ax.text(0, i, "  not converged", va="center", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------------
# The step-02 summary (typed contract, helpers.contracts.GrowthSummary)
# --------------------------------------------------------------------------------------------------------


def _iv(row: Mapping[str, Any] | None, method: str) -> Any:
    from helpers.contracts import Interval

    if row is None:
        return Interval(None, method=method)
    return Interval(
        estimate=_num(row.get("estimate")),
        lo=_num(row.get("lo")),
        hi=_num(row.get("hi")),
        method=method,
        share_finite=_num(row.get("share_finite")) if "share_finite" in row else None,
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
    """Assemble the :class:`helpers.contracts.GrowthSummary` of step 02 from its tables."""
    from helpers.contracts import GrowthSummary

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
        "full_saturation": _num(loo.iloc[0]["saturation_averaged"]),
    }
    if len(loo_rest):
        i_min = loo_rest["saturation_averaged"].idxmin()
        i_max = loo_rest["saturation_averaged"].idxmax()
        loo_d.update(
            saturation_min=_num(loo_rest["saturation_averaged"].min()),
            saturation_max=_num(loo_rest["saturation_averaged"].max()),
            saturation_min_left_out=str(loo.loc[i_min, "left_out"]),
            saturation_max_left_out=str(loo.loc[i_max, "left_out"]),
            value_horizon_min=_num(loo_rest[col_v].min()),
            value_horizon_max=_num(loo_rest[col_v].max()),
        )
    loo_d["rows"] = [
        {
            "left_out": str(r["left_out"]),
            "t": _num(r["t"]),
            "figure": _num(r["figure"]),
            "saturation": _num(r["saturation_averaged"]),
            "value_horizon": _num(r[col_v]),
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
                "coverage": _num(r["coverage"], 4),
                "interval_score_m": _num(r["interval_score_m"], 4),
                "crps_m": _num(r["crps_m"], 4),
                "mape": _num(r["mape"], 4),
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
            str(m): _num(v, 4) for m, v in bt.groupby("model")["mape_exact"].mean().items()
        },
        "mape_exact_by_origin": {
            f"{o:g}": _num(v, 4) for o, v in bt.groupby("origin")["mape_exact"].mean().items()
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
            "first_t": _num(obs["t"].iloc[0]),
            "last_t": _num(obs["t"].iloc[-1]),
            "last_exact_t": _num(last_exact["t"]),
            "last_exact_value": _num(last_exact["y"]),
            "max_lower_bound": _num(np.nanmax(lower)) if np.isfinite(lower).any() else None,
            "max_lower_bound_t": _num(
                obs["t"].to_numpy(float)[int(np.nanargmax(np.where(np.isfinite(lower), lower, -1)))]
            )
            if np.isfinite(lower).any()
            else None,
            "population_horizon": _num(population.at_year(horizon), 8),
        },
        weights={k: _num(v, 4) for k, v in weights.items()},
        aicc={str(r["model"]): _num(r["aicc"], 8) for _, r in selection.iterrows()},
        sigma={str(r["model"]): _num(r.get("sigma"), 4) for _, r in selection.iterrows()},
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
