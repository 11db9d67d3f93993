"""Censored maximum likelihood for growth curves: the model, the estimator and its observed information.

Profile intervals, the parametric bootstrap and Akaike model averaging build on it (modules listed below).

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

This replaces the hinge least squares of :func:`helpers.models.growth.fit` (``method="lsq"``), in which a satisfied
"more than" bound costs nothing, a violated one counts like an exact point and every bound counts in ``n``:
that criterion has no likelihood behind it, so neither its standard errors nor its AICc are what they claim.

What is here, and where the rest lives
---------------------------------------
- :func:`fit_mle` — the maximum-likelihood estimate (multi-start damped Newton in log-transformed parameters
  with the analytic gradient, BFGS + Newton polish as fallback), the observed information (finite
  differences of the analytic gradient), and a convergence verdict.  :func:`helpers.models.growth.fit` with
  ``method="mle"`` calls it and returns a
  :class:`helpers.models.growth.FitResult`.
- :func:`helpers.models.censored.loglik` — the log-likelihood itself (used by the tests against an independent implementation).
- :func:`helpers.models.profile.profile_interval` — profile-likelihood interval of the saturation or of any smooth function of the
  parameters (the year of fastest growth), with ``None`` for an end that is not reached within the search
  range ("upper end poorly constrained").
- :mod:`helpers.models.simulation`: :func:`~helpers.models.simulation.simulate` /
  :func:`~helpers.models.simulation.parametric_bootstrap` — new data sets from the fitted censored model with the
  project's design (same times; a "more than L" figure stays a bound when the new value exceeds ``L`` and
  becomes an exact value otherwise — fixed-threshold censoring, under which the likelihood above is exact;
  a rounded figure is rounded again at its own resolution, so its range moves with the new value).
  ``simulate_batch`` / ``refit_batch`` do the same for many data sets at once (one vectorised
  damped Newton over the batch (:mod:`helpers.models.batch_mle`), each row with its own damping and stop, and :func:`fit_mle`'s convergence
  verdict per row): the bootstrap's refits cost about as much as one scalar fit.
- :mod:`helpers.models.averaging`: ``akaike_weights``, ``model_average_draws`` — AICc weights (``k`` counts ``sigma``) and the mixture of
  per-model bootstrap draws that model-averaged intervals are read from.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from helpers.models.batch_mle import _newton_minimise
from helpers.models.censored import _loglik_and_grad, _mu_and_grad, _Obs, _obs_from, _Param, _param_space

__all__ = ["MLEResult", "fit_mle"]

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
    """Maximum-likelihood fit of ``model`` to validated data ``d`` (``helpers.models.growth._Data``).

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
