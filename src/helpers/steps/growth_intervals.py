"""Intervals and forecasts of step 02: bootstrap, profile-likelihood and Akaike-averaged.

:func:`intervals_table` (saturation, inflection, penetration ceiling, the year each penetration level is
reached), :func:`forecast_table`, :func:`treatment_table` (data treatments compared), :func:`profile_table`,
:func:`averaging_weights`, :func:`averaged_table` and :func:`averaged_forecast`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers import growth
from helpers.models import averaging, derived, profile, registry
from helpers.steps.growth_observations import Population, year_reaching_per100


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


def averaging_weights(selection: pd.DataFrame, models: Sequence[str] = AVERAGED_MODELS) -> dict[str, float]:
    """Akaike (AICc) weights renormalised over the averaged models that converged (Richards is left out of
    the average: see :func:`richards_check`)."""

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
    uncertainty together, :func:`helpers.averaging.model_average_draws`)."""

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
