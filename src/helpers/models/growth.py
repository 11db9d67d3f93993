"""Fitting a growth curve: :func:`fit` and its :class:`FitResult` (least squares or censored maximum likelihood).

Models (parameter order is part of the API)
-------------------------------------------
=============  ===================  ==================================================================
name           parameters           mean function of the shifted time ``tau = t - epoch``
=============  ===================  ==================================================================
``logistic``   ``(K, r, t0)``       ``K / (1 + exp(-r (tau - t0)))``
``gompertz``   ``(K, b, c)``        ``K exp(-b exp(-c tau))`` (R ``SSgompertz`` with ``b3 = exp(-c)``)
``richards``   ``(K, r, t0, nu)``   ``K / (1 + exp(-r (tau - t0)))**(1/nu)``
``bass``       ``(m, p, q)``        ``m (1 - e^{-(p+q) tau}) / (1 + (q/p) e^{-(p+q) tau})`` (cumulative)
``bass_rate``  ``(m, p, q)``        ``m (p+q)^2/p e^{-(p+q) tau} / (1 + (q/p) e^{-(p+q) tau})^2`` (per period)
=============  ===================  ==================================================================

``epoch`` (default 0) is the time origin subtracted from ``t`` before the model is evaluated.  It matters
for the Gompertz ``b`` (``b = exp(c * t_inflection)`` overflows for calendar years) and for Bass, whose
time is *time since launch* (``N(0) = 0``).  For the national series pass calendar years as ``t`` and
``epoch=2008`` (Koryolink launched December 2008): every derived time (inflection, year reaching a level,
forecast horizon) is then reported back in calendar years.  Logistic ``t0`` and Richards ``t0`` are
expressed relative to ``epoch`` too (``t0 = 5.5`` with ``epoch=2008`` means mid-2013).

Estimation
----------
:func:`fit` minimises the (weighted) sum of squared residuals with
:func:`scipy.optimize.least_squares` (trust-region reflective, analytic Jacobian, tolerances 1e-15),
followed by Gauss-Newton polishing steps.  Standard errors are the Bates & Watts / NIST StRD ones:
``cov = s^2 (J^T J)^{-1}`` with ``s^2 = RSS / (n - p)``.  Information criteria use the Gaussian likelihood
with the maximum-likelihood variance ``RSS/n`` and count sigma as a parameter (``k = p + 1``)::

    -2 log L = n (log(2 pi) + log(RSS / n) + 1)
    AIC  = -2 log L + 2 k
    AICc = AIC + 2 k (k + 1) / (n - k - 1)      (inf when n - k - 1 <= 0)
    BIC  = -2 log L + k log(n)

With weights the constant ``-1/2 sum log w_i`` is omitted (identical for every model fitted to the same
data); with ``loss_scale="log"`` the likelihood is that of ``log y``.  Criteria are comparable only between
fits of the same observations with the same weights and loss scale.

Censored and interval observations
----------------------------------
Each observation is either *exact* (``y`` finite) or a *bound* (``y`` NaN and ``lower`` and/or ``upper``
finite): "more than 1 million" is ``lower=1e6``, "neared 3 million" may be ``upper=3e6``, "6.5-7 million" is
``lower=6.5e6, upper=7e6``.  The loss is least squares in which exact points give ordinary residuals
``g(f) - g(y)`` and bound points give the hinge residual ``g(f) - g(clip(f, lower, upper))``, i.e.
``max(0, lower - f)`` below the interval, ``max(0, f - upper)`` above it and zero inside (``g`` is the
identity or ``log``).  Satisfied bounds cost nothing; violated ones are penalised like a point on the bound.
This is *not* a likelihood: for fits with bound observations the standard errors and information
criteria are computed with the same formulas (``n`` counting every observation) and are approximate;
:attr:`FitResult.censored` flags them.  :func:`~helpers.models.inputs.naive_points` returns the ``y`` a naive fit would use
(the bound, or the interval midpoint), so a notebook can fit both and show the difference.

Loss scale: subscriber figures span 1e5..7e6, and their errors are roughly proportional to their size.
``loss_scale="log"`` (relative errors) is the recommended setting for the national series (``epoch=2008``,
observations from 2009 on: the log scale needs every value > 0); ``"linear"`` (the default) is what NIST
and most textbook examples use.  ``weights=1/y**2`` on the linear scale is a close alternative.

Convergence is reported honestly: ``converged`` requires the optimiser's success, the Bates-Watts
relative-offset criterion at the returned point, and no parameter on an *open* bound (the implicit ``> 0``
of a positive parameter: running onto it means the optimum lies outside the model's domain, e.g. Bass
``p -> 0`` with ``m -> inf`` for a series that shows no saturation).  Explicit bounds, including the
default ``nu`` range of Richards (:data:`~helpers.models.inputs.DEFAULT_BOUNDS`), are closed: a fit ending on one is a valid
constrained optimum, named in ``at_bound``.

Where the rest lives: input validation, bounds and start values in :mod:`helpers.models.inputs`; derived
quantities (saturation, inflection, year reaching a level) in :mod:`helpers.models.derived`; uncertainty in
:mod:`helpers.models.bootstrap` (:func:`~helpers.models.bootstrap.bootstrap`,
:func:`~helpers.models.bootstrap.prediction_interval`); model selection and backtests in
:mod:`helpers.models.selection` (:func:`~helpers.models.selection.compare_models`,
:func:`~helpers.models.selection.backtest`); the censored likelihood (``method="mle"``) in
:mod:`helpers.models.likelihood`.  :mod:`helpers.growth` re-exports the public API of all of them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers._lazy import lazy
from helpers.models.inputs import (
    ArrayLike,
    _as_1d,
    _Data,
    _natural_bounds,
    _residuals,
    _start_candidates,
    _validate,
)
from helpers.models.registry import Model, get_model
from helpers.models.solver import transformed_lm as _batch_lm

optimize = lazy("scipy.optimize")

__all__ = ["FitResult", "fit"]


# --------------------------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`fit`.

    ``params``/``stderr`` are dicts keyed by ``model.param_names``; ``cov`` is ``s^2 (J^T J)^{-1}`` with
    ``s^2 = rss / dof`` (Bates & Watts 1988; NIST StRD).  ``converged`` is True only when the optimiser
    reported success *and* the Bates-Watts relative-offset criterion (< 1e-3, computed on the free
    parameters) holds at the returned point *and* no parameter ran onto an open positivity bound;
    ``message`` says why not otherwise.  ``censored`` is True when bound observations entered the fit
    (standard errors and information criteria are then approximate, see the module docstring).
    ``at_bound`` names parameters that ended on a bound.

    The remaining fields keep what :func:`~helpers.models.bootstrap.bootstrap` and
    :func:`~helpers.models.selection.backtest` need: the data (``t`` in the caller's time scale, ``y``/``lower``/``upper`` with NaN where absent, ``weights``), the weighted
    residuals on the loss scale (``sqrt(w) (g(f) - g(target))``), the parameter ``bounds`` used
    (lower tuple, upper tuple), which lower bounds were open, and the optimiser's ``nfev``.
    """

    model: Model
    params: dict[str, float]
    stderr: dict[str, float]
    cov: np.ndarray
    rss: float
    dof: int
    n: int
    aic: float
    aicc: float
    bic: float
    converged: bool
    message: str
    epoch: float = 0.0
    loss_scale: str = "linear"
    censored: bool = False
    at_bound: tuple[str, ...] = ()
    t: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    y: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    lower: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    upper: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    weights: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    residuals: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    bounds: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    open_lower: tuple[bool, ...] = ()
    nfev: int = 0
    method: str = "lsq"
    loglik: float = math.nan
    sigma_mle: float = math.nan
    sigma_stderr: float = math.nan
    corr: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    rounded: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool), repr=False)

    @property
    def theta(self) -> np.ndarray:
        """Parameters as an array in ``model.param_names`` order."""
        return np.array([self.params[k] for k in self.model.param_names])

    @property
    def sigma(self) -> float:
        """Error standard deviation on the loss scale: the maximum-likelihood ``sigma`` of the censored
        model (``method="mle"``), else the least-squares ``s = sqrt(rss / dof)``."""
        if self.method == "mle":
            return self.sigma_mle
        return math.sqrt(self.rss / self.dof) if self.dof > 0 else math.nan

    def predict(self, t: ArrayLike) -> np.ndarray:
        """Fitted mean at times ``t`` (same time scale as the data, i.e. before subtracting ``epoch``)."""
        return self.model.f(np.asarray(t, dtype=float) - self.epoch, *self.theta)

    def summary(self) -> pd.DataFrame:
        """Parameter table: estimate, standard error and relative standard error."""
        names = list(self.model.param_names)
        est = np.array([self.params[k] for k in names])
        se = np.array([self.stderr[k] for k in names])
        return pd.DataFrame({"estimate": est, "stderr": se, "rel_stderr": se / np.abs(est)}, index=names)


def _data_of(res: FitResult) -> _Data:
    lo = np.where(np.isnan(res.lower), -np.inf, res.lower)
    hi = np.where(np.isnan(res.upper), np.inf, res.upper)
    return _Data(res.t - res.epoch, res.y, lo, hi, res.weights, np.isfinite(res.y), res.loss_scale == "log")


def _info_criteria(rss: float, n: int, p: int) -> tuple[float, float, float]:
    k = p + 1  # sigma counts as a parameter
    if rss <= 0 or n <= 0:
        return -math.inf, -math.inf, -math.inf
    m2ll = n * (math.log(2.0 * math.pi) + math.log(rss / n) + 1.0)
    aic = m2ll + 2.0 * k
    aicc = aic + 2.0 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf
    bic = m2ll + k * math.log(n)
    return aic, aicc, bic


def _perfect_fit_ss(d: _Data) -> np.ndarray:
    """Residual sum of squares below which a fit is exact up to rounding: ``(1e-11)^2 sum w g(y)^2``.

    The relative offset compares two rounding-error quantities when the data lie exactly on the curve
    (synthetic tests), so below this level it is taken as 0.  Works on ``(n,)`` or ``(B, n)`` data.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        gy = np.log(d.y) if d.log else d.y
        return 1e-22 * np.nansum(np.where(d.exact, d.w * gy**2, 0.0), axis=-1)


def _relative_offset(r: np.ndarray, J: np.ndarray, free: np.ndarray, tiny: float = 1e-300) -> float:
    """Bates & Watts (1981) relative-offset convergence criterion on the free parameters.

    ``sqrt((|Q^T r|^2 / p) / (|r - Q Q^T r|^2 / (n - p)))`` with Q an orthonormal basis of the columns of
    J: the size of the remaining gradient direction relative to the residual noise.  0 when
    ``rss <= tiny`` (exact fit).
    """
    Jf = J[:, free]
    n, p = Jf.shape
    rss = float(r @ r)
    if p == 0 or rss <= tiny:
        return 0.0
    Q, _ = np.linalg.qr(Jf)
    proj = Q.T @ r
    num = float(proj @ proj) / p
    den = max(rss - float(proj @ proj), 0.0) / max(n - p, 1)
    if den <= 1e-300 * max(rss, 1.0):
        return 0.0 if num <= 1e-28 * rss else math.inf
    return math.sqrt(num / den)


def _covariance(J: np.ndarray, s2: float) -> np.ndarray:
    """``s^2 (J^T J)^{-1}`` via the SVD of J (NaN when J is numerically rank deficient)."""
    p = J.shape[1]
    if not np.all(np.isfinite(J)):
        return np.full((p, p), np.nan)
    U, sv, Vt = np.linalg.svd(J, full_matrices=False)
    if sv.size < p or sv[-1] <= sv[0] * 1e-13:
        return np.full((p, p), np.nan)
    V = Vt.T / sv
    return s2 * (V @ V.T)


def _polish(model: Model, theta: np.ndarray, args: tuple, lo: np.ndarray, hi: np.ndarray, steps: int = 8):
    """Gauss-Newton refinement from the optimiser's point (accepted only when it lowers the cost)."""
    r, J = _residuals(model, theta, *args, want_jac=True)
    cost = float(r @ r)
    for _ in range(steps):
        if not (np.all(np.isfinite(J)) and np.isfinite(cost)):
            break
        step, *_ = np.linalg.lstsq(J, -r, rcond=None)
        new = theta + step
        if np.any(new <= lo) or np.any(new >= hi):
            break
        r2, J2 = _residuals(model, new, *args, want_jac=True)
        c2 = float(r2 @ r2)
        if not np.isfinite(c2) or c2 > cost:
            break
        done = np.all(np.abs(step) <= 1e-15 * (np.abs(theta) + 1e-300)) or c2 >= cost * (1 - 1e-16)
        theta, r, J, cost = new, r2, J2, c2
        if done:
            break
    return theta, r, J


def _fit_core(
    m: Model,
    d: _Data,
    starts: Sequence[np.ndarray],
    lo_arr: np.ndarray,
    hi_arr: np.ndarray,
    max_nfev: int | None,
    open_lo: Sequence[bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, str, int]:
    """Optimise from each start (trust-region reflective, analytic Jacobian), keep the lowest cost, polish.

    With ``open_lo`` given, a run stopped by ``max_nfev`` is handed to the Levenberg-Marquardt solver
    (:func:`_batch_lm`, one row) from where it stopped.
    """
    args = (d.tau, d.y, d.lower, d.upper, np.sqrt(d.w), d.exact, d.log)

    def fun(th):
        r, _ = _residuals(m, th, *args, want_jac=False)
        return np.where(np.isfinite(r), r, 1e150)

    def jac(th):
        _, J = _residuals(m, th, *args, want_jac=True)
        return np.where(np.isfinite(J), J, 0.0)

    best = None
    for s in starts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                sol = optimize.least_squares(
                    fun,
                    s,
                    jac=jac,
                    bounds=(lo_arr, hi_arr),
                    method="trf",
                    x_scale="jac",
                    ftol=1e-15,
                    xtol=1e-15,
                    gtol=1e-15,
                    max_nfev=max_nfev,
                )
            except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover - defensive
                sol = optimize.OptimizeResult(
                    x=s, cost=np.inf, status=-1, message=str(exc), nfev=0, success=False
                )
        if best is None or (np.isfinite(sol.cost) and sol.cost < best.cost):
            best = sol
    assert best is not None
    theta = np.asarray(best.x, dtype=float)
    nfev = int(best.nfev)
    status_ok = best.status > 0
    message = str(best.message)
    if not status_ok and open_lo is not None and np.all(np.isfinite(theta)):
        # trust-region reflective crawls along narrow curved valleys (Bass m-p, Richards t0-nu) until
        # max_nfev; Levenberg-Marquardt in transformed parameters, started where it stopped, often
        # finishes.  Its result is accepted only if it meets the same convergence tests.
        th2, conv2, _ = _batch_lm(
            m,
            theta[None, :],
            d.tau,
            d.y[None, :],
            d.lower,
            d.upper,
            np.sqrt(d.w),
            d.exact,
            d.log,
            lo_arr,
            hi_arr,
            np.asarray(open_lo, dtype=bool),
            max_iter=3000,
        )
        if conv2[0]:
            theta, status_ok = th2[0], True
            message += " -> finished by Levenberg-Marquardt in transformed parameters"
    if status_ok:
        theta, r, J = _polish(m, theta, args, lo_arr, hi_arr)
    else:
        r, J = _residuals(m, theta, *args, want_jac=True)

    return theta, r, J, status_ok, message, nfev


def _data_fields(d: Any, epoch: float, r: np.ndarray, lo_b: Any, hi_b: Any, open_lo: Any) -> dict[str, Any]:
    """The :class:`FitResult` fields that record the data and the box a fit used (shared by both estimators)."""
    return dict(
        t=d.tau + float(epoch),
        y=d.y,
        lower=np.where(np.isfinite(d.lower), d.lower, np.nan),
        upper=np.where(np.isfinite(d.upper), d.upper, np.nan),
        weights=d.w,
        residuals=r,
        bounds=(tuple(lo_b), tuple(hi_b)),
        open_lower=tuple(open_lo),
    )


def fit(
    model: str | Model,
    t: ArrayLike,
    y: ArrayLike,
    *,
    p0: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    weights: ArrayLike | None = None,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
    loss_scale: str = "linear",
    epoch: float = 0.0,
    max_nfev: int | None = None,
    method: str = "lsq",
    rounded: ArrayLike | None = None,
) -> FitResult:
    """Fit a growth model by least squares (``method="lsq"``) or censored maximum likelihood (``"mle"``).

    Parameters
    ----------
    model : name in :data:`~helpers.models.registry.MODELS` or a :class:`~helpers.models.registry.Model`.
    t, y : times (strictly increasing) and values; ``y`` may be NaN where only bounds are known.
    p0 : starting values by parameter name (all of them).  Default: self-starting values from a grid over
        the nonlinear parameters with the scale (``K``/``m``) profiled out linearly, computed on
        :func:`~helpers.models.inputs.naive_points`; the three best distinct grid points are each optimised and the lowest
        cost kept.
    bounds : ``{name: (lo, hi)}``; parameters marked ``positive`` default to ``(0, inf)``, others free.
    weights : ``w_i`` in ``sum w_i r_i^2`` (e.g. ``1/var_i``); default 1.
    lower, upper : bounds of censored/interval observations (NaN where absent); see the module docstring.
    loss_scale : ``"linear"`` (residual ``f - y``) or ``"log"`` (``log f - log y``, relative errors).
    epoch : time origin; the model is evaluated at ``t - epoch``.
    max_nfev : cap on function evaluations per optimisation (default: scipy's 100 p; least squares only).
    method : ``"lsq"`` (hinge least squares, see the module docstring; the NIST-certified path) or ``"mle"``
        (censored log-normal maximum likelihood with sigma estimated jointly, :mod:`helpers.models.likelihood`:
        exact figures through the density, lower bounds the survival function, upper bounds the CDF, ranges
        the CDF difference; ``loglik``, ``sigma`` and the observed-information standard errors are exact
        likelihood quantities and AIC/AICc/BIC use ``loglik`` with ``k = p + 1``).  ``weights`` are not
        used by the likelihood (``ValueError``).
    rounded : bool per observation, marking ranges that are the rounding interval of a rounded figure
        ("about 6 million" as 5.5-6.5 million); only the parametric bootstrap uses it (it re-rounds).

    Replicates (several observations at the same ``t``) are accepted.

    Raises ``ValueError`` for bad input (see :func:`helpers.models.inputs._validate`).  Never raises for a
    failed optimisation: the result then has ``converged=False`` and the reason in ``message``.
    """
    m = get_model(model)
    d = _validate(m, t, y, lower, upper, weights, loss_scale, epoch)
    lo_b, hi_b, open_lo = _natural_bounds(m, bounds)
    lo_arr, hi_arr = np.array(lo_b), np.array(hi_b)
    if p0 is not None:
        missing = [k for k in m.param_names if k not in p0]
        extra = [k for k in p0 if k not in m.param_names]
        if missing or extra:
            raise ValueError(f"p0 must give exactly {m.param_names}; missing {missing}, unknown {extra}")
        starts = [np.array([float(p0[k]) for k in m.param_names])]
        if not np.all(np.isfinite(starts[0])):
            raise ValueError("p0 contains non-finite values")
    else:
        starts = _start_candidates(m, d)
    with np.errstate(invalid="ignore"):
        lo_in = np.where(np.isfinite(lo_arr), lo_arr + 1e-12 * (1 + np.abs(lo_arr)), -np.inf)
        hi_in = np.where(np.isfinite(hi_arr), hi_arr - 1e-12 * (1 + np.abs(hi_arr)), np.inf)
    starts = [np.clip(s, lo_in, hi_in) for s in starts]
    if method not in ("lsq", "mle"):
        raise ValueError(f"method must be 'lsq' or 'mle', not {method!r}")
    rnd = (
        np.zeros(d.tau.size, dtype=bool)
        if rounded is None
        else _as_1d("rounded", rounded, d.tau.size, 0.0) > 0
    )
    if method == "mle":
        if weights is not None:
            raise ValueError("weights are not used by method='mle' (the likelihood has one sigma); omit them")
        return _fit_mle(m, d, starts, lo_b, hi_b, open_lo, p0 is not None, epoch, loss_scale, rnd)

    theta, r, J, status_ok, opt_message, nfev = _fit_core(
        m, d, starts, lo_arr, hi_arr, max_nfev, open_lo if max_nfev is None else None
    )

    n = int(d.tau.size)
    p = m.n_params
    dof = n - p
    rss = float(r @ r)
    tol = 1e-8 * np.maximum(1.0, np.abs(theta))
    on_bound = ((np.abs(theta - lo_arr) <= tol) & np.isfinite(lo_arr)) | (
        (np.abs(hi_arr - theta) <= tol) & np.isfinite(hi_arr)
    )
    at_bound = tuple(k for k, b in zip(m.param_names, on_bound, strict=True) if b)
    at_open = [k for k, b, o in zip(m.param_names, on_bound, open_lo, strict=True) if b and o]
    s2 = rss / dof
    cov = _covariance(J, s2)
    se = np.sqrt(np.diag(cov)) if np.all(np.isfinite(cov)) else np.full(p, np.nan)

    msgs = []
    finite = bool(np.all(np.isfinite(theta)) and np.isfinite(rss))
    offset = (
        _relative_offset(r, J, ~on_bound, float(_perfect_fit_ss(d)))
        if finite and np.all(np.isfinite(J))
        else math.inf
    )
    converged = bool(status_ok and finite and offset < 1e-3 and not at_open)
    if at_open:
        msgs.append(
            f"{', '.join(at_open)} ran to 0 (open positivity bound): no optimum inside the model's domain"
        )
    if not status_ok:
        msgs.append(f"optimiser did not converge: {opt_message}")
    elif offset >= 1e-3:
        msgs.append(
            f"relative offset {offset:.3g} >= 1e-3 at the returned point: not a least-squares optimum"
        )
    elif not at_open:
        msgs.append(
            "converged (trust-region stopped at max_nfev, finished by Levenberg-Marquardt)"
            if "finished by" in opt_message
            else "converged"
        )
    if at_bound:
        msgs.append(f"parameters at a bound: {', '.join(at_bound)} (standard errors not meaningful)")
    if not np.all(np.isfinite(cov)):
        msgs.append("Jacobian rank deficient: parameters not identifiable from these data; stderr NaN")
    span = float(np.ptp(d.tau))
    if not converged and m.name in ("gompertz", "bass", "bass_rate") and d.tau.min() > 5.0 * max(span, 1e-12):
        msgs.append(
            f"hint: t - epoch starts at {d.tau.min():g}, far from the time origin this model's parameters "
            "refer to; pass epoch= (e.g. the launch year)"
        )
    censored = bool(np.any(~d.exact))
    if censored:
        msgs.append("bound observations used: stderr and information criteria approximate")
    aic, aicc, bic = _info_criteria(rss, n, p)
    return FitResult(
        model=m,
        params={k: float(v) for k, v in zip(m.param_names, theta, strict=True)},
        stderr={k: float(v) for k, v in zip(m.param_names, se, strict=True)},
        cov=cov,
        rss=rss,
        dof=dof,
        n=n,
        aic=aic,
        aicc=aicc,
        bic=bic,
        converged=converged,
        message="; ".join(msgs),
        epoch=float(epoch),
        loss_scale=loss_scale,
        censored=censored,
        at_bound=at_bound,
        **_data_fields(d, epoch, r, lo_b, hi_b, open_lo),
        nfev=nfev,
    )


def _fit_mle(
    m: Model,
    d: _Data,
    starts: list[np.ndarray],
    lo_b: list[float],
    hi_b: list[float],
    open_lo: list[bool],
    given_p0: bool,
    epoch: float,
    loss_scale: str,
    rounded: np.ndarray,
) -> FitResult:
    """Censored maximum likelihood (:func:`helpers.models.likelihood.fit_mle`) packed as a :class:`FitResult`.

    Starts: the hinge least-squares optimum (from the same starts) and the starts themselves; with ``p0``
    only ``p0`` (bootstrap refits warm-started at the estimate).
    """
    from helpers.models import likelihood

    lo_arr, hi_arr = np.array(lo_b), np.array(hi_b)
    cands = list(starts)
    if not given_p0:
        th, _, _, ok, _, _ = _fit_core(m, d, starts, lo_arr, hi_arr, None, open_lo)
        if np.all(np.isfinite(th)) and np.all(th > lo_arr) and np.all(th < hi_arr):
            cands.insert(0, th)
    r_mle = likelihood.fit_mle(m, d, cands, lo_b, hi_b)
    theta = r_mle.theta
    p = m.n_params
    n = int(d.tau.size)
    r, _ = _residuals(m, theta, d.tau, d.y, d.lower, d.upper, np.sqrt(d.w), d.exact, d.log, want_jac=False)
    cov = r_mle.cov[:p, :p]
    se = r_mle.stderr
    k = p + 1
    ll = r_mle.loglik
    aic = -2.0 * ll + 2.0 * k
    aicc = aic + 2.0 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf
    bic = -2.0 * ll + k * math.log(n)
    return FitResult(
        model=m,
        params={kk: float(v) for kk, v in zip(m.param_names, theta, strict=True)},
        stderr={kk: float(v) for kk, v in zip(m.param_names, se[:p], strict=True)},
        cov=cov,
        rss=float(r @ r),
        dof=n - p,
        n=n,
        aic=aic,
        aicc=aicc,
        bic=bic,
        converged=r_mle.converged,
        message=r_mle.message,
        epoch=float(epoch),
        loss_scale=loss_scale,
        censored=bool(np.any(~d.exact)),
        at_bound=tuple(a for a in r_mle.at_bound if a != "sigma"),
        **_data_fields(d, epoch, r, lo_b, hi_b, open_lo),
        nfev=r_mle.nfev,
        method="mle",
        loglik=ll,
        sigma_mle=r_mle.sigma,
        sigma_stderr=float(se[p]),
        corr=r_mle.corr,
        rounded=rounded,
    )
