"""Simulation from a fitted censored model: new data sets, the parametric bootstrap and the coverage study.

:func:`simulate` / :func:`simulate_batch` draw data sets with the project's design (a "more than L" figure stays
a bound when the new value exceeds ``L``; rounded figures are rounded again), :func:`refit` /
:func:`refit_batch` / :func:`parametric_bootstrap` refit them by maximum likelihood, :func:`coverage_study`
counts how often the profile interval covers the truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.models.batch_mle import _batch_fg, _batch_newton, _batch_obs, _batch_to_theta, _batch_verdict
from helpers.models.censored import _param_space
from helpers.models.profile import profile_interval, profile_threshold

# --------------------------------------------------------------------------------------------------------
# Simulation and parametric bootstrap from the censored model
# --------------------------------------------------------------------------------------------------------


def simulate(res: Any, rng: np.random.Generator, rounded: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One new data set from the fitted censored model with the fit's design.

    A new value ``Y*_i = f(t_i) exp(sigma e_i)`` (log scale; ``f + sigma e`` linear) is drawn for every
    observation.  Exact figures report ``Y*``.  Bounds keep their thresholds (fixed-threshold censoring): a
    "more than L" figure stays "more than L" when ``Y* > L`` and reports ``Y*`` otherwise; "at most U" alike;
    a range ``[L, U]`` stays when ``Y*`` falls in it and reports ``Y*`` otherwise.  ``rounded`` marks ranges
    that are the rounding interval of a rounded figure: their new range is the rounding cell (same width, same
    grid) that contains ``Y*``.  Returns ``{"t", "y", "lower", "upper"}`` (NaN where absent).
    """
    from helpers.models import growth

    d = growth._data_of(res)
    f = res.model.f(d.tau, *res.theta)
    e = rng.normal(0.0, res.sigma, f.size)
    ystar = f * np.exp(e) if d.log else f + e
    lo = np.where(np.isfinite(d.lower), d.lower, np.nan)
    hi = np.where(np.isfinite(d.upper), d.upper, np.nan)
    y = np.where(d.exact, ystar, np.nan)
    new_lo, new_hi = lo.copy(), hi.copy()
    rnd = np.zeros(f.size, dtype=bool) if rounded is None or len(rounded) == 0 else np.asarray(rounded, bool)
    bound = ~d.exact
    with np.errstate(invalid="ignore"):
        inside = (np.isnan(lo) | (ystar > lo)) & (np.isnan(hi) | (ystar <= hi))
    for i in np.flatnonzero(bound):
        if rnd[i] and np.isfinite(lo[i]) and np.isfinite(hi[i]):
            w = hi[i] - lo[i]
            k = math.floor((ystar[i] - lo[i]) / w)
            new_lo[i], new_hi[i] = lo[i] + k * w, lo[i] + (k + 1) * w
            if new_lo[i] <= 0:  # log scale needs positive ends: report the value itself
                y[i], new_lo[i], new_hi[i] = ystar[i], np.nan, np.nan
        elif not inside[i]:
            y[i], new_lo[i], new_hi[i] = ystar[i], np.nan, np.nan
    return {"t": res.t.copy(), "y": y, "lower": new_lo, "upper": new_hi}


def refit(res: Any, sim: dict[str, np.ndarray], bounds: dict[str, tuple[float, float]] | None = None) -> Any:
    """Refit ``res``'s model by maximum likelihood to a data set from :func:`simulate`, with the fit's loss
    scale and epoch, warm-started at its estimate (``bounds`` as for :func:`helpers.models.growth.fit`)."""
    from helpers.models import growth

    return growth.fit(
        res.model,
        sim["t"],
        sim["y"],
        lower=sim["lower"],
        upper=sim["upper"],
        loss_scale=res.loss_scale,
        epoch=res.epoch,
        method="mle",
        bounds=bounds,
        p0=res.params,
    )


def parametric_bootstrap(res: Any, *, n: int, seed: int, rounded: np.ndarray | None = None) -> Any:
    """Parametric bootstrap of a censored-MLE fit: ``n`` data sets from :func:`simulate` (drawn at once by
    :func:`simulate_batch`: the same draws as ``n`` calls), each refitted by maximum likelihood warm-started
    at the estimate (all at once: :func:`refit_batch`).  Returns a :class:`helpers.models.bootstrap.BootstrapResult`
    with ``kind="parametric"`` and ``noise=[sigma]`` (prediction draws add ``N(0, sigma^2)`` on the log
    scale), so the forecast and interval helpers of :mod:`helpers.models.derived` and :mod:`helpers.models.bootstrap` apply unchanged; failed refits are
    NaN rows counted in ``failures`` (``refit_error``: a data set the fit rejects; ``not_converged``).
    """
    from helpers.models.bootstrap import BootstrapResult

    if not res.converged:
        raise ValueError(f"cannot bootstrap a fit that did not converge: {res.message}")
    rng = np.random.default_rng(seed)
    rnd = res.rounded if rounded is None else rounded
    theta, conv, invalid = refit_batch(res, simulate_batch(res, rng, n, rnd))
    fail = {"refit_error": int(invalid.sum()), "not_converged": int((~conv & ~invalid).sum())}
    params = pd.DataFrame(theta, columns=list(res.model.param_names))
    params.index.name = "resample"
    return BootstrapResult(
        fit=res,
        kind="parametric",
        seed=int(seed),
        n=int(n),
        params=params,
        converged=conv,
        n_failed=int((~conv).sum()),
        n_fallback=0,
        noise=np.array([res.sigma]),
        failures=fail,
    )


def simulate_batch(
    res: Any, rng: np.random.Generator, n: int, rounded: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """``n`` data sets of :func:`simulate` at once, as (n, N) arrays (``t`` stays (N,)): the same draws, in
    the same order, as ``n`` calls of :func:`simulate` with ``rng``."""
    from helpers.models import growth

    d = growth._data_of(res)
    f = res.model.f(d.tau, *res.theta)
    e = rng.normal(0.0, res.sigma, (n, f.size))
    ystar = f * np.exp(e) if d.log else f + e
    lo = np.where(np.isfinite(d.lower), d.lower, np.nan)
    hi = np.where(np.isfinite(d.upper), d.upper, np.nan)
    y = np.where(d.exact, ystar, np.nan)
    new_lo = np.broadcast_to(lo, ystar.shape).copy()
    new_hi = np.broadcast_to(hi, ystar.shape).copy()
    rnd = np.zeros(f.size, dtype=bool) if rounded is None or len(rounded) == 0 else np.asarray(rounded, bool)
    bound = ~d.exact
    with np.errstate(invalid="ignore"):
        inside = (np.isnan(lo) | (ystar > lo)) & (np.isnan(hi) | (ystar <= hi))
    cell = bound & rnd & np.isfinite(lo) & np.isfinite(hi)
    if cell.any():
        w = np.where(cell, hi - lo, 1.0)
        k = np.floor((ystar - lo) / w)
        c_lo, c_hi = lo + k * w, lo + (k + 1) * w
        new_lo = np.where(cell, c_lo, new_lo)
        new_hi = np.where(cell, c_hi, new_hi)
    to_value = (cell & (new_lo <= 0)) | (bound & ~cell & ~inside)
    y = np.where(to_value, ystar, y)
    new_lo = np.where(to_value, np.nan, new_lo)
    new_hi = np.where(to_value, np.nan, new_hi)
    return {"t": res.t.copy(), "y": y, "lower": new_lo, "upper": new_hi}


def refit_batch(res: Any, sims: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit ``res``'s model by maximum likelihood to every data set of :func:`simulate_batch` at once,
    warm-started at its estimate (what :func:`refit` does for one set, vectorised: :func:`_batch_newton`
    and the verdict of :func:`fit_mle`).  Returns ``theta`` (B, p; NaN unless converged), ``converged``
    and ``invalid`` (a set :func:`helpers.models.growth.fit` would reject: fewer than two exact values or constant
    ones).  A row the batch does not converge that did not run away is refitted by :func:`refit` (the
    scalar BFGS path), so a refit never fails here that would succeed one by one."""

    y, lower, upper = (np.asarray(sims[k], dtype=float) for k in ("y", "lower", "upper"))
    B, N = y.shape
    m = res.model
    p = m.n_params
    tau = np.asarray(sims["t"], dtype=float) - res.epoch
    log = res.loss_scale == "log"
    ex = np.isfinite(y)
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(np.where(ex, y, np.nan), axis=1) - np.nanmin(np.where(ex, y, np.nan), axis=1)
    invalid = (ex.sum(axis=1) < 2) | ~(spread > 0)
    theta = np.full((B, p), np.nan)
    conv = np.zeros(B, dtype=bool)
    rows = np.flatnonzero(~invalid)
    if rows.size == 0:
        return theta, conv, invalid
    o = _batch_obs(tau, y[rows], lower[rows], upper[rows], log)
    P = _param_space(*res.bounds)
    lo_arr, hi_arr = np.asarray(res.bounds[0], float), np.asarray(res.bounds[1], float)
    with np.errstate(invalid="ignore"):
        lo_in = np.where(np.isfinite(lo_arr), lo_arr + 1e-12 * (1 + np.abs(lo_arr)), -np.inf)
        hi_in = np.where(np.isfinite(hi_arr), hi_arr - 1e-12 * (1 + np.abs(hi_arr)), np.inf)
    th0 = np.clip(res.theta, lo_in, hi_in)
    f0 = m.f(tau, *th0)
    with np.errstate(all="ignore"):
        mu0 = np.log(f0) if log else f0
        exr = np.isfinite(o.gy)
        rms = np.sqrt(np.sum(np.where(exr, (o.gy - mu0) ** 2, 0.0), axis=1) / exr.sum(axis=1))
        floor = 1e-3 if log else 1e-3 * np.nanmax(np.abs(o.gy), axis=1)
    s0 = np.maximum(rms, floor)
    V0 = np.concatenate([np.broadcast_to(P.to_u(th0), (rows.size, p)), np.log(s0)[:, None]], axis=1)
    pos = np.concatenate([(P.kind == 1) | (P.kind == 3), [False]])
    V, f, g, runaway = _batch_newton(_batch_fg(m, P, o), V0, pos)
    ok = _batch_verdict(m, P, o, V, f, g, runaway)
    TH, _ = _batch_to_theta(P, V[:, :-1])
    theta[rows[ok]], conv[rows[ok]] = TH[ok], True
    for i in rows[~ok & ~runaway]:
        sim = {"t": sims["t"], "y": y[i], "lower": lower[i], "upper": upper[i]}
        try:
            r = refit(res, sim)
        except ValueError:
            invalid[i] = True
            continue
        if r.converged:
            theta[i], conv[i] = r.theta, True
    return theta, conv, invalid


# --------------------------------------------------------------------------------------------------------
# Coverage of the profile interval by simulation
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageResult:
    """Empirical coverage of the nominal ``level`` profile interval of the saturation.

    ``coverage`` = share of usable data sets whose interval contains the true value, ``mc_se`` its Monte Carlo
    standard error ``sqrt(c (1 - c) / n_used)``; ``below``/``above`` = shares whose interval lies wholly
    below / above the truth; ``n_failed`` = data sets whose refit did not converge (excluded, reported);
    ``n_open_upper`` = intervals whose upper end was not reached in the search range (open: they cover any
    value above their lower end).
    """

    coverage: float
    mc_se: float
    n_sets: int
    n_used: int
    n_failed: int
    below: float
    above: float
    n_open_upper: int
    level: float
    truth: float
    calibration: str = "f"
    threshold: float = math.nan


def coverage_study(
    res: Any, *, n_sets: int, seed: int, level: float = 0.95, calibration: str = "f"
) -> CoverageResult:
    """Simulate ``n_sets`` data sets from the fitted censored model with the fit's design
    (:func:`simulate`), refit each by maximum likelihood (warm-started at the truth), compute the profile
    interval of the saturation (threshold ``calibration``, see :func:`profile_threshold`) and count how often
    it contains the true value ``res.params[0]``."""

    rng = np.random.default_rng(seed)
    truth = float(res.theta[0])
    hits = below = above = failed = open_hi = 0
    for _ in range(n_sets):
        sim = simulate(res, rng, res.rounded)
        try:
            r = refit(res, sim)
        except ValueError:
            failed += 1
            continue
        if not r.converged:
            failed += 1
            continue
        iv = profile_interval(r, "saturation", level=level, calibration=calibration)
        open_hi += iv.hi is None
        if iv.covers(truth):
            hits += 1
        elif iv.lo is not None and truth < iv.lo:
            above += 1  # the interval lies above the truth
        else:
            below += 1
    used = n_sets - failed
    c = hits / used if used else math.nan
    return CoverageResult(
        coverage=c,
        mc_se=math.sqrt(c * (1 - c) / used) if used else math.nan,
        n_sets=n_sets,
        n_used=used,
        n_failed=failed,
        below=below / used if used else math.nan,
        above=above / used if used else math.nan,
        n_open_upper=int(open_hi),
        level=level,
        truth=truth,
        calibration=calibration,
        threshold=profile_threshold(level, int(np.asarray(res.t).size), res.model.n_params + 1, calibration),
    )
