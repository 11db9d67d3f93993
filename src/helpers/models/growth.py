"""Growth-curve models, fitting, uncertainty, model selection and backtests.

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
:attr:`FitResult.censored` flags them.  :func:`naive_points` returns the ``y`` a naive fit would use
(the bound, or the interval midpoint), so a notebook can fit both and show the difference.

Loss scale: subscriber figures span 1e5..7e6, and their errors are roughly proportional to their size.
``loss_scale="log"`` (relative errors) is the recommended setting for the national series (``epoch=2008``,
observations from 2009 on: the log scale needs every value > 0); ``"linear"`` (the default) is what NIST
and most textbook examples use.  ``weights=1/y**2`` on the linear scale is a close alternative.

Convergence is reported honestly: ``converged`` requires the optimiser's success, the Bates-Watts
relative-offset criterion at the returned point, and no parameter on an *open* bound (the implicit ``> 0``
of a positive parameter: running onto it means the optimum lies outside the model's domain, e.g. Bass
``p -> 0`` with ``m -> inf`` for a series that shows no saturation).  Explicit bounds, including the
default ``nu`` range of Richards (:data:`DEFAULT_BOUNDS`), are closed: a fit ending on one is a valid
constrained optimum, named in ``at_bound``.

Uncertainty, model selection, backtests: see :func:`bootstrap`, :func:`prediction_interval`,
:func:`compare_models` and :func:`backtest`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers._lazy import lazy
from helpers.models.registry import CUMULATIVE_MODELS, MODELS, Model, _stack, get_model  # noqa: F401
from helpers.models.solver import residuals as _shared_residuals
from helpers.models.solver import transformed_lm as _batch_lm

optimize = lazy("scipy.optimize")

__all__ = [
    "CUMULATIVE_MODELS",
    "DEFAULT_BOUNDS",
    "MODELS",
    "BootstrapResult",
    "FitResult",
    "Model",
    "backtest",
    "bootstrap",
    "compare_models",
    "fit",
    "get_model",
    "inflection",
    "naive_points",
    "percentile_interval",
    "prediction_interval",
    "saturation",
    "year_reaching",
]

ArrayLike = Any

# --------------------------------------------------------------------------------------------------------
# Models: the registry (helpers.models.registry); re-exported here, the names are part of the API
# --------------------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    """Validated observations, in shifted time ``tau = t - epoch``."""

    tau: np.ndarray
    y: np.ndarray  # NaN for bound-only points
    lower: np.ndarray  # -inf where absent
    upper: np.ndarray  # +inf where absent
    w: np.ndarray
    exact: np.ndarray  # bool
    log: bool


def _as_1d(name: str, values: ArrayLike | None, n: int, fill: float) -> np.ndarray:
    if values is None:
        return np.full(n, fill)
    a = np.asarray(values, dtype=float).reshape(-1)
    if a.shape != (n,):
        raise ValueError(f"{name} has {a.size} values but t has {n}")
    return a


def naive_points(y: ArrayLike, lower: ArrayLike | None = None, upper: ArrayLike | None = None) -> np.ndarray:
    """The ``y`` a naive fit would use: exact values, else the interval midpoint, else the single bound.

    "More than L" becomes ``L``, "at most U" becomes ``U`` and "L-U" becomes ``(L + U) / 2``.  Fitting these
    as exact points is what treating "more than" figures as point values means; compare with the censored
    fit (same ``t``, original ``y``/``lower``/``upper``) to show the difference.
    """
    y = np.asarray(y, dtype=float).reshape(-1).copy()
    n = y.size
    lo = _as_1d("lower", lower, n, np.nan)
    hi = _as_1d("upper", upper, n, np.nan)
    miss = np.isnan(y)
    both = miss & np.isfinite(lo) & np.isfinite(hi)
    y[both] = 0.5 * (lo[both] + hi[both])
    only_lo = miss & np.isfinite(lo) & ~np.isfinite(hi)
    y[only_lo] = lo[only_lo]
    only_hi = miss & ~np.isfinite(lo) & np.isfinite(hi)
    y[only_hi] = hi[only_hi]
    return y


def _validate(
    model: Model,
    t: ArrayLike,
    y: ArrayLike,
    lower: ArrayLike | None,
    upper: ArrayLike | None,
    weights: ArrayLike | None,
    loss_scale: str,
    epoch: float,
) -> _Data:
    """Check the observations and raise ``ValueError`` naming the first problem found."""
    if loss_scale not in ("linear", "log"):
        raise ValueError(f"loss_scale must be 'linear' or 'log', not {loss_scale!r}")
    t = np.asarray(t, dtype=float).reshape(-1)
    n = t.size
    y = _as_1d("y", y, n, np.nan)
    lo = _as_1d("lower", lower, n, np.nan)
    hi = _as_1d("upper", upper, n, np.nan)
    w = _as_1d("weights", weights, n, 1.0)
    if not np.all(np.isfinite(t)):
        raise ValueError("t contains NaN or infinite values")
    if not np.isfinite(epoch):
        raise ValueError("epoch must be finite")
    # replicates (several observations at the same time) are accepted, as in R's nls and scipy
    if n > 1 and np.any(np.diff(t) < 0):
        raise ValueError("t is not sorted in non-decreasing order")
    for name, a in (("y", y), ("lower", lo), ("upper", hi)):
        if np.any(np.isinf(a)):
            raise ValueError(f"{name} contains infinite values (use NaN for an absent bound)")
        if np.any(a[~np.isnan(a)] < 0):
            raise ValueError(f"{name} contains negative values")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights must be finite and > 0")
    has_bound = np.isfinite(lo) | np.isfinite(hi)
    if np.any(np.isnan(y) & ~has_bound):
        idx = np.flatnonzero(np.isnan(y) & ~has_bound)
        raise ValueError(f"y is NaN with no lower/upper bound at t = {t[idx].tolist()}")
    both = np.isfinite(lo) & np.isfinite(hi)
    if np.any(lo[both] > hi[both]):
        raise ValueError(f"lower > upper at t = {t[both][lo[both] > hi[both]].tolist()}")
    exact = np.isfinite(y)
    bad = exact & ((np.isfinite(lo) & (y < lo)) | (np.isfinite(hi) & (y > hi)))
    if np.any(bad):
        raise ValueError(f"y lies outside its own [lower, upper] at t = {t[bad].tolist()}")
    p = model.n_params
    if n <= p:
        raise ValueError(
            f"too few observations for {model.name}: n = {n} but the model has p = {p} parameters "
            "(need n > p for a residual variance)"
        )
    if exact.sum() < 2:
        raise ValueError("need at least two exact (non-bound) observations")
    if np.ptp(y[exact]) == 0:
        raise ValueError("y is constant: a growth curve cannot be fitted to constant values")
    log = loss_scale == "log"
    if log:
        if np.any(y[exact] <= 0) or np.any(lo[np.isfinite(lo)] <= 0) or np.any(hi[np.isfinite(hi)] <= 0):
            raise ValueError("loss_scale='log' needs y, lower and upper > 0 (zero values found)")
    tau = t - float(epoch)
    if model.name in ("bass", "bass_rate") and np.any(tau < 0):
        raise ValueError(f"{model.name} is defined for time since launch: t - epoch must be >= 0")
    lo = np.where(np.isfinite(lo), lo, -np.inf)
    hi = np.where(np.isfinite(hi), hi, np.inf)
    return _Data(tau, y, lo, hi, w, exact, log)


# --------------------------------------------------------------------------------------------------------
# Residuals (shared by the single and the batched solvers; arrays broadcast over a leading batch axis)
# --------------------------------------------------------------------------------------------------------


_residuals = _shared_residuals


DEFAULT_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    name: dict(m.bounds) for name, m in MODELS.items() if m.bounds
}
"""Default parameter bounds beyond positivity (the registry entries' ``bounds``).  Richards ``nu``: as ``nu -> 0`` the curve tends to the
Gompertz curve and as ``nu -> inf`` to a step, so on short series the unbounded optimum often runs off to a
limit and never converges; ``[0.01, 100]`` spans every practically distinct shape, and a fit that ends on
it is reported (``at_bound``) rather than silently accepted."""


def _natural_bounds(
    model: Model, bounds: Mapping[str, tuple[float, float]] | None
) -> tuple[list[float], list[float], list[bool]]:
    """Lower/upper bound lists: positivity, then :data:`DEFAULT_BOUNDS`, then the user's ``bounds``.

    The third list marks *open* lower bounds: the implicit ``> 0`` of a positive parameter.  A fit that
    runs onto an open bound has no optimum inside the model's domain (e.g. Bass ``p -> 0`` with ``m -> inf``
    when the data show no saturation) and is reported as not converged; explicit bounds are closed, and a
    fit ending on one is a valid constrained optimum flagged in ``at_bound``.
    """
    lo = [0.0 if pos else -np.inf for pos in model.positive]
    open_lo = list(model.positive)
    hi = [np.inf] * model.n_params
    merged = {**dict(model.bounds), **dict(bounds or {})}
    for name, (a, b) in merged.items():
        if name not in model.param_names:
            raise ValueError(f"bounds for unknown parameter {name!r} of {model.name} {model.param_names}")
        j = model.param_names.index(name)
        if not a < b:
            raise ValueError(f"bounds for {name}: lower {a} must be < upper {b}")
        lo[j], hi[j] = float(a), float(b)
        open_lo[j] = False
    return lo, hi, open_lo


# --------------------------------------------------------------------------------------------------------
# Self-starting values: grid over the nonlinear parameters, the scale (K or m) solved linearly
# --------------------------------------------------------------------------------------------------------


def _grid(model: Model, tau: np.ndarray) -> np.ndarray:
    """Candidate nonlinear parameters (all but the first), shape ``(G, p-1)``, scaled to the data span."""
    if model.grid is None:
        raise ValueError(f"model {model.name!r} has no start grid in the registry: pass p0")
    return model.grid(float(tau.min()), float(tau.max()), True)


def _start_candidates(model: Model, d: _Data, n_best: int = 3) -> list[np.ndarray]:
    """Best ``n_best`` distinct grid points (by naive-point RSS), with the scale parameter profiled out."""
    y = naive_points(
        d.y, np.where(np.isfinite(d.lower), d.lower, np.nan), np.where(np.isfinite(d.upper), d.upper, np.nan)
    )
    G = _grid(model, d.tau)
    cols = [G[:, j : j + 1] for j in range(G.shape[1])]
    with np.errstate(all="ignore"):
        g = model.f(d.tau, 1.0, *cols)  # (G, n)
        ok_pts = np.isfinite(y) & (y > 0 if d.log else np.isfinite(y))
        w = d.w * ok_pts
        yy = np.where(ok_pts, y, 0.0)
        if d.log:
            lg = np.log(np.where(g > 0, g, np.nan))
            logK = np.nansum(w * (np.log(np.where(ok_pts, yy, 1.0)) - lg), axis=1) / w.sum()
            K = np.exp(logK)
            res = (np.log(np.where(ok_pts, yy, 1.0)) - logK[:, None] - lg) * ok_pts
        else:
            K = (w * yy * g).sum(axis=1) / (w * g * g).sum(axis=1)
            res = (yy - K[:, None] * g) * ok_pts
        cost = (w * res**2).sum(axis=1)
    cost = np.where(np.isfinite(cost) & np.isfinite(K) & (K > 0), cost, np.inf)
    order = np.argsort(cost, kind="stable")
    out: list[np.ndarray] = []
    for i in order:
        if not np.isfinite(cost[i]):
            break
        cand = np.concatenate([[K[i]], G[i]])
        if all(np.max(np.abs(np.log(np.abs(cand) + 1e-300) - np.log(np.abs(c) + 1e-300))) > 0.2 for c in out):
            out.append(cand)
        if len(out) >= n_best:
            break
    if not out:
        hint = (
            " (on the log scale a curve that is 0 at t = epoch cannot fit a positive value there: "
            "choose an earlier epoch)"
            if d.log and model.since_launch
            else ""
        )
        raise ValueError(f"no finite starting values found for {model.name}; check t, epoch and y{hint}")
    return out


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

    The remaining fields keep what :func:`bootstrap` and :func:`backtest` need: the data (``t`` in the
    caller's time scale, ``y``/``lower``/``upper`` with NaN where absent, ``weights``), the weighted
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
    model : name in :data:`MODELS` or a :class:`Model`.
    t, y : times (strictly increasing) and values; ``y`` may be NaN where only bounds are known.
    p0 : starting values by parameter name (all of them).  Default: self-starting values from a grid over
        the nonlinear parameters with the scale (``K``/``m``) profiled out linearly, computed on
        :func:`naive_points`; the three best distinct grid points are each optimised and the lowest
        cost kept.
    bounds : ``{name: (lo, hi)}``; parameters marked ``positive`` default to ``(0, inf)``, others free.
    weights : ``w_i`` in ``sum w_i r_i^2`` (e.g. ``1/var_i``); default 1.
    lower, upper : bounds of censored/interval observations (NaN where absent); see the module docstring.
    loss_scale : ``"linear"`` (residual ``f - y``) or ``"log"`` (``log f - log y``, relative errors).
    epoch : time origin; the model is evaluated at ``t - epoch``.
    max_nfev : cap on function evaluations per optimisation (default: scipy's 100 p; least squares only).
    method : ``"lsq"`` (hinge least squares, see the module docstring; the NIST-certified path) or ``"mle"``
        (censored log-normal maximum likelihood with sigma estimated jointly, :mod:`helpers.likelihood`:
        exact figures through the density, lower bounds the survival function, upper bounds the CDF, ranges
        the CDF difference; ``loglik``, ``sigma`` and the observed-information standard errors are exact
        likelihood quantities and AIC/AICc/BIC use ``loglik`` with ``k = p + 1``).  ``weights`` are not
        used by the likelihood (``ValueError``).
    rounded : bool per observation, marking ranges that are the rounding interval of a rounded figure
        ("about 6 million" as 5.5-6.5 million); only the parametric bootstrap uses it (it re-rounds).

    Replicates (several observations at the same ``t``) are accepted.

    Raises ``ValueError`` for bad input (see :func:`_validate`).  Never raises for a failed optimisation:
    the result then has ``converged=False`` and the reason in ``message``.
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
        t=d.tau + float(epoch),
        y=d.y,
        lower=np.where(np.isfinite(d.lower), d.lower, np.nan),
        upper=np.where(np.isfinite(d.upper), d.upper, np.nan),
        weights=d.w,
        residuals=r,
        bounds=(tuple(lo_b), tuple(hi_b)),
        open_lower=tuple(open_lo),
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
    """Censored maximum likelihood (:func:`helpers.likelihood.fit_mle`) packed as a :class:`FitResult`.

    Starts: the hinge least-squares optimum (from the same starts) and the starts themselves; with ``p0``
    only ``p0`` (bootstrap refits warm-started at the estimate).
    """
    from helpers import likelihood

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
        t=d.tau + float(epoch),
        y=d.y,
        lower=np.where(np.isfinite(d.lower), d.lower, np.nan),
        upper=np.where(np.isfinite(d.upper), d.upper, np.nan),
        weights=d.w,
        residuals=r,
        bounds=(tuple(lo_b), tuple(hi_b)),
        open_lower=tuple(open_lo),
        nfev=r_mle.nfev,
        method="mle",
        loglik=ll,
        sigma_mle=r_mle.sigma,
        sigma_stderr=float(se[p]),
        corr=r_mle.corr,
        rounded=rounded,
    )


# --------------------------------------------------------------------------------------------------------
# Derived quantities (vectorised over parameter arrays of shape (..., p))
# --------------------------------------------------------------------------------------------------------


def _split(theta: np.ndarray) -> list[np.ndarray]:
    theta = np.asarray(theta, dtype=float)
    return [theta[..., j] for j in range(theta.shape[-1])]


def _inflection_tau(model: Model, theta: np.ndarray) -> np.ndarray:
    """Time of the inflection (cumulative models) or of the peak (``bass_rate``), before adding ``epoch``.

    logistic ``t0``; gompertz ``ln(b)/c``; richards ``t0 - ln(nu)/r`` (where ``exp(-r(t - t0)) = nu``,
    i.e. ``y = K (1 + nu)^(-1/nu)``); bass and bass_rate ``ln(q/p)/(p+q)`` when ``q > p``, else 0 (adoptions
    are highest at launch and decline).
    """
    if model.inflection is None:
        raise ValueError(f"model {model.name!r} has no inflection formula in the registry")
    with np.errstate(all="ignore"):
        return model.inflection(*_split(theta))


def _reaching_tau(model: Model, theta: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Time at which a cumulative model reaches ``level`` (inf when ``level >= saturation``, -inf if <= 0)."""
    if not model.cumulative or model.reaching is None:
        raise ValueError(f"year_reaching needs a cumulative model, not {model.name!r}")
    P = _split(theta)
    frac = level / P[0]
    with np.errstate(all="ignore"):
        out = model.reaching(frac, *P)
    out = np.where(frac >= 1.0, np.inf, out)
    return np.where(frac <= 0.0, -np.inf, out)


def _theta_of(obj: FitResult | BootstrapResult) -> tuple[Model, np.ndarray, float]:
    if isinstance(obj, FitResult):
        return obj.model, obj.theta, obj.epoch
    if isinstance(obj, BootstrapResult):
        return obj.fit.model, obj.params.to_numpy(dtype=float), obj.fit.epoch
    raise TypeError(f"expected FitResult or BootstrapResult, got {type(obj).__name__}")


def saturation(obj: FitResult | BootstrapResult) -> float | np.ndarray:
    """Saturation level (``K`` or ``m``): a float for a fit, one value per resample for a bootstrap."""
    _, theta, _ = _theta_of(obj)
    out = np.asarray(theta)[..., 0]
    return float(out) if out.ndim == 0 else out


def inflection(obj: FitResult | BootstrapResult) -> float | np.ndarray:
    """Inflection time in the data's time scale (``epoch`` added); see :func:`_inflection_tau`."""
    model, theta, epoch = _theta_of(obj)
    out = _inflection_tau(model, theta) + epoch
    return float(out) if np.ndim(out) == 0 else out


def year_reaching(
    obj: FitResult | BootstrapResult, level: float, *, population: float | None = None
) -> float | np.ndarray:
    """Time at which the fitted curve reaches ``level``.

    ``level`` is an absolute count, or with ``population`` a fraction of it (``level=0.5,
    population=26e6`` = half of 26 million).  Returns ``inf`` when the saturation is at or below the level
    (never reached); cumulative models only.  Analytic inverses: logistic ``t0 - ln(K/L - 1)/r``;
    gompertz ``-ln(-ln(L/K)/b)/c``; richards ``t0 - ln((K/L)^nu - 1)/r``; bass
    ``-ln((1 - L/m)/(1 + (L/m) q/p))/(p+q)``.
    """
    if population is not None:
        if not 0 < level <= 1:
            raise ValueError("with population given, level is a fraction in (0, 1]")
        level = level * population
    model, theta, epoch = _theta_of(obj)
    out = _reaching_tau(model, theta, np.asarray(level, dtype=float)) + epoch
    return float(out) if np.ndim(out) == 0 else out


def percentile_interval(values: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of ``values`` ignoring NaN (failed resamples).

    Infinite values (e.g. "never reaches the level") are kept; the quantile then uses the ``inverted_cdf``
    rule so an interval end can be ``inf`` without producing NaN.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    method = "linear" if np.all(np.isfinite(v)) else "inverted_cdf"
    lo, hi = np.quantile(v, [a, 1.0 - a], method=method)
    return float(lo), float(hi)


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


def _data_of(res: FitResult) -> _Data:
    lo = np.where(np.isnan(res.lower), -np.inf, res.lower)
    hi = np.where(np.isnan(res.upper), np.inf, res.upper)
    return _Data(res.t - res.epoch, res.y, lo, hi, res.weights, np.isfinite(res.y), res.loss_scale == "log")


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
        from helpers import likelihood

        return likelihood.parametric_bootstrap(res, n=n, seed=seed)
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


# --------------------------------------------------------------------------------------------------------
# Model selection and backtests
# --------------------------------------------------------------------------------------------------------


def compare_models(
    t: ArrayLike,
    y: ArrayLike,
    models: Iterable[str | Model] = CUMULATIVE_MODELS,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Fit each model to the same data and rank by AICc.

    ``fit_kwargs`` go to :func:`fit` (``lower``, ``upper``, ``weights``, ``loss_scale``, ``epoch``, ...).
    Returns one row per model (index ``model``), sorted by AICc: ``n_params, n, rss, aic, aicc, bic,
    delta_aicc, akaike_weight, converged, censored, message``.  ``delta_aicc`` and the Akaike weights
    ``exp(-delta/2) / sum exp(-delta/2)`` use only converged fits with finite AICc (others get NaN); a model
    that cannot be fitted at all (e.g. too few points) is listed with the ``ValueError`` message.
    """
    rows = []
    for mod in models:
        m = get_model(mod)
        try:
            r = fit(m, t, y, **fit_kwargs)
            rows.append(
                dict(
                    model=m.name,
                    n_params=m.n_params,
                    n=r.n,
                    rss=r.rss,
                    aic=r.aic,
                    aicc=r.aicc,
                    bic=r.bic,
                    converged=r.converged,
                    censored=r.censored,
                    message=r.message,
                )
            )
        except ValueError as exc:
            rows.append(
                dict(
                    model=m.name,
                    n_params=m.n_params,
                    n=np.nan,
                    rss=np.nan,
                    aic=np.nan,
                    aicc=np.nan,
                    bic=np.nan,
                    converged=False,
                    censored=False,
                    message=f"not fitted: {exc}",
                )
            )
    df = pd.DataFrame(rows).set_index("model")
    usable = df["converged"].astype(bool) & np.isfinite(df["aicc"].astype(float))
    best = df.loc[usable, "aicc"].min() if usable.any() else np.nan
    delta = np.where(usable, df["aicc"] - best, np.nan)
    wts = np.where(usable, np.exp(-0.5 * np.nan_to_num(delta, nan=np.inf)), np.nan)
    df["delta_aicc"] = delta
    df["akaike_weight"] = wts / np.nansum(wts) if usable.any() else np.nan
    cols = [
        "n_params",
        "n",
        "rss",
        "aic",
        "aicc",
        "bic",
        "delta_aicc",
        "akaike_weight",
        "converged",
        "censored",
        "message",
    ]
    return df[cols].sort_values("aicc", na_position="last", kind="stable")


def _score(pred: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute error and absolute percentage error of forecasts against exact or bound observations.

    Exact: ``|f - y|`` and ``|f - y| / y``.  Bound-only: the distance outside the interval,
    ``|f - clip(f, lower, upper)|``, relative to the violated bound (0 when inside: a forecast that honours
    "more than 1 million" is not wrong).  APE is NaN where the reference is 0.
    """
    exact = np.isfinite(y)
    lo_ = np.where(np.isnan(lo), -np.inf, lo)
    hi_ = np.where(np.isnan(hi), np.inf, hi)
    ref = np.where(exact, y, np.clip(pred, lo_, hi_))
    err = np.abs(pred - ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(ref != 0, err / np.abs(ref), np.nan)
    ape = np.where(~exact & (err == 0), 0.0, ape)
    return err, ape


def backtest(
    t: ArrayLike,
    y: ArrayLike,
    models: Iterable[str | Model],
    origins: Iterable[float],
    *,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    detail: bool = False,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Rolling-origin backtest: fit on ``t <= origin`` (inclusive), forecast every later observation.

    Returns one row per (model, origin): ``n_train, n_test, n_scored, converged, mae, mape, message``
    (MAPE in percent, on the data's own scale whatever the loss scale).  Scoring is described in
    :func:`_score`: exact later observations by their error, bound observations only by how far the
    forecast falls outside the bounds.  A fit that raises ``ValueError`` (too few training points) gives
    NaN scores with the reason; non-converged fits are scored but flagged.  ``detail=True`` returns the
    per-observation table instead (``model, origin, t, horizon, y, lower, upper, forecast, abs_error,
    ape``).
    """
    t = np.asarray(t, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    n = t.size
    lo = _as_1d("lower", lower, n, np.nan)
    hi = _as_1d("upper", upper, n, np.nan)
    w = None if weights is None else _as_1d("weights", weights, n, 1.0)
    rows, details = [], []
    for mod in models:
        m = get_model(mod)
        for origin in origins:
            tr, te = t <= origin, t > origin
            row = dict(
                model=m.name,
                origin=origin,
                n_train=int(tr.sum()),
                n_test=int(te.sum()),
                n_scored=0,
                converged=False,
                mae=np.nan,
                mape=np.nan,
                message="",
            )
            try:
                r = fit(
                    m,
                    t[tr],
                    y[tr],
                    lower=lo[tr],
                    upper=hi[tr],
                    weights=None if w is None else w[tr],
                    **fit_kwargs,
                )
            except ValueError as exc:
                row["message"] = f"not fitted: {exc}"
                rows.append(row)
                continue
            row["converged"], row["message"] = r.converged, r.message
            if te.any():
                pred = r.predict(t[te])
                err, ape = _score(pred, y[te], lo[te], hi[te])
                ok = np.isfinite(err)
                row["n_scored"] = int(ok.sum())
                row["mae"] = float(err[ok].mean()) if ok.any() else np.nan
                okp = np.isfinite(ape)
                row["mape"] = float(100.0 * ape[okp].mean()) if okp.any() else np.nan
                details.append(
                    pd.DataFrame(
                        dict(
                            model=m.name,
                            origin=origin,
                            t=t[te],
                            horizon=t[te] - origin,
                            y=y[te],
                            lower=lo[te],
                            upper=hi[te],
                            forecast=pred,
                            abs_error=err,
                            ape=ape,
                        )
                    )
                )
            rows.append(row)
    if detail:
        cols = ["model", "origin", "t", "horizon", "y", "lower", "upper", "forecast", "abs_error", "ape"]
        return pd.concat(details, ignore_index=True) if details else pd.DataFrame(columns=cols)
    return pd.DataFrame(rows)
