"""Censored maximum likelihood for growth curves: estimator, observed information, profile intervals,
parametric bootstrap from the censored model, and Akaike model averaging.

The model
---------
Every observation ``i`` is the curve times a log-normal error: ``log Y_i = log f(t_i; theta) + sigma e_i``,
``e_i ~ N(0, 1)`` independent, with ``sigma`` estimated jointly with ``theta`` (``loss_scale="linear"``: the
same without the logs).  With ``mu_i = log f(t_i; theta)``, ``z(v) = (log v - mu_i) / sigma`` and the standard
normal density/CDF/survival function ``phi, Phi, S``, the log-likelihood is the sum of one term per figure::

    exact value y          log phi(z(y)) - log sigma - log y      (density of Y at y)
    "more than" L          log S(z(L))                             (P(Y > L))
    "at most" U            log Phi(z(U))                           (P(Y <= U))
    range [L, U]           log(Phi(z(U)) - Phi(z(L)))              (P(L < Y <= U))

The tails are evaluated with :func:`scipy.special.log_ndtr` (what ``scipy.stats.norm.logcdf``/``logsf`` compute;
stable far in both tails) and the range term as a difference on the side of the distribution where it does not cancel.  A rounded
figure ("about 6 million") can enter as the range of values that round to it.

This replaces the hinge least squares of :func:`helpers.growth.fit` (``method="lsq"``), in which a satisfied
"more than" bound costs nothing, a violated one counts like an exact point and every bound counts in ``n``:
that criterion has no likelihood behind it, so neither its standard errors nor its AICc are what they claim.

What is here
------------
- :func:`fit_mle` — the maximum-likelihood estimate (multi-start damped Newton in log-transformed parameters
  with the analytic gradient, BFGS + Newton polish as fallback), the observed information (finite
  differences of the analytic gradient), and a convergence verdict.  :func:`helpers.growth.fit` with
  ``method="mle"`` calls it and returns a
  :class:`helpers.growth.FitResult`.
- :func:`loglik` — the log-likelihood itself (used by the tests against an independent implementation).
- :func:`profile_interval` — profile-likelihood interval of the saturation or of any smooth function of the
  parameters (the year of fastest growth), with ``None`` for an end that is not reached within the search
  range ("upper end poorly constrained").
- :func:`simulate` / :func:`parametric_bootstrap` — new data sets from the fitted censored model with the
  project's design (same times; a "more than L" figure stays a bound when the new value exceeds ``L`` and
  becomes an exact value otherwise — fixed-threshold censoring, under which the likelihood above is exact;
  a rounded figure is rounded again at its own resolution, so its range moves with the new value).
  :func:`simulate_batch` / :func:`refit_batch` do the same for many data sets at once (one vectorised
  damped Newton over the batch, each row with its own damping and stop, and :func:`fit_mle`'s convergence
  verdict per row): the bootstrap's refits cost about as much as one scalar fit.
- :func:`akaike_weights`, :func:`model_average_draws` — AICc weights (``k`` counts ``sigma``) and the mixture of
  per-model bootstrap draws that model-averaged intervals are read from.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

__all__ = [
    "CoverageResult",
    "MLEResult",
    "ProfileInterval",
    "akaike_weights",
    "coverage_study",
    "fit_mle",
    "loglik",
    "model_average_draws",
    "parametric_bootstrap",
    "profile_interval",
    "profile_threshold",
    "simulate",
]

CHI2_1 = {0.95: 3.841458820694124}
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# scipy.stats.norm.logcdf / logsf / logpdf are thin wrappers over these ufuncs (``log_ndtr`` is accurate far in
# both tails); calling the ufuncs directly avoids the distribution machinery's overhead in the inner loop.
def _logcdf(z: np.ndarray) -> np.ndarray:
    return special.log_ndtr(z)


def _logsf(z: np.ndarray) -> np.ndarray:
    return special.log_ndtr(-z)


def _logpdf(z: np.ndarray) -> np.ndarray:
    return -0.5 * z * z - _LOG_SQRT_2PI


def _chi2(level: float) -> float:
    return CHI2_1.get(level, float(stats.chi2.ppf(level, 1)))


def profile_threshold(level: float, n: int, p: int, calibration: str = "f") -> float:
    """Deviance threshold of a profile-likelihood interval: ``2 (l_max - l_p(q)) <= threshold``.

    ``calibration="chi2"``: the asymptotic ``chi2_1(level)`` quantile (Wilks), anticonservative with a handful
    of figures.  ``calibration="f"`` (default): the classic small-sample threshold of nonlinear regression
    profiles (Bates & Watts 1988, ch. 6; what R's ``profile.nls``/``confint`` use through ``F(1, n - p)``),
    ``n log(1 + F_{1, n-p}(level) / (n - p))``, with ``n`` the number of figures (every exact value, bound and
    range contributes one likelihood term) and ``p`` the number of estimated parameters including ``sigma``.
    It tends to ``chi2_1(level)`` as ``n`` grows; with ``n - p < 1`` no finite threshold exists (``inf``).
    """
    if calibration == "chi2":
        return _chi2(level)
    if calibration != "f":
        raise ValueError(f"calibration must be 'f' or 'chi2', not {calibration!r}")
    dof = int(n) - int(p)
    if dof < 1:
        return math.inf
    return float(n * math.log1p(stats.f.ppf(level, 1, dof) / dof))


# --------------------------------------------------------------------------------------------------------
# Log-likelihood and its gradient with respect to mu and log sigma
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Obs:
    """Observations on the loss scale: ``gy`` (NaN for bounds), ``glo`` (-inf), ``ghi`` (+inf), masks."""

    tau: np.ndarray
    gy: np.ndarray
    glo: np.ndarray
    ghi: np.ndarray
    jac_const: float  # -sum log y over exact points on the log scale (density of Y, not of log Y)
    log: bool

    @functools.cached_property
    def exact(self) -> np.ndarray:
        return np.isfinite(self.gy)

    @functools.cached_property
    def masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lower only, upper only, both)`` among the non-exact figures (computed once per data set)."""
        ex = self.exact
        has_lo, has_hi = np.isfinite(self.glo), np.isfinite(self.ghi)
        return ~ex & has_lo & ~has_hi, ~ex & has_hi & ~has_lo, ~ex & has_lo & has_hi

    @property
    def n(self) -> int:
        return int(self.tau.size)


def _obs_from(d: Any) -> _Obs:
    """From :class:`helpers.growth._Data` (validated input)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if d.log:
            gy = np.where(d.exact, np.log(np.where(d.exact, d.y, 1.0)), np.nan)
            glo = np.where(
                np.isfinite(d.lower), np.log(np.where(np.isfinite(d.lower), d.lower, 1.0)), -np.inf
            )
            ghi = np.where(np.isfinite(d.upper), np.log(np.where(np.isfinite(d.upper), d.upper, 1.0)), np.inf)
            jc = -float(np.sum(gy[d.exact]))
        else:
            gy = np.where(d.exact, d.y, np.nan)
            glo, ghi, jc = d.lower.astype(float), d.upper.astype(float), 0.0
    return _Obs(d.tau, gy, glo, ghi, jc, bool(d.log))


def _log_diff_cdf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(Phi(b) - Phi(a))`` for ``a < b``, computed on the side where the difference does not cancel."""
    upper_side = a > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sa, sb = _logsf(a), _logsf(b)
        ca, cb = _logcdf(a), _logcdf(b)
        via_sf = sa + np.log(-np.expm1(sb - sa))
        via_cdf = cb + np.log(-np.expm1(ca - cb))
    return np.where(upper_side, via_sf, via_cdf)


def _terms(o: _Obs, mu: np.ndarray, log_sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-observation log-likelihood and its derivatives with respect to ``mu_i`` and ``log sigma``
    (the ``-log y`` Jacobian of the log scale is added separately)."""
    s = math.exp(log_sigma)
    ll = np.empty_like(mu)
    dmu = np.empty_like(mu)
    dls = np.empty_like(mu)
    ex = o.exact
    lo_only, hi_only, both = o.masks
    with np.errstate(all="ignore"):
        z = (o.gy[ex] - mu[ex]) / s
        ll[ex] = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_sigma
        dmu[ex] = z / s
        dls[ex] = z * z - 1.0
        if lo_only.any():
            zl = (o.glo[lo_only] - mu[lo_only]) / s
            lsf = _logsf(zl)
            h = np.exp(_logpdf(zl) - lsf)
            ll[lo_only], dmu[lo_only], dls[lo_only] = lsf, h / s, h * zl
        if hi_only.any():
            zu = (o.ghi[hi_only] - mu[hi_only]) / s
            lcdf = _logcdf(zu)
            h = np.exp(_logpdf(zu) - lcdf)
            ll[hi_only], dmu[hi_only], dls[hi_only] = lcdf, -h / s, -h * zu
        if both.any():
            zl = (o.glo[both] - mu[both]) / s
            zu = (o.ghi[both] - mu[both]) / s
            lp = _log_diff_cdf(zl, zu)
            pl = np.exp(_logpdf(zl) - lp)
            pu = np.exp(_logpdf(zu) - lp)
            ll[both], dmu[both], dls[both] = lp, (pl - pu) / s, pl * zl - pu * zu
    return ll, dmu, dls


def _mu_and_grad(model: Any, theta: np.ndarray, o: _Obs) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        f = model.f(o.tau, *theta)
        J = model.jac(o.tau, *theta)
        if o.log:
            return np.log(f), J / f[:, None]
        return f, J


def _loglik_and_grad(model: Any, theta: np.ndarray, log_sigma: float, o: _Obs) -> tuple[float, np.ndarray]:
    """Total log-likelihood and its gradient with respect to ``(theta, log sigma)``."""
    mu, dmu_dth = _mu_and_grad(model, theta, o)
    ll, dmu, dls = _terms(o, mu, log_sigma)
    total = float(np.sum(ll)) + o.jac_const
    if not np.isfinite(total):
        return -math.inf, np.full(theta.size + 1, np.nan)
    g = np.concatenate([dmu @ dmu_dth, [np.sum(dls)]])
    return total, g


def loglik(model: Any, theta: Sequence[float], sigma: float, data: Any) -> float:
    """Log-likelihood of the censored log-normal model at ``(theta, sigma)``.

    ``data`` is a :class:`helpers.growth.FitResult` (its observations are used) or a validated
    ``helpers.growth._Data``.  ``model`` is a :class:`helpers.growth.Model`.
    """
    from helpers import growth

    d = growth._data_of(data) if isinstance(data, growth.FitResult) else data
    val, _ = _loglik_and_grad(model, np.asarray(theta, dtype=float), math.log(sigma), _obs_from(d))
    return val


# --------------------------------------------------------------------------------------------------------
# Parameter transformation: positive parameters on the log scale, box-bounded ones by L-BFGS-B bounds
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    """Unconstrained coordinates ``u``: ``theta = lo + exp(u)`` (lower bound only, e.g. positivity),
    ``lo + (hi - lo) expit(u)`` (both bounds, e.g. Richards ``nu``), ``hi - exp(u)`` (upper only), ``u``."""

    lo: np.ndarray
    hi: np.ndarray

    @functools.cached_property
    def kind(self) -> np.ndarray:
        has_lo, has_hi = np.isfinite(self.lo), np.isfinite(self.hi)
        return np.where(has_lo & has_hi, 2, np.where(has_lo, 1, np.where(has_hi, 3, 0)))

    # index arrays of each kind and the finite ends, computed once: to_theta and dtheta_du run in the
    # optimiser's inner loop (same arithmetic as an np.select over all kinds, without the overhead)
    @functools.cached_property
    def _idx(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        k = self.kind
        lo = np.where(np.isfinite(self.lo), self.lo, 0.0)
        hi = np.where(np.isfinite(self.hi), self.hi, 0.0)
        return np.flatnonzero(k == 1), np.flatnonzero(k == 2), np.flatnonzero(k == 3), lo, hi

    def to_theta(self, u: np.ndarray) -> np.ndarray:
        i1, i2, i3, lo, hi = self._idx
        out = np.array(u, dtype=float, copy=True)
        if i1.size:
            out[i1] = lo[i1] + np.exp(np.clip(u[i1], -700, 700))
        if i2.size:
            out[i2] = lo[i2] + (hi[i2] - lo[i2]) * special.expit(u[i2])
        if i3.size:
            out[i3] = hi[i3] - np.exp(np.clip(u[i3], -700, 700))
        return out

    def to_u(self, theta: np.ndarray) -> np.ndarray:
        k = self.kind
        lo = np.where(np.isfinite(self.lo), self.lo, 0.0)
        hi = np.where(np.isfinite(self.hi), self.hi, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip((theta - lo) / (hi - lo), 1e-12, 1 - 1e-12)
            return np.select(
                [k == 1, k == 2, k == 3],
                [
                    np.log(np.maximum(theta - lo, 1e-300)),
                    special.logit(frac),
                    np.log(np.maximum(hi - theta, 1e-300)),
                ],
                theta,
            )

    def dtheta_du(self, u: np.ndarray) -> np.ndarray:
        i1, i2, i3, lo, hi = self._idx
        out = np.ones(np.shape(u))
        if i1.size:
            out[i1] = np.exp(np.clip(u[i1], -700, 700))
        if i2.size:
            sg = special.expit(u[i2])
            out[i2] = (hi[i2] - lo[i2]) * sg * (1 - sg)
        if i3.size:
            out[i3] = -np.exp(np.clip(u[i3], -700, 700))
        return out


def _param_space(lo_b: Sequence[float], hi_b: Sequence[float]) -> _Param:
    return _Param(np.asarray(lo_b, dtype=float), np.asarray(hi_b, dtype=float))


# --------------------------------------------------------------------------------------------------------
# Maximum likelihood
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MLEResult:
    """Result of :func:`fit_mle`.

    ``theta`` (model parameters) and ``sigma``; ``loglik`` at the optimum; ``cov`` the inverse observed
    information of ``(theta..., sigma)`` (NaN when singular); ``converged`` and ``message`` (why not);
    ``at_bound`` names parameters on a box bound (Richards ``nu``); ``grad_norm`` the gradient norm in the
    optimiser's coordinates at the returned point.
    """

    theta: np.ndarray
    sigma: float
    loglik: float
    cov: np.ndarray
    converged: bool
    message: str
    at_bound: tuple[str, ...]
    grad_norm: float
    nfev: int

    @property
    def stderr(self) -> np.ndarray:
        """Standard errors of ``(theta..., sigma)`` from the observed information."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.diag(self.cov))

    @property
    def corr(self) -> np.ndarray:
        """Correlation matrix of the estimates (observed information)."""
        se = self.stderr
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.cov / np.outer(se, se)


def _neg(model: Any, P: _Param, o: _Obs, fixed: Mapping[int, float] | None = None) -> Callable:
    """Negative log-likelihood and gradient in ``v = (u_free..., log sigma)``, some ``u`` held fixed."""
    p = P.lo.size
    fixed = dict(fixed or {})
    free = np.array([j for j in range(p) if j not in fixed], dtype=int)

    def full_u(v: np.ndarray) -> np.ndarray:
        u = np.empty(p)
        for j, val in fixed.items():
            u[j] = val
        u[free] = v[:-1]
        return u

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        u = full_u(v)
        th = P.to_theta(u)
        val, g = _loglik_and_grad(model, th, float(v[-1]), o)
        if not np.isfinite(val) or not np.all(np.isfinite(g)):
            return 1e300, np.zeros(v.size)
        gu = g[:-1] * P.dtheta_du(u)
        return -val, -np.concatenate([gu[free], [g[-1]]])

    fun.full_u = full_u  # type: ignore[attr-defined]
    fun.free = free  # type: ignore[attr-defined]
    return fun


def _minimise(fun: Callable, v0: np.ndarray) -> optimize.OptimizeResult:
    """BFGS in unconstrained coordinates, then Newton steps on a finite-difference Hessian of the analytic
    gradient (BFGS stops early on flat ridges such as the saturation of a curve far from its ceiling)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = optimize.minimize(fun, v0, jac=True, method="BFGS", options=dict(maxiter=2000, gtol=1e-8))
        v = np.asarray(sol.x, dtype=float)
        f0, g0 = fun(v)
        for _ in range(10):
            if not np.all(np.isfinite(g0)) or np.max(np.abs(g0)) < 1e-9:
                break
            H = _fd_hessian(lambda x: fun(x)[1], v)
            try:
                step = -np.linalg.solve(H, g0)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or step @ g0 >= 0:
                break
            t = 1.0
            improved = False
            while t > 1e-4:
                cand = v + t * step
                f1, g1 = fun(cand)
                if f1 <= f0 + 1e-12 * abs(f0):
                    improved = True
                    break
                t /= 2
            if not improved:
                break
            v, f0, g0 = cand, f1, g1
        sol.x, sol.fun, sol.jac = v, f0, g0
    return sol


def _fd_hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray, rel: float = 1e-5) -> np.ndarray:
    """Symmetrised central-difference Jacobian of an analytic gradient."""
    k = x.size
    H = np.empty((k, k))
    for j in range(k):
        h = rel * max(1.0, abs(x[j]))
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (grad(x + e) - grad(x - e)) / (2 * h)
    return 0.5 * (H + H.T)


def _initial_sigma(model: Any, theta: np.ndarray, o: _Obs) -> float:
    mu, _ = _mu_and_grad(model, theta, o)
    r = o.gy[o.exact] - mu[o.exact]
    s = float(np.sqrt(np.mean(r**2))) if r.size else 0.1
    return max(s, 1e-3 if o.log else 1e-3 * float(np.nanmax(np.abs(o.gy))))


def _free_gnorm(P: _Param, v: np.ndarray, g: np.ndarray) -> float:
    """Largest gradient component in the optimiser's coordinates, parameters on a box bound excluded (the
    gradient test of :func:`fit_mle`)."""
    frac = np.where(P.kind == 2, special.expit(v[:-1]), 0.5)
    on_box = (P.kind == 2) & ((frac < 1e-6) | (frac > 1 - 1e-6))
    return float(np.max(np.abs(g[np.concatenate([~on_box, [True]])])))


def fit_mle(
    model: Any,
    d: Any,
    starts: Sequence[np.ndarray],
    lo_b: Sequence[float],
    hi_b: Sequence[float],
) -> MLEResult:
    """Maximum-likelihood fit of ``model`` to validated data ``d`` (``helpers.growth._Data``).

    All starts (model parameters; ``sigma`` is started at the RMS of the exact points' residuals) are
    optimised at once by damped Newton (:func:`_newton_minimise`) in unconstrained coordinates (log of
    positive parameters, logit of box-bounded ones, ``log sigma``) and the best kept; when that best point
    fails the gradient test below, each start is optimised again by the former path (BFGS, then Newton
    steps: :func:`_minimise`), so the Newton pass never loses a fit that BFGS finds.  The observed
    information is the finite-difference Hessian of the analytic gradient of
    ``-log L`` in ``(theta, sigma)``.  ``converged`` requires a finite optimum, a gradient norm
    < 1e-4 in the optimiser's coordinates, a positive-definite information, and no positive parameter run
    towards 0 or infinity (an optimum outside the model's domain, e.g. Bass ``p -> 0``).
    """
    o = _obs_from(d)
    P = _param_space(lo_b, hi_b)
    fun = _neg(model, P, o)
    best = None
    nfev = 0
    v0s = []
    for s in starts:
        th0 = np.asarray(s, dtype=float)
        v0 = np.concatenate([P.to_u(th0), [math.log(_initial_sigma(model, th0, o))]])
        if np.all(np.isfinite(v0)):
            v0s.append(v0)
    if v0s:
        # every start at once by damped Newton; BFGS from each start (the former path) only when the best
        # Newton result is not a likelihood maximum by the gradient test below
        v, fv, gv = _newton_minimise(model, P, o, np.array(v0s))
        if np.isfinite(fv) and fv < 1e299 and np.all(np.isfinite(gv)) and _free_gnorm(P, v, gv) < 1e-4:
            best = optimize.OptimizeResult(x=v, fun=fv, jac=gv, nfev=0)
        else:
            for v0 in v0s:
                sol = _minimise(fun, v0)
                nfev += int(getattr(sol, "nfev", 0))
                if best is None or (np.isfinite(sol.fun) and sol.fun < best.fun):
                    best = sol
    p = P.lo.size
    if best is None or not np.isfinite(best.fun) or best.fun >= 1e299:
        nan = np.full(p, np.nan)
        cov = np.full((p + 1, p + 1), np.nan)
        return MLEResult(nan, math.nan, -math.inf, cov, False, "no finite start", (), math.inf, nfev)
    v = np.asarray(best.x, dtype=float)
    theta = P.to_theta(v[:-1])
    sigma = math.exp(v[-1])
    ll = -float(best.fun)
    names = list(getattr(model, "param_names", [f"p{j}" for j in range(p)]))
    kind = P.kind
    # a box-bounded parameter (Richards nu) within 1e-6 of its range's end is at that bound (a valid
    # constrained optimum); a positive parameter whose log ran below -25 or above 50 went to 0 or infinity
    frac = np.where(kind == 2, special.expit(v[:-1]), 0.5)
    on_box = (kind == 2) & ((frac < 1e-6) | (frac > 1 - 1e-6))
    at_bound = tuple(n for n, b in zip(names, on_box, strict=True) if b)
    runaway = [n for n, k, u in zip(names, kind, v[:-1], strict=True) if k in (1, 3) and (u < -25 or u > 50)]
    g = np.asarray(best.jac, dtype=float)
    free = np.concatenate([~on_box, [True]])
    gnorm = float(np.max(np.abs(g[free])))
    cov = _observed_cov(model, theta, sigma, o)
    msgs = []
    ok_info = bool(np.all(np.isfinite(cov)))
    sigma_zero = v[-1] < -20
    converged = bool(np.isfinite(ll) and gnorm < 1e-4 and not runaway and ok_info and not sigma_zero)
    if runaway:
        msgs.append(f"{', '.join(runaway)} ran off to 0 or infinity: no optimum inside the model's domain")
    if gnorm >= 1e-4:
        msgs.append(f"gradient {gnorm:.3g} >= 1e-4 at the returned point: not a likelihood maximum")
    if not ok_info:
        msgs.append("observed information singular or not positive definite: parameters not identified")
    if sigma_zero:
        msgs.append("sigma ran to 0 (the curve passes through every exact figure)")
    if converged:
        msgs.insert(0, "converged (censored maximum likelihood)")
    if at_bound:
        msgs.append(f"parameters at a bound: {', '.join(at_bound)}")
    return MLEResult(theta, sigma, ll, cov, converged, "; ".join(msgs), at_bound, gnorm, nfev)


def _observed_cov(model: Any, theta: np.ndarray, sigma: float, o: _Obs) -> np.ndarray:
    """Inverse of the observed information in ``(theta..., sigma)``; NaN unless positive definite."""
    k = theta.size + 1
    x = np.concatenate([theta, [sigma]])

    def grad(xx: np.ndarray) -> np.ndarray:
        if xx[-1] <= 0:
            return np.full(k, np.nan)
        _, g = _loglik_and_grad(model, xx[:-1], math.log(xx[-1]), o)
        g = g.copy()
        g[-1] = g[-1] / xx[-1]  # d/dsigma = d/dlog sigma / sigma
        return -g

    H = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(abs(x[j]), 1e-8)
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (grad(x + e) - grad(x - e)) / (2 * h)
    H = 0.5 * (H + H.T)
    if not np.all(np.isfinite(H)):
        return np.full((k, k), np.nan)
    # scale to unit diagonal before testing definiteness (K ~ 1e7 and c ~ 0.3 in one matrix)
    dsc = np.sqrt(np.abs(np.diag(H)))
    if np.any(dsc == 0):
        return np.full((k, k), np.nan)
    Hs = H / np.outer(dsc, dsc)
    w = np.linalg.eigvalsh(Hs)
    if w[0] <= 1e-12 * max(w[-1], 1e-300):
        return np.full((k, k), np.nan)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return np.linalg.inv(Hs) / np.outer(dsc, dsc)


# --------------------------------------------------------------------------------------------------------
# Profile likelihood
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileInterval:
    """Profile-likelihood interval: ``estimate``, ``lo``/``hi`` (``None`` = not reached within the search
    range: that end is not constrained by the data), ``level`` and the search limits used."""

    estimate: float
    lo: float | None
    hi: float | None
    level: float
    search_lo: float
    search_hi: float

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies inside (an unreached end counts as open)."""
        lo = -math.inf if self.lo is None else self.lo
        hi = math.inf if self.hi is None else self.hi
        return bool(lo <= value <= hi)


def _state(res: Any) -> tuple[Any, _Param, _Obs, np.ndarray]:
    from helpers import growth

    if getattr(res, "method", "lsq") != "mle":
        raise ValueError("profile likelihood needs a fit made with method='mle'")
    d = growth._data_of(res)
    o = _obs_from(d)
    P = _param_space(*res.bounds)
    v_hat = np.concatenate([P.to_u(res.theta), [math.log(res.sigma)]])
    return res.model, P, o, v_hat


def _profile_param(
    res: Any, j: int, value: float, warm: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Maximised log-likelihood with parameter ``j`` fixed at ``value``; and the optimiser's free vector."""
    model, P, o, v_hat = _state(res)
    u_fix = float(P.to_u(np.array([value if k == j else res.theta[k] for k in range(res.theta.size)]))[j])
    fun = _neg(model, P, o, {j: u_fix})
    free = fun.free
    v0 = np.concatenate([v_hat[:-1][free], [v_hat[-1]]]) if warm is None else warm
    # damped Newton (:func:`_newton_minimise`); the former BFGS + Newton path when it does not end on a
    # stationary point (gradient >= 1e-6)
    v, fv, gv = _newton_minimise(model, P, o, v0[None, :], {j: u_fix})
    if np.isfinite(fv) and fv < 1e299 and np.all(np.isfinite(gv)) and np.max(np.abs(gv)) < 1e-6:
        return -fv, v
    sol = _minimise(fun, v0)
    return -float(sol.fun), np.asarray(sol.x, dtype=float)


def _profile_derived(
    res: Any, g: Callable[[np.ndarray], float], value: float, warm: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Maximised log-likelihood subject to ``g(theta) = value`` (SLSQP in the optimiser's coordinates)."""
    model, P, o, v_hat = _state(res)
    fun = _neg(model, P, o)
    cons = {"type": "eq", "fun": lambda v: g(P.to_theta(v[:-1])) - value}
    best = None
    for v0 in ([warm] if warm is not None else []) + [v_hat]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = optimize.minimize(
                fun,
                v0,
                jac=True,
                method="SLSQP",
                constraints=[cons],
                options=dict(maxiter=500, ftol=1e-12),
            )
        if abs(g(P.to_theta(sol.x[:-1])) - value) > 1e-6 * max(1.0, abs(value)):
            continue
        if best is None or sol.fun < best.fun:
            best = sol
    if best is None:
        return -math.inf, v_hat
    return -float(best.fun), np.asarray(best.x, dtype=float)


def profile_interval(
    res: Any,
    quantity: str | Callable[[np.ndarray], float] = "saturation",
    *,
    level: float = 0.95,
    max_factor: float = 100.0,
    span: float | None = None,
    calibration: str = "f",
) -> ProfileInterval:
    """Profile-likelihood interval ``{q : 2 (l_max - l_p(q)) <= c}``, ``c`` from :func:`profile_threshold`
    (default: the small-sample ``F(1, n - p)`` calibration, ``n`` figures, ``p`` parameters incl. ``sigma``;
    ``calibration="chi2"``: the asymptotic ``chi2_1(level)``).

    ``quantity`` is ``"saturation"`` (the first parameter, ``K`` or ``m``), a parameter name, or a function of
    the parameter vector (e.g. the inflection time, see :func:`helpers.growth.inflection`).  Parameters are
    profiled by fixing them and maximising over the rest; functions by constrained maximisation (SLSQP).
    The search runs from the estimate outwards: for a positive parameter down to ``estimate / max_factor``
    and up to ``estimate * max_factor``, otherwise ``estimate -/+ span`` (default 50 for times); an end whose
    deviance stays below the threshold within that range is returned as ``None`` (not constrained by the
    data).  The interval of a monotone function of one parameter (the ceiling per 100 =
    ``100 K / population``) is that parameter's interval transformed.
    """
    model = res.model
    names = list(model.param_names)
    if quantity == "saturation":
        quantity = names[0]
    crit = profile_threshold(level, int(np.asarray(res.t).size), len(names) + 1, calibration)
    ll_max = res.loglik
    if isinstance(quantity, str):
        if quantity not in names:
            raise ValueError(
                f"unknown quantity {quantity!r}: a parameter of {model.name} {names} or a function"
            )
        j = names.index(quantity)
        est = float(res.theta[j])
        positive = res.bounds[0][j] >= 0

        def prof(val: float, warm: np.ndarray | None) -> tuple[float, np.ndarray]:
            return _profile_param(res, j, val, warm)

        bounded_lo = res.bounds[0][j]
        bounded_hi = res.bounds[1][j]
    else:
        fn = quantity
        est = float(fn(res.theta))
        positive = False

        def prof(val: float, warm: np.ndarray | None) -> tuple[float, np.ndarray]:
            return _profile_derived(res, fn, val, warm)

        bounded_lo, bounded_hi = -math.inf, math.inf
    if positive:
        s_lo, s_hi = max(est / max_factor, bounded_lo), min(est * max_factor, bounded_hi)
    else:
        w = 50.0 if span is None else span
        s_lo, s_hi = max(est - w, bounded_lo), min(est + w, bounded_hi)

    def dev(val: float, warm: np.ndarray | None) -> tuple[float, np.ndarray]:
        lp, v = prof(val, warm)
        return 2.0 * (ll_max - lp) - crit, v

    def side(limit: float) -> float | None:
        # walk outwards (geometrically for a positive quantity) until the deviance crosses the threshold,
        # warm-starting each constrained fit from the previous one; then Brent's method inside the bracket
        prev, warm = est, None
        x = est
        for k in range(1, 60):
            step = 0.25 * 1.6**k
            x = (
                est * math.exp(math.copysign(min(step, abs(math.log(limit / est))), limit - est))
                if positive
                else (est + math.copysign(min(0.25 * step, abs(limit - est)), limit - est))
            )
            dv, warm = dev(x, warm)
            if dv > 0:
                break
            if x == limit:
                return None
            prev = x
        else:
            return None
        w0 = warm

        def h(z: float) -> float:
            return dev(math.exp(z) if positive else z, w0)[0]

        a, b = (math.log(prev), math.log(x)) if positive else (prev, x)
        if (
            h(a) > 0
        ):  # the warm start misled the previous evaluation: fall back to bisection from the estimate
            a = math.log(est) if positive else est
        z = optimize.brentq(h, a, b, xtol=1e-7, rtol=1e-7, maxiter=60)
        return math.exp(z) if positive else z

    lo = side(s_lo)
    hi = side(s_hi)
    return ProfileInterval(est, lo, hi, level, s_lo, s_hi)


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
    from helpers import growth

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
    scale and epoch, warm-started at its estimate (``bounds`` as for :func:`helpers.growth.fit`)."""
    from helpers import growth

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
    at the estimate (all at once: :func:`refit_batch`).  Returns a :class:`helpers.growth.BootstrapResult`
    with ``kind="parametric"`` and ``noise=[sigma]`` (prediction draws add ``N(0, sigma^2)`` on the log
    scale), so the forecast and interval helpers of :mod:`helpers.growth` apply unchanged; failed refits are
    NaN rows counted in ``failures`` (``refit_error``: a data set the fit rejects; ``not_converged``).
    """
    from helpers import growth

    if not res.converged:
        raise ValueError(f"cannot bootstrap a fit that did not converge: {res.message}")
    rng = np.random.default_rng(seed)
    rnd = res.rounded if rounded is None else rounded
    theta, conv, invalid = refit_batch(res, simulate_batch(res, rng, n, rnd))
    fail = {"refit_error": int(invalid.sum()), "not_converged": int((~conv & ~invalid).sum())}
    params = pd.DataFrame(theta, columns=list(res.model.param_names))
    params.index.name = "resample"
    return growth.BootstrapResult(
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


# --------------------------------------------------------------------------------------------------------
# Batched maximum likelihood: many data sets with one design (bootstrap and holdout refits, coverage study)
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BatchObs:
    """``B`` data sets at the same times on the loss scale: ``gy`` (B, n; NaN for bounds), ``glo``
    (-inf where absent), ``ghi`` (+inf), the per-set Jacobian constant and the term masks."""

    tau: np.ndarray
    gy: np.ndarray
    glo: np.ndarray
    ghi: np.ndarray
    jac_const: np.ndarray
    log: bool

    @functools.cached_property
    def masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(exact, lower only, upper only, both)``, each (B, n)."""
        ex = np.isfinite(self.gy)
        has_lo, has_hi = np.isfinite(self.glo), np.isfinite(self.ghi)
        return ex, ~ex & has_lo & ~has_hi, ~ex & has_hi & ~has_lo, ~ex & has_lo & has_hi

    def take(self, rows: np.ndarray) -> _BatchObs:
        return _BatchObs(
            self.tau, self.gy[rows], self.glo[rows], self.ghi[rows], self.jac_const[rows], self.log
        )


def _batch_obs(tau: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray, log: bool) -> _BatchObs:
    """From data arrays (B, n) with NaN where a value or bound is absent (the layout of :func:`simulate`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ex = np.isfinite(y)
        if log:
            gy = np.where(ex, np.log(np.where(ex, y, 1.0)), np.nan)
            glo = np.where(np.isfinite(lower), np.log(np.where(np.isfinite(lower), lower, 1.0)), -np.inf)
            ghi = np.where(np.isfinite(upper), np.log(np.where(np.isfinite(upper), upper, 1.0)), np.inf)
            jc = -np.sum(np.where(ex, gy, 0.0), axis=1)
        else:
            gy = np.where(ex, y, np.nan)
            glo = np.where(np.isfinite(lower), lower, -np.inf)
            ghi = np.where(np.isfinite(upper), upper, np.inf)
            jc = np.zeros(y.shape[0])
    return _BatchObs(np.asarray(tau, dtype=float), gy, glo, ghi, jc, bool(log))


def _batch_terms(o: _BatchObs, mu: np.ndarray, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_terms` for (B, n) arrays: per-figure log-likelihood and its derivatives in ``mu`` and
    ``log sigma`` (every kind of term evaluated everywhere, the figure's own kind selected)."""
    ex, lo_only, hi_only, both = o.masks
    s = np.exp(ls)[:, None]
    with np.errstate(all="ignore"):
        z = (o.gy - mu) / s
        zl = (o.glo - mu) / s
        zu = (o.ghi - mu) / s
        ll = np.where(ex, -0.5 * z * z - _LOG_SQRT_2PI - ls[:, None], 0.0)
        dmu = np.where(ex, z / s, 0.0)
        dls = np.where(ex, z * z - 1.0, 0.0)
        if lo_only.any():
            lsf = _logsf(zl)
            h = np.exp(_logpdf(zl) - lsf)
            ll = np.where(lo_only, lsf, ll)
            dmu = np.where(lo_only, h / s, dmu)
            dls = np.where(lo_only, h * zl, dls)
        if hi_only.any():
            lcdf = _logcdf(zu)
            h = np.exp(_logpdf(zu) - lcdf)
            ll = np.where(hi_only, lcdf, ll)
            dmu = np.where(hi_only, -h / s, dmu)
            dls = np.where(hi_only, -h * zu, dls)
        if both.any():
            lp = _log_diff_cdf(zl, zu)
            pl = np.exp(_logpdf(zl) - lp)
            pu = np.exp(_logpdf(zu) - lp)
            ll = np.where(both, lp, ll)
            dmu = np.where(both, (pl - pu) / s, dmu)
            dls = np.where(both, pl * zl - pu * zu, dls)
    return ll, dmu, dls


def _batch_loglik_theta(
    model: Any, TH: np.ndarray, ls: np.ndarray, o: _BatchObs
) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood (B,) and its gradient (B, p+1) in ``(theta, log sigma)`` at ``TH`` (B, p)."""
    p = TH.shape[1]
    with np.errstate(all="ignore"):
        F, JT = model.fj(o.tau, TH)
        if o.log:
            mu = np.log(F)
            dmu_dth = JT[:, :p] / F[:, None, :]
        else:
            mu = F
            dmu_dth = JT[:, :p]
        ll, dmu, dls = _batch_terms(o, mu, ls)
        total = ll.sum(axis=1) + o.jac_const
        g = np.concatenate([np.einsum("bkn,bn->bk", dmu_dth, dmu), dls.sum(axis=1)[:, None]], axis=1)
    bad = ~np.isfinite(total) | ~np.all(np.isfinite(g), axis=1)
    total = np.where(bad, -math.inf, total)
    g[bad] = np.nan
    return total, g


def _batch_to_theta(P: _Param, U: np.ndarray) -> np.ndarray:
    """:meth:`_Param.to_theta` for (B, p) arrays (and its derivative ``dtheta/du``)."""
    k = P.kind
    lo = np.where(np.isfinite(P.lo), P.lo, 0.0)
    hi = np.where(np.isfinite(P.hi), P.hi, 0.0)
    e = np.exp(np.clip(U, -700, 700))
    sg = special.expit(U)
    th = np.where(k == 1, lo + e, np.where(k == 2, lo + (hi - lo) * sg, np.where(k == 3, hi - e, U)))
    dth = np.where(k == 1, e, np.where(k == 2, (hi - lo) * sg * (1 - sg), np.where(k == 3, -e, 1.0)))
    return th, dth


def _batch_negll(model: Any, P: _Param, o: _BatchObs, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Negative log-likelihood (B,) and gradient (B, p+1) in the optimiser's coordinates ``(u, log sigma)``
    (``inf``/NaN where not finite, like :func:`_neg`)."""
    TH, dth = _batch_to_theta(P, V[:, :-1])
    ll, g = _batch_loglik_theta(model, TH, V[:, -1], o)
    G = -np.concatenate([g[:, :-1] * dth, g[:, -1:]], axis=1)
    bad = ~np.isfinite(ll) | ~np.all(np.isfinite(G), axis=1)
    return np.where(bad, math.inf, -ll), np.where(bad[:, None], np.nan, G)


def _batch_fd_jac(grad: Callable[[np.ndarray], np.ndarray], X: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Symmetrised central-difference Jacobian of a batched gradient: (B, k, k), steps ``h`` (B, k); all
    ``2 k`` shifted points in one call."""
    B, k = X.shape
    E = np.eye(k)[:, None, :] * h[None, :, :]  # (k, B, k)
    pts = np.concatenate([X[None] + E, X[None] - E]).reshape(2 * k * B, k)
    Gs = grad(pts).reshape(2, k, B, k)
    H = np.transpose((Gs[0] - Gs[1]) / (2 * h.T[:, :, None]), (1, 2, 0))  # H[b, i, j] = dg_i / dx_j
    return 0.5 * (H + np.transpose(H, (0, 2, 1)))


def _batch_fg(
    model: Any, P: _Param, o: _BatchObs, fixed: Mapping[int, float] | None = None
) -> Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray]]:
    """``fg(V, rows) -> (-log L, gradient)`` for :func:`_batch_newton`: row ``b`` of ``V`` belongs to data set
    ``rows[b]`` of ``o`` (all of them when ``rows`` is None; a one-row ``o`` serves every row); ``fixed`` holds some ``u`` at given values
    (profile likelihood), ``V`` then has the free ones and ``log sigma``."""
    p = P.lo.size
    fixed = dict(fixed or {})
    free = np.array([j for j in range(p) if j not in fixed] + [p], dtype=int)

    def fg(V: np.ndarray, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        oo = o if rows is None or o.gy.shape[0] == 1 else o.take(rows)
        if not fixed:
            return _batch_negll(model, P, oo, V)
        full = np.empty((V.shape[0], p + 1))
        for j, val in fixed.items():
            full[:, j] = val
        full[:, free] = V
        f, g = _batch_negll(model, P, oo, full)
        return f, g[:, free]

    fg.free = free  # type: ignore[attr-defined]
    return fg


def _single(o: _Obs) -> _BatchObs:
    """One data set as a batch of one row, which broadcasts against any number of parameter rows (several
    starts, or the shifted points of a finite-difference Hessian) without copying or re-deriving masks."""
    return _BatchObs(o.tau, o.gy[None, :], o.glo[None, :], o.ghi[None, :], np.array([o.jac_const]), o.log)


def _newton_minimise(
    model: Any,
    P: _Param,
    o: _Obs,
    V0: np.ndarray,
    fixed: Mapping[int, float] | None = None,
    max_iter: int = 60,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Minimise ``-log L`` of one data set from each row of ``V0`` (several starts at once, damped Newton:
    :func:`_batch_newton`, at most ``max_iter`` steps: the callers fall back on BFGS when it has not
    finished); returns the best row's ``V``, ``-log L`` and gradient (``inf`` if none is
    finite)."""
    fg = _batch_fg(model, P, _single(o), fixed)
    kind = P.kind[fg.free[:-1]]
    pos = np.concatenate([(kind == 1) | (kind == 3), [False]])
    V, f, g, _ = _batch_newton(fg, V0, pos, max_iter=max_iter)
    f = np.where(np.isfinite(f), f, math.inf)
    b = int(np.argmin(f))
    return V[b], float(f[b]), g[b]


def _batch_newton(
    fg: Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray]],
    V0: np.ndarray,
    pos: np.ndarray,
    *,
    max_iter: int = 500,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Damped Newton on ``-log L`` for ``B`` problems at once, each on its own (its own damping,
    acceptance and stop), from ``V0`` (B, k) in the optimiser's coordinates (``fg`` from :func:`_batch_fg`;
    ``pos`` (k,) marks log-transformed positive parameters, watched for a runaway).

    The Hessian is the central difference of the analytic gradient (as in :func:`_minimise`'s polish); a
    step solves ``(H + lambda diag|H|) d = -g`` and is taken when it does not raise ``-log L`` by more than
    rounding (``lambda`` shrinks 10x after an accepted step, grows 10x after a rejected one or a
    non-positive-definite system); after 20 iterations an accepted step is extended by doubling while
    ``-log L`` keeps falling (rows still descending by then follow a ridge off to infinity).  A row stops
    when its gradient is below 1e-9, when a positive parameter ran past ``exp(50)`` or below ``exp(-25)``
    (the runaway of :func:`fit_mle`: no optimum inside the domain), or when no step lowers ``-log L`` even
    at ``lambda = 1e12`` or the gradient is below 1e-6 when a step is refused.  Returns ``V``, ``-log L``,
    the gradient and a runaway flag.
    """
    from helpers.models.solver import cholesky_solve

    B, K = V0.shape
    V = V0.copy()
    f, g = fg(V, None)
    lam = np.full(B, 1e-6)
    live = np.isfinite(f)
    runaway = np.zeros(B, dtype=bool)
    H = np.full((B, K, K), np.nan)

    def hess(rows: np.ndarray) -> np.ndarray:
        Vr = V[rows]
        h = 1e-5 * np.maximum(1.0, np.abs(Vr))
        orows = np.tile(rows, 2 * K)
        return _batch_fd_jac(lambda X: fg(X, orows)[1], Vr, h)

    need_h = live.copy()
    for it in range(max_iter):
        live &= ~(np.max(np.abs(np.nan_to_num(g, nan=np.inf)), axis=1) < 1e-9)
        rows = np.flatnonzero(live)
        if rows.size == 0:
            break
        hr = rows[need_h[rows]]
        if hr.size:
            H[hr] = hess(hr)
            need_h[hr] = False
        Hr, gr = H[rows], g[rows]
        d = np.abs(np.diagonal(Hr, axis1=1, axis2=2))
        d = np.maximum(d, 1e-12 * d.max(axis=1, keepdims=True) + 1e-300)
        step = np.full_like(gr, np.nan)
        todo = np.ones(rows.size, dtype=bool)
        for _ in range(20):  # a damping that makes the system positive definite (no evaluation needed)
            M = Hr[todo].copy()
            M.reshape(-1, K * K)[:, :: K + 1] += lam[rows[todo], None] * d[todo]
            with np.errstate(all="ignore"):
                step[todo] = -cholesky_solve(M, gr[todo])
            todo &= ~np.all(np.isfinite(step), axis=1)
            if not todo.any() or np.all(lam[rows[todo]] > 1e12):
                break
            lam[rows[todo]] *= 10.0
        Vn = V[rows] + step
        ok_step = np.all(np.isfinite(step), axis=1)
        fn, gn = fg(np.where(ok_step[:, None], Vn, V[rows]), rows)
        acc = ok_step & np.isfinite(fn) & (fn <= f[rows] + 1e-12 * np.abs(f[rows]))
        a = rows[acc]
        V[a], f[a], g[a] = Vn[acc], fn[acc], gn[acc]
        need_h[a] = True
        lam[a] = np.maximum(lam[a] / 10.0, 1e-12)
        if it >= 20 and a.size:
            # still descending after 20 Newton steps: a curved ridge towards a runaway (K -> inf); extend the
            # accepted step by doubling while -log L keeps falling, so such rows reach the runaway test
            ext, dstep = a, step[acc]
            for _ in range(12):
                Vx = V[ext] + dstep
                fx, gx = fg(Vx, ext)
                better = np.isfinite(fx) & (fx < f[ext])
                if not better.any():
                    break
                ext, dstep, Vx, fx, gx = ext[better], 2.0 * dstep[better], Vx[better], fx[better], gx[better]
                V[ext], f[ext], g[ext] = Vx, fx, gx
        r = rows[~acc]
        lam[r] *= 10.0
        # no step lowers -log L even at lambda = 1e12, or a step is refused with the gradient already at
        # rounding level (< 1e-6; where _minimise's Newton polish stops on a failed line search)
        stalled = r[(lam[r] > 1e12) | (np.max(np.abs(g[r]), axis=1) < 1e-6)]
        live[stalled] = False
        ran = a[np.any(pos & ((V[a] > 50) | (V[a] < -25)), axis=1)]
        runaway[ran] = True
        live[ran] = False
    return V, f, g, runaway


def _batch_verdict(
    model: Any, P: _Param, o: _BatchObs, V: np.ndarray, f: np.ndarray, g: np.ndarray, runaway: np.ndarray
) -> np.ndarray:
    """:func:`fit_mle`'s convergence verdict for every row: a finite optimum, gradient < 1e-4 in the
    optimiser's coordinates (parameters on a box bound excluded), no runaway, ``sigma`` not run to 0, and a
    positive-definite observed information in ``(theta, sigma)`` (the test of :func:`_observed_cov`)."""
    B, K = V.shape
    kind = P.kind
    U = V[:, :-1]
    frac = np.where(kind == 2, special.expit(U), 0.5)
    on_box = (kind == 2) & ((frac < 1e-6) | (frac > 1 - 1e-6))
    free = np.concatenate([~on_box, np.ones((B, 1), bool)], axis=1)
    gnorm = np.max(np.where(free, np.abs(np.nan_to_num(g, nan=np.inf)), 0.0), axis=1)
    run = runaway | np.any(((kind == 1) | (kind == 3)) & ((U < -25) | (U > 50)), axis=1)
    ok = np.isfinite(f) & (gnorm < 1e-4) & ~run & (V[:, -1] >= -20)
    rows = np.flatnonzero(ok)
    if rows.size:
        TH, _ = _batch_to_theta(P, U[rows])
        X = np.concatenate([TH, np.exp(V[rows, -1:])], axis=1)
        sub = o.take(np.tile(rows, 2 * K))

        def grad(Xs: np.ndarray) -> np.ndarray:
            _, gg = _batch_loglik_theta(model, Xs[:, :-1], np.log(np.maximum(Xs[:, -1], 1e-300)), sub)
            gg[:, -1] = gg[:, -1] / Xs[:, -1]
            gg[Xs[:, -1] <= 0] = np.nan
            return -gg

        with np.errstate(all="ignore"):
            H = _batch_fd_jac(grad, X, 1e-5 * np.maximum(np.abs(X), 1e-8))
            dsc = np.sqrt(np.abs(np.diagonal(H, axis1=1, axis2=2)))
            fin = np.all(np.isfinite(H), axis=(1, 2)) & np.all(dsc > 0, axis=1)
            Hs = np.where(fin[:, None, None], H / (dsc[:, :, None] * dsc[:, None, :]), np.eye(K))
            w = np.linalg.eigvalsh(Hs)
        ok[rows] = fin & (w[:, 0] > 1e-12 * np.maximum(w[:, -1], 1e-300))
    return ok


def simulate_batch(
    res: Any, rng: np.random.Generator, n: int, rounded: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """``n`` data sets of :func:`simulate` at once, as (n, N) arrays (``t`` stays (N,)): the same draws, in
    the same order, as ``n`` calls of :func:`simulate` with ``rng``."""
    from helpers import growth

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
    and ``invalid`` (a set :func:`helpers.growth.fit` would reject: fewer than two exact values or constant
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
# Model averaging
# --------------------------------------------------------------------------------------------------------


def akaike_weights(aicc: Mapping[str, float]) -> dict[str, float]:
    """``w_m = exp(-delta_m / 2) / sum exp(-delta / 2)`` over the finite AICc values (others get 0)."""
    vals = {m: float(v) for m, v in aicc.items() if v is not None and np.isfinite(v)}
    if not vals:
        return {m: 0.0 for m in aicc}
    best = min(vals.values())
    raw = {m: math.exp(-0.5 * (v - best)) for m, v in vals.items()}
    tot = sum(raw.values())
    return {m: raw.get(m, 0.0) / tot for m in aicc}


def model_average_draws(
    draws: Mapping[str, np.ndarray], weights: Mapping[str, float], *, n: int | None = None, seed: int = 0
) -> np.ndarray:
    """A mixture sample: from each model's bootstrap draws (NaN = failed refit, dropped) take a share of
    ``n`` draws proportional to its Akaike weight (with replacement, seeded).  Quantiles of the result are the
    model-averaged interval (parameter and model uncertainty together)."""
    rng = np.random.default_rng(seed)
    clean = {m: np.asarray(v, dtype=float)[~np.isnan(np.asarray(v, dtype=float))] for m, v in draws.items()}
    clean = {m: v for m, v in clean.items() if v.size and weights.get(m, 0.0) > 0}
    if not clean:
        return np.array([])
    tot_w = sum(weights[m] for m in clean)
    n = n or int(sum(v.size for v in clean.values()))
    parts = []
    for m, v in clean.items():
        k = int(round(n * weights[m] / tot_w))
        if k:
            parts.append(rng.choice(v, size=k, replace=True))
    return np.concatenate(parts) if parts else np.array([])


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
