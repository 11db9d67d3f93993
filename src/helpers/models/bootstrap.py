"""Uncertainty of a growth fit: the seeded bootstrap (BootstrapResult) and prediction intervals.

:func:`bootstrap` resamples (residual, case or parametric; ``method="mle"`` fits are delegated to the
parametric bootstrap of :mod:`helpers.models.simulation`) and refits vectorised, warm-started at the estimate;
:class:`BootstrapResult` holds the draws and their intervals; :func:`prediction_interval` the forecast bands.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers.models.growth import FitResult, _data_of, _fit_core, _perfect_fit_ss, _relative_offset, fit
from helpers.models.inputs import ArrayLike, _Data
from helpers.models.registry import Model
from helpers.models.solver import transformed_lm as _batch_lm

# --------------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap refits of one model.

    ``params`` has one row per requested resample (NaN where the refit failed); ``converged`` marks the
    usable rows; ``n_failed`` counts the failures (degenerate case resamples included) and ``n_fallback``
    the rows the batched solver could not finish that were refitted one by one with :func:`scipy`.
    ``failures`` splits ``n_failed`` by reason: ``degenerate_resample`` (case kind: fewer than ``p + 1``
    distinct times, fewer than two exact points, or constant values), ``no_optimum`` (a parameter ran onto
    an open positivity bound or the solver was still descending a flat valley after its iteration cap:
    typically a resample that shows no saturation) and ``not_converged`` (everything else, after the
    one-by-one scipy retry).  ``noise`` is the pool of residuals (``kind`` residual/case) or the single residual standard deviation
    (parametric) used to add observation noise in :func:`prediction_interval`, on the loss scale.
    """

    fit: FitResult
    kind: str
    seed: int
    n: int
    params: pd.DataFrame
    converged: np.ndarray
    n_failed: int
    n_fallback: int
    noise: np.ndarray
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def failure_rate(self) -> float:
        """Share of resamples whose refit failed."""
        return self.n_failed / self.n if self.n else math.nan

    def summary(
        self,
        level: float = 0.95,
        *,
        reach: Iterable[float] = (),
        population: float | None = None,
        method: str = "percentile",
    ) -> pd.DataFrame:
        """Point estimate and bootstrap interval for every parameter, the saturation and the inflection
        time, plus ``year_reaching`` for each level in ``reach`` (fractions of ``population`` if given).

        Columns ``estimate, lo, hi, boot_median, n_used``.  ``method="percentile"`` (default) gives the
        equal-tailed percentile interval; ``"basic"`` the basic (reflected) interval
        ``(2 est - q_hi, 2 est - q_lo)``, which corrects a bootstrap bias.  When ``boot_median`` is far from
        ``estimate`` (the percentile interval may then even exclude it) the estimator is biased for these
        data, typically because the exact points and the bounds pull the curve in opposite directions;
        report both intervals, or the data conflict, rather than either alone.
        """
        # derived.py needs BootstrapResult at import time (isinstance), so its functions are imported here
        from helpers.models.derived import inflection, percentile_interval, saturation, year_reaching

        if method not in ("percentile", "basic"):
            raise ValueError(f"method must be 'percentile' or 'basic', not {method!r}")
        quantities = {
            name: (self.fit.params[name], self.params[name].to_numpy()) for name in self.fit.model.param_names
        }
        quantities["saturation"] = (saturation(self.fit), saturation(self))
        quantities["inflection"] = (inflection(self.fit), inflection(self))
        for lev in reach:
            quantities[f"year_reaching_{lev:g}"] = (
                year_reaching(self.fit, lev, population=population),
                year_reaching(self, lev, population=population),
            )
        rows = {}
        for key, (est, values) in quantities.items():
            lo, hi = percentile_interval(values, level)
            if method == "basic":
                lo, hi = 2.0 * est - hi, 2.0 * est - lo
            v = np.asarray(values, dtype=float)
            v = v[~np.isnan(v)]
            med = float(np.median(v)) if v.size else math.nan
            rows[key] = (float(est), lo, hi, med, int(v.size))
        df = pd.DataFrame.from_dict(
            rows, orient="index", columns=["estimate", "lo", "hi", "boot_median", "n_used"]
        )
        df.attrs.update(
            level=level, method=method, kind=self.kind, n=self.n, n_failed=self.n_failed, seed=self.seed
        )
        return df


def bootstrap(
    fit_result: FitResult | str | Model,
    t: ArrayLike | None = None,
    y: ArrayLike | None = None,
    *,
    n: int = 1000,
    seed: int = 0,
    kind: str = "residual",
    fit_kwargs: Mapping[str, Any] | None = None,
) -> BootstrapResult:
    """Seeded bootstrap of a growth-curve fit; refits vectorised over resamples, warm-started.

    ``fit_result`` is a :class:`FitResult`, or a model name / :class:`Model` with ``t``, ``y`` and
    ``fit_kwargs`` (passed to :func:`fit`).  Every refit starts from the point estimate; all resamples
    are solved together by a batched Levenberg-Marquardt, rows it cannot finish are refitted one by one
    with scipy, and whatever still fails is counted in ``n_failed`` (its row is NaN), never dropped
    silently.  The same ``seed`` gives identical results.

    Kinds (Davison & Hinkley 1997, ch. 6):

    - ``"residual"`` (default; recommended for the national series of ~10 points with censoring): keeps
      the design fixed (the same years, the same bound observations with the same bounds) and adds to
      the fitted curve residuals resampled from the exact points, inflated by ``sqrt(n_e / (n_e - p))``
      (``n_e`` exact points), on the loss scale (multiplicative on the log scale).  Residuals are centred
      for uncensored fits (Davison & Hinkley's recipe; on the log scale their weighted mean is already 0
      because ``K`` acts as a multiplicative intercept) but not for censored fits, where a non-zero mean
      is how the exact points sit relative to a curve that also honours the bounds, and the bootstrap
      world has to reproduce that compromise.  Bound observations keep their bounds.
      With few points a resample must still cover the early take-off and the late flattening, which only
      a fixed design guarantees; censored points stay censored.
    - ``"parametric"``: like residual but draws Gaussian noise with the fit's ``s``; a sensitivity check
      when the residual pool is too small (fewer than ~8 exact points) to represent the noise.
    - ``"case"``: resamples observations (pairs) with replacement.  Robust to a wrong noise model but
      inappropriate for ~10 time points: resamples routinely miss the first or last years, the curve is
      then unidentified, and resamples with fewer than ``p + 1`` distinct times are counted as failures.
    """
    if isinstance(fit_result, FitResult):
        res = fit_result
    else:
        if t is None or y is None:
            raise ValueError("bootstrap needs t and y when given a model instead of a FitResult")
        res = fit(fit_result, t, y, **dict(fit_kwargs or {}))
    if kind not in ("residual", "case", "parametric"):
        raise ValueError(f"kind must be 'residual', 'case' or 'parametric', not {kind!r}")
    if res.method == "mle":
        if kind != "parametric":
            raise ValueError(
                "a censored-MLE fit is bootstrapped parametrically from the censored model (kind='parametric'): "
                "residuals of the exact figures alone do not represent the bounds"
            )
        from helpers.models import simulation

        return simulation.parametric_bootstrap(res, n=n, seed=seed)
    if n < 1:
        raise ValueError("n must be >= 1")
    if not res.converged:
        raise ValueError(f"cannot bootstrap a fit that did not converge: {res.message}")
    m = res.model
    d = _data_of(res)
    p = m.n_params
    rng = np.random.default_rng(seed)
    sw = np.sqrt(d.w)
    nobs = d.tau.size
    f_hat = m.f(d.tau, *res.theta)
    ex = d.exact
    n_e = int(ex.sum())
    # weighted residuals on the loss scale, observed - fitted: sqrt(w) (g(y) - g(f)); a draw e for point i
    # becomes g(y*) = g(f_i) + e / sqrt(w_i)
    e = -res.residuals[ex]
    centre = 0.0 if res.censored else float(np.mean(e))
    pool = (e - centre) * (math.sqrt(n_e / (n_e - p)) if n_e > p else 1.0)
    sigma = res.sigma

    tau = np.broadcast_to(d.tau, (n, nobs))
    lo = np.broadcast_to(d.lower, (n, nobs))
    hi = np.broadcast_to(d.upper, (n, nobs))
    sw_b = np.broadcast_to(sw, (n, nobs))
    ex_b = np.broadcast_to(ex, (n, nobs))
    degenerate = np.zeros(n, dtype=bool)
    if kind in ("residual", "parametric"):
        draws = rng.choice(pool, size=(n, nobs)) if kind == "residual" else rng.normal(0.0, sigma, (n, nobs))
        gf = np.log(f_hat) if d.log else f_hat
        with np.errstate(all="ignore"):
            ystar = gf + draws / sw
            if d.log:
                ystar = np.exp(ystar)
        y_b = np.where(ex, ystar, np.nan)
        noise = pool if kind == "residual" else np.array([sigma])
    else:
        idx = np.sort(rng.integers(0, nobs, size=(n, nobs)), axis=1)
        tau, lo, hi, sw_b, ex_b = d.tau[idx], d.lower[idx], d.upper[idx], sw[idx], ex[idx]
        y_b = d.y[idx]
        n_times = np.array([np.unique(row).size for row in tau])
        yex = np.where(ex_b, y_b, np.nan)
        with np.errstate(invalid="ignore"):
            spread = np.nanmax(yex, axis=1) - np.nanmin(yex, axis=1)
        degenerate = (n_times <= p) | (ex_b.sum(axis=1) < 2) | ~(spread > 0)
        noise = pool
    lo_b, hi_b = (np.array(b, dtype=float) for b in res.bounds)
    open_lo = np.array(res.open_lower, dtype=bool)
    theta0 = np.broadcast_to(res.theta, (n, p)).copy()
    theta = np.full((n, p), np.nan)
    conv = np.zeros(n, dtype=bool)
    hopeless = np.zeros(n, dtype=bool)
    ok_rows = np.flatnonzero(~degenerate)
    if ok_rows.size:

        def sub(a):
            return a[ok_rows]

        th, cv, run = _batch_lm(
            m,
            theta0[ok_rows],
            sub(tau),
            sub(y_b),
            sub(lo),
            sub(hi),
            sub(sw_b),
            sub(ex_b),
            d.log,
            lo_b,
            hi_b,
            open_lo,
        )
        theta[ok_rows], conv[ok_rows], hopeless[ok_rows] = th, cv, run
    n_fallback = 0
    for i in np.flatnonzero(~conv & ~degenerate & ~hopeless):
        n_fallback += 1
        di = _Data(tau[i], y_b[i], lo[i], hi[i], sw_b[i] ** 2, ex_b[i], d.log)
        th, r, J, ok, _, _ = _fit_core(m, di, [res.theta], lo_b, hi_b, 100 * p)
        tol = 1e-8 * np.maximum(1, np.abs(th))
        on_lo = (np.abs(th - lo_b) <= tol) & np.isfinite(lo_b)
        free = ~(on_lo | ((np.abs(hi_b - th) <= tol) & np.isfinite(hi_b)))
        good = ok and np.all(np.isfinite(th)) and np.all(np.isfinite(J)) and not np.any(on_lo & open_lo)
        if good and _relative_offset(r, J, free, float(_perfect_fit_ss(di))) < 1e-3:
            theta[i], conv[i] = th, True
    theta[~conv] = np.nan
    failures = {
        "degenerate_resample": int(degenerate.sum()),
        "no_optimum": int((hopeless & ~conv).sum()),
        "not_converged": int((~conv & ~degenerate & ~hopeless).sum()),
    }
    params = pd.DataFrame(theta, columns=list(m.param_names))
    params.index.name = "resample"
    return BootstrapResult(
        fit=res,
        kind=kind,
        seed=int(seed),
        n=int(n),
        params=params,
        converged=conv,
        n_failed=int((~conv).sum()),
        n_fallback=n_fallback,
        noise=np.asarray(noise, dtype=float),
        failures=failures,
    )


def prediction_interval(
    boot: BootstrapResult,
    t_new: ArrayLike | None = None,
    *,
    horizon: float = 2030.0,
    level: float = 0.95,
    step: float = 1.0,
) -> pd.DataFrame:
    """Confidence band of the mean and prediction interval for new observations.

    For resample ``b`` the mean curve is ``f(t; theta_b)`` (parameter uncertainty); the prediction draw
    adds one observation error ``e_b`` (a resampled residual for kinds residual/case, ``N(0, s^2)`` for
    parametric) on the loss scale: ``f + e`` (linear) or ``f exp(e)`` (log).  Failed resamples are
    excluded.  ``t_new`` defaults to ``first observed t .. horizon`` by ``step``.  The noise draws use the
    generator seeded with ``(seed, 1)``, so the bands are reproducible.  Columns: ``t, fit, mean_lo,
    mean_hi, pred_lo, pred_hi``; ``attrs`` records level, kind, n used.
    """
    res = boot.fit
    if t_new is None:
        t_new = np.arange(res.t.min(), horizon + step / 2, step)
    t_new = np.asarray(t_new, dtype=float).reshape(-1)
    th = boot.params.to_numpy(dtype=float)[boot.converged]
    if th.shape[0] == 0:
        raise ValueError("no converged resamples to build an interval from")
    tau = t_new - res.epoch
    with np.errstate(all="ignore"):
        mean = res.model.f(tau, *[th[:, j : j + 1] for j in range(th.shape[1])])
    rng = np.random.default_rng([boot.seed, 1])
    if boot.kind == "parametric":
        e = rng.normal(0.0, float(boot.noise[0]), mean.shape)
    else:
        e = rng.choice(boot.noise, size=mean.shape)
    with np.errstate(all="ignore"):
        pred = mean * np.exp(e) if res.loss_scale == "log" else mean + e
    a = (1.0 - level) / 2.0
    q = [a, 1.0 - a]
    mlo, mhi = np.nanquantile(mean, q, axis=0)
    plo, phi = np.nanquantile(pred, q, axis=0)
    df = pd.DataFrame(
        {
            "t": t_new,
            "fit": res.predict(t_new),
            "mean_lo": mlo,
            "mean_hi": mhi,
            "pred_lo": plo,
            "pred_hi": phi,
        }
    )
    df.attrs.update(level=level, kind=boot.kind, n_used=int(th.shape[0]), n_failed=boot.n_failed)
    return df
