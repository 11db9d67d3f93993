"""How far step 02's fits can be trusted: backtest, Richards identification, leave-one-out, holdout.

:func:`backtest_table` (rolling origin), :func:`richards_check`, :func:`loo_table` (every exact figure left out
in turn) and :func:`holdout_table` / :func:`holdout_summary` (forecasts against later ITU figures, with the
log-linear and random-walk benchmarks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers import growth
from helpers.models import registry
from helpers.steps.growth_observations import ITU_T_OFFSET, Population, fit_inputs
from helpers.steps.growth_tables import fit_models, json_number


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
        "nu": json_number(fit.params.get("nu")),
        "nu_at_bound": "nu" in fit.at_bound,
        "corr_t0_nu": json_number(corr, 4),
        "se_t0": json_number(se_t0, 4),
        "reason": "; ".join(reasons) if reasons else "identified",
    }


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
    percent); the ITU counts are not used in any fit.  ``refits_used`` of ``refits_total`` parametric-bootstrap
    refits of a curve converged and make its forecast distribution (the others are left out, which narrows it);
    NaN for the averaged mixture and the benchmarks.
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
    refits: dict[str, int] = {}
    for m, f in fits.items():
        b = growth.bootstrap(f, n=n_boot, seed=seed, kind="parametric")
        th = b.params.to_numpy(float)[b.converged]
        refits[m] = int(th.shape[0])
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
                    refits_used=refits.get(meth, math.nan),
                    refits_total=n_boot if meth in refits else math.nan,
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
            "refits_used": g["refits_used"].first() if "refits_used" in hold else math.nan,
            "refits_total": g["refits_total"].first() if "refits_total" in hold else math.nan,
        }
    ).reset_index()
